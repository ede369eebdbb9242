//! The tables `qtsp bench ocsp` prints, with the ratios issue #5 sets targets for.

use std::time::Duration;

use super::{OcspBenchArgs, OpensslRun, ServerRun, Traffic};
use crate::bench::load::LoadReport;
use crate::bench::{ab, ratio};
use crate::config::Config;
use qtsp_hsm::KeySpec;

/// One measured row of the traffic table.
#[derive(Debug)]
struct Line {
    traffic: String,
    server: String,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
    /// What the rate is compared with, filled in at the end.
    ratio: String,
}

impl Line {
    pub(super) fn from_load(traffic: &str, server: String, report: &LoadReport) -> Self {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Self {
            traffic: traffic.to_owned(),
            server,
            rate: report.rate_per_second,
            p50_ms: ms(report.p50),
            p99_ms: ms(report.p99),
            failed: report.failed + report.transport_errors + report.unsent,
            ratio: String::new(),
        }
    }

    pub(super) fn from_ab(traffic: &str, server: String, report: &ab::AbReport) -> Self {
        let ms = |v: Option<u64>| v.map_or(f64::NAN, |v| v as f64);
        Self {
            traffic: traffic.to_owned(),
            server,
            rate: report.per_second,
            p50_ms: ms(report.p50_ms),
            p99_ms: ms(report.p99_ms),
            failed: report.failed + report.non_2xx,
            ratio: String::new(),
        }
    }
}

/// Raw HSM sign rates of one responder key type.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Raw {
    pub(super) plain_one: f64,
    pub(super) plain_all: f64,
    pub(super) pool: f64,
}

impl Raw {
    pub(super) fn best(&self) -> f64 {
        self.plain_one.max(self.plain_all).max(self.pool)
    }
}

