//! One limit's keys in the in-process store: fixed-capacity, open-addressed
//! slots of atomics, each slot with its own lock.
//!
//! # Why a lock per slot
//!
//! Two threads checking different keys should not touch a cache line the
//! other one writes. A lock per shard cannot give that: both threads take
//! every shard's lock in turn, so about half of all checks fetch the lock's
//! line from the other core, however many shards there are (measured: two
//! threads over distinct keys got 1.2-1.3x one thread's throughput, where
//! the same loop over two separate tables got 2x). Here a check on a tracked
//! key finds its slot without writing anything and locks only that slot, in
//! the line it is about to update anyway.
//!
//! # Layout
//!
//! A table is `shards x reserved` slots of four `u64` words: control, the low
//! half of the key's hash, and the two words of its [`State`]. Control is
//! the hash's high half with its two low bits replaced by [`OCCUPIED`] and
//! [`LOCKED`]: `0` is an empty slot; [`HOLE`] (locked, not occupied) is a
//! slot emptied by a deletion that is still moving keys. A key's identity is
//! the 126 bits kept. Slots start at a 32-byte boundary, so a slot never
//! straddles two cache lines.
//!
//! A key's shard is given by the hash's top bits and its home slot in the
//! shard by the low half; it sits at the first free slot from its home
//! (linear probing, wrapping inside the shard's slots in use). A shard holds
//! at most `cap` keys in the `cap * 4 / 3` slots (or more) reserved for it;
//! its slots in use (its *size*) start at a few and grow by half whenever a
//! new key would fill more of them than the size allows:
//!
//! - below [`SPARSE_SLOTS`] slots (64 KiB; a table of 32 shards then fits a
//!   core's 2 MiB L2 cache on this machine class), 3 keys in 8 slots;
//! - from there on, 6 in 8, up to the reserved slots.
//!
//! So every probe ends (at least a quarter of the slots in use are empty)
//! and a table's memory in use stays between 43 and 85 bytes per key while
//! small, and between 43 and 64 once large. Sparse while small: with 3 in 8
//! filled, two keys rarely share a cache line, so two threads checking
//! different keys rarely pull a line from each other (measured on 20,000
//! keys: 1.66x one thread's throughput on two threads, against 1.29x with
//! 6 in 8, and 1.30x for a map behind shard locks). Compact once large:
//! checks over 100,000 keys slow down several-fold once their slots
//! outgrow the cache (measured: 8 MiB of random reads cost 88-137 ns each
//! here, 4 MiB 16-23 ns).
//!
//! The reserved slots come zeroed, in one allocation per table made when the
//! table is built, so memory is bounded and known up front (about 43 bytes
//! per `max_keys`), and the system backs only the pages in use. Growing
//! rehashes a shard in place: its memory never moves and is never freed
//! while the table lives, so readers need no reclamation scheme.
//!
//! # Concurrency
//!
//! - Finding a tracked key takes no lock: probe from its home, reading
//!   control words; at a slot with the key's identity, take that slot's lock
//!   (a compare-and-swap on its control word) and check the identity again.
//!   If it changed (a deletion moved or removed the key meanwhile), probe
//!   again. A probe that reaches an empty slot has not *proved* the key
//!   absent: a concurrent deletion may have moved it behind the probe.
//! - The structure (which key is in which slot, and the shard's size)
//!   changes only under the shard's mutex: inserting a key; deleting one,
//!   which moves the keys after it back (no tombstones); growing, which
//!   locks every slot in use, re-places every key and unlocks. So a probe
//!   made while holding the mutex is exact, and callers that found nothing
//!   repeat the probe under it before treating a key as new.
//! - Lock order: an update holds at most one slot lock per table and takes
//!   tables in ascending order; a shard's mutex is taken before any of its
//!   slots' locks, never after. Deletions and growth (under the mutex) wait
//!   for the locks of the slots they move, whose holders release them
//!   without waiting on this table again, so waits never form a cycle.

use crate::sync::{ALWAYS_YIELD, AtomicU64, AtomicUsize, Ordering, zeroed_atomics};

use super::quota::{Limit, Standing, State};

