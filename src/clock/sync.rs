//! Whether the clock is synchronized, as a source the time-stamping authority consults (and tests
//! replace).

use std::fmt;
use std::time::Duration;

use super::kernel;

/// One reading of the synchronization state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncReading {
    /// The clock is disciplined by a time source.
    pub synchronized: bool,
    /// The largest error the source admits.
    pub max_error: Duration,
    /// What was read, for logs and the audit journal (e.g. `adjtimex: STA_UNSYNC set`).
    pub detail: String,
}

impl SyncReading {
    /// Synchronized, and within `accuracy` (EN 319 421: the declared accuracy must hold).
    #[must_use]
    pub fn within(&self, accuracy: Duration) -> bool {
        self.synchronized && self.max_error <= accuracy
    }
}

/// Where the synchronization state comes from.
pub trait SyncSource: Send + Sync + fmt::Debug {
    /// A short name for logs and the audit journal (`kernel`, ...).
    fn name(&self) -> &str;
    /// Reads the current state; an error means the state is unknown (and time is refused).
    fn read(&self) -> Result<SyncReading, String>;
}

/// The kernel's clock discipline (`adjtimex`), as set by chrony, ntpd or systemd-timesyncd.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelSync;

impl SyncSource for KernelSync {
    fn name(&self) -> &str {
        "kernel"
    }

    fn read(&self) -> Result<SyncReading, String> {
        let status = kernel::read().map_err(|e| format!("adjtimex failed: {e}"))?;
        let detail = if status.synchronized() {
            format!(
                "adjtimex: synchronized, maxerror {} us, esterror {} us",
                status.max_error_us, status.est_error_us
            )
        } else {
            format!(
                "adjtimex: not synchronized (status {:#06x}{}, state {}), maxerror {} us",
                status.status,
                if status.status & kernel::STA_UNSYNC != 0 {
                    " STA_UNSYNC"
                } else {
                    ""
                },
                status.state,
                status.max_error_us
            )
        };
        Ok(SyncReading {
            synchronized: status.synchronized(),
            max_error: status.max_error(),
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn within_needs_sync_and_small_error() {
        let mut r = SyncReading {
            synchronized: true,
            max_error: Duration::from_millis(20),
            detail: String::new(),
        };
        assert!(r.within(Duration::from_secs(1)));
        assert!(!r.within(Duration::from_millis(10)));
        r.synchronized = false;
        assert!(!r.within(Duration::from_secs(1)));
    }

    #[test]
    fn kernel_source_reads() {
        let reading = KernelSync.read().unwrap();
        assert!(reading.detail.starts_with("adjtimex: "));
    }
}
