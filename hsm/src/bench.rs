//! Throughput measurements for `qtsp bench hsm`.
//!
//! * [`plain_loop`] is the baseline: plain cryptoki, one session per OS thread, the key found once,
//!   then `C_Sign` in a tight loop on a precomputed digest (CKM_ECDSA, or CKM_RSA_PKCS over a
//!   SHA-256 DigestInfo).
//! * [`pool_loop`] signs the same kind of digest through the async pool from many concurrent tokio
//!   tasks.
//!
//! With the same number of sessions, the pool is expected to stay within 10% of the baseline. These
//! functions report numbers; nothing asserts on timings.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::{Session, SessionState, UserType};

use crate::config::{Pin, TokenSelector};
use crate::error::{HsmError, Result};
use crate::keys;
use crate::keys::{KeyId, KeyRef, KeySpec};
use crate::module::{self, Module, TokenAccess};
use crate::sign::{DigestAlg, SignMechanism};
use crate::{Hsm, spki};

/// Outcome of one measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BenchResult {
    /// Signatures made.
    pub ops: u64,
    /// Wall-clock time they took.
    pub elapsed: Duration,
    /// `ops / elapsed`.
    pub per_sec: f64,
    /// CPU time the signing threads used, where it was measured (the plain loops, on Linux).
    pub cpu: Option<Duration>,
}

impl BenchResult {
    fn new(ops: u64, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64();
        Self {
            ops,
            elapsed,
            per_sec: if secs > 0.0 { ops as f64 / secs } else { 0.0 },
            cpu: None,
        }
    }
}

/// The CPU time of a thread from its `schedstat` file (`/proc/<pid>/task/<tid>/schedstat`):
/// the first field, nanoseconds spent on a CPU.
#[must_use]
pub fn schedstat_on_cpu(text: &str) -> Option<Duration> {
    text.split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
        .map(Duration::from_nanos)
}

/// The CPU time the calling thread has used so far (Linux; `None` elsewhere).
#[must_use]
pub fn thread_cpu_time() -> Option<Duration> {
    schedstat_on_cpu(&std::fs::read_to_string("/proc/thread-self/schedstat").ok()?)
}

impl std::fmt::Display for BenchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} signatures in {:.3} s = {:.0}/s",
            self.ops,
            self.elapsed.as_secs_f64(),
            self.per_sec
        )
    }
}

/// The mechanism both loops use for a key spec: ECDSA or PKCS#1 v1.5, over SHA-256.
#[must_use]
pub fn default_mechanism(spec: KeySpec) -> SignMechanism {
    match spec.curve() {
        Some(_) => SignMechanism::Ecdsa(DigestAlg::Sha256),
        None => SignMechanism::RsaPkcs1v15(DigestAlg::Sha256),
    }
}

fn bench_digest() -> Vec<u8> {
    DigestAlg::Sha256.digest(b"qtsp hsm bench")
}

fn bench_key_id() -> KeyId {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut id = b"qtsp-bench-".to_vec();
    id.extend_from_slice(&std::process::id().to_be_bytes());
    id.extend_from_slice(&nanos.to_be_bytes());
    KeyId::from_vec_in_range(id)
}

fn login_if_needed(session: &Session, pin: &Pin) -> Result<()> {
    let state = session
        .get_session_info()
        .map_err(HsmError::pkcs11("C_GetSessionInfo"))?
        .session_state();
    if matches!(state, SessionState::RwUser) {
        return Ok(());
    }
    match session.login(UserType::User, Some(&pin.to_auth_pin())) {
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(Pkcs11Error::Pkcs11(rv, _)) => Err(HsmError::Login { user: "user", rv }),
        Err(other) => Err(HsmError::pkcs11("C_Login")(other)),
    }
}

/// Baseline: plain cryptoki on `threads` OS threads, each with its own logged-in session, signing
/// with a token key of `spec` for `duration`. The key is generated for the run and destroyed
/// afterwards.
pub async fn plain_loop(
    module_path: &Path,
    token: &TokenSelector,
    pin: &Pin,
    spec: KeySpec,
    threads: usize,
    duration: Duration,
) -> Result<BenchResult> {
    if threads == 0 {
        return Err(HsmError::InvalidArgument(
            "threads must be at least 1".into(),
        ));
    }
    let module_path = module_path.to_path_buf();
    let token = token.clone();
    let pin = pin.clone();
    tokio::task::spawn_blocking(move || {
        let (module, slot, _) = module::acquire_token(&module_path, &token)?;
        let setup = module
            .ctx()
            .open_rw_session(slot)
            .map_err(HsmError::pkcs11("C_OpenSession"))?;
        login_if_needed(&setup, &pin)?;
        // A token key, like the keys the pool signs with (SoftHSM2 signs noticeably faster with
        // session objects, so a session key would not be a fair baseline).
        let id = bench_key_id();
        let label = "qtsp-bench";
        let (public, private) = {
            let _exclusive = TokenAccess::Exclusive.acquire();
            setup
                .generate_key_pair(
                    &spec.keygen_mechanism(),
                    &keys::token_public_template(spec, &id, label)?,
                    &keys::token_private_template(spec, &id, label),
                )
                .map_err(HsmError::pkcs11("C_GenerateKeyPair"))?
        };
        let digest = bench_digest();
        let input = match spec.curve() {
            Some(_) => Ok(digest),
            None => spki::digest_info(DigestAlg::Sha256.oid(), &digest),
        };
        let result = input.and_then(|input| {
            run_threads(&module, slot, &pin, &id, spec, &input, threads, duration)
        });
        {
            let _exclusive = TokenAccess::Exclusive.acquire();
            for h in [private, public] {
                if let Err(e) = setup.destroy_object(h) {
                    tracing::warn!(error = %HsmError::pkcs11("C_DestroyObject")(e), "benchmark key not destroyed");
                }
            }
        }
        drop(setup);
        result
    })
    .await
    .map_err(|_| HsmError::WorkerLost)?
}

