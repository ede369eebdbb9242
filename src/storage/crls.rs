//! CRL numbers: one counter per CA that only increases (migration 0002).

use time::OffsetDateTime;

use super::db::{Dialect, query_err, truncate, with_db};
use super::{Storage, StorageError};

impl Storage {
    /// Allocates the next cRLNumber of `issuer` (1 for its first CRL) and makes it durable before
    /// returning it. Numbers only increase, across restarts and across the nodes sharing the
    /// database; concurrent callers get distinct numbers. `at` is recorded as the time of the
    /// allocation.
    pub async fn next_crl_number(
        &self,
        issuer: &str,
        at: OffsetDateTime,
    ) -> Result<u64, StorageError> {
        const OP: &str = "next_crl_number";
        if issuer.is_empty() {
            return Err(StorageError::InvalidInput {
                field: "issuer",
                reason: "empty".to_owned(),
            });
        }
        let at = truncate(at)?;
        let _writer = self.write_guard().await;
        // One statement: atomic on both back ends (the row is locked by the upsert on PostgreSQL,
        // the database by the write on SQLite).
        let number: i64 = with_db!(&self.db, |pool, DB| {
            sqlx::query_scalar(
                "INSERT INTO crl_numbers (issuer, last_number, updated_at) VALUES ($1, 1, $2) \
                 ON CONFLICT (issuer) DO UPDATE \
                 SET last_number = crl_numbers.last_number + 1, updated_at = excluded.updated_at \
                 RETURNING last_number",
            )
            .bind(issuer)
            .bind(DB::time(at)?)
            .fetch_one(pool)
            .await
            .map_err(query_err(OP))?
        });
        u64::try_from(number).map_err(|_| StorageError::Corrupt {
            column: "crl_numbers.last_number",
            detail: format!("negative number {number}"),
        })
    }

    /// The last cRLNumber allocated for `issuer` (0 when it has none yet).
    pub async fn last_crl_number(&self, issuer: &str) -> Result<u64, StorageError> {
        const OP: &str = "last_crl_number";
        let number: Option<i64> = with_db!(&self.db, |pool, DB| {
            sqlx::query_scalar("SELECT last_number FROM crl_numbers WHERE issuer = $1")
                .bind(issuer)
                .fetch_optional(pool)
                .await
                .map_err(query_err(OP))?
        });
        let number = number.unwrap_or(0);
        u64::try_from(number).map_err(|_| StorageError::Corrupt {
            column: "crl_numbers.last_number",
            detail: format!("negative number {number}"),
        })
    }
}
