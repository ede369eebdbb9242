//! The node's CRL publisher: a background task that publishes each CA's CRL when it is due and
//! promptly after a revocation, so that a CRL exists (and is journaled) even when nobody
//! fetches it (EN 319 411-2 via EN 319 411-1: a CRL on a schedule and on every revocation).
//!
//! It wakes for the first of: the next CRL falling due (the refresh interval, less a small lead
//! so that requests do not find it due), a revocation recorded through this process
//! ([`CrlService::revocation_recorded`]), or the poll interval, when it reads each CA's
//! revocation mark to see revocations recorded by other processes or nodes. Requests meanwhile
//! get the current CRL, and still rebuild it themselves when it is out of date
//! ([`CrlService::current`]): the publisher is never the only guard.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::CrlService;

/// Longest lead: how long before the refresh interval ends the publisher publishes.
const MAX_LEAD: time::Duration = time::Duration::minutes(1);
/// Shortest wait between two rounds, so that a clock that jumps about never makes it spin.
const MIN_WAIT: Duration = Duration::from_millis(10);

/// How long before its refresh interval ends a CRL is published by the publisher: a tenth of
/// the interval, at most [`MAX_LEAD`].
fn lead(refresh: time::Duration) -> time::Duration {
    (refresh / 10_i32).min(MAX_LEAD)
}

impl CrlService {
    /// Starts the publisher: it publishes at once what is missing or due, then runs until
    /// `shutdown` resolves (a publication under way is finished first). `poll` is how often it
    /// reads the CAs' revocation marks.
    pub fn spawn_publisher(
        &self,
        poll: Duration,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move { service.run_publisher(poll, shutdown).await })
    }

    async fn run_publisher(&self, poll: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let names: Vec<String> = self.names().map(str::to_owned).collect();
        loop {
            let wait = self.publish_due(&names, poll).await;
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = self.revoked.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::debug!("CRL publisher stopped");
    }

    /// Publishes the CRLs of `names` that are missing, out of date or due; returns how long
    /// to wait before the next one falls due (at most `poll`).
    async fn publish_due(&self, names: &[String], poll: Duration) -> Duration {
        let mut wait = poll;
        for name in names {
            let Some(refresh) = self.refresh_of(name) else {
                continue;
            };
            let lead = lead(refresh);
            match self.publish_if_due(name, lead).await {
                Ok(Some(crl)) => {
                    let due = crl.this_update + refresh - lead;
                    let until = Duration::try_from(due - self.now()).unwrap_or(Duration::ZERO);
                    wait = wait.min(until);
                }
                Ok(None) => {}
                // Retried at the next poll; requests still rebuild an out-of-date CRL.
                Err(error) => tracing::error!(ca = %name, %error, "cannot publish the CRL"),
            }
        }
        wait.max(MIN_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lead_is_a_tenth_of_the_refresh_up_to_a_minute() {
        assert_eq!(
            lead(time::Duration::seconds(2)),
            time::Duration::milliseconds(200)
        );
        assert_eq!(
            lead(time::Duration::minutes(5)),
            time::Duration::seconds(30)
        );
        assert_eq!(lead(time::Duration::hours(1)), MAX_LEAD);
    }
}
