//! Model-checked concurrency (`make modelcheck`, feature `shuttle`): the
//! rate table (probe, insert, backward-shift delete, in-place growth,
//! eviction when full) and the verified-token cache, on tables small enough
//! that every run wraps around, grows or evicts, under schedules chosen by
//! shuttle's PCT (probabilistic concurrency testing: each run finds a given
//! bug of depth `d` among `n` threads and `k` steps with probability at
//! least 1/(n k^(d-1)), so tens of thousands of runs per test, at depths
//! 2 and 3, then as many uniformly random schedules). Shuttle models every
//! atomic as SeqCst: it checks the protocol (which thread sees which
//! slot when), not the memory orderings chosen; a DFS over these tests did
//! not finish in ten minutes, so none is exhaustive.
//!
//! Each test prints how many interleavings it explored.
#![cfg(feature = "shuttle")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};

use mcpguard::ManualClock;
use mcpguard::ratelimit::{
    Algorithm, Limit, Limiter, MemoryStore, Quota, RateStore, State, StoreKey,
};
use mcpguard::token::TokenCache;
use mcpguard::token::introspection::{IntrospectionContext, validate_introspection};
use shuttle::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use shuttle::thread;

/// Runs `body` under PCT for `iterations` × `MODELCHECK_SCALE` (default
/// 10) schedules at bug depth 2 and again at depth 3, then under uniformly
/// random scheduling as often, and says how many ran.
fn pct(name: &str, iterations: usize, body: impl Fn() + Send + Sync + 'static) {
    let scale: usize = std::env::var("MODELCHECK_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let runs = Arc::new(AtomicUsize::new(0));
    let body = Arc::new(body);
    let iterations = iterations * scale;
    for depth in [2, 3] {
        let (counted, body) = (runs.clone(), body.clone());
        shuttle::check_pct(
            move || {
                counted.fetch_add(1, StdOrdering::Relaxed);
                body();
            },
            iterations,
            depth,
        );
    }
    let (counted, body) = (runs.clone(), body.clone());
    shuttle::check_random(
        move || {
            counted.fetch_add(1, StdOrdering::Relaxed);
            body();
        },
        iterations,
    );
    println!(
        "{name}: {} interleavings (PCT depth 2 and 3, then random)",
        runs.load(StdOrdering::Relaxed)
    );
}

// ---- the rate table ----

/// A fixed-window limit of one request a minute.
fn limit(n: u64) -> Limit {
    let q = Quota::new(Algorithm::FixedWindow, n, 60.0, None).unwrap();
    Limit::new(Algorithm::FixedWindow, q)
}

/// A state that reads as throttled under `limit(1)` at time 1 (its window
/// opened at 1 and holds `n` >= 1 hits), so it is never forgotten.
fn hits(n: u64) -> State {
    State { a: 1, b: n }
}

/// A key whose home is the table's last slot, less `back` (hash low half
/// near the top): with one shard, consecutive keys wrap to slot 0.
fn at_end(back: u64) -> StoreKey {
    StoreKey {
        limit: 0,
        hash: (u128::from(0x1000 + back) << 64) | u128::from(u64::MAX - back),
    }
}

/// A key homed at the first slot.
fn at_start(i: u64) -> StoreKey {
    StoreKey {
        limit: 0,
        hash: (u128::from(0x2000 + i) << 64) | u128::from(i),
    }
}

fn read(store: &MemoryStore, k: StoreKey) -> Option<State> {
    store.update_one(k, 1, |s| (false, None, s)).unwrap()
}

/// Adds one hit; `false` if the table refused a new key.
fn hit(store: &MemoryStore, k: StoreKey) -> bool {
    store
        .update_one(k, 1, |s| (true, Some(hits(s.map_or(0, |s| s.b) + 1)), ()))
        .is_ok()
}

#[test]
fn counts_on_wrapped_keys_survive_a_concurrent_backward_shift_delete() {
    // One shard of 4 keys in 6 slots. A, B and C are homed at the last
    // slot, so they sit at slots 5, 0 and 1. One thread forgets B and adds
    // D: the full shard drops the fresh B, moving C back across the wrap,
    // while two threads count on A and C without the shard's mutex.
    pct("wrapped keys vs backward-shift delete", 3000, || {
        let store = Arc::new(MemoryStore::new(&[limit(1)], 4));
        let (a, b, c, d) = (at_end(0), at_end(1), at_end(2), at_start(0));
        for k in [a, b, c] {
            assert!(hit(&store, k));
        }
        let s = store.clone();
        let churn = thread::spawn(move || {
            s.clear(b).unwrap();
            assert!(hit(&s, at_start(7)));
            assert!(hit(&s, d));
        });
        let s = store.clone();
        let count_c = thread::spawn(move || assert!(hit(&s, c)));
        assert!(hit(&store, a));
        churn.join().unwrap();
        count_c.join().unwrap();
        assert_eq!(read(&store, a), Some(hits(2)));
        assert_eq!(read(&store, c), Some(hits(2)));
        assert_eq!(read(&store, d), Some(hits(1)));
        assert_eq!(read(&store, b), None);
        assert!(store.tracked(0) <= 4);
    });
}

#[test]
fn two_counters_on_one_wrapped_key_lose_no_update() {
    // Every schedule of two lock-free finds and slot locks on one key that
    // sits past the wrap (home: the last slot, taken by another key).
    pct("two counters on one key", 3000, || {
        let store = Arc::new(MemoryStore::new(&[limit(1)], 2));
        let (a, b) = (at_end(0), at_end(1));
        assert!(hit(&store, a));
        assert!(hit(&store, b));
        let s = store.clone();
        let other = thread::spawn(move || assert!(hit(&s, b)));
        assert!(hit(&store, b));
        other.join().unwrap();
        assert_eq!(read(&store, b), Some(hits(3)));
        assert_eq!(read(&store, a), Some(hits(1)));
    });
}

#[test]
fn counts_survive_an_in_place_growth() {
    // One shard of 20 keys: 16 slots at first, grown by half when the 7th
    // key arrives (3 keys in 8 slots while small). Two threads count on
    // keys that the growth re-places while a third inserts the keys that
    // make the shard grow.
    pct("counting vs growth", 2000, || {
        let store = Arc::new(MemoryStore::new(&[limit(1)], 20));
        for i in 0..6 {
            assert!(hit(&store, at_end(i)));
        }
        let s = store.clone();
        let grower = thread::spawn(move || {
            for i in 0..3 {
                assert!(hit(&s, at_start(i)));
            }
        });
        let s = store.clone();
        let counter = thread::spawn(move || {
            for _ in 0..2 {
                assert!(hit(&s, at_end(5)));
            }
        });
        for _ in 0..2 {
            assert!(hit(&store, at_end(0)));
        }
        grower.join().unwrap();
        counter.join().unwrap();
        assert_eq!(read(&store, at_end(0)), Some(hits(3)));
        assert_eq!(read(&store, at_end(5)), Some(hits(3)));
        for i in 1..5 {
            assert_eq!(read(&store, at_end(i)), Some(hits(1)), "key {i}");
        }
        for i in 0..3 {
            assert_eq!(read(&store, at_start(i)), Some(hits(1)), "new key {i}");
        }
        assert_eq!(store.tracked(0), 9);
    });
}

#[test]
fn a_full_table_of_throttled_keys_refuses_new_keys_and_evicts_only_fresh_ones() {
    // One shard of 3 keys: two throttled, one cleared (fresh). Two threads
    // add a new key each: one takes the fresh key's place (a delete that
    // moves the wrapped keys back), the other is refused; a third thread
    // counts on a throttled key throughout.
    pct("eviction when full", 3000, || {
        let store = Arc::new(MemoryStore::new(&[limit(1)], 3));
        let (a, b, c) = (at_end(0), at_end(1), at_end(2));
        for k in [a, b, c] {
            assert!(hit(&store, k));
        }
        store.clear(a).unwrap();
        let s = store.clone();
        let first = thread::spawn(move || hit(&s, at_start(0)));
        let s = store.clone();
        let second = thread::spawn(move || hit(&s, at_start(1)));
        assert!(hit(&store, c));
        let added = [first.join().unwrap(), second.join().unwrap()];
        assert_eq!(added.iter().filter(|x| **x).count(), 1, "{added:?}");
        assert_eq!(read(&store, b), Some(hits(1)));
        assert_eq!(read(&store, c), Some(hits(2)));
        assert_eq!(read(&store, a), None);
        assert_eq!(store.tracked(0), 3);
    });
}

#[test]
fn no_key_is_admitted_past_its_limit_while_its_table_changes() {
    // A limiter of 2 requests a minute: three threads ask for one key while
    // a fourth adds other keys (the table grows and sweeps).
    pct("admission vs table changes", 2000, || {
        let clock = ManualClock::new(1_767_225_600);
        let quota = Quota::new(Algorithm::FixedWindow, 2, 60.0, None).unwrap();
        let limiter =
            Arc::new(Limiter::new(Algorithm::FixedWindow, quota, 20, Arc::new(clock)).unwrap());
        let admitted = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for _ in 0..3 {
            let (l, n) = (limiter.clone(), admitted.clone());
            threads.push(thread::spawn(move || {
                if l.check("alice", 1).allowed {
                    n.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        let l = limiter.clone();
        threads.push(thread::spawn(move || {
            for i in 0..8 {
                assert!(l.check(&format!("k{i}"), 1).allowed);
            }
        }));
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(admitted.load(Ordering::SeqCst), 2);
        assert!(!limiter.check("alice", 1).allowed);
        assert!(limiter.tracked_keys() <= 20);
    });
}

// ---- the verified-token cache ----

const NOW: i64 = 1_000;

fn principal(subject: &str) -> Arc<mcpguard::token::Principal> {
    let ctx = IntrospectionContext {
        now_secs: NOW,
        leeway_secs: 0,
        issuer_ok: &|_| true,
        audience_ok: &|_| true,
        role_claim: None,
    };
    let text = format!(
        r#"{{"active":true,"sub":"{subject}","exp":{},"jti":"{subject}-jti","iss":"https://auth.example.com"}}"#,
        NOW + 60
    );
    Arc::new(validate_introspection(&text, &ctx).unwrap())
}

#[test]
fn cache_hits_return_their_own_tokens_principal_and_capacity_holds() {
    // Capacity 2, one shard: three threads insert and read three tokens,
    // so every insertion may evict, while hits set referenced bits.
    pct("cache hits vs eviction", 3000, || {
        let cache = Arc::new(TokenCache::new(2, 300));
        let mut threads = Vec::new();
        for name in ["alice", "bob", "carol"] {
            let c = cache.clone();
            threads.push(thread::spawn(move || {
                let p = principal(name);
                c.insert(&format!("token-{name}"), p, NOW);
                for other in ["alice", "bob", "carol"] {
                    if let Some(hit) = c.get(&format!("token-{other}"), NOW) {
                        assert_eq!(hit.subject.as_deref(), Some(other));
                    }
                }
                assert!(c.len() <= 2);
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
        assert!(cache.len() <= 2);
    });
}

#[test]
fn a_revocation_racing_a_validation_never_leaves_the_token_cached() {
    // The validator's protocol: read the epoch, validate (which fails once
    // the token is revoked), insert only if the epoch is unchanged (checked
    // under the shard's lock). A revocation marks the token revoked, bumps
    // the epoch, then drops the token's entries.
    pct("revocation vs insert_if", 3000, || {
        let cache = Arc::new(TokenCache::new(4, 300));
        let epoch = Arc::new(AtomicU64::new(0));
        let revoked = Arc::new(AtomicBool::new(false));
        let (c, e, r) = (cache.clone(), epoch.clone(), revoked.clone());
        let validator = thread::spawn(move || {
            let seen = e.load(Ordering::SeqCst);
            if r.load(Ordering::SeqCst) {
                return;
            }
            let p = principal("alice");
            c.insert_if("token-alice", p, NOW, || e.load(Ordering::SeqCst) == seen);
        });
        revoked.store(true, Ordering::SeqCst);
        epoch.fetch_add(1, Ordering::SeqCst);
        cache.invalidate_jti("https://auth.example.com", "alice-jti");
        validator.join().unwrap();
        assert!(
            cache.get("token-alice", NOW).is_none(),
            "a revoked token stayed cached"
        );
    });
}
