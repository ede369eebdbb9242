//! The only place that reads the time. Everything else receives a [`Clock`], and, where time
//! is certified (time-stamps), a [`SyncSource`] that says whether the clock can be trusted.

pub mod kernel;
mod sync;

pub use sync::{KernelSync, SyncReading, SyncSource};

use std::sync::Arc;
use time::OffsetDateTime;

/// A source of the current time, injected so that tests can fix it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// Shared handle to the process's clock.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that always answers the same instant (tests, replays).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fixed_clock_is_fixed() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let clock: SharedClock = Arc::new(FixedClock(t));
        assert_eq!(clock.now(), t);
        assert_eq!(clock.now(), t);
    }

    #[test]
    fn system_clock_is_utc_and_recent() {
        let now = SystemClock.now();
        assert_eq!(now.offset(), time::UtcOffset::UTC);
        assert!(now.year() >= 2025);
    }
}
