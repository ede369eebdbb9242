//! Refusing to stamp while the clock cannot be trusted (EN 319 421: the TSA does not issue
//! time-stamps when its clock is outside the declared accuracy).
//!
//! Every request asks [`ClockGuard::check`], which reads the synchronization source (for the
//! kernel, one `adjtimex` call). A change between "available" and "not available" is an
//! episode boundary: it is sent once to the monitor task, which logs it and writes it to the
//! audit journal. The monitor also reads the clock every second, which notices episodes when no
//! request arrives, and journals what it read once a period (a `clock_status` record), so that
//! the journal holds evidence for the periods in between too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::audit::{AuditEvent, Journal};
use crate::clock::{SharedClock, SyncReading, SyncSource};

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
        let reading = self.source.read();
        self.judge(&reading)
    }

    /// Reads the source, enforced or not (the monitor states what it read either way), and
    /// judges the reading as [`ClockGuard::check`] does when enforced.
    fn observe(&self) -> Result<SyncReading, String> {
        let reading = self.source.read();
        if self.enforced {
            let _ = self.judge(&reading);
        }
        reading
    }

    /// The verdict on a reading; a change of verdict is an episode boundary, sent to the monitor.
    fn judge(&self, reading: &Result<SyncReading, String>) -> Result<(), String> {
        let verdict = match reading {
            Ok(reading) if reading.within(self.accuracy) => Ok(reading.detail.clone()),
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

/// What the monitor read since its last statement.
#[derive(Debug)]
struct ClockTally {
    from: OffsetDateTime,
    readings: u64,
    within_accuracy: u64,
    max_error: Option<Duration>,
    last_detail: String,
}

impl ClockTally {
    fn new(from: OffsetDateTime) -> Self {
        Self {
            from,
            readings: 0,
            within_accuracy: 0,
            max_error: None,
            last_detail: String::new(),
        }
    }

    fn add(&mut self, reading: &Result<SyncReading, String>, accuracy: Duration) {
        self.readings += 1;
        match reading {
            Ok(reading) => {
                if reading.within(accuracy) {
                    self.within_accuracy += 1;
                }
                self.max_error = self.max_error.max(Some(reading.max_error));
                self.last_detail.clone_from(&reading.detail);
            }
            Err(error) => self.last_detail = format!("synchronization state unknown: {error}"),
        }
    }

    /// The `clock_status` event for the period ending at `to`.
    fn statement(&self, source: &str, to: OffsetDateTime, terms: &GuardTerms) -> AuditEvent {
        AuditEvent::ClockStatus {
            source: source.to_owned(),
            from: self.from,
            to,
            readings: self.readings,
            within_accuracy: self.within_accuracy,
            accuracy_us: micros(terms.accuracy),
            max_error_us: self.max_error.map(micros),
            enforced: terms.enforced,
            detail: self.last_detail.clone(),
        }
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The guard's terms, kept by the monitor for its last statement (the guard may be gone by then).
#[derive(Debug, Clone, Copy)]
struct GuardTerms {
    accuracy: Duration,
    enforced: bool,
}

/// What the clock monitor needs besides the guard.
#[derive(Debug)]
pub struct MonitorSetup {
    /// Where episodes and statements are journaled.
    pub journal: Journal,
    /// The actor of those records.
    pub actor: String,
    /// The time the statements' periods are given in.
    pub clock: SharedClock,
    /// How long a statement's period is (`tsa.clock_report_seconds`).
    pub report_every: Duration,
}

/// Logs and journals each episode boundary, reads the clock every second, and journals a
/// `clock_status` statement every `report_every` and a last one for the period cut short by
/// the end. Ends when the guard is dropped, after journaling the boundaries still queued.
pub fn spawn_monitor(
    guard: &Arc<ClockGuard>,
    mut events: mpsc::UnboundedReceiver<ClockEvent>,
    setup: MonitorSetup,
) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(guard);
    let source = guard.source_name().to_owned();
    let terms = GuardTerms {
        accuracy: guard.accuracy,
        enforced: guard.enforced,
    };
    let MonitorSetup {
        journal,
        actor,
        clock,
        report_every,
    } = setup;
    let report_every = report_every.max(MONITOR_PERIOD);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(MONITOR_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut report =
            tokio::time::interval_at(tokio::time::Instant::now() + report_every, report_every);
        report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tally = ClockTally::new(clock.now());
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
                        tally.add(&guard.observe(), terms.accuracy);
                    }
                }
                _ = report.tick() => {
                    let now = clock.now();
                    let finished = std::mem::replace(&mut tally, ClockTally::new(now));
                    journal_statement(&journal, &actor, &source, &finished, now, &terms).await;
                }
            }
        }
        journal_statement(&journal, &actor, &source, &tally, clock.now(), &terms).await;
    })
}

