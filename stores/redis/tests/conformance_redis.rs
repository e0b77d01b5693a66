//! The rate-limit conformance vectors (`conformance/ratelimit_*.json`), run
//! unchanged through a Guard whose limits live in a real redis-server: the
//! Lua script must decide exactly as the in-process limiter, on one server
//! and on a Redis Cluster.

mod support;

use mcpguard::ManualClock;
use mcpguard::guard::GuardOptions;
use mcpguard_testkit::vectors::{self, partial_match};
use serde_json::{Value, json};

#[test]
fn every_rate_limit_vector_passes_over_redis() {
    let server = support::Server::start();
    let mut files = 0;
    vectors::run_all("Rust API over Redis", |file, doc, failures| {
        if !file.starts_with("ratelimit_") {
            return 0;
        }
        files += 1;
        run_file(&json!({ "url": server.url() }), file, doc, failures)
    });
    assert!(files >= 5, "only {files} rate-limit vector files ran");
    let keys = server.cmd(&["DBSIZE"]);
    assert!(
        matches!(keys, redis::Value::Int(n) if n > 0),
        "no rate-limit state reached Redis: {keys:?}"
    );
}

/// The same vectors through a three-node Redis Cluster: every request's
/// keys in one hash slot, spread over the nodes by client key.
#[test]
fn every_rate_limit_vector_passes_over_a_redis_cluster() {
    let cluster = support::Cluster::start();
    let mut files = 0;
    vectors::run_all("Rust API over a Redis Cluster", |file, doc, failures| {
        if !file.starts_with("ratelimit_") {
            return 0;
        }
        files += 1;
        let redis = json!({ "url": cluster.urls()[0], "urls": cluster.urls()[1..] });
        run_file(&redis, file, doc, failures)
    });
    assert!(files >= 5, "only {files} rate-limit vector files ran");
    let spread = cluster
        .nodes
        .iter()
        .filter(|n| matches!(n.cmd(&["DBSIZE"]), redis::Value::Int(n) if n > 0))
        .count();
    assert!(spread >= 2, "the state sat on {spread} node(s) of three");
}

/// Runs one vector file through a Guard whose `store.redis` is `redis`
/// (plus a prefix of the file's own).
fn run_file(redis: &Value, file: &str, doc: &Value, failures: &mut Vec<String>) -> usize {
    let clock = ManualClock::from_secs_f64(doc["clock"].as_f64().unwrap_or(0.0)).unwrap();
    let mut config = doc["config"].clone();
    let mut redis = redis.clone();
    redis["prefix"] = json!(format!("conf:{file}:"));
    config["store"] = json!({ "redis": redis });
    let guard = match mcpguard_redis::guard_from_json(
        &config.to_string(),
        GuardOptions::with_clock(clock.clone()),
    ) {
        Ok(g) => g,
        Err(e) => {
            failures.push(format!("{file}: config refused: {e}"));
            return 0;
        }
    };
    let cases = doc["cases"].as_array().cloned().unwrap_or_default();
    for (i, case) in cases.iter().enumerate() {
        let name = case["name"]
            .as_str()
            .map_or_else(|| format!("#{i}"), str::to_string);
        let actual = match case["op"].as_str() {
            Some("rate_limit") => {
                let key = case["key"].as_str().unwrap_or_default();
                let cost = case.get("cost").and_then(Value::as_u64).unwrap_or(1);
                let rule = case.get("rule").and_then(Value::as_str);
                match guard.check_rate_limit(rule, key, cost) {
                    Ok(d) => {
                        if d.store_fallback.is_some() {
                            failures.push(format!("{file} / {name}: Redis did not answer"));
                        }
                        d.to_json()
                    }
                    Err(e) => json!({ "error": e.to_string() }),
                }
            }
            Some("advance") => {
                clock
                    .advance_secs_f64(case["seconds"].as_f64().unwrap_or(0.0))
                    .unwrap();
                Value::Null
            }
            other => {
                failures.push(format!("{file} / {name}: op {other:?} not run over Redis"));
                continue;
            }
        };
        if case["expect"].is_null() {
            continue;
        }
        if let Err(why) = partial_match(&case["expect"], &actual, "") {
            failures.push(format!("{file} / {name}: {why}"));
        }
    }
    cases.len()
}
