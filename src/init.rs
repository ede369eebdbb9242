//! `qtsp init`: everything a node needs before `qtsp serve`, created once and left alone afterwards.
//! Idempotent and non-interactive: each step checks what exists and only creates what is missing.

use crate::app::{self, AppError};
use crate::audit::{CheckpointSigner, Journal, NodeInfo};
use crate::ca::ceremony::{self, CeremonySettings, Hierarchy};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{self, Config, HsmBackend};
use crate::profile::ProfileId;
use std::fmt;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Label and CKA_ID of the key-encryption key that wraps signers' keys.
pub const KEK_LABEL: &str = "qtsp-kek";
pub const KEK_ID: &[u8] = b"qtsp-kek-1";

/// Why `qtsp init` stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    #[error("INI001 cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("INI002 no random bytes for the PINs: {0}")]
    Random(String),
    #[error("INI003 cannot generate the local TLS certificate: {0}")]
    TlsGeneration(String),
    #[error(
        "INI004 {path} exists but {other} does not: restore it or remove both and run `qtsp init` again"
    )]
    HalfPair { path: PathBuf, other: PathBuf },
}

/// What `qtsp init` did, step by step.
#[derive(Debug, Default)]
pub struct InitReport {
    pub steps: Vec<(String, StepOutcome)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    Created,
    AlreadyPresent,
    /// Checked to work (database migrations applied, HSM login).
    Checked,
}

impl InitReport {
    fn record(&mut self, step: impl Into<String>, outcome: StepOutcome) {
        let step = step.into();
        tracing::info!(step = %step, ?outcome, "init");
        self.steps.push((step, outcome));
    }

    /// True when the run changed nothing.
    pub fn unchanged(&self) -> bool {
        self.steps
            .iter()
            .all(|(_, outcome)| *outcome != StepOutcome::Created)
    }

    /// Prints the report on standard output (the CLI's answer).
    #[allow(clippy::print_stdout)]
    pub fn print(&self) {
        print!("{self}");
    }
}

impl fmt::Display for InitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (step, outcome) in &self.steps {
            let mark = match outcome {
                StepOutcome::Created => "created",
                StepOutcome::AlreadyPresent => "present",
                StepOutcome::Checked => "checked",
            };
            writeln!(f, "{mark:>8}  {step}")?;
        }
        Ok(())
    }
}

/// Runs every step of `qtsp init`.
pub async fn init(config: &Config) -> Result<InitReport, AppError> {
    let mut report = InitReport::default();
    private_dir(&config.data_dir, &mut report)?;

    if let HsmBackend::EmbeddedSoftHsm {
        conf_path,
        tokens_dir,
        so_pin_file,
    } = &config.hsm.backend
    {
        embedded_token(config, conf_path, tokens_dir, so_pin_file, &mut report).await?;
    }

    let storage = app::open_storage(config).await?;
    report.record(
        format!("database schema ({})", config.database.redacted_url()),
        StepOutcome::Checked,
    );
    let hsm = app::open_hsm(config).await?;
    let health = hsm.check().await?;
    report.record(
        format!("HSM login on token \"{}\"", health.token_label),
        StepOutcome::Checked,
    );
    let result = key_ceremony(config, &hsm, &storage, &mut report).await;
    hsm.shutdown().await;
    storage.close().await;
    result?;

    if config.server.tls.generated {
        local_tls_pair(
            &config.server.tls.cert_file,
            &config.server.tls.key_file,
            &mut report,
        )?;
    }
    Ok(report)
}

