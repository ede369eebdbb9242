//! Pre-signed answers: the request path through the cache ([`super::cache`]) and the
//! single-flight table (`super::flight`), the handling of a new revocation mark, and the
//! refresher task that signs cached answers again before they are due.
//!
//! The refresher wakes every [`refresher_tick`] (and at once when a revocation removed cached
//! answers). Each round it reads every CA's revocation mark from the database, so revocations
//! made by other processes or nodes replace the cached answers they concern even without a
//! request; then it signs again the answers removed by revocations (now saying revoked) and
//! the cached answers served since they were signed that are past half of their validity.
//! Requests are answered from an entry until three quarters of its validity, so a round late
//! by less than a quarter of the validity costs no request a signature.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use der::Encode;
use tokio::task::JoinSet;

use super::cache::{Due, MarkSeen};
use super::flight::{self, Joined};
use super::request::{CheckedOcspRequest, RequestedCert};
use super::responder::{OcspAnswer, OcspAuthority, OcspError, OcspResponder};
use crate::ca::RevocationObserver;
use crate::pki::PkiError;
use crate::storage::RevocationRecord;

/// The longest list of revocations since the cache's mark that is applied entry by entry; a
/// longer one (a mass revocation) drops the CA's cached answers instead.
pub const MAX_REVOCATIONS_APPLIED: u32 = 1000;
/// Signatures the refresher has in flight at most (the batch signer groups them).
const REFRESH_CONCURRENCY: usize = 32;

/// How often the refresher runs for answers valid `next_update`: a sixteenth of it, from 50 ms
/// to 5 s (well inside the quarter of the validity between its target and the end of serving).
#[must_use]
pub fn refresher_tick(next_update: time::Duration) -> Duration {
    Duration::try_from(next_update / 16)
        .unwrap_or(Duration::ZERO)
        .clamp(Duration::from_millis(50), Duration::from_secs(5))
}

impl OcspResponder {
    /// The answer to a request without nonce for the one `cert` of the CA `index`: from the
    /// cache when it holds one made under the CA's current revocation mark (or a later one),
    /// else signed (once for all concurrent requests of that `CertID`) and cached. The mark is
    /// read before the status (in [`Self::sign`]), so that a cached answer is never older than
    /// the mark it is filed under.
    pub(super) async fn cached(
        &self,
        request: &CheckedOcspRequest,
        cert: &RequestedCert,
        index: usize,
        authority: &OcspAuthority,
    ) -> Result<OcspAnswer, OcspError> {
        let inner = &*self.inner;
        // The whole CertID DER (hash algorithm with its parameters, both issuer hashes, serial):
        // the cached bytes echo exactly the CertID the on-demand path would.
        let key = cert.cert_id.to_der().map_err(PkiError::encode("CertID"))?;
        let mark = match inner.cache.recent_mark(index, Instant::now()) {
            Some(mark) => mark,
            None => self.read_mark(index).await?,
        };
        if let Some(answer) = inner.cache.get(index, &key, mark, inner.clock.now()) {
            inner.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(answer);
        }
        match inner.flights.join(&key, mark) {
            Joined::Lead(flight) => {
                // A flight that finished between the lookup above and the join filed its
                // answer before it let go of the key: look again before signing.
                if let Some(answer) = inner.cache.get(index, &key, mark, inner.clock.now()) {
                    inner.cache_hits.fetch_add(1, Ordering::Relaxed);
                    flight.finish(&answer);
                    return Ok(answer);
                }
                let signed = self.sign(request, &[authority]).await;
                let answer = match &signed {
                    Ok(answer) => {
                        inner.cache.insert(
                            index,
                            key,
                            flight.mark(),
                            &Arc::new(cert.clone()),
                            answer.clone(),
                        );
                        answer.clone()
                    }
                    // The followers get the same refusal (tryLater, internalError).
                    Err(error) => OcspAnswer::error(error.status(), error.code()),
                };
                flight.finish(&answer);
                signed
            }
            Joined::Follow(waiting) => match flight::wait(waiting).await {
                Some(answer) => {
                    inner.cache_hits.fetch_add(1, Ordering::Relaxed);
                    Ok(answer)
                }
                // The leader went away (its client hung up): sign for this one.
                None => self.sign(request, &[authority]).await,
            },
            Joined::Alone => self.sign(request, &[authority]).await,
        }
    }

    /// Reads the CA `index`'s revocation mark from the database and brings the cache up to it.
    ///
    /// A request needs a mark read that started after it arrived (so that it sees every
    /// revocation committed before it). Reads of one CA run one at a time, and a read serves
    /// every request that arrived before it started: requests that queue behind a read in flight
    /// share the next one, so a burst costs a few reads rather than one each.
    async fn read_mark(&self, index: usize) -> Result<u64, OcspError> {
        let inner = &*self.inner;
        let (Some(authority), Some(reads)) =
            (inner.authorities.get(index), inner.mark_reads.get(index))
        else {
            return Ok(0);
        };
        let arrived = Instant::now();
        let mut last = reads.lock().await;
        if let Some((started, mark)) = *last
            && started >= arrived
        {
            return Ok(mark);
        }
        let checked_at = Instant::now();
        let mark = inner
            .storage
            .last_revocation_id_of(authority.name())
            .await?;
        *last = Some((checked_at, mark));
        drop(last);
        if let MarkSeen::Newer { .. } = inner.cache.note_mark(index, mark, checked_at) {
            self.advance(index, mark, checked_at).await;
        }
        Ok(mark)
    }

