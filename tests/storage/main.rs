//! Storage layer tests. The same test bodies run on SQLite and on PostgreSQL
//! (`storage_test!` makes `NAME::sqlite` and `NAME::postgres`).
//!
//! One module per storage area, so a test is `AREA::NAME::sqlite` or `AREA::NAME::postgres`:
//! `connection` (connecting, migrations, secrets in errors), `certificates` (intents, issuance,
//! serial numbers), `revocations` (revocation records, with their audit record), `crl` (CRL
//! numbers and the revocation marks of one issuer), `audit` (the hash-chained journal and its
//! checkpoints), `timestamps` (time-stamp records, with their audit record), `times` (times
//! round-trip to the microsecond) and `append_only` (the database refuses to change evidence).
//! The fixtures they share are in `support`; `storage_test!` itself is in `tests/common/db.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod append_only;
mod audit;
mod certificates;
#[path = "../common/mod.rs"]
mod common;
mod connection;
mod crl;
mod revocations;
mod support;
mod times;
mod timestamps;
