//! The session pool: N worker OS threads, each owning one logged-in read/write session.
//!
//! Async callers never touch PKCS#11. They box a job, push it on a bounded flume channel
//! (`send_async`: a full queue suspends the caller, it never blocks a tokio thread) and await the
//! answer on a tokio oneshot. A worker takes jobs with a blocking `recv()` and runs them on its own
//! session. Login happens once per application (the first session logs in, the others find the
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

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use tokio::sync::oneshot;

use crate::config::{HsmConfig, Pin};
use crate::error::{HsmError, Result};
use crate::keys::{self, Class, KeyId, KeyKind};
use crate::module::{self, Module, TokenAccess};

/// Largest random request served in one call.
pub const MAX_RANDOM_LEN: usize = 1 << 20;

/// Replies are sent in small groups: while more jobs are already queued, a worker runs up to this
/// many before answering. Waking an idle async thread costs a system call (an inter-processor
/// interrupt, much dearer in a VM) on the worker's thread; answering several callers at once wakes
/// the runtime once. Nothing is delayed when the queue is empty.
const REPLY_GROUP_MAX: usize = 16;
/// ... and never holds a reply back longer than this.
const REPLY_GROUP_BUDGET: std::time::Duration = std::time::Duration::from_micros(500);

/// One submitted operation: run on the worker's session, then answered (separately, so that
/// answers can be grouped). One allocation per job.
trait Job: Send {
    fn run(&mut self, ctx: &mut SessionCtx);
    fn reply(self: Box<Self>);
}

struct PendingJob<F, R> {
    access: TokenAccess,
    op: F,
    reply: Option<oneshot::Sender<Result<R>>>,
    result: Option<Result<R>>,
}

impl<F, R> Job for PendingJob<F, R>
where
    F: FnMut(&mut SessionCtx) -> Result<R> + Send,
    R: Send,
{
    fn run(&mut self, ctx: &mut SessionCtx) {
        if self.reply.as_ref().is_none_or(oneshot::Sender::is_closed) {
            // The caller gave up (timeout, client gone): do not touch the token for nobody.
            return;
        }
        self.result = Some(ctx.run(self.access, &mut self.op));
    }

    fn reply(mut self: Box<Self>) {
        if let (Some(reply), Some(result)) = (self.reply.take(), self.result.take()) {
            let _ = reply.send(result);
        }
    }
}

enum Msg {
    Job(Box<dyn Job>),
    Stop,
}

/// Bumped whenever a key is destroyed in this process (through any pool): every worker then drops
/// its handle cache before its next job, so a cached handle never outlives its object here. (Keys
/// destroyed by another process are caught by the stale-handle retry.)
static KEY_EPOCH: AtomicU64 = AtomicU64::new(0);

/// State shared by the workers of one pool (never by async callers).
pub(crate) struct Shared {
    module: Arc<Module>,
    slot: Slot,
    user_pin: Pin,
    /// Set when the token rejected the PIN: no further C_Login is attempted.
    login_disabled: Mutex<Option<RvError>>,
    alive: Arc<[AtomicBool]>,
}

impl Shared {
    pub(crate) fn module(&self) -> &Module {
        &self.module
    }

    pub(crate) fn slot(&self) -> Slot {
        self.slot
    }

    /// Opens a read/write session and makes sure the user is logged in.
    fn open_logged_in(&self) -> Result<Session> {
        let session = self
            .module
            .ctx()
            .open_rw_session(self.slot)
            .map_err(HsmError::pkcs11("C_OpenSession"))?;
        let info = session
            .get_session_info()
            .map_err(HsmError::pkcs11("C_GetSessionInfo"))?;
        if matches!(info.session_state(), SessionState::RwUser) {
            return Ok(session);
        }
        if let Some(rv) = *self
            .login_disabled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            return Err(HsmError::LoginDisabled { rv });
        }
        let pin = self.user_pin.to_auth_pin();
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) => {
                tracing::info!(module = %self.module.path().display(), "logged in to the token as user");
                Ok(session)
            }
            Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(Pkcs11Error::Pkcs11(rv, _)) => {
                if matches!(
                    rv,
                    RvError::PinIncorrect
                        | RvError::PinLocked
                        | RvError::PinExpired
                        | RvError::PinInvalid
                        | RvError::PinLenRange
                ) {
                    *self
                        .login_disabled
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(rv);
                }
                Err(HsmError::Login { user: "user", rv })
            }
            Err(other) => Err(HsmError::Pkcs11 {
                operation: "C_Login",
                source: other,
            }),
        }
    }
}

/// A found object: its handle and what it is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CachedKey {
    pub(crate) handle: cryptoki::object::ObjectHandle,
    pub(crate) kind: KeyKind,
}

/// What a job sees: the worker's session plus its handle cache.
pub(crate) struct SessionCtx {
    session: Option<Session>,
    shared: Arc<Shared>,
    index: usize,
    epoch: u64,
    private_keys: HashMap<KeyId, CachedKey>,
    secret_keys: HashMap<KeyId, CachedKey>,
    /// Set by a job when a session object could not be destroyed: the session is then closed
    /// (which destroys its session objects) and re-opened after the job.
    recycle: std::cell::Cell<bool>,
}

