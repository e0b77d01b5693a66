//! Bounded memory: how many keys are tracked, which are forgotten, and that
//! a throttled client stays throttled through a flood of new keys.

use std::sync::Arc;

use mcpguard::ManualClock;
use mcpguard::ratelimit::{Algorithm, Limiter, Quota};

const T0: u64 = 1_767_225_600;

fn limiter(
    algorithm: Algorithm,
    limit: u64,
    window: f64,
    max_keys: usize,
) -> (Limiter, ManualClock) {
    let clock = ManualClock::new(T0);
    let quota = Quota::new(algorithm, limit, window, None).unwrap();
    (
        Limiter::new(algorithm, quota, max_keys, Arc::new(clock.clone())).unwrap(),
        clock,
    )
}

#[test]
fn a_flood_of_a_million_keys_stays_within_max_keys_and_a_throttled_client_stays_throttled() {
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::TokenBucket,
    ] {
        let (l, clock) = limiter(algorithm, 100, 900.0, 100_000);
        for _ in 0..100 {
            assert!(l.check("throttled-client", 1).allowed);
        }
        assert!(!l.check("throttled-client", 1).allowed);
        let mut peak = 0;
        for i in 0..1_000_000u32 {
            assert!(
                l.check(&format!("flood-{i}"), 1).allowed,
                "{algorithm:?}: flood key {i}"
            );
            if i % 50_000 == 0 {
                peak = peak.max(l.tracked_keys());
                // Time passes during the flood, but less than a window.
                clock.advance_secs_f64(1.0).unwrap();
            }
        }
        peak = peak.max(l.tracked_keys());
        assert!(peak <= 100_000, "{algorithm:?}: {peak} keys tracked");
        assert!(peak >= 90_000, "{algorithm:?}: the table was used ({peak})");
        // 20 s passed: the windows give nothing back; the bucket (one every
        // 9 s) exactly two, which proves its state was kept, not forgotten.
        let expected = if algorithm == Algorithm::TokenBucket {
            2
        } else {
            0
        };
        assert_eq!(
            l.peek("throttled-client").remaining,
            expected,
            "{algorithm:?}: the throttled client got quota back"
        );
    }
}

#[test]
fn keys_back_to_a_fresh_quota_are_forgotten_first() {
    let (l, clock) = limiter(Algorithm::FixedWindow, 10, 60.0, 3);
    assert!(l.check("old", 1).allowed);
    clock.advance_secs_f64(30.0).unwrap();
    assert!(l.check("a", 1).allowed);
    assert!(l.check("b", 5).allowed);
    clock.advance_secs_f64(30.0).unwrap();
    // "old" is fresh again; "a" has more remaining than "b" but is not fresh.
    assert!(l.check("new", 1).allowed);
    assert_eq!(l.tracked_keys(), 3);
    assert_eq!(l.peek("a").remaining, 9, "a kept its count");
    assert_eq!(l.peek("b").remaining, 5, "b kept its count");
}

#[test]
fn with_no_fresh_key_the_sampled_key_with_most_remaining_is_forgotten_never_a_throttled_one() {
    let (l, _clock) = limiter(Algorithm::TokenBucket, 10, 60.0, 3);
    assert!(l.check("nearly-spent", 9).allowed);
    assert!(l.check("light", 2).allowed);
    assert!(l.check("spent", 10).allowed);
    assert!(l.check("newcomer", 1).allowed);
    assert_eq!(l.tracked_keys(), 3);
    assert_eq!(l.peek("nearly-spent").remaining, 1);
    assert!(!l.peek("spent").allowed);
    assert_eq!(
        l.peek("light").remaining,
        10,
        "light was forgotten: it had the most left"
    );
}

#[test]
fn a_table_full_of_throttled_keys_refuses_new_keys_fail_closed() {
    let (l, clock) = limiter(Algorithm::FixedWindow, 2, 60.0, 2);
    assert!(l.check("x", 2).allowed);
    clock.advance_secs_f64(10.0).unwrap();
    assert!(l.check("y", 2).allowed);
    let d = l.check("z", 1);
    assert!(!d.allowed && d.table_full && !d.never);
    assert_eq!(d.retry_after, Some(50.0), "when x's throttle ends");
    assert_eq!(l.tracked_keys(), 2);
    assert!(
        !l.check("x", 1).allowed && !l.check("y", 1).allowed,
        "both stay throttled"
    );
    clock.advance_secs_f64(50.0).unwrap();
    assert!(
        l.check("z", 1).allowed,
        "x's window ended, so it could be forgotten"
    );
    assert!(!l.check("y", 1).allowed);
}

#[test]
fn peeks_and_denials_never_add_keys() {
    let (l, _clock) = limiter(Algorithm::SlidingWindow, 1, 60.0, 10);
    for i in 0..100 {
        let _ = l.peek(&format!("p{i}"));
        let _ = l.check(&format!("c{i}"), 2);
    }
    assert_eq!(l.tracked_keys(), 0);
}

#[test]
fn a_full_rule_table_refuses_a_new_key_without_charging_the_default() {
    use mcpguard::error::from_value;
    use mcpguard::ratelimit::{RateLimitConfig, RatePolicy};
    let cfg: RateLimitConfig = from_value(&serde_json::json!({
        "limit": 10, "window_seconds": 60, "max_keys": 1,
        "rules": [{"name": "fs", "server": "fs", "limit": 1, "window_seconds": 60}]}))
    .unwrap();
    let p = RatePolicy::build(&cfg, &[], Arc::new(ManualClock::new(T0))).unwrap();
    assert!(p.check("a", &[], Some("fs"), None, 1).allowed);
    let d = p.check("b", &[], Some("fs"), None, 1);
    assert!(!d.allowed && d.table_full);
    assert_eq!((&*d.policy, d.retry_after), ("fs", Some(60.0)));
    assert_eq!(
        p.check_rule(None, "b", 0).unwrap().remaining,
        10,
        "b was not charged"
    );
    assert!(
        !p.check_rule(Some("fs"), "a", 0).unwrap().allowed,
        "a stays throttled at the rule"
    );
}
