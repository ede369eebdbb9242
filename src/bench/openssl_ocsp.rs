//! openssl's own OCSP responder (`openssl ocsp -index ... -port ...`) as the yardstick of
//! `qtsp bench ocsp --openssl`.
//!
//! It gets a throwaway P-256 CA and delegated responder made with the openssl CLI in a temporary
//! directory (our responder key lives in the HSM and never leaves it), and an `index.txt` that
//! lists the bench's serial as valid, so that both servers answer "good" for the same serial
//! with a key of the same type. openssl's responder binds every interface; the bench therefore
//! refuses to start it outside a network namespace whose only interface is loopback.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use der::DecodePem;
use x509_cert::Certificate;

/// How to run the bench so that openssl's responder is reachable from loopback only.
pub const NAMESPACE_HINT: &str =
    "unshare -n sh -c 'ip link set lo up && qtsp bench ocsp --openssl'";

/// How long openssl's responder may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Why openssl's responder could not be set up. Messages start with a stable code (`BENCH01x`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpensslBenchError {
    #[error(
        "BENCH010 openssl's OCSP responder listens on every interface, and this network \
         namespace has {interfaces}: run the bench in a namespace with only loopback: {NAMESPACE_HINT}"
    )]
    NotIsolated { interfaces: String },
    #[error("BENCH011 loopback is not usable here ({source}): run `ip link set lo up` first")]
    LoopbackDown {
        #[source]
        source: std::io::Error,
    },
    #[error("BENCH012 `{command}` failed: {detail}")]
    Tool { command: String, detail: String },
    #[error("BENCH013 {what} ({path}): {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("BENCH014 openssl's OCSP responder did not start listening: {detail}")]
    NotListening { detail: String },
    #[error("BENCH015 the throwaway certificate for openssl is unusable: {0}")]
    Certificate(String),
}

/// The network interfaces of this process's namespace, from `/proc/self/net/dev` (which, unlike
/// `/sys/class/net`, follows the namespace of the reader after `unshare -n`).
fn interfaces() -> Result<Vec<String>, OpensslBenchError> {
    let path = PathBuf::from("/proc/self/net/dev");
    let text = std::fs::read_to_string(&path).map_err(|source| OpensslBenchError::Io {
        what: "cannot list the network interfaces",
        path,
        source,
    })?;
    Ok(parse_interfaces(&text))
}

/// Interface names from the text of `/proc/net/dev` (two header lines, then `name: counters`).
fn parse_interfaces(text: &str) -> Vec<String> {
    text.lines()
        .skip(2)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

/// Refuses unless loopback is the only interface and it carries a connection.
pub fn check_loopback_only() -> Result<(), OpensslBenchError> {
    let names = interfaces()?;
    if names.iter().any(|name| name != "lo") {
        return Err(OpensslBenchError::NotIsolated {
            interfaces: names.join(", "),
        });
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|source| OpensslBenchError::LoopbackDown { source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| OpensslBenchError::LoopbackDown { source })?;
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .map_err(|source| OpensslBenchError::LoopbackDown { source })?;
    Ok(())
}

/// Runs `openssl` with `args` in `dir`; its stderr on failure.
fn openssl(dir: &Path, args: &[&str]) -> Result<(), OpensslBenchError> {
    let command = format!("openssl {}", args.join(" "));
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| OpensslBenchError::Tool {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(OpensslBenchError::Tool {
            command,
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

/// A free TCP port on loopback (openssl's `-port` takes a number, not `0`).
fn free_port() -> Result<u16, OpensslBenchError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|source| OpensslBenchError::LoopbackDown { source })?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|source| OpensslBenchError::LoopbackDown { source })
}

/// A line of openssl's CA database: valid, expiring in a day, the serial in upper-case hex.
fn index_line(serial_hex: &str, expires: time::OffsetDateTime) -> String {
    let expiry = format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        expires.year().rem_euclid(100),
        u8::from(expires.month()),
        expires.day(),
        expires.hour(),
        expires.minute(),
        expires.second()
    );
    format!(
        "V\t{expiry}\t\t{}\tunknown\t/CN=qtsp bench certificate\n",
        serial_hex.to_ascii_uppercase()
    )
}

/// A directory removed (with what is in it) when dropped.
#[derive(Debug)]
struct Workdir(PathBuf);

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes, in `dir`, the throwaway P-256 CA (`ca.pem`), its delegated responder (`responder.pem`,
/// `responder.key`) and an `index.txt` that lists `serial_hex` as valid; returns the CA.
fn make_pki(
    dir: &Path,
    serial_hex: &str,
    now: time::OffsetDateTime,
) -> Result<Certificate, OpensslBenchError> {
    let p256 = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca_args = vec!["req", "-x509"];
    ca_args.extend(p256);
    ca_args.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=qtsp bench throwaway CA for openssl ocsp",
    ]);
    openssl(dir, &ca_args)?;
    let mut csr_args = vec!["req"];
    csr_args.extend(p256);
    csr_args.extend([
        "-keyout",
        "responder.key",
        "-out",
        "responder.csr",
        "-subj",
        "/CN=qtsp bench throwaway OCSP responder",
    ]);
    openssl(dir, &csr_args)?;
    let write = |name: &str, contents: String| {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(|source| OpensslBenchError::Io {
            what: "cannot write",
            path,
            source,
        })
    };
    write(
        "responder.ext",
        "extendedKeyUsage = critical, OCSPSigning\nnoCheck = ignored\n".to_owned(),
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "responder.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "2",
            "-extfile",
            "responder.ext",
            "-out",
            "responder.pem",
        ],
    )?;
    write(
        "index.txt",
        index_line(serial_hex, now + time::Duration::DAY),
    )?;
    let path = dir.join("ca.pem");
    let pem = std::fs::read(&path).map_err(|source| OpensslBenchError::Io {
        what: "cannot read",
        path,
        source,
    })?;
    Certificate::from_pem(&pem).map_err(|e| OpensslBenchError::Certificate(e.to_string()))
}

