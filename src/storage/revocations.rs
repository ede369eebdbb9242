//! Revocations: permanent, one per certificate, numbered in commit order.

use super::audit::{append_audit_in_tx, check_new_record, head_from_row};
use super::certificates::reason_from_db;
use super::db::{
    DbRow, Dialect, is_unique_violation, query_err, to_i64, truncate, truncate_opt, with_db,
};
use super::records::{AuditHead, AuditRecord, NewAuditRecord, RevocationRecord, RevocationRequest};
use super::{Storage, StorageError};

macro_rules! revocation_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, serial_hex, issuer, reason_code, revoked_at, invalidity_date \
             FROM revocations ",
            $tail
        )
    };
}

fn revocation_from_row(row: &impl DbRow) -> Result<RevocationRecord, StorageError> {
    Ok(RevocationRecord {
        id: row.uint("id")?,
        serial: row.cert_serial("serial_hex")?,
        issuer: row.text("issuer")?,
        reason: reason_from_db(row.small("reason_code")?, "reason_code")?,
        revoked_at: row.time("revoked_at")?,
        invalidity_date: row.opt_time("invalidity_date")?,
    })
}

impl Storage {
    /// Revokes an issued certificate. Revocation is permanent: a second call returns
    /// [`StorageError::AlreadyRevoked`] and leaves the first record unchanged. An unknown serial,
    /// or a certificate that is only an intent (never issued), gives [`StorageError::NotFound`].
    ///
    /// Writers are serialized (a table lock on PostgreSQL, the write lock on SQLite) so that
    /// revocation ids are 1, 2, 3... in commit order, which makes
    /// [`Storage::revocations_changed_since`] safe for cache refreshes.
    pub async fn revoke(
        &self,
        request: &RevocationRequest,
    ) -> Result<RevocationRecord, StorageError> {
        let (record, _) = self
            .revoke_inner(request, None::<(&str, fn(&AuditHead) -> NewAuditRecord)>)
            .await?;
        Ok(record)
    }

    /// Revokes an issued certificate and appends the audit record describing it, in one
    /// transaction: the revocation and its journal entry are committed together or not at all.
    /// `expected_issuer` is the issuer the caller named in the audit event; a certificate of
    /// another issuer is refused with [`StorageError::Conflict`] (nothing written). `build` is
    /// called with the audit head, as in [`Storage::append_audit`]. Errors are those of
    /// [`Storage::revoke`].
    pub async fn revoke_with_audit<F>(
        &self,
        request: &RevocationRequest,
        expected_issuer: &str,
        build: F,
    ) -> Result<(RevocationRecord, AuditRecord), StorageError>
    where
        F: FnOnce(&AuditHead) -> NewAuditRecord + Send,
    {
        let (record, audit) = self
            .revoke_inner(request, Some((expected_issuer, build)))
            .await?;
        let audit = audit.ok_or_else(|| StorageError::Corrupt {
            column: "audit_records",
            detail: "revocation committed without its audit record".to_owned(),
        })?;
        Ok((record, audit))
    }

