//! The embedded default token: SoftHSM2 configured under qtsp's data directory.
//!
//! SoftHSM2 reads its configuration file from the `SOFTHSM2_CONF` environment variable when the
//! module is initialized (`C_Initialize`); there is no other way to pass it (a C_Initialize
//! `pReserved` pointer would need unsafe code, which qtsp forbids). Setting an environment variable
//! from inside a running Rust program is `unsafe` in edition 2024, so the process that loads the
//! module must be *started* with `SOFTHSM2_CONF=<data>/softhsm2.conf` (scripts/serve and the
//! Dockerfile export it). [`SoftHsmSetup::ensure_token`] refuses to run when the variable points
//! elsewhere, so a token can never be created in the system-wide SoftHSM2 directory by mistake.
//!
//! The pool itself has no SoftHSM-specific code: any PKCS#11 module works.

use std::io::Write;
use std::path::{Path, PathBuf};

use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::session::UserType;

use crate::config::{Pin, TokenSelector};
use crate::error::{HsmError, Result};
use crate::module;

/// Environment variable SoftHSM2 reads its configuration path from.
pub const SOFTHSM2_CONF_ENV: &str = "SOFTHSM2_CONF";

/// Where Debian/Ubuntu/Fedora/Alpine/Homebrew put the SoftHSM2 module.
const KNOWN_MODULE_PATHS: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib/pkcs11/libsofthsm2.so",
    "/usr/lib64/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

/// The first SoftHSM2 module found at a well-known path.
#[must_use]
pub fn find_softhsm_module() -> Option<PathBuf> {
    KNOWN_MODULE_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// What [`SoftHsmSetup::ensure_token`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    /// A token with that label already existed; nothing was changed.
    AlreadyPresent,
    /// The token was initialized now (C_InitToken, then C_InitPIN as SO).
    Created,
}

/// SoftHSM2 configuration and token under a data directory.
#[derive(Clone, Debug)]
pub struct SoftHsmSetup {
    data_dir: PathBuf,
}

impl SoftHsmSetup {
    /// Setup rooted at `data_dir` (qtsp's data directory).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
        }
    }

    /// `<data>/softhsm2.conf`: the value `SOFTHSM2_CONF` must have.
    #[must_use]
    pub fn conf_path(&self) -> PathBuf {
        self.data_dir.join("softhsm2.conf")
    }

    /// `<data>/tokens`: where SoftHSM2 keeps the token files (mode 0700).
    #[must_use]
    pub fn tokens_dir(&self) -> PathBuf {
        self.data_dir.join("tokens")
    }

    /// The configuration file's content.
    #[must_use]
    pub fn config_text(&self) -> String {
        format!(
            "# SoftHSM2 configuration written by qtsp. The process that loads libsofthsm2 must be\n\
             # started with SOFTHSM2_CONF pointing at this file.\n\
             directories.tokendir = {}\n\
             objectstore.backend = file\n\
             log.level = ERROR\n\
             slots.removable = false\n\
             slots.mechanisms = ALL\n\
             library.reset_on_fork = false\n",
            self.tokens_dir().display()
        )
    }

    /// Creates the data and token directories (0700) and writes the configuration file (0600) if
    /// it does not exist yet. An existing file is left alone (it may have been tuned by an
    /// operator). Returns the configuration path.
    pub fn write_config(&self) -> Result<PathBuf> {
        create_private_dir(&self.data_dir)?;
        create_private_dir(&self.tokens_dir())?;
        let conf = self.conf_path();
        if conf.exists() {
            return Ok(conf);
        }
        let tmp = self.data_dir.join(".softhsm2.conf.tmp");
        let io = |context: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| HsmError::Io {
                context,
                path,
                source,
            }
        };
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts
                .open(&tmp)
                .map_err(io("cannot write SoftHSM2 configuration", &tmp))?;
            f.write_all(self.config_text().as_bytes())
                .map_err(io("cannot write SoftHSM2 configuration", &tmp))?;
            f.sync_all()
                .map_err(io("cannot write SoftHSM2 configuration", &tmp))?;
        }
        std::fs::rename(&tmp, &conf).map_err(io("cannot write SoftHSM2 configuration", &conf))?;
        tracing::info!(path = %conf.display(), "SoftHSM2 configuration written");
        Ok(conf)
    }

    /// Fails unless this process was started with `SOFTHSM2_CONF` pointing at [`Self::conf_path`].
    pub fn check_env(&self) -> Result<()> {
        let expected = self.conf_path();
        let actual = std::env::var_os(SOFTHSM2_CONF_ENV);
        let same = actual.as_ref().is_some_and(|a| {
            let a = Path::new(a);
            a == expected
                || matches!(
                    (std::fs::canonicalize(a), std::fs::canonicalize(&expected)),
                    (Ok(x), Ok(y)) if x == y
                )
        });
        if same {
            Ok(())
        } else {
            Err(HsmError::SoftHsmConfMismatch {
                expected,
                actual: actual.map_or_else(
                    || "unset".to_owned(),
                    |a| Path::new(&a).display().to_string(),
                ),
            })
        }
    }

    /// Writes the configuration if needed and makes sure a token labelled `label` exists with the
    /// given SO and user PINs, through PKCS#11 itself: C_InitToken on a free slot, then C_InitPIN
    /// in an SO session. Idempotent: if a token with that label exists nothing is changed (if its
    /// user PIN was never set, which happens when an earlier run was interrupted, it is set now).
    pub async fn ensure_token(
        &self,
        module_path: &Path,
        label: &str,
        so_pin: &Pin,
        user_pin: &Pin,
    ) -> Result<TokenStatus> {
        if label.is_empty() || label.len() > 32 {
            return Err(HsmError::InvalidArgument(
                "a token label must have 1 to 32 bytes".into(),
            ));
        }
        if so_pin.len() < 4 || user_pin.len() < 4 {
            return Err(HsmError::InvalidArgument(
                "SoftHSM2 PINs must have at least 4 bytes".into(),
            ));
        }
        self.write_config()?;
        self.check_env()?;
        let module_path = module_path.to_path_buf();
        let label = label.to_owned();
        let so_pin = so_pin.clone();
        let user_pin = user_pin.clone();
        tokio::task::spawn_blocking(move || {
            init_token_blocking(&module_path, &label, &so_pin, &user_pin)
        })
        .await
        .map_err(|_| HsmError::WorkerLost)?
    }
}

