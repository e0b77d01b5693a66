//! Writes to the shared token store that did not reach it: kept in order
//! and replayed when the store answers again, so a revocation made while
//! the store was down still reaches every replica.
//!
//! Every shared write (a revocation, an opaque token inserted or removed)
//! goes through [`Pending::submit`]. It first replays what is queued, then
//! makes the new write: the store sees this process's writes in the order
//! they were made (an opaque token inserted and then removed during an
//! outage is never re-inserted by a late replay). A write that fails is
//! queued. [`Pending::replay`] is called by the revocation-epoch poll once
//! the store answers (at most once a second, more often while a backlog
//! remains); it never makes a request wait for another thread's replay.
//!
//! Each write carries the Unix second it is held until. A write whose time
//! has passed when it is replayed is dropped: the token it names has
//! expired everywhere, and it is never written with a fresh lifetime.
//! At most [`MAX_PENDING`] writes wait; one past that is counted as
//! dropped (under `fail_closed` its caller also gets the error).
//!
//! Every write is also kept in a journal while it still holds (a
//! revocation or an opaque token until its time, a removal until the
//! journal needs its room), at most [`MAX_JOURNAL`] writes. When the store
//! is found to have lost its state (restarted without persistence,
//! flushed, failed over to a replica that lagged),
//! [`Pending::restore`] queues the journal again: the revocations and
//! opaque tokens this process made come back for every replica.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::shared::{SharedId, SharedStoreError, SharedTokenStore};

/// The most writes kept for replay.
pub(crate) const MAX_PENDING: usize = 65_536;

/// The most writes kept in the journal; past it, writes whose time has
/// passed go first, then the oldest.
pub(crate) const MAX_JOURNAL: usize = 65_536;

/// The most queued writes one poll replays (a request thread does it): a
/// longer backlog is replayed over the following requests.
pub(crate) const REPLAY_BATCH: usize = 256;

/// One write to the shared token store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Write {
    /// Hold the revocation `id` until `until` (Unix seconds; `None`: until
    /// withdrawn).
    Revoke { id: SharedId, until: Option<i64> },
    /// Store an opaque token's entry until `until`.
    InsertOpaque {
        digest: SharedId,
        entry_json: String,
        until: Option<i64>,
    },
    /// Remove an opaque token's entry.
    RemoveOpaque { digest: SharedId },
}

impl Write {
    /// Whether the write still holds at `now` (a removal always does).
    fn holds(&self, now: i64) -> bool {
        match self {
            Write::Revoke { until, .. } | Write::InsertOpaque { until, .. } => {
                until.is_none_or(|u| u > now)
            }
            Write::RemoveOpaque { .. } => true,
        }
    }

    /// Makes the write at `now` (Unix seconds); one whose time has passed
    /// needs nothing. `Some(epoch)`: the revocation epoch the write moved
    /// the store to.
    fn apply(
        &self,
        store: &dyn SharedTokenStore,
        now: i64,
    ) -> Result<Option<u64>, SharedStoreError> {
        // The seconds left, `None` for no limit; `Err` when none are left.
        let left = |until: Option<i64>| match until {
            None => Ok(None),
            Some(u) if u > now => Ok(Some(u.abs_diff(now))),
            Some(_) => Err(()),
        };
        match self {
            Write::Revoke { id, until } => match left(*until) {
                Ok(ttl) => store.revoke(id, ttl).map(Some),
                Err(()) => Ok(None),
            },
            Write::InsertOpaque {
                digest,
                entry_json,
                until,
            } => match left(*until) {
                Ok(ttl) => store.insert_opaque(digest, entry_json, ttl).map(|()| None),
                Err(()) => Ok(None),
            },
            Write::RemoveOpaque { digest } => store.remove_opaque(digest).map(Some),
        }
    }
}

/// The queue of writes waiting for the shared store, and what became of
/// them.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    queue: Mutex<VecDeque<Write>>,
    /// Every write made, in order, while it holds (see the module doc).
    journal: Mutex<VecDeque<Write>>,
    /// The queue's length, read without its lock.
    len: AtomicUsize,
    replayed: AtomicU64,
    dropped: AtomicU64,
    restored: AtomicU64,
}

