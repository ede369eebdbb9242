//! Group commit of time-stamp records.
//!
//! Every token is durable in the database before its response leaves (the handler awaits
//! [`Recorder::record`]). One background task takes whatever records are waiting and writes
//! them, with the one `timestamp_batch` audit event that describes them, in one transaction,
//! then releases all their waiters: under load a batch grows to what arrived during the previous
//! commit, so the cost of a commit (an fsync on SQLite) is shared instead of capping throughput.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::audit::{AuditEvent, Journal};
use crate::storage::TimestampRecord;
use crate::tsa::latency::CommitLatency;

/// Records waiting to be written, at most (senders wait when it is full).
const QUEUE_DEPTH: usize = 16 * 1024;
/// Records per batch, at most.
pub const MAX_BATCH: usize = 4096;

/// How long a batch keeps gathering records before its commit starts.
///
/// The first record of a batch usually arrives with the rest of its signature job still queued
/// on the runtime (every token of a job is woken at once), and more jobs finish meanwhile. The
/// recorder yields to let those tasks hand their records over, and yields again as long as a
/// yield brings more, within both limits: fewer, larger commits cost less per token (the
/// database's CPU per P-384 token fell by a fifth with up to 16 yields against one), and the
/// time limit keeps a busy runtime from holding a commit back for long. With one request in
/// flight the first yield brings nothing and the commit starts at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gathering {
    /// Yields, at most.
    pub max_yields: u32,
    /// Time spent gathering, at most: checked after each yield, so one yield may overrun it.
    pub max_wait: Duration,
}

impl Default for Gathering {
    fn default() -> Self {
        Self {
            max_yields: 16,
            max_wait: Duration::from_micros(500),
        }
    }
}

/// A record could not be made durable. The token must not be released.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The database refused or failed the batch (its records and its audit event together).
    #[error("TSA302 cannot record time-stamp batch: {0}")]
    Storage(String),
    /// The recorder has stopped (the service is shutting down).
    #[error("TSA304 the time-stamp recorder has stopped")]
    Stopped,
}

struct Pending {
    record: TimestampRecord,
    done: oneshot::Sender<Result<(), RecordError>>,
}

/// Hands records to the group-commit task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Recorder {
    tx: mpsc::Sender<Pending>,
    latency: Arc<CommitLatency>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("serial", &self.record.serial)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Starts the group-commit task. It ends when every [`Recorder`] clone is dropped, after
    /// writing what is queued.
    pub fn spawn(journal: Journal, actor: String) -> (Self, tokio::task::JoinHandle<()>) {
        Self::spawn_gathering(journal, actor, Gathering::default())
    }

    /// [`Recorder::spawn`] with the given limits on gathering a batch.
    pub fn spawn_gathering(
        journal: Journal,
        actor: String,
        gathering: Gathering,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let latency = Arc::new(CommitLatency::default());
        let task = tokio::spawn(run(rx, journal, actor, gathering, latency.clone()));
        (Self { tx, latency }, task)
    }

    /// How long the group commits have taken.
    #[must_use]
    pub fn commit_latency(&self) -> &Arc<CommitLatency> {
        &self.latency
    }

    /// Queues `record` and waits until it is committed with its batch.
    pub async fn record(&self, record: TimestampRecord) -> Result<(), RecordError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Pending { record, done })
            .await
            .map_err(|_| RecordError::Stopped)?;
        wait.await.map_err(|_| RecordError::Stopped)?
    }
}

async fn run(
    mut rx: mpsc::Receiver<Pending>,
    journal: Journal,
    actor: String,
    gathering: Gathering,
    latency: Arc<CommitLatency>,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    let mut records: Vec<TimestampRecord> = Vec::with_capacity(MAX_BATCH);
    let mut waiters = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        gather(&mut rx, &mut batch, gathering).await;
        for pending in batch.drain(..) {
            records.push(pending.record);
            waiters.push(pending.done);
        }
        let started = std::time::Instant::now();
        let outcome = commit(&journal, &actor, &records).await;
        latency.observe(records.len(), started.elapsed());
        if let Err(error) = &outcome {
            tracing::error!(%error, count = records.len(), "time-stamp batch failed");
        }
        for done in waiters.drain(..) {
            // A waiter that went away (client disconnected) does not matter: its record is
            // written or not with the others.
            let _ = done.send(outcome.clone());
        }
        records.clear();
    }
}

