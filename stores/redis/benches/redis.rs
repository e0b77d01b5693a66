//! `authorize` with the Redis store against a bare `EVALSHA` round trip of
//! a trivial script to the same server, in the same run (target: at most
//! 1.2×), and Redis's memory per active client key (`MEMORY USAGE`),
//! printed per algorithm.

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use mcpguard::guard::{Guard, GuardOptions, Request};
use serde_json::json;

fn guard(url: &str, algorithm: &str, prefix: &str) -> Guard {
    // Never denies during the bench (a billion an hour), and keys live for
    // the whole run (a token bucket's key lives as long as its debt).
    let rate = json!({ "limit": 1_000_000_000, "window_seconds": 3600, "algorithm": algorithm });
    let text = support::config(url, prefix, "fail_closed", rate);
    mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap()
}

fn bench(c: &mut Criterion) {
    let server = support::Server::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let trivial = redis::Script::new("return 1");
    let g = guard(&server.url(), "fixed_window", "bench:");
    let mut request = Request::new();
    request.key = Some("203.0.113.7");
    assert!(g.authorize(&request).allowed);

    let mut group = c.benchmark_group("redis");
    group.bench_function("evalsha_trivial_script", |b| {
        b.iter(|| trivial.invoke::<i64>(&mut conn).unwrap())
    });
    group.bench_function("authorize_fixed_window", |b| {
        b.iter(|| assert!(g.authorize(&request).allowed))
    });
    group.finish();

    for algorithm in ["fixed_window", "sliding_window", "token_bucket"] {
        let prefix = format!("mem-{algorithm}:");
        // One request per key at 10 an hour: every key stays live (a token
        // bucket's key lives only while it has debt: 6 minutes here).
        let rate = json!({ "limit": 10, "window_seconds": 3600, "algorithm": algorithm });
        let text = support::config(&server.url(), &prefix, "fail_closed", rate);
        let g = mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap();
        let keys = 1000;
        for i in 0..keys {
            let key = format!("client-{i}");
            let mut r = Request::new();
            r.key = Some(&key);
            assert!(g.authorize(&r).allowed);
        }
        let names: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query(&mut conn)
            .unwrap();
        assert_eq!(names.len(), keys, "one Redis key per active client");
        let total: u64 = names
            .iter()
            .map(|k| {
                redis::cmd("MEMORY")
                    .arg("USAGE")
                    .arg(k)
                    .query::<u64>(&mut conn)
                    .unwrap()
            })
            .sum();
        println!(
            "redis memory per active client key ({algorithm}): {} bytes (MEMORY USAGE, mean of {keys}; key name {} bytes)",
            total / keys as u64,
            names[0].len()
        );
    }
    println!(
        "{}",
        g.metrics_text()
            .lines()
            .filter(|l| l.starts_with("mcpguard_store_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