impl std::fmt::Debug for SessionCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCtx")
            .field("worker", &self.index)
            .field("open", &self.session.is_some())
            .field(
                "cached_keys",
                &(self.private_keys.len() + self.secret_keys.len()),
            )
            .finish()
    }
}

impl SessionCtx {
    /// The logged-in session.
    pub(crate) fn session(&self) -> Result<&Session> {
        self.session.as_ref().ok_or(HsmError::WorkerLost)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Asks for the session to be closed and re-opened after the current job.
    pub(crate) fn recycle_flag(&self) -> &std::cell::Cell<bool> {
        &self.recycle
    }

    /// The token key of `class` with this CKA_ID: from the cache, else found once and cached.
    pub(crate) fn key(&mut self, class: Class, id: &KeyId) -> Result<CachedKey> {
        let cache = match class {
            Class::Private => &self.private_keys,
            Class::Secret => &self.secret_keys,
            Class::Public => {
                let session = self.session()?;
                let handle = keys::require_one(session, class, id)?;
                let kind = keys::read_kind(session, handle)?;
                return Ok(CachedKey { handle, kind });
            }
        };
        if let Some(k) = cache.get(id) {
            return Ok(*k);
        }
        let session = self.session()?;
        let handle = keys::require_one(session, class, id)?;
        let kind = keys::read_kind(session, handle)?;
        let found = CachedKey { handle, kind };
        match class {
            Class::Private => self.private_keys.insert(id.clone(), found),
            Class::Secret => self.secret_keys.insert(id.clone(), found),
            Class::Public => None,
        };
        Ok(found)
    }

    /// Forgets cached handles in every worker of the process (before a key is destroyed).
    pub(crate) fn invalidate_key_caches(&mut self) {
        self.private_keys.clear();
        self.secret_keys.clear();
        self.epoch = KEY_EPOCH.fetch_add(1, Ordering::AcqRel) + 1;
    }

    fn set_alive(&self, alive: bool) {
        if let Some(flag) = self.shared.alive.get(self.index) {
            flag.store(alive, Ordering::Release);
        }
    }

    fn clear_cache(&mut self) {
        self.private_keys.clear();
        self.secret_keys.clear();
    }

    /// True when the session is open and in a user state.
    fn logged_in(&self) -> bool {
        self.session
            .as_ref()
            .and_then(|s| s.get_session_info().ok())
            .is_some_and(|i| {
                matches!(
                    i.session_state(),
                    SessionState::RwUser | SessionState::RoUser
                )
            })
    }

    /// Closes the current session (if any), opens a new one and logs in if needed.
    fn recover(&mut self) -> Result<()> {
        self.clear_cache();
        self.recycle.set(false);
        self.set_alive(false);
        if let Some(old) = self.session.take() {
            // The session is usually already invalid; the close result does not matter.
            let _ = old.close();
        }
        let session = self.shared.open_logged_in()?;
        self.session = Some(session);
        self.set_alive(true);
        tracing::info!(worker = self.index, "HSM session re-opened");
        Ok(())
    }

    /// Runs one operation with the recovery rules described in the module documentation.
    fn run<R>(
        &mut self,
        access: TokenAccess,
        op: &mut impl FnMut(&mut SessionCtx) -> Result<R>,
    ) -> Result<R> {
        let _access = access.acquire();
        let epoch = KEY_EPOCH.load(Ordering::Acquire);
        if epoch != self.epoch {
            self.clear_cache();
            self.epoch = epoch;
        }
        if self.session.is_none() {
            self.recover()?;
        }
        let result = match op(self) {
            Err(e) if e.is_session_lost() => {
                tracing::warn!(worker = self.index, error = %e, "HSM session lost; re-opening it and retrying once");
                self.recover()?;
                op(self)
            }
            Err(e) if e.is_stale_handle() => {
                tracing::info!(worker = self.index, error = %e, "stale object handle; dropping the handle cache and retrying once");
                self.clear_cache();
                // Objects also become invisible when the login was lost (SoftHSM2 then answers
                // CKR_KEY_HANDLE_INVALID rather than CKR_USER_NOT_LOGGED_IN).
                if !self.logged_in() {
                    tracing::warn!(
                        worker = self.index,
                        "HSM session no longer logged in; re-opening it"
                    );
                    self.recover()?;
                }
                op(self)
            }
            other => other,
        };
        if self.recycle.get() {
            tracing::warn!(
                worker = self.index,
                "closing and re-opening the HSM session to get rid of a session object"
            );
            if let Err(e) = self.recover() {
                tracing::error!(worker = self.index, error = %e, "HSM session could not be re-opened");
            }
        }
        result
    }

    fn close(&mut self) {
        self.set_alive(false);
        self.clear_cache();
        if let Some(session) = self.session.take()
            && let Err(e) = session.close()
        {
            tracing::warn!(worker = self.index, error = %HsmError::pkcs11("C_CloseSession")(e), "closing an HSM session failed");
        }
    }
}

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

/// What [`Hsm::check`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthReport {
    /// Token label.
    pub token_label: String,
    /// Token serial number.
    pub serial: String,
    /// Token manufacturer.
    pub manufacturer: String,
    /// Token model.
    pub model: String,
    /// Token firmware version (`major.minor`).
    pub firmware: String,
    /// Sessions of the pool currently open and logged in.
    pub sessions_alive: usize,
    /// Sessions the pool was configured with.
    pub sessions_configured: usize,
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