/// A running `openssl ocsp` responder; dropping it stops the responder and removes its
/// temporary directory.
#[derive(Debug)]
pub struct OpensslResponder {
    child: Child,
    addr: SocketAddr,
    ca: Certificate,
    /// The command line, for the report.
    command: String,
    // Held for its `Drop`, which runs after `Drop::drop` has stopped the responder using it.
    _workdir: Workdir,
}

impl OpensslResponder {
    /// Makes the throwaway PKI for `serial_hex` ([`make_pki`]), then starts `openssl ocsp` with
    /// `processes` responder processes (`-multi` when more than one) and waits until it listens.
    /// `now` dates the index entry.
    pub fn start(
        serial_hex: &str,
        processes: usize,
        now: time::OffsetDateTime,
    ) -> Result<Self, OpensslBenchError> {
        check_loopback_only()?;
        let path = std::env::temp_dir().join(format!(
            "qtsp-bench-openssl-{}-{processes}",
            std::process::id()
        ));
        let io = |what: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| OpensslBenchError::Io { what, path, source }
        };
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(io("cannot clear the directory", &path))?;
        }
        std::fs::create_dir(&path).map_err(io("cannot create the directory", &path))?;
        let workdir = Workdir(path);
        let dir = workdir.0.as_path();
        let ca = make_pki(dir, serial_hex, now)?;

        let port = free_port()?;
        let port_arg = port.to_string();
        let multi = processes.to_string();
        let mut args = vec![
            "ocsp",
            "-index",
            "index.txt",
            "-port",
            &port_arg,
            "-rsigner",
            "responder.pem",
            "-rkey",
            "responder.key",
            "-CA",
            "ca.pem",
            // As ours: responder ID by key hash, and a nextUpdate.
            "-resp_key_id",
            "-nmin",
            "60",
        ];
        if processes > 1 {
            args.extend(["-multi", &multi]);
        }
        let command = format!("openssl {}", args.join(" "));
        let log_path = dir.join("ocsp.log");
        let log = std::fs::File::create(&log_path).map_err(io("cannot create", &log_path))?;
        let log_err = log.try_clone().map_err(io("cannot open", &log_path))?;
        let child = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group, so that stopping it also stops `-multi`'s children.
            .process_group(0)
            .spawn()
            .map_err(|e| OpensslBenchError::Tool {
                command: command.clone(),
                detail: e.to_string(),
            })?;
        let mut responder = Self {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            ca,
            command,
            _workdir: workdir,
        };
        responder.wait_listening(&log_path)?;
        Ok(responder)
    }

    /// Waits for openssl's `ACCEPT <address> PID=<pid>` line (printed once it listens, with or
    /// without `-multi`), without connecting: a connection closed unused would stall openssl's
    /// one-at-a-time loop.
    fn wait_listening(&mut self, log_path: &Path) -> Result<(), OpensslBenchError> {
        let started = Instant::now();
        loop {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            if log.lines().any(|line| line.starts_with("ACCEPT ")) {
                return Ok(());
            }
            let exited = match self.child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Err(e) => Some(e.to_string()),
                Ok(None) => None,
            };
            if let Some(status) = exited {
                return Err(OpensslBenchError::NotListening {
                    detail: format!("it exited ({status}): {}", log.trim()),
                });
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(OpensslBenchError::NotListening {
                    detail: format!("nothing after {START_TIMEOUT:?}: {}", log.trim()),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where it listens (on every interface; loopback is the only one here).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The throwaway CA certificate, whose CertIDs the responder answers for.
    #[must_use]
    pub fn ca(&self) -> &Certificate {
        &self.ca
    }

    /// The command line that started it.
    #[must_use]
    pub fn command(&self) -> &str {
        &self.command
    }
}

impl Drop for OpensslResponder {
    fn drop(&mut self) {
        // SIGTERM to the group: `-multi`'s parent would respawn children killed one by one.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(2);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn interfaces_come_from_proc_net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n    \
             lo:       0       0    0    0    0     0          0         0        0       0\n  \
             eth0: 1234 5 0 0 0 0 0 0 99 1\n";
        assert_eq!(parse_interfaces(text), ["lo", "eth0"]);
    }

    #[test]
    fn index_lines_say_valid_with_a_two_digit_year() {
        let expires = time::macros::datetime!(2026-12-02 08:09:10 UTC);
        assert_eq!(
            index_line("5a17ff", expires),
            "V\t261202080910Z\t\t5A17FF\tunknown\t/CN=qtsp bench certificate\n"
        );
    }
}
