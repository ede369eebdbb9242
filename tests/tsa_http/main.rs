//! RFC 3161 over HTTP, end to end (issue #4): `qtsp init` and `qtsp serve` as real processes on
//! a real SoftHSM2 token, the `openssl ts` command line as the independent client and verifier,
//! the `cms` crate as an independent decoder of the tokens qtsp assembles by hand, and the
//! database and the audit journal read back after a graceful shutdown (SIGTERM).
//!
//! * [`interop_rejections_and_clock_guard`]: one data dir, two servers one after the other.
//!   With `QTSP_TSA_REQUIRE_CLOCK_SYNC=false`: every combination of SHA-256/384/512, with and
//!   without `-cert`, with and without a nonce, verified by `openssl ts -verify` and read back
//!   field by field; then every kind of bad request gets its exact `failInfo` in an HTTP 200,
//!   a wrong media type a 415, a GET a 405, an oversized body a 413, never a 5xx. Then a server
//!   that checks the clock: on an unsynchronized kernel clock every request is refused with
//!   `timeNotAvailable` and the journal holds one `clock_unsynchronized` record for the run.
//! * [`concurrent_tokens_are_unique_and_recorded_on_sqlite`] and
//!   [`concurrent_tokens_are_unique_and_recorded_on_postgresql`]: many tokens with 64 requests
//!   in flight, all granted with distinct serials; after shutdown each has its record (imprint,
//!   hash, genTime), the `timestamp_batch` events account for every one, and
//!   `qtsp audit verify` passes.
//!
//! The helpers are in `processes` (`qtsp`, HTTP, openssl) and `tokens` (requests built here,
//! answers read back); the areas of the first test are in `interop`, `rejections` and
//! `clock_guard`, the burst of the other two in `concurrency`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod clock_guard;
#[path = "../common/mod.rs"]
mod common;
mod concurrency;
mod interop;
mod processes;
mod rejections;
mod tokens;

use clock_guard::{clock_guard, tsa_check};
use concurrency::burst_and_records;
use interop::{Files, interop};
use processes::{Server, http_client, qtsp, run_ok};
use rejections::rejections;
use tokens::Tsu;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_rejections_and_clock_guard() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");
    run_ok(qtsp(&data, None).arg("init"));
    let files = Files::new(dir.path(), &data);
    let tsu = Tsu::load(&data);
    let client = http_client();

    let mut server = Server::start({
        let mut command = qtsp(&data, None);
        command.env("QTSP_TSA_REQUIRE_CLOCK_SYNC", "false");
        command
    });
    interop(&server, &client, &files, &tsu).await;
    rejections(&mut server, &client, &files).await;
    server.stop().await;

    clock_guard(&data, &client, &tsu).await;
    run_ok(qtsp(&data, None).args(["audit", "verify"]));
    tsa_check(&data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tokens_are_unique_and_recorded_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    burst_and_records(&dir.path().join("var"), None, None, 2000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tokens_are_unique_and_recorded_on_postgresql() {
    let Some((storage, url)) = common::db::postgres_storage_with_url().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    burst_and_records(&dir.path().join("var"), Some(&url), Some(storage), 300).await;
}
