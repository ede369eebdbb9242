//! The pre-signed response cache: answers to requests without a nonce and with one `CertID`,
//! signed once and served again until half of their validity is spent, so that the common
//! request costs no HSM operation.
//!
//! Safety against revocations: each entry remembers the issuer's revocation mark (the highest
//! revocation id of that CA, [`crate::storage::Storage::last_revocation_id_of`]) read *before*
//! its status was read from the database. An entry is served only while that mark is still the
//! issuer's current one; the responder reads the current mark from the database before every
//! cached answer (or at most every `revocation_check` when configured, see
//! [`OcspCacheSettings::revocation_check`]), and a new mark drops every entry of that issuer.
//! Revocations recorded by any process or node are therefore seen at once with the default
//! `revocation_check` of zero. A revocation committed by this process is observed right after
//! its commit, before the revocation call returns, whatever `revocation_check` says (the
//! responder is a [`crate::ca::RevocationObserver`]).
//!
//! The cache is bounded: at most `max_entries` entries (good, revoked and unknown alike); the
//! oldest inserted entry is evicted first, so that a flood of random serials costs signatures but
//! never memory beyond the bound.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::responder::OcspAnswer;

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

#[derive(Debug)]
struct Entry {
    answer: OcspAnswer,
    /// Index of the issuer (the responder's authority).
    authority: usize,
    /// The issuer's revocation mark read before the status was read.
    mark: u64,
    /// Insertion sequence number (the key of `order`).
    seq: u64,
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
}

