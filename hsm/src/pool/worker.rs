//! The worker threads: the jobs they run, the queue messages, and the worker loop (idle spin, grouped
//! replies, panic containment).

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use cryptoki::session::Session;
use tokio::sync::oneshot;

use super::session::{KEY_EPOCH, SessionCtx, Shared};
use crate::error::Result;
use crate::module::TokenAccess;

/// Replies are sent in small groups: while more jobs are already queued, a worker runs up to this
/// many before answering. Waking an idle async thread costs a system call (an inter-processor
/// interrupt, much dearer in a VM) on the worker's thread; answering several callers at once wakes
/// the runtime once. Nothing is delayed when the queue is empty.
const REPLY_GROUP_MAX: usize = 16;
/// ... and never holds a reply back longer than this.
const REPLY_GROUP_BUDGET: std::time::Duration = std::time::Duration::from_micros(500);

/// One submitted operation: run on the worker's session, then answered (separately, so that
/// answers can be grouped). One allocation per job.
pub(super) trait Job: Send {
    fn run(&mut self, ctx: &mut SessionCtx);
    fn reply(self: Box<Self>);
}

pub(super) struct PendingJob<F, R> {
    pub(super) access: TokenAccess,
    pub(super) op: F,
    pub(super) reply: Option<oneshot::Sender<Result<R>>>,
    pub(super) result: Option<Result<R>>,
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

pub(super) enum Msg {
    Job(Box<dyn Job>),
    Stop,
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

pub(super) fn worker_main(
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
        queue: rx.clone(),
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
