//! The session pool: N worker OS threads, each owning one logged-in read/write session.
//!
//! Async callers never touch PKCS#11. They box a job, push it on a bounded flume channel
//! (`send_async`: a full queue suspends the caller, it never blocks a tokio thread) and await the
//! answer on a tokio oneshot. A worker polls for jobs for a moment after each one (yielding the CPU), then
//! waits on the channel, and runs them on its own session. Login happens once per application (the first session logs in, the others find the
//! token already logged in); there is no per-operation login and no per-operation object search:
//! each worker caches the object handles it found, keyed by CKA_ID.
//!
//! When a PKCS#11 call reports that the session is gone (CKR_SESSION_HANDLE_INVALID,
//! CKR_SESSION_CLOSED, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT) or no longer logged in
//! (CKR_USER_NOT_LOGGED_IN), the worker drops its handle cache, opens a new session, logs in
//! again if needed and retries the job once. A rejected PIN disables further logins for the life of
//! the pool so a wrong or changed PIN can never burn the token's retry counter.
//!
//! Dropping the last [`Hsm`] clone closes the queue: workers skip the queued jobs nobody waits for
//! any more, close their sessions and exit, and the drop joins them (it waits for at most the
//! operation each worker is running). [`Hsm::shutdown`] does the same without blocking: call it
//! before the process exits. When the last user of the module is gone, `C_Finalize` is called.

mod health;
mod session;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

#[cfg(feature = "testing")]
use cryptoki::session::Session;
use tokio::sync::oneshot;

use crate::config::HsmConfig;
use crate::error::{HsmError, Result};
use crate::module::{self, TokenAccess};

pub use health::HealthReport;
pub(crate) use session::CachedKey;
pub(crate) use session::SessionCtx;
use session::Shared;
use worker::{Job, Msg, PendingJob, worker_main};

/// Largest random request served in one call.
pub const MAX_RANDOM_LEN: usize = 1 << 20;

/// The HSM: a PKCS#11 module, one token, a pool of logged-in sessions. Cheap to clone.
#[derive(Clone)]
pub struct Hsm {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for Hsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hsm")
            .field("token_label", &self.inner.token_label)
            .field("sessions", &self.inner.sessions)
            .finish()
    }
}

struct PoolInner {
    tx: Option<flume::Sender<Msg>>,
    closing: AtomicBool,
    workers: Mutex<Vec<JoinHandle<()>>>,
    alive: Arc<[AtomicBool]>,
    sessions: usize,
    token_label: String,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Release);
        // Dropping the only sender disconnects the queue: workers drain it and exit.
        drop(self.tx.take());
        let handles = std::mem::take(
            self.workers
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        // Joined synchronously, on purpose: when this returns, every session is closed and, if
        // nothing else in the process uses the module, C_Finalize has run. A detached join could
        // let the process exit while a worker is inside C_Finalize, and SoftHSM2's exit-time
        // destructors then deadlock. The wait is short: jobs still queued have no caller any more
        // (the caller's future borrows the `Hsm`) and are skipped, so it lasts at most one
        // operation per worker. `shutdown().await` does the same without blocking the caller.
        join_workers(handles);
    }
}

fn join_workers(handles: Vec<JoinHandle<()>>) {
    let me = std::thread::current().id();
    for h in handles {
        if h.thread().id() == me {
            continue;
        }
        if h.join().is_err() {
            tracing::error!("an HSM worker thread panicked");
        }
    }
}

impl Hsm {
    /// Loads the module, finds the token, logs in once and starts `config.sessions` workers, each
    /// with its own read/write session. Returns when every session is open and logged in.
    pub async fn start(config: &HsmConfig) -> Result<Self> {
        config.validate()?;
        let sessions = config.sessions;
        let alive: Arc<[AtomicBool]> = (0..sessions).map(|_| AtomicBool::new(false)).collect();
        let setup_cfg = config.clone();
        let setup_alive = alive.clone();
        let (shared, first, token_label) = tokio::task::spawn_blocking(move || {
            let (module, slot, info) = module::acquire_token(&setup_cfg.module, &setup_cfg.token)?;
            let shared = Arc::new(Shared {
                module,
                slot,
                user_pin: setup_cfg.user_pin.clone(),
                login_disabled: Mutex::new(None),
                alive: setup_alive,
            });
            // The first session logs in; the others will find the token logged in.
            let first = shared.open_logged_in()?;
            Ok::<_, HsmError>((shared, first, info.label().trim_end().to_owned()))
        })
        .await
        .map_err(|_| HsmError::WorkerLost)??;

        let (tx, rx) = flume::bounded::<Msg>(config.queue_depth);
        let mut handles = Vec::with_capacity(sessions);
        let mut ready = Vec::with_capacity(sessions);
        let mut first = Some(first);
        for index in 0..sessions {
            let (ready_tx, ready_rx) = oneshot::channel::<Result<()>>();
            let ctx_shared = shared.clone();
            let rx = rx.clone();
            let session = first.take();
            let spawned = std::thread::Builder::new()
                .name(format!("qtsp-hsm-{index}"))
                .spawn(move || worker_main(index, ctx_shared, session, rx, ready_tx));
            match spawned {
                Ok(h) => {
                    handles.push(h);
                    ready.push(ready_rx);
                }
                Err(e) => {
                    drop(tx);
                    return Err(HsmError::Io {
                        context: "cannot spawn HSM worker thread",
                        path: config.module.clone(),
                        source: e,
                    });
                }
            }
        }
        drop(rx);
        drop(shared);
        let pool = Self {
            inner: Arc::new(PoolInner {
                tx: Some(tx),
                closing: AtomicBool::new(false),
                workers: Mutex::new(handles),
                alive,
                sessions,
                token_label: token_label.clone(),
            }),
        };
        for r in ready {
            // On error `pool` is dropped here, which stops and joins the workers already started.
            r.await.map_err(|_| HsmError::WorkerLost)??;
        }
        tracing::info!(
            token = %token_label,
            sessions,
            queue_depth = config.queue_depth,
            "HSM session pool started"
        );
        Ok(pool)
    }

