//! Where keys' states live: the [`RateStore`] trait and the in-process,
//! bounded [`MemoryStore`].
//!
//! The store decides how many keys are kept and which are forgotten; the
//! algorithms ([`Limit`]) decide what a state means. A shared backend (a
//! distributed store) implements [`RateStore`] with the same contract:
//! read the states of one request's keys, let the caller decide, write back
//! all of them or none, atomically.
//!
//! State is namespaced per limit: every limit (the default, each role's, each
//! rule's) owns its own table, addressed by [`StoreKey::limit`]; inside it a
//! key is its keyed 128-bit hash. The same key at two limits is two entries
//! with two budgets.
//!
//! Memory: each table keeps at most `max_keys` keys, split evenly over its
//! shards (so eviction can start a little before the table as a whole holds
//! `max_keys`, never after), in slots reserved up front, with a lock each
//! (the private `table` module documents the layout and the locking). When a new key arrives at
//! a full shard the store forgets, in order of preference, a key whose state
//! equals a fresh quota, else the sampled key with the most remaining quota;
//! it never forgets a throttled key (one whose next request would be
//! denied), so a throttled client stays throttled. If every sampled key is
//! throttled the new key is refused ([`StoreError::Full`]): its request is
//! denied (fail closed) until a sampled key's throttle ends. The trade-off:
//! forgetting an active key forgives at most what it has used (the
//! least-used of a sample is picked), whereas refusing new keys would let a
//! flood of one-request keys lock every newcomer out for a whole window;
//! filling a table with *throttled* keys costs an attacker `limit` requests
//! per key, per window.
//!
//! Work per request is bounded: each insertion looks at the next few slots
//! after the shard's cursor (dropping up to two fresh keys), and a full
//! shard at most [`SAMPLE`] keys more; nothing ever scans a whole table.
//! An update of several keys at once makes room in a full table before it
//! decides (it cannot wait for another slot while holding higher tables'
//! locks), so a request it then denies may already have forgotten a fresh
//! or least-used key: that only ever forgives.

use std::fmt;

use super::quota::{Limit, State};
pub use super::table::SAMPLE;
use super::table::{ShardGuard, SlotGuard, Table};

/// One key of one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreKey {
    /// The limit's index (see [`MemoryStore::new`]).
    pub limit: usize,
    /// The keyed 128-bit hash of the caller's key.
    pub hash: u128,
}

/// A store could not carry out an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The table of `limit` is full of throttled keys: a new key cannot be
    /// tracked, so its request is refused; one of them ends its throttle in
    /// `wait_nanos`.
    #[error("rate-limit table {limit} is full of throttled keys")]
    Full {
        /// The limit whose table is full.
        limit: usize,
        /// Until a sampled key stops being throttled (at least 1).
        wait_nanos: u64,
    },
    /// A key names a limit the store does not have.
    #[error("unknown rate limit {0}")]
    UnknownLimit(usize),
    /// Two keys of one update name the same limit.
    #[error("rate limit {0} appears twice in one update")]
    DuplicateLimit(usize),
}

/// Storage for keys' states.
pub trait RateStore: Send + Sync + fmt::Debug {
    /// Atomically: reads the states of `keys` (distinct limits; `None` =
    /// untracked or fresh) into a slice, calls `decide` on it, and when it
    /// returns `true` stores what it left there (`None` = forget / fresh).
    /// Returns whether the update was committed. No other update of these
    /// keys interleaves. On error nothing is stored.
    fn update(
        &self,
        keys: &[StoreKey],
        now_nanos: u64,
        decide: &mut dyn FnMut(&mut [Option<State>]) -> bool,
    ) -> Result<bool, StoreError>;

