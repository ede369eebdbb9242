//! The CRLs a node serves: the last CRL of each CA, published by the node's publisher
//! ([`super::publisher`]) on schedule and after revocations, and rebuilt on request when it is
//! out of date (the safety net).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};

use time::OffsetDateTime;
use tokio::sync::Notify;

use super::{CrlError, CrlIssuer, PublishedCrl};
use crate::clock::SharedClock;

#[derive(Debug)]
struct Slot {
    issuer: CrlIssuer,
    /// The CRL served now, replaced whole; its lock is never held across an `.await`, so a
    /// request never waits for a publication of a CRL that is not out of date.
    current: std::sync::Mutex<Option<Arc<PublishedCrl>>>,
    /// One publication of this CA at a time: requests that find the CRL out of date wait for
    /// it, and one publication serves them all.
    publishing: tokio::sync::Mutex<()>,
}

impl Slot {
    fn current(&self) -> Option<Arc<PublishedCrl>> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether `crl` can be served at `now` to a reader that saw the revocation mark `mark`:
    /// it holds every revocation up to `mark` (marks only grow, in commit order), it is not
    /// "from the future" (a clock stepped back), and it is younger than the refresh interval
    /// less `lead`.
    fn serves(
        &self,
        crl: &PublishedCrl,
        mark: u64,
        now: OffsetDateTime,
        lead: time::Duration,
    ) -> bool {
        crl.revocation_mark >= mark
            && now >= crl.this_update
            && now < crl.this_update + self.issuer.schedule().refresh() - lead
    }
}

/// The CRL of each CA of this node. A request gets the current CRL unless the CA has a
/// revocation the CRL does not hold (checked against storage on every request, so a
/// revocation recorded by any process or node shows in the next CRL served) or the CRL is older
/// than the schedule's refresh interval; then the request publishes a new one. The node's
/// publisher ([`CrlService::spawn_publisher`]) does this ahead of requests. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CrlService {
    slots: Arc<BTreeMap<String, Slot>>,
    clock: SharedClock,
    actor: Arc<str>,
    /// Wakes the publisher after a revocation through this process.
    pub(super) revoked: Arc<Notify>,
}

impl CrlService {
    /// Serves the CRLs of `issuers` (one per CA name); `actor` is who the journal says
    /// published them (the node's system actor).
    pub fn new(issuers: Vec<CrlIssuer>, clock: SharedClock, actor: &str) -> Self {
        let slots = issuers
            .into_iter()
            .map(|issuer| {
                (
                    issuer.name().to_owned(),
                    Slot {
                        issuer,
                        current: std::sync::Mutex::new(None),
                        publishing: tokio::sync::Mutex::new(()),
                    },
                )
            })
            .collect();
        Self {
            slots: Arc::new(slots),
            clock,
            actor: Arc::from(actor),
            revoked: Arc::new(Notify::new()),
        }
    }

    /// Names of the CAs served.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.slots.keys().map(String::as_str)
    }

    /// Whole seconds from now until `crl`'s nextUpdate (0 once it is past).
    pub fn seconds_until_next_update(&self, crl: &PublishedCrl) -> u64 {
        u64::try_from((crl.next_update - self.clock.now()).whole_seconds()).unwrap_or(0)
    }

    /// Tells the publisher that this process recorded a revocation: the CRLs are checked now
    /// rather than at the next poll.
    pub fn revocation_recorded(&self) {
        self.revoked.notify_one();
    }

    /// The current CRL of the CA `name` (`None` for a name this service does not know),
    /// published first if there is none yet or the last one is out of date.
    pub async fn current(&self, name: &str) -> Result<Option<Arc<PublishedCrl>>, CrlError> {
        match self.slots.get(name) {
            Some(slot) => Ok(Some(self.ensure(slot, time::Duration::ZERO).await?)),
            None => Ok(None),
        }
    }

    /// The CA `name`'s CRL, published now unless the current one holds every recorded
    /// revocation and is younger than the refresh interval less `lead` (`None` for an unknown
    /// name). The publisher's path: it publishes `lead` ahead of requests.
    pub(super) async fn publish_if_due(
        &self,
        name: &str,
        lead: time::Duration,
    ) -> Result<Option<Arc<PublishedCrl>>, CrlError> {
        match self.slots.get(name) {
            Some(slot) => Ok(Some(self.ensure(slot, lead).await?)),
            None => Ok(None),
        }
    }

    /// The refresh interval of the CA `name`'s CRLs.
    pub(super) fn refresh_of(&self, name: &str) -> Option<time::Duration> {
        self.slots
            .get(name)
            .map(|slot| slot.issuer.schedule().refresh())
    }

    /// Now, from the service's clock.
    pub(super) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    async fn ensure(
        &self,
        slot: &Slot,
        lead: time::Duration,
    ) -> Result<Arc<PublishedCrl>, CrlError> {
        // The mark is read before the CRL is judged: a CRL holding it holds every revocation
        // committed before this call.
        let mark = slot
            .issuer
            .storage
            .last_revocation_id_of(slot.issuer.name())
            .await?;
        if let Some(crl) = slot.current()
            && slot.serves(&crl, mark, self.clock.now(), lead)
        {
            return Ok(crl);
        }
        let _publishing = slot.publishing.lock().await;
        // Published by someone else while this one waited?
        if let Some(crl) = slot.current()
            && slot.serves(&crl, mark, self.clock.now(), lead)
        {
            return Ok(crl);
        }
        let crl = Arc::new(slot.issuer.publish(&self.actor).await?);
        *slot.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(crl.clone());
        Ok(crl)
    }
}

/// A revocation committed by this process wakes the publisher (see
/// [`CrlService::revocation_recorded`]).
impl crate::ca::RevocationObserver for CrlService {
    fn revoked<'a>(
        &'a self,
        _record: &'a crate::storage::RevocationRecord,
        _started: std::time::Instant,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        self.revocation_recorded();
        Box::pin(std::future::ready(()))
    }
}
