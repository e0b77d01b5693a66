//! The three algorithms through a single keyed `Limiter`, on a manual clock.

use std::sync::Arc;

use mcpguard::ratelimit::{Algorithm, Limiter, Quota, QuotaError};
use mcpguard::{Clock, ManualClock};
use proptest::prelude::*;

const T0: u64 = 1_767_225_600;

fn limiter(
    algorithm: Algorithm,
    limit: u64,
    window: f64,
    burst: Option<u64>,
) -> (Limiter, ManualClock) {
    let clock = ManualClock::new(T0);
    let quota = Quota::new(algorithm, limit, window, burst).unwrap();
    let l = Limiter::new(algorithm, quota, 10_000, Arc::new(clock.clone())).unwrap();
    (l, clock)
}

fn admitted(l: &Limiter, key: &str, n: usize) -> usize {
    (0..n).filter(|_| l.check(key, 1).allowed).count()
}

#[test]
fn fixed_window_defaults_admit_100_per_15_minutes_with_exact_reset_and_retry() {
    let (l, clock) = limiter(Algorithm::FixedWindow, 100, 900.0, None);
    let first = l.check("k", 1);
    assert!(first.allowed);
    assert_eq!(
        (first.limit, first.remaining, first.reset, first.retry_after),
        (100, 99, 900.0, None)
    );
    assert_eq!(admitted(&l, "k", 99), 99);
    clock.advance_secs_f64(300.0).unwrap();
    let denied = l.check("k", 1);
    assert!(!denied.allowed && !denied.never);
    assert_eq!(
        (denied.remaining, denied.reset, denied.retry_after),
        (0, 600.0, Some(600.0))
    );
    clock.advance_secs_f64(599.5).unwrap();
    assert_eq!(l.check("k", 1).retry_after, Some(0.5));
    clock.advance_secs_f64(0.5).unwrap();
    let fresh = l.check("k", 1);
    assert!(fresh.allowed);
    assert_eq!(
        (fresh.remaining, fresh.reset),
        (99, 900.0),
        "the next hit opens a new window"
    );
}

#[test]
fn fixed_window_admits_up_to_twice_the_limit_across_a_window_edge() {
    // The documented weakness of fixed windows: a full window's worth just
    // before its end and another just after.
    let (l, clock) = limiter(Algorithm::FixedWindow, 100, 900.0, None);
    assert_eq!(admitted(&l, "k", 1), 1);
    clock.advance_secs_f64(899.0).unwrap();
    assert_eq!(admitted(&l, "k", 150), 99);
    clock.advance_secs_f64(1.0).unwrap();
    assert_eq!(
        admitted(&l, "k", 150),
        100,
        "199 requests within one second"
    );
}

#[test]
fn denied_requests_consume_nothing() {
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::TokenBucket,
    ] {
        let (l, clock) = limiter(algorithm, 10, 60.0, None);
        assert!(l.check("k", 7).allowed);
        let before = l.peek("k");
        for _ in 0..50 {
            assert!(!l.check("k", 4).allowed, "{algorithm:?}");
        }
        assert_eq!(
            l.peek("k"),
            before,
            "{algorithm:?}: denials changed the state"
        );
        assert!(
            l.check("k", 3).allowed,
            "{algorithm:?}: the 3 left are still there"
        );
        clock.advance_secs_f64(1.0).unwrap();
    }
}

#[test]
fn sliding_window_weights_the_previous_window_exactly() {
    let (l, clock) = limiter(Algorithm::SlidingWindow, 10, 60.0, None);
    assert_eq!(admitted(&l, "k", 1), 1);
    clock.advance_secs_f64(59.0).unwrap();
    assert_eq!(admitted(&l, "k", 20), 9);
    // t = 60: the previous window (10) still weighs fully.
    clock.advance_secs_f64(1.0).unwrap();
    let d = l.check("k", 1);
    assert!(!d.allowed);
    // 10 * (60 - e)/60 + 1 <= 10  <=>  e >= 6
    assert_eq!(d.retry_after, Some(6.0));
    assert_eq!(d.remaining, 0);
    clock.advance_secs_f64(6.0).unwrap();
    let ok = l.check("k", 1);
    assert!(ok.allowed);
    assert_eq!(ok.remaining, 0, "floor(10 - 9 - 1)");
    // t = 90: weighted 10 * 30/60 + 1 = 6, so 4 remain.
    clock.advance_secs_f64(24.0).unwrap();
    let p = l.peek("k");
    assert_eq!(p.remaining, 4);
    // Full quota is back when the current window's hit has slid out: t = 180.
    assert_eq!(p.reset, 90.0);
    clock.advance_secs_f64(90.0).unwrap();
    assert_eq!(l.peek("k").remaining, 10);
}

