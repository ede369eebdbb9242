//! The processes and clients the tests drive: `qtsp init` and `qtsp serve`, HTTP, the SQLite
//! database of a data dir, and the `openssl` command line.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qtsp::storage::{Storage, StorageOptions};

const QTSP: &str = env!("CARGO_BIN_EXE_qtsp");

pub(crate) const QUERY: &str = "application/timestamp-query";
pub(crate) const REPLY: &str = "application/timestamp-reply";

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// `qtsp` on `data`, with ephemeral ports and the TSA settings left to the policy file.
pub(crate) fn qtsp(data: &Path, database_url: Option<&str>) -> Command {
    let mut command = Command::new(QTSP);
    command
        .env("QTSP_DATA_DIR", data)
        .env("QTSP_PUBLIC_LISTEN", "127.0.0.1:0")
        .env("QTSP_API_LISTEN", "127.0.0.1:0")
        .env("QTSP_LOG", "warn")
        .env_remove("QTSP_TSA_REQUIRE_CLOCK_SYNC")
        .env_remove("QTSP_TSA_POLICY_OID")
        .env_remove("QTSP_TSA_ACCURACY_MS")
        .env_remove("QTSP_TSA_CLOCK_REPORT_SECONDS")
        .stdin(Stdio::null());
    match database_url {
        Some(url) => command.env("QTSP_DATABASE_URL", url),
        None => command.env_remove("QTSP_DATABASE_URL"),
    };
    command
}

pub(crate) fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A running `qtsp serve` (started and killed by [`common::process::Server`]) whose standard error
/// is kept for the failure messages; killed if the test fails before [`Server::stop`].
pub(crate) struct Server {
    process: crate::common::process::Server,
    pub(crate) public: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Runs `command serve` and waits for its listeners' addresses on stderr.
    pub(crate) fn start(command: Command) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let process = crate::common::process::Server::start_inspecting(command, {
            let log = log.clone();
            move |line| log.lock().unwrap().push(line.to_owned())
        });
        Self {
            public: process.public,
            process,
            log,
        }
    }

    pub(crate) fn tsa_url(&self) -> String {
        format!("http://{}/tsa", self.public)
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub(crate) fn assert_running(&mut self) {
        let exit = self.process.try_wait();
        assert!(
            exit.is_none(),
            "qtsp serve exited ({exit:?}):\n{}",
            self.log()
        );
    }

    /// SIGTERM, then a clean exit: in-flight requests answered, records and journal written.
    pub(crate) async fn stop(mut self) {
        self.process.send_term();
        let deadline = Instant::now() + Duration::from_secs(30);
        let exit = loop {
            if let Some(exit) = self.process.try_wait() {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "qtsp serve ignored SIGTERM:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        assert!(
            exit.success(),
            "qtsp serve exited with {exit}:\n{}",
            self.log()
        );
    }
}

pub(crate) fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

/// An HTTP answer: status, Content-Type, body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
}

pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let mut request = client.post(url).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.bytes().await.unwrap().to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

pub(crate) async fn sqlite(data: &Path) -> Storage {
    Storage::open_sqlite(&data.join("qtsp.db"), StorageOptions::default())
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// openssl
// ---------------------------------------------------------------------------------------------

pub(crate) fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().unwrap()
}

pub(crate) fn shown(args: &[&str], output: &Output) -> String {
    format!(
        "openssl {} ({}):\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs openssl, fails with its whole output unless it succeeds; returns stdout.
pub(crate) fn openssl_ok(args: &[&str]) -> String {
    let output = openssl(args);
    assert!(output.status.success(), "{}", shown(args, &output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The `Nonce:` line of openssl's text output.
pub(crate) fn nonce_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("Nonce:"))
        .unwrap_or_else(|| panic!("no Nonce line in\n{text}"))
}
