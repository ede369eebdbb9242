//! OCSP end to end: `qtsp init`, natural-person certificates issued through the CA pipeline
//! (`qtsp bench issue`), one revoked through the storage API, then `qtsp serve` answering
//! `POST /ocsp` and `GET /ocsp/{base64}`. Judged by independent tools: `openssl ocsp` as the
//! client (signature, responder authorisation, nonce, statuses) and pkilint's
//! `lint_ocsp_response` (no ERROR or FATAL). The pre-signed response cache is checked through
//! the responder's metrics: identical no-nonce answers cost one signature, a revocation made
//! behind the server's back shows in the next answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::process::{Server, init_with_people, qtsp, storage};

use base64::Engine as _;
use common::metrics::metric;
use common::ocsp::{get_query, lint, ocsp, query};
use common::pki::{openssl, write_cert};
use qtsp::storage::{CertificateRecord, RevocationReason, RevocationRequest, Storage};
use time::OffsetDateTime;

async fn revoke(db: &Storage, certificate: &CertificateRecord, reason: RevocationReason) {
    db.revoke(&RevocationRequest {
        serial: certificate.serial.clone(),
        reason,
        revoked_at: OffsetDateTime::now_utc(),
        invalidity_date: None,
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsp_answers_good_revoked_unknown_and_unauthorized_to_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let data = tmp.join("var");
    let people = init_with_people(&data, 2).await;
    let db = storage(&data).await;
    let (_, good_pem) = write_cert(tmp, "good", people[0].der.as_ref().unwrap());
    let (_, revoked_pem) = write_cert(tmp, "revoked", people[1].der.as_ref().unwrap());
    revoke(&db, &people[1], RevocationReason::KeyCompromise).await;
    // Never issued: a serial of 20 random-looking octets.
    let unknown_serial = "0x5a17c0ffee0ddba11deadbeef0123456789abcde";
    assert!(
        people
            .iter()
            .all(|p| !p.serial.to_hex().ends_with("0123456789abcde"))
    );

    let certs = data.join("certs");
    let issuer = certs.join("qualified-ca.pem");
    let chain = tmp.join("chain.pem");
    std::fs::write(
        &chain,
        [
            std::fs::read_to_string(certs.join("root.pem")).unwrap(),
            std::fs::read_to_string(&issuer).unwrap(),
        ]
        .concat(),
    )
    .unwrap();

    let server = Server::start(qtsp(&data));
    let url = format!("http://{}/ocsp", server.public);
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::new();

    // POST, with and without a nonce: good, revoked (with its reason), unknown.
    for nonce in [&[][..], &["-no_nonce"][..]] {
        let suffix = if nonce.is_empty() {
            "nonce"
        } else {
            "no-nonce"
        };
        let good = tmp.join(format!("good-{suffix}.der"));
        let text = query(
            &url,
            &issuer,
            &chain,
            &["-cert", good_pem.to_str().unwrap()],
            nonce,
            &good,
        );
        assert!(text.contains("good.pem: good"), "{text}");
        assert!(text.contains("Responder Id: "), "{text}");
        assert!(text.contains("Next Update:"), "{text}");
        assert!(text.contains("Archive Cutoff"), "{text}");
        assert!(text.contains("ecdsa-with-SHA256"), "{text}");
        assert_eq!(text.contains("OCSP Nonce"), nonce.is_empty(), "{text}");

        let revoked = tmp.join(format!("revoked-{suffix}.der"));
        let text = query(
            &url,
            &issuer,
            &chain,
            &["-cert", revoked_pem.to_str().unwrap()],
            nonce,
            &revoked,
        );
        assert!(text.contains("revoked.pem: revoked"), "{text}");
        assert!(text.contains("Reason: keyCompromise"), "{text}");
        assert!(text.contains("Revocation Time:"), "{text}");

        let unknown = tmp.join(format!("unknown-{suffix}.der"));
        let text = query(
            &url,
            &issuer,
            &chain,
            &["-serial", unknown_serial],
            nonce,
            &unknown,
        );
        assert!(text.contains(": unknown"), "{text}");
    }
    // SHA-256 CertIDs and two certificates in one request.
    let both = tmp.join("both.der");
    let text = query(
        &url,
        &issuer,
        &chain,
        &[
            "-sha256",
            "-cert",
            good_pem.to_str().unwrap(),
            "-cert",
            revoked_pem.to_str().unwrap(),
        ],
        &[],
        &both,
    );
    assert!(text.contains("good.pem: good"), "{text}");
    assert!(text.contains("revoked.pem: revoked"), "{text}");
    assert!(text.contains("Hash Algorithm: sha256"), "{text}");

    for name in [
        "good-no-nonce",
        "revoked-no-nonce",
        "unknown-no-nonce",
        "good-nonce",
    ] {
        lint(&tmp.join(format!("{name}.der")));
    }

    // GET /ocsp/{base64}: a request made by openssl, answered with caching headers.
    for (nonce, name) in [(true, "get-nonce"), (false, "get")] {
        let answer = get_query(
            &client,
            &url,
            &issuer,
            &chain,
            &good_pem,
            nonce,
            &tmp.join(format!("{name}-req.der")),
            &tmp.join(format!("{name}.der")),
        )
        .await;
        let cache_control = answer.headers["cache-control"].to_str().unwrap().to_owned();
        if nonce {
            assert_eq!(cache_control, "no-cache");
        } else {
            let max_age: i64 = cache_control
                .split("max-age=")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .unwrap()
                .parse()
                .unwrap();
            assert!((3000..=3600).contains(&max_age), "{cache_control}");
            assert!(answer.headers.contains_key("last-modified"));
            assert!(
                answer.headers["expires"]
                    .to_str()
                    .unwrap()
                    .ends_with(" GMT")
            );
        }
        assert!(answer.text.contains("good.pem: good"), "{}", answer.text);
    }
    // The same request unencoded ('/' and '+' as they are) is found too, when it has them.
    let b64 = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(tmp.join("get-req.der")).unwrap());
    let response = client.get(format!("{url}/{b64}")).send().await.unwrap();
    assert_eq!(response.status(), 200, "{b64}");
    let body = response.bytes().await.unwrap();
    let decoded = <qtsp::pki::ocsp::OcspResponse as der::Decode>::from_der(&body).unwrap();
    assert_eq!(
        decoded.response_status,
        qtsp::pki::ocsp::OcspResponseStatus::Successful
    );

    // A CA that is not ours: unauthorized.
    let other_key = tmp.join("other.key");
    let other = tmp.join("other.pem");
    let (ok, _, err) = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        other_key.to_str().unwrap(),
        "-out",
        other.to_str().unwrap(),
        "-subj",
        "/CN=Someone Else CA",
        "-days",
        "1",
    ]);
    assert!(ok, "{err}");
    let (ok, text) = ocsp(&[
        "-issuer",
        other.to_str().unwrap(),
        "-serial",
        "0x01",
        "-url",
        &url,
    ]);
    assert!(!ok, "{text}");
    assert!(text.contains("unauthorized"), "{text}");

    // Not an OCSP request: malformedRequest, HTTP 200; wrong content type: 415.
    let response = client
        .post(&url)
        .header("content-type", "application/ocsp-request")
        .body(b"\x30\x03\x02\x01\x00".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/ocsp-response"
    );
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        [0x30, 0x03, 0x0a, 0x01, 0x01]
    );
    let response = client
        .post(&url)
        .header("content-type", "application/octet-stream")
        .body(std::fs::read(tmp.join("get-req.der")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        [0x30, 0x03, 0x0a, 0x01, 0x01]
    );
    // Bad base64 in a GET: malformedRequest, HTTP 200.
    let response = client
        .get(format!("{url}/not%20base64!"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        [0x30, 0x03, 0x0a, 0x01, 0x01]
    );

    // The pre-signed response cache. Every no-nonce request for `good` above (POST and GET, same
    // SHA-1 CertID) was signed once: two more are byte-identical to the first and cost no
    // signature.
    let metrics_url = format!("http://{}/metrics", server.public);
    let signatures = metric(&client, &metrics_url, "qtsp_ocsp_signatures_total").await;
    let hits = metric(&client, &metrics_url, "qtsp_ocsp_cache_hits_total").await;
    let first_good = std::fs::read(tmp.join("good-no-nonce.der")).unwrap();
    for i in 0..2 {
        let again = tmp.join(format!("good-again-{i}.der"));
        let text = query(
            &url,
            &issuer,
            &chain,
            &["-cert", good_pem.to_str().unwrap()],
            &["-no_nonce"],
            &again,
        );
        assert!(text.contains("good.pem: good"), "{text}");
        assert_eq!(std::fs::read(&again).unwrap(), first_good);
    }
    assert_eq!(
        metric(&client, &metrics_url, "qtsp_ocsp_signatures_total").await,
        signatures
    );
    assert_eq!(
        metric(&client, &metrics_url, "qtsp_ocsp_cache_hits_total").await,
        hits + 2
    );
    // A nonce is always signed fresh, and echoed.
    for i in 0..2 {
        let fresh = tmp.join(format!("good-fresh-{i}.der"));
        let text = query(
            &url,
            &issuer,
            &chain,
            &["-cert", good_pem.to_str().unwrap()],
            &[],
            &fresh,
        );
        assert!(text.contains("OCSP Nonce"), "{text}");
        assert!(text.contains("good.pem: good"), "{text}");
    }
    assert_eq!(
        metric(&client, &metrics_url, "qtsp_ocsp_signatures_total").await,
        signatures + 2
    );
    // Revoked by "another process" (this test, through the database): the very next no-nonce
    // answer says revoked, signed anew; the one after comes from the cache again.
    revoke(&db, &people[0], RevocationReason::Superseded).await;
    for i in 0..2 {
        let after = tmp.join(format!("good-revoked-{i}.der"));
        let text = query(
            &url,
            &issuer,
            &chain,
            &["-cert", good_pem.to_str().unwrap()],
            &["-no_nonce"],
            &after,
        );
        assert!(text.contains("good.pem: revoked"), "{text}");
        assert!(text.contains("Reason: superseded"), "{text}");
    }
    assert_eq!(
        std::fs::read(tmp.join("good-revoked-0.der")).unwrap(),
        std::fs::read(tmp.join("good-revoked-1.der")).unwrap()
    );
    assert_eq!(
        metric(&client, &metrics_url, "qtsp_ocsp_signatures_total").await,
        signatures + 3
    );
    lint(&tmp.join("good-revoked-1.der"));

    drop(server);
    db.close().await;
}