/// Prints the tables and the comparison with the targets of issue #5.
#[allow(clippy::print_stdout)]
pub(super) fn print_report(
    config: &Config,
    args: &OcspBenchArgs,
    sessions: usize,
    responders: &[(&str, KeySpec)],
    raws: &[Raw],
    runs: &[ServerRun],
    openssl_runs: &[OpensslRun],
) {
    println!(
        "# qtsp bench ocsp: {} s per measurement, {} connections, {} HSM sessions, database {}",
        args.seconds.clamp(0.2, 600.0),
        args.connections,
        sessions,
        config.database.redacted_url()
    );
    println!(
        "# [ocsp] revocation_check_ms {} (0: the CA's revocation mark is read from the database \
         before every pre-signed answer)",
        config.ocsp.cache.revocation_check.as_millis()
    );
    for (&(entity, spec), run) in responders.iter().zip(runs) {
        println!(
            "# responder {entity} ({}) answers {} for the bench's certificate of qualified-ca",
            spec.name(),
            run.status
        );
    }
    for run in openssl_runs {
        println!(
            "# openssl responder ({} process(es)) answers {}: {}",
            run.processes, run.status, run.command
        );
    }
    println!();
    println!("# raw HSM signatures/s, each the mean of a measurement before and after the load");
    println!(
        "| responder key | plain 1 thread/s | plain {sessions} threads/s | pool (responder key)/s | best raw/s |"
    );
    println!("|---|---|---|---|---|");
    for (&(_, spec), raw) in responders.iter().zip(raws) {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            spec.name(),
            raw.plain_one,
            raw.plain_all,
            raw.pool,
            raw.best()
        );
    }
    println!();

    let mut lines = Vec::new();
    let mut openssl_rate = None;
    let mut openssl_ab_rate = None;
    for run in openssl_runs {
        let server = if run.processes > 1 {
            format!("openssl ocsp -multi {}", run.processes)
        } else {
            "openssl ocsp (1 process)".to_owned()
        };
        lines.push(Line::from_load(
            "POST, new connection, no nonce",
            server.clone(),
            &run.load,
        ));
        lines.push(Line::from_ab(
            &format!(
                "POST, new connection, no nonce (ab -c {})",
                args.connections
            ),
            server,
            &run.ab,
        ));
        if run.processes == 1 {
            openssl_rate = Some(run.load.rate_per_second);
            openssl_ab_rate = Some(run.ab.per_second);
        }
    }
    let mut summary = Vec::new();
    let mut rounds_lines = Vec::new();
    for ((&(_, spec), run), raw) in responders.iter().zip(runs).zip(raws) {
        let server = format!("qtsp ({})", spec.name());
        for (kind, report) in &run.lines {
            let mut line = Line::from_load(kind.describe(), server.clone(), report);
            match kind {
                Traffic::Get => {
                    summary.push(format!(
                        "pre-signed GET keep-alive {:.0}/s (target >= 25000/s)",
                        report.rate_per_second
                    ));
                }
                Traffic::Post => {
                    for run in openssl_runs {
                        line.ratio.push_str(&format!(
                            "{:.1}x openssl {}p; ",
                            ratio(report.rate_per_second, run.load.rate_per_second),
                            run.processes
                        ));
                    }
                    if let Some(rate) = openssl_rate {
                        let mut text = format!(
                            "POST new connection {:.1}x openssl's responder (target >= 3x)",
                            ratio(report.rate_per_second, rate)
                        );
                        // The cheapest request on a new connection bounds any answer on one.
                        if let Some(floor) = &run.connection_floor {
                            text.push_str(&format!(
                                ", at most {:.1}x on these CPUs (GET /health/live, new connection: \
                                 {:.0}/s)",
                                ratio(floor.rate_per_second, rate),
                                floor.rate_per_second
                            ));
                        }
                        summary.push(text);
                    }
                    if let Some(floor) = &run.connection_floor {
                        line.ratio.push_str(&format!(
                            "{:.2} of GET /health/live on a new connection ({:.0}/s); ",
                            ratio(report.rate_per_second, floor.rate_per_second),
                            floor.rate_per_second
                        ));
                    }
                }
                Traffic::Nonce => {
                    let of_raw = ratio(report.rate_per_second, raw.best());
                    line.ratio = format!(
                        "{of_raw:.2} of best raw; {:.2} of pool",
                        ratio(report.rate_per_second, raw.pool)
                    );
                    let mut text = format!(
                        "nonce {} {of_raw:.2} of best raw (target >= 0.8)",
                        spec.name()
                    );
                    if let Some(floor) = &run.floor {
                        // Client, server and signatures share the CPUs: an answer costs at
                        // least a signature plus the cheapest request.
                        let most = crate::bench::ceiling(raw.best(), floor.rate_per_second);
                        line.ratio.push_str(&format!(
                            "; ceiling {:.2} of best raw (HTTP floor {:.0}/s), {:.2} of it",
                            ratio(most, raw.best()),
                            floor.rate_per_second,
                            ratio(report.rate_per_second, most)
                        ));
                        text.push_str(&format!(
                            ", at most {:.2} on these CPUs",
                            ratio(most, raw.best())
                        ));
                    }
                    if !run.rounds.is_empty() {
                        let (listed, median) = crate::bench::describe_rounds(&run.rounds);
                        rounds_lines.push(format!(
                            "# nonce {}: paired rounds ({} s plain {sessions} threads, then {} s \
                             of nonce answers): {listed}; median answers/plain {median:.2}",
                            spec.name(),
                            args.round_seconds,
                            args.round_seconds,
                        ));
                        text.push_str(&format!("; paired rounds: median {median:.2}"));
                    }
                    summary.push(text);
                }
            }
            lines.push(line);
            // The ab cross-check of the same traffic right below it.
            if let (Traffic::Post, Some(ab)) = (kind, &run.ab) {
                let mut line = Line::from_ab(
                    &format!(
                        "POST, new connection, no nonce (ab -c {})",
                        args.connections
                    ),
                    server.clone(),
                    ab,
                );
                for run in openssl_runs {
                    line.ratio.push_str(&format!(
                        "{:.1}x openssl {}p (ab); ",
                        ratio(ab.per_second, run.ab.per_second),
                        run.processes
                    ));
                }
                if let Some(rate) = openssl_ab_rate {
                    summary.push(format!("with ab {:.1}x", ratio(ab.per_second, rate)));
                }
                lines.push(line);
            }
        }
    }
    // qtsp first, then openssl, in the order measured.
    lines.sort_by_key(|line| !line.server.starts_with("qtsp"));
    println!("| traffic | server | responses/s | p50 ms | p99 ms | failed | ratio |");
    println!("|---|---|---|---|---|---|---|");
    for line in &lines {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |",
            line.traffic,
            line.server,
            line.rate,
            line.p50_ms,
            line.p99_ms,
            line.failed,
            line.ratio.trim().trim_end_matches(';')
        );
    }
    if let Some(ab) = runs.iter().find_map(|r| r.ab.as_ref()) {
        println!("# ab: {}", ab.command);
    }
    for line in &rounds_lines {
        println!("{line}");
    }
    println!("# issue #5: {}", summary.join("; "));
}
