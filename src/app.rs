//! Wiring only: turns a [`Config`] into storage, the HSM pool, a clock and the servers.

use crate::api::{self, ApiState};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{self, Config, ConfigError, HsmBackend, LogFormat, LogSettings};
use crate::server::{self, BoundServer, ServerError, Shutdown};
use crate::storage::{Storage, StorageError, StorageOptions};
use qtsp_hsm::{Hsm, HsmConfig, HsmError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::init::{InitError, InitReport, init};

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

/// Everything a running node holds.
#[derive(Debug, Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub hsm: Hsm,
    pub storage: Storage,
    pub clock: SharedClock,
}

impl App {
    pub async fn build(config: Config) -> Result<Self, AppError> {
        // The HSM first: it tells an operator who forgot `qtsp init` what to do.
        let hsm = open_hsm(&config).await?;
        let storage = open_storage(&config).await?;
        Ok(Self {
            config: Arc::new(config),
            hsm,
            storage,
            clock: Arc::new(SystemClock),
        })
    }

    fn api_state(&self) -> ApiState {
        ApiState {
            hsm: self.hsm.clone(),
            storage: self.storage.clone(),
            node_id: Arc::from(self.config.node_id.as_str()),
            metrics: Arc::default(),
        }
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
    pub async fn serve_on(self, bound: BoundServer, shutdown: Shutdown) -> Result<(), AppError> {
        let state = self.api_state();
        bound
            .serve(
                api::public_router(state.clone()),
                api::api_router(state),
                shutdown,
            )
            .await?;
        self.storage.close().await;
        Ok(())
    }
}

/// `qtsp serve`: run until SIGTERM or SIGINT, then finish in-flight requests.
pub async fn serve(config: Config) -> Result<(), AppError> {
    let app = App::build(config).await?;
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
    if let (Some(public), Some(api)) = (public, api) {
        eprintln!("qtsp: public listener http://{public}  (health: http://{public}/health/ready)");
        eprintln!("qtsp: API listener    https://{api}  (health: https://{api}/health/ready)");
    }
    let shutdown = Shutdown::default();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        server::termination_signal().await;
        tracing::info!("termination signal received; shutting down");
        trigger.trigger();
    });
    app.serve_on(bound, shutdown).await?;
    tracing::info!("qtsp stopped");
    Ok(())
}

/// `qtsp hsm check`: log in through the pool and print what the token says about itself.
pub async fn hsm_check(config: &Config) -> Result<(), AppError> {
    let hsm = open_hsm(config).await?;
    let report = hsm.check().await?;
    hsm.shutdown().await;
    #[allow(clippy::print_stdout)]
    {
        println!("token      {}", report.token_label);
        println!("serial     {}", report.serial);
        println!("maker      {} {}", report.manufacturer, report.model);
        println!("firmware   {}", report.firmware);
        println!("sessions   {} logged in", report.sessions_alive);
    }
    Ok(())
}
