//! apache2-utils' `ab` as a second, independent load client: it speaks HTTP/1.0 with a new
//! connection per request, as openssl's OCSP client does, and works against openssl's responder.
//! Used by `qtsp bench ocsp --openssl` to cross-check the figures of our own load client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Requests `ab` may send at most; the time limit ends the run long before.
const MAX_REQUESTS: &str = "100000000";

/// Why `ab` gave no figures. Messages start with a stable code (`BENCH02x`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AbError {
    #[error("BENCH020 cannot run `ab` (install apache2-utils): {0}")]
    Spawn(std::io::Error),
    #[error("BENCH021 `{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("BENCH022 no `{field}` in the output of `ab`: {output}")]
    Output { field: &'static str, output: String },
    #[error("BENCH023 cannot write the request body for `ab` to {path}: {source}")]
    BodyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What `ab` reported.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AbReport {
    pub complete: u64,
    /// Failed connects, receives and exceptions (length differences are not failures here:
    /// ECDSA signatures, and so signed responses, vary in length).
    pub failed: u64,
    pub non_2xx: u64,
    pub per_second: f64,
    /// Whole milliseconds, as `ab` prints them; `None` if it printed no percentile table.
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    /// The command line, for the report.
    pub command: String,
}

/// The file `ab -p` reads the body from, removed when dropped.
#[derive(Debug)]
struct BodyFile(PathBuf);

impl BodyFile {
    fn write(body: &[u8]) -> Result<Self, AbError> {
        let path = std::env::temp_dir().join(format!(
            "qtsp-bench-ab-{}-{}.body",
            std::process::id(),
            BODY_FILES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, body).map_err(|source| AbError::BodyFile {
            path: path.clone(),
            source,
        })?;
        Ok(Self(path))
    }
}

impl Drop for BodyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Numbers the body files of this process.
static BODY_FILES: AtomicU64 = AtomicU64::new(0);

/// Fails unless `ab` can be run (apache2-utils is installed).
pub fn check_available() -> Result<(), AbError> {
    Command::new("ab")
        .arg("-V")
        .stdin(Stdio::null())
        .output()
        .map(|_| ())
        .map_err(AbError::Spawn)
}

/// POSTs `body` (with `content_type`) to `http://{addr}{path}` from `concurrency` clients for
/// `duration`, a new connection per request. Blocks: run it off the async runtime.
pub fn post(
    addr: SocketAddr,
    path: &str,
    body: &[u8],
    content_type: &str,
    concurrency: usize,
    duration: Duration,
) -> Result<AbReport, AbError> {
    let body_file = BodyFile::write(body)?;
    let seconds = duration.as_secs().max(1).to_string();
    let concurrency = concurrency.max(1).to_string();
    let url = format!("http://{addr}{path}");
    let body = body_file.0.to_string_lossy().into_owned();
    // -t before -n: `-t` implies `-n 50000`, which the later `-n` lifts. -l: variable lengths
    // are fine; -r: go on after a receive error (counted) instead of stopping.
    let args = [
        "-q",
        "-l",
        "-r",
        "-t",
        &seconds,
        "-n",
        MAX_REQUESTS,
        "-c",
        &concurrency,
        "-p",
        &body,
        "-T",
        content_type,
        &url,
    ];
    let command = format!("ab {}", args.join(" "));
    let output = Command::new("ab")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(AbError::Spawn)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(AbError::Failed {
            command,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    let mut report = parse(&stdout)?;
    report.command = command;
    Ok(report)
}

/// The figures of `ab`'s report.
fn parse(output: &str) -> Result<AbReport, AbError> {
    let missing = |field: &'static str| AbError::Output {
        field,
        output: output.trim().to_owned(),
    };
    // "Label:   value [unit] ..." -> the first word of the value.
    let field = |label: &str| {
        output.lines().find_map(|line| {
            line.strip_prefix(label)
                .and_then(|rest| rest.split_whitespace().next())
        })
    };
    let number = |label: &'static str| {
        field(label)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| missing(label))
    };
    let complete = number("Complete requests:")?;
    // "Failed requests:  N" then "   (Connect: a, Receive: b, Length: c, Exceptions: d)"
    // when N > 0.
    let detail = |name: &str| {
        output
            .lines()
            .find(|line| line.trim_start().starts_with("(Connect:"))
            .and_then(|line| {
                line.split([',', '(', ')'])
                    .filter_map(|part| part.trim().split_once(':'))
                    .find(|(key, _)| *key == name)
                    .and_then(|(_, value)| value.trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let failed = detail("Connect") + detail("Receive") + detail("Exceptions");
    let non_2xx = field("Non-2xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let per_second = field("Requests per second:")
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| missing("Requests per second:"))?;
    let percentile = |label: &str| {
        output.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(label))
                .then(|| words.next().and_then(|v| v.parse::<u64>().ok()))
                .flatten()
        })
    };
    Ok(AbReport {
        complete,
        failed,
        non_2xx,
        per_second,
        p50_ms: percentile("50%"),
        p99_ms: percentile("99%"),
        command: String::new(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// The shape of `ab -q -l` output (apache2-utils 2.4, "This is ApacheBench, Version 2.3").
    const OUTPUT: &str = "This is ApacheBench, Version 2.3 <$Revision: 1903618 $>
Benchmarking 127.0.0.1 (be patient)


Server Software:
Server Hostname:        127.0.0.1
Server Port:            40001

Document Path:          /ocsp
Document Length:        Variable

Concurrency Level:      64
Time taken for tests:   5.000 seconds
Complete requests:      15321
Failed requests:        12
   (Connect: 0, Receive: 4, Length: 0, Exceptions: 8)
Non-2xx responses:      3
Total transferred:      11795412 bytes
Total body sent:        3462546
HTML transferred:       10753251 bytes
Requests per second:    3064.13 [#/sec] (mean)
Time per request:       20.887 [ms] (mean)

Percentage of the requests served within a certain time (ms)
  50%     19
  66%     21
  90%     27
  95%     31
  98%     40
  99%   1031
 100%   3043 (longest request)
";

    #[test]
    fn ab_output_gives_rate_failures_and_percentiles() {
        let report = parse(OUTPUT).unwrap();
        assert_eq!(report.complete, 15321);
        assert_eq!(report.failed, 12);
        assert_eq!(report.non_2xx, 3);
        assert_eq!(report.per_second, 3064.13);
        assert_eq!(report.p50_ms, Some(19));
        assert_eq!(report.p99_ms, Some(1031));
    }

    #[test]
    fn a_clean_run_has_no_failure_detail_line() {
        let clean = OUTPUT
            .replace(
                "Failed requests:        12\n",
                "Failed requests:        0\n",
            )
            .replace(
                "   (Connect: 0, Receive: 4, Length: 0, Exceptions: 8)\n",
                "",
            )
            .replace("Non-2xx responses:      3\n", "");
        let report = parse(&clean).unwrap();
        assert_eq!((report.failed, report.non_2xx), (0, 0));
    }

    #[test]
    fn output_without_a_rate_is_an_error() {
        let error = parse("Complete requests: 3\n").unwrap_err();
        assert!(error.to_string().starts_with("BENCH022 "), "{error}");
    }
}
