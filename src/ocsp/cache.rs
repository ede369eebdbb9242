//! The pre-signed response cache: answers to requests without a nonce and with one `CertID`,
//! signed once and served again, so that the common request costs no HSM operation.
//!
//! Timing: an answer valid from thisUpdate to nextUpdate is re-signed by the responder's
//! refresher task at half of its validity, when it was served since it was signed
//! (`OcspCache::due`); requests are answered from it until three quarters of its validity,
//! so steady traffic never waits for a signature, and an answer nobody asks for again is
//! dropped then. A request that finds nothing fresh signs on demand (one signature for all the
//! concurrent requests of one `CertID`, see `super::flight`).
//!
//! Safety against revocations: each CA has a revocation mark, the highest revocation id of that
//! CA ([`crate::storage::Storage::last_revocation_id_of`]); ids only grow, in commit order. Every
//! entry of a CA is filed under the CA's current mark, and its status was read from the database
//! after that mark was read. A request reads the current mark from the database (or trusts the
//! last one for `revocation_check`, see [`OcspCacheSettings::revocation_check`]) and is answered
//! from an entry only when the entry's mark is at least the one it read, so the answer holds
//! every revocation committed before the request.
//!
//! When the mark moves from `old` to `new`, the entries need not all go: the status of an
//! issued certificate changes only by revocation (final, no certificateHold), and every
//! revocation of the CA since `old` has an id above `old`. So the revocations of the CA with an id
//! above `old` are read ([`crate::storage::Storage::revocations_of_since`]); the entries of those
//! serials are removed (and signed again at once, now saying revoked) and every other entry is
//! re-filed under `new`, still true (`OcspCache::advance`). When that list is long (a mass
//! revocation) or cannot be read, every entry of the CA is dropped instead, as before any of
//! this. (An `unknown` answer may also become `good`, by the issuance of that serial; but a
//! serial is random and unpublished until its certificate exists, so nobody asks about it before,
//! and the refresher reads the status again anyway.)
//!
//! The cache is bounded: at most `max_entries` entries (good, revoked and unknown alike); the
//! oldest inserted entry is evicted first, so that a flood of random serials costs signatures but
//! never memory beyond the bound.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::request::RequestedCert;
use super::responder::OcspAnswer;
use crate::storage::CertificateSerial;

/// Default bound on the number of cached responses (about 1.5 KiB each).
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// Largest accepted `revocation_check` (one minute).
pub const MAX_REVOCATION_CHECK: Duration = Duration::from_secs(60);

/// How the cache behaves (`[ocsp]` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcspCacheSettings {
    /// Most responses held; 0 disables the cache (every answer is signed on demand).
    pub max_entries: usize,
    /// How long the last revocation mark read from the database may be trusted. Zero (the
    /// default) reads it before every cached answer: a revocation committed by any process is
    /// never hidden by the cache. With a positive value, a revocation committed at `t` shows in
    /// every answer served from `t + revocation_check` on (answers signed on demand always read
    /// the status from the database).
    pub revocation_check: Duration,
}

impl Default for OcspCacheSettings {
    fn default() -> Self {
        Self {
            max_entries: DEFAULT_MAX_ENTRIES,
            revocation_check: Duration::ZERO,
        }
    }
}

/// When the refresher signs an answer valid from `this_update` to `next_update` again.
fn refresh_at(this_update: OffsetDateTime, next_update: OffsetDateTime) -> OffsetDateTime {
    this_update + (next_update - this_update) / 2
}

/// Until when requests are answered with it.
fn serve_until(this_update: OffsetDateTime, next_update: OffsetDateTime) -> OffsetDateTime {
    this_update + (next_update - this_update) * 3 / 4
}

#[derive(Debug)]
struct Entry {
    answer: OcspAnswer,
    /// Index of the issuer (the responder's authority).
    authority: usize,
    /// The issuer's revocation mark the entry is filed under.
    mark: u64,
    /// Insertion sequence number (the key of `order`).
    seq: u64,
    /// What was asked, to sign the answer again.
    cert: Arc<RequestedCert>,
    /// The serial as storage holds it (`None`: one storage cannot hold, never issued).
    serial: Option<CertificateSerial>,
    /// Served since it was signed: only such entries are refreshed.
    used: bool,
}

