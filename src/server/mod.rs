//! Listeners: the public HTTP listener (TSA, OCSP, CRL, certificates, health, metrics) and the API
//! listener over TLS (rustls; TLS 1.2 and 1.3 only). Shared tower layers (body limit, timeout, tracing)
//! and graceful shutdown that lets in-flight requests finish.

mod direct;

use direct::{DirectEndpoint, Dispatch};
pub use direct::{DirectRequest, DirectRoute};

use crate::config::ServerSettings;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("SRV001 cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("SRV002 cannot read TLS {what} file {path}: {source}")]
    TlsFile {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("SRV003 TLS certificate file {path} holds no certificate")]
    TlsNoCertificate { path: PathBuf },
    #[error("SRV004 TLS configuration refused: {0}")]
    Tls(#[from] rustls::Error),
    #[error("SRV005 the {listener} listener failed: {source}")]
    Serve {
        listener: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Builds the rustls configuration of the API listener from PEM files (certificate chain, private key).
pub fn load_tls_config(
    cert_file: &Path,
    key_file: &Path,
) -> Result<Arc<ServerConfig>, ServerError> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| ServerError::TlsFile {
            what: "certificate",
            path: cert_file.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(ServerError::TlsNoCertificate {
            path: cert_file.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|source| ServerError::TlsFile {
        what: "private key",
        path: key_file.to_owned(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A stop signal shared by every listener. `trigger` once; every clone sees it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
    receiver: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        let (sender, receiver) = watch::channel(false);
        Self {
            sender: Arc::new(sender),
            receiver,
        }
    }
}

impl Shutdown {
    /// Asks every listener to stop accepting and to finish in-flight requests.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// Resolves once [`Shutdown::trigger`] was called.
    pub async fn wait(&self) {
        let mut receiver = self.receiver.clone();
        // An error means every sender is gone, which also means stop.
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed by the call itself, not
/// when the future is first polled, so that a signal arriving in between stops the server
/// gracefully instead of killing the process (the default action).
pub fn termination_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = signal(SignalKind::terminate())
            .and_then(|terminate| Ok((terminate, signal(SignalKind::interrupt())?)));
        async move {
            match handlers {
                Ok((mut terminate, mut interrupt)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot watch SIGTERM; only SIGINT stops the server");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Both listeners, bound (so that port 0 can be resolved before serving).
#[derive(Debug)]
pub struct BoundServer {
    public: TcpListener,
    api: TcpListener,
    tls: Arc<ServerConfig>,
    settings: ServerSettings,
}

impl BoundServer {
    /// Binds the public and API addresses of `settings`.
    pub async fn bind(
        settings: &ServerSettings,
        tls: Arc<ServerConfig>,
    ) -> Result<Self, ServerError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { addr, source })
        };
        Ok(Self {
            public: bind(settings.public_listen).await?,
            api: bind(settings.api_listen).await?,
            tls,
            settings: settings.clone(),
        })
    }

    pub fn public_addr(&self) -> Option<SocketAddr> {
        self.public.local_addr().ok()
    }

    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api.local_addr().ok()
    }

    /// Serves both routers until `shutdown` fires, then lets in-flight requests finish (up to the
    /// configured grace period).
    pub async fn serve(
        self,
        public: Router,
        direct: Option<DirectRoute>,
        api: Router,
        shutdown: Shutdown,
    ) -> Result<(), ServerError> {
        let public = Dispatch {
            router: with_common_layers(public, &self.settings),
            direct: direct.map(|route| {
                Arc::new(DirectEndpoint {
                    route,
                    max_body: self.settings.max_request_body_bytes,
                    timeout: self.settings.request_timeout,
                })
            }),
        };
        let api = with_common_layers(api, &self.settings);
        let grace = self.settings.shutdown_grace;
        let public_task = serve_plain(self.public, public, shutdown.clone(), grace);
        let api_task = serve_tls(
            self.api,
            self.tls,
            api,
            shutdown.clone(),
            grace,
            self.settings.tls_handshake_timeout,
        );
        let (public_result, api_result) = tokio::join!(public_task, api_task);
        public_result?;
        api_result
    }
}

fn with_common_layers(router: Router, settings: &ServerSettings) -> Router {
    router
        .layer(DefaultBodyLimit::max(settings.max_request_body_bytes))
        .layer(RequestBodyLimitLayer::new(settings.max_request_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(TraceLayer::new_for_http())
}

async fn serve_plain(
    listener: TcpListener,
    dispatch: Dispatch,
    shutdown: Shutdown,
    grace: Duration,
) -> Result<(), ServerError> {
    serve_connections(listener, shutdown, grace, "public", move |stream, _peer| {
        let dispatch = dispatch.clone();
        async move { Some((TokioIo::new(stream), dispatch)) }
    })
    .await
}

async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    shutdown: Shutdown,
    grace: Duration,
    handshake_timeout: Duration,
) -> Result<(), ServerError> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    serve_connections(listener, shutdown, grace, "api", move |stream, peer| {
        let acceptor = acceptor.clone();
        let router = router.clone();
        async move {
            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => Some((
                    TokioIo::new(tls_stream),
                    Dispatch {
                        router,
                        direct: None,
                    },
                )),
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    None
                }
            }
        }
    })
    .await
}

/// The accept loop shared by both listeners: `prepare` turns a TCP stream into an I/O object (e.g.
/// after a TLS handshake, off the accept loop) or drops it.
async fn serve_connections<P, Fut, Io>(
    listener: TcpListener,
    shutdown: Shutdown,
    grace: Duration,
    name: &'static str,
    prepare: P,
) -> Result<(), ServerError>
where
    P: Fn(tokio::net::TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = Option<(TokioIo<Io>, Dispatch)>> + Send + 'static,
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(listener = name, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.wait() => break,
        };
        let _ = stream.set_nodelay(true);
        let prepared = prepare(stream, peer);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let Some((io, dispatch)) = prepared.await else {
                return;
            };
            let service = hyper::service::service_fn(move |request| {
                let dispatch = dispatch.clone();
                async move { Ok::<_, std::convert::Infallible>(dispatch.answer(request, peer).await) }
            });
            let connection = builder.serve_connection(io, service).into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(listener = name, %peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(
        listener = name,
        open_connections = graceful.count(),
        "stopped accepting; finishing in-flight requests"
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            grace_ms = grace.as_millis() as u64,
            "grace period over; closing remaining connections"
        );
    }
    Ok(())
}
