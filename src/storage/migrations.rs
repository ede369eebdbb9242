//! Embedded migrations.
//!
//! `sqlx::migrate!` lives in sqlx's `macros` feature, which this project does not enable, so the
//! migrators are built here from `include_str!` files. The binary therefore carries its schema.
//! `Migration::new` computes the same SHA-384 checksum as `migrate!` would, so a later switch to
//! the macro (with the same file names and contents) sees the applied migrations as unchanged.
//!
//! To add a migration: add `NNNN_name.sql` under both `migrations/sqlite/` and
//! `migrations/postgres/`, and a line to both lists below. Never edit an applied migration.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// (version, description, SQL) of each SQLite migration.
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "crl_numbers",
        include_str!("../../migrations/sqlite/0002_crl_numbers.sql"),
    ),
    (
        3,
        "timestamp_batches",
        include_str!("../../migrations/sqlite/0003_timestamp_batches.sql"),
    ),
];

/// (version, description, SQL) of each PostgreSQL migration.
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "crl_numbers",
        include_str!("../../migrations/postgres/0002_crl_numbers.sql"),
    ),
    (
        3,
        "timestamp_batches",
        include_str!("../../migrations/postgres/0003_timestamp_batches.sql"),
    ),
];

fn build(list: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        list.iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// The SQLite migrator.
pub(super) fn sqlite() -> Migrator {
    build(SQLITE)
}

/// The PostgreSQL migrator.
pub(super) fn postgres() -> Migrator {
    build(POSTGRES)
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_match_between_back_ends() {
        let sqlite: Vec<_> = super::SQLITE.iter().map(|m| (m.0, m.1)).collect();
        let postgres: Vec<_> = super::POSTGRES.iter().map(|m| (m.0, m.1)).collect();
        assert_eq!(sqlite, postgres);
    }
}