#[test]
fn sliding_window_waits_into_the_next_window_when_the_current_one_is_full() {
    let (l, clock) = limiter(Algorithm::SlidingWindow, 10, 60.0, None);
    assert_eq!(admitted(&l, "k", 10), 10);
    clock.advance_secs_f64(30.0).unwrap();
    let d = l.check("k", 4);
    // Next window at t=60 with prev=10: 10*(60-d)/60 + 4 <= 10  <=>  d >= 24.
    assert_eq!(d.retry_after, Some(30.0 + 24.0));
    clock.advance_secs_f64(54.0).unwrap();
    assert!(l.check("k", 4).allowed);
    assert!(!l.check("k", 1).allowed);
}

#[test]
fn sliding_window_admits_little_more_than_the_limit_across_an_edge() {
    let (l, clock) = limiter(Algorithm::SlidingWindow, 100, 900.0, None);
    assert_eq!(admitted(&l, "k", 1), 1);
    clock.advance_secs_f64(899.0).unwrap();
    assert_eq!(admitted(&l, "k", 150), 99);
    clock.advance_secs_f64(1.0).unwrap();
    assert_eq!(
        admitted(&l, "k", 150),
        0,
        "where a fixed window would admit 100 more"
    );
}

#[test]
fn token_bucket_allows_a_burst_then_refills_one_per_emission_interval() {
    // 10 per minute: one every 6 s; 5 at once.
    let (l, clock) = limiter(Algorithm::TokenBucket, 10, 60.0, Some(5));
    let first = l.check("k", 1);
    assert_eq!((first.limit, first.remaining, first.reset), (5, 4, 6.0));
    assert_eq!(admitted(&l, "k", 10), 4);
    let d = l.check("k", 1);
    assert_eq!(
        (d.allowed, d.remaining, d.reset, d.retry_after),
        (false, 0, 30.0, Some(6.0))
    );
    clock.advance_secs_f64(5.0).unwrap();
    assert_eq!(l.check("k", 1).retry_after, Some(1.0));
    clock.advance_secs_f64(1.0).unwrap();
    assert_eq!(admitted(&l, "k", 3), 1);
    clock.advance_secs_f64(3600.0).unwrap();
    assert_eq!(
        admitted(&l, "k", 10),
        5,
        "an hour idle refills to the burst, no more"
    );
}

#[test]
fn token_bucket_emission_interval_is_exact_when_it_is_not_a_whole_nanosecond() {
    // 3 per 10 ns: 3.33.. ns apart. Ticks of 1/limit ns keep it exact (a
    // burst of 3 keeps the bucket from idling between integer instants).
    let clock = ManualClock::from_nanos(1_000_000);
    let quota = Quota::new(Algorithm::TokenBucket, 3, 10e-9, Some(3)).unwrap();
    let l = Limiter::new(Algorithm::TokenBucket, quota, 10, Arc::new(clock.clone())).unwrap();
    let mut admitted = 0;
    for _ in 0..3000 {
        if l.check("k", 1).allowed {
            admitted += 1;
        }
        clock.advance(std::time::Duration::from_nanos(1));
    }
    // 3000 ns at 0.3 per ns: 900, plus the burst of 3 at the start.
    assert!((900..=903).contains(&admitted), "{admitted}");
}

#[test]
fn a_cost_above_the_limit_can_never_pass_and_says_so() {
    for (algorithm, burst) in [
        (Algorithm::FixedWindow, None),
        (Algorithm::SlidingWindow, None),
        (Algorithm::TokenBucket, Some(5)),
    ] {
        let (l, _clock) = limiter(algorithm, 10, 60.0, burst);
        let cap = burst.unwrap_or(10);
        let d = l.check("k", cap + 1);
        assert!(!d.allowed && d.never, "{algorithm:?}");
        assert_eq!(d.retry_after, None, "{algorithm:?}: no wait helps");
        assert_eq!(l.tracked_keys(), 0, "{algorithm:?}: nothing stored");
        assert!(
            l.check("k", cap).allowed,
            "{algorithm:?}: the whole capacity at once passes"
        );
    }
}

#[test]
fn limit_zero_denies_everything_as_never() {
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::TokenBucket,
    ] {
        let (l, _clock) = limiter(algorithm, 0, 60.0, None);
        let d = l.check("k", 1);
        assert!(
            !d.allowed && d.never && d.retry_after.is_none(),
            "{algorithm:?}"
        );
        assert_eq!(d.remaining, 0);
    }
}