/// The last revocation mark read for one issuer.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    value: Option<u64>,
    checked_at: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Vec<u8>, Entry>,
    /// Insertion order: sequence number -> key.
    order: BTreeMap<u64, Vec<u8>>,
    next_seq: u64,
    marks: Vec<Mark>,
    /// Answers removed by a revocation, to sign again at once.
    urgent: Vec<Due>,
}

impl State {
    fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.order.remove(&entry.seq);
        Some(entry)
    }
}

/// How a mark just read compares with the cache's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkSeen {
    /// The cache's mark is this one or a later one: nothing to do.
    Current,
    /// Revocations since the cache's mark `old`: [`OcspCache::advance`] first.
    Newer { old: u64 },
}

/// An entry the refresher signs again.
#[derive(Debug, Clone)]
pub(crate) struct Due {
    pub(crate) authority: usize,
    pub(crate) cert: Arc<RequestedCert>,
    /// Removed by a revocation: not signed again if a request cached it meanwhile.
    pub(crate) revoked: bool,
}

impl Entry {
    /// Whether it may answer, at `now`, a request of issuer `authority` that read `mark`.
    fn serves(&self, authority: usize, mark: u64, now: OffsetDateTime) -> bool {
        // A clock stepped back before thisUpdate misses too: never serve an answer "from the
        // future".
        self.answer
            .validity
            .is_some_and(|(this_update, next_update)| {
                self.authority == authority
                    && self.mark >= mark
                    && now >= this_update
                    && now < serve_until(this_update, next_update)
            })
    }
}

/// The cache of one responder. Its lock is never held across an `.await`.
#[derive(Debug)]
pub(crate) struct OcspCache {
    settings: OcspCacheSettings,
    state: Mutex<State>,
}

