//! Certificate statuses for answers signed on demand, read from the database in batches.
//!
//! Every such answer must say what the database says when the request is being answered (a
//! revocation committed before is never missed). Asked one by one, each answer costs a database
//! round trip — on SQLite a hop to the connection's thread and back, which costs more CPU than
//! the query. The reader queues the lookups of concurrent answers instead; one task takes what
//! is waiting, asks for all of it in one query per CA, and answers every caller. A lookup is
//! always queued before the query that answers it starts, so it sees every commit made before
//! the request was received.

use tokio::sync::{mpsc, oneshot};

use crate::storage::{CertificateSerial, IssuedStatus, Storage, StorageError};

/// Lookups per query, at most.
const MAX_BATCH: usize = 64;

/// Lookups waiting for a query, at most (callers wait when the queue is full).
const QUEUE_DEPTH: usize = 4096;

type Reply = oneshot::Sender<Result<Option<IssuedStatus>, StorageError>>;

struct Lookup {
    issuer: String,
    serial: CertificateSerial,
    reply: Reply,
}

/// Reads [`Storage::issued_status`] for many callers, one query per batch. Cheap to clone; its
/// task ends when every clone is dropped.
#[derive(Debug, Clone)]
pub(super) struct StatusReader {
    tx: mpsc::Sender<Lookup>,
    storage: Storage,
}

impl StatusReader {
    /// Starts the reader's task (on the current tokio runtime).
    pub(super) fn spawn(storage: Storage) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(storage.clone(), rx));
        Self { tx, storage }
    }

    /// The status of `serial` if `issuer` issued it, as the database has it now.
    pub(super) async fn issued_status(
        &self,
        issuer: &str,
        serial: CertificateSerial,
    ) -> Result<Option<IssuedStatus>, StorageError> {
        let (reply, answer) = oneshot::channel();
        let lookup = Lookup {
            issuer: issuer.to_owned(),
            serial: serial.clone(),
            reply,
        };
        if self.tx.send(lookup).await.is_ok()
            && let Ok(result) = answer.await
        {
            return result;
        }
        // The task is gone (the runtime is shutting down): ask directly.
        self.storage.issued_status(issuer, &serial).await
    }
}

async fn run(storage: Storage, mut rx: mpsc::Receiver<Lookup>) {
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut waiting, MAX_BATCH).await > 0 {
        // One query per CA; almost always there is just one.
        while let Some(first) = waiting.first() {
            let issuer = first.issuer.clone();
            let (same, others): (Vec<Lookup>, Vec<Lookup>) =
                waiting.drain(..).partition(|l| l.issuer == issuer);
            waiting = others;
            answer(&storage, &issuer, same).await;
        }
    }
}

/// Answers `lookups` of `issuer` with one query, or, if it fails, each with its own (so that
/// every caller gets its own error).
async fn answer(storage: &Storage, issuer: &str, lookups: Vec<Lookup>) {
    let serials: Vec<CertificateSerial> = lookups.iter().map(|l| l.serial.clone()).collect();
    match storage.issued_statuses(issuer, &serials).await {
        Ok(found) => {
            for lookup in lookups {
                let status = found
                    .iter()
                    .find(|(serial, _)| *serial == lookup.serial)
                    .map(|(_, status)| *status);
                // A caller that gave up is no one's concern.
                let _ = lookup.reply.send(Ok(status));
            }
        }
        Err(error) => {
            tracing::debug!(%error, "batched status read failed; reading one by one");
            for lookup in lookups {
                let result = storage.issued_status(issuer, &lookup.serial).await;
                let _ = lookup.reply.send(result);
            }
        }
    }
}