async fn embedded_token(
    config: &Config,
    conf_path: &Path,
    tokens_dir: &Path,
    so_pin_file: &Path,
    report: &mut InitReport,
) -> Result<(), AppError> {
    let hsm_dir = so_pin_file.parent().unwrap_or(&config.data_dir);
    private_dir(hsm_dir, report)?;
    private_dir(tokens_dir, report)?;
    let so_pin = secret_file(so_pin_file, report)?;
    let user_pin = match &config.hsm.user_pin {
        config::PinSource::File(path) => secret_file(path, report)?,
        config::PinSource::Environment(pin) => pin.clone(),
    };
    let module = qtsp_hsm::softhsm::find_softhsm_module().ok_or(AppError::SoftHsmModuleMissing)?;
    let label = match &config.hsm.token {
        config::TokenSelector::Label(label) => label.clone(),
        config::TokenSelector::Serial(_) => config::EMBEDDED_TOKEN_LABEL.to_owned(),
    };
    let setup = qtsp_hsm::softhsm::SoftHsmSetup::new(&config.data_dir);
    debug_assert_eq!(setup.conf_path(), conf_path);
    let status = setup
        .ensure_token(
            &module,
            &label,
            &qtsp_hsm::Pin::new(so_pin.as_str()),
            &qtsp_hsm::Pin::new(user_pin.as_str()),
        )
        .await?;
    report.record(
        format!("SoftHSM2 token \"{label}\" ({})", conf_path.display()),
        match status {
            qtsp_hsm::softhsm::TokenStatus::Created => StepOutcome::Created,
            _ => StepOutcome::AlreadyPresent,
        },
    );

    // The SO creates the KEK before this process logs in as the user (PKCS#11 allows one at a time).
    let hsm_config = app::hsm_config(config)?;
    let kek_id = qtsp_hsm::KeyId::new(KEK_ID)?;
    qtsp_hsm::init_kek_as_security_officer(
        &hsm_config,
        &qtsp_hsm::Pin::new(so_pin.as_str()),
        KEK_LABEL,
        &kek_id,
    )
    .await?;
    report.record(
        format!("key-encryption key \"{KEK_LABEL}\" (AES-256, trusted, non-extractable)"),
        StepOutcome::Checked,
    );
    Ok(())
}

/// The key ceremony of `policies/hierarchy.toml`, then a signed audit checkpoint over its records.
async fn key_ceremony(
    config: &Config,
    hsm: &qtsp_hsm::Hsm,
    storage: &crate::storage::Storage,
    report: &mut InitReport,
) -> Result<(), AppError> {
    let clock: SharedClock = Arc::new(SystemClock);
    let journal = Journal::new(
        storage.clone(),
        clock.clone(),
        NodeInfo::new(&config.node_id),
    );
    let hierarchy = Hierarchy::default_hierarchy()?;
    let settings = CeremonySettings {
        certs_dir: config.data_dir.join("certs"),
        public_base_url: config.pki.public_base_url.clone(),
        pds_base_url: config.pki.pds_base_url.clone(),
        actor: format!("qtsp init on {}", config.node_id),
    };
    let (ceremony, members) =
        ceremony::run(&hierarchy, &settings, hsm, storage, &journal, &clock).await?;
    for label in &ceremony.keys_generated {
        report.record(format!("HSM key {label}"), StepOutcome::Created);
    }
    for name in &ceremony.certificates_issued {
        report.record(
            format!(
                "certificate {}",
                settings.certs_dir.join(format!("{name}.crt")).display()
            ),
            StepOutcome::Created,
        );
    }
    for name in &ceremony.already_present {
        report.record(
            format!(
                "certificate {}",
                settings.certs_dir.join(format!("{name}.crt")).display()
            ),
            StepOutcome::AlreadyPresent,
        );
    }
    let changed = !ceremony.keys_generated.is_empty() || !ceremony.certificates_issued.is_empty();
    if changed
        && let Some(audit) = members
            .iter()
            .find(|m| m.entity.profile == ProfileId::AuditCheckpointSigner)
    {
        let signer = CheckpointSigner::new(hsm.clone(), audit.key.clone()).await?;
        if let Some(checkpoint) = journal
            .with_checkpoint_signer(signer)
            .checkpoint_now()
            .await?
        {
            report.record(
                format!("audit checkpoint at record {}", checkpoint.seq),
                StepOutcome::Created,
            );
        }
    }
    Ok(())
}

fn private_dir(path: &Path, report: &mut InitReport) -> Result<(), InitError> {
    if path.is_dir() {
        report.record(
            format!("directory {}", path.display()),
            StepOutcome::AlreadyPresent,
        );
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| InitError::Create {
            path: path.to_owned(),
            source,
        })?;
    report.record(
        format!("directory {}", path.display()),
        StepOutcome::Created,
    );
    Ok(())
}

