//! One PKCS#11 context per module and per process.
//!
//! PKCS#11 wants `C_Initialize` once per application and `C_Finalize` once at the end, and all the
//! sessions of an application share one login state per token. Several parts of qtsp may need the
//! module in one process (the security-officer ceremony of `qtsp init` and then the user pool; the
//! benchmark next to a running pool; tests running in parallel threads). This registry hands out
//! one shared, initialized context per module file:
//!
//! * the first [`acquire`] loads the library and calls `C_Initialize` (with `CKF_OS_LOCKING_OK`);
//! * later calls share that context while any user of it is alive;
//! * when the last user goes away, `C_Finalize` is called (after every session of that user has
//!   been closed), and a later [`acquire`] calls `C_Initialize` again. This is what makes
//!   "SO ceremony, then user pool" work in one process.
//!
//! The shared library itself is never unloaded (no `dlclose`): the registry keeps one cryptoki
//! `Pkcs11` value per path for the life of the process. Unloading and reloading PKCS#11 modules is
//! a well-known source of crashes (library destructors, OpenSSL global state) and buys nothing.

use std::path::{Path, PathBuf};
use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak,
};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::slot::{Slot, TokenInfo};

use crate::config::TokenSelector;
use crate::error::{HsmError, Result};

struct Entry {
    /// Canonical path of the module file.
    path: PathBuf,
    /// The loaded library (never dropped, see the module docs).
    ctx: Pkcs11,
    /// The live, initialized handle, if any. A dead `Weak` means its `Drop` (which finalizes) is
    /// under way: [`acquire`] waits for it.
    live: Option<Weak<Module>>,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static REGISTRY_CHANGED: Condvar = Condvar::new();

fn registry() -> MutexGuard<'static, Vec<Entry>> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An initialized PKCS#11 module, shared by everything in the process that uses it.
pub(crate) struct Module {
    ctx: Pkcs11,
    path: PathBuf,
    /// False when `C_Initialize` answered `CKR_CRYPTOKI_ALREADY_INITIALIZED` (someone outside this
    /// registry initialized it): then it is not ours to finalize.
    finalize_on_drop: bool,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("path", &self.path).finish()
    }
}

/// Retries of a token lookup that failed in a way another process can cause (10, 20, 40, 80,
/// 160 ms apart).
const TOKEN_LOOKUP_RETRIES: usize = 5;

impl Module {
    pub(crate) fn ctx(&self) -> &Pkcs11 {
        &self.ctx
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Finds the one slot whose token matches `selector`, as this initialization of the module
    /// sees the tokens.
    fn find_token(&self, selector: &TokenSelector) -> Result<(Slot, TokenInfo)> {
        let slots = self
            .ctx
            .get_slots_with_token()
            .map_err(HsmError::pkcs11("C_GetSlotList"))?;
        let mut found = Vec::new();
        for slot in slots {
            let info = match self.ctx.get_token_info(slot) {
                Ok(info) => info,
                // A token removed between the two calls is simply not a candidate.
                Err(Pkcs11Error::Pkcs11(
                    RvError::TokenNotPresent | RvError::TokenNotRecognized | RvError::SlotIdInvalid,
                    _,
                )) => continue,
                Err(e) => return Err(HsmError::pkcs11("C_GetTokenInfo")(e)),
            };
            if info.token_initialized() && selector.matches(info.label(), info.serial_number()) {
                found.push((slot, info));
            }
        }
        match found.len() {
            0 => Err(HsmError::TokenNotFound {
                selector: selector.to_string(),
            }),
            1 => found.pop().ok_or_else(|| HsmError::TokenNotFound {
                selector: selector.to_string(),
            }),
            count => Err(HsmError::TokenAmbiguous {
                selector: selector.to_string(),
                count,
            }),
        }
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        let mut reg = registry();
        if self.finalize_on_drop {
            // Finalize through a clone: `finalize` consumes its receiver, the library stays loaded.
            match self.ctx.clone().finalize() {
                Ok(()) => tracing::debug!(module = %self.path.display(), "C_Finalize done"),
                Err(e) => tracing::warn!(
                    module = %self.path.display(),
                    error = %HsmError::pkcs11("C_Finalize")(e),
                    "C_Finalize failed"
                ),
            }
        }
        for entry in reg.iter_mut().filter(|e| e.path == self.path) {
            if entry.live.as_ref().is_some_and(|w| w.strong_count() == 0) {
                entry.live = None;
            }
        }
        drop(reg);
        REGISTRY_CHANGED.notify_all();
    }
}

/// Access to token objects, process-wide.
///
/// SoftHSM2 2.6.1 is not safe when a token object is created or destroyed while another thread of
/// the same process reads token objects: C_GenerateKeyPair then fails now and then with
/// CKR_GENERAL_ERROR or even CKR_TEMPLATE_INCONSISTENT, concurrently with C_FindObjects,
/// C_GetAttributeValue or even C_Sign on another token key (session objects are not affected; the
/// test `concurrent_token_key_lifecycles_all_succeed` reproduces it without this lock). So every
/// pool job holds this lock shared, and the rare jobs that create or destroy token objects (key
/// generation, key destruction, the KEK ceremony) hold it exclusively. It costs one uncontended
/// atomic operation per job and is harmless with other modules. The lock is never taken twice by
/// one thread.
static TOKEN_OBJECTS: RwLock<()> = RwLock::new(());

/// How a job accesses token objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenAccess {
    /// Reads or uses token objects (and anything on session objects).
    Shared,
    /// Creates or destroys token objects.
    Exclusive,
}