#[test]
fn cost_zero_is_a_peek_that_tracks_nothing() {
    let (l, _clock) = limiter(Algorithm::FixedWindow, 2, 60.0, None);
    let p = l.check("k", 0);
    assert!(p.allowed);
    assert_eq!(
        (p.remaining, p.reset),
        (2, 0.0),
        "a fresh key: full quota, nothing to reset"
    );
    assert_eq!(l.tracked_keys(), 0);
    assert!(l.check("k", 2).allowed);
    let p = l.check("k", 0);
    assert!(!p.allowed);
    assert_eq!((p.remaining, p.retry_after), (0, Some(60.0)));
}

#[test]
fn reset_gives_a_key_its_full_quota_back() {
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::TokenBucket,
    ] {
        let (l, _clock) = limiter(algorithm, 3, 60.0, None);
        assert_eq!(admitted(&l, "k", 5), 3);
        l.reset("k");
        assert_eq!(l.peek("k").remaining, 3, "{algorithm:?}");
        assert_eq!(admitted(&l, "k", 5), 3, "{algorithm:?}");
        l.reset("never-seen");
    }
}

#[test]
fn a_clock_going_backwards_grants_nothing_and_never_panics() {
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::TokenBucket,
    ] {
        let (l, clock) = limiter(algorithm, 10, 60.0, None);
        assert_eq!(admitted(&l, "k", 10), 10);
        for step in [-1.0, -30.0, -1e6, -1e12] {
            clock.advance_secs_f64(step).unwrap();
            let d = l.check("k", 1);
            assert!(!d.allowed, "{algorithm:?} after {step}");
            let wait = d.retry_after.unwrap();
            assert!(wait > 0.0 && wait.is_finite(), "{algorithm:?}: {wait}");
            assert_eq!(
                admitted(&l, "other", 11),
                10,
                "{algorithm:?}: new keys get exactly the quota"
            );
            l.reset("other");
        }
        // Back at the epoch, the waits are honest (measured from the earlier reading).
        assert_eq!(clock.now_nanos(), 0);
    }
}

#[test]
fn fixed_window_wait_after_the_clock_went_back_counts_the_lost_time() {
    let (l, clock) = limiter(Algorithm::FixedWindow, 1, 900.0, None);
    assert!(l.check("k", 1).allowed);
    clock.advance_secs_f64(-100.0).unwrap();
    assert_eq!(l.check("k", 1).retry_after, Some(1000.0));
}

#[test]
fn sliding_window_wait_after_the_clock_went_back_counts_the_lost_time() {
    let (l, clock) = limiter(Algorithm::SlidingWindow, 1, 60.0, None);
    assert!(l.check("k", 1).allowed);
    clock.advance_secs_f64(-100.0).unwrap();
    let d = l.check("k", 1);
    // Back at the window's start (100 s away), the next window opens 60 s
    // later, where the hit weighs fully until it has slid out 60 s after.
    assert_eq!((d.retry_after, d.reset), (Some(220.0), 220.0));
}

#[test]
fn a_clock_jumping_forward_refills_exactly_the_quota() {
    for (algorithm, cap) in [
        (Algorithm::FixedWindow, 10),
        (Algorithm::SlidingWindow, 10),
        (Algorithm::TokenBucket, 4),
    ] {
        let burst = (algorithm == Algorithm::TokenBucket).then_some(4);
        let (l, clock) = limiter(algorithm, 10, 60.0, burst);
        assert_eq!(admitted(&l, "k", 20), cap);
        clock.advance_secs_f64(10.0 * 365.0 * 86400.0).unwrap();
        assert_eq!(l.peek("k").remaining, cap as u64, "{algorithm:?}");
        assert_eq!(admitted(&l, "k", 20), cap, "{algorithm:?}");
    }
}

#[test]
fn limiter_rejects_burst_for_window_algorithms_and_zero_max_keys() {
    let clock = Arc::new(ManualClock::new(T0));
    let q = Quota::new(Algorithm::TokenBucket, 10, 60.0, Some(3)).unwrap();
    assert_eq!(
        Limiter::new(Algorithm::FixedWindow, q, 10, clock.clone()).unwrap_err(),
        QuotaError::BurstNeedsTokenBucket
    );
    let q = Quota::new(Algorithm::FixedWindow, 10, 60.0, None).unwrap();
    assert_eq!(
        Limiter::new(Algorithm::FixedWindow, q, 0, clock).unwrap_err(),
        QuotaError::ZeroMaxKeys
    );
}