/// A shard's mutex: a spin lock, held while the shard's structure changes. How
/// it waits is [`SpinThenYield`].
type Mutex<T> = spin::mutex::SpinMutex<T, SpinThenYield>;
/// A held shard mutex.
pub(super) type ShardGuard<'a> = spin::mutex::SpinMutexGuard<'a, ShardState>;

/// How a waiter for a lock waits: it spins (locks are held for tens of
/// nanoseconds) and yields to the scheduler once every [`SPINS_PER_YIELD`]
/// rounds, so that a holder descheduled on the same core still gets to run.
/// Yielding at once turns a rare collision into a system call; measured on
/// two cores, that cost more than it saved.
pub(super) struct SpinThenYield;

/// Spin rounds between two yields while waiting for a lock. The count is
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
        if ALWAYS_YIELD || spins.is_multiple_of(SPINS_PER_YIELD) {
            crate::sync::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Control bit: the slot holds a key.
const OCCUPIED: u64 = 1;
/// Control bit: the slot is locked.
const LOCKED: u64 = 2;
/// Control word of a slot that a deletion or a growth is moving keys into.
const HOLE: u64 = LOCKED;
/// Words per slot: control, low hash, state.a, state.b.
const WORDS: usize = 4;
/// Lock-free probes that found their key moved before the caller is told
/// to probe under the mutex.
const RESTARTS: usize = 4;
/// How many tracked keys a full shard looks at to find one to forget.
pub const SAMPLE: usize = 8;
/// Tracked keys examined (and dropped when fresh) per insertion.
const SWEEP: usize = 2;
/// Slots the sweep looks at, at most, to find them.
const SWEEP_SCAN: usize = 8;
/// A shard's size when it is new (or its reserved slots, if fewer).
const INITIAL_SLOTS: usize = 16;
/// Below this size (64 KiB of slots) a shard keeps at most 3/8 of its slots
/// filled; from it on, 3/4. See the module docs.
const SPARSE_SLOTS: usize = 2048;
/// Shards per table at most.
const SHARDS: usize = 32;
/// Keys per shard at least (small tables get fewer shards, so that a full
/// shard has a real choice of keys to forget).
const MIN_SHARD_KEYS: usize = 256;

/// A shard's bookkeeping, behind its mutex.
pub(super) struct ShardState {
    /// Keys in the shard.
    count: usize,
    /// Keys the shard may hold.
    cap: usize,
    /// Where the sweep and the search for a key to forget go on from.
    cursor: usize,
}

/// A shard: its mutex, and its size on a line of its own (read by every
/// probe, written only when the shard grows).
#[repr(align(128))]
struct Shard {
    mutex: Mutex<ShardState>,
    size: Size,
}

/// A shard's slots in use.
#[repr(align(64))]
struct Size(AtomicUsize);

/// A shard's slots in use, seen at one moment: where probes go.
#[derive(Clone, Copy)]
struct Region<'a> {
    words: &'a [AtomicU64],
    /// The shard's first word in `words`.
    start: usize,
    size: usize,
}

impl<'a> Region<'a> {
    #[inline]
    fn slot(self, i: usize) -> &'a [AtomicU64] {
        let at = self.start + i * WORDS;
        &self.words[at..at + WORDS]
    }

    #[inline]
    fn home(self, low: u64) -> usize {
        ((u128::from(low) * self.size as u128) >> 64) as usize
    }

    #[inline]
    fn next(self, i: usize) -> usize {
        if i + 1 == self.size { 0 } else { i + 1 }
    }

    /// Slots from `from` on to `to`, wrapping.
    fn distance(self, from: usize, to: usize) -> usize {
        (to + self.size - from) % self.size
    }
}

/// One limit's table.
pub(super) struct Table {
    /// The limit whose states the table holds.
    pub(super) limit: Limit,
    /// `shards x reserved x WORDS` words from `base` on.
    words: Box<[AtomicU64]>,
    base: usize,
    shards: Box<[Shard]>,
    /// Slots reserved per shard: its size at most.
    reserved: usize,
    /// Shift of the hash's high half that leaves the shard index.
    shift: u32,
}

/// A locked slot. Dropping it unlocks the slot, restoring `unlocked` as its
/// control word.
pub(super) struct SlotGuard<'a> {
    w: &'a [AtomicU64],
    unlocked: u64,
}

