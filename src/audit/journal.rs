//! Appending to the journal and signing checkpoints.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::AuditError;
use super::chain::{record_hash, truncate_to_micros};
use super::checkpoint::CheckpointSigner;
use super::event::{AuditEvent, CHECKPOINT_SIGNED};
use crate::clock::SharedClock;
use crate::storage::{
    AuditCheckpoint, AuditHead, AuditRecord, NewAuditRecord, Storage, StorageError,
};

/// Longest actor accepted, in bytes.
pub const MAX_ACTOR_LEN: usize = 256;

/// Records read at a time when looking for events after the last checkpoint.
const STATUS_PAGE: u32 = 64;

/// Who this node is, for its own records (`system:<node>`) and service events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Node name, unique among the nodes sharing a database.
    pub node: String,
    /// qtsp version.
    pub version: String,
}

impl NodeInfo {
    /// This build's version on node `node`.
    pub fn new(node: impl Into<String>) -> NodeInfo {
        NodeInfo {
            node: node.into(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// The audit journal: appends hash-chained records and signs checkpoints. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    storage: Storage,
    clock: SharedClock,
    node: NodeInfo,
    signer: Option<CheckpointSigner>,
    /// Wakes the checkpointer when this process has appended `checkpoint_every` records.
    appended: Notify,
    local_appends: AtomicU64,
    /// 0 until a checkpointer runs.
    checkpoint_every: AtomicU64,
}

/// Where the journal stands relative to its last checkpoint.
#[derive(Debug)]
struct CheckpointStatus {
    head: AuditHead,
    last_checkpoint_seq: u64,
    /// Records after the last checkpoint (announcements included).
    pending_records: u64,
    /// Whether any of them is something other than a `checkpoint_signed` announcement.
    has_new_events: bool,
}

impl Journal {
    /// A journal on `storage`, timed by `clock`, without a checkpoint signer.
    pub fn new(storage: Storage, clock: SharedClock, node: NodeInfo) -> Journal {
        Journal {
            inner: Arc::new(Inner {
                storage,
                clock,
                node,
                signer: None,
                appended: Notify::new(),
                local_appends: AtomicU64::new(0),
                checkpoint_every: AtomicU64::new(0),
            }),
        }
    }

    /// The same journal, signing checkpoints with `signer`. Call it while wiring, before
    /// clones are handed out or a checkpointer is spawned (those keep the journal they had).
    #[must_use]
    pub fn with_checkpoint_signer(self, signer: CheckpointSigner) -> Journal {
        let inner = &self.inner;
        Journal {
            inner: Arc::new(Inner {
                storage: inner.storage.clone(),
                clock: inner.clock.clone(),
                node: inner.node.clone(),
                signer: Some(signer),
                appended: Notify::new(),
                local_appends: AtomicU64::new(0),
                checkpoint_every: AtomicU64::new(0),
            }),
        }
    }

    /// The checkpoint signer, if any.
    pub fn checkpoint_signer(&self) -> Option<&CheckpointSigner> {
        self.inner.signer.as_ref()
    }

    /// The node this journal writes for.
    pub fn node(&self) -> &NodeInfo {
        &self.inner.node
    }

    /// The actor of records this node writes on its own: `system:<node>`.
    pub fn system_actor(&self) -> String {
        format!("system:{}", self.inner.node.node)
    }

    /// Appends `event`, caused by `actor`, to the journal.
    ///
    /// The payload is serialized first; the time is read and the hash computed inside the
    /// storage transaction that holds the head, from the head it sees, so concurrent appenders
    /// (tasks, processes, nodes) always form one chain.
    pub async fn append(&self, event: &AuditEvent, actor: &str) -> Result<AuditRecord, AuditError> {
        let build = self.record_builder(event, actor)?;
        let record = self
            .inner
            .storage
            .append_audit(build)
            .await
            .map_err(AuditError::storage("append audit record"))?;
        Ok(self.appended(record))
    }

    /// Inserts a batch of time-stamp records and appends `event` (their
    /// [`AuditEvent::TimestampBatch`]) in one storage transaction: the tokens' records and
    /// their journal entry exist together or not at all.
    pub async fn append_with_timestamps(
        &self,
        event: &AuditEvent,
        actor: &str,
        records: &[crate::storage::TimestampRecord],
    ) -> Result<AuditRecord, AuditError> {
        let build = self.record_builder(event, actor)?;
        let record = self
            .inner
            .storage
            .insert_timestamp_batch(records, build)
            .await
            .map_err(AuditError::storage("record time-stamp batch"))?;
        Ok(self.appended(record))
    }

    /// Revokes a certificate of `issuer` and appends its [`AuditEvent::Revocation`] in one
    /// storage transaction: the revocation and its journal entry exist together or not at all.
    /// Storage refusals (unknown serial, already revoked...) come back as
    /// [`AuditError::Storage`] with the typed [`StorageError`] as source.
    pub async fn revoke(
        &self,
        request: &crate::storage::RevocationRequest,
        issuer: &str,
        actor: &str,
    ) -> Result<(crate::storage::RevocationRecord, AuditRecord), AuditError> {
        let event = AuditEvent::Revocation {
            serial: request.serial.clone(),
            issuer: issuer.to_owned(),
            reason: request.reason,
        };
        let build = self.record_builder(&event, actor)?;
        let (revocation, record) = self
            .inner
            .storage
            .revoke_with_audit(request, issuer, build)
            .await
            .map_err(AuditError::storage("record revocation"))?;
        Ok((revocation, self.appended(record)))
    }

    /// What computes the new record from the head, under the head lock: the payload is
    /// serialized here, before any lock is taken.
    fn record_builder(
        &self,
        event: &AuditEvent,
        actor: &str,
    ) -> Result<impl FnOnce(&AuditHead) -> NewAuditRecord + Send + use<>, AuditError> {
        check_actor(actor)?;
        let payload = event.to_payload()?;
        let event_type = event.event_type();
        let actor = actor.to_owned();
        let clock = self.inner.clock.clone();
        Ok(move |head: &AuditHead| {
            // Read under the head lock, so that times follow the chain on one clock.
            let recorded_at = truncate_to_micros(clock.now());
            let seq = head.seq.saturating_add(1);
            let hash = record_hash(seq, recorded_at, event_type, &actor, &head.hash, &payload);
            NewAuditRecord {
                recorded_at,
                event_type: event_type.to_owned(),
                actor,
                payload,
                hash: hash.to_vec(),
            }
        })
    }

    /// Counts an appended record and wakes the checkpointer when one is due.
    fn appended(&self, record: AuditRecord) -> AuditRecord {
        let appended = self.inner.local_appends.fetch_add(1, Ordering::Relaxed) + 1;
        let every = self.inner.checkpoint_every.load(Ordering::Relaxed);
        if every != 0 && appended.is_multiple_of(every) {
            self.inner.appended.notify_one();
        }
        tracing::debug!(seq = record.seq, event_type = %record.event_type, "audit record appended");
        record
    }

    /// Journals [`AuditEvent::ServiceStarted`] for this node.
    pub async fn record_service_started(&self) -> Result<AuditRecord, AuditError> {
        let event = AuditEvent::ServiceStarted {
            node: self.inner.node.node.clone(),
            version: self.inner.node.version.clone(),
        };
        self.append(&event, &self.system_actor()).await
    }

    /// Journals [`AuditEvent::ServiceStopped`] for this node.
    pub async fn record_service_stopped(&self) -> Result<AuditRecord, AuditError> {
        let event = AuditEvent::ServiceStopped {
            node: self.inner.node.node.clone(),
            version: self.inner.node.version.clone(),
        };
        self.append(&event, &self.system_actor()).await
    }

    /// Signs a checkpoint over the current head, stores it and journals a
    /// [`AuditEvent::CheckpointSigned`] announcement. Returns `None` when there is nothing new
    /// to vouch for (empty journal, or only announcements since the last checkpoint) or when
    /// another node checkpointed the same record first.
    pub async fn checkpoint_now(&self) -> Result<Option<AuditCheckpoint>, AuditError> {
        let signer = self
            .inner
            .signer
            .as_ref()
            .ok_or(AuditError::NoCheckpointSigner)?;
        let status = self.checkpoint_status().await?;
        if !status.has_new_events {
            return Ok(None);
        }
        let head = status.head;
        let record_hash: [u8; 32] = head
            .hash
            .as_slice()
            .try_into()
            .map_err(|_| AuditError::CorruptHead { seq: head.seq })?;
        let statement = signer.statement(head.seq, head.hash, self.inner.clock.now());
        // Signed outside any database transaction: the HSM may be slow.
        let signature = signer.sign(&statement).await?;
        let checkpoint = AuditCheckpoint {
            seq: statement.seq,
            recorded_at: statement.signed_at,
            signature,
            key_id: statement.key_id.clone(),
            algorithm: statement.algorithm.clone(),
        };
        let stored = match self
            .inner
            .storage
            .insert_audit_checkpoint(&checkpoint)
            .await
        {
            Ok(stored) => stored,
            Err(StorageError::Conflict { .. }) => return Ok(None),
            Err(source) => {
                return Err(AuditError::Storage {
                    operation: "store audit checkpoint",
                    source,
                });
            }
        };
        let announcement = AuditEvent::CheckpointSigned {
            checkpoint_seq: stored.seq,
            record_hash,
            key_id: stored.key_id.clone(),
            algorithm: stored.algorithm.clone(),
        };
        self.append(&announcement, &self.system_actor()).await?;
        tracing::info!(seq = stored.seq, key_id = %stored.key_id, "audit checkpoint signed");
        Ok(Some(stored))
    }

    /// Starts a task that signs a checkpoint when `every_n_records` records were appended since
    /// the last checkpoint or `every_t` has passed since it, whichever comes first, and only when
    /// there is something new. The task makes a last checkpoint when `shutdown` resolves, then
    /// ends. Records appended by other processes are noticed by polling (at most every second).
    /// Errors are logged and retried on the next round.
    pub fn spawn_checkpointer<S>(
        &self,
        every_n_records: u64,
        every_t: Duration,
        shutdown: S,
    ) -> Result<JoinHandle<()>, AuditError>
    where
        S: Future<Output = ()> + Send + 'static,
    {
        if self.inner.signer.is_none() {
            return Err(AuditError::NoCheckpointSigner);
        }
        if every_n_records == 0 {
            return Err(AuditError::InvalidSchedule {
                detail: "every_n_records must be at least 1",
            });
        }
        if every_t.is_zero() {
            return Err(AuditError::InvalidSchedule {
                detail: "every_t must be longer than zero",
            });
        }
        self.inner
            .checkpoint_every
            .store(every_n_records, Ordering::Relaxed);
        let journal = self.clone();
        Ok(tokio::spawn(async move {
            journal
                .run_checkpointer(every_n_records, every_t, shutdown)
                .await;
        }))
    }

    async fn run_checkpointer<S>(self, every_n_records: u64, every_t: Duration, shutdown: S)
    where
        S: Future<Output = ()> + Send,
    {
        let poll = every_t.min(Duration::from_secs(1));
        let mut timer = CheckpointTimer {
            last_seen_checkpoint: None,
            since: Instant::now(),
        };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = self.inner.appended.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
            if let Err(e) = self
                .checkpoint_if_due(every_n_records, every_t, &mut timer)
                .await
            {
                tracing::error!(error = %e, "audit checkpoint failed; retrying later");
            }
        }
        // Cover everything journaled before the stop.
        if let Err(e) = self.checkpoint_now().await {
            tracing::error!(error = %e, "final audit checkpoint failed");
        }
    }

    async fn checkpoint_if_due(
        &self,
        every_n_records: u64,
        every_t: Duration,
        timer: &mut CheckpointTimer,
    ) -> Result<(), AuditError> {
        let status = self.checkpoint_status().await?;
        // A checkpoint made by anyone (another node included) restarts the clock.
        if timer.last_seen_checkpoint != Some(status.last_checkpoint_seq) {
            timer.last_seen_checkpoint = Some(status.last_checkpoint_seq);
            timer.since = Instant::now();
        }
        if !status.has_new_events {
            return Ok(());
        }
        let due = status.pending_records >= every_n_records || timer.since.elapsed() >= every_t;
        if due && let Some(checkpoint) = self.checkpoint_now().await? {
            timer.last_seen_checkpoint = Some(checkpoint.seq);
            timer.since = Instant::now();
        }
        Ok(())
    }

    async fn checkpoint_status(&self) -> Result<CheckpointStatus, AuditError> {
        let storage = &self.inner.storage;
        let head = storage
            .audit_head()
            .await
            .map_err(AuditError::storage("read audit head"))?;
        let last_checkpoint_seq = storage
            .latest_audit_checkpoint()
            .await
            .map_err(AuditError::storage("read latest audit checkpoint"))?
            .map_or(0, |c| c.seq);
        let pending_records = head.seq.saturating_sub(last_checkpoint_seq);
        // Checkpointing nothing but announcements would have nodes answer each other's
        // announcements forever.
        let mut has_new_events = false;
        let mut from = last_checkpoint_seq.saturating_add(1);
        while pending_records > 0 && from <= head.seq {
            let page = storage
                .audit_records(from, STATUS_PAGE)
                .await
                .map_err(AuditError::storage("read audit records"))?;
            let Some(last) = page.last() else {
                break;
            };
            from = last.seq.saturating_add(1);
            if page
                .iter()
                .any(|r| r.seq <= head.seq && r.event_type != CHECKPOINT_SIGNED)
            {
                has_new_events = true;
                break;
            }
        }
        Ok(CheckpointStatus {
            head,
            last_checkpoint_seq,
            pending_records,
            has_new_events,
        })
    }
}

/// The checkpointer's view of time since the last checkpoint.
struct CheckpointTimer {
    last_seen_checkpoint: Option<u64>,
    since: Instant,
}

/// An actor is one line of the hashed record: no control characters, so no line breaks.
fn check_actor(actor: &str) -> Result<(), AuditError> {
    if actor.is_empty() {
        return Err(AuditError::InvalidActor { reason: "empty" });
    }
    if actor.len() > MAX_ACTOR_LEN {
        return Err(AuditError::InvalidActor {
            reason: "longer than 256 bytes",
        });
    }
    if actor.chars().any(char::is_control) {
        return Err(AuditError::InvalidActor {
            reason: "contains a control character",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn actor_rules() {
        assert!(check_actor("admin:alice").is_ok());
        assert!(check_actor("sujet:Zoë Ł").is_ok());
        for bad in ["", "a\nb", "a\rb", "tab\there", &"x".repeat(257)] {
            assert_eq!(check_actor(bad).unwrap_err().code(), "AUD003", "{bad:?}");
        }
    }
}