/// Adds to `batch` what arrives while the recorder yields, as [`Gathering`] describes.
async fn gather(rx: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>, gathering: Gathering) {
    let started = std::time::Instant::now();
    for _ in 0..gathering.max_yields {
        if batch.len() >= MAX_BATCH {
            break;
        }
        tokio::task::yield_now().await;
        let before = batch.len();
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        if batch.len() == before || started.elapsed() >= gathering.max_wait {
            break;
        }
    }
}

async fn commit(
    journal: &Journal,
    actor: &str,
    records: &[TimestampRecord],
) -> Result<(), RecordError> {
    let Some(event) = AuditEvent::timestamp_batch(records) else {
        return Ok(());
    };
    journal
        .append_with_timestamps(&event, actor, records)
        .await
        .map_err(|e| RecordError::Storage(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn record(serial: &str, micros: i64, imprint: &[u8]) -> TimestampRecord {
        TimestampRecord::sample(serial, micros, imprint)
    }

    /// Records 64 tokens through a recorder with `gathering`, the way the tokens of signature
    /// jobs arrive: task `i` hands its record over after `i % 4` yields. Returns the
    /// size of each committed batch (from the journal's `timestamp_batch` events), in order,
    /// once every waiter has been released.
    async fn staggered_batches(gathering: Gathering) -> Vec<u64> {
        let dir = tempfile::tempdir().unwrap();
        let storage = crate::storage::Storage::open_sqlite(
            &dir.path().join("r.db"),
            crate::storage::StorageOptions::default(),
        )
        .await
        .unwrap();
        storage.migrate().await.unwrap();
        let journal = Journal::new(
            storage.clone(),
            std::sync::Arc::new(crate::clock::SystemClock),
            crate::audit::NodeInfo::new("test"),
        );
        let (recorder, task) = Recorder::spawn_gathering(journal, "system:test".into(), gathering);
        let mut tokens = Vec::new();
        for i in 0..64_u8 {
            let recorder = recorder.clone();
            tokens.push(tokio::spawn(async move {
                for _ in 0..i % 4 {
                    tokio::task::yield_now().await;
                }
                recorder
                    .record(record(&format!("{:02x}", i + 1), 0, &[i; 32]))
                    .await
            }));
        }
        for token in tokens {
            token.await.unwrap().unwrap();
        }
        // Every waiter was released: every record is in the database.
        assert_eq!(storage.count_timestamps().await.unwrap(), 64);
        drop(recorder);
        task.await.unwrap();
        let mut counts = Vec::new();
        for record in storage.audit_records(1, 1000).await.unwrap() {
            if record.event_type == "timestamp_batch" {
                let payload: serde_json::Value = serde_json::from_str(&record.payload).unwrap();
                counts.push(payload["count"].as_u64().unwrap());
            }
        }
        counts
    }

    /// Records that arrive a few scheduler turns apart share one commit.
    #[tokio::test]
    async fn records_arriving_over_several_yields_share_one_commit() {
        // A limit by time that a slow machine cannot reach: this test is about the yields.
        let gathering = Gathering {
            max_yields: 16,
            max_wait: Duration::from_secs(60),
        };
        assert_eq!(staggered_batches(gathering).await, [64]);
    }

    /// Gathering stops at either limit (after one yield, or after the first when the time is
    /// up): the first commit leaves records behind, which arrive while it runs and make the
    /// next one.
    #[tokio::test]
    async fn gathering_stops_at_its_limits() {
        let one_yield = Gathering {
            max_yields: 1,
            max_wait: Duration::from_secs(60),
        };
        let no_time = Gathering {
            max_yields: 16,
            max_wait: Duration::ZERO,
        };
        for gathering in [one_yield, no_time] {
            let counts = staggered_batches(gathering).await;
            assert!(counts.len() >= 2, "{gathering:?}: {counts:?}");
            assert_eq!(counts.iter().sum::<u64>(), 64, "{gathering:?}: {counts:?}");
        }
    }
}
