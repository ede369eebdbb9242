//! Wiring only: turns a [`Config`] into storage, the HSM pool, a clock and the servers.

use crate::api::{self, ApiState};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{self, Config, ConfigError, HsmBackend, LogFormat, LogSettings};
use crate::server::{self, BoundServer, ServerError, Shutdown};
use crate::storage::{Storage, StorageError, StorageOptions};
use qtsp_hsm::{Hsm, HsmConfig, HsmError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod commands;

pub use crate::init::{InitError, InitReport, init};
pub use commands::{
    RevokeArgs, audit_export, audit_verify, ca_revoke, hsm_check, tsa_check, tsa_show,
};

/// Why a command failed. Each variant keeps the typed error of the layer that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Hsm(#[from] HsmError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Init(#[from] InitError),
    #[error(transparent)]
    Ceremony(#[from] crate::ca::ceremony::CeremonyError),
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Tsa(#[from] crate::tsa::TsaError),
    #[error(transparent)]
    Crl(#[from] crate::crl::CrlError),
    #[error(transparent)]
    Ocsp(#[from] crate::ocsp::OcspError),
    #[error(transparent)]
    Revoke(#[from] crate::ca::RevokeError),
    #[error(
        "APP001 the embedded HSM is not initialized ({missing} is missing): run `qtsp init` first"
    )]
    NotInitialized { missing: PathBuf },
    #[error(
        "APP002 no SoftHSM2 module found: install the Debian package softhsm2 or set hsm.module"
    )]
    SoftHsmModuleMissing,
    #[error("APP003 {0}")]
    InvalidArgument(String),
    #[error("APP004 the audit journal does not verify: {0}")]
    AuditBroken(String),
    #[error(
        "APP006 the clock is not synchronized within the TSA's accuracy: run chrony or systemd-timesyncd (or, on a development machine only, set QTSP_TSA_REQUIRE_CLOCK_SYNC=false)"
    )]
    ClockNotSynchronized,
    #[error("APP007 no time-stamp token with serial {serial} in the database")]
    TimestampNotFound { serial: String },
    #[error("APP005 cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Sets up `tracing` as configured. Logs go to standard error.
pub fn init_logging(settings: &LogSettings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Replaces this process with itself, `SOFTHSM2_CONF` set to `conf`. Returns only on failure.
pub fn reexec_with_softhsm_conf(conf: &Path) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => return error,
    };
    std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(config::env::SOFTHSM2_CONF, conf)
        .env(config::env::REEXECUTED, "1")
        .exec()
}

/// The PKCS#11 settings of the pool, with the user PIN read from its source.
pub fn hsm_config(config: &Config) -> Result<HsmConfig, AppError> {
    let module = match &config.hsm.backend {
        HsmBackend::Module { path } => path.clone(),
        HsmBackend::EmbeddedSoftHsm { conf_path, .. } => {
            if !conf_path.is_file() {
                return Err(AppError::NotInitialized {
                    missing: conf_path.clone(),
                });
            }
            qtsp_hsm::softhsm::find_softhsm_module().ok_or(AppError::SoftHsmModuleMissing)?
        }
    };
    let pin = config.hsm.user_pin.read()?;
    Ok(HsmConfig {
        module,
        token: match &config.hsm.token {
            config::TokenSelector::Label(label) => qtsp_hsm::TokenSelector::Label(label.clone()),
            config::TokenSelector::Serial(serial) => {
                qtsp_hsm::TokenSelector::Serial(serial.clone())
            }
        },
        user_pin: qtsp_hsm::Pin::new(pin.as_str()),
        sessions: config.hsm.sessions,
        queue_depth: config.hsm.queue_depth,
    })
}

/// Opens the HSM session pool.
pub async fn open_hsm(config: &Config) -> Result<Hsm, AppError> {
    let hsm_config = hsm_config(config)?;
    Ok(Hsm::start(&hsm_config).await?)
}