fn init_token_blocking(
    module_path: &Path,
    label: &str,
    so_pin: &Pin,
    user_pin: &Pin,
) -> Result<TokenStatus> {
    let selector = TokenSelector::Label(label.to_owned());
    // The lookup retries a token it cannot see for a moment: initializing a second token with the
    // same label would make the selector ambiguous for good.
    let found = module::acquire_token(module_path, &selector);
    let module = match &found {
        Ok((module, _, _)) => module.clone(),
        Err(_) => module::acquire(module_path)?,
    };
    let _exclusive = module::TokenAccess::Exclusive.acquire();
    let ctx = module.ctx();
    let (slot, status) = match found {
        Ok((_, _, info)) if info.user_pin_initialized() => return Ok(check_present(label)),
        Ok((_, slot, _)) => (slot, TokenStatus::AlreadyPresent),
        Err(HsmError::TokenNotFound { .. }) => {
            let slots = ctx
                .get_all_slots()
                .map_err(HsmError::pkcs11("C_GetSlotList"))?;
            let mut free = None;
            for slot in slots {
                let info = match ctx.get_token_info(slot) {
                    Ok(info) => info,
                    Err(Pkcs11Error::Pkcs11(RvError::TokenNotPresent, _)) => continue,
                    Err(e) => return Err(HsmError::pkcs11("C_GetTokenInfo")(e)),
                };
                if !info.token_initialized() {
                    free = Some(slot);
                    break;
                }
            }
            let slot = free.ok_or_else(|| {
                HsmError::TokenInit("no slot with an uninitialized token is available".into())
            })?;
            ctx.init_token(slot, &so_pin.to_auth_pin(), label)
                .map_err(HsmError::pkcs11("C_InitToken"))?;
            tracing::info!(token = %label, "SoftHSM2 token initialized");
            (slot, TokenStatus::Created)
        }
        Err(e) => return Err(e),
    };
    let session = ctx
        .open_rw_session(slot)
        .map_err(HsmError::pkcs11("C_OpenSession"))?;
    match session.login(UserType::So, Some(&so_pin.to_auth_pin())) {
        Ok(()) => {}
        Err(Pkcs11Error::Pkcs11(rv, _)) => {
            return Err(HsmError::Login {
                user: "security officer",
                rv,
            });
        }
        Err(other) => return Err(HsmError::pkcs11("C_Login")(other)),
    }
    let result = session
        .init_pin(&user_pin.to_auth_pin())
        .map_err(HsmError::pkcs11("C_InitPIN"));
    if let Err(e) = session.logout() {
        tracing::warn!(error = %HsmError::pkcs11("C_Logout")(e), "SO logout failed");
    }
    drop(session);
    result?;
    tracing::info!(token = %label, "user PIN of the token set");
    Ok(status)
}

fn check_present(label: &str) -> TokenStatus {
    tracing::info!(token = %label, "SoftHSM2 token already present");
    TokenStatus::AlreadyPresent
}

fn create_private_dir(path: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(|source| HsmError::Io {
        context: "cannot create directory",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn config_file_is_written_once_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let setup = SoftHsmSetup::new(dir.path().join("var"));
        let conf = setup.write_config().unwrap();
        let text = std::fs::read_to_string(&conf).unwrap();
        assert!(text.contains(&format!(
            "directories.tokendir = {}",
            setup.tokens_dir().display()
        )));
        assert!(text.contains("objectstore.backend = file"));
        assert!(text.contains("log.level = ERROR"));
        assert!(text.contains("slots.removable = false"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&setup.tokens_dir()), 0o700);
            assert_eq!(mode(&conf), 0o600);
        }
        std::fs::write(&conf, "# tuned by an operator\n").unwrap();
        setup.write_config().unwrap();
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "# tuned by an operator\n"
        );
    }

    #[test]
    fn env_mismatch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let setup = SoftHsmSetup::new(dir.path());
        let err = setup.check_env().unwrap_err();
        assert_eq!(err.code(), "HSM019");
    }
}
