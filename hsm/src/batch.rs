//! Coalescing many single signatures with one key into few pool jobs.
//!
//! A busy service (the TSA, an OCSP responder signing nonce responses) asks for one signature
//! per request. Sent one by one, each costs a job on the pool's queue and a wake-up of a worker
//! thread and of the caller. A [`BatchSigner`] queues the digests instead, and the pool's workers
//! pull them: a *drainer* is a pool job that signs what is queued until the queue is empty, so a
//! session never waits for the async side between two signatures (with jobs handed out by an
//! async task, the session idled until the runtime got round to it). A caller is answered as soon
//! as its signature is made, unless many requests wait behind it: then answers go out in groups
//! (see [`GROUP_BACKLOG`]). At most one drainer per pool session runs at a time; a drainer ends
//! its turn when other jobs wait for a session, and queues up again behind them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::error::{HsmError, Result};
use crate::keys::{Class, KeyRef};
use crate::pool::{Hsm, SessionCtx};
use crate::sign::{DigestBuf, SignMechanism, Signature, sign_digest_with};

/// Requests waiting for a signature, at most (callers wait when the queue is full).
const QUEUE_DEPTH: usize = 8192;

/// Requests a drainer takes from the queue at once, at most (the rest stay for the others).
const TAKE_MAX: usize = 16;

/// Signatures are answered as soon as they are made, unless at least this many requests wait
/// behind them: the load is then high enough that answering in groups is worth more than the
/// milliseconds a group holds its first answers. A group wakes the async side once, and its
/// callers (the TSA) make their records durable in one commit rather than one each: answering
/// every P-384 signature at once under full load made commits of 1-6 tokens and raised the
/// database's CPU per token from ~19 to 104-198 us (`qtsp bench tsa`, docs/BENCHMARKS.md).
const GROUP_BACKLOG: usize = 32;
/// A group is answered when it is this old ...
const GROUP_AGE_MAX: Duration = Duration::from_millis(32);
/// ... or this large.
const GROUP_LEN_MAX: usize = 64;

struct Request {
    digest: DigestBuf,
    reply: oneshot::Sender<Result<Signature>>,
    /// Its place in the queue, given back when the request is answered.
    _room: OwnedSemaphorePermit,
}

/// Signs digests with one key, many callers' digests per pool job. Cheap to clone.
#[derive(Clone)]
pub struct BatchSigner {
    hsm: Hsm,
    queue: Arc<Queue>,
}

impl std::fmt::Debug for BatchSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSigner")
            .field("key", &self.queue.key.label)
            .field("mechanism", &self.queue.mechanism)
            .finish_non_exhaustive()
    }
}

/// What the drainer jobs share with the callers. It holds no [`Hsm`]: a job queued in the pool must
/// not keep the pool alive (the pool's queue would then hold the pool).
struct Queue {
    key: KeyRef,
    mechanism: SignMechanism,
    room: Arc<Semaphore>,
    max_drainers: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<Request>,
    /// Drainers started and not yet finished (running or queued in the pool).
    drainers: usize,
}

/// How a drainer's turn ended.
enum Turn {
    /// The queue was empty; the drainer is no longer counted.
    Drained,
    /// Other jobs wait for a session: the drainer goes to the back of the pool's queue.
    Yielded,
}

impl BatchSigner {
    /// Signs `digest` (checked against the mechanism's hash first).
    pub async fn sign(&self, digest: &[u8]) -> Result<Signature> {
        let queue = &self.queue;
        queue.mechanism.digest_alg().check(digest)?;
        let digest = DigestBuf::new(digest)?;
        let room = queue
            .room
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HsmError::PoolClosed)?;
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut state = queue.lock();
            state.waiting.push_back(Request {
                digest,
                reply,
                _room: room,
            });
            let start = state.drainers < queue.max_drainers;
            if start {
                state.drainers += 1;
            }
            start
        };
        if start {
            tokio::spawn(self.queue.clone().drainer(self.hsm.clone()));
        }
        answer.await.map_err(|_| HsmError::WorkerLost)?
    }
}