/// Opens the database and brings its schema up to date.
pub async fn open_storage(config: &Config) -> Result<Storage, AppError> {
    let options = StorageOptions {
        max_connections: config.database.max_connections,
        ..StorageOptions::default()
    };
    let storage = Storage::connect(&config.database.url, options).await?;
    storage.migrate().await?;
    Ok(storage)
}

/// Reads `<data_dir>/certs/<name>.crt` for every entity of the hierarchy.
fn load_hierarchy_certificates(
    config: &Config,
) -> Result<std::collections::BTreeMap<String, axum::body::Bytes>, AppError> {
    let hierarchy = crate::ca::ceremony::Hierarchy::default_hierarchy()?;
    let certs_dir = config.data_dir.join("certs");
    let mut certificates = std::collections::BTreeMap::new();
    for entity in &hierarchy.entities {
        let (der_path, _) = crate::ca::ceremony::certificate_paths(&certs_dir, &entity.name);
        let der = std::fs::read(&der_path).map_err(|_| AppError::NotInitialized {
            missing: der_path.clone(),
        })?;
        certificates.insert(entity.name.clone(), axum::body::Bytes::from(der));
    }
    Ok(certificates)
}

/// Everything a running node holds.
#[derive(Debug, Clone)]
pub struct App {
    pub config: Arc<Config>,
    /// The hierarchy's certificates (DER) by name, read once at start.
    pub certificates: Arc<std::collections::BTreeMap<String, axum::body::Bytes>>,
    pub hsm: Hsm,
    pub storage: Storage,
    pub clock: SharedClock,
}

impl App {
    pub async fn build(config: Config) -> Result<Self, AppError> {
        // The HSM first: it tells an operator who forgot `qtsp init` what to do.
        let hsm = open_hsm(&config).await?;
        let storage = open_storage(&config).await?;
        let certificates = Arc::new(load_hierarchy_certificates(&config)?);
        Ok(Self {
            config: Arc::new(config),
            certificates,
            hsm,
            storage,
            clock: Arc::new(SystemClock),
        })
    }

    fn api_state(
        &self,
        tsa: Option<crate::tsa::TimeStampAuthority>,
        crl: Option<crate::crl::CrlService>,
        ocsp: Option<crate::ocsp::OcspService>,
        admin: Option<api::admin::AdminState>,
    ) -> ApiState {
        ApiState {
            admin: admin.map(Arc::new),
            hsm: self.hsm.clone(),
            storage: self.storage.clone(),
            node_id: Arc::from(self.config.node_id.as_str()),
            metrics: Arc::default(),
            certificates: self.certificates.clone(),
            tsa,
            crl,
            ocsp,
        }
    }

    /// The OCSP service: one delegated responder per entity of the hierarchy with the
    /// `ocsp-responder` profile, each with its key in the HSM (by the entity's key id) and its
    /// certificate, answering for the CA that issued it.
    pub async fn start_ocsp(&self) -> Result<crate::ocsp::OcspService, AppError> {
        let hierarchy = crate::ca::ceremony::Hierarchy::default_hierarchy()?;
        let mut responders = Vec::new();
        for entity in hierarchy
            .entities
            .iter()
            .filter(|e| e.profile == crate::profile::ProfileId::OcspResponder)
        {
            responders.push(self.ocsp_responder(entity).await?);
        }
        if responders.is_empty() {
            return Err(AppError::InvalidArgument(
                "policies/hierarchy.toml has no ocsp-responder entity".into(),
            ));
        }
        Ok(crate::ocsp::OcspService::new(responders)?)
    }

