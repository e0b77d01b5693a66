//! Exactness under concurrency: with a frozen clock, N threads hammering one
//! key admit exactly the quota, and a request passing several limits is
//! counted at all of them or none.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use mcpguard::ManualClock;
use mcpguard::error::from_value;
use mcpguard::ratelimit::{Algorithm, Limiter, Quota, RateLimitConfig, RatePolicy};
use serde_json::json;

const THREADS: usize = 8;

#[test]
fn threads_hammering_one_key_admit_exactly_the_limit() {
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::TokenBucket,
    ] {
        let clock = ManualClock::new(1_767_225_600);
        let quota = Quota::new(algorithm, 1000, 60.0, None).unwrap();
        let l = Arc::new(Limiter::new(algorithm, quota, 100, Arc::new(clock)).unwrap());
        let admitted = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (l, admitted) = (l.clone(), admitted.clone());
                thread::spawn(move || {
                    for _ in 0..500 {
                        if l.check("shared", 1).allowed {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(admitted.load(Ordering::Relaxed), 1000, "{algorithm:?}");
        assert_eq!(l.peek("shared").remaining, 0);
    }
}

#[test]
fn a_request_under_several_limits_is_counted_at_all_or_none_under_concurrency() {
    let cfg: RateLimitConfig = from_value(&json!({"limit": 300, "window_seconds": 60, "rules": [
        {"name": "fs", "server": "fs", "limit": 120, "window_seconds": 60}]}))
    .unwrap();
    let p =
        Arc::new(RatePolicy::build(&cfg, &[], Arc::new(ManualClock::new(1_767_225_600))).unwrap());
    let (fs, other) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (p, fs, other) = (p.clone(), fs.clone(), other.clone());
            thread::spawn(move || {
                for i in 0..100 {
                    let to_fs = (t + i) % 2 == 0;
                    let server = if to_fs { Some("fs") } else { Some("web") };
                    if p.check("k", &[], server, None, 1).allowed {
                        if to_fs { &fs } else { &other }.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let (fs, other) = (fs.load(Ordering::Relaxed), other.load(Ordering::Relaxed));
    assert_eq!(fs + other, 300, "the default admits exactly its limit");
    assert!(fs <= 120);
    assert_eq!(
        p.check_rule(Some("fs"), "k", 0).unwrap().remaining,
        120 - fs
    );
    assert_eq!(p.check_rule(None, "k", 0).unwrap().remaining, 0);
}

#[test]
fn limiters_and_policies_can_be_shared_between_threads() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<Limiter>();
    shared::<RatePolicy>();
    shared::<mcpguard::ratelimit::RateDecision>();
}
