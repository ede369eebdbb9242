//! Time-stamp records, written by the TSA in group commits.

use std::collections::HashSet;

use sqlx::{Postgres, Sqlite};
use time::OffsetDateTime;

use super::audit::{append_audit_in_tx, check_new_record, head_from_row};
use super::db::{
    Db, DbRow, Dialect, is_unique_violation, query_err, to_i64, to_micros, truncate, with_db,
};
use super::records::{
    AuditHead, AuditRecord, BatchLines, BatchPlace, NewAuditRecord, TimestampRecord,
    TimestampRowCounts, TimestampSerial,
};
use super::{Storage, StorageError};

macro_rules! timestamp_select {
    ($tail:literal) => {
        timestamp_select!("", $tail)
    };
    // With more columns: `$more` starts with a comma.
    ($more:literal, $tail:literal) => {
        concat!(
            "SELECT serial_hex, gen_time, policy_oid, hash_alg_oid, message_imprint, requester, \
             node_id",
            $more,
            " FROM timestamps ",
            $tail
        )
    };
}

fn timestamp_from_row(row: &impl DbRow) -> Result<TimestampRecord, StorageError> {
    Ok(TimestampRecord {
        serial: row.ts_serial("serial_hex")?,
        gen_time: row.time("gen_time")?,
        policy_oid: row.text("policy_oid")?.into(),
        hash_alg_oid: row.text("hash_alg_oid")?.into(),
        message_imprint: row.bytes("message_imprint")?,
        requester: row.opt_text("requester")?,
        node_id: row.opt_text("node_id")?.map(Into::into),
    })
}

fn batch_lines_from_row(row: &impl DbRow) -> Result<BatchLines, StorageError> {
    Ok(BatchLines {
        first_serial: row.ts_serial("batch_first_serial")?,
        rows: row.uint("row_count")?,
        lines: row.text("lines")?,
    })
}

/// Dotted decimal OID: at least two arcs, digits only.
fn check_oid(field: &'static str, oid: &str) -> Result<(), StorageError> {
    let mut arcs = 0usize;
    for arc in oid.split('.') {
        if arc.is_empty() || !arc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StorageError::InvalidInput {
                field,
                reason: format!("{oid:?} is not a dotted decimal OID"),
            });
        }
        arcs += 1;
    }
    if arcs < 2 {
        return Err(StorageError::InvalidInput {
            field,
            reason: format!("{oid:?} has fewer than two arcs"),
        });
    }
    Ok(())
}

/// A record checked and encoded for insertion.
struct Prepared<'a> {
    serial_hex: String,
    gen_time: OffsetDateTime,
    record: &'a TimestampRecord,
}

fn prepare(records: &[TimestampRecord]) -> Result<Vec<Prepared<'_>>, StorageError> {
    let mut seen = HashSet::with_capacity(records.len());
    records
        .iter()
        .map(|record| {
            check_oid("policy_oid", &record.policy_oid)?;
            check_oid("hash_alg_oid", &record.hash_alg_oid)?;
            if record.message_imprint.is_empty() {
                return Err(StorageError::InvalidInput {
                    field: "message_imprint",
                    reason: "empty".to_owned(),
                });
            }
            // Serials are minimal DER content octets: equal octets, equal hex.
            if !seen.insert(record.serial.as_bytes()) {
                return Err(StorageError::DuplicateTimestampSerial {
                    serial_hex: record.serial.to_hex(),
                });
            }
            Ok(Prepared {
                serial_hex: record.serial.to_hex(),
                gen_time: truncate(record.gen_time)?,
                record,
            })
        })
        .collect()
}

/// The SQLite INSERT of a whole batch: its rows come as one JSON array of
/// `[serial, genTime micros, policy, hash algorithm, imprint hex, requester, node]`, in batch
/// order; `json_each` gives each row's index, its `batch_position`. One statement, prepared once
/// per connection, whatever the batch size, and one round trip to SQLite's worker thread.
const SQLITE_INSERT: &str = "INSERT INTO timestamps (serial_hex, gen_time, policy_oid, \
     hash_alg_oid, message_imprint, requester, node_id, batch_first_serial, batch_position) \
     SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, unhex(r.value ->> 4), \
     r.value ->> 5, r.value ->> 6, $2, r.key FROM json_each($1) AS r";