impl State {
    fn remove(&mut self, key: &[u8]) {
        if let Some(entry) = self.entries.remove(key) {
            self.order.remove(&entry.seq);
        }
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

    /// Records the issuer's mark `value`, known to be current at `checked_at` (read from the
    /// database after that instant, or committed by this process after it); a higher mark than
    /// the last one drops every entry of that issuer.
    ///
    /// Marks only grow (revocation ids are assigned in commit order), so a lower value is an
    /// older read finishing late and is ignored: taking it back would let an answer signed
    /// before a revocation be filed under the pre-revocation mark again.
    pub(crate) fn observe_mark(&self, authority: usize, value: u64, checked_at: Instant) {
        let mut state = self.lock();
        let Some(mark) = state.marks.get_mut(authority) else {
            return;
        };
        let changed = match mark.value {
            Some(old) if value < old => return,
            Some(old) => value != old,
            None => false,
        };
        let checked_at = match mark.checked_at {
            Some(at) if !changed => at.max(checked_at),
            _ => checked_at,
        };
        *mark = Mark {
            value: Some(value),
            checked_at: Some(checked_at),
        };
        if changed {
            let stale: Vec<Vec<u8>> = state
                .entries
                .iter()
                .filter(|(_, e)| e.authority == authority)
                .map(|(k, _)| k.clone())
                .collect();
            for key in stale {
                state.remove(&key);
            }
        }
    }

    /// The cached answer for `key` of issuer `authority`, if it was made under the issuer's
    /// revocation mark `mark` and less than half of its validity is spent at `now`.
    pub(crate) fn get(
        &self,
        authority: usize,
        key: &[u8],
        mark: u64,
        now: OffsetDateTime,
    ) -> Option<OcspAnswer> {
        let state = self.lock();
        let entry = state.entries.get(key)?;
        let (this_update, next_update) = entry.answer.validity?;
        let refresh_at = this_update + (next_update - this_update) / 2;
        // A clock stepped back before thisUpdate misses too: never serve an answer "from the
        // future".
        (entry.authority == authority
            && entry.mark == mark
            && now >= this_update
            && now < refresh_at)
            .then(|| entry.answer.clone())
    }

    /// Caches `answer` (a successful answer without nonce) for `key`, made under the issuer's
    /// mark `mark`, evicting the oldest entries beyond the bound.
    pub(crate) fn insert(&self, authority: usize, key: Vec<u8>, mark: u64, answer: OcspAnswer) {
        if !self.enabled() || answer.nonce || answer.validity.is_none() {
            return;
        }
        let mut state = self.lock();
        // An answer made under a mark older than the one already seen is stale at once.
        if state
            .marks
            .get(authority)
            .and_then(|m| m.value)
            .is_some_and(|current| current != mark)
        {
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
        state.entries.insert(
            key,
            Entry {
                answer,
                authority,
                mark,
                seq,
            },
        );
    }

    /// Number of cached answers.
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::pki::ocsp::OcspResponseStatus;

    const T0: OffsetDateTime = time::macros::datetime!(2026-03-01 00:00:00 UTC);

    fn answer(tag: u8) -> OcspAnswer {
        OcspAnswer {
            der: vec![tag; 4],
            status: OcspResponseStatus::Successful,
            validity: Some((T0, T0 + time::Duration::hours(1))),
            nonce: false,
            error_code: None,
        }
    }

    fn cache(max_entries: usize) -> OcspCache {
        OcspCache::new(
            OcspCacheSettings {
                max_entries,
                revocation_check: Duration::ZERO,
            },
            2,
        )
    }

    #[test]
    fn served_under_the_same_mark_until_half_of_the_validity() {
        let cache = cache(10);
        cache.observe_mark(0, 3, Instant::now());
        cache.insert(0, b"k".to_vec(), 3, answer(1));
        let minute = time::Duration::minutes(1);
        assert_eq!(cache.get(0, b"k", 3, T0).unwrap(), answer(1));
        assert_eq!(cache.get(0, b"k", 3, T0 + 29 * minute).unwrap(), answer(1));
        // Half of the hour spent: re-signed on the next request.
        assert!(cache.get(0, b"k", 3, T0 + 30 * minute).is_none());
        // Clock stepped back.
        assert!(cache.get(0, b"k", 3, T0 - minute).is_none());
        // Another mark, another issuer, another key.
        assert!(cache.get(0, b"k", 4, T0).is_none());
        assert!(cache.get(1, b"k", 3, T0).is_none());
        assert!(cache.get(0, b"j", 3, T0).is_none());
    }

    #[test]
    fn a_new_mark_drops_that_issuers_entries_only() {
        let cache = cache(10);
        let now = Instant::now();
        cache.observe_mark(0, 3, now);
        cache.observe_mark(1, 7, now);
        cache.insert(0, b"a".to_vec(), 3, answer(1));
        cache.insert(1, b"b".to_vec(), 7, answer(2));
        cache.observe_mark(0, 3, now);
        assert_eq!(cache.len(), 2);
        cache.observe_mark(0, 4, now);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(0, b"a", 4, T0).is_none());
        assert_eq!(cache.get(1, b"b", 7, T0).unwrap(), answer(2));
        // An answer signed under the old mark (a request in flight) is not kept.
        cache.insert(0, b"a".to_vec(), 3, answer(3));
        assert_eq!(cache.len(), 1);
        cache.insert(0, b"a".to_vec(), 4, answer(4));
        assert_eq!(cache.get(0, b"a", 4, T0).unwrap(), answer(4));
    }

    #[test]
    fn the_bound_holds_and_the_oldest_goes_first() {
        let cache = cache(100);
        cache.observe_mark(0, 0, Instant::now());
        for i in 0..1000u32 {
            cache.insert(0, i.to_be_bytes().to_vec(), 0, answer(0));
            assert!(cache.len() <= 100);
        }
        assert_eq!(cache.len(), 100);
        assert!(cache.get(0, &899u32.to_be_bytes(), 0, T0).is_none());
        assert!(cache.get(0, &900u32.to_be_bytes(), 0, T0).is_some());
        // Replacing a key keeps one entry for it.
        cache.insert(0, 950u32.to_be_bytes().to_vec(), 0, answer(9));
        assert_eq!(cache.len(), 100);
        assert_eq!(
            cache.get(0, &950u32.to_be_bytes(), 0, T0).unwrap(),
            answer(9)
        );
        let state = cache.lock();
        assert_eq!(state.order.len(), state.entries.len());
    }

    #[test]
    fn nonces_errors_and_a_disabled_cache_store_nothing() {
        let cache = cache(10);
        let mut with_nonce = answer(1);
        with_nonce.nonce = true;
        cache.insert(0, b"a".to_vec(), 0, with_nonce);
        let mut error = answer(2);
        error.validity = None;
        cache.insert(0, b"b".to_vec(), 0, error);
        assert_eq!(cache.len(), 0);
        let disabled = self::cache(0);
        assert!(!disabled.enabled());
        disabled.insert(0, b"a".to_vec(), 0, answer(1));
        assert_eq!(disabled.len(), 0);
    }

    #[test]
    fn marks_only_grow_and_a_late_older_read_is_ignored() {
        let cache = OcspCache::new(
            OcspCacheSettings {
                max_entries: 10,
                revocation_check: Duration::from_millis(500),
            },
            1,
        );
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // A read of mark 3 started at t0, then a revocation (mark 4) committed by this process
        // after t0 + 100 ms; the read of 3 finishes last.
        cache.observe_mark(0, 4, t0 + ms(100));
        cache.observe_mark(0, 3, t0);
        assert_eq!(cache.recent_mark(0, t0 + ms(200)), Some(4));
        // An answer signed by a request that still holds mark 3 is not kept.
        cache.insert(0, b"a".to_vec(), 3, answer(1));
        assert_eq!(cache.len(), 0);
        cache.insert(0, b"a".to_vec(), 4, answer(2));
        // The same mark read again: kept entries, trusted from the latest read.
        cache.observe_mark(0, 4, t0 + ms(50));
        assert_eq!(cache.recent_mark(0, t0 + ms(599)), Some(4));
        cache.observe_mark(0, 4, t0 + ms(300));
        assert_eq!(cache.recent_mark(0, t0 + ms(799)), Some(4));
        assert_eq!(cache.recent_mark(0, t0 + ms(800)), None);
        assert_eq!(cache.get(0, b"a", 4, T0).unwrap(), answer(2));
    }

    #[test]
    fn the_mark_is_trusted_only_for_revocation_check() {
        let now = Instant::now();
        let zero = cache(10);
        zero.observe_mark(0, 5, now);
        assert_eq!(zero.recent_mark(0, now), None);
        let cache = OcspCache::new(
            OcspCacheSettings {
                max_entries: 10,
                revocation_check: Duration::from_millis(500),
            },
            1,
        );
        assert_eq!(cache.recent_mark(0, now), None);
        cache.observe_mark(0, 5, now);
        assert_eq!(
            cache.recent_mark(0, now + Duration::from_millis(499)),
            Some(5)
        );
        assert_eq!(cache.recent_mark(0, now + Duration::from_millis(500)), None);
        assert_eq!(cache.recent_mark(1, now), None);
    }
}