impl OcspCache {
    pub(crate) fn new(settings: OcspCacheSettings, authorities: usize) -> Self {
        Self {
            settings,
            state: Mutex::new(State {
                marks: vec![Mark::default(); authorities],
                ..State::default()
            }),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.settings.max_entries > 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every change is made whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The issuer's mark when it was read less than `revocation_check` ago (never with the
    /// default zero): the database need not be asked.
    pub(crate) fn recent_mark(&self, authority: usize, now: Instant) -> Option<u64> {
        let state = self.lock();
        let mark = state.marks.get(authority)?;
        match (mark.value, mark.checked_at) {
            (Some(value), Some(at))
                if now.saturating_duration_since(at) < self.settings.revocation_check =>
            {
                Some(value)
            }
            _ => None,
        }
    }

    /// The issuer's mark now (`None` before the first one is read).
    pub(crate) fn mark(&self, authority: usize) -> Option<u64> {
        self.lock().marks.get(authority).and_then(|m| m.value)
    }

    /// Compares the issuer's mark `value`, read from the database at `checked_at`, with the
    /// cache's; the first one read, or the same one, is recorded at once.
    pub(crate) fn note_mark(&self, authority: usize, value: u64, checked_at: Instant) -> MarkSeen {
        let mut state = self.lock();
        let Some(mark) = state.marks.get_mut(authority) else {
            return MarkSeen::Current;
        };
        match mark.value {
            Some(old) if old < value => MarkSeen::Newer { old },
            // A read that started before a later one finished: nothing new in it.
            Some(old) if old > value => MarkSeen::Current,
            _ => {
                *mark = Mark {
                    value: Some(value),
                    checked_at: Some(checked_at),
                };
                MarkSeen::Current
            }
        }
    }

    /// Moves the issuer's mark from `old` to `new`, given `revoked`: the serials of every
    /// revocation of the issuer with an id above `old` (at least up to `new`), or `None` when
    /// they are unknown. Known: the entries of those serials are removed and queued to be signed
    /// again ([`Self::take_urgent`]), the others re-filed under `new`. Unknown: every entry of
    /// the issuer is removed. Returns the number of entries queued. Does nothing when the
    /// cache's mark is already `new` or later, or is below `old` (the list would not cover it).
    pub(crate) fn advance(
        &self,
        authority: usize,
        old: u64,
        new: u64,
        revoked: Option<&HashSet<CertificateSerial>>,
        checked_at: Instant,
    ) -> usize {
        let mut state = self.lock();
        let Some(current) = state.marks.get(authority).and_then(|m| m.value) else {
            return 0;
        };
        if current >= new || current < old {
            return 0;
        }
        let mut removed = Vec::new();
        let mut kept = 0usize;
        for (key, entry) in &mut state.entries {
            if entry.authority != authority {
                continue;
            }
            let hit = match (revoked, &entry.serial) {
                (None, _) => true,
                (Some(revoked), Some(serial)) => revoked.contains(serial),
                (Some(_), None) => false,
            };
            if hit {
                removed.push(key.clone());
            } else {
                entry.mark = new;
                kept += 1;
            }
        }
        let mut queued = 0;
        for key in removed {
            let Some(entry) = state.remove(&key) else {
                continue;
            };
            if revoked.is_some() && state.urgent.len() < self.settings.max_entries {
                state.urgent.push(Due {
                    authority,
                    cert: entry.cert,
                    revoked: true,
                });
                queued += 1;
            }
        }
        if let Some(mark) = state.marks.get_mut(authority) {
            *mark = Mark {
                value: Some(new),
                checked_at: Some(checked_at),
            };
        }
        tracing::debug!(authority, old, new, kept, queued, "OCSP cache re-filed");
        queued
    }

    /// The answers removed by revocations since the last call, to sign again.
    pub(crate) fn take_urgent(&self) -> Vec<Due> {
        std::mem::take(&mut self.lock().urgent)
    }

    /// The cached answer for `key` of issuer `authority`, if it was filed under a mark of at
    /// least `mark` and less than three quarters of its validity are spent at `now`.
    pub(crate) fn get(
        &self,
        authority: usize,
        key: &[u8],
        mark: u64,
        now: OffsetDateTime,
    ) -> Option<OcspAnswer> {
        let mut state = self.lock();
        let entry = state.entries.get_mut(key)?;
        if !entry.serves(authority, mark, now) {
            return None;
        }
        entry.used = true;
        Some(entry.answer.clone())
    }

    /// Whether [`Self::get`] would answer, without counting it as a use.
    pub(crate) fn holds(
        &self,
        authority: usize,
        key: &[u8],
        mark: u64,
        now: OffsetDateTime,
    ) -> bool {
        self.lock()
            .entries
            .get(key)
            .is_some_and(|entry| entry.serves(authority, mark, now))
    }

    /// Caches `answer` (a successful answer without nonce) to `cert` for `key`, made under the
    /// issuer's mark `mark`, evicting the oldest entries beyond the bound. An answer made under
    /// another mark than the cache's is not kept: it may miss a revocation the cache has seen.
    pub(crate) fn insert(
        &self,
        authority: usize,
        key: Vec<u8>,
        mark: u64,
        cert: &Arc<RequestedCert>,
        answer: OcspAnswer,
    ) {
        if !self.enabled() || answer.nonce || answer.validity.is_none() {
            return;
        }
        let mut state = self.lock();
        if state.marks.get(authority).and_then(|m| m.value) != Some(mark) {
            return;
        }
        state.remove(&key);
        while state.entries.len() >= self.settings.max_entries {
            let Some((_, oldest)) = state.order.pop_first() else {
                break;
            };
            state.entries.remove(&oldest);
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.order.insert(seq, key.clone());
        let serial = CertificateSerial::from_der_content(cert.serial_number.as_bytes()).ok();
        state.entries.insert(
            key,
            Entry {
                answer,
                authority,
                mark,
                seq,
                cert: cert.clone(),
                serial,
                used: false,
            },
        );
    }

    /// The entries to sign again at `now`: those served since they were signed and past half
    /// of their validity. Entries that can no longer be served (three quarters of their
    /// validity spent, or the clock before their thisUpdate) are removed; those served since
    /// are still returned, so that steady traffic gets them back.
    pub(crate) fn due(&self, now: OffsetDateTime) -> Vec<Due> {
        let mut state = self.lock();
        let mut due = Vec::new();
        let mut stale = Vec::new();
        for (key, entry) in &state.entries {
            let Some((this_update, next_update)) = entry.answer.validity else {
                continue;
            };
            let servable = now >= this_update && now < serve_until(this_update, next_update);
            if !servable {
                stale.push(key.clone());
            }
            if entry.used && (!servable || now >= refresh_at(this_update, next_update)) {
                due.push(Due {
                    authority: entry.authority,
                    cert: entry.cert.clone(),
                    revoked: false,
                });
            }
        }
        for key in stale {
            state.remove(&key);
        }
        due
    }

    /// Number of cached answers.
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests;
