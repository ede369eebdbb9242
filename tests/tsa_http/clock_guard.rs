//! Area 3: the clock guard. A server that checks the clock refuses every request with
//! `timeNotAvailable` on an unsynchronized kernel clock, and the journal holds one
//! `clock_unsynchronized` record for the run and, at the stop, a `clock_status` statement of what
//! was read; `qtsp tsa check` gives the same verdict.

use std::path::Path;
use std::time::Duration;

use der::Encode;
use qtsp::pki::tsp::PkiFailureInfo;
use time::OffsetDateTime;

use crate::common;
use crate::processes::{QUERY, Server, post, qtsp, run_ok, sqlite};
use crate::tokens::{Hash, Tsu, check_token, granted, hand_built, rejected};

pub(crate) async fn clock_guard(data: &Path, client: &reqwest::Client, tsu: &Tsu) {
    // What the server will see; its TSA refuses unless synchronized within its accuracy (1 s).
    let kernel = qtsp::clock::kernel::read().unwrap();
    let trusted = kernel.synchronized() && kernel.max_error() <= Duration::from_secs(1);
    let first_seq = {
        let storage = sqlite(data).await;
        let head = storage.audit_head().await.unwrap();
        storage.close().await;
        head.seq + 1
    };

    // QTSP_TSA_REQUIRE_CLOCK_SYNC is not set: the check is on.
    let server = Server::start(qtsp(data, None));
    // Readiness tells a load balancer what the TSA would do.
    let ready = client
        .get(format!("http://{}/health/ready", server.public))
        .send()
        .await
        .unwrap();
    let ready_status = ready.status().as_u16();
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["hsm"]["ok"], true, "{body}");
    assert_eq!(body["checks"]["database"]["ok"], true, "{body}");
    if trusted {
        assert_eq!(ready_status, 200, "{body}");
        assert_eq!(body["checks"]["tsa"]["ok"], true, "{body}");
    } else {
        assert_eq!(ready_status, 503, "{body}");
        assert_eq!(body["status"], "not_ready", "{body}");
        assert_eq!(body["checks"]["tsa"]["ok"], false, "{body}");
        let error = body["checks"]["tsa"]["error"].as_str().unwrap();
        assert!(error.starts_with("TSA201"), "{body}");
    }
    for i in 0..3u64 {
        let request = hand_built(
            Hash::Sha256.oid(),
            Hash::Sha256.digest(&i.to_be_bytes()),
            Some(i),
            i % 2 == 0,
        );
        let before = OffsetDateTime::now_utc();
        let answer = post(
            client,
            &server.tsa_url(),
            Some(QUERY),
            request.to_der().unwrap(),
        )
        .await;
        let after = OffsetDateTime::now_utc();
        assert_eq!(answer.status, 200, "{}", server.log());
        if trusted {
            check_token(&granted(&answer.body), &request, tsu, before, after);
        } else {
            let (fail_info, text) = rejected(&answer.body);
            assert_eq!(
                fail_info,
                PkiFailureInfo::TIME_NOT_AVAILABLE,
                "{kernel:?}: {text}"
            );
            assert!(text.starts_with("TSA201"), "{text}");
        }
    }
    server.stop().await;

    let storage = sqlite(data).await;
    let records: Vec<_> = common::audit::all_records(&storage)
        .await
        .into_iter()
        .filter(|r| r.seq >= first_seq)
        .collect();
    storage.close().await;
    let types: Vec<&str> = records.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(types.first(), Some(&"service_started"), "{types:?}");
    assert!(types.contains(&"service_stopped"), "{types:?}");
    // The stop journals what the monitor read of the clock over the run (the period is an hour).
    let statements: Vec<serde_json::Value> = records
        .iter()
        .filter(|r| r.event_type == "clock_status")
        .map(|r| serde_json::from_str(&r.payload).unwrap())
        .collect();
    assert_eq!(statements.len(), 1, "{types:?}");
    let statement = &statements[0];
    assert_eq!(statement["source"], "kernel", "{statement}");
    assert_eq!(statement["enforced"], true, "{statement}");
    assert_eq!(statement["accuracy_us"], 1_000_000, "{statement}");
    assert!(statement["readings"].as_u64().unwrap() >= 1, "{statement}");
    let position = |t: &str| types.iter().position(|x| *x == t).unwrap();
    assert!(
        position("clock_status") < position("service_stopped"),
        "{types:?}"
    );
    let episodes: Vec<_> = records
        .iter()
        .filter(|r| r.event_type == "clock_unsynchronized")
        .collect();
    if trusted {
        eprintln!(
            "note: the kernel clock is synchronized here ({kernel:?}); tokens were granted \
             and the timeNotAvailable path was not exercised"
        );
        assert!(episodes.is_empty(), "{episodes:?}");
        assert!(types.contains(&"timestamp_batch"), "{types:?}");
        assert_eq!(
            statement["within_accuracy"], statement["readings"],
            "{statement}"
        );
    } else {
        assert_eq!(
            episodes.len(),
            1,
            "one clock_unsynchronized record for the whole run, not one per request: {types:?}"
        );
        let payload: serde_json::Value = serde_json::from_str(&episodes[0].payload).unwrap();
        assert_eq!(payload["source"], "kernel", "{payload}");
        assert!(
            payload["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("not synchronized"),
            "{payload}"
        );
        assert!(!types.contains(&"timestamp_batch"), "{types:?}");
        assert_eq!(statement["within_accuracy"], 0, "{statement}");
    }
}

/// `qtsp tsa check`: the self-test passes, the verdict follows the kernel's clock, and nothing is
/// written to the journal.
pub(crate) async fn tsa_check(data: &Path) {
    let head = sqlite(data).await.audit_head().await.unwrap();
    let relaxed = run_ok(
        qtsp(data, None)
            .args(["tsa", "check"])
            .env("QTSP_TSA_REQUIRE_CLOCK_SYNC", "false"),
    );
    assert!(relaxed.contains("self-test passed"), "{relaxed}");
    assert!(relaxed.contains("policy     0.4.0.2023.1.1"), "{relaxed}");

    let strict = qtsp(data, None).args(["tsa", "check"]).output().unwrap();
    let kernel = qtsp::clock::kernel::read().unwrap();
    let in_sync = kernel.synchronized() && kernel.max_error() <= Duration::from_secs(1);
    let stdout = String::from_utf8_lossy(&strict.stdout);
    let stderr = String::from_utf8_lossy(&strict.stderr);
    if in_sync {
        assert!(strict.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains("time-stamps are issued"), "{stdout}");
    } else {
        assert_eq!(strict.status.code(), Some(1), "{stdout}{stderr}");
        assert!(stdout.contains("REFUSED (timeNotAvailable)"), "{stdout}");
        assert!(stderr.contains("APP006"), "{stderr}");
    }
    assert_eq!(
        sqlite(data).await.audit_head().await.unwrap(),
        head,
        "a check writes nothing"
    );
}
