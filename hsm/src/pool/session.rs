//! A worker's session and handle cache ([`SessionCtx`]), the state its pool's workers share, and the
//! recovery rules described in the [`super`] module documentation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;

use crate::config::Pin;
use crate::error::{HsmError, Result};
use crate::keys::{self, Class, KeyId, KeyKind};
use crate::module::{Module, TokenAccess};

/// Bumped whenever a key is destroyed in this process (through any pool): every worker then drops
/// its handle cache before its next job, so a cached handle never outlives its object here. (Keys
/// destroyed by another process are caught by the stale-handle retry.)
pub(super) static KEY_EPOCH: AtomicU64 = AtomicU64::new(0);

/// State shared by the workers of one pool (never by async callers).
pub(crate) struct Shared {
    pub(super) module: Arc<Module>,
    pub(super) slot: Slot,
    pub(super) user_pin: Pin,
    /// Set when the token rejected the PIN: no further C_Login is attempted.
    pub(super) login_disabled: Mutex<Option<RvError>>,
    pub(super) alive: Arc<[AtomicBool]>,
}

impl Shared {
    pub(crate) fn module(&self) -> &Module {
        &self.module
    }

    pub(crate) fn slot(&self) -> Slot {
        self.slot
    }

    /// Opens a read/write session and makes sure the user is logged in.
    pub(super) fn open_logged_in(&self) -> Result<Session> {
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
    pub(super) session: Option<Session>,
    pub(super) shared: Arc<Shared>,
    pub(super) index: usize,
    pub(super) epoch: u64,
    pub(super) private_keys: HashMap<KeyId, CachedKey>,
    pub(super) secret_keys: HashMap<KeyId, CachedKey>,
    /// Set by a job when a session object could not be destroyed: the session is then closed
    /// (which destroys its session objects) and re-opened after the job.
    pub(super) recycle: std::cell::Cell<bool>,
    /// The pool's job queue, to tell whether other jobs wait for a session.
    pub(super) queue: flume::Receiver<super::worker::Msg>,
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

    /// True while other jobs wait for a free session: a job that could go on for long (a
    /// [`crate::BatchSigner`]'s turn) ends early so that they get their turn.
    pub(crate) fn jobs_waiting(&self) -> bool {
        !self.queue.is_empty()
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

    pub(super) fn set_alive(&self, alive: bool) {
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
    pub(super) fn recover(&mut self) -> Result<()> {
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
    pub(super) fn run<R>(
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

    pub(super) fn close(&mut self) {
        self.set_alive(false);
        self.clear_cache();
        if let Some(session) = self.session.take()
            && let Err(e) = session.close()
        {
            tracing::warn!(worker = self.index, error = %HsmError::pkcs11("C_CloseSession")(e), "closing an HSM session failed");
        }
    }
}
