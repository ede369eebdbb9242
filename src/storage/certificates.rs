//! Certificates: write-ahead intent, then the issued DER.

use time::OffsetDateTime;

use sqlx::{QueryBuilder, Sqlite};

use super::db::{Db, DbRow, Dialect, is_unique_violation, query_err, with_db};
use super::records::{
    CertificateRecord, CertificateSerial, CertificateState, IssuedStatus, NewCertificateIntent,
    RevocationReason, RevocationRecord,
};
use super::{Storage, StorageError};

/// SELECT of a certificate joined with its revocation, followed by a literal tail.
macro_rules! cert_select {
    ($tail:literal) => {
        concat!(
            "SELECT c.serial_hex, c.issuer, c.profile, c.subject, c.spki_sha256, \
             c.not_before, c.not_after, c.state, c.der, c.created_at, c.issued_at, \
             r.id AS r_id, r.reason_code AS r_reason_code, r.revoked_at AS r_revoked_at, \
             r.invalidity_date AS r_invalidity_date \
             FROM certificates c LEFT JOIN revocations r ON r.serial_hex = c.serial_hex ",
            $tail
        )
    };
}

pub(super) fn reason_from_db(
    code: i16,
    column: &'static str,
) -> Result<RevocationReason, StorageError> {
    u8::try_from(code)
        .ok()
        .and_then(RevocationReason::from_code)
        .ok_or_else(|| StorageError::Corrupt {
            column,
            detail: format!("unsupported CRLReason code {code}"),
        })
}

fn spki_hash(row: &impl DbRow) -> Result<[u8; 32], StorageError> {
    let bytes = row.bytes("spki_sha256")?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| StorageError::Corrupt {
        column: "spki_sha256",
        detail: format!("{} bytes instead of 32", bytes.len()),
    })
}

fn cert_from_row(row: &impl DbRow) -> Result<CertificateRecord, StorageError> {
    let serial = row.cert_serial("serial_hex")?;
    let issuer = row.text("issuer")?;
    let state_text = row.text("state")?;
    let state = CertificateState::from_db(&state_text).ok_or_else(|| StorageError::Corrupt {
        column: "state",
        detail: format!("unknown state {state_text:?}"),
    })?;
    let revocation = match row.opt_int("r_id")? {
        None => None,
        Some(id) => Some(RevocationRecord {
            id: u64::try_from(id).map_err(|_| StorageError::Corrupt {
                column: "revocations.id",
                detail: format!("negative id {id}"),
            })?,
            serial: serial.clone(),
            issuer: issuer.clone(),
            reason: reason_from_db(row.small("r_reason_code")?, "revocations.reason_code")?,
            revoked_at: row.time("r_revoked_at")?,
            invalidity_date: row.opt_time("r_invalidity_date")?,
        }),
    };
    Ok(CertificateRecord {
        serial,
        issuer,
        profile: row.text("profile")?,
        subject: row.text("subject")?,
        spki_sha256: spki_hash(row)?,
        not_before: row.time("not_before")?,
        not_after: row.time("not_after")?,
        state,
        der: row.opt_bytes("der")?,
        created_at: row.time("created_at")?,
        issued_at: row.opt_time("issued_at")?,
        revocation,
    })
}

/// The status columns of issued certificates of one issuer, `$tail` completing the WHERE clause
/// after `c.issuer = `: one text for the single and the batched reads.
macro_rules! issued_status_select {
    ($tail:literal) => {
        concat!(
            "SELECT c.serial_hex, r.id AS r_id, r.reason_code AS r_reason_code, ",
            "r.revoked_at AS r_revoked_at ",
            "FROM certificates c LEFT JOIN revocations r ON r.serial_hex = c.serial_hex ",
            "WHERE c.state = 'issued' AND c.issuer = ",
            $tail
        )
    };
}

fn issued_status_from_row(row: &impl DbRow) -> Result<IssuedStatus, StorageError> {
    Ok(match row.opt_int("r_id")? {
        None => IssuedStatus::Good,
        Some(_) => IssuedStatus::Revoked {
            reason: reason_from_db(row.small("r_reason_code")?, "revocations.reason_code")?,
            revoked_at: row.time("r_revoked_at")?,
        },
    })
}

