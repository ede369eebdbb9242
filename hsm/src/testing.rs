//! Test support (cargo feature `testing`): a SoftHSM2 token shared by every test binary of the
//! workspace.
//!
//! SoftHSM2 takes its configuration from `SOFTHSM2_CONF`, which must be in the environment before
//! the test process starts (setting it at run time needs `unsafe`). The workspace's
//! `.cargo/config.toml` sets it for every `cargo test`/`cargo run`/`cargo bench` to
//! `<workspace>/target/test-softhsm/softhsm2.conf`; a harness may export another value together
//! with `QTSP_TEST_SOFTHSM_DIR` (the directory holding that file).
//!
//! [`prepare_test_token`] writes the configuration and initializes the token with `softhsm2-util`
//! (environment set on that child process only), once, guarded by a lock file so that test
//! binaries running at the same time do not race. Tests share the token and keep apart by using
//! distinct CKA_IDs ([`unique_key_id`]).
//!
//! These helpers block (file system, child process): call them before starting async work or from
//! `spawn_blocking`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{HsmConfig, Pin, TokenSelector};
use crate::error::{HsmError, Result};
use crate::keys::KeyId;
use crate::softhsm::{SOFTHSM2_CONF_ENV, SoftHsmSetup, find_softhsm_module};

/// Label of the shared test token.
pub const TEST_TOKEN_LABEL: &str = "qtsp-test";
/// User PIN of the test tokens.
pub const TEST_USER_PIN: &str = "qtsp-test-user-pin";
/// SO PIN of the test tokens.
pub const TEST_SO_PIN: &str = "qtsp-test-so-pin";
/// Environment variable naming the test SoftHSM2 directory.
pub const TEST_DIR_ENV: &str = "QTSP_TEST_SOFTHSM_DIR";
/// Environment variable overriding the PKCS#11 module used by tests.
pub const TEST_MODULE_ENV: &str = "QTSP_TEST_PKCS11_MODULE";

/// A prepared test token.
#[derive(Clone, Debug)]
pub struct TestToken {
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// The SoftHSM2 configuration file (what `SOFTHSM2_CONF` points at).
    pub conf_path: PathBuf,
    /// Token label.
    pub label: String,
    /// User PIN.
    pub user_pin: Pin,
    /// SO PIN.
    pub so_pin: Pin,
}

impl TestToken {
    /// A pool configuration for this token with `sessions` sessions.
    #[must_use]
    pub fn config(&self, sessions: usize) -> HsmConfig {
        let mut cfg = HsmConfig::new(
            self.module.clone(),
            TokenSelector::Label(self.label.clone()),
            self.user_pin.clone(),
        );
        cfg.sessions = sessions;
        cfg
    }
}

/// The directory of the test SoftHSM2 configuration: `QTSP_TEST_SOFTHSM_DIR`, else the directory
/// of `SOFTHSM2_CONF`, else `<workspace>/target/test-softhsm`.
#[must_use]
pub fn default_test_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(TEST_DIR_ENV) {
        return PathBuf::from(dir);
    }
    if let Some(parent) = std::env::var_os(SOFTHSM2_CONF_ENV)
        .map(PathBuf::from)
        .and_then(|conf| conf.parent().map(Path::to_path_buf))
    {
        return parent;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("test-softhsm")
}

/// The PKCS#11 module for tests: `QTSP_TEST_PKCS11_MODULE`, else the installed SoftHSM2.
pub fn test_module() -> Result<PathBuf> {
    if let Some(m) = std::env::var_os(TEST_MODULE_ENV) {
        return Ok(PathBuf::from(m));
    }
    find_softhsm_module().ok_or_else(|| {
        HsmError::InvalidConfig(
            "SoftHSM2 is not installed (apt-get install softhsm2) and QTSP_TEST_PKCS11_MODULE is unset"
                .into(),
        )
    })
}

/// Prepares the shared test token ([`TEST_TOKEN_LABEL`]) in `dir`.
pub fn prepare_test_token(dir: &Path) -> Result<TestToken> {
    prepare_test_token_with_label(dir, TEST_TOKEN_LABEL)
}

/// Prepares a test token labelled `label` in `dir`: writes `dir/softhsm2.conf` if missing and
/// initializes the token with `softhsm2-util` if no token has that label. Safe to call from many
/// threads and processes at once.
pub fn prepare_test_token_with_label(dir: &Path, label: &str) -> Result<TestToken> {
    let setup = SoftHsmSetup::new(dir);
    let module = test_module()?;
    let _lock = DirLock::acquire(dir)?;
    let conf_path = setup.write_config()?;
    setup.check_env()?;
    if !token_exists(&conf_path, label)? {
        let out = Command::new("softhsm2-util")
            .env(SOFTHSM2_CONF_ENV, &conf_path)
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", TEST_SO_PIN, "--pin", TEST_USER_PIN])
            .output()
            .map_err(|source| HsmError::Io {
                context: "cannot run softhsm2-util",
                path: PathBuf::from("softhsm2-util"),
                source,
            })?;
        if !out.status.success() {
            return Err(HsmError::TokenInit(format!(
                "softhsm2-util --init-token failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(TestToken {
        module,
        conf_path,
        label: label.to_owned(),
        user_pin: Pin::new(TEST_USER_PIN),
        so_pin: Pin::new(TEST_SO_PIN),
    })
}

fn token_exists(conf_path: &Path, label: &str) -> Result<bool> {
    let out = Command::new("softhsm2-util")
        .env(SOFTHSM2_CONF_ENV, conf_path)
        .arg("--show-slots")
        .output()
        .map_err(|source| HsmError::Io {
            context: "cannot run softhsm2-util",
            path: PathBuf::from("softhsm2-util"),
            source,
        })?;
    if !out.status.success() {
        return Err(HsmError::TokenInit(format!(
            "softhsm2-util --show-slots failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().any(|line| {
        line.trim()
            .strip_prefix("Label:")
            .is_some_and(|v| v.trim() == label)
    }))
}

/// A CKA_ID no other test (in this or another process) uses: prefix, process id, time, counter.
#[must_use]
pub fn unique_key_id(prefix: &str) -> KeyId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut bytes = prefix
        .as_bytes()
        .iter()
        .take(24)
        .copied()
        .collect::<Vec<u8>>();
    bytes.extend_from_slice(&std::process::id().to_be_bytes());
    bytes.extend_from_slice(&(nanos as u64).to_be_bytes());
    bytes.extend_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    KeyId::from_vec_in_range(bytes)
}

/// An exclusive lock on a directory, held through a `create_new` lock file.
struct DirLock {
    path: PathBuf,
}

impl DirLock {
    const STALE_AFTER: Duration = Duration::from_secs(120);
    const GIVE_UP_AFTER: Duration = Duration::from_secs(180);

    fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| HsmError::Io {
            context: "cannot create directory",
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(".prepare.lock");
        let started = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > Self::STALE_AFTER);
                    if stale {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed() > Self::GIVE_UP_AFTER {
                        return Err(HsmError::Io {
                            context: "timed out waiting for lock file",
                            path,
                            source: e,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(source) => {
                    return Err(HsmError::Io {
                        context: "cannot create lock file",
                        path,
                        source,
                    });
                }
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