impl Hsm {
    /// A signer for `key` with `mechanism` that lets the pool's sessions pull concurrent
    /// requests, one drainer job per session at most.
    pub fn batch_signer(&self, key: KeyRef, mechanism: SignMechanism) -> BatchSigner {
        BatchSigner {
            hsm: self.clone(),
            queue: Arc::new(Queue {
                key,
                mechanism,
                room: Arc::new(Semaphore::new(QUEUE_DEPTH)),
                max_drainers: self.sessions().max(1),
                state: Mutex::new(State::default()),
            }),
        }
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs drainer turns in the pool until one finds the queue empty. If the pool fails the
    /// job, the last drainer answers what is still queued with the error.
    async fn drainer(self: Arc<Self>, hsm: Hsm) {
        loop {
            let queue = self.clone();
            let mut hand = Hand::default();
            let mut attempt = 0u32;
            let turn = hsm
                .submit(move |ctx| {
                    attempt += 1;
                    queue.turn(ctx, &mut hand, attempt == 1)
                })
                .await;
            match turn {
                Ok(Turn::Drained) => return,
                Ok(Turn::Yielded) => {}
                Err(error) => {
                    let error = match error {
                        HsmError::BatchFailed(e) => e,
                        other => Arc::new(other),
                    };
                    let orphans = {
                        let mut state = self.lock();
                        state.drainers = state.drainers.saturating_sub(1);
                        if state.drainers == 0 {
                            std::mem::take(&mut state.waiting)
                        } else {
                            VecDeque::new()
                        }
                    };
                    for request in orphans {
                        let _ = request
                            .reply
                            .send(Err(HsmError::BatchFailed(error.clone())));
                    }
                    return;
                }
            }
        }
    }

    /// One turn of a drainer on a worker's session. On an error, what it holds is answered with
    /// the error, except when the pool retries the job (a lost session on the first attempt).
    fn turn(&self, ctx: &mut SessionCtx, hand: &mut Hand, may_retry: bool) -> Result<Turn> {
        match self.turn_inner(ctx, hand) {
            Ok(turn) => Ok(turn),
            Err(e) if may_retry && e.is_retried_by_pool() => {
                hand.answer_signed();
                Err(e)
            }
            Err(e) => {
                let e = Arc::new(e);
                hand.answer_signed();
                for request in hand.todo.drain(..) {
                    let _ = request.reply.send(Err(HsmError::BatchFailed(e.clone())));
                }
                Err(HsmError::BatchFailed(e))
            }
        }
    }

    fn turn_inner(&self, ctx: &mut SessionCtx, hand: &mut Hand) -> Result<Turn> {
        let key = ctx.key(Class::Private, &self.key.id)?;
        let mut signed_this_turn = false;
        loop {
            if hand.todo.is_empty() {
                if signed_this_turn && ctx.jobs_waiting() {
                    hand.answer_signed();
                    return Ok(Turn::Yielded);
                }
                let mut state = self.lock();
                if state.waiting.is_empty() {
                    state.drainers = state.drainers.saturating_sub(1);
                    drop(state);
                    hand.answer_signed();
                    return Ok(Turn::Drained);
                }
                let share = state
                    .waiting
                    .len()
                    .div_ceil(state.drainers.max(1))
                    .min(TAKE_MAX);
                hand.todo.extend(state.waiting.drain(..share));
            }
            let session = ctx.session()?;
            while let Some(request) = hand.todo.front() {
                if request.reply.is_closed() {
                    // The caller gave up: do not sign for nobody.
                    hand.todo.pop_front();
                    continue;
                }
                let signature = sign_digest_with(
                    session,
                    key.handle,
                    key.kind,
                    self.mechanism,
                    request.digest.as_slice(),
                )?;
                signed_this_turn = true;
                if let Some(request) = hand.todo.pop_front() {
                    hand.signed.push((request, signature.finish()));
                }
                let first = *hand.first_signed.get_or_insert_with(Instant::now);
                if hand.signed.len() >= GROUP_LEN_MAX
                    || first.elapsed() >= GROUP_AGE_MAX
                    || self.lock().waiting.len() < GROUP_BACKLOG
                {
                    hand.answer_signed();
                }
            }
        }
    }
}

/// What a drainer holds: requests taken from the queue, and signatures not yet answered.
#[derive(Default)]
struct Hand {
    todo: VecDeque<Request>,
    signed: Vec<(Request, Result<Signature>)>,
    first_signed: Option<Instant>,
}

impl Hand {
    fn answer_signed(&mut self) {
        for (request, signature) in self.signed.drain(..) {
            let _ = request.reply.send(signature);
        }
        self.first_signed = None;
    }
}