/// Holds [`TOKEN_OBJECTS`] for the duration of a job.
pub(crate) enum TokenAccessGuard {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

impl TokenAccess {
    pub(crate) fn acquire(self) -> TokenAccessGuard {
        match self {
            Self::Shared => TokenAccessGuard::Shared(
                TOKEN_OBJECTS.read().unwrap_or_else(PoisonError::into_inner),
            ),
            Self::Exclusive => TokenAccessGuard::Exclusive(
                TOKEN_OBJECTS
                    .write()
                    .unwrap_or_else(PoisonError::into_inner),
            ),
        }
    }
}

/// Returns the initialized context of the module at `path` and the one slot whose token matches
/// `selector`. Blocking, like [`acquire`]; it also sleeps when it retries.
///
/// While another process rewrites a token's files (two processes starting at once on one token,
/// one of them generating keys), SoftHSM2 answers C_GetTokenInfo with CKR_GENERAL_ERROR, or
/// skips the token it could not read when `C_Initialize` scans its directory: then no token
/// matches until the module is initialized again. So a lookup that failed either way is retried
/// a few times, with a fresh initialization when no one else in this process holds the module.
/// A token that is really absent costs 310 ms more to report.
pub(crate) fn acquire_token(
    path: &Path,
    selector: &TokenSelector,
) -> Result<(Arc<Module>, Slot, TokenInfo)> {
    let mut pause = std::time::Duration::from_millis(10);
    for _ in 0..TOKEN_LOOKUP_RETRIES {
        let module = acquire(path)?;
        match module.find_token(selector) {
            Ok((slot, info)) => return Ok((module, slot, info)),
            Err(HsmError::Pkcs11 {
                source: Pkcs11Error::Pkcs11(RvError::GeneralError, _),
                ..
            }) => tracing::debug!("C_GetTokenInfo: CKR_GENERAL_ERROR; retrying"),
            Err(HsmError::TokenNotFound { .. }) => {
                tracing::debug!(token = %selector, "no matching token; retrying");
            }
            Err(other) => return Err(other),
        }
        // Dropping the last holder finalizes the module: the next `acquire` rescans the tokens.
        drop(module);
        std::thread::sleep(pause);
        pause *= 2;
    }
    let module = acquire(path)?;
    let (slot, info) = module.find_token(selector)?;
    Ok((module, slot, info))
}

/// Returns the initialized context of the module at `path`, loading and initializing it if needed.
///
/// Blocking (it may wait for a concurrent `C_Finalize` and it calls `C_Initialize`): call it from a
/// blocking thread.
pub(crate) fn acquire(path: &Path) -> Result<Arc<Module>> {
    let canonical = std::fs::canonicalize(path).map_err(|e| HsmError::Io {
        context: "cannot resolve PKCS#11 module",
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut reg = registry();
    loop {
        let idx = match reg.iter().position(|e| e.path == canonical) {
            Some(idx) => idx,
            None => {
                let ctx = Pkcs11::new(&canonical).map_err(|source| HsmError::ModuleLoad {
                    path: path.to_path_buf(),
                    source,
                })?;
                reg.push(Entry {
                    path: canonical.clone(),
                    ctx,
                    live: None,
                });
                reg.len() - 1
            }
        };
        let Some(entry) = reg.get_mut(idx) else {
            continue;
        };
        match entry.live.as_ref().map(Weak::upgrade) {
            Some(Some(module)) => return Ok(module),
            Some(None) => {
                // The last user is finalizing right now; wait until it is done.
                reg = REGISTRY_CHANGED
                    .wait(reg)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            None => {
                let finalize_on_drop = match entry
                    .ctx
                    .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
                {
                    Ok(()) => true,
                    Err(Pkcs11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
                        tracing::warn!(
                            module = %canonical.display(),
                            "PKCS#11 module was already initialized outside qtsp-hsm; sharing it and leaving C_Finalize to its owner"
                        );
                        false
                    }
                    Err(source) => {
                        return Err(HsmError::Initialize {
                            path: path.to_path_buf(),
                            source,
                        });
                    }
                };
                let module = Arc::new(Module {
                    ctx: entry.ctx.clone(),
                    path: canonical.clone(),
                    finalize_on_drop,
                });
                entry.live = Some(Arc::downgrade(&module));
                tracing::debug!(module = %canonical.display(), "C_Initialize done");
                return Ok(module);
            }
        }
    }
}
