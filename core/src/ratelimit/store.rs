//! Where keys' states live: the [`RateStore`] trait and the in-process,
//! sharded, bounded [`MemoryStore`].
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
//! `max_keys`, never after). When a new key arrives at a full shard the store
//! forgets, in order of preference, a key whose state equals a fresh quota,
//! else the sampled key with the most remaining quota; it never forgets a
//! throttled key (one whose next request would be denied), so a throttled
//! client stays throttled. If every sampled key is throttled the new key is
//! refused ([`StoreError::Full`]): its request is denied (fail closed) until
//! a sampled key's throttle ends. The trade-off: forgetting an active key
//! forgives at most what it has used (the least-used of a sample is picked),
//! whereas refusing new keys would let a flood of one-request keys lock every
//! newcomer out for a whole window; filling a table with *throttled* keys
//! costs an attacker `limit` requests per key, per window.
//!
//! Work per request is bounded: each insertion looks at the front of the
//! shard's queue (at most [`SAMPLE`] keys, plus two to drop stale ones);
//! nothing ever scans a whole table.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

/// A shard's lock: a spin lock. A shard is held for a bounded few tens of
/// nanoseconds (one state update, at most [`SAMPLE`] + [`SWEEP`] queue
/// steps), and a spin lock's release is a plain store: one atomic
/// read-modify-write per check instead of `parking_lot::Mutex`'s two, about
/// 4 ns of a 20-25 ns check. How it waits is [`SpinThenYield`].
type Mutex<T> = spin::mutex::SpinMutex<T, SpinThenYield>;
type MutexGuard<'a, T> = spin::mutex::SpinMutexGuard<'a, T>;

/// How a waiter for a shard waits: it spins (the holder is done within tens
/// of nanoseconds) and yields to the scheduler once every
/// [`SPINS_PER_YIELD`] rounds, so that a holder descheduled on the same core
/// still gets to run. Measured on two cores in back-to-back runs, checks
/// over distinct keys from two threads: yielding at once
/// (`spin::relax::Yield`), which turns the rare collision on a shard into a
/// system call, gave 0.35-1.08x the one-thread throughput; `parking_lot`
/// 0.55-1.08x; this strategy 1.17-1.24x (the machine also has whole runs
/// where every lock, and governor, collapses). One key hammered by two threads costs ~45 ns a
/// check (aggregate) against ~25 ns when yielding at once, which batches
/// one thread's checks; the target is many clients, not one.
struct SpinThenYield;

/// Spin rounds between two yields while waiting for a shard. The count is
/// per thread and carries over between waits; only its rate matters.
const SPINS_PER_YIELD: u32 = 64;

