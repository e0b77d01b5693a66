//! Runs the `rate_limit` / `advance` cases of `conformance/ratelimit_*.json`
//! through `RatePolicy::check_rule` (the Guard's runner covers every file
//! through the Guard; this one pins the engine now). The folder is
//! `MCPGUARD_CONFORMANCE_DIR`, else the repository's `conformance/`.

use std::path::PathBuf;
use std::sync::Arc;

use mcpguard::ManualClock;
use mcpguard::error::from_value;
use mcpguard::ratelimit::{RateDecision, RateLimitConfig, RatePolicy};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    std::env::var_os("MCPGUARD_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance"))
}

fn as_json(d: &RateDecision) -> Value {
    json!({"allowed": d.allowed, "limit": d.limit, "remaining": d.remaining,
           "reset": d.reset, "retry_after": d.retry_after})
}

/// JSON equality with numbers compared by value (900 equals 900.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn run_file(path: &PathBuf, failures: &mut Vec<String>) -> usize {
    let file = path.display();
    let doc: Value = match std::fs::read_to_string(path).map(|t| serde_json::from_str(&t)) {
        Ok(Ok(v)) => v,
        e => {
            failures.push(format!("{file}: unreadable: {e:?}"));
            return 0;
        }
    };
    let cfg: RateLimitConfig = match from_value(&doc["config"]["rate_limit"]) {
        Ok(c) => c,
        Err(e) => {
            failures.push(format!("{file}: config.rate_limit: {e}"));
            return 0;
        }
    };
    let clock = match doc["clock"].as_f64().map(ManualClock::from_secs_f64) {
        Some(Ok(c)) => c,
        other => {
            failures.push(format!("{file}: bad clock: {other:?}"));
            return 0;
        }
    };
    let policy = match RatePolicy::build(&cfg, &[], Arc::new(clock.clone())) {
        Ok(p) => p,
        Err(e) => {
            failures.push(format!("{file}: {e}"));
            return 0;
        }
    };
    let cases = doc["cases"].as_array().cloned().unwrap_or_default();
    for case in &cases {
        let name = format!("{file} / {}", case["name"].as_str().unwrap_or("?"));
        match case["op"].as_str() {
            Some("advance") => match case["seconds"].as_f64().map(|s| clock.advance_secs_f64(s)) {
                Some(Ok(())) => {}
                other => failures.push(format!("{name}: bad advance: {other:?}")),
            },
            Some("rate_limit") => {
                let key = case["key"].as_str().unwrap_or_default();
                let cost = case.get("cost").and_then(Value::as_u64).unwrap_or(1);
                let rule = case.get("rule").and_then(Value::as_str);
                let got = match policy.check_rule(rule, key, cost) {
                    Ok(d) => as_json(&d),
                    Err(e) => {
                        failures.push(format!("{name}: {e}"));
                        continue;
                    }
                };
                let Some(expect) = case["expect"].as_object() else {
                    failures.push(format!("{name}: no expect"));
                    continue;
                };
                for (k, want) in expect {
                    match got.get(k) {
                        Some(have) if same(have, want) => {}
                        have => {
                            failures.push(format!("{name}: {k}: expected {want}, got {have:?}"))
                        }
                    }
                }
            }
            other => failures.push(format!("{name}: op {other:?} is not run here")),
        }
    }
    cases.len()
}

#[test]
fn rate_limit_conformance_vectors_pass_through_check_rule() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("conformance folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ratelimit_") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no ratelimit_*.json in {}",
        dir().display()
    );
    let mut failures = Vec::new();
    let total: usize = files.iter().map(|f| run_file(f, &mut failures)).sum();
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