/// Reads a secret file, or creates it (mode 0600) with a new random PIN.
fn secret_file(path: &Path, report: &mut InitReport) -> Result<Zeroizing<String>, AppError> {
    if path.exists() {
        report.record(
            format!("secret {}", path.display()),
            StepOutcome::AlreadyPresent,
        );
        return Ok(config::read_secret_file("hsm pin file", path)?);
    }
    let pin = random_pin()?;
    write_private_file(path, pin.as_bytes())?;
    report.record(format!("secret {}", path.display()), StepOutcome::Created);
    Ok(pin)
}

fn write_private_file(path: &Path, content: &[u8]) -> Result<(), InitError> {
    let create_error = |source| InitError::Create {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(create_error)?;
    // The mode given to open() is filtered by the umask; make sure it is exactly 0600.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(create_error)?;
    file.write_all(content).map_err(create_error)?;
    file.sync_all().map_err(create_error)
}

/// 24 characters from a 62-letter alphabet (about 142 bits), from the operating system's CSPRNG.
fn random_pin() -> Result<Zeroizing<String>, InitError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let mut pin = Zeroizing::new(String::with_capacity(24));
    while pin.len() < 24 {
        let mut bytes = Zeroizing::new([0u8; 32]);
        provider
            .secure_random
            .fill(bytes.as_mut())
            .map_err(|e| InitError::Random(format!("{e:?}")))?;
        // Rejection sampling keeps the letters uniform: 248 = 4 * 62.
        for byte in bytes.iter().filter(|b| **b < 248) {
            if pin.len() == 24 {
                break;
            }
            pin.push(char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]));
        }
    }
    Ok(pin)
}

/// A self-signed ECDSA P-256 certificate for the API listener on this machine (localhost,
/// 127.0.0.1, ::1). Operators replace it with their own via `server.tls_cert_file`/`tls_key_file`.
fn local_tls_pair(cert: &Path, key: &Path, report: &mut InitReport) -> Result<(), InitError> {
    match (cert.exists(), key.exists()) {
        (true, true) => {
            report.record(
                format!("local TLS certificate {}", cert.display()),
                StepOutcome::AlreadyPresent,
            );
            return Ok(());
        }
        (true, false) => {
            return Err(InitError::HalfPair {
                path: cert.to_owned(),
                other: key.to_owned(),
            });
        }
        (false, true) => {
            return Err(InitError::HalfPair {
                path: key.to_owned(),
                other: cert.to_owned(),
            });
        }
        (false, false) => {}
    }
    if let Some(dir) = cert.parent() {
        private_dir(dir, report)?;
    }
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| InitError::TlsGeneration(e.to_string()))?;
    let key_pem = Zeroizing::new(generated.signing_key.serialize_pem());
    write_private_file(key, key_pem.as_bytes())?;
    write_private_file(cert, generated.cert.pem().as_bytes())?;
    report.record(
        format!("local TLS certificate {}", cert.display()),
        StepOutcome::Created,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pins_are_long_distinct_and_alphanumeric() {
        let a = random_pin().unwrap();
        let b = random_pin().unwrap();
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.as_str(), b.as_str());
    }

    #[test]
    fn private_files_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_private_file(&path, b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(write_private_file(&path, b"y").is_err(), "never overwrites");
    }

    #[test]
    fn local_tls_pair_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("tls/a.crt"), dir.path().join("tls/a.key"));
        let mut report = InitReport::default();
        local_tls_pair(&cert, &key, &mut report).unwrap();
        let first = std::fs::read(&cert).unwrap();
        let mut again = InitReport::default();
        local_tls_pair(&cert, &key, &mut again).unwrap();
        assert!(again.unchanged());
        assert_eq!(first, std::fs::read(&cert).unwrap());
        std::fs::remove_file(&key).unwrap();
        assert!(matches!(
            local_tls_pair(&cert, &key, &mut InitReport::default()),
            Err(InitError::HalfPair { .. })
        ));
    }
}
