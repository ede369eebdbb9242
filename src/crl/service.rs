//! The CRLs a node serves: the last CRL of each CA, rebuilt on demand when it is out of date.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::{CrlError, CrlIssuer, PublishedCrl};
use crate::clock::SharedClock;

#[derive(Debug)]
struct Slot {
    issuer: CrlIssuer,
    current: Mutex<Option<Arc<PublishedCrl>>>,
}

/// The CRL of each CA of this node, built on demand and kept until it is out of date: a CRL is
/// rebuilt when the CA has a revocation the CRL does not hold (checked against storage on every
/// request, so a revocation recorded by any process or node shows in the next CRL served), or
/// when it is older than the schedule's refresh interval. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CrlService {
    slots: Arc<BTreeMap<String, Slot>>,
    clock: SharedClock,
    actor: Arc<str>,
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
                        current: Mutex::new(None),
                    },
                )
            })
            .collect();
        Self {
            slots: Arc::new(slots),
            clock,
            actor: Arc::from(actor),
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

    /// The current CRL of the CA `name` (`None` for a name this service does not know),
    /// published first if there is none yet or the last one is out of date. Requests for one
    /// CA wait for each other, so that one rebuild serves them all.
    pub async fn current(&self, name: &str) -> Result<Option<Arc<PublishedCrl>>, CrlError> {
        let Some(slot) = self.slots.get(name) else {
            return Ok(None);
        };
        let mut current = slot.current.lock().await;
        if let Some(crl) = current.as_ref() {
            let mark = slot
                .issuer
                .storage
                .last_revocation_id_of(slot.issuer.name())
                .await?;
            let now = self.clock.now();
            let refresh_due = crl.this_update + slot.issuer.schedule().refresh();
            // A clock stepped back before thisUpdate also rebuilds: never serve a CRL "from the
            // future".
            if mark == crl.revocation_mark && now < refresh_due && now >= crl.this_update {
                return Ok(Some(crl.clone()));
            }
        }
        let crl = Arc::new(slot.issuer.publish(&self.actor).await?);
        *current = Some(crl.clone());
        Ok(Some(crl))
    }
}
