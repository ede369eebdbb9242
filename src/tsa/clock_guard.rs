//! Refusing to stamp while the clock cannot be trusted (EN 319 421: the TSA does not issue
//! time-stamps when its clock is outside the declared accuracy).
//!
//! Every request asks [`ClockGuard::check`], which reads the synchronization source (for the
//! kernel, one `adjtimex` call). A change between "available" and "not available" is an
//! episode boundary: it is sent once to the monitor task, which logs it and writes it to the
//! audit journal. A periodic check notices episodes when no request arrives.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::audit::{AuditEvent, Journal};
use crate::clock::SyncSource;

/// How often the monitor checks the clock without traffic.
const MONITOR_PERIOD: Duration = Duration::from_secs(1);

/// A change of the clock's trustworthiness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClockEvent {
    /// Time-stamping stops.
    Lost {
        /// What the source reported.
        detail: String,
    },
    /// Time-stamping resumes.
    Regained {
        /// What the source reported.
        detail: String,
    },
}

/// Whether time can be certified now.
#[derive(Debug)]
pub struct ClockGuard {
    source: Arc<dyn SyncSource>,
    accuracy: Duration,
    enforced: bool,
    available: AtomicBool,
    events: mpsc::UnboundedSender<ClockEvent>,
}

impl ClockGuard {
    /// A guard that refuses when `source` is not synchronized within `accuracy`; when
    /// `enforced` is false it never refuses (development machines). The receiver gets every
    /// episode boundary, the first one included when the clock is already unsynchronized.
    pub fn new(
        source: Arc<dyn SyncSource>,
        accuracy: Duration,
        enforced: bool,
    ) -> (Self, mpsc::UnboundedReceiver<ClockEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        let guard = Self {
            source,
            accuracy,
            enforced,
            available: AtomicBool::new(true),
            events,
        };
        let _ = guard.check();
        (guard, rx)
    }

    /// Whether the check is enforced.
    #[must_use]
    pub fn enforced(&self) -> bool {
        self.enforced
    }

    /// The synchronization source's name.
    #[must_use]
    pub fn source_name(&self) -> &str {
        self.source.name()
    }

    /// `Ok` when time may be certified now, else what the source reported.
    pub fn check(&self) -> Result<(), String> {
        if !self.enforced {
            return Ok(());
        }
        let verdict = match self.source.read() {
            Ok(reading) if reading.within(self.accuracy) => Ok(reading.detail),
            Ok(reading) => Err(format!(
                "not synchronized within {} ms: {}",
                self.accuracy.as_millis(),
                reading.detail
            )),
            Err(error) => Err(format!("synchronization state unknown: {error}")),
        };
        match verdict {
            Ok(detail) => {
                if !self.available.swap(true, Ordering::AcqRel) {
                    let _ = self.events.send(ClockEvent::Regained { detail });
                }
                Ok(())
            }
            Err(detail) => {
                if self.available.swap(false, Ordering::AcqRel) {
                    let _ = self.events.send(ClockEvent::Lost {
                        detail: detail.clone(),
                    });
                }
                Err(detail)
            }
        }
    }
}

/// Logs and journals each episode boundary, and checks the clock every second. Ends when the
/// guard is dropped, after journaling the boundaries still queued.
pub fn spawn_monitor(
    guard: &Arc<ClockGuard>,
    mut events: mpsc::UnboundedReceiver<ClockEvent>,
    journal: Journal,
    actor: String,
) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(guard);
    let source = guard.source_name().to_owned();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(MONITOR_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { break };
                    let audit = match event {
                        ClockEvent::Lost { detail } => {
                            tracing::error!(
                                source = %source,
                                %detail,
                                "TSA201 clock not synchronized: time-stamping refused (timeNotAvailable) until it is"
                            );
                            AuditEvent::ClockUnsynchronized {
                                source: source.clone(),
                                offset_us: None,
                                detail,
                            }
                        }
                        ClockEvent::Regained { detail } => {
                            tracing::warn!(source = %source, %detail, "clock synchronized again: time-stamping resumes");
                            AuditEvent::ClockResynchronized {
                                source: source.clone(),
                                detail,
                            }
                        }
                    };
                    if let Err(error) = journal.append(&audit, &actor).await {
                        tracing::error!(%error, "cannot journal a clock synchronization change");
                    }
                }
                _ = tick.tick() => {
                    // Without the guard its sender is gone too: `recv` hands over what is still
                    // queued, then ends the loop. Breaking here would drop those episodes.
                    if let Some(guard) = weak.upgrade() {
                        let _ = guard.check();
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::clock::SyncReading;
    use std::sync::Mutex;

    /// A source whose answer the test sets.
    #[derive(Debug)]
    struct Scripted(Mutex<Result<SyncReading, String>>);

    impl Scripted {
        fn set(&self, synchronized: bool, max_error_ms: u64) {
            *self.0.lock().unwrap() = Ok(SyncReading {
                synchronized,
                max_error: Duration::from_millis(max_error_ms),
                detail: format!("scripted {synchronized} {max_error_ms}"),
            });
        }
    }

    impl SyncSource for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn read(&self) -> Result<SyncReading, String> {
            self.0.lock().unwrap().clone()
        }
    }

    fn scripted() -> Arc<Scripted> {
        Arc::new(Scripted(Mutex::new(Err("not yet".into()))))
    }

    #[test]
    fn one_event_per_episode() {
        let source = scripted();
        source.set(true, 5);
        let (guard, mut rx) = ClockGuard::new(source.clone(), Duration::from_secs(1), true);
        assert!(guard.check().is_ok());
        assert!(rx.try_recv().is_err(), "no event while synchronized");

        source.set(false, 5);
        for _ in 0..3 {
            assert!(guard.check().unwrap_err().contains("not synchronized"));
        }
        assert!(matches!(rx.try_recv(), Ok(ClockEvent::Lost { .. })));
        assert!(rx.try_recv().is_err(), "one event for the whole episode");

        // Synchronized but outside the accuracy is still refused, same episode.
        source.set(true, 1500);
        assert!(guard.check().is_err());
        assert!(rx.try_recv().is_err());

        source.set(true, 20);
        assert!(guard.check().is_ok());
        assert!(guard.check().is_ok());
        assert!(matches!(rx.try_recv(), Ok(ClockEvent::Regained { .. })));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn starting_unsynchronized_opens_an_episode_and_unknown_state_refuses() {
        let source = scripted();
        let (guard, mut rx) = ClockGuard::new(source.clone(), Duration::from_secs(1), true);
        assert!(matches!(rx.try_recv(), Ok(ClockEvent::Lost { .. })));
        assert!(guard.check().unwrap_err().contains("unknown"));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn not_enforced_never_refuses_nor_reports() {
        let source = scripted();
        source.set(false, 99_000);
        let (guard, mut rx) = ClockGuard::new(source, Duration::from_secs(1), false);
        assert!(guard.check().is_ok());
        assert!(rx.try_recv().is_err());
    }
}
