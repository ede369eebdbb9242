//! How long a token's stages take: histograms with fixed buckets, kept with atomics (the TSA and
//! its recorder write, `/metrics` and `qtsp bench tsa` read).
//!
//! A token is answered only after its record is durable, so its latency is the sum of its waits:
//! for its signature (the batch signer's queue and the HSM), and for its record (the commit in
//! progress, then its own, whose storage flush is part of it). [`TokenStages`] counts each wait per
//! token and [`CommitLatency`] each group commit, so that a slow answer shows where it waited.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds (the last bucket, +Inf, is implied).
/// Finer around the 1-30 ms where a token's waits lie, and with 20 ms (the half-rate p99 target
/// of `qtsp bench tsa`) as a bound.
pub const BUCKET_BOUNDS_MICROS: [u64; 19] = [
    100, 250, 500, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000,
    50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000,
];

/// Durations counted so far. Every counter only grows, except the maximum (see
/// [`LatencyHistogram::take_max`]).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Observations per bucket, not cumulative; index `BUCKET_BOUNDS_MICROS.len()` is +Inf.
    buckets: [AtomicU64; BUCKET_BOUNDS_MICROS.len() + 1],
    count: AtomicU64,
    micros: AtomicU64,
    max_micros: AtomicU64,
}

/// A histogram's counters at one moment; two snapshots subtract to what happened between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencySnapshot {
    /// Observations per bucket, not cumulative; the last is +Inf.
    pub buckets: [u64; BUCKET_BOUNDS_MICROS.len() + 1],
    /// Observations.
    pub count: u64,
    /// Their total duration, in microseconds.
    pub micros: u64,
}

impl LatencyHistogram {
    /// Counts one duration.
    pub fn observe(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKET_BOUNDS_MICROS
            .iter()
            .position(|bound| micros <= *bound)
            .unwrap_or(BUCKET_BOUNDS_MICROS.len());
        if let Some(counter) = self.buckets.get(bucket) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// The counters now.
    #[must_use]
    pub fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            buckets: std::array::from_fn(|i| {
                self.buckets
                    .get(i)
                    .map_or(0, |counter| counter.load(Ordering::Relaxed))
            }),
            count: self.count.load(Ordering::Relaxed),
            micros: self.micros.load(Ordering::Relaxed),
        }
    }

    /// The longest duration since the last call (or since the start), and starts over: a
    /// benchmark reads the longest of each phase.
    pub fn take_max(&self) -> Duration {
        Duration::from_micros(self.max_micros.swap(0, Ordering::Relaxed))
    }
}

impl LatencySnapshot {
    /// What was counted between `earlier` and `self`.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            buckets: std::array::from_fn(|i| {
                let now = self.buckets.get(i).copied().unwrap_or(0);
                now.saturating_sub(earlier.buckets.get(i).copied().unwrap_or(0))
            }),
            count: self.count.saturating_sub(earlier.count),
            micros: self.micros.saturating_sub(earlier.micros),
        }
    }

    /// The upper bound of the bucket holding the `q` quantile (0 < q <= 1) of the observations,
    /// or `None` when there were none or it lies in the +Inf bucket.
    #[must_use]
    pub fn quantile_bound(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        // The rank of the quantile, 1-based: the smallest count that covers q of them.
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (count, bound) in self.buckets.iter().zip(BUCKET_BOUNDS_MICROS) {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_micros(bound));
            }
        }
        None
    }

    /// Mean duration.
    #[must_use]
    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_micros(self.micros / self.count))
    }
}

/// The recorder's group commits: how long each took, and how many token records they made
/// durable.
#[derive(Debug, Default)]
pub struct CommitLatency {
    /// One observation per commit (batch), successful or not.
    pub commits: LatencyHistogram,
    records: AtomicU64,
}

/// [`CommitLatency`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitLatencySnapshot {
    /// The commits.
    pub commits: LatencySnapshot,
    /// Token records in those commits.
    pub records: u64,
}