    /// Moves the cache of CA `index` to the mark `new`: the answers about serials revoked since
    /// the cache's mark are removed (and queued for the refresher), the others kept; every
    /// answer of the CA is dropped when those revocations are too many or cannot be read.
    async fn advance(&self, index: usize, new: u64, checked_at: Instant) {
        let inner = &*self.inner;
        let (Some(authority), Some(advancing)) =
            (inner.authorities.get(index), inner.advancing.get(index))
        else {
            return;
        };
        // One change at a time per CA; whoever waited finds the work done.
        let _one_at_a_time = advancing.lock().await;
        let Some(old) = inner.cache.mark(index) else {
            return;
        };
        if old >= new {
            return;
        }
        let revoked = match inner
            .storage
            .revocations_of_since(authority.name(), old, MAX_REVOCATIONS_APPLIED + 1)
            .await
        {
            Ok(list) if list.len() <= MAX_REVOCATIONS_APPLIED as usize => {
                Some(list.into_iter().map(|r| r.serial).collect::<HashSet<_>>())
            }
            Ok(_) => {
                tracing::info!(ca = %authority.name(), old, new, "many revocations: cached OCSP answers of the CA dropped");
                None
            }
            Err(error) => {
                tracing::warn!(ca = %authority.name(), %error, "cannot list new revocations: cached OCSP answers of the CA dropped");
                None
            }
        };
        let queued = inner
            .cache
            .advance(index, old, new, revoked.as_ref(), checked_at);
        if queued > 0 {
            inner.urgent.notify_one();
        }
    }

    /// Starts the refresher (see the module notes); it runs until `shutdown` resolves, after
    /// the round under way. Does nothing but wait when the cache is disabled.
    pub fn spawn_refresher(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let responder = self.clone();
        tokio::spawn(async move {
            let tick = refresher_tick(responder.inner.next_update);
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = responder.inner.urgent.notified() => {}
                    () = tokio::time::sleep(tick) => {}
                }
                if responder.inner.cache.enabled() {
                    responder.refresh_round().await;
                }
            }
            tracing::debug!("OCSP refresher stopped");
        })
    }

    /// One round of the refresher: marks, then answers removed by revocations, then answers due.
    async fn refresh_round(&self) {
        let inner = &*self.inner;
        let mut marks = Vec::with_capacity(inner.authorities.len());
        for index in 0..inner.authorities.len() {
            match self.read_mark(index).await {
                Ok(mark) => marks.push(Some(mark)),
                Err(error) => {
                    tracing::warn!(%error, "OCSP refresher cannot read a revocation mark");
                    marks.push(None);
                }
            }
        }
        let mut work = inner.cache.take_urgent();
        work.extend(inner.cache.due(inner.clock.now()));
        let mut tasks = JoinSet::new();
        for due in work {
            // Filed under the mark read above, before the status is read.
            let Some(Some(mark)) = marks.get(due.authority).copied() else {
                continue;
            };
            while tasks.len() >= REFRESH_CONCURRENCY {
                let _ = tasks.join_next().await;
            }
            let responder = self.clone();
            tasks.spawn(async move { responder.refresh_one(&due, mark).await });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Signs the answer to `due` again and caches it, unless a request is signing it already.
    async fn refresh_one(&self, due: &Due, mark: u64) {
        let inner = &*self.inner;
        let Some(authority) = inner.authorities.get(due.authority) else {
            return;
        };
        let Ok(key) = due.cert.cert_id.to_der() else {
            return;
        };
        if due.revoked
            && inner
                .cache
                .holds(due.authority, &key, mark, inner.clock.now())
        {
            return;
        }
        let flight = match inner.flights.join(&key, mark) {
            Joined::Lead(flight) => Some(flight),
            Joined::Follow(_) => return,
            Joined::Alone => None,
        };
        let request = CheckedOcspRequest {
            requests: vec![(*due.cert).clone()],
            nonce: None,
            signed: false,
        };
        match self.sign(&request, &[authority]).await {
            Ok(answer) => {
                inner.refreshes.fetch_add(1, Ordering::Relaxed);
                inner
                    .cache
                    .insert(due.authority, key, mark, &due.cert, answer.clone());
                if let Some(flight) = flight {
                    flight.finish(&answer);
                }
            }
            // The entry is served until it is stale, and tried again next round.
            Err(error) => tracing::warn!(%error, "OCSP refresher cannot sign an answer"),
        }
    }
}

/// A revocation committed by this process brings the issuer's cache up to it before the
/// revocation call returns, as a request reading the new mark would (the answers about the
/// revoked serial go, the others stay): with `revocation_check` > 0 the cache would otherwise
/// trust its older mark for a while, which is meant for other nodes' revocations only. The mark
/// is trusted from `started`, before the revocation's transaction, so that an answer made from an
/// older read can no longer be filed.
impl RevocationObserver for OcspResponder {
    fn revoked<'a>(
        &'a self,
        record: &'a RevocationRecord,
        started: Instant,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let inner = &*self.inner;
            let Some(index) = inner
                .authorities
                .iter()
                .position(|a| a.name() == record.issuer)
            else {
                return;
            };
            if let MarkSeen::Newer { .. } = inner.cache.note_mark(index, record.id, started) {
                self.advance(index, record.id, started).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tick_is_a_sixteenth_of_the_validity_within_bounds() {
        assert_eq!(
            refresher_tick(time::Duration::seconds(8)),
            Duration::from_millis(500)
        );
        assert_eq!(
            refresher_tick(time::Duration::seconds(1)),
            Duration::from_millis(62) + Duration::from_micros(500)
        );
        assert_eq!(
            refresher_tick(time::Duration::milliseconds(100)),
            Duration::from_millis(50)
        );
        assert_eq!(
            refresher_tick(time::Duration::hours(1)),
            Duration::from_secs(5)
        );
    }
}