#[test]
fn quotas_reject_what_would_overflow_or_mean_nothing() {
    let fw = Algorithm::FixedWindow;
    assert_eq!(
        Quota::new(fw, 1 << 32, 1.0, None),
        Err(QuotaError::LimitTooLarge(1 << 32))
    );
    assert!(Quota::new(fw, u32::MAX as u64, 315_360_000.0, None).is_ok());
    assert!(matches!(
        Quota::new(fw, 1, f64::NAN, None),
        Err(QuotaError::WindowNotFinite(_))
    ));
    assert!(matches!(
        Quota::new(fw, 1, f64::INFINITY, None),
        Err(QuotaError::WindowNotFinite(_))
    ));
    assert!(matches!(
        Quota::new(fw, 1, 0.0, None),
        Err(QuotaError::WindowNotPositive(_))
    ));
    assert!(matches!(
        Quota::new(fw, 1, -5.0, None),
        Err(QuotaError::WindowNotPositive(_))
    ));
    assert!(matches!(
        Quota::new(fw, 1, 1e-10, None),
        Err(QuotaError::WindowNotPositive(_))
    ));
    assert!(matches!(
        Quota::new(fw, 1, 4e8, None),
        Err(QuotaError::WindowTooLong(_))
    ));
    let tb = Algorithm::TokenBucket;
    assert_eq!(Quota::new(tb, 1, 1.0, Some(0)), Err(QuotaError::ZeroBurst));
    assert_eq!(
        Quota::new(tb, 1, 1.0, Some(1 << 40)),
        Err(QuotaError::BurstTooLarge(1 << 40))
    );
    assert_eq!(
        Quota::new(fw, 1, 1.0, Some(1)),
        Err(QuotaError::BurstNeedsTokenBucket)
    );
}

#[test]
fn extreme_quotas_and_costs_do_not_overflow() {
    let clock = ManualClock::from_nanos(u64::MAX - 5);
    for algorithm in [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::TokenBucket,
    ] {
        let q = Quota::new(algorithm, u32::MAX as u64, 315_360_000.0, None).unwrap();
        let l = Limiter::new(algorithm, q, 4, Arc::new(clock.clone())).unwrap();
        assert!(l.check("k", u32::MAX as u64).allowed, "{algorithm:?}");
        let d = l.check("k", u64::MAX);
        assert!(d.never, "{algorithm:?}");
        let d = l.check("k", 1);
        assert!(
            !d.allowed && d.retry_after.is_some_and(|w| w > 0.0),
            "{algorithm:?}"
        );
    }
}

#[derive(Debug, Clone)]
struct Step {
    advance_ms: u64,
    cost: u64,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (0u64..4_000, 1u64..4).prop_map(|(advance_ms, cost)| Step { advance_ms, cost }),
        1..150,
    )
}

/// Runs `steps` and returns (time in ms, cost admitted at that time).
fn run(l: &Limiter, clock: &ManualClock, steps: &[Step]) -> Vec<(u64, u64)> {
    let mut t = 0;
    let mut out = Vec::new();
    for s in steps {
        clock.advance(std::time::Duration::from_millis(s.advance_ms));
        t += s.advance_ms;
        if l.check("k", s.cost).allowed {
            out.push((t, s.cost));
        }
    }
    out
}

proptest! {
    #[test]
    fn token_bucket_admits_at_most_burst_plus_rate_times_any_interval(steps in steps()) {
        // 5 per 10 s, burst 3.
        let (l, clock) = limiter(Algorithm::TokenBucket, 5, 10.0, Some(3));
        let hits = run(&l, &clock, &steps);
        for i in 0..hits.len() {
            let mut sum = 0;
            for hit in &hits[i..] {
                sum += hit.1;
                let interval_ms = hit.0 - hits[i].0;
                // burst + 5 per 10 000 ms over the interval
                prop_assert!(sum * 10_000 <= 3 * 10_000 + 5 * interval_ms,
                    "{sum} admitted within {interval_ms} ms");
            }
        }
    }

    #[test]
    fn fixed_and_sliding_windows_admit_at_most_twice_the_limit_in_any_window(steps in steps()) {
        for algorithm in [Algorithm::FixedWindow, Algorithm::SlidingWindow] {
            let (l, clock) = limiter(algorithm, 6, 10.0, None);
            let hits = run(&l, &clock, &steps);
            for i in 0..hits.len() {
                let sum: u64 = hits[i..].iter().take_while(|h| h.0 - hits[i].0 < 10_000).map(|h| h.1).sum();
                prop_assert!(sum <= 12, "{algorithm:?}: {sum} within one window");
            }
        }
    }
}
