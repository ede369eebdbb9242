//! Running the `qtsp` binary from the tests: a command with an isolated environment, and
//! `qtsp serve` as a child process whose listener addresses are read from its standard error.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qtsp::storage::{CertificateRecord, CertificateState, Storage, StorageOptions};

pub const QTSP: &str = env!("CARGO_BIN_EXE_qtsp");

/// `qtsp` on `data_dir` (SQLite), listeners on free loopback ports, nothing inherited that
/// would change what the test expects.
pub fn qtsp(data_dir: &Path) -> Command {
    let mut command = Command::new(QTSP);
    command
        .env("QTSP_DATA_DIR", data_dir)
        .env("QTSP_PUBLIC_LISTEN", "127.0.0.1:0")
        .env("QTSP_API_LISTEN", "127.0.0.1:0")
        .env("QTSP_LOG", "warn")
        // Certificates must name public URLs: ETSI lints refuse internal names such as 127.0.0.1.
        .env("QTSP_PUBLIC_BASE_URL", "http://qtsp.example.eu")
        .env("QTSP_PDS_BASE_URL", "https://qtsp.example.eu/pds")
        .env_remove("QTSP_DATABASE_URL")
        .env_remove("QTSP_ADMIN_TOKEN_SHA256")
        // These machines report an unsynchronized kernel clock (STA_UNSYNC): with the check on,
        // the TSA refuses every request and readiness says so. tests/tsa_http/ turns it on.
        .env("QTSP_TSA_REQUIRE_CLOCK_SYNC", "false")
        .stdin(Stdio::null());
    command
}

/// Runs `command`, which must succeed; returns its standard output.
pub fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The SQLite database of a data directory.
pub async fn storage(data_dir: &Path) -> Storage {
    Storage::open_sqlite(&data_dir.join("qtsp.db"), StorageOptions::default())
        .await
        .unwrap()
}

/// `qtsp init` on `data_dir`, then a few qualified natural-person certificates through the CA
/// pipeline (`qtsp bench issue`, half a second, one at a time): the issued ones, at least
/// `at_least` of them.
pub async fn init_with_people(data_dir: &Path, at_least: usize) -> Vec<CertificateRecord> {
    run_ok(qtsp(data_dir).arg("init"));
    run_ok(qtsp(data_dir).args([
        "bench",
        "issue",
        "--seconds",
        "0.5",
        "--concurrency",
        "1",
        "--no-baseline",
    ]));
    let db = storage(data_dir).await;
    let people: Vec<CertificateRecord> = db
        .certificates_by_issuer("qualified-ca", None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.profile == "qualified-natural-person" && c.state == CertificateState::Issued)
        .collect();
    db.close().await;
    assert!(
        people.len() >= at_least,
        "only {} certificates issued",
        people.len()
    );
    people
}

/// A running `qtsp serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub public: SocketAddr,
    pub api: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Sends SIGTERM, without waiting.
    pub fn send_term(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// How the process exited, if it has.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// SIGTERM, then waits (up to 30 s) for the process to exit; returns how it exited.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.send_term();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return exit;
            }
            assert!(Instant::now() < deadline, "qtsp serve ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `command serve`, once both listeners are announced.
    pub fn start(command: Command) -> Server {
        Self::start_inspecting(command, |_| {})
    }

    /// Like [`Server::start`]; every later line of the server's standard error is passed to
    /// `inspect` (e.g. to assert that a secret never reaches the logs) before it is echoed.
    pub fn start_inspecting(
        mut command: Command,
        inspect: impl Fn(&str) + Send + 'static,
    ) -> Server {
        let mut child = command
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = sender.send(line);
            }
        });
        let (mut public, mut api) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while public.is_none() || api.is_none() {
            let line = receiver
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("qtsp serve did not print its listeners: {seen:#?}"));
            let address = |prefix: &str| {
                line.split(prefix)
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|a| a.parse::<SocketAddr>().ok())
            };
            if line.starts_with("qtsp: public listener") {
                public = address("http://");
            } else if line.starts_with("qtsp: API listener") {
                api = address("https://");
            }
            inspect(&line);
            seen.push(line);
        }
        // Keep draining standard error so that the child never blocks on a full pipe.
        std::thread::spawn(move || {
            while let Ok(line) = receiver.recv() {
                inspect(&line);
                eprintln!("[qtsp serve] {line}");
            }
        });
        Server {
            child,
            public: public.unwrap(),
            api: api.unwrap(),
        }
    }
}