impl Storage {
    /// Records the CA's intent to issue a certificate, before the HSM signs. The serial must be
    /// new for every issuer: a clash is reported as [`StorageError::DuplicateSerial`], detected
    /// from the database's unique constraint (so concurrent inserts of one serial give exactly
    /// one success).
    pub async fn insert_certificate_intent(
        &self,
        intent: &NewCertificateIntent,
    ) -> Result<(), StorageError> {
        const OP: &str = "insert_certificate_intent";
        if intent.issuer.is_empty() {
            return Err(StorageError::InvalidInput {
                field: "issuer",
                reason: "empty".to_owned(),
            });
        }
        if intent.profile.is_empty() {
            return Err(StorageError::InvalidInput {
                field: "profile",
                reason: "empty".to_owned(),
            });
        }
        if intent.not_after < intent.not_before {
            return Err(StorageError::InvalidInput {
                field: "not_after",
                reason: "before not_before".to_owned(),
            });
        }
        let serial_hex = intent.serial.to_hex();
        let _writer = self.write_guard().await;
        let result = with_db!(&self.db, |pool, DB| {
            sqlx::query(
                "INSERT INTO certificates (serial_hex, issuer, profile, subject, spki_sha256, \
                 not_before, not_after, state, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'intent', $8)",
            )
            .bind(&serial_hex)
            .bind(&intent.issuer)
            .bind(&intent.profile)
            .bind(&intent.subject)
            .bind(&intent.spki_sha256[..])
            .bind(DB::time(intent.not_before)?)
            .bind(DB::time(intent.not_after)?)
            .bind(DB::time(intent.created_at)?)
            .execute(pool)
            .await
            .map(|_| ())
        });
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StorageError::DuplicateSerial { serial_hex }),
            Err(e) => Err(query_err(OP)(e)),
        }
    }

    /// Records the signed certificate for an intent. Only `intent -> issued` is allowed:
    /// [`StorageError::NotFound`] for an unknown serial, [`StorageError::Conflict`] when the
    /// certificate is already issued.
    pub async fn record_issued_certificate(
        &self,
        serial: &CertificateSerial,
        der: &[u8],
        issued_at: OffsetDateTime,
    ) -> Result<(), StorageError> {
        const OP: &str = "record_issued_certificate";
        if der.is_empty() {
            return Err(StorageError::InvalidInput {
                field: "der",
                reason: "empty".to_owned(),
            });
        }
        let serial_hex = serial.to_hex();
        let _writer = self.write_guard().await;
        let updated = with_db!(&self.db, |pool, DB| {
            sqlx::query(
                "UPDATE certificates SET state = 'issued', der = $2, issued_at = $3 \
                 WHERE serial_hex = $1 AND state = 'intent'",
            )
            .bind(&serial_hex)
            .bind(der)
            .bind(DB::time(issued_at)?)
            .execute(pool)
            .await
            .map_err(query_err(OP))?
            .rows_affected()
        });
        if updated == 1 {
            return Ok(());
        }
        // States only move forward, so a row that exists now was already issued.
        match self.certificate_state(&serial_hex, OP).await? {
            None => Err(StorageError::NotFound {
                entity: "certificate",
                key: serial_hex,
            }),
            Some(_) => Err(StorageError::Conflict {
                entity: "certificate",
                key: serial_hex,
                reason: "already issued",
            }),
        }
    }

    async fn certificate_state(
        &self,
        serial_hex: &str,
        op: &'static str,
    ) -> Result<Option<CertificateState>, StorageError> {
        let state: Option<String> = with_db!(&self.db, |pool, DB| {
            sqlx::query_scalar("SELECT state FROM certificates WHERE serial_hex = $1")
                .bind(serial_hex)
                .fetch_optional(pool)
                .await
                .map_err(query_err(op))?
        });
        state
            .map(|s| {
                CertificateState::from_db(&s).ok_or_else(|| StorageError::Corrupt {
                    column: "state",
                    detail: format!("unknown state {s:?}"),
                })
            })
            .transpose()
    }

    /// The certificate with this serial, with its revocation if any.
    pub async fn certificate(
        &self,
        serial: &CertificateSerial,
    ) -> Result<Option<CertificateRecord>, StorageError> {
        const OP: &str = "certificate";
        with_db!(&self.db, |pool, DB| {
            sqlx::query(cert_select!("WHERE c.serial_hex = $1"))
                .bind(serial.to_hex())
                .fetch_optional(pool)
                .await
                .map_err(query_err(OP))?
                .map(|row| cert_from_row(&row))
                .transpose()
        })
    }

    /// The status of the certificate `serial` if `issuer` issued it (state `issued`); `None`
    /// for a serial that `issuer` never issued, or whose signed certificate is not recorded.
    /// One indexed row and four small columns: the OCSP responder asks this for every answer
    /// signed on demand, so the certificate itself is not read.
    pub async fn issued_status(
        &self,
        issuer: &str,
        serial: &CertificateSerial,
    ) -> Result<Option<IssuedStatus>, StorageError> {
        const OP: &str = "issued_status";
        with_db!(&self.db, |pool, DB| {
            sqlx::query(issued_status_select!("$1 AND c.serial_hex = $2"))
                .bind(issuer)
                .bind(serial.to_hex())
                .fetch_optional(pool)
                .await
                .map_err(query_err(OP))?
                .map(|row| issued_status_from_row(&row))
                .transpose()
        })
    }

    /// [`Self::issued_status`] of many serials of `issuer` in one query: the serials `issuer`
    /// issued (state `issued`) with their status; the others are left out. The OCSP responder
    /// reads the statuses of concurrent answers this way, one database round trip per batch.
    pub async fn issued_statuses(
        &self,
        issuer: &str,
        serials: &[CertificateSerial],
    ) -> Result<Vec<(CertificateSerial, IssuedStatus)>, StorageError> {
        const OP: &str = "issued_statuses";
        if serials.is_empty() {
            return Ok(Vec::new());
        }
        let hex: Vec<String> = serials.iter().map(CertificateSerial::to_hex).collect();
        let rows = match &self.db {
            Db::Sqlite(pool) => {
                let mut builder = QueryBuilder::<Sqlite>::new(issued_status_select!(""));
                builder.push_bind(issuer);
                builder.push(" AND c.serial_hex IN (");
                let mut list = builder.separated(", ");
                for serial in &hex {
                    list.push_bind(serial.as_str());
                }
                builder.push(")");
                builder
                    .build()
                    .fetch_all(pool)
                    .await
                    .map_err(query_err(OP))?
                    .iter()
                    .map(|row| Ok((row.cert_serial("serial_hex")?, issued_status_from_row(row)?)))
                    .collect::<Result<Vec<_>, StorageError>>()
            }
            Db::Postgres(pool) => sqlx::query(issued_status_select!(
                "$1 AND c.serial_hex = ANY($2::text[])"
            ))
            .bind(issuer)
            .bind(&hex)
            .fetch_all(pool)
            .await
            .map_err(query_err(OP))?
            .iter()
            .map(|row| Ok((row.cert_serial("serial_hex")?, issued_status_from_row(row)?)))
            .collect::<Result<Vec<_>, StorageError>>(),
        }?;
        Ok(rows)
    }

    /// Certificates still in state `intent`, oldest first: what a crashed CA left unfinished.
    pub async fn unfinished_intents(&self) -> Result<Vec<CertificateRecord>, StorageError> {
        const OP: &str = "unfinished_intents";
        with_db!(&self.db, |pool, DB| {
            sqlx::query(cert_select!(
                "WHERE c.state = 'intent' ORDER BY c.created_at, c.serial_hex"
            ))
            .fetch_all(pool)
            .await
            .map_err(query_err(OP))?
            .iter()
            .map(cert_from_row)
            .collect()
        })
    }

    /// One page of an issuer's certificates (any state), ordered by serial hex (bytewise).
    /// Pass the last serial of the previous page as `after_serial` to get the next page.
    pub async fn certificates_by_issuer(
        &self,
        issuer: &str,
        after_serial: Option<&CertificateSerial>,
        limit: u32,
    ) -> Result<Vec<CertificateRecord>, StorageError> {
        const OP: &str = "certificates_by_issuer";
        // "" sorts before every valid serial.
        let after = after_serial
            .map(CertificateSerial::to_hex)
            .unwrap_or_default();
        with_db!(&self.db, |pool, DB| {
            sqlx::query(cert_select!(
                "WHERE c.issuer = $1 AND c.serial_hex > $2 ORDER BY c.serial_hex LIMIT $3"
            ))
            .bind(issuer)
            .bind(&after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(query_err(OP))?
            .iter()
            .map(cert_from_row)
            .collect()
        })
    }
}