    /// [`update`](Self::update) for a single key, which is the common case:
    /// `decide` gets the key's state and returns whether to commit, the state
    /// to store and its own result. Stores may override it with a path that
    /// avoids slices and dynamic calls; the provided one delegates.
    fn update_one<R>(
        &self,
        key: StoreKey,
        now_nanos: u64,
        decide: impl FnOnce(Option<State>) -> (bool, Option<State>, R),
    ) -> Result<R, StoreError>
    where
        Self: Sized,
    {
        let mut decide = Some(decide);
        let mut out = None;
        self.update(&[key], now_nanos, &mut |states| match decide.take() {
            Some(f) => {
                let (commit, next, r) = f(states[0]);
                states[0] = next;
                out = Some(r);
                commit
            }
            None => false,
        })?;
        // `update` calls `decide` exactly once when it returns Ok.
        out.ok_or(StoreError::UnknownLimit(key.limit))
    }

    /// Forgets a key's state (its quota is full again).
    fn clear(&self, key: StoreKey) -> Result<(), StoreError>;

    /// How many keys `limit` tracks now.
    fn tracked(&self, limit: usize) -> usize;
}

/// The in-process store: per limit, a table of `max_keys` keys at most, in
/// slots with a lock each.
pub struct MemoryStore {
    tables: Vec<Table>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("limits", &self.tables.len())
            .finish()
    }
}

impl MemoryStore {
    /// A store for `limits` (a key's [`StoreKey::limit`] is its index here),
    /// each tracking at most `max_keys` keys (at least 1).
    pub fn new(limits: &[Limit], max_keys: usize) -> Self {
        Self {
            tables: limits.iter().map(|l| Table::new(*l, max_keys)).collect(),
        }
    }
}

/// One key of an update of several: its locked slot, or the locked shard
/// it will be inserted into.
enum Held<'a> {
    Tracked(SlotGuard<'a>),
    New(&'a Table, ShardGuard<'a>),
}

impl MemoryStore {
    fn table(&self, limit: usize) -> Result<&Table, StoreError> {
        self.tables
            .get(limit)
            .ok_or(StoreError::UnknownLimit(limit))
    }
}

/// Finds a key's slot, or locks its shard when the key is new. A lock-free
/// miss is repeated under the shard's mutex, where it is exact.
#[inline]
fn find_or_lock(table: &Table, hash: u128) -> Result<SlotGuard<'_>, ShardGuard<'_>> {
    if let Some(slot) = table.find(hash) {
        return Ok(slot);
    }
    let shard = table.lock_shard(hash);
    match table.find(hash) {
        Some(slot) => Ok(slot),
        None => Err(shard),
    }
}

/// A tracked key's state as callers see it: a cleared key (stored as
/// [`State::FRESH`]) reads as untracked.
fn tracked_state(slot: &SlotGuard<'_>) -> Option<State> {
    Some(slot.state()).filter(|s| *s != State::FRESH)
}

/// Makes room for `key` in its locked shard, or says the table is full.
fn make_room(
    table: &Table,
    key: StoreKey,
    shard: &mut ShardGuard<'_>,
    now: u64,
) -> Result<(), StoreError> {
    table
        .make_room(key.hash, shard, now)
        .map_err(|wait| StoreError::Full {
            limit: key.limit,
            wait_nanos: wait,
        })
}

impl RateStore for MemoryStore {
    fn update(
        &self,
        keys: &[StoreKey],
        now_nanos: u64,
        decide: &mut dyn FnMut(&mut [Option<State>]) -> bool,
    ) -> Result<bool, StoreError> {
        if let [key] = keys {
            return self.update_one(*key, now_nanos, |state| {
                let mut states = [state];
                let commit = decide(&mut states);
                (commit, states[0], commit)
            });
        }
        // Tables are taken in ascending limit order, the same for every
        // update, so two updates never wait for each other in a cycle.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&i| keys[i].limit);
        for pair in order.windows(2) {
            if keys[pair[0]].limit == keys[pair[1]].limit {
                return Err(StoreError::DuplicateLimit(keys[pair[0]].limit));
            }
        }
        for key in keys {
            self.table(key.limit)?;
        }
        let mut held: Vec<Option<Held<'_>>> = (0..keys.len()).map(|_| None).collect();
        let mut states: Vec<Option<State>> = vec![None; keys.len()];
        for &i in &order {
            let key = keys[i];
            let table = self.table(key.limit)?;
            held[i] = Some(match find_or_lock(table, key.hash) {
                Ok(slot) => {
                    states[i] = tracked_state(&slot);
                    Held::Tracked(slot)
                }
                Err(mut shard) => {
                    // Room now, while no higher table is held (see the
                    // module docs); a refusal stores nothing.
                    make_room(table, key, &mut shard, now_nanos)?;
                    Held::New(table, shard)
                }
            });
        }
        if !decide(&mut states) {
            return Ok(false);
        }
        for (i, h) in held.iter_mut().enumerate() {
            match (h, states[i]) {
                (Some(Held::Tracked(slot)), state) => slot.set(state.unwrap_or(State::FRESH)),
                (Some(Held::New(table, shard)), Some(state)) => {
                    table.insert(keys[i].hash, shard, state);
                }
                _ => {}
            }
        }
        Ok(true)
    }

