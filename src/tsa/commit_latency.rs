//! How long the recorder's group commits take: a histogram with fixed buckets, kept with atomics
//! (the recorder writes, `/metrics` and `qtsp bench tsa` read).
//!
//! A token is answered only after its record is durable, so a commit's duration is part of every
//! answer's latency, and the storage device's flush (fsync) is part of every commit. When answers
//! are slow, this tells whether the database is why.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds (the last bucket, +Inf, is implied).
pub const BUCKET_BOUNDS_MICROS: [u64; 12] = [
    500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
    2_000_000,
];

/// Commits counted so far. Every counter only grows, except the maximum (see
/// [`CommitLatency::take_max`]).
#[derive(Debug, Default)]
pub struct CommitLatency {
    /// Commits per bucket, not cumulative; index `BUCKET_BOUNDS_MICROS.len()` is +Inf.
    buckets: [AtomicU64; BUCKET_BOUNDS_MICROS.len() + 1],
    commits: AtomicU64,
    records: AtomicU64,
    micros: AtomicU64,
    max_micros: AtomicU64,
}

/// The counters at one moment; two snapshots subtract to what happened between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitLatencySnapshot {
    /// Commits per bucket, not cumulative; the last is +Inf.
    pub buckets: [u64; BUCKET_BOUNDS_MICROS.len() + 1],
    /// Commits (batches), successful or not.
    pub commits: u64,
    /// Token records in those commits.
    pub records: u64,
    /// Time spent in them, in microseconds.
    pub micros: u64,
}

impl CommitLatency {
    /// Counts one commit of `records` token records that took `took`.
    pub fn observe(&self, records: usize, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKET_BOUNDS_MICROS
            .iter()
            .position(|bound| micros <= *bound)
            .unwrap_or(BUCKET_BOUNDS_MICROS.len());
        if let Some(counter) = self.buckets.get(bucket) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(
            u64::try_from(records).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.micros.fetch_add(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// The counters now.
    #[must_use]
    pub fn snapshot(&self) -> CommitLatencySnapshot {
        CommitLatencySnapshot {
            buckets: std::array::from_fn(|i| {
                self.buckets
                    .get(i)
                    .map_or(0, |counter| counter.load(Ordering::Relaxed))
            }),
            commits: self.commits.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            micros: self.micros.load(Ordering::Relaxed),
        }
    }

    /// The longest commit since the last call (or since the start), and starts over: a
    /// benchmark reads the longest commit of each phase.
    pub fn take_max(&self) -> Duration {
        Duration::from_micros(self.max_micros.swap(0, Ordering::Relaxed))
    }
}

impl CommitLatencySnapshot {
    /// What was counted between `earlier` and `self`.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            buckets: std::array::from_fn(|i| {
                let now = self.buckets.get(i).copied().unwrap_or(0);
                now.saturating_sub(earlier.buckets.get(i).copied().unwrap_or(0))
            }),
            commits: self.commits.saturating_sub(earlier.commits),
            records: self.records.saturating_sub(earlier.records),
            micros: self.micros.saturating_sub(earlier.micros),
        }
    }

    /// The upper bound of the bucket holding the `q` quantile (0 < q <= 1) of the commits, or
    /// `None` when there were none or it lies in the +Inf bucket.
    #[must_use]
    pub fn quantile_bound(&self, q: f64) -> Option<Duration> {
        if self.commits == 0 {
            return None;
        }
        // The rank of the quantile, 1-based: the smallest count that covers q of the commits.
        let rank = ((q.clamp(0.0, 1.0) * self.commits as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (count, bound) in self.buckets.iter().zip(BUCKET_BOUNDS_MICROS) {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_micros(bound));
            }
        }
        None
    }

    /// Mean commit duration.
    #[must_use]
    pub fn mean(&self) -> Option<Duration> {
        (self.commits > 0).then(|| Duration::from_micros(self.micros / self.commits))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn commits_land_in_the_bucket_of_their_duration() {
        let latency = CommitLatency::default();
        latency.observe(3, Duration::from_micros(500)); // on the bound: the 500 us bucket
        latency.observe(5, Duration::from_micros(501)); // just above: the 1 ms bucket
        latency.observe(1, Duration::from_secs(3)); // beyond the last bound: +Inf
        let s = latency.snapshot();
        assert_eq!(s.buckets[0], 1);
        assert_eq!(s.buckets[1], 1);
        assert_eq!(s.buckets[BUCKET_BOUNDS_MICROS.len()], 1);
        assert_eq!(s.buckets.iter().sum::<u64>(), 3);
        assert_eq!((s.commits, s.records), (3, 9));
        assert_eq!(s.micros, 500 + 501 + 3_000_000);
        assert_eq!(latency.take_max(), Duration::from_secs(3));
        // The maximum starts over, the histogram does not.
        assert_eq!(latency.take_max(), Duration::ZERO);
        assert_eq!(latency.snapshot().commits, 3);
    }

    #[test]
    fn quantiles_and_differences_between_snapshots() {
        let latency = CommitLatency::default();
        for _ in 0..90 {
            latency.observe(10, Duration::from_micros(300));
        }
        let before = latency.snapshot();
        for _ in 0..98 {
            latency.observe(10, Duration::from_micros(800));
        }
        latency.observe(10, Duration::from_millis(30));
        latency.observe(10, Duration::from_millis(150));
        let phase = latency.snapshot().since(&before);
        assert_eq!((phase.commits, phase.records), (100, 1000));
        assert_eq!(
            phase.buckets[0], 0,
            "the earlier commits are not in the phase"
        );
        assert_eq!(phase.quantile_bound(0.5), Some(Duration::from_millis(1)));
        assert_eq!(phase.quantile_bound(0.98), Some(Duration::from_millis(1)));
        assert_eq!(phase.quantile_bound(0.99), Some(Duration::from_millis(50)));
        assert_eq!(phase.quantile_bound(1.0), Some(Duration::from_millis(200)));
        assert_eq!(
            phase.mean(),
            Some(Duration::from_micros((98 * 800 + 30_000 + 150_000) / 100))
        );
        assert_eq!(CommitLatencySnapshot::default().quantile_bound(0.99), None);
        assert_eq!(CommitLatencySnapshot::default().mean(), None);
    }
}