    /// Number of sessions (workers) of the pool.
    #[must_use]
    pub fn sessions(&self) -> usize {
        self.inner.sessions
    }

    /// Label of the token the pool is logged in to.
    #[must_use]
    pub fn token_label(&self) -> &str {
        &self.inner.token_label
    }

    /// Runs `op` on a worker's session and returns its result. `op` may read and use token
    /// objects and create or destroy session objects.
    pub(crate) async fn submit<R, F>(&self, op: F) -> Result<R>
    where
        F: FnMut(&mut SessionCtx) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.submit_with(TokenAccess::Shared, op).await
    }

    /// Like [`Self::submit`], for operations that create or destroy token objects.
    pub(crate) async fn submit_exclusive<R, F>(&self, op: F) -> Result<R>
    where
        F: FnMut(&mut SessionCtx) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.submit_with(TokenAccess::Exclusive, op).await
    }

    async fn submit_with<R, F>(&self, access: TokenAccess, op: F) -> Result<R>
    where
        F: FnMut(&mut SessionCtx) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let inner = &*self.inner;
        if inner.closing.load(Ordering::Acquire) {
            return Err(HsmError::PoolClosed);
        }
        let Some(tx) = inner.tx.as_ref() else {
            return Err(HsmError::PoolClosed);
        };
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(PendingJob {
            access,
            op,
            reply: Some(reply),
            result: None,
        });
        tx.send_async(Msg::Job(job))
            .await
            .map_err(|_| HsmError::PoolClosed)?;
        match answer.await {
            Ok(result) => result,
            Err(_) if inner.closing.load(Ordering::Acquire) => Err(HsmError::PoolClosed),
            Err(_) => Err(HsmError::WorkerLost),
        }
    }

    /// `n` random bytes from the token's generator (C_GenerateRandom).
    pub async fn random(&self, n: usize) -> Result<Vec<u8>> {
        if n > MAX_RANDOM_LEN {
            return Err(HsmError::InvalidArgument(format!(
                "at most {MAX_RANDOM_LEN} random bytes per call"
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        self.submit(move |ctx| {
            let mut out = vec![0u8; n];
            ctx.session()?
                .generate_random_slice(&mut out)
                .map_err(HsmError::pkcs11("C_GenerateRandom"))?;
            Ok(out)
        })
        .await
    }
    /// Stops accepting jobs, lets the workers finish the queued ones, closes every session and
    /// joins the worker threads. Other clones of this `Hsm` get [`HsmError::PoolClosed`] from then
    /// on.
    pub async fn shutdown(&self) {
        let inner = &*self.inner;
        inner.closing.store(true, Ordering::Release);
        if let Some(tx) = inner.tx.as_ref() {
            for _ in 0..inner.sessions {
                if tx.send_async(Msg::Stop).await.is_err() {
                    break;
                }
            }
        }
        let handles =
            std::mem::take(&mut *inner.workers.lock().unwrap_or_else(PoisonError::into_inner));
        if !handles.is_empty() {
            let _ = tokio::task::spawn_blocking(move || join_workers(handles)).await;
        }
        tracing::info!(token = %inner.token_label, "HSM session pool stopped");
    }

    /// Runs `f` with a worker's raw session, with exclusive access to token objects. Test support only:
    /// production code never sees a cryptoki session.
    #[cfg(feature = "testing")]
    pub async fn with_session<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Session) -> R + Send + 'static,
        R: Send + 'static,
    {
        let mut f = Some(f);
        // Tests create and destroy token objects here too.
        self.submit_exclusive(move |ctx| {
            let f = f.take().ok_or(HsmError::WorkerLost)?;
            Ok(f(ctx.session()?))
        })
        .await
    }
}