    /// The responder of the hierarchy's `entity` (an OCSP responder certificate), for its issuer.
    async fn ocsp_responder(
        &self,
        entity: &crate::ca::ceremony::Entity,
    ) -> Result<crate::ocsp::OcspResponder, AppError> {
        let issuer = entity.issuer.as_deref().ok_or_else(|| {
            AppError::InvalidArgument(format!("OCSP responder `{}` has no issuer", entity.name))
        })?;
        let certificate = |name: &str| {
            self.certificates
                .get(name)
                .ok_or_else(|| AppError::NotInitialized {
                    missing: self
                        .config
                        .data_dir
                        .join("certs")
                        .join(format!("{name}.crt")),
                })
        };
        self.ocsp_responder_from(
            entity,
            certificate(&entity.name)?,
            issuer,
            certificate(issuer)?,
        )
        .await
    }

    /// The responder whose key is `entity`'s in the HSM and whose certificate is
    /// `responder_certificate`, answering for the CA `issuer` (certificate `ca_certificate`),
    /// with the configured schedule and cache. Its key is checked against its certificate.
    pub(crate) async fn ocsp_responder_from(
        &self,
        entity: &crate::ca::ceremony::Entity,
        responder_certificate: &[u8],
        issuer: &str,
        ca_certificate: &[u8],
    ) -> Result<crate::ocsp::OcspResponder, AppError> {
        let next_update = time::Duration::try_from(self.config.ocsp.next_update)
            .map_err(|e| AppError::InvalidArgument(format!("ocsp.next_update_minutes: {e}")))?;
        let key = self.hsm.find_key(&entity.key_id()?).await?.ok_or_else(|| {
            AppError::NotInitialized {
                missing: self
                    .config
                    .data_dir
                    .join("certs")
                    .join(format!("{}.crt", entity.name)),
            }
        })?;
        let authority = crate::ocsp::OcspAuthority::from_certificate_der(issuer, ca_certificate)?;
        let responder = crate::ocsp::OcspResponder::new(
            vec![authority],
            key,
            responder_certificate,
            self.hsm.clone(),
            self.storage.clone(),
            self.clock.clone(),
            next_update,
            self.config.ocsp.cache,
        )?;
        // A responder key that does not match its certificate stops the server here.
        responder.check_key().await?;
        Ok(responder)
    }

    /// The revocation service for the hierarchy's CAs (every entity that is not an end entity).
    pub fn revocation_service(
        &self,
        journal: &crate::audit::Journal,
    ) -> Result<crate::ca::RevocationService, AppError> {
        let hierarchy = crate::ca::ceremony::Hierarchy::default_hierarchy()?;
        let mut issuers = Vec::new();
        for entity in &hierarchy.entities {
            let kind = crate::profile::builtin(entity.profile)
                .map_err(crate::ca::CaError::from)?
                .kind;
            if kind != crate::profile::CertificateKind::EndEntity {
                issuers.push(entity.name.clone());
            }
        }
        Ok(crate::ca::RevocationService::new(
            self.storage.clone(),
            journal.clone(),
            self.clock.clone(),
            issuers,
        ))
    }

    /// The admin endpoints' state, when an admin token digest is configured (its file is read
    /// now, so that a bad one stops the start). Revocations made through it reach this node's
    /// OCSP responders `ocsp` before the call returns, and wake `crl`'s publisher.
    pub fn admin_state(
        &self,
        journal: &crate::audit::Journal,
        ocsp: &crate::ocsp::OcspService,
        crl: Option<&crate::crl::CrlService>,
    ) -> Result<Option<api::admin::AdminState>, AppError> {
        let Some(source) = &self.config.admin.token_sha256 else {
            return Ok(None);
        };
        let digest = source.read()?;
        let mut revocations = self
            .revocation_service(journal)?
            .with_observer(Arc::new(ocsp.clone()));
        if let Some(crl) = crl {
            revocations = revocations.with_observer(Arc::new(crl.clone()));
        }
        Ok(Some(api::admin::AdminState::new(digest, revocations)))
    }