impl SlotGuard<'_> {
    /// The key's state.
    #[inline]
    pub(super) fn state(&self) -> State {
        State {
            a: self.w[2].load(Ordering::Relaxed),
            b: self.w[3].load(Ordering::Relaxed),
        }
    }

    /// Replaces the key's state.
    #[inline]
    pub(super) fn set(&self, state: State) {
        self.w[2].store(state.a, Ordering::Relaxed);
        self.w[3].store(state.b, Ordering::Relaxed);
    }
}

impl Drop for SlotGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.w[0].store(self.unlocked, Ordering::Release);
    }
}

/// Locks a slot while it holds the key whose control word (unlocked) is
/// `ctl`, waiting for its current holder; `None` once it holds anything else.
#[inline]
fn lock_if(w: &[AtomicU64], ctl: u64) -> Option<SlotGuard<'_>> {
    use spin::relax::RelaxStrategy;
    // `ctl` is the word of the key unlocked: first try as if it were so,
    // then wait reading (not writing) the word until it is.
    let mut c = ctl;
    loop {
        if c == ctl
            && w[0]
                .compare_exchange_weak(ctl, ctl | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return Some(SlotGuard { w, unlocked: ctl });
        }
        SpinThenYield::relax();
        c = w[0].load(Ordering::Relaxed);
        if c & !LOCKED != ctl {
            return None;
        }
    }
}

/// A key's control word (unlocked) and low hash.
#[inline]
fn identity(hash: u128) -> (u64, u64) {
    let high = (hash >> 64) as u64;
    ((high & !(OCCUPIED | LOCKED)) | OCCUPIED, hash as u64)
}

impl Table {
    /// A table for `limit` holding at most `max_keys` keys (at least 1).
    pub(super) fn new(limit: Limit, max_keys: usize) -> Self {
        let max_keys = max_keys.max(1);
        // A power of two, so the shard index is the hash's top bits.
        let n = SHARDS.min(1 << (max_keys / MIN_SHARD_KEYS).max(1).ilog2());
        let largest = max_keys.div_ceil(n);
        // Load at most 3/4, and always one empty slot.
        let reserved = (largest + largest.div_ceil(3)).max(largest + 1);
        let shards = (0..n)
            .map(|i| Shard {
                mutex: Mutex::new(ShardState {
                    count: 0,
                    cap: max_keys / n + usize::from(i < max_keys % n),
                    cursor: 0,
                }),
                size: Size(AtomicUsize::new(INITIAL_SLOTS.min(reserved))),
            })
            .collect();
        // Three spare words to start the slots at a 32-byte boundary.
        let words: Box<[AtomicU64]> = zeroed_atomics(n * reserved * WORDS + WORDS - 1);
        let misalign = words.as_ptr() as usize % (WORDS * 8);
        let base = ((WORDS * 8 - misalign) % (WORDS * 8)) / 8;
        Self {
            limit,
            words,
            base,
            shards,
            reserved,
            shift: 64 - n.trailing_zeros(),
        }
    }

