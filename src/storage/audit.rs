//! Audit journal records and signed checkpoints. The audit module computes the hashes; this
//! module keeps the order: gap-free sequence numbers, each record chained to the head it saw.

use super::db::{
    DbRow, Dialect, is_foreign_key_violation, is_unique_violation, query_err, to_i64, truncate,
    with_db,
};
use super::records::{AuditCheckpoint, AuditHead, AuditRecord, NewAuditRecord, TimestampSerial};
use super::{Storage, StorageError};

macro_rules! audit_select {
    ($tail:literal) => {
        concat!(
            "SELECT seq, recorded_at, event_type, actor, payload, prev_hash, hash \
             FROM audit_records ",
            $tail
        )
    };
}

macro_rules! checkpoint_select {
    ($tail:literal) => {
        concat!(
            "SELECT seq, recorded_at, signature, key_id, algorithm FROM audit_checkpoints ",
            $tail
        )
    };
}

/// Appends one audit record inside the open write transaction `$tx` (back end `$DB`): locks and
/// reads the head, calls `$build` with it, inserts the record and moves the head. Evaluates to
/// the record; `?` returns the error from the enclosing function. The caller commits (so that a
/// record can be committed with the rows it describes, see `insert_timestamp_batch`).
macro_rules! append_audit_in_tx {
    ($tx:ident, $build:expr, $DB:ty, $OP:expr) => {{
        let row = sqlx::query(<$DB as Dialect>::SELECT_AUDIT_HEAD_FOR_UPDATE)
            .fetch_one(&mut *$tx)
            .await
            .map_err(query_err($OP))?;
        let head = head_from_row(&row)?;
        let new = $build(&head);
        check_new_record(&new)?;
        let seq = head
            .seq
            .checked_add(1)
            .ok_or_else(|| StorageError::Corrupt {
                column: "audit_head.seq",
                detail: "sequence exhausted".to_owned(),
            })?;
        let record = AuditRecord {
            seq,
            recorded_at: truncate(new.recorded_at)?,
            event_type: new.event_type,
            actor: new.actor,
            payload: new.payload,
            prev_hash: head.hash,
            hash: new.hash,
        };
        let seq_db = to_i64("seq", seq)?;
        sqlx::query(
            "INSERT INTO audit_records \
             (seq, recorded_at, event_type, actor, payload, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(seq_db)
        .bind(<$DB>::time(record.recorded_at)?)
        .bind(&record.event_type)
        .bind(&record.actor)
        .bind(&record.payload)
        .bind(&record.prev_hash)
        .bind(&record.hash)
        .execute(&mut *$tx)
        .await
        .map_err(query_err($OP))?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq_db)
            .bind(&record.hash)
            .execute(&mut *$tx)
            .await
            .map_err(query_err($OP))?;
        record
    }};
}
pub(super) use append_audit_in_tx;

pub(super) fn head_from_row(row: &impl DbRow) -> Result<AuditHead, StorageError> {
    Ok(AuditHead {
        seq: row.uint("seq")?,
        hash: row.bytes("hash")?,
    })
}

fn audit_from_row(row: &impl DbRow) -> Result<AuditRecord, StorageError> {
    Ok(AuditRecord {
        seq: row.uint("seq")?,
        recorded_at: row.time("recorded_at")?,
        event_type: row.text("event_type")?,
        actor: row.text("actor")?,
        payload: row.text("payload")?,
        prev_hash: row.bytes("prev_hash")?,
        hash: row.bytes("hash")?,
    })
}

fn checkpoint_from_row(row: &impl DbRow) -> Result<AuditCheckpoint, StorageError> {
    Ok(AuditCheckpoint {
        seq: row.uint("seq")?,
        recorded_at: row.time("recorded_at")?,
        signature: row.bytes("signature")?,
        key_id: row.text("key_id")?,
        algorithm: row.text("algorithm")?,
    })
}

pub(super) fn check_new_record(new: &NewAuditRecord) -> Result<(), StorageError> {
    if new.event_type.is_empty() {
        return Err(StorageError::InvalidInput {
            field: "event_type",
            reason: "empty".to_owned(),
        });
    }
    if new.hash.is_empty() {
        return Err(StorageError::InvalidInput {
            field: "hash",
            reason: "empty".to_owned(),
        });
    }
    Ok(())
}

impl Storage {
    /// Appends one record to the audit journal.
    ///
    /// In one transaction: lock and read the head (the last record's seq and hash, or the
    /// genesis head: seq 0 and 32 zero bytes), call `build` with it, insert the record as
    /// `seq = head.seq + 1` with `prev_hash = head.hash`, move the head. Appenders are
    /// serialized (`SELECT ... FOR UPDATE` on the one-row head table on PostgreSQL, even across
    /// processes; `BEGIN IMMEDIATE` on SQLite), so the journal has no gaps and no forks.
    ///
    /// `build` runs while the lock is held: keep it short (hashing, no I/O).
    pub async fn append_audit<F>(&self, build: F) -> Result<AuditRecord, StorageError>
    where
        F: FnOnce(&AuditHead) -> NewAuditRecord + Send,
    {
        const OP: &str = "append_audit";
        let _writer = self.write_guard().await;
        let record = with_db!(&self.db, |pool, DB| {
            let mut tx = pool
                .begin_with(<DB as Dialect>::BEGIN_WRITE)
                .await
                .map_err(query_err(OP))?;
            let record = append_audit_in_tx!(tx, build, DB, OP);
            tx.commit().await.map_err(query_err(OP))?;
            record
        });
        Ok(record)
    }