    /// The CRL service of the hierarchy's CAs (root and issuing CAs): each CA's key in the HSM
    /// (by the entity's key id) and its certificate from the data directory.
    pub async fn start_crl(
        &self,
        journal: &crate::audit::Journal,
    ) -> Result<crate::crl::CrlService, AppError> {
        use crate::profile::CertificateKind;
        let schedule = crate::crl::CrlSchedule::from_settings(&self.config.crl)?;
        let hierarchy = crate::ca::ceremony::Hierarchy::default_hierarchy()?;
        let mut issuers = Vec::new();
        for entity in &hierarchy.entities {
            let kind = crate::profile::builtin(entity.profile)
                .map_err(crate::ca::CaError::from)?
                .kind;
            if kind == CertificateKind::EndEntity {
                continue;
            }
            let not_initialized = || AppError::NotInitialized {
                missing: self
                    .config
                    .data_dir
                    .join("certs")
                    .join(format!("{}.crt", entity.name)),
            };
            let key = self
                .hsm
                .find_key(&entity.key_id()?)
                .await?
                .ok_or_else(not_initialized)?;
            let certificate = self
                .certificates
                .get(&entity.name)
                .ok_or_else(not_initialized)?;
            issuers.push(crate::crl::CrlIssuer::new(
                &entity.name,
                key,
                certificate,
                self.hsm.clone(),
                self.storage.clone(),
                journal.clone(),
                self.clock.clone(),
                schedule,
            )?);
        }
        Ok(crate::crl::CrlService::new(
            issuers,
            self.clock.clone(),
            &journal.system_actor(),
        ))
    }

    /// Starts the time-stamping authority with the TSU key and certificate of the hierarchy.
    pub async fn start_tsa(
        &self,
        journal: &crate::audit::Journal,
    ) -> Result<(crate::tsa::TimeStampAuthority, crate::tsa::TsaTasks), AppError> {
        let (key, certificate) = self.tsa_unit().await?;
        self.start_tsa_with(journal, key, certificate).await
    }

    /// The configured time-stamping unit's private key and certificate (DER).
    async fn tsa_unit(&self) -> Result<(qtsp_hsm::KeyRef, Vec<u8>), AppError> {
        let unit = &self.config.tsa.unit;
        let hierarchy = crate::ca::ceremony::Hierarchy::default_hierarchy()?;
        let entity = hierarchy.entity(unit).ok_or_else(|| {
            AppError::InvalidArgument(format!(
                "tsa.unit `{unit}` is not an entity of policies/hierarchy.toml"
            ))
        })?;
        let key = self
            .hsm
            .find_key(&entity.key_id()?)
            .await?
            .ok_or_else(|| crate::tsa::TsaError::KeyMissing(entity.key_label()))?;
        let certificate = self
            .certificates
            .get(unit)
            .ok_or_else(|| AppError::NotInitialized {
                missing: self
                    .config
                    .data_dir
                    .join("certs")
                    .join(format!("{unit}.crt")),
            })?
            .to_vec();
        Ok((key, certificate))
    }

    /// Starts the time-stamping authority with a given TSU key and certificate (DER).
    pub async fn start_tsa_with(
        &self,
        journal: &crate::audit::Journal,
        key: qtsp_hsm::KeyRef,
        certificate: Vec<u8>,
    ) -> Result<(crate::tsa::TimeStampAuthority, crate::tsa::TsaTasks), AppError> {
        let setup = crate::tsa::TsaSetup {
            hsm: self.hsm.clone(),
            key,
            certificate,
            policy: crate::tsa::TsaPolicy::configured(&self.config.tsa)?,
            require_clock_sync: self.config.tsa.require_clock_sync,
            clock_report: self.config.tsa.clock_report,
            clock: self.clock.clone(),
            sync: Arc::new(crate::clock::KernelSync),
            journal: journal.clone(),
            node_id: self.config.node_id.clone(),
        };
        Ok(crate::tsa::TimeStampAuthority::start(setup).await?)
    }