    async fn revoke_inner<F>(
        &self,
        request: &RevocationRequest,
        audit: Option<(&str, F)>,
    ) -> Result<(RevocationRecord, Option<AuditRecord>), StorageError>
    where
        F: FnOnce(&AuditHead) -> NewAuditRecord + Send,
    {
        const OP: &str = "revoke";
        let serial_hex = request.serial.to_hex();
        let revoked_at = truncate(request.revoked_at)?;
        let invalidity_date = truncate_opt(request.invalidity_date)?;
        let _writer = self.write_guard().await;
        let (id, issuer, audit_record) = with_db!(&self.db, |pool, DB| {
            let mut tx = pool
                .begin_with(<DB as Dialect>::BEGIN_WRITE)
                .await
                .map_err(query_err(OP))?;
            if let Some(lock) = <DB as Dialect>::LOCK_REVOCATIONS {
                sqlx::query(lock)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_err(OP))?;
            }
            let cert: Option<(String, String)> =
                sqlx::query_as("SELECT issuer, state FROM certificates WHERE serial_hex = $1")
                    .bind(&serial_hex)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(query_err(OP))?;
            let issuer = match cert {
                None => {
                    return Err(StorageError::NotFound {
                        entity: "certificate",
                        key: serial_hex,
                    });
                }
                Some((_, state)) if state != "issued" => {
                    return Err(StorageError::NotFound {
                        entity: "issued certificate",
                        key: serial_hex,
                    });
                }
                Some((issuer, _)) => issuer,
            };
            if let Some((expected, _)) = &audit
                && *expected != issuer
            {
                return Err(StorageError::Conflict {
                    entity: "certificate",
                    key: serial_hex,
                    reason: "issued by another CA than the audit event names",
                });
            }
            let already: Option<i64> =
                sqlx::query_scalar("SELECT id FROM revocations WHERE serial_hex = $1")
                    .bind(&serial_hex)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(query_err(OP))?;
            if already.is_some() {
                return Err(StorageError::AlreadyRevoked { serial_hex });
            }
            let id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM revocations")
                .fetch_one(&mut *tx)
                .await
                .map_err(query_err(OP))?;
            let inserted = sqlx::query(
                "INSERT INTO revocations \
                 (id, serial_hex, issuer, reason_code, revoked_at, invalidity_date) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(&serial_hex)
            .bind(&issuer)
            .bind(i16::from(request.reason.code()))
            .bind(DB::time(revoked_at)?)
            .bind(invalidity_date.map(DB::time).transpose()?)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                // Only reachable if the serialization above were bypassed.
                Err(e) if is_unique_violation(&e) => {
                    return Err(StorageError::AlreadyRevoked { serial_hex });
                }
                Err(e) => return Err(query_err(OP)(e)),
            }
            // The audit head is locked last (as for time-stamp batches), so that the lock every
            // appender waits for is held for the audit insert only.
            let audit_record = match audit {
                Some((_, build)) => Some(append_audit_in_tx!(tx, build, DB, OP)),
                None => None,
            };
            tx.commit().await.map_err(query_err(OP))?;
            (id, issuer, audit_record)
        });
        tracing::info!(serial = %request.serial, reason = %request.reason, id, "certificate revoked");
        let record = RevocationRecord {
            id: u64::try_from(id).map_err(|_| StorageError::Corrupt {
                column: "revocations.id",
                detail: format!("negative id {id}"),
            })?,
            serial: request.serial.clone(),
            issuer,
            reason: request.reason,
            revoked_at,
            invalidity_date,
        };
        Ok((record, audit_record))
    }

    /// Every revocation of certificates of this issuer, in revocation order (for CRLs).
    pub async fn revocations(&self, issuer: &str) -> Result<Vec<RevocationRecord>, StorageError> {
        const OP: &str = "revocations";
        with_db!(&self.db, |pool, DB| {
            sqlx::query(revocation_select!("WHERE issuer = $1 ORDER BY id"))
                .bind(issuer)
                .fetch_all(pool)
                .await
                .map_err(query_err(OP))?
                .iter()
                .map(revocation_from_row)
                .collect()
        })
    }

    /// Revocations with an id greater than `after_id`, in id order, at most `limit`. A node that
    /// caches revocation status remembers the last id it saw (0 at start) and polls this.
    pub async fn revocations_changed_since(
        &self,
        after_id: u64,
        limit: u32,
    ) -> Result<Vec<RevocationRecord>, StorageError> {
        const OP: &str = "revocations_changed_since";
        let after_id = to_i64("after_id", after_id)?;
        with_db!(&self.db, |pool, DB| {
            sqlx::query(revocation_select!("WHERE id > $1 ORDER BY id LIMIT $2"))
                .bind(after_id)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(query_err(OP))?
                .iter()
                .map(revocation_from_row)
                .collect()
        })
    }

    /// Revocations of `issuer` with an id greater than `after_id`, in id order, at most `limit`:
    /// what changed for one CA since a revocation mark was read (see
    /// [`Storage::last_revocation_id_of`]). A cache of that CA's answers fetches `limit + 1` to
    /// tell "these are all" from "there are more".
    pub async fn revocations_of_since(
        &self,
        issuer: &str,
        after_id: u64,
        limit: u32,
    ) -> Result<Vec<RevocationRecord>, StorageError> {
        const OP: &str = "revocations_of_since";
        let after_id = to_i64("after_id", after_id)?;
        with_db!(&self.db, |pool, DB| {
            sqlx::query(revocation_select!(
                "WHERE issuer = $1 AND id > $2 ORDER BY id LIMIT $3"
            ))
            .bind(issuer)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(query_err(OP))?
            .iter()
            .map(revocation_from_row)
            .collect()
        })
    }

    /// The highest revocation id among the revocations of `issuer` (0 when it revoked nothing).
    /// Ids only grow in commit order, so a CRL built after reading this holds at least the
    /// revocations up to it; a larger value later means the CRL is out of date.
    pub async fn last_revocation_id_of(&self, issuer: &str) -> Result<u64, StorageError> {
        const OP: &str = "last_revocation_id_of";
        let id: i64 = with_db!(&self.db, |pool, DB| {
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM revocations WHERE issuer = $1")
                .bind(issuer)
                .fetch_one(pool)
                .await
                .map_err(query_err(OP))?
        });
        u64::try_from(id).map_err(|_| StorageError::Corrupt {
            column: "revocations.id",
            detail: format!("negative id {id}"),
        })
    }

    /// The highest revocation id (0 when nothing is revoked).
    pub async fn last_revocation_id(&self) -> Result<u64, StorageError> {
        const OP: &str = "last_revocation_id";
        let id: i64 = with_db!(&self.db, |pool, DB| {
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM revocations")
                .fetch_one(pool)
                .await
                .map_err(query_err(OP))?
        });
        u64::try_from(id).map_err(|_| StorageError::Corrupt {
            column: "revocations.id",
            detail: format!("negative id {id}"),
        })
    }
}
