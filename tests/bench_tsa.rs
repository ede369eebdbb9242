//! `qtsp bench tsa` end to end on a fresh data directory: the server, the load client and the
//! plain PKCS#11 loop run for a moment each, tokens are answered, the CPU each token cost is
//! reported by thread role, and the journal left behind verifies. Nothing here judges a speed,
//! or counts the requests the fixed-rate phase could not send on a busy machine: only that each
//! part was measured.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::process::{qtsp, run_ok};

/// The numbers of the CPU line: "... plain loop N us; per answer N us (HSM workers N, server N,
/// database N, load client N); ... N% ... N% under load".
fn cpu_numbers(line: &str) -> Vec<f64> {
    line.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|word| !word.is_empty() && word.chars().any(|c| c.is_ascii_digit()))
        .filter_map(|word| word.trim_matches('.').parse().ok())
        .collect()
}

#[test]
fn bench_tsa_answers_tokens_and_reports_cpu_per_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");
    run_ok(qtsp(&data).arg("init"));
    let out = run_ok(qtsp(&data).args([
        "bench",
        "tsa",
        "--seconds",
        "0.3",
        "--keys",
        "p256",
        "--connections",
        "8",
        "--rounds",
        "1",
        "--round-seconds",
        "0.5",
    ]));

    let row = out
        .lines()
        .find(|l| l.starts_with("| ec-p256 |"))
        .unwrap_or_else(|| panic!("no P-256 row in:\n{out}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | key | plain 1 | plain 2 | pool | tokens/s | ...
    let tokens_per_second: f64 = cells[5].parse().unwrap();
    assert!(tokens_per_second > 0.0, "{row}");

    let cpu = out
        .lines()
        .find(|l| l.starts_with("# ec-p256: CPU per signature"))
        .unwrap_or_else(|| panic!("no CPU line in:\n{out}"));
    let numbers = cpu_numbers(cpu);
    // p256 (the key's name), plain, per answer, HSM, server, database, client, 2 (CPUs),
    // busy in the plain loop, busy under load.
    assert_eq!(numbers.len(), 10, "{cpu}: {numbers:?}");
    let (plain, answer, hsm, server, database, client) = (
        numbers[1], numbers[2], numbers[3], numbers[4], numbers[5], numbers[6],
    );
    for (what, value) in [
        ("plain loop per signature", plain),
        ("per answer", answer),
        ("HSM workers", hsm),
        ("server", server),
        ("database", database),
        ("load client", client),
    ] {
        assert!(value > 0.0, "{what} not measured: {cpu}");
    }
    // The parts add up to the whole (each is rounded to a microsecond).
    let parts = hsm + server + database + client;
    assert!((parts - answer).abs() <= 4.0, "{cpu}");

    // The recorder's commits of each load phase, beside its latency.
    for phase in phase_parts(&out, "# ec-p256: group commits at the maximal rate: ") {
        // e.g. "535 commits of 3.2 tokens, mean 1.20 ms, p99 <= 5.0 ms, longest 7.31 ms"
        let numbers = cpu_numbers(phase);
        assert_eq!(numbers.len(), 6, "{phase}: {numbers:?}");
        let (count, per_commit, mean, p99, longest) =
            (numbers[0], numbers[1], numbers[2], numbers[4], numbers[5]);
        assert!(count >= 1.0 && per_commit >= 1.0, "{phase}");
        assert!(mean > 0.0 && mean <= longest, "{phase}");
        // p99 is printed to 0.1 ms, the longest to 0.01 ms.
        assert!(p99 > 0.0 && p99 <= longest + 0.05, "{phase}");
    }

    // Each phase's tokens: how long they waited for their signature and for their record.
    for phase in phase_parts(&out, "# ec-p256: a token's waits at the maximal rate: ") {
        // e.g. "signature p50 <= 1.00 ms, p99 <= 5.0 ms, longest 6.10 ms; record p50 <= ..."
        let (signature, record) = phase
            .split_once("; record ")
            .unwrap_or_else(|| panic!("no record part: {phase}"));
        for stage in [signature, record] {
            let numbers = cpu_numbers(stage);
            assert_eq!(numbers.len(), 5, "{stage}: {numbers:?}");
            let (p50, p99, longest) = (numbers[1], numbers[3], numbers[4]);
            // p99 is printed to 0.1 ms, p50 and the longest to 0.01 ms.
            assert!(p50 > 0.0 && p50 <= p99 + 0.05, "{stage}");
            assert!(p99 <= longest + 0.05, "{stage}");
        }
    }

    // The bench's server journals and checkpoints as `qtsp serve` does: its journal verifies,
    // the rows of every batch included, and ends under a checkpoint (all but the record that
    // announces the last one).
    let report = run_ok(qtsp(&data).args(["audit", "verify"]));
    assert!(report.contains("INTACT"), "{report}");
    assert!(
        report.contains("time-stamp records: MATCH THE JOURNAL"),
        "{report}"
    );
    assert!(
        report.contains(" is not covered by a signed checkpoint yet")
            && !report.contains(" are not covered by a signed checkpoint yet"),
        "{report}"
    );
}

/// The maximal-rate and the half-rate parts of the line of `out` that starts with `prefix`
/// (`<prefix><maximal rate>; at half rate: <half rate>`).
fn phase_parts<'a>(out: &'a str, prefix: &str) -> [&'a str; 2] {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"));
    let (max, half) = line
        .split_once("; at half rate: ")
        .unwrap_or_else(|| panic!("no half-rate part: {line}"));
    [max, half]
}