    /// Shard `shard`'s slots in use now. Stable while its mutex is held.
    #[inline]
    fn region(&self, shard: usize) -> Region<'_> {
        Region {
            words: &self.words,
            start: self.base + shard * self.reserved * WORDS,
            size: self.shards[shard].size.0.load(Ordering::Acquire),
        }
    }

    #[inline]
    fn shard_of(&self, hash: u128) -> usize {
        // shift = 64 when there is one shard: checked_shr gives None -> 0.
        ((hash >> 64) as u64).checked_shr(self.shift).unwrap_or(0) as usize
    }

    /// Finds and locks a tracked key's slot. Without the shard's mutex,
    /// `None` may be wrong (see the module docs); with it, it is exact.
    #[inline]
    pub(super) fn find(&self, hash: u128) -> Option<SlotGuard<'_>> {
        let (ctl, low) = identity(hash);
        let shard = self.shard_of(hash);
        'probe: for _ in 0..RESTARTS {
            let r = self.region(shard);
            let mut i = r.home(low);
            for _ in 0..r.size {
                let w = r.slot(i);
                let c = w[0].load(Ordering::Acquire);
                if c == 0 {
                    return None;
                }
                if c & !LOCKED == ctl && w[1].load(Ordering::Relaxed) == low {
                    match lock_if(w, ctl) {
                        Some(guard) if w[1].load(Ordering::Relaxed) == low => return Some(guard),
                        // Moved or removed meanwhile: probe again.
                        _ => continue 'probe,
                    }
                }
                i = r.next(i);
            }
            return None;
        }
        None
    }

    /// Locks the shard `hash` belongs to.
    pub(super) fn lock_shard(&self, hash: u128) -> ShardGuard<'_> {
        self.shards[self.shard_of(hash)].mutex.lock()
    }

    /// With `hash`'s shard locked: makes room for one new key. Drops up to
    /// [`SWEEP`] fresh keys on the way; grows the shard by half if the key
    /// would fill more of its slots than its size allows; if the shard already holds
    /// `cap` keys, forgets a fresh key or else the sampled key with the most
    /// quota left. `Err` (nanoseconds until a sampled throttle ends, at least
    /// 1) when every sampled key is throttled.
    pub(super) fn make_room(&self, hash: u128, st: &mut ShardState, now: u64) -> Result<(), u64> {
        let shard = self.shard_of(hash);
        let r = self.region(shard);
        self.sweep(r, st, now);
        if st.count < st.cap {
            // Most keys per 8 slots: 3 while small, 6 once large.
            let per8 = if r.size < SPARSE_SLOTS { 3 } else { 6 };
            if (st.count + 1) * 8 > r.size * per8 && r.size < self.reserved {
                self.grow(shard, r, (r.size + r.size / 2).min(self.reserved));
            }
            return Ok(());
        }
        let mut best: Option<(usize, u64)> = None;
        let mut wait = u64::MAX;
        let mut seen = 0;
        for _ in 0..r.size {
            if seen == SAMPLE {
                break;
            }
            let i = st.cursor % r.size;
            st.cursor = r.next(i);
            let Some(guard) = lock_at(r, i) else {
                continue;
            };
            seen += 1;
            match self.standing(&guard, now) {
                Standing::Fresh => {
                    delete(r, st, i, guard);
                    return Ok(());
                }
                Standing::Active { remaining } => {
                    if best.is_none_or(|(_, r)| remaining > r) {
                        best = Some((i, remaining));
                    }
                }
                Standing::Throttled { wait_nanos } => wait = wait.min(wait_nanos),
            }
        }
        if let Some((i, _)) = best
            && let Some(guard) = lock_at(r, i)
        {
            // It was unlocked meanwhile: forget it only if still not throttled.
            match self.standing(&guard, now) {
                Standing::Throttled { wait_nanos } => wait = wait.min(wait_nanos),
                _ => {
                    delete(r, st, i, guard);
                    return Ok(());
                }
            }
        }
        Err(wait.max(1))
    }

    /// With `hash`'s shard locked and room made: stores a new key.
    pub(super) fn insert(&self, hash: u128, st: &mut ShardState, state: State) {
        let (ctl, low) = identity(hash);
        let r = self.region(self.shard_of(hash));
        let mut i = r.home(low);
        // Room was made, so the shard has an empty slot, and no holes
        // outside a deletion or a growth (which hold the mutex).
        for _ in 0..r.size {
            let w = r.slot(i);
            if w[0].load(Ordering::Relaxed) == 0 {
                w[1].store(low, Ordering::Relaxed);
                w[2].store(state.a, Ordering::Relaxed);
                w[3].store(state.b, Ordering::Relaxed);
                w[0].store(ctl, Ordering::Release);
                st.count += 1;
                return;
            }
            i = r.next(i);
        }
        debug_assert!(false, "a shard with room has an empty slot");
    }

    /// How a locked key stands. A cleared key (stored as [`State::FRESH`])
    /// stands fresh whatever the clock says.
    fn standing(&self, slot: &SlotGuard<'_>, now: u64) -> Standing {
        match slot.state() {
            State::FRESH => Standing::Fresh,
            state => self.limit.standing(state, now),
        }
    }

    /// Keys tracked now.
    pub(super) fn tracked(&self) -> usize {
        self.shards.iter().map(|s| s.mutex.lock().count).sum()
    }

    /// With the shard locked: drops up to [`SWEEP`] fresh keys after the
    /// cursor.
    fn sweep(&self, r: Region<'_>, st: &mut ShardState, now: u64) {
        let mut seen = 0;
        for _ in 0..SWEEP_SCAN.min(r.size) {
            if seen == SWEEP {
                break;
            }
            let i = st.cursor % r.size;
            st.cursor = r.next(i);
            if let Some(guard) = lock_at(r, i) {
                seen += 1;
                if self.standing(&guard, now) == Standing::Fresh {
                    delete(r, st, i, guard);
                }
            }
        }
    }

    /// With the shard locked: grows it from `old` to `size` slots in use.
    /// Every slot in use becomes a hole (locked, holding nothing) while its
    /// key is taken out, so probes pass over it and anyone waiting for it
    /// probes again; then every key is placed from its new home and every
    /// slot published at once.
    fn grow(&self, shard: usize, old: Region<'_>, size: usize) {
        let mut keys: Vec<[u64; WORDS]> = Vec::new();
        for i in 0..old.size {
            let w = old.slot(i);
            match lock_at(old, i) {
                Some(mut guard) => {
                    keys.push([
                        guard.unlocked,
                        w[1].load(Ordering::Relaxed),
                        w[2].load(Ordering::Relaxed),
                        w[3].load(Ordering::Relaxed),
                    ]);
                    guard.unlocked = HOLE;
                }
                // Empty: only inserts (which hold the mutex) fill a slot.
                None => w[0].store(HOLE, Ordering::Relaxed),
            }
        }
        let new = Region { size, ..old };
        for i in old.size..size {
            new.slot(i)[0].store(HOLE, Ordering::Relaxed);
        }
        self.shards[shard].size.0.store(size, Ordering::Release);
        let mut placed = vec![0u64; size];
        for key in &keys {
            let mut i = new.home(key[1]);
            while placed[i] != 0 {
                i = new.next(i);
            }
            placed[i] = key[0];
            let w = new.slot(i);
            for k in 1..WORDS {
                w[k].store(key[k], Ordering::Relaxed);
            }
        }
        for (i, ctl) in placed.iter().enumerate() {
            new.slot(i)[0].store(*ctl, Ordering::Release);
        }
    }
}

