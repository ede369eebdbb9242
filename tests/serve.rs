//! End to end: `qtsp init` on a fresh data dir (real SoftHSM2 token, SQLite, TLS pair), `qtsp serve`
//! answering health checks over real TLS, protocol limits, and graceful shutdown on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{QTSP, Server};

fn qtsp(data_dir: &Path) -> Command {
    let mut command = Command::new(QTSP);
    command
        .env("QTSP_DATA_DIR", data_dir)
        .env("QTSP_PUBLIC_LISTEN", "127.0.0.1:0")
        .env("QTSP_API_LISTEN", "127.0.0.1:0")
        .env("QTSP_LOG", "warn")
        // The machine's clock is not synchronized: without this the TSA, and so readiness,
        // refuse (tests/tsa_http/ checks that case).
        .env("QTSP_TSA_REQUIRE_CLOCK_SYNC", "false")
        .env_remove("QTSP_DATABASE_URL")
        .stdin(Stdio::null());
    command
}

fn init(data_dir: &Path) -> String {
    let output = qtsp(data_dir).arg("init").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "qtsp init failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn serve(data_dir: &Path) -> Server {
    Server::start(qtsp(data_dir))
}

fn tls_client(data_dir: &Path) -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pem = std::fs::read(data_dir.join("tls/api.crt")).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_is_idempotent_then_serve_answers_over_tls_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");

    let first = init(&data);
    assert!(first.contains("created"), "{first}");
    assert!(first.contains("key-encryption key"), "{first}");
    for secret in ["hsm/so.pin", "hsm/user.pin", "tls/api.key"] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(data.join(secret)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{secret}");
    }
    let pin = std::fs::read_to_string(data.join("hsm/user.pin")).unwrap();
    let second = init(&data);
    assert!(
        !second.contains("created"),
        "second init changed something:\n{second}"
    );
    assert!(!first.contains(pin.trim()) && !second.contains(pin.trim()));

    let mut server = serve(&data);
    let client = tls_client(&data);

    // Readiness over real TLS: a logged-in HSM session and the database answer.
    let ready = client
        .get(format!(
            "https://localhost:{}/health/ready",
            server.api.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["hsm"]["ok"], true, "{body}");
    assert_eq!(body["checks"]["database"]["ok"], true, "{body}");
    // The TSA (clock check off here) and the OCSP responders, whose certificates are fresh.
    assert_eq!(body["checks"]["tsa"]["ok"], true, "{body}");
    assert_eq!(body["checks"]["ocsp"]["ok"], true, "{body}");
    assert!(body["checks"]["tsa"].get("warning").is_none(), "{body}");
    assert!(body["checks"]["ocsp"].get("warning").is_none(), "{body}");

    // The public listener is plain HTTP.
    let plain = reqwest::Client::new();
    let live = plain
        .get(format!("http://{}/health/live", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);

    // The hierarchy's certificates are served as DER, byte for byte what init wrote.
    let root = plain
        .get(format!("http://{}/certs/root.crt", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 200);
    assert_eq!(root.headers()["content-type"], "application/pkix-cert");
    assert_eq!(
        root.bytes().await.unwrap().as_ref(),
        std::fs::read(data.join("certs/root.crt")).unwrap()
    );
    let none = plain
        .get(format!("http://{}/certs/nobody.crt", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);
    let metrics = plain
        .get(format!("http://{}/metrics", server.public))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("qtsp_http_requests_total{listener=\"public\",status=\"2xx\"}"));

    // Unknown paths answer the CSC error JSON.
    let missing = client
        .get(format!(
            "https://localhost:{}/csc/v9/nothing",
            server.api.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");

    // Bodies over the limit are refused from their announced length, before they are read (a raw
    // client: a real one may still be writing when the refusal closes the connection).
    let answer = {
        use std::io::{Read, Write};
        let mut socket = std::net::TcpStream::connect(server.public).unwrap();
        socket
            .write_all(
                b"POST /health/live HTTP/1.1\r\nHost: qtsp\r\nContent-Length: 2097152\r\n\r\n",
            )
            .unwrap();
        let mut head = [0u8; 12];
        socket.read_exact(&mut head).unwrap();
        String::from_utf8_lossy(&head).into_owned()
    };
    assert_eq!(answer, "HTTP/1.1 413", "{answer}");

    // TLS below 1.2 is refused; 1.3 is accepted (openssl as an independent client).
    let s_client = |version: &str| {
        Command::new("openssl")
            .args(["s_client", "-connect", &server.api.to_string(), version])
            .arg("-CAfile")
            .arg(data.join("tls/api.crt"))
            .args(["-verify_return_error", "-servername", "localhost"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let tls13 = s_client("-tls1_3");
    assert!(
        tls13.status.success(),
        "{}",
        String::from_utf8_lossy(&tls13.stdout)
    );
    assert!(String::from_utf8_lossy(&tls13.stdout).contains("TLSv1.3"));
    assert!(!s_client("-tls1_1").status.success());

    // A request in flight when SIGTERM arrives still gets its answer; then the process exits cleanly.
    let in_flight = {
        let client = client.clone();
        let url = format!("https://localhost:{}/health/ready", server.api.port());
        tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
    };
    server.send_term();
    let status = in_flight.await.unwrap();
    if let Ok(status) = status {
        assert_eq!(status, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = server.try_wait() {
            break exit;
        }
        assert!(Instant::now() < deadline, "qtsp serve ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "qtsp serve exited with {exit}");
    // The journal recorded the start and the stop, under a final signed checkpoint.
    let report = qtsp(&data).args(["audit", "verify"]).output().unwrap();
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    assert!(report.contains("INTACT"), "{report}");
    // Only the announcement of the last checkpoint itself is outside it.
    let last_line = report
        .lines()
        .find(|l| l.contains("records:"))
        .unwrap()
        .to_owned();
    let total: u64 = last_line
        .split("..=")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        report.contains(&format!("the last over record {}", total - 1)),
        "{report}"
    );
}

#[test]
fn serve_without_init_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let output = qtsp(&dir.path().join("var")).arg("serve").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("qtsp init"), "{stderr}");
}

#[test]
fn bad_config_file_exits_2_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qtsp.toml");
    std::fs::write(&path, "version = 1\n[server]\napi_listen = \"nowhere\"\n").unwrap();
    let output = Command::new(QTSP)
        .arg("--config")
        .arg(&path)
        .args(["hsm", "check"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.api_listen"), "{stderr}");
}