#[allow(clippy::too_many_arguments)]
fn run_threads(
    module: &Arc<Module>,
    slot: cryptoki::slot::Slot,
    pin: &Pin,
    id: &KeyId,
    spec: KeySpec,
    input: &[u8],
    threads: usize,
    duration: Duration,
) -> Result<BenchResult> {
    let barrier = std::sync::Barrier::new(threads);
    let outcomes: Vec<Result<(u64, Duration, Option<Duration>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let barrier = &barrier;
                scope.spawn(move || {
                    // Prepare, then wait for everyone even on error so no thread waits forever.
                    let prepared = (|| {
                        let session = module
                            .ctx()
                            .open_rw_session(slot)
                            .map_err(HsmError::pkcs11("C_OpenSession"))?;
                        login_if_needed(&session, pin)?;
                        let found = session
                            .find_objects(&[
                                Attribute::Class(ObjectClass::PRIVATE_KEY),
                                Attribute::Token(true),
                                Attribute::Id(id.as_bytes().to_vec()),
                            ])
                            .map_err(HsmError::pkcs11("C_FindObjects"))?;
                        let key = found
                            .first()
                            .copied()
                            .ok_or_else(|| HsmError::KeyNotFound {
                                id: id.clone(),
                                class: "private key",
                            })?;
                        Ok::<_, HsmError>((session, key))
                    })();
                    barrier.wait();
                    let (session, key) = prepared?;
                    // Token objects are only read during the loop (see `module::TokenAccess`).
                    let _shared = TokenAccess::Shared.acquire();
                    // Mechanism holds raw pointers (not Sync): each thread builds its own.
                    let mechanism = match spec.curve() {
                        Some(_) => Mechanism::Ecdsa,
                        None => Mechanism::RsaPkcs,
                    };
                    let cpu_start = thread_cpu_time();
                    let start = Instant::now();
                    let deadline = start + duration;
                    let mut ops = 0u64;
                    while Instant::now() < deadline {
                        session
                            .sign(&mechanism, key, input)
                            .map_err(HsmError::pkcs11("C_Sign"))?;
                        ops += 1;
                    }
                    let elapsed = start.elapsed();
                    let cpu = cpu_start
                        .zip(thread_cpu_time())
                        .map(|(before, after)| after.saturating_sub(before));
                    Ok((ops, elapsed, cpu))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(HsmError::WorkerLost)))
            .collect()
    });
    let mut ops = 0;
    let mut elapsed = Duration::ZERO;
    let mut cpu = Some(Duration::ZERO);
    for outcome in outcomes {
        let (n, e, c) = outcome?;
        ops += n;
        elapsed = elapsed.max(e);
        cpu = cpu.zip(c).map(|(sum, c)| sum + c);
    }
    Ok(BenchResult {
        cpu,
        ..BenchResult::new(ops, elapsed)
    })
}

/// Signs through the pool from `concurrency` tokio tasks for `duration`.
pub async fn pool_loop(
    hsm: &Hsm,
    key: &KeyRef,
    mech: SignMechanism,
    concurrency: usize,
    duration: Duration,
) -> Result<BenchResult> {
    if concurrency == 0 {
        return Err(HsmError::InvalidArgument(
            "concurrency must be at least 1".into(),
        ));
    }
    let digest: Arc<[u8]> = mech.digest_alg().digest(b"qtsp hsm bench").into();
    // One signature first: checks key and mechanism before the clock starts.
    hsm.sign_digest(key, mech, &digest).await?;
    let ops = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let hsm = hsm.clone();
        let key = key.clone();
        let digest = digest.clone();
        let ops = ops.clone();
        tasks.spawn(async move {
            while Instant::now() < deadline {
                hsm.sign_digest(&key, mech, &digest).await?;
                ops.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, HsmError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|_| HsmError::WorkerLost)??;
    }
    Ok(BenchResult::new(
        ops.load(Ordering::Relaxed),
        start.elapsed(),
    ))
}

/// Generates a token key of `spec` for a pool benchmark (label `qtsp-bench`). The caller destroys
/// it with [`Hsm::destroy_key`] afterwards.
pub async fn temporary_key(hsm: &Hsm, spec: KeySpec) -> Result<KeyRef> {
    Ok(hsm
        .generate_key_pair(spec, "qtsp-bench", &bench_key_id())
        .await?
        .key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn schedstat_first_field_is_the_time_on_cpu() {
        assert_eq!(
            schedstat_on_cpu("333341948 72302226 634\n"),
            Some(Duration::from_nanos(333_341_948))
        );
        assert_eq!(schedstat_on_cpu(""), None);
        assert_eq!(schedstat_on_cpu("x 1 2"), None);
    }

    #[test]
    fn this_thread_cpu_time_grows_while_it_works() {
        // The kernel adds a running thread's time at scheduler ticks and switches: work until
        // the next one (a few milliseconds), or fail after a generous wait.
        let before = thread_cpu_time().unwrap();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while thread_cpu_time().unwrap() <= before {
            for i in 0..10_000u64 {
                x = std::hint::black_box(x ^ i);
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no CPU time counted for a busy thread"
            );
        }
    }
}