impl CommitLatency {
    /// Counts one commit of `records` token records that took `took`.
    pub fn observe(&self, records: usize, took: Duration) {
        self.commits.observe(took);
        self.records.fetch_add(
            u64::try_from(records).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Token records committed so far.
    #[must_use]
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// The counters now.
    #[must_use]
    pub fn snapshot(&self) -> CommitLatencySnapshot {
        CommitLatencySnapshot {
            commits: self.commits.snapshot(),
            records: self.records.load(Ordering::Relaxed),
        }
    }
}

/// A granted token's two waits, one observation per token each.
#[derive(Debug, Default)]
pub struct TokenStages {
    /// From asking the batch signer to holding the signature: its queue, then the HSM.
    pub signature: LatencyHistogram,
    /// From handing the record to the recorder to its commit: the commit in progress (if any),
    /// then the one that writes it.
    pub record: LatencyHistogram,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn durations_land_in_the_bucket_of_their_length() {
        let latency = CommitLatency::default();
        latency.observe(3, Duration::from_micros(500)); // on the bound: the 500 us bucket
        latency.observe(5, Duration::from_micros(501)); // just above: the 1 ms bucket
        latency.observe(1, Duration::from_secs(3)); // beyond the last bound: +Inf
        let s = latency.snapshot();
        let bucket = |bound: u64| {
            BUCKET_BOUNDS_MICROS
                .iter()
                .position(|b| *b == bound)
                .unwrap()
        };
        assert_eq!(s.commits.buckets[bucket(500)], 1);
        assert_eq!(s.commits.buckets[bucket(1_000)], 1);
        assert_eq!(s.commits.buckets[BUCKET_BOUNDS_MICROS.len()], 1);
        assert_eq!(s.commits.buckets.iter().sum::<u64>(), 3);
        assert_eq!((s.commits.count, s.records), (3, 9));
        assert_eq!(s.commits.micros, 500 + 501 + 3_000_000);
        assert_eq!(latency.commits.take_max(), Duration::from_secs(3));
        // The maximum starts over, the histogram does not.
        assert_eq!(latency.commits.take_max(), Duration::ZERO);
        assert_eq!(latency.snapshot().commits.count, 3);
    }

    #[test]
    fn quantiles_and_differences_between_snapshots() {
        let latency = LatencyHistogram::default();
        for _ in 0..90 {
            latency.observe(Duration::from_micros(300));
        }
        let before = latency.snapshot();
        for _ in 0..98 {
            latency.observe(Duration::from_micros(800));
        }
        latency.observe(Duration::from_millis(30));
        latency.observe(Duration::from_millis(150));
        let phase = latency.snapshot().since(&before);
        assert_eq!(phase.count, 100);
        assert_eq!(
            phase.buckets[2], 0,
            "the earlier observations (the 500 us bucket) are not in the phase"
        );
        assert_eq!(phase.quantile_bound(0.5), Some(Duration::from_millis(1)));
        assert_eq!(phase.quantile_bound(0.98), Some(Duration::from_millis(1)));
        assert_eq!(phase.quantile_bound(0.99), Some(Duration::from_millis(30)));
        assert_eq!(phase.quantile_bound(1.0), Some(Duration::from_millis(200)));
        assert_eq!(
            phase.mean(),
            Some(Duration::from_micros((98 * 800 + 30_000 + 150_000) / 100))
        );
        assert_eq!(LatencySnapshot::default().quantile_bound(0.99), None);
        assert_eq!(LatencySnapshot::default().mean(), None);
    }

    #[test]
    fn commits_count_their_records() {
        let latency = CommitLatency::default();
        latency.observe(7, Duration::from_millis(1));
        latency.observe(5, Duration::from_millis(3));
        assert_eq!(latency.records(), 12);
        let s = latency.snapshot();
        assert_eq!((s.commits.count, s.records), (2, 12));
        assert_eq!(
            s.commits.quantile_bound(1.0),
            Some(Duration::from_millis(3))
        );
    }
}