/// With the shard locked: locks slot `i` if it holds a key.
fn lock_at(r: Region<'_>, i: usize) -> Option<SlotGuard<'_>> {
    let w = r.slot(i);
    let c = w[0].load(Ordering::Relaxed);
    if c & OCCUPIED == 0 {
        return None;
    }
    // The mutex keeps the key in place, so this only waits.
    lock_if(w, c & !LOCKED)
}

/// With the shard locked: deletes the key in slot `i`, which `guard` holds,
/// and moves the keys after it back so that every key stays reachable from
/// its home without tombstones.
fn delete(r: Region<'_>, st: &mut ShardState, i: usize, guard: SlotGuard<'_>) {
    let mut hole = guard;
    hole.w[0].store(HOLE, Ordering::Release);
    let mut at = i;
    let mut j = i;
    // Ends at the first empty slot: there is always one.
    for _ in 1..r.size {
        j = r.next(j);
        let w = r.slot(j);
        let c = w[0].load(Ordering::Relaxed);
        if c == 0 {
            break;
        }
        // The key at j may move back to the hole unless its home lies
        // strictly after the hole (cyclically), where it would become
        // unreachable.
        let home = r.home(w[1].load(Ordering::Relaxed));
        if r.distance(home, j) < r.distance(at, j) {
            continue;
        }
        let Some(mut moving) = lock_if(w, c & !LOCKED) else {
            continue;
        };
        for k in 1..WORDS {
            hole.w[k].store(moving.w[k].load(Ordering::Relaxed), Ordering::Relaxed);
        }
        // Publish the key at the hole, then make its old slot the hole: a
        // prober waiting on the old slot sees it change and probes again,
        // finding the key at its new place.
        hole.unlocked = moving.unlocked;
        drop(hole);
        moving.w[0].store(HOLE, Ordering::Release);
        moving.unlocked = HOLE;
        hole = moving;
        at = j;
    }
    hole.unlocked = 0;
    drop(hole);
    st.count -= 1;
}
