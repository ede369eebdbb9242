//! Area 4: concurrency and records. Many tokens with 64 requests in flight, all granted with
//! distinct serials; after shutdown each has its record, the `timestamp_batch` events account
//! for every one, and `qtsp audit verify` passes, the rows of every batch included, from the
//! database and from an exported bundle; `qtsp tsa show` finds a token's record and entry.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use der::Encode;
use qtsp::storage::{Storage, TimestampSerial};
use time::OffsetDateTime;

use crate::common;
use crate::processes::{QUERY, Server, http_client, post, qtsp, run_ok, sqlite};
use crate::tokens::{BASELINE_POLICY, Hash, assert_serial, granted, hand_built};

/// What the client learnt of one granted token.
struct Issued {
    serial: Vec<u8>,
    hash: Hash,
    imprint: Vec<u8>,
    gen_time: OffsetDateTime,
}

/// `total` tokens, `in_flight` requests at a time, each checked as it comes back.
async fn issue_concurrently(url: &str, total: usize, in_flight: usize) -> Vec<Issued> {
    let client = http_client();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (client, next, url) = (client.clone(), next.clone(), url.to_owned());
            tokio::spawn(async move {
                let mut issued = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return issued;
                    }
                    let hash = Hash::ALL[i % 3];
                    let imprint = hash.digest(format!("document {i}").as_bytes());
                    let request =
                        hand_built(hash.oid(), imprint.clone(), Some(i as u64), i % 2 == 0);
                    let answer = post(&client, &url, Some(QUERY), request.to_der().unwrap()).await;
                    assert_eq!(answer.status, 200, "request {i}");
                    let token = granted(&answer.body);
                    let info = &token.tst_info;
                    assert_eq!(info.message_imprint, request.message_imprint, "request {i}");
                    assert_eq!(info.nonce, request.nonce, "request {i}");
                    assert_eq!(token.signed_data.certificates.is_some(), i % 2 == 0);
                    assert_serial(&info.serial_number);
                    issued.push(Issued {
                        serial: info.serial_number.as_bytes().to_vec(),
                        hash,
                        imprint,
                        gen_time: info.gen_time.to_offset_date_time(),
                    });
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    all
}

/// Runs the burst against a server on `data` (and `database_url`), stops it, and checks the
/// records in `storage` and the journal.
pub(crate) async fn burst_and_records(
    data: &Path,
    database_url: Option<&str>,
    storage: Option<Storage>,
    total: usize,
) {
    run_ok(qtsp(data, database_url).arg("init"));
    let server = Server::start({
        let mut command = qtsp(data, database_url);
        command.env("QTSP_TSA_REQUIRE_CLOCK_SYNC", "false");
        command
    });
    let issued = issue_concurrently(&server.tsa_url(), total, 64).await;
    assert_eq!(issued.len(), total);
    let serials: HashSet<&[u8]> = issued.iter().map(|t| t.serial.as_slice()).collect();
    assert_eq!(serials.len(), total, "serial numbers repeat");
    // The metrics count every answer (POST /tsa is answered before the router and its metrics
    // middleware: the route counts itself).
    let metrics =
        common::metrics::metrics_text(&http_client(), &format!("http://{}/metrics", server.public))
            .await;
    assert_eq!(
        common::metrics::metric_in(&metrics, "qtsp_timestamps_total{outcome=\"granted\"}"),
        total as u64
    );
    assert_eq!(
        common::metrics::metric_in(
            &metrics,
            "qtsp_http_requests_total{listener=\"public\",status=\"2xx\"}"
        ),
        total as u64
    );
    // The recorder's commits: every token record in one of them, each commit in a bucket.
    let committed = common::metrics::metric_in(&metrics, "qtsp_tsa_committed_records_total");
    assert_eq!(committed, total as u64);
    let commits = common::metrics::metric_in(&metrics, "qtsp_tsa_commit_seconds_count");
    assert_eq!(
        common::metrics::metric_in(&metrics, "qtsp_tsa_commit_seconds_bucket{le=\"+Inf\"}"),
        commits
    );
    // Each granted token's two waits, one observation per token in each histogram.
    for stage in [
        "qtsp_tsa_signature_wait_seconds",
        "qtsp_tsa_record_wait_seconds",
    ] {
        let count = common::metrics::metric_in(&metrics, &format!("{stage}_count"));
        assert_eq!(count, total as u64, "{stage}");
        assert_eq!(
            common::metrics::metric_in(&metrics, &format!("{stage}_bucket{{le=\"+Inf\"}}")),
            count,
            "{stage}"
        );
    }
    server.stop().await;

    let storage = match storage {
        Some(storage) => storage,
        None => sqlite(data).await,
    };
    assert_eq!(storage.count_timestamps().await.unwrap(), total as u64);
    for token in &issued {
        let serial = TimestampSerial::from_der_content(token.serial.clone()).unwrap();
        let record = storage
            .timestamp(&serial)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no record for serial {serial}"));
        assert_eq!(record.serial, serial);
        assert_eq!(record.message_imprint, token.imprint, "{serial}");
        assert_eq!(
            &*record.hash_alg_oid,
            token.hash.oid().to_string(),
            "{serial}"
        );
        assert_eq!(&*record.policy_oid, BASELINE_POLICY, "{serial}");
        assert_eq!(record.gen_time, token.gen_time, "{serial}");
        assert_eq!(record.requester.as_deref(), Some("127.0.0.1"), "{serial}");
    }

    let records = common::audit::all_records(&storage).await;
    storage.close().await;
    let batches: Vec<u64> = records
        .iter()
        .filter(|r| r.event_type == "timestamp_batch")
        .map(|r| {
            let payload: serde_json::Value = serde_json::from_str(&r.payload).unwrap();
            payload["count"]
                .as_u64()
                .unwrap_or_else(|| panic!("no count in {payload}"))
        })
        .collect();
    assert_eq!(batches.iter().sum::<u64>(), total as u64, "{batches:?}");
    assert_eq!(
        batches.len() as u64,
        commits,
        "one timestamp_batch event per commit"
    );
    eprintln!("{total} tokens recorded in {} batches", batches.len());
    let report = run_ok(qtsp(data, database_url).args(["audit", "verify"]));
    assert!(report.contains("INTACT"), "{report}");
    // Every batch's rows, read back from the table, hash to its journaled digest.
    assert!(
        report.contains("time-stamp records: MATCH THE JOURNAL"),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "batches checked: {} ({total} tokens); rows in the table: {total}\n",
            batches.len()
        )),
        "{report}"
    );
    // The same rows in an exported bundle, checked without the database.
    let bundle = tempfile::tempdir().unwrap();
    let exported = run_ok(
        qtsp(data, database_url)
            .args(["audit", "export", "--out"])
            .arg(bundle.path()),
    );
    assert!(
        exported.contains(&format!(
            "the {total} rows of {} time-stamp batches",
            batches.len()
        )),
        "{exported}"
    );
    let report = run_ok(
        qtsp(data, database_url)
            .args(["audit", "verify", "--bundle"])
            .arg(bundle.path()),
    );
    assert!(
        report.contains("time-stamp records: MATCH THE JOURNAL"),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "batches checked: {} ({total} tokens); rows in timestamps.txt: {total}\n",
            batches.len()
        )),
        "{report}"
    );

    // An operator's lookup of one token: its record, its batch, its journal entry.
    let token = &issued[total / 2];
    let serial = TimestampSerial::from_der_content(token.serial.clone()).unwrap();
    let shown = run_ok(
        qtsp(data, database_url)
            .args(["tsa", "show", "--serial"])
            .arg(serial.to_hex()),
    );
    for line in [
        format!("time-stamp {}\n", serial.to_hex()),
        format!(
            "  imprint    {} {}\n",
            token.hash.oid(),
            hex::encode(&token.imprint)
        ),
        "  requester  127.0.0.1".to_owned(),
        "its rows match the entry's records_sha256\n".to_owned(),
    ] {
        assert!(shown.contains(&line), "{line:?} not in\n{shown}");
    }
    for (serial, code) in [("7e7e7e7e", "APP007"), ("7E7E", "APP003")] {
        let out = qtsp(data, database_url)
            .args(["tsa", "show", "--serial", serial])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(code),
            "{serial}: {stderr}"
        );
    }
}