/// Journals the statement of a period in which the clock was read.
async fn journal_statement(
    journal: &Journal,
    actor: &str,
    source: &str,
    tally: &ClockTally,
    to: OffsetDateTime,
    terms: &GuardTerms,
) {
    if tally.readings == 0 {
        return;
    }
    if let Err(error) = journal
        .append(&tally.statement(source, to, terms), actor)
        .await
    {
        tracing::error!(%error, "cannot journal the clock's status");
    }
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
    fn a_tally_counts_readings_within_the_accuracy_and_keeps_the_worst_error() {
        let from = time::macros::datetime!(2026-11-23 10:00 UTC);
        let to = time::macros::datetime!(2026-11-23 11:00 UTC);
        let reading = |synchronized, max_error_ms| {
            Ok(SyncReading {
                synchronized,
                max_error: Duration::from_millis(max_error_ms),
                detail: format!("read {synchronized} {max_error_ms}"),
            })
        };
        let accuracy = Duration::from_secs(1);
        let mut tally = ClockTally::new(from);
        tally.add(&reading(true, 5), accuracy);
        tally.add(&reading(true, 1500), accuracy);
        tally.add(&reading(false, 2), accuracy);
        tally.add(&reading(true, 999), accuracy);
        let terms = GuardTerms {
            accuracy,
            enforced: true,
        };
        assert_eq!(
            tally.statement("kernel", to, &terms),
            AuditEvent::ClockStatus {
                source: "kernel".into(),
                from,
                to,
                readings: 4,
                within_accuracy: 2,
                accuracy_us: 1_000_000,
                max_error_us: Some(1_500_000),
                enforced: true,
                detail: "read true 999".into(),
            }
        );
        // A failed reading counts, outside the accuracy, and is the last detail.
        tally.add(&Err("adjtimex failed".into()), accuracy);
        let AuditEvent::ClockStatus {
            readings,
            within_accuracy,
            max_error_us,
            detail,
            ..
        } = tally.statement("kernel", to, &terms)
        else {
            unreachable!()
        };
        assert_eq!((readings, within_accuracy), (5, 2));
        assert_eq!(max_error_us, Some(1_500_000));
        assert_eq!(detail, "synchronization state unknown: adjtimex failed");
        // Nothing read successfully: no maximum error to state.
        let mut empty = ClockTally::new(from);
        empty.add(&Err("gone".into()), accuracy);
        let AuditEvent::ClockStatus { max_error_us, .. } = empty.statement("kernel", to, &terms)
        else {
            unreachable!()
        };
        assert_eq!(max_error_us, None);
    }

    #[test]
    fn the_monitor_reads_an_unenforced_clock_without_opening_an_episode() {
        let source = scripted();
        source.set(false, 99_000);
        let (guard, mut rx) = ClockGuard::new(source.clone(), Duration::from_secs(1), false);
        let reading = guard.observe().unwrap();
        assert!(!reading.synchronized);
        assert!(rx.try_recv().is_err());
        // Enforced, the monitor's reading opens the episode as a request's check would.
        let (guard, mut rx) = ClockGuard::new(source, Duration::from_secs(1), true);
        assert!(matches!(rx.try_recv(), Ok(ClockEvent::Lost { .. })));
        let _ = guard.observe();
        assert!(rx.try_recv().is_err(), "same episode");
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
