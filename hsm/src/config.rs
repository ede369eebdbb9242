//! Configuration of the HSM layer: which module, which token, which PIN, how many sessions.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, Zeroizing};

use crate::error::{HsmError, Result};

/// Default number of logged-in sessions (worker threads) of a pool.
pub const DEFAULT_SESSIONS: usize = 2;
/// Default capacity of the job queue in front of the workers.
pub const DEFAULT_QUEUE_DEPTH: usize = 256;
/// Longest PIN accepted (PKCS#11 tokens rarely accept more than 255 bytes).
const MAX_PIN_LEN: usize = 255;

/// How the token is found. Never by slot number: slot numbers change when tokens are added or
/// removed (SoftHSM2 derives them from the token serial), labels and serials do not.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenSelector {
    /// `CKA_LABEL` of the token (`C_GetTokenInfo().label`, trailing blanks ignored).
    Label(String),
    /// Serial number of the token (`C_GetTokenInfo().serialNumber`, trailing blanks ignored).
    Serial(String),
}

impl TokenSelector {
    /// True when the token described by `label` and `serial` is the selected one.
    pub(crate) fn matches(&self, label: &str, serial: &str) -> bool {
        match self {
            Self::Label(l) => label.trim_end() == l.trim_end(),
            Self::Serial(s) => serial.trim_end() == s.trim_end(),
        }
    }
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Label(l) => write!(f, "label {l:?}"),
            Self::Serial(s) => write!(f, "serial {s:?}"),
        }
    }
}

impl fmt::Debug for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A PIN (user or security officer). Zeroized on drop, never printed, never logged.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Wraps a PIN given as a string. The caller should drop its own copy.
    pub fn new(pin: impl Into<String>) -> Self {
        Self(Zeroizing::new(pin.into()))
    }

    /// Reads a PIN from a file (a secret mounted by the orchestrator, for example).
    ///
    /// A single trailing newline (`\n` or `\r\n`) is removed; nothing else is trimmed. The file
    /// must not be empty. If the file is readable or writable by group or others a warning is
    /// logged (the PIN itself never is).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let refuse = |reason: String| HsmError::PinFile {
            path: path.to_path_buf(),
            reason,
        };
        let mut file = std::fs::File::open(path).map_err(|e| refuse(e.to_string()))?;
        let meta = file.metadata().map_err(|e| refuse(e.to_string()))?;
        if !meta.is_file() {
            return Err(refuse("not a regular file".into()));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format_args!("{mode:04o}"),
                    "HSM017 PIN file is accessible by group or others; restrict it to 0400 or 0600"
                );
            }
        }
        if meta.len() > (MAX_PIN_LEN as u64) + 2 {
            return Err(refuse(format!("longer than {MAX_PIN_LEN} bytes")));
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(64));
        file.read_to_end(&mut bytes)
            .map_err(|e| refuse(e.to_string()))?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        if bytes.is_empty() {
            return Err(refuse("empty".into()));
        }
        let text = match std::str::from_utf8(&bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => return Err(refuse("not UTF-8".into())),
        };
        Ok(Self::new(text))
    }

    /// Length in bytes (for validation messages; never the content).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty PIN.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The PIN as cryptoki wants it. The returned secret zeroizes itself on drop.
    pub(crate) fn to_auth_pin(&self) -> cryptoki::types::AuthPin {
        cryptoki::types::AuthPin::from(self.0.as_str())
    }
}

impl From<&str> for Pin {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Pin {
    fn from(mut s: String) -> Self {
        let pin = Self::new(s.as_str());
        s.zeroize();
        pin
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(***)")
    }
}

/// Everything needed to open the pool.
#[derive(Debug, Clone)]
pub struct HsmConfig {
    /// Path of the PKCS#11 module (shared library).
    pub module: PathBuf,
    /// Which token.
    pub token: TokenSelector,
    /// The user PIN (normal user, `CKU_USER`).
    pub user_pin: Pin,
    /// Number of logged-in sessions, one per worker thread (>= 1).
    pub sessions: usize,
    /// Capacity of the job queue; callers wait (asynchronously) when it is full (>= 1).
    pub queue_depth: usize,
}

impl HsmConfig {
    /// A configuration with the default pool size and queue depth.
    pub fn new(module: impl Into<PathBuf>, token: TokenSelector, user_pin: Pin) -> Self {
        Self {
            module: module.into(),
            token,
            user_pin,
            sessions: DEFAULT_SESSIONS,
            queue_depth: DEFAULT_QUEUE_DEPTH,
        }
    }

    /// Checks the values that can be checked without touching the module.
    pub fn validate(&self) -> Result<()> {
        if self.sessions == 0 {
            return Err(HsmError::InvalidConfig(
                "sessions must be at least 1".into(),
            ));
        }
        if self.sessions > 256 {
            return Err(HsmError::InvalidConfig(
                "sessions must be at most 256".into(),
            ));
        }
        if self.queue_depth == 0 {
            return Err(HsmError::InvalidConfig(
                "queue_depth must be at least 1".into(),
            ));
        }
        if self.user_pin.is_empty() {
            return Err(HsmError::InvalidConfig("the user PIN is empty".into()));
        }
        if self.user_pin.len() > MAX_PIN_LEN {
            return Err(HsmError::InvalidConfig(format!(
                "the user PIN is longer than {MAX_PIN_LEN} bytes"
            )));
        }
        match &self.token {
            TokenSelector::Label(l) if l.trim_end().is_empty() || l.len() > 32 => Err(
                HsmError::InvalidConfig("the token label must have 1 to 32 bytes".into()),
            ),
            TokenSelector::Serial(s) if s.trim_end().is_empty() || s.len() > 16 => Err(
                HsmError::InvalidConfig("the token serial must have 1 to 16 bytes".into()),
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::io::Write;

    #[test]
    fn pin_debug_is_masked() {
        let pin = Pin::new("123456");
        assert_eq!(format!("{pin:?}"), "Pin(***)");
        let cfg = HsmConfig::new("/x.so", TokenSelector::Label("t".into()), pin);
        assert!(!format!("{cfg:?}").contains("123456"));
    }

    #[test]
    fn pin_from_file_trims_one_newline_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pin");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b" 12 34 \r\n").unwrap();
        drop(f);
        let pin = Pin::from_file(&p).unwrap();
        assert_eq!(&*pin.0, " 12 34 ");

        std::fs::write(&p, b"\n").unwrap();
        let err = Pin::from_file(&p).unwrap_err();
        assert_eq!(err.code(), "HSM017");
        assert!(!err.to_string().contains("12 34"));
    }

    #[test]
    fn config_validation() {
        let mut cfg = HsmConfig::new("/x.so", TokenSelector::Label("t".into()), Pin::new("1"));
        cfg.validate().unwrap();
        cfg.sessions = 0;
        assert_eq!(cfg.validate().unwrap_err().code(), "HSM016");
        cfg.sessions = 1;
        cfg.token = TokenSelector::Label("x".repeat(33));
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn selector_ignores_blank_padding() {
        assert!(TokenSelector::Label("qtsp".into()).matches("qtsp   ", "1"));
        assert!(TokenSelector::Serial("abc".into()).matches("x", "abc "));
        assert!(!TokenSelector::Label("qtsp".into()).matches("qtsp2", "1"));
    }
}
