//! Single flight: concurrent requests for the same uncached answer share one signature.
//!
//! The first request for a key leads: it signs, files the answer in the cache, then hands it to
//! the requests that joined meanwhile. A request joins only a flight whose answer is at least as
//! recent as its own view of the revocations: the leader read the issuer's revocation mark
//! before the status, so a flight made under a mark at least the joiner's reads the status after
//! every revocation the joiner could know of (marks only grow, in commit order). Otherwise it
//! leads a new flight for that key.
//!
//! The table is bounded (the cache's `max_entries`): when full, a request signs alone, so that a
//! flood of distinct serials costs signatures but never memory beyond the bound. A leader that
//! goes away (its client hung up) releases its key, and its followers sign alone.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use super::responder::OcspAnswer;

#[derive(Debug)]
struct Pending {
    id: u64,
    mark: u64,
    answer: watch::Receiver<Option<OcspAnswer>>,
}

#[derive(Debug, Default)]
struct State {
    pending: HashMap<Vec<u8>, Pending>,
    next_id: u64,
}

/// The signatures in flight of one responder. Its lock is never held across an `.await`.
#[derive(Debug)]
pub(crate) struct Flights {
    max_pending: usize,
    state: Mutex<State>,
}

/// What a request does about a key the cache does not hold.
#[derive(Debug)]
pub(crate) enum Joined<'a> {
    /// Sign, then [`Flight::finish`].
    Lead(Flight<'a>),
    /// Wait for the answer another request is signing ([`wait`]).
    Follow(watch::Receiver<Option<OcspAnswer>>),
    /// Sign without sharing: the table is full.
    Alone,
}

impl Flights {
    pub(crate) fn new(max_pending: usize) -> Self {
        Self {
            max_pending,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change is made whole: the state stays consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the flight for `key` if one was started under a revocation mark of at least
    /// `mark`; else starts one (replacing an older one, whose leader still finishes for its own
    /// followers).
    pub(crate) fn join(&self, key: &[u8], mark: u64) -> Joined<'_> {
        let mut state = self.lock();
        match state.pending.get(key) {
            Some(pending) if pending.mark >= mark => {
                return Joined::Follow(pending.answer.clone());
            }
            Some(_) => {}
            None if state.pending.len() >= self.max_pending => return Joined::Alone,
            None => {}
        }
        let id = state.next_id;
        state.next_id += 1;
        let (sender, answer) = watch::channel(None);
        state
            .pending
            .insert(key.to_vec(), Pending { id, mark, answer });
        Joined::Lead(Flight {
            flights: self,
            key: key.to_vec(),
            id,
            mark,
            sender,
        })
    }

    /// Keys with a signature in flight.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().pending.len()
    }

    fn release(&self, key: &[u8], id: u64) {
        let mut state = self.lock();
        if state.pending.get(key).is_some_and(|p| p.id == id) {
            state.pending.remove(key);
        }
    }
}

/// A signature this request leads; releases its key when dropped.
#[derive(Debug)]
pub(crate) struct Flight<'a> {
    flights: &'a Flights,
    key: Vec<u8>,
    id: u64,
    mark: u64,
    sender: watch::Sender<Option<OcspAnswer>>,
}

impl Flight<'_> {
    /// The revocation mark the leader read before the status.
    pub(crate) fn mark(&self) -> u64 {
        self.mark
    }

    /// Hands `answer` to the followers and releases the key. Call it after filing the answer
    /// in the cache, so that a newcomer finds either the flight or the cached answer.
    pub(crate) fn finish(self, answer: &OcspAnswer) {
        self.flights.release(&self.key, self.id);
        self.sender.send_replace(Some(answer.clone()));
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.flights.release(&self.key, self.id);
    }
}

/// The answer of the flight followed; `None` when its leader went away without one.
pub(crate) async fn wait(mut answer: watch::Receiver<Option<OcspAnswer>>) -> Option<OcspAnswer> {
    answer
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|a| a.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::pki::ocsp::OcspResponseStatus;

    fn answer(tag: u8) -> OcspAnswer {
        OcspAnswer {
            der: vec![tag; 4],
            status: OcspResponseStatus::Successful,
            validity: None,
            nonce: false,
            error_code: None,
        }
    }

    fn lead(joined: Joined<'_>) -> Flight<'_> {
        match joined {
            Joined::Lead(flight) => flight,
            other => panic!("expected to lead, got {other:?}"),
        }
    }

    fn follow(joined: Joined<'_>) -> watch::Receiver<Option<OcspAnswer>> {
        match joined {
            Joined::Follow(answer) => answer,
            other => panic!("expected to follow, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn followers_get_the_leaders_answer() {
        let flights = Flights::new(10);
        let leader = lead(flights.join(b"k", 3));
        assert_eq!(leader.mark(), 3);
        // Same or older view of the revocations: join.
        let same = follow(flights.join(b"k", 3));
        let older = follow(flights.join(b"k", 2));
        // Another key: its own flight.
        let other = lead(flights.join(b"j", 3));
        assert_eq!(flights.len(), 2);
        let waiting = tokio::spawn(wait(same));
        tokio::task::yield_now().await;
        leader.finish(&answer(7));
        assert_eq!(waiting.await.unwrap(), Some(answer(7)));
        assert_eq!(wait(older).await, Some(answer(7)));
        assert_eq!(flights.len(), 1);
        drop(other);
        assert_eq!(flights.len(), 0);
        // Finished: the next request for the key leads again.
        let _again = lead(flights.join(b"k", 3));
    }

    #[tokio::test]
    async fn a_newer_mark_never_follows_an_older_flight() {
        let flights = Flights::new(10);
        let old = lead(flights.join(b"k", 3));
        let old_follower = follow(flights.join(b"k", 3));
        // A revocation since: this request must see a status read after it.
        let new = lead(flights.join(b"k", 4));
        let new_follower = follow(flights.join(b"k", 4));
        // The old leader finishes for its own followers and leaves the new flight alone.
        old.finish(&answer(1));
        assert_eq!(wait(old_follower).await, Some(answer(1)));
        assert_eq!(flights.len(), 1);
        let _joins_the_new = follow(flights.join(b"k", 3));
        new.finish(&answer(2));
        assert_eq!(wait(new_follower).await, Some(answer(2)));
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_leader_that_goes_away_releases_its_followers() {
        let flights = Flights::new(10);
        let leader = lead(flights.join(b"k", 0));
        let follower = follow(flights.join(b"k", 0));
        drop(leader);
        assert_eq!(flights.len(), 0);
        assert_eq!(wait(follower).await, None);
    }

    #[test]
    fn the_table_is_bounded() {
        let flights = Flights::new(3);
        let leaders: Vec<_> = (0..3u8).map(|i| lead(flights.join(&[i], 0))).collect();
        assert!(matches!(flights.join(b"x", 0), Joined::Alone));
        // Keys already in flight can still be joined.
        let _ = follow(flights.join(&[1], 0));
        assert_eq!(flights.len(), 3);
        drop(leaders);
        assert_eq!(flights.len(), 0);
        let _ = lead(flights.join(b"x", 0));
        let none = Flights::new(0);
        assert!(matches!(none.join(b"x", 0), Joined::Alone));
    }
}
