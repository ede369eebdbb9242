//! Audit journal tests on real SQLite and PostgreSQL (`audit_db_test!` makes `NAME::sqlite` and
//! `NAME::postgres`), real SoftHSM2, and the command-line tools an auditor uses (openssl,
//! sha256sum, jq, python3).
//!
//! * `intact`: an untouched journal verifies, in the database and as an exported bundle.
//! * `db_tampering` and `bundle_tampering`: each kind of tampering, with the database or with the
//!   files of an exported bundle, is detected at the right record for the right reason.
//! * `concurrency` and `checkpointer`: concurrent appends keep one valid chain; the checkpointer
//!   keeps its schedule.
//! * `auditor`: the documented hash formula, and the tools and commands of VERIFY.md.
//! * `timestamp_rows`: the time-stamp rows match their `timestamp_batch` entries; rows altered,
//!   reordered, deleted or added are found.
//! * `bundle_rows`: the same rows exported in a bundle (`timestamps.txt`), checked offline by
//!   `verify_bundle` and by VERIFY.md's script; edits to the file are found.
//! * `token_lookup`: one token's row, batch and journal entry (`qtsp tsa show`).
//!
//! The shared helpers are in `helpers`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auditor;
mod bundle_rows;
mod bundle_tampering;
mod checkpointer;
#[path = "../common/mod.rs"]
mod common;
mod concurrency;
mod db_tampering;
mod helpers;
mod intact;
mod timestamp_rows;
mod token_lookup;
