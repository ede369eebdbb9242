//! Coalescing many single signatures with one key into few pool jobs.
//!
//! A busy service (the TSA, an OCSP responder signing nonce responses) asks for one signature
//! per request. Sent one by one, each costs a job on the pool's queue and a wake-up of a worker
//! thread and of the caller. A [`BatchSigner`] queues the digests instead; one task takes what is
//! waiting (up to a maximum), signs it as one job on one session, and answers every caller. At
//! most one batch per pool session runs at a time, so under load every session stays busy while
//! the next batches fill; with a single request in flight a batch is that one request.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::error::{HsmError, Result};
use crate::keys::KeyRef;
use crate::pool::Hsm;
use crate::sign::{SignMechanism, Signature};

/// Requests waiting for a batch, at most (callers wait when the queue is full).
const QUEUE_DEPTH: usize = 8192;

struct Request {
    digest: Vec<u8>,
    reply: oneshot::Sender<Result<Signature>>,
}

/// Signs digests with one key, many callers' digests per pool job. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BatchSigner {
    tx: mpsc::Sender<Request>,
    mechanism: SignMechanism,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request").finish_non_exhaustive()
    }
}

impl BatchSigner {
    /// Signs `digest` (checked against the mechanism's hash first).
    pub async fn sign(&self, digest: &[u8]) -> Result<Signature> {
        self.mechanism.digest_alg().check(digest)?;
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request {
                digest: digest.to_vec(),
                reply,
            })
            .await
            .map_err(|_| HsmError::PoolClosed)?;
        answer.await.map_err(|_| HsmError::WorkerLost)?
    }
}

impl Hsm {
    /// A signer for `key` with `mechanism` that batches concurrent requests, at most
    /// `max_batch` digests per pool job. Its task ends when every clone is dropped.
    pub fn batch_signer(
        &self,
        key: KeyRef,
        mechanism: SignMechanism,
        max_batch: usize,
    ) -> BatchSigner {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(self.clone(), key, mechanism, rx, max_batch.max(1)));
        BatchSigner { tx, mechanism }
    }
}

async fn run(
    hsm: Hsm,
    key: KeyRef,
    mechanism: SignMechanism,
    mut rx: mpsc::Receiver<Request>,
    max_batch: usize,
) {
    let in_flight = Arc::new(Semaphore::new(hsm.sessions().max(1)));
    let mut requests = Vec::with_capacity(max_batch);
    loop {
        // Wait for a free session first: requests keep queueing meanwhile, so the next batch is
        // as large as the load makes it.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        if rx.recv_many(&mut requests, max_batch).await == 0 {
            break;
        }
        // Share what is queued among every free session rather than giving it all to one while
        // the others idle: e.g. 16 requests and 2 free sessions make two jobs of 8.
        let mut permits = vec![permit];
        while permits.len() < requests.len() {
            match in_flight.clone().try_acquire_owned() {
                Ok(more) => permits.push(more),
                Err(_) => break,
            }
        }
        let per_job = requests.len().div_ceil(permits.len());
        for permit in permits {
            let rest = requests.split_off(per_job.min(requests.len()));
            let batch = std::mem::replace(&mut requests, rest);
            if batch.is_empty() {
                break;
            }
            let (hsm, key) = (hsm.clone(), key.clone());
            tokio::spawn(async move {
                let (digests, replies): (Vec<Vec<u8>>, Vec<_>) =
                    batch.into_iter().map(|r| (r.digest, r.reply)).unzip();
                let result = hsm.sign_digests(&key, mechanism, digests).await;
                drop(permit);
                match result {
                    Ok(signatures) => {
                        for (reply, signature) in replies.into_iter().zip(signatures) {
                            let _ = reply.send(Ok(signature));
                        }
                    }
                    Err(error) => {
                        let error = Arc::new(error);
                        for reply in replies {
                            let _ = reply.send(Err(HsmError::BatchFailed(error.clone())));
                        }
                    }
                }
            });
        }
        requests = Vec::with_capacity(max_batch);
    }
}