thread_local! {
    static SPINS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

impl spin::relax::RelaxStrategy for SpinThenYield {
    fn relax() {
        let spins = SPINS.with(|s| {
            let n = s.get().wrapping_add(1);
            s.set(n);
            n
        });
        if spins.is_multiple_of(SPINS_PER_YIELD) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

use super::quota::{Limit, Standing, State};

/// How many queued keys a full shard looks at to find one to forget.
pub const SAMPLE: usize = 8;
/// Stale keys examined (and dropped when fresh) per insertion.
const SWEEP: usize = 2;
/// Shards per table at most.
const SHARDS: usize = 32;
/// Keys per shard at least (small tables get fewer shards, so that a full
/// shard has a real choice of keys to forget).
const MIN_SHARD_KEYS: usize = 256;

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

/// Keys are already keyed hashes: the table uses their low 64 bits as they
/// are (the shard index uses the high bits).
#[derive(Default, Clone, Copy)]
struct PassHasher(u64);

impl Hasher for PassHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

type Map = HashMap<u128, State, BuildHasherDefault<PassHasher>>;

struct ShardState {
    map: Map,
    /// Every key of `map` exactly once, oldest first: the eviction cursor.
    /// Keys leave `map` only when popped from here, which keeps the two in
    /// step without scanning.
    queue: VecDeque<u128>,
    cap: usize,
}

/// Shards sit on their own cache lines so threads on different keys do not
/// bounce one line between cores.
#[repr(align(128))]
struct Shard(Mutex<ShardState>);

struct Table {
    limit: Limit,
    shards: Box<[Shard]>,
    shift: u32,
}

impl Table {
    fn new(limit: Limit, max_keys: usize) -> Self {
        let max_keys = max_keys.max(1);
        // A power of two, so the shard index is the hash's top bits.
        let n = SHARDS.min(1 << (max_keys / MIN_SHARD_KEYS).max(1).ilog2());
        let shards = (0..n)
            .map(|i| {
                let cap = max_keys / n + usize::from(i < max_keys % n);
                Shard(Mutex::new(ShardState {
                    map: Map::default(),
                    queue: VecDeque::new(),
                    cap,
                }))
            })
            .collect();
        Self {
            limit,
            shards,
            shift: 128 - n.trailing_zeros(),
        }
    }

    fn shard(&self, hash: u128) -> &Shard {
        // shift = 128 when there is one shard: checked_shr gives None -> 0.
        let i = hash.checked_shr(self.shift).unwrap_or(0) as usize;
        &self.shards[i.min(self.shards.len() - 1)]
    }
}

/// The in-process store: per limit, a table of `max_keys` keys at most in
/// shards behind yielding spin locks.
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

/// One locked key during an update.
struct Held<'a> {
    guard: MutexGuard<'a, ShardState>,
    table: &'a Table,
    hash: u128,
    present: bool,
}

impl ShardState {
    /// Drops up to `SWEEP` fresh keys from the front of the queue.
    fn sweep(&mut self, limit: &Limit, now: u64) {
        for _ in 0..SWEEP.min(self.queue.len()) {
            let Some(h) = self.queue.pop_front() else {
                break;
            };
            match self.map.get(&h) {
                Some(s) if limit.standing(*s, now) != Standing::Fresh => self.queue.push_back(h),
                _ => {
                    self.map.remove(&h);
                }
            }
        }
    }

    /// Frees one place for a new key, or says how long until one may free up.
    fn make_room(&mut self, limit: &Limit, now: u64) -> Result<(), u64> {
        let mut seen = [0u128; SAMPLE];
        let mut n = 0;
        let mut best: Option<(usize, u64)> = None;
        let mut wait = u64::MAX;
        let mut victim = None;
        while n < SAMPLE {
            let Some(h) = self.queue.pop_front() else {
                break;
            };
            let Some(state) = self.map.get(&h) else {
                continue;
            };
            match limit.standing(*state, now) {
                Standing::Fresh => {
                    victim = Some(h);
                    break;
                }
                Standing::Active { remaining } => {
                    if best.is_none_or(|(_, r)| remaining > r) {
                        best = Some((n, remaining));
                    }
                }
                Standing::Throttled { wait_nanos } => wait = wait.min(wait_nanos),
            }
            seen[n] = h;
            n += 1;
        }
        if victim.is_none() {
            victim = best.map(|(i, _)| seen[i]);
        }
        for (i, h) in seen.iter().take(n).enumerate() {
            if best.is_some_and(|(b, _)| b == i) && victim == Some(*h) {
                continue;
            }
            self.queue.push_back(*h);
        }
        match victim {
            Some(h) => {
                self.map.remove(&h);
                Ok(())
            }
            None => Err(wait.max(1)),
        }
    }
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
        // Locks are taken in ascending limit order (one shard per limit), the
        // same order for every update, so two updates never deadlock.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&i| keys[i].limit);
        for pair in order.windows(2) {
            if keys[pair[0]].limit == keys[pair[1]].limit {
                return Err(StoreError::DuplicateLimit(keys[pair[0]].limit));
            }
        }
        let mut held: Vec<Option<Held<'_>>> = (0..keys.len()).map(|_| None).collect();
        let mut states: Vec<Option<State>> = vec![None; keys.len()];
        for &i in &order {
            let key = keys[i];
            let table = self
                .tables
                .get(key.limit)
                .ok_or(StoreError::UnknownLimit(key.limit))?;
            let guard = table.shard(key.hash).0.lock();
            let stored = guard.map.get(&key.hash).copied();
            states[i] = stored.filter(|s| *s != State::FRESH);
            held[i] = Some(Held {
                guard,
                table,
                hash: key.hash,
                present: stored.is_some(),
            });
        }
        if !decide(&mut states) {
            return Ok(false);
        }
        // Room first, for every new key, so that a refusal stores nothing (it
        // may already have forgotten a fresh or least-used key of another
        // table, which only ever forgives).
        for (i, h) in held.iter_mut().enumerate() {
            let Some(h) = h else { continue };
            if states[i].is_some() && !h.present {
                let limit = h.table.limit;
                h.guard.sweep(&limit, now_nanos);
                if h.guard.map.len() >= h.guard.cap {
                    h.guard
                        .make_room(&limit, now_nanos)
                        .map_err(|wait| StoreError::Full {
                            limit: keys[i].limit,
                            wait_nanos: wait,
                        })?;
                }
            }
        }
        for (i, h) in held.iter_mut().enumerate() {
            let Some(h) = h else { continue };
            match (states[i], h.present) {
                (Some(s), true) => {
                    h.guard.map.insert(h.hash, s);
                }
                (Some(s), false) => {
                    h.guard.map.insert(h.hash, s);
                    h.guard.queue.push_back(h.hash);
                }
                // Forgotten keys stay queued as FRESH; the sweep drops them.
                (None, true) => {
                    h.guard.map.insert(h.hash, State::FRESH);
                }
                (None, false) => {}
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
        let table = self
            .tables
            .get(key.limit)
            .ok_or(StoreError::UnknownLimit(key.limit))?;
        let mut shard = table.shard(key.hash).0.lock();
        // A tracked key: one lookup, updated in place.
        if let Some(slot) = shard.map.get_mut(&key.hash) {
            let (commit, next, r) = decide(Some(*slot).filter(|s| *s != State::FRESH));
            if commit {
                *slot = next.unwrap_or(State::FRESH);
            }
            return Ok(r);
        }
        let (commit, next, r) = decide(None);
        let (true, Some(s)) = (commit, next) else {
            return Ok(r);
        };
        shard.sweep(&table.limit, now);
        if shard.map.len() >= shard.cap {
            shard
                .make_room(&table.limit, now)
                .map_err(|wait| StoreError::Full {
                    limit: key.limit,
                    wait_nanos: wait,
                })?;
        }
        shard.map.insert(key.hash, s);
        shard.queue.push_back(key.hash);
        Ok(r)
    }

    fn clear(&self, key: StoreKey) -> Result<(), StoreError> {
        let table = self
            .tables
            .get(key.limit)
            .ok_or(StoreError::UnknownLimit(key.limit))?;
        let mut shard = table.shard(key.hash).0.lock();
        if let Some(s) = shard.map.get_mut(&key.hash) {
            *s = State::FRESH;
        }
        Ok(())
    }

    fn tracked(&self, limit: usize) -> usize {
        self.tables
            .get(limit)
            .map_or(0, |t| t.shards.iter().map(|s| s.0.lock().map.len()).sum())
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
}