/// One row of [`SQLITE_INSERT`]'s JSON array.
type SqliteRow<'a> = (
    &'a str,
    i64,
    &'a str,
    &'a str,
    LowerHex<'a>,
    Option<&'a str>,
    Option<&'a str>,
);

/// Bytes as a JSON string of lowercase hex, written straight into the JSON text.
struct LowerHex<'a>(&'a [u8]);

impl std::fmt::Display for LowerHex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl serde::Serialize for LowerHex<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Inserts prepared rows (a whole batch, in batch order, with their genTime in microseconds) on
/// an open SQLite transaction.
async fn insert_rows_sqlite(
    conn: &mut sqlx::SqliteConnection,
    rows: &[(&Prepared<'_>, i64)],
) -> Result<(), sqlx::Error> {
    let Some((first, _)) = rows.first() else {
        return Ok(());
    };
    let encoded: Vec<SqliteRow<'_>> = rows
        .iter()
        .map(|(r, gen_time)| {
            (
                r.serial_hex.as_str(),
                *gen_time,
                &*r.record.policy_oid,
                &*r.record.hash_alg_oid,
                LowerHex(&r.record.message_imprint),
                r.record.requester.as_deref(),
                r.record.node_id.as_deref(),
            )
        })
        .collect();
    let json = serde_json::to_string(&encoded).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(SQLITE_INSERT)
        .bind(json)
        .bind(first.serial_hex.as_str())
        .persistent(true)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Inserts prepared rows (a whole batch, in batch order) on an open PostgreSQL transaction: one
/// `INSERT ... SELECT FROM UNNEST(arrays)`, whatever the batch size; the arrays' ordinality gives
/// each row its position.
async fn insert_rows_postgres(
    conn: &mut sqlx::PgConnection,
    rows: &[Prepared<'_>],
) -> Result<(), sqlx::Error> {
    let mut serials = Vec::with_capacity(rows.len());
    let mut gen_times = Vec::with_capacity(rows.len());
    let mut policies = Vec::with_capacity(rows.len());
    let mut hash_algs = Vec::with_capacity(rows.len());
    let mut imprints = Vec::with_capacity(rows.len());
    let mut requesters = Vec::with_capacity(rows.len());
    let mut nodes = Vec::with_capacity(rows.len());
    let batch = rows.first().map(|r| r.serial_hex.as_str());
    for r in rows {
        serials.push(r.serial_hex.as_str());
        gen_times.push(r.gen_time);
        policies.push(&*r.record.policy_oid);
        hash_algs.push(&*r.record.hash_alg_oid);
        imprints.push(r.record.message_imprint.as_slice());
        requesters.push(r.record.requester.as_deref());
        nodes.push(r.record.node_id.as_deref());
    }
    sqlx::query(
        "INSERT INTO timestamps (serial_hex, gen_time, policy_oid, hash_alg_oid, \
         message_imprint, requester, node_id, batch_first_serial, batch_position) \
         SELECT s, g, p, h, m, r, n, $8, (o - 1)::integer \
         FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], \
         $5::bytea[], $6::text[], $7::text[]) WITH ORDINALITY AS u(s, g, p, h, m, r, n, o)",
    )
    .bind(serials)
    .bind(gen_times)
    .bind(policies)
    .bind(hash_algs)
    .bind(imprints)
    .bind(requesters)
    .bind(nodes)
    .bind(batch)
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

fn with_micros<'p, 'r>(
    rows: &'p [Prepared<'r>],
) -> Result<Vec<(&'p Prepared<'r>, i64)>, StorageError> {
    rows.iter()
        .map(|r| Ok((r, to_micros(r.gen_time)?)))
        .collect()
}

impl Storage {
    /// Inserts a batch of time-stamp records and appends the audit record describing them, in
    /// one transaction: the rows and their journal entry are committed together or not at all,
    /// with one commit (one fsync on SQLite) for both. `build` is called with the audit head,
    /// as in [`Storage::append_audit`]. Each row names its batch (the first record's serial)
    /// and its position in it, see [`Storage::timestamp_batch_lines`]. A serial that already
    /// exists (or appears twice in the batch) refuses the whole batch with
    /// [`StorageError::DuplicateTimestampSerial`].
    pub async fn insert_timestamp_batch<F>(
        &self,
        records: &[TimestampRecord],
        build: F,
    ) -> Result<AuditRecord, StorageError>
    where
        F: FnOnce(&AuditHead) -> NewAuditRecord + Send,
    {
        const OP: &str = "insert_timestamp_batch";
        if records.is_empty() {
            return Err(StorageError::InvalidInput {
                field: "records",
                reason: "empty batch".to_owned(),
            });
        }
        let rows = prepare(records)?;
        let _writer = self.write_guard().await;
        let inserted = match &self.db {
            Db::Sqlite(pool) => {
                let encoded = with_micros(&rows)?;
                let mut tx = pool
                    .begin_with(<Sqlite as Dialect>::BEGIN_WRITE)
                    .await
                    .map_err(query_err(OP))?;
                match insert_rows_sqlite(&mut tx, &encoded).await {
                    Ok(()) => {
                        let record = append_audit_in_tx!(tx, build, Sqlite, OP);
                        tx.commit().await.map_err(query_err(OP))?;
                        Ok(record)
                    }
                    Err(e) => Err(e),
                }
            }
            Db::Postgres(pool) => {
                let mut tx = pool
                    .begin_with(<Postgres as Dialect>::BEGIN_WRITE)
                    .await
                    .map_err(query_err(OP))?;
                // Rows first, then the head lock: the lock that serializes every node's
                // appenders is held for the audit insert only.
                match insert_rows_postgres(&mut tx, &rows).await {
                    Ok(()) => {
                        let record = append_audit_in_tx!(tx, build, Postgres, OP);
                        tx.commit().await.map_err(query_err(OP))?;
                        Ok(record)
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match inserted {
            Ok(record) => Ok(record),
            Err(e) => Err(self.insert_error(OP, e, &rows).await),
        }
    }

    /// The error of a failed insert: on a unique violation, which serial was already there.
    async fn insert_error(
        &self,
        operation: &'static str,
        error: sqlx::Error,
        rows: &[Prepared<'_>],
    ) -> StorageError {
        if !is_unique_violation(&error) {
            return query_err(operation)(error);
        }
        // Rare path: find which serial was already there, for the error message.
        for r in rows {
            match self.timestamp(&r.record.serial).await {
                Ok(Some(_)) => {
                    return StorageError::DuplicateTimestampSerial {
                        serial_hex: r.serial_hex.clone(),
                    };
                }
                Ok(None) => {}
                Err(e) => return e,
            }
        }
        StorageError::DuplicateTimestampSerial {
            serial_hex: "unknown".to_owned(),
        }
    }

    /// The time-stamp record with this serial.
    pub async fn timestamp(
        &self,
        serial: &TimestampSerial,
    ) -> Result<Option<TimestampRecord>, StorageError> {
        const OP: &str = "timestamp";
        with_db!(&self.db, |pool, DB| {
            sqlx::query(timestamp_select!("WHERE serial_hex = $1"))
                .bind(serial.to_hex())
                .fetch_optional(pool)
                .await
                .map_err(query_err(OP))?
                .map(|row| timestamp_from_row(&row))
                .transpose()
        })
    }

    /// The time-stamp record with this serial, and its place in its batch (`None` for rows
    /// written before the rows named their batch).
    pub async fn timestamp_in_batch(
        &self,
        serial: &TimestampSerial,
    ) -> Result<Option<(TimestampRecord, Option<BatchPlace>)>, StorageError> {
        const OP: &str = "timestamp_in_batch";
        with_db!(&self.db, |pool, DB| {
            let Some(row) = sqlx::query(timestamp_select!(
                ", batch_first_serial, CAST(batch_position AS BIGINT) AS batch_position",
                "WHERE serial_hex = $1"
            ))
            .bind(serial.to_hex())
            .fetch_optional(pool)
            .await
            .map_err(query_err(OP))?
            else {
                return Ok(None);
            };
            let record = timestamp_from_row(&row)?;
            let place = match row.opt_text("batch_first_serial")? {
                None => None,
                Some(_) => Some(BatchPlace {
                    first_serial: row.ts_serial("batch_first_serial")?,
                    position: row.uint("batch_position")?,
                }),
            };
            Ok(Some((record, place)))
        })
    }

    /// The rows of each batch whose first serial is in `first_serials` (as written by
    /// [`Storage::insert_timestamp_batch`]), rendered by the database as the lines that
    /// `crate::audit::timestamp_batch_digest` hashes, in batch order: one [`BatchLines`] per batch
    /// that has rows, in no particular order. Batches unknown here, and rows written before the
    /// rows named their batch (schema migration 3), are absent. One query, one result row per
    /// batch: the auditor's check reads a million tokens without a round trip per row.
    pub async fn timestamp_batch_lines(
        &self,
        first_serials: &[TimestampSerial],
    ) -> Result<Vec<BatchLines>, StorageError> {
        const OP: &str = "timestamp_batch_lines";
        if first_serials.is_empty() {
            return Ok(Vec::new());
        }
        let serials: Vec<String> = first_serials.iter().map(TimestampSerial::to_hex).collect();
        match &self.db {
            Db::Sqlite(pool) => {
                let serials =
                    serde_json::to_string(&serials).map_err(|e| StorageError::InvalidInput {
                        field: "first_serials",
                        reason: e.to_string(),
                    })?;
                sqlx::query(
                    "SELECT batch_first_serial, COUNT(*) AS row_count, group_concat(serial_hex || ' ' || \
                     gen_time || ' ' || policy_oid || ' ' || hash_alg_oid || ' ' || \
                     lower(hex(message_imprint)) || char(10), '' ORDER BY batch_position) AS lines \
                     FROM timestamps \
                     WHERE batch_first_serial IN (SELECT value FROM json_each($1)) \
                     GROUP BY batch_first_serial",
                )
                .bind(serials)
                .fetch_all(pool)
                .await
                .map_err(query_err(OP))?
                .iter()
                .map(batch_lines_from_row)
                .collect()
            }
            Db::Postgres(pool) => sqlx::query(
                "SELECT batch_first_serial, COUNT(*) AS row_count, string_agg(serial_hex || ' ' || \
                     (extract(epoch FROM gen_time) * 1000000)::bigint || ' ' || policy_oid || \
                     ' ' || hash_alg_oid || ' ' || encode(message_imprint, 'hex') || E'\\n', '' \
                     ORDER BY batch_position) AS lines \
                     FROM timestamps WHERE batch_first_serial = ANY($1::text[]) \
                     GROUP BY batch_first_serial",
            )
            .bind(serials)
            .fetch_all(pool)
            .await
            .map_err(query_err(OP))?
            .iter()
            .map(batch_lines_from_row)
            .collect(),
        }
    }

    /// Time-stamp rows that name their batch, and rows that do not (one scan of the table).
    pub async fn timestamp_row_counts(&self) -> Result<TimestampRowCounts, StorageError> {
        const OP: &str = "timestamp_row_counts";
        let (batched, all) = with_db!(&self.db, |pool, DB| {
            let row = sqlx::query(
                "SELECT COUNT(batch_first_serial) AS batched, COUNT(*) AS all_rows FROM timestamps",
            )
            .fetch_one(pool)
            .await
            .map_err(query_err(OP))?;
            (row.uint("batched")?, row.uint("all_rows")?)
        });
        Ok(TimestampRowCounts {
            batched,
            unbatched: all.saturating_sub(batched),
        })
    }

    /// Number of time-stamp records.
    pub async fn count_timestamps(&self) -> Result<u64, StorageError> {
        const OP: &str = "count_timestamps";
        let count: i64 = with_db!(&self.db, |pool, DB| {
            sqlx::query_scalar("SELECT COUNT(*) FROM timestamps")
                .fetch_one(pool)
                .await
                .map_err(query_err(OP))?
        });
        u64::try_from(count).map_err(|_| StorageError::Corrupt {
            column: "count",
            detail: format!("negative count {count}"),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::check_oid;

    #[test]
    fn oids() {
        assert!(check_oid("x", "2.16.840.1.101.3.4.2.1").is_ok());
        assert!(check_oid("x", "0.4.0.2023.1.1").is_ok());
        for bad in ["", "1", "1.", ".1", "1..2", "1.2a", "1.2 "] {
            assert!(check_oid("x", bad).is_err(), "{bad:?}");
        }
    }
}
