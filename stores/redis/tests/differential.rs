//! The Redis store decides exactly as the in-process limiter on quotas
//! whose arithmetic passes 2^53 (where a naive Lua port would round): the
//! same requests on the same manual clock, through a plain Guard and a
//! Redis-backed one, give identical decisions (on both sides of 2^53,
//! where the script leaves doubles for bignums).

mod support;

use mcpguard::ManualClock;
use mcpguard::guard::{Guard, GuardOptions};
use serde_json::json;

fn pair(
    server: &support::Server,
    rate: serde_json::Value,
    prefix: &str,
) -> (Guard, Guard, ManualClock) {
    let clock = ManualClock::from_secs_f64(1_700_000_000.25).unwrap();
    let plain = json!({ "resource": "https://mcp.example.com/mcp", "rate_limit": rate });
    let mut shared = plain.clone();
    shared["store"] = json!({ "redis": { "url": server.url(), "prefix": prefix } });
    let a = Guard::from_json_with_clock(&plain.to_string(), clock.clone()).unwrap();
    let b = mcpguard_redis::guard_from_json(
        &shared.to_string(),
        GuardOptions::with_clock(clock.clone()),
    )
    .unwrap();
    (a, b, clock)
}

#[test]
fn large_quotas_decide_alike_in_process_and_over_redis() {
    let server = support::Server::start();
    let quotas = [
        json!({ "algorithm": "fixed_window", "limit": 4_294_967_295u64, "window_seconds": 1_728_000 }),
        json!({ "algorithm": "sliding_window", "limit": 1000, "window_seconds": 3600 }),
        json!({ "algorithm": "sliding_window", "limit": 4_294_967_295u64, "window_seconds": 1_728_000.123456789 }),
        json!({ "algorithm": "sliding_window", "limit": 3, "window_seconds": 0.000_001 }),
        json!({ "algorithm": "token_bucket", "limit": 100_000, "window_seconds": 86_400, "burst": 5000 }),
        json!({ "algorithm": "token_bucket", "limit": 4_294_967_295u64, "window_seconds": 1_728_000, "burst": 4_294_967_295u64 }),
        json!({ "algorithm": "token_bucket", "limit": 7, "window_seconds": 0.3, "burst": 3 }),
        // burst × window just above 2^53 ns, and limit × window for the
        // sliding window: the script's exact-double paths meet its bignums.
        json!({ "algorithm": "token_bucket", "limit": 2502, "window_seconds": 3600, "burst": 2502 }),
        json!({ "algorithm": "token_bucket", "limit": 2502, "window_seconds": 3600, "burst": 1251 }),
        json!({ "algorithm": "sliding_window", "limit": 2502, "window_seconds": 3600 }),
    ];
    // Costs and clock steps (seconds) mixing tiny and huge values.
    let costs = [1u64, 1, 2, 999, 1, 4_000_000_000, 1, 0, 5, 1];
    let steps = [
        0.0,
        0.000_000_001,
        0.7,
        1234.5,
        0.0,
        86_399.999_999_999,
        3.0,
        0.000_5,
        1_000_000.0,
        0.1,
    ];
    for (q, rate) in quotas.iter().enumerate() {
        let (plain, redis, clock) = pair(&server, rate.clone(), &format!("diff{q}:"));
        for round in 0..40 {
            let cost = costs[round % costs.len()];
            for key in ["k1", "k2"] {
                let a = plain.check_rate_limit(None, key, cost).unwrap();
                let b = redis.check_rate_limit(None, key, cost).unwrap();
                assert_eq!(b.store_fallback, None, "Redis answered");
                assert_eq!(
                    a.to_json(),
                    b.to_json(),
                    "quota {rate} round {round} key {key} cost {cost}"
                );
                assert_eq!(a.window_seconds, b.window_seconds);
            }
            clock
                .advance_secs_f64(steps[(round * 7) % steps.len()])
                .unwrap();
        }
    }
}

#[test]
fn a_window_beyond_what_the_store_handles_is_a_configuration_error() {
    let server = support::Server::start();
    let config = json!({
        "resource": "https://mcp.example.com/mcp",
        "rate_limit": { "limit": 10, "window_seconds": 31_536_000 },
        "store": { "redis": { "url": server.url() } }
    });
    let e =
        mcpguard_redis::guard_from_json(&config.to_string(), GuardOptions::default()).unwrap_err();
    assert_eq!(e.path, "store");
    assert!(e.to_string().contains("26 days"), "{e}");
}