    #[inline]
    fn update_one<R>(
        &self,
        key: StoreKey,
        now: u64,
        decide: impl FnOnce(Option<State>) -> (bool, Option<State>, R),
    ) -> Result<R, StoreError> {
        let table = self.table(key.limit)?;
        let mut shard = match find_or_lock(table, key.hash) {
            // A tracked key: updated in place under its slot's lock.
            Ok(slot) => {
                let (commit, next, r) = decide(tracked_state(&slot));
                if commit {
                    slot.set(next.unwrap_or(State::FRESH));
                }
                return Ok(r);
            }
            Err(shard) => shard,
        };
        let (commit, next, r) = decide(None);
        let (true, Some(state)) = (commit, next) else {
            return Ok(r);
        };
        make_room(table, key, &mut shard, now)?;
        table.insert(key.hash, &mut shard, state);
        Ok(r)
    }

    fn clear(&self, key: StoreKey) -> Result<(), StoreError> {
        // Forgotten keys stay in place as FRESH; the sweep drops them.
        if let Ok(slot) = find_or_lock(self.table(key.limit)?, key.hash) {
            slot.set(State::FRESH);
        }
        Ok(())
    }

    fn tracked(&self, limit: usize) -> usize {
        self.tables.get(limit).map_or(0, Table::tracked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::quota::{Algorithm, Quota};

    fn limit(n: u64) -> Limit {
        let q = Quota::new(Algorithm::FixedWindow, n, 60.0, None).unwrap();
        Limit::new(Algorithm::FixedWindow, q)
    }

    fn key(limit: usize, hash: u128) -> StoreKey {
        StoreKey { limit, hash }
    }

    const ONE: State = State { a: 5, b: 1 };

    #[test]
    fn an_update_naming_one_limit_twice_or_an_unknown_limit_is_refused() {
        let store = MemoryStore::new(&[limit(1), limit(1)], 10);
        let twice = store.update(&[key(1, 7), key(0, 7), key(1, 8)], 0, &mut |_| true);
        assert_eq!(twice, Err(StoreError::DuplicateLimit(1)));
        let unknown = store.update(&[key(0, 7), key(2, 7)], 0, &mut |_| true);
        assert_eq!(unknown, Err(StoreError::UnknownLimit(2)));
        assert_eq!(store.clear(key(9, 1)), Err(StoreError::UnknownLimit(9)));
        assert_eq!(store.tracked(0) + store.tracked(1), 0);
    }

    #[test]
    fn several_keys_are_stored_all_or_none() {
        let store = MemoryStore::new(&[limit(3), limit(3)], 10);
        let keys = [key(0, 1), key(1, 1)];
        let declined = store.update(&keys, 0, &mut |states| {
            states[0] = Some(ONE);
            states[1] = Some(ONE);
            false
        });
        assert_eq!(declined, Ok(false));
        assert_eq!(store.tracked(0) + store.tracked(1), 0);
        let committed = store.update(&keys, 0, &mut |states| {
            assert_eq!(states, &[None, None]);
            states[0] = Some(ONE);
            states[1] = Some(ONE);
            true
        });
        assert_eq!(committed, Ok(true));
        store
            .update(&keys, 0, &mut |states| {
                assert_eq!(states, &[Some(ONE), Some(ONE)]);
                false
            })
            .unwrap();
    }

    #[test]
    fn a_cleared_key_reads_as_fresh_until_the_sweep_drops_it() {
        let store = MemoryStore::new(&[limit(3)], 10);
        store
            .update(&[key(0, 1)], 0, &mut |s| {
                s[0] = Some(ONE);
                true
            })
            .unwrap();
        store.clear(key(0, 1)).unwrap();
        store
            .update(&[key(0, 1)], 0, &mut |s| {
                assert_eq!(s[0], None);
                false
            })
            .unwrap();
        // The next insertion sweeps the front of the queue.
        store
            .update(&[key(0, 2)], 0, &mut |s| {
                s[0] = Some(ONE);
                true
            })
            .unwrap();
        assert_eq!(store.tracked(0), 1);
    }

    /// A backend that implements only the required methods, as a shared
    /// store would, to exercise the provided `update_one`.
    #[derive(Debug)]
    struct Plain(MemoryStore);

    impl RateStore for Plain {
        fn update(
            &self,
            keys: &[StoreKey],
            now: u64,
            decide: &mut dyn FnMut(&mut [Option<State>]) -> bool,
        ) -> Result<bool, StoreError> {
            self.0.update(keys, now, decide)
        }
        fn clear(&self, key: StoreKey) -> Result<(), StoreError> {
            self.0.clear(key)
        }
        fn tracked(&self, limit: usize) -> usize {
            self.0.tracked(limit)
        }
    }

    #[test]
    fn the_provided_single_key_update_commits_and_returns_the_callers_result() {
        let store = Plain(MemoryStore::new(&[limit(3)], 10));
        assert_eq!(
            store.update_one(key(0, 4), 0, |s| (false, Some(ONE), s.is_none())),
            Ok(true)
        );
        assert_eq!(store.tracked(0), 0, "not committed");
        assert_eq!(
            store.update_one(key(0, 4), 0, |_| (true, Some(ONE), 1)),
            Ok(1)
        );
        assert_eq!(
            store.update_one(key(0, 4), 0, |s| (false, None, s)),
            Ok(Some(ONE))
        );
        assert_eq!(
            store.update_one(key(3, 4), 0, |_| (true, None, ())),
            Err(StoreError::UnknownLimit(3))
        );
    }

    /// A state that reads as throttled under `limit(1)` at time 1 (its
    /// window opened at 1 and holds `n` >= 1 hits), so it is never forgotten.
    fn hits(n: u64) -> State {
        State { a: 1, b: n }
    }

    /// Reads a key's state without changing it.
    fn read(store: &MemoryStore, k: StoreKey) -> Option<State> {
        store.update_one(k, 1, |s| (false, None, s)).unwrap()
    }

    /// Adds one hit to a key, retrying while its table refuses a new key.
    fn hit(store: &MemoryStore, k: StoreKey) {
        while store
            .update_one(k, 1, |s| (true, Some(hits(s.map_or(0, |s| s.b) + 1)), ()))
            .is_err()
        {}
    }

    /// Spreads `i` over all 128 bits (splitmix64 twice).
    fn spread(i: u64) -> u128 {
        let mix = |mut z: u64| {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        (u128::from(mix(i)) << 64) | u128::from(mix(i ^ 0x5555_5555))
    }

    #[test]
    fn keys_homed_at_the_end_wrap_around_and_survive_deletions_that_move_them() {
        // One shard of 100 keys in 134 slots, every key homed in the last
        // slot, so the keys form one cluster that wraps to the start.
        let store = MemoryStore::new(&[limit(1)], 100);
        let end = |i: u64| key(0, u128::from(u64::MAX - i));
        for i in 0..100 {
            hit(&store, end(i));
        }
        assert_eq!(store.tracked(0), 100);
        // Forget every third key (kept as fresh until dropped), then add 30
        // keys homed after the cluster: the full shard drops fresh keys from
        // inside the cluster and must move the keys after each one back
        // (across the wrap, too), or they could no longer be found.
        for i in (0..100).step_by(3) {
            store.clear(end(i)).unwrap();
        }
        let after = |i: u64| key(0, u128::from(u64::MAX / 134 * 110 + i));
        for i in 0..30 {
            hit(&store, after(i));
        }
        for i in 0..100 {
            let want = (i % 3 != 0).then_some(hits(1));
            assert_eq!(read(&store, end(i)), want, "key {i}");
        }
        for i in 0..30 {
            assert_eq!(read(&store, after(i)), Some(hits(1)), "new key {i}");
        }
        assert!(store.tracked(0) <= 100);
    }

    #[test]
    fn no_update_is_lost_while_tables_grow_and_keys_are_inserted_and_dropped() {
        use std::sync::atomic::{AtomicBool, Ordering};
        // 16 shards of 256 keys. Two threads count hits on 400 keys each
        // (throttled states, never forgotten) while a third inserts fresh
        // keys that the sweep drops again: shards grow and keys move while
        // the counting threads find their keys without the shards' mutexes.
        let store = MemoryStore::new(&[limit(1)], 4096);
        let rounds = 200;
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let counters: Vec<_> = (0..2u64)
                .map(|t| {
                    let store = &store;
                    s.spawn(move || {
                        for _ in 0..rounds {
                            for i in 0..400 {
                                hit(store, key(0, spread(t * 1_000_000 + i)));
                            }
                        }
                    })
                })
                .collect();
            s.spawn(|| {
                let mut i = 10_000_000;
                // Until the counters are done, and at least 20,000 keys.
                while i < 10_020_000 || !stop.load(Ordering::Relaxed) {
                    let _ =
                        store.update_one(key(0, spread(i)), 1, |_| (true, Some(State::FRESH), ()));
                    i += 1;
                }
            });
            for c in counters {
                c.join().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
        });
        for t in 0..2 {
            for i in 0..400 {
                let k = key(0, spread(t * 1_000_000 + i));
                assert_eq!(read(&store, k), Some(hits(rounds)), "thread {t} key {i}");
            }
        }
        assert!(store.tracked(0) <= 4096);
    }

    #[test]
    fn updates_of_two_tables_stay_all_or_none_and_never_deadlock_while_tables_change() {
        use std::sync::atomic::{AtomicBool, Ordering};
        // Three threads count every hit on the same 300 keys in two tables at
        // once, while two more insert fresh keys into either table alone
        // (so shards grow, keys move and are dropped, under the mutexes the
        // counting threads also need for new keys).
        let store = MemoryStore::new(&[limit(1), limit(1)], 2048);
        let rounds = 40;
        let stop = AtomicBool::new(false);
        let both = |h: u128| [key(0, h), key(1, h)];
        std::thread::scope(|s| {
            let counters: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        for _ in 0..rounds {
                            for i in 0..300 {
                                let keys = both(spread(i));
                                let committed = store.update(&keys, 1, &mut |states| {
                                    for st in states.iter_mut() {
                                        *st = Some(hits(st.map_or(0, |s| s.b) + 1));
                                    }
                                    true
                                });
                                assert_eq!(committed, Ok(true));
                            }
                        }
                    })
                })
                .collect();
            for table in 0..2 {
                let (store, stop) = (&store, &stop);
                s.spawn(move || {
                    let mut i = 1_000_000 * (table as u64 + 1);
                    while !stop.load(Ordering::Relaxed) {
                        let _ = store.update_one(key(table, spread(i)), 1, |_| {
                            (true, Some(State::FRESH), ())
                        });
                        i += 1;
                    }
                });
            }
            for c in counters {
                c.join().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
        });
        for i in 0..300 {
            for k in both(spread(i)) {
                assert_eq!(
                    read(&store, k),
                    Some(hits(3 * rounds)),
                    "key {i} at {}",
                    k.limit
                );
            }
        }
    }
}