/// What [`Pending`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PendingCounts {
    pub(crate) waiting: u64,
    pub(crate) replayed: u64,
    pub(crate) dropped: u64,
    /// Times the journal was queued again after the store lost its state.
    pub(crate) restored: u64,
}

impl Pending {
    /// Makes `write` after every queued write: `Some(epoch)` when it moved
    /// the revocation epoch (to `epoch`). `Err` when it did not reach the
    /// store now; it is then queued (or counted as dropped when the queue
    /// is full).
    pub(crate) fn submit(
        &self,
        store: &dyn SharedTokenStore,
        write: Write,
        now: i64,
    ) -> Result<Option<u64>, SharedStoreError> {
        let mut queue = self.queue.lock();
        self.remember(&write, now);
        let result = self
            .drain(&mut queue, store, now, usize::MAX)
            .and_then(|()| write.apply(store, now));
        if result.is_err() {
            if queue.len() < MAX_PENDING {
                queue.push_back(write);
            } else {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.len.store(queue.len(), Ordering::Release);
        result
    }

    /// Keeps `write` in the journal, making room first when it is full.
    fn remember(&self, write: &Write, now: i64) {
        let mut journal = self.journal.lock();
        if journal.len() >= MAX_JOURNAL {
            journal.retain(|w| w.holds(now));
        }
        if journal.len() >= MAX_JOURNAL {
            journal.pop_front();
        }
        journal.push_back(write.clone());
    }

    /// The store lost its state: every journal write that still holds is
    /// queued again, in the order it was made, in place of the queue
    /// (whose writes are all in the journal), for the next replay.
    pub(crate) fn restore(&self, now: i64) {
        let mut queue = self.queue.lock();
        let mut journal = self.journal.lock();
        journal.retain(|w| w.holds(now));
        queue.clear();
        queue.extend(journal.iter().take(MAX_PENDING).cloned());
        self.len.store(queue.len(), Ordering::Release);
        self.restored.fetch_add(1, Ordering::Relaxed);
    }

    /// Replays up to [`REPLAY_BATCH`] queued writes, unless another thread
    /// holds the queue. Returns whether writes still wait.
    pub(crate) fn replay(&self, store: &dyn SharedTokenStore, now: i64) -> bool {
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        let Some(mut queue) = self.queue.try_lock() else {
            return true;
        };
        // A failure leaves the rest queued for the next poll.
        let _ = self.drain(&mut queue, store, now, REPLAY_BATCH);
        self.len.store(queue.len(), Ordering::Release);
        !queue.is_empty()
    }

    /// Makes the queued writes in order, each removed once the store took
    /// it, stopping at the first failure or after `at_most`.
    fn drain(
        &self,
        queue: &mut VecDeque<Write>,
        store: &dyn SharedTokenStore,
        now: i64,
        at_most: usize,
    ) -> Result<(), SharedStoreError> {
        for _ in 0..at_most {
            let Some(write) = queue.front() else {
                return Ok(());
            };
            write.apply(store, now)?;
            queue.pop_front();
            self.replayed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The counts for metrics.
    pub(crate) fn counts(&self) -> PendingCounts {
        PendingCounts {
            waiting: self.len.load(Ordering::Acquire) as u64,
            replayed: self.replayed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            restored: self.restored.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::shared::OnError;

    /// A store that fails while `down` and records every write it took.
    #[derive(Debug, Default)]
    struct Recording {
        down: AtomicBool,
        writes: Mutex<Vec<(char, SharedId, Option<u64>)>>,
    }

    impl Recording {
        fn take(
            &self,
            kind: char,
            id: &SharedId,
            ttl: Option<u64>,
        ) -> Result<(), SharedStoreError> {
            if self.down.load(Ordering::Relaxed) {
                return Err(SharedStoreError::Unavailable {
                    detail: "down".into(),
                    retry_after_ms: 1000,
                });
            }
            self.writes.lock().push((kind, *id, ttl));
            Ok(())
        }
    }

    impl SharedTokenStore for Recording {
        fn revoke(&self, id: &SharedId, ttl: Option<u64>) -> Result<u64, SharedStoreError> {
            self.take('r', id, ttl).map(|()| 0)
        }
        fn any_revoked(&self, _: &[SharedId]) -> Result<bool, SharedStoreError> {
            Ok(false)
        }
        fn epoch(&self) -> Result<u64, SharedStoreError> {
            Ok(0)
        }
        fn insert_opaque(
            &self,
            digest: &SharedId,
            _: &str,
            ttl: Option<u64>,
        ) -> Result<(), SharedStoreError> {
            self.take('i', digest, ttl)
        }
        fn lookup_opaque(&self, _: &SharedId) -> Result<Option<String>, SharedStoreError> {
            Ok(None)
        }
        fn remove_opaque(&self, digest: &SharedId) -> Result<u64, SharedStoreError> {
            self.take('d', digest, None).map(|()| 0)
        }
        fn on_error(&self) -> OnError {
            OnError::Local
        }
    }

    fn id(n: u8) -> SharedId {
        [n; 32]
    }

    /// A store that is down, and a queue holding `writes`, each refused by
    /// it at `now`.
    fn queued(writes: impl IntoIterator<Item = Write>, now: i64) -> (Recording, Pending) {
        let store = Recording::default();
        let pending = Pending::default();
        store.down.store(true, Ordering::Relaxed);
        for write in writes {
            assert!(pending.submit(&store, write, now).is_err());
        }
        (store, pending)
    }

    #[test]
    fn writes_made_while_the_store_is_down_reach_it_in_order_once_it_answers() {
        let writes = [
            Write::InsertOpaque {
                digest: id(1),
                entry_json: "{}".into(),
                until: Some(1_000),
            },
            Write::Revoke {
                id: id(2),
                until: Some(500),
            },
            Write::RemoveOpaque { digest: id(1) },
        ];
        let (store, pending) = queued(writes, 100);
        assert_eq!(pending.counts().waiting, 3);
        assert!(store.writes.lock().is_empty());

        store.down.store(false, Ordering::Relaxed);
        assert!(!pending.replay(&store, 200), "nothing left");
        // In the order made, each with what is left of its lifetime.
        assert_eq!(
            *store.writes.lock(),
            vec![
                ('i', id(1), Some(800)),
                ('r', id(2), Some(300)),
                ('d', id(1), None)
            ]
        );
        assert_eq!(
            pending.counts(),
            PendingCounts {
                waiting: 0,
                replayed: 3,
                dropped: 0,
                restored: 0
            }
        );
    }

    #[test]
    fn a_new_write_goes_after_the_queued_ones_never_before() {
        let insert = Write::InsertOpaque {
            digest: id(7),
            entry_json: "{}".into(),
            until: None,
        };
        let (store, pending) = queued([insert], 0);
        store.down.store(false, Ordering::Relaxed);
        // No poll came in between: the removal must still land last.
        pending
            .submit(&store, Write::RemoveOpaque { digest: id(7) }, 0)
            .unwrap();
        let kinds: Vec<char> = store.writes.lock().iter().map(|w| w.0).collect();
        assert_eq!(kinds, ['i', 'd']);
        assert_eq!(pending.counts().waiting, 0);
    }

    #[test]
    fn a_write_whose_time_has_passed_is_dropped_from_the_queue_not_renewed() {
        let revoke = Write::Revoke {
            id: id(3),
            until: Some(150),
        };
        let (store, pending) = queued([revoke], 100);
        store.down.store(false, Ordering::Relaxed);
        assert!(!pending.replay(&store, 150));
        assert!(store.writes.lock().is_empty());
        assert_eq!(pending.counts().waiting, 0);
    }

    #[test]
    fn a_failed_replay_keeps_the_queue_and_one_poll_replays_a_bounded_batch() {
        let revokes = (0..REPLAY_BATCH + 10).map(|n| Write::Revoke {
            id: id((n % 250) as u8),
            until: None,
        });
        let (store, pending) = queued(revokes, 0);
        assert!(pending.replay(&store, 0), "still down: all kept");
        assert_eq!(pending.counts().waiting, (REPLAY_BATCH + 10) as u64);
        store.down.store(false, Ordering::Relaxed);
        assert!(
            pending.replay(&store, 0),
            "a backlog remains after one batch"
        );
        assert_eq!(pending.counts().waiting, 10);
        assert!(!pending.replay(&store, 0));
        assert_eq!(store.writes.lock().len(), REPLAY_BATCH + 10);
    }

    #[test]
    fn past_the_bound_a_write_is_counted_as_dropped() {
        let removes = (0..MAX_PENDING + 2).map(|_| Write::RemoveOpaque { digest: id(9) });
        let (_store, pending) = queued(removes, 0);
        let counts = pending.counts();
        assert_eq!(counts.waiting, MAX_PENDING as u64);
        assert_eq!(counts.dropped, 2);
    }

    #[test]
    fn a_store_that_lost_its_state_gets_every_write_that_still_holds_again_in_order() {
        let store = Recording::default();
        let pending = Pending::default();
        let writes = [
            Write::Revoke {
                id: id(1),
                until: Some(150),
            },
            Write::InsertOpaque {
                digest: id(2),
                entry_json: "{}".into(),
                until: Some(1_000),
            },
            Write::Revoke {
                id: id(3),
                until: None,
            },
            Write::RemoveOpaque { digest: id(4) },
        ];
        for write in writes {
            pending.submit(&store, write, 100).unwrap();
        }
        store.writes.lock().clear();
        pending.restore(200);
        assert_eq!(
            pending.counts().waiting,
            3,
            "the expired revocation is gone"
        );
        assert!(!pending.replay(&store, 200));
        assert_eq!(
            *store.writes.lock(),
            vec![
                ('i', id(2), Some(800)),
                ('r', id(3), None),
                ('d', id(4), None)
            ]
        );
        assert_eq!(pending.counts().restored, 1);
        // Nothing is sent twice unless the store loses its state again.
        assert!(!pending.replay(&store, 300));
        assert_eq!(store.writes.lock().len(), 3);
    }

    #[test]
    fn the_epoch_says_the_store_lost_its_state_when_it_goes_back_or_changes_incarnation() {
        use crate::shared::epoch_lost;
        let incarnation = 7u64 << 32;
        assert!(!epoch_lost(u64::MAX, 0), "no reading before");
        assert!(!epoch_lost(0, 5), "no epoch before: nothing to lose");
        assert!(!epoch_lost(incarnation + 3, incarnation + 9), "moved on");
        assert!(!epoch_lost(incarnation + 3, incarnation + 3), "unchanged");
        assert!(epoch_lost(incarnation + 3, 0), "no epoch any more");
        assert!(epoch_lost(incarnation + 3, incarnation + 1), "went back");
        assert!(
            epoch_lost(incarnation + 3, (9 << 32) + 50),
            "another incarnation"
        );
        assert!(epoch_lost(3, 1), "a plain counter going back");
    }

    #[test]
    fn a_full_journal_forgets_what_no_longer_holds_first_then_the_oldest() {
        let store = Recording::default();
        let pending = Pending::default();
        let revoke = |n: usize, until| Write::Revoke {
            id: {
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&(n as u64).to_le_bytes());
                id
            },
            until: Some(until),
        };
        // Half expire at 150, half hold until 1,000.
        for n in 0..MAX_JOURNAL {
            let until = if n % 2 == 0 { 150 } else { 1_000 };
            pending.submit(&store, revoke(n, until), 100).unwrap();
        }
        pending
            .submit(&store, revoke(MAX_JOURNAL, 1_000), 200)
            .unwrap();
        assert_eq!(pending.journal.lock().len(), MAX_JOURNAL / 2 + 1);
        for n in 0..MAX_JOURNAL / 2 - 1 {
            pending
                .submit(&store, revoke(MAX_JOURNAL + 1 + n, 1_000), 200)
                .unwrap();
        }
        // Full of writes that hold: the oldest goes.
        pending
            .submit(&store, revoke(usize::MAX, 1_000), 200)
            .unwrap();
        let journal = pending.journal.lock();
        assert_eq!(journal.len(), MAX_JOURNAL);
        assert_eq!(journal.front(), Some(&revoke(3, 1_000)));
        assert_eq!(journal.back(), Some(&revoke(usize::MAX, 1_000)));
    }
}