    /// Binds both listeners (so that their addresses are known) without serving yet.
    pub async fn bind(&self) -> Result<BoundServer, AppError> {
        let tls = server::load_tls_config(
            &self.config.server.tls.cert_file,
            &self.config.server.tls.key_file,
        )?;
        Ok(BoundServer::bind(&self.config.server, tls).await?)
    }

    /// Serves on bound listeners until `shutdown` fires.
    pub async fn serve_on(
        self,
        bound: BoundServer,
        shutdown: Shutdown,
        tsa: Option<crate::tsa::TimeStampAuthority>,
        crl: Option<crate::crl::CrlService>,
        ocsp: Option<crate::ocsp::OcspService>,
        admin: Option<api::admin::AdminState>,
    ) -> Result<(), AppError> {
        let state = self.api_state(tsa, crl, ocsp, admin);
        bound
            .serve(
                api::public_router(state.clone()),
                api::tsa::DirectTsa::new(&state).map(|tsa| {
                    server::DirectRoute::post(
                        api::tsa::PATH,
                        move |request: server::DirectRequest| {
                            let tsa = tsa.clone();
                            async move {
                                tsa.answer(&request.headers, &request.body, request.peer)
                                    .await
                            }
                        },
                    )
                }),
                api::api_router(state),
                shutdown,
            )
            .await?;
        Ok(())
    }
}

/// How long the time-stamp recorder may take to write its last batch at shutdown.
const TSA_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the CRL publisher and the OCSP refresher may take to finish their round at shutdown.
const ROUND_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Audit checkpoints are signed every this many records...
const CHECKPOINT_EVERY_RECORDS: u64 = 1000;
/// ... or this often, whichever comes first (and only when there is something new).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Signs audit checkpoints on the schedule above until `shutdown`.
pub(crate) fn spawn_checkpointer(
    journal: &crate::audit::Journal,
    shutdown: &Shutdown,
) -> Result<tokio::task::JoinHandle<()>, AppError> {
    let shutdown = shutdown.clone();
    Ok(
        journal.spawn_checkpointer(CHECKPOINT_EVERY_RECORDS, CHECKPOINT_EVERY, async move {
            shutdown.wait().await;
        })?,
    )
}

/// Waits for the checkpointer (it signs one when it sees the shutdown), then signs one over
/// whatever was journaled after it, so that a stopped node's journal ends under a checkpoint.
pub(crate) async fn last_checkpoint(
    journal: &crate::audit::Journal,
    checkpointer: tokio::task::JoinHandle<()>,
) {
    let _ = checkpointer.await;
    if let Err(error) = journal.checkpoint_now().await {
        tracing::error!(%error, "cannot sign the last audit checkpoint");
    }
}

/// Once the TSA is dropped (every request answered): the recorder writes what is queued, then
/// the clock monitor journals the episode boundaries still queued (one seen just before the stop
/// included) and the statement of the period cut short. Each is given [`TSA_DRAIN`].
pub(crate) async fn finish_tsa(tasks: crate::tsa::TsaTasks) {
    if tokio::time::timeout(TSA_DRAIN, tasks.recorder)
        .await
        .is_err()
    {
        tracing::error!("the time-stamp recorder did not stop in time");
    }
    let mut clock_monitor = tasks.clock_monitor;
    if tokio::time::timeout(TSA_DRAIN, &mut clock_monitor)
        .await
        .is_err()
    {
        tracing::error!("the clock monitor did not stop in time");
        clock_monitor.abort();
    }
}