    /// Proves that a logged-in session answers (C_GetSessionInfo must report a R/W user session)
    /// and reports what the token says about itself (C_GetTokenInfo).
    pub async fn check(&self) -> Result<HealthReport> {
        let configured = self.inner.sessions;
        let mut report = self
            .submit(move |ctx| {
                let info = ctx
                    .session()?
                    .get_session_info()
                    .map_err(HsmError::pkcs11("C_GetSessionInfo"))?;
                if !matches!(info.session_state(), SessionState::RwUser) {
                    return Err(HsmError::Pkcs11 {
                        operation: "C_GetSessionInfo",
                        source: Pkcs11Error::Pkcs11(
                            RvError::UserNotLoggedIn,
                            cryptoki::context::Function::GetSessionInfo,
                        ),
                    });
                }
                let shared = ctx.shared();
                let token = shared
                    .module()
                    .ctx()
                    .get_token_info(shared.slot())
                    .map_err(HsmError::pkcs11("C_GetTokenInfo"))?;
                let fw = token.firmware_version();
                Ok(HealthReport {
                    token_label: token.label().trim_end().to_owned(),
                    serial: token.serial_number().trim_end().to_owned(),
                    manufacturer: token.manufacturer_id().trim_end().to_owned(),
                    model: token.model().trim_end().to_owned(),
                    firmware: format!("{}.{}", fw.major(), fw.minor()),
                    sessions_alive: 0,
                    sessions_configured: configured,
                })
            })
            .await?;
        report.sessions_alive = self
            .inner
            .alive
            .iter()
            .filter(|a| a.load(Ordering::Acquire))
            .count();
        Ok(report)
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

/// How long an idle worker keeps polling its queue before it sleeps. Waking a sleeping thread costs
/// tens of microseconds in a VM (measured here: a P-256 signature round trip through a sleeping worker
/// took ~90 us more than the signature); callers that answer a reply with a new job (a batch, a
/// benchmark, a busy TSA) find the worker still awake.
const IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// The next message: polled for [`IDLE_SPIN`] (yielding the CPU between polls, so that on a small
/// machine the async side that will submit the next job can run), then waited for. `None` when every
/// sender is gone.
fn next_message(rx: &flume::Receiver<Msg>) -> Option<Msg> {
    let spin_until = std::time::Instant::now() + IDLE_SPIN;
    loop {
        match rx.try_recv() {
            Ok(msg) => return Some(msg),
            Err(flume::TryRecvError::Disconnected) => return None,
            Err(flume::TryRecvError::Empty) if std::time::Instant::now() < spin_until => {
                std::thread::yield_now();
            }
            Err(flume::TryRecvError::Empty) => return rx.recv().ok(),
        }
    }
}

fn worker_main(
    index: usize,
    shared: Arc<Shared>,
    first: Option<Session>,
    rx: flume::Receiver<Msg>,
    ready: oneshot::Sender<Result<()>>,
) {
    let session = match first {
        Some(s) => Ok(s),
        None => shared.open_logged_in(),
    };
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let epoch = KEY_EPOCH.load(Ordering::Acquire);
    let mut ctx = SessionCtx {
        session: Some(session),
        shared,
        index,
        epoch,
        private_keys: HashMap::new(),
        secret_keys: HashMap::new(),
        recycle: std::cell::Cell::new(false),
    };
    ctx.set_alive(true);
    let _ = ready.send(Ok(()));
    let mut done: Vec<Box<dyn Job>> = Vec::with_capacity(REPLY_GROUP_MAX);
    let mut stop = false;
    while !stop {
        let Some(mut msg) = next_message(&rx) else {
            break;
        };
        let started = std::time::Instant::now();
        loop {
            match msg {
                Msg::Stop => stop = true,
                Msg::Job(mut job) => {
                    if catch_unwind(AssertUnwindSafe(|| job.run(&mut ctx))).is_err() {
                        // Dropping the job drops its reply sender: the caller gets WorkerLost.
                        drop(job);
                        tracing::error!(
                            worker = index,
                            "HSM013 an HSM job panicked; its caller gets WorkerLost, the session is recycled"
                        );
                        if let Err(e) = ctx.recover() {
                            tracing::error!(worker = index, error = %e, "HSM session could not be re-opened");
                        }
                    } else {
                        done.push(job);
                    }
                }
            }
            if stop || done.len() >= REPLY_GROUP_MAX || started.elapsed() >= REPLY_GROUP_BUDGET {
                break;
            }
            match rx.try_recv() {
                Ok(next) => msg = next,
                Err(_) => break,
            }
        }
        for job in done.drain(..) {
            job.reply();
        }
    }
    ctx.close();
}
