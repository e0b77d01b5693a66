//! The state behind `RateStore` can be replaced without touching the
//! algorithms or their callers: a limiter over a store that stands in for a
//! shared backend decides exactly as one over the in-process store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcpguard::ManualClock;
use mcpguard::ratelimit::{
    Algorithm, Limit, Limiter, MemoryStore, Quota, RateStore, State, StoreError, StoreKey,
};

/// A "remote" store: it delegates to a MemoryStore through the trait's
/// general `update` only (no `update_one` fast path) and counts round trips.
#[derive(Debug)]
struct CountingStore {
    inner: MemoryStore,
    round_trips: Arc<AtomicUsize>,
}

impl RateStore for CountingStore {
    fn update(
        &self,
        keys: &[StoreKey],
        now_nanos: u64,
        decide: &mut dyn FnMut(&mut [Option<State>]) -> bool,
    ) -> Result<bool, StoreError> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        self.inner.update(keys, now_nanos, decide)
    }

    fn clear(&self, key: StoreKey) -> Result<(), StoreError> {
        self.inner.clear(key)
    }

    fn tracked(&self, limit: usize) -> usize {
        self.inner.tracked(limit)
    }
}

#[test]
fn a_limiter_over_another_store_decides_like_the_in_process_one() {
    for algorithm in Algorithm::ALL {
        let quota = Quota::new(algorithm, 3, 60.0, None).unwrap();
        let clock = ManualClock::new(1_767_225_600);
        let round_trips = Arc::new(AtomicUsize::new(0));
        let store = CountingStore {
            inner: MemoryStore::new(&[Limit::new(algorithm, quota)], 1000),
            round_trips: round_trips.clone(),
        };
        let shared = Limiter::with_store(algorithm, quota, store, Arc::new(clock.clone())).unwrap();
        let local = Limiter::new(algorithm, quota, 1000, Arc::new(clock.clone())).unwrap();
        for step in 0..6 {
            let a = shared.check("client", 1);
            let b = local.check("client", 1);
            assert_eq!(a, b, "{algorithm:?} step {step}");
            clock.advance(std::time::Duration::from_secs(7));
        }
        assert!(
            round_trips.load(Ordering::Relaxed) >= 6,
            "every check went through the store"
        );
        shared.reset("client");
        local.reset("client");
        assert_eq!(shared.peek("client"), local.peek("client"));
        assert_eq!(shared.tracked_keys(), local.tracked_keys());
    }
}

#[test]
fn a_burst_on_a_window_algorithm_is_refused_for_any_store() {
    let quota = Quota::new(Algorithm::TokenBucket, 10, 60.0, Some(2)).unwrap();
    let store = MemoryStore::new(&[Limit::new(Algorithm::FixedWindow, quota)], 10);
    let clock = Arc::new(ManualClock::new(0));
    assert!(Limiter::with_store(Algorithm::FixedWindow, quota, store, clock).is_err());
}