    /// The current head: the last record's seq and hash, or the genesis head.
    pub async fn audit_head(&self) -> Result<AuditHead, StorageError> {
        const OP: &str = "audit_head";
        with_db!(&self.db, |pool, DB| {
            let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(pool)
                .await
                .map_err(query_err(OP))?;
            head_from_row(&row)
        })
    }

    /// Up to `limit` records with `seq >= from_seq`, in order.
    pub async fn audit_records(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        const OP: &str = "audit_records";
        let from_seq = to_i64("from_seq", from_seq)?;
        with_db!(&self.db, |pool, DB| {
            sqlx::query(audit_select!("WHERE seq >= $1 ORDER BY seq LIMIT $2"))
                .bind(from_seq)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(query_err(OP))?
                .iter()
                .map(audit_from_row)
                .collect()
        })
    }

    /// The `timestamp_batch` records whose payload states this `first_serial` (one, unless the
    /// journal was tampered with), in order. Scans the journal: for operators' lookups, not for
    /// the service's paths.
    pub async fn audit_timestamp_batch_records(
        &self,
        first_serial: &TimestampSerial,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        const OP: &str = "audit_timestamp_batch_records";
        // Payloads are canonical JSON: the member is written exactly so, and hex has no LIKE
        // wildcard.
        let pattern = format!("%\"first_serial\":\"{}\"%", first_serial.to_hex());
        with_db!(&self.db, |pool, DB| {
            sqlx::query(audit_select!(
                "WHERE event_type = 'timestamp_batch' AND payload LIKE $1 ORDER BY seq LIMIT 16"
            ))
            .bind(pattern)
            .fetch_all(pool)
            .await
            .map_err(query_err(OP))?
            .iter()
            .map(audit_from_row)
            .collect()
        })
    }

    /// Stores a signed checkpoint over the journal up to `checkpoint.seq`, which must be an
    /// existing record ([`StorageError::NotFound`] otherwise). One checkpoint per seq
    /// ([`StorageError::Conflict`] for a second one). Returns the stored checkpoint.
    pub async fn insert_audit_checkpoint(
        &self,
        checkpoint: &AuditCheckpoint,
    ) -> Result<AuditCheckpoint, StorageError> {
        const OP: &str = "insert_audit_checkpoint";
        for (field, empty) in [
            ("signature", checkpoint.signature.is_empty()),
            ("key_id", checkpoint.key_id.is_empty()),
            ("algorithm", checkpoint.algorithm.is_empty()),
        ] {
            if empty {
                return Err(StorageError::InvalidInput {
                    field,
                    reason: "empty".to_owned(),
                });
            }
        }
        let stored = AuditCheckpoint {
            recorded_at: truncate(checkpoint.recorded_at)?,
            ..checkpoint.clone()
        };
        let seq = to_i64("seq", stored.seq)?;
        let _writer = self.write_guard().await;
        let result = with_db!(&self.db, |pool, DB| {
            sqlx::query(
                "INSERT INTO audit_checkpoints (seq, recorded_at, signature, key_id, algorithm) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(seq)
            .bind(DB::time(stored.recorded_at)?)
            .bind(&stored.signature)
            .bind(&stored.key_id)
            .bind(&stored.algorithm)
            .execute(pool)
            .await
            .map(|_| ())
        });
        match result {
            Ok(()) => Ok(stored),
            Err(e) if is_unique_violation(&e) => Err(StorageError::Conflict {
                entity: "audit checkpoint",
                key: stored.seq.to_string(),
                reason: "a checkpoint for this seq already exists",
            }),
            Err(e) if is_foreign_key_violation(&e) => Err(StorageError::NotFound {
                entity: "audit record",
                key: stored.seq.to_string(),
            }),
            Err(e) => Err(query_err(OP)(e)),
        }
    }

    /// Up to `limit` checkpoints with `seq >= from_seq`, in order.
    pub async fn audit_checkpoints(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditCheckpoint>, StorageError> {
        const OP: &str = "audit_checkpoints";
        let from_seq = to_i64("from_seq", from_seq)?;
        with_db!(&self.db, |pool, DB| {
            sqlx::query(checkpoint_select!("WHERE seq >= $1 ORDER BY seq LIMIT $2"))
                .bind(from_seq)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(query_err(OP))?
                .iter()
                .map(checkpoint_from_row)
                .collect()
        })
    }

    /// The checkpoint with the highest seq, if any.
    pub async fn latest_audit_checkpoint(&self) -> Result<Option<AuditCheckpoint>, StorageError> {
        const OP: &str = "latest_audit_checkpoint";
        with_db!(&self.db, |pool, DB| {
            sqlx::query(checkpoint_select!("ORDER BY seq DESC LIMIT 1"))
                .fetch_optional(pool)
                .await
                .map_err(query_err(OP))?
                .map(|row| checkpoint_from_row(&row))
                .transpose()
        })
    }
}