/// The journal of this node, with the audit key of the ceremony as checkpoint signer.
pub async fn open_journal(
    config: &Config,
    hsm: &Hsm,
    storage: &Storage,
    clock: &SharedClock,
) -> Result<crate::audit::Journal, AppError> {
    let journal = crate::audit::Journal::new(
        storage.clone(),
        clock.clone(),
        crate::audit::NodeInfo::new(&config.node_id),
    );
    let hierarchy = crate::ca::ceremony::Hierarchy::default_hierarchy()?;
    let audit_key = match hierarchy.entity("audit") {
        Some(entity) => hsm.find_key(&entity.key_id()?).await?,
        None => None,
    };
    match audit_key {
        Some(key) => Ok(journal
            .with_checkpoint_signer(crate::audit::CheckpointSigner::new(hsm.clone(), key).await?)),
        None => Err(AppError::NotInitialized {
            missing: config.data_dir.join("certs").join("audit.crt"),
        }),
    }
}

/// `qtsp serve`: run until SIGTERM or SIGINT, then finish in-flight requests.
pub async fn serve(config: Config) -> Result<(), AppError> {
    let app = App::build(config).await?;
    let journal = open_journal(&app.config, &app.hsm, &app.storage, &app.clock).await?;
    journal.record_service_started().await?;
    let (tsa, tsa_tasks) = app.start_tsa(&journal).await?;
    let crl = app.start_crl(&journal).await?;
    let ocsp = app.start_ocsp().await?;
    let admin = app.admin_state(&journal, &ocsp, Some(&crl))?;
    if admin.is_none() {
        tracing::info!("admin endpoints disabled: no admin token digest configured");
    }
    let bound = app.bind().await?;
    let public = bound.public_addr();
    let api = bound.api_addr();
    tracing::info!(
        node = %app.config.node_id,
        database = %app.config.database.redacted_url(),
        public = ?public,
        api = ?api,
        "qtsp serving"
    );
    // Installed before the listeners are announced: from then on SIGTERM stops gracefully instead
    // of killing the process (a supervisor may stop it as soon as it reads these lines).
    let termination = server::termination_signal();
    if let (Some(public), Some(api)) = (public, api) {
        eprintln!("qtsp: public listener http://{public}  (health: http://{public}/health/ready)");
        eprintln!("qtsp: API listener    https://{api}  (health: https://{api}/health/ready)");
    }
    let shutdown = Shutdown::default();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        termination.await;
        tracing::info!("termination signal received; shutting down");
        trigger.trigger();
    });
    let checkpointer = spawn_checkpointer(&journal, &shutdown)?;
    // CRLs published on schedule and after revocations, and pre-signed OCSP answers signed
    // again before they are due, whether or not anyone asks.
    let crl_publisher = {
        let shutdown = shutdown.clone();
        crl.spawn_publisher(app.config.crl.revocation_poll, async move {
            shutdown.wait().await;
        })
    };
    let ocsp_refresher = {
        let shutdown = shutdown.clone();
        ocsp.spawn_refresher(async move { shutdown.wait().await })
    };
    let hsm = app.hsm.clone();
    let storage = app.storage.clone();
    let served = app
        .serve_on(bound, shutdown, Some(tsa), Some(crl), Some(ocsp), admin)
        .await;
    // A publication or refresh under way finishes (its journal record and HSM signature) before
    // the stop is journaled and the HSM pool closes.
    for (mut task, name) in [
        (crl_publisher, "CRL publisher"),
        (ocsp_refresher, "OCSP refresher"),
    ] {
        if tokio::time::timeout(ROUND_DRAIN, &mut task).await.is_err() {
            tracing::error!("the {name} did not stop in time");
            task.abort();
        }
    }
    finish_tsa(tsa_tasks).await;
    // The last records of this run: the stop, then a checkpoint over it (the checkpointer makes one
    // when it sees the shutdown; it is awaited so that it lands before the pool closes).
    if let Err(error) = journal.record_service_stopped().await {
        tracing::error!(%error, "cannot journal the stop");
    }
    last_checkpoint(&journal, checkpointer).await;
    hsm.shutdown().await;
    storage.close().await;
    served?;
    tracing::info!("qtsp stopped");
    Ok(())
}
