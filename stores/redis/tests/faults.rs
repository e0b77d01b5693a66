//! Faults against a real redis-server: stopped mid-run, slowed down with
//! `DEBUG SLEEP`, restarted empty. Each `on_error` policy does what it says,
//! no request waits much past the timeout, nothing panics, and the Guard
//! recovers by itself.

mod support;

use std::time::{Duration, Instant};

use mcpguard::guard::{AuditKind, Guard, GuardOptions, Request};
use mcpguard::shared::OnError;
use serde_json::json;
use support::metric;

/// The configured timeout is 100 ms; a request may take a little longer
/// (connect, then read), never seconds.
const SLACK: Duration = Duration::from_millis(400);

fn guard(server: &support::Server, on_error: &str, limit: u64) -> Guard {
    let rate = json!({ "limit": limit, "window_seconds": 3600 });
    let text = support::config(&server.url(), "faults:", on_error, rate);
    mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap()
}

fn request(guard: &Guard, key: &str) -> (mcpguard::guard::Decision, Duration) {
    let mut r = Request::new();
    r.key = Some(key);
    let start = Instant::now();
    let d = guard.authorize(&r);
    (d, start.elapsed())
}

/// Requests every 20 ms until one is allowed again, at most `within`.
fn recovers(guard: &Guard, key: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let (d, took) = request(guard, key);
        assert!(took < SLACK, "a request took {took:?}");
        if d.allowed
            && d.rate_limit
                .as_ref()
                .is_some_and(|r| r.store_fallback.is_none())
        {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "no recovery within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fail_closed_refuses_with_503_while_redis_is_down_and_recovers_when_it_is_back() {
    let mut server = support::Server::start();
    let port = server.port;
    let g = guard(&server, "fail_closed", 100);
    assert!(request(&g, "a").0.allowed);
    server.stop();
    for _ in 0..50 {
        let (d, took) = request(&g, "a");
        assert!(took < SLACK, "a request took {took:?}");
        assert_eq!(d.status, 503);
        assert_eq!(d.reason.unwrap().code(), "store_unavailable");
        assert_eq!(d.error.unwrap().as_str(), "temporarily_unavailable");
        assert!(d.header("Retry-After").is_some());
    }
    // The breaker: 50 requests cost at most two round trips to a dead server.
    assert!(metric(&g, "mcpguard_store_errors_total") <= 2.0);
    assert!(metric(&g, "mcpguard_store_breaker_rejected_total") >= 48.0);
    assert_eq!(metric(&g, "mcpguard_store_breaker_open"), 1.0);
    let audited = g.drain_audit();
    assert!(audited.iter().any(|e| e.kind == AuditKind::StoreError));
    assert!(g.counters().denied_for(mcpguard::Reason::StoreUnavailable) >= 50);
    // Restarted empty on the same port: back within the breaker's second.
    let _server = support::Server::start_on(port);
    let took = recovers(&g, "a", Duration::from_secs(3));
    assert!(
        took <= Duration::from_millis(1500),
        "recovered after {took:?}"
    );
}

#[test]
fn fail_open_allows_counts_and_audits_while_redis_is_down() {
    let mut server = support::Server::start();
    let g = guard(&server, "fail_open", 1);
    assert!(request(&g, "b").0.allowed);
    assert_eq!(request(&g, "b").0.status, 429, "Redis enforces the limit");
    server.stop();
    for _ in 0..20 {
        let (d, took) = request(&g, "b");
        assert!(took < SLACK);
        assert!(d.allowed, "fail_open allows");
        assert_eq!(
            d.rate_limit.unwrap().store_fallback,
            Some(OnError::FailOpen)
        );
    }
    assert!(metric(&g, "mcpguard_store_fallbacks_total") >= 20.0);
    let events = g.drain_audit();
    assert!(
        events
            .iter()
            .filter(|e| e.kind == AuditKind::StoreError)
            .count()
            >= 20
    );
}

#[test]
fn local_decides_with_the_processs_own_limits_until_redis_is_back() {
    let mut server = support::Server::start();
    let port = server.port;
    let g = guard(&server, "local", 3);
    assert!(request(&g, "c").0.allowed);
    server.stop();
    let allowed = (0..10).filter(|_| request(&g, "c").0.allowed).count();
    assert_eq!(allowed, 3, "the local store enforces the limit on its own");
    let (d, _) = request(&g, "c");
    assert_eq!(d.status, 429);
    assert_eq!(d.rate_limit.unwrap().store_fallback, Some(OnError::Local));
    // Back (empty): Redis decides again, with its own fresh budget.
    let _server = support::Server::start_on(port);
    recovers(&g, "c", Duration::from_secs(3));
}

#[test]
fn a_slow_redis_times_out_within_the_timeout_and_the_breaker_spares_later_requests() {
    let server = support::Server::start();
    let g = guard(&server, "fail_closed", 100);
    assert!(request(&g, "d").0.allowed);
    let url = server.url();
    let sleeper = std::thread::spawn(move || {
        let client = redis::Client::open(url).unwrap();
        let mut c = client.get_connection().unwrap();
        let slept: redis::RedisResult<()> =
            redis::cmd("DEBUG").arg("SLEEP").arg("1.5").query(&mut c);
        slept.expect("DEBUG SLEEP");
    });
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    let mut statuses = Vec::new();
    while start.elapsed() < Duration::from_millis(900) {
        let (d, took) = request(&g, "d");
        assert!(took < SLACK, "a request took {took:?}");
        statuses.push(d.status);
    }
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    assert!(
        metric(&g, "mcpguard_store_errors_total") <= 2.0,
        "at most one timeout per second"
    );
    sleeper.join().unwrap();
    recovers(&g, "d", Duration::from_secs(3));
}

#[test]
fn a_guard_builds_with_an_unreachable_redis_and_says_so_in_the_counters() {
    let text = support::config(
        "redis://127.0.0.1:1/0",
        "x:",
        "fail_closed",
        json!({ "limit": 5, "window_seconds": 60 }),
    );
    let g = mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap();
    assert_eq!(metric(&g, "mcpguard_store_errors_total"), 1.0, "the probe");
    assert_eq!(metric(&g, "mcpguard_store_breaker_open"), 1.0);
    let (d, took) = request(&g, "e");
    assert_eq!(d.status, 503);
    assert!(took < SLACK);
    assert_eq!(
        metric(&g, "mcpguard_store_errors_total"),
        1.0,
        "the breaker spared the request a second timeout"
    );
}

#[test]
fn a_plain_core_guard_refuses_a_redis_store_it_cannot_serve() {
    let text = support::config(
        "redis://127.0.0.1:1/0",
        "x:",
        "fail_closed",
        json!({ "limit": 5, "window_seconds": 60 }),
    );
    let e = Guard::from_json(&text).unwrap_err();
    assert_eq!(e.path, "store.redis");
    assert!(e.to_string().contains("mcpguard-redis"), "{e}");
}

#[test]
fn a_full_redis_refuses_under_fail_closed_and_recovers_when_memory_is_back() {
    let server = support::Server::start();
    let g = guard(&server, "fail_closed", 100);
    assert!(request(&g, "f").0.allowed);
    server.cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    server.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
    let (d, took) = request(&g, "f-new-key");
    assert!(took < SLACK);
    assert_eq!(d.status, 503, "an OOM refusal is a store failure");
    assert_eq!(d.reason.unwrap().code(), "store_unavailable");
    server.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    recovers(&g, "f-new-key", Duration::from_secs(3));
}

#[test]
fn a_key_overwritten_by_something_else_is_a_store_failure_not_a_fresh_window() {
    let server = support::Server::start();
    let g = guard(&server, "fail_closed", 100);
    assert!(request(&g, "w").0.allowed);
    let redis::Value::Array(keys) = server.cmd(&["KEYS", "faults:*"]) else {
        panic!("KEYS answers a list")
    };
    assert_eq!(keys.len(), 1);
    let redis::Value::BulkString(key) = &keys[0] else {
        panic!("a key is a bulk string")
    };
    let key = String::from_utf8(key.clone()).unwrap();
    // Another program's value at the key: too short, then too long.
    for foreign in ["hello", &"x".repeat(40)] {
        server.cmd(&["SET", &key, foreign]);
        let (d, took) = request(&g, "w");
        assert!(took < SLACK);
        assert_eq!(d.status, 503, "{foreign:?} is no state");
        assert_eq!(d.reason.unwrap().code(), "store_unavailable");
    }
    server.cmd(&["DEL", &key]);
    recovers(&g, "w", Duration::from_secs(3));
}

#[test]
fn a_token_check_refused_under_fail_closed_says_when_to_retry() {
    let server = support::Server::start();
    let (a, _) = token_guards(&server, "fail_closed");
    drop(server);
    let mut request = Request::new();
    let authorization = format!("Bearer {}", hs256("outage-retry"));
    request.authorization = Some(&authorization);
    let d = a.authorize(&request);
    assert_eq!(d.status, 503);
    assert_eq!(d.reason.unwrap().code(), "store_unavailable");
    assert_eq!(d.header("Retry-After"), Some("1"), "{:?}", d.headers);
}

/// Two guards sharing tokens through `server`, under `on_error`.
fn token_guards(server: &support::Server, on_error: &str) -> (Guard, Guard) {
    let config = json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": { "opaque_tokens": true, "issuers": [{
            "issuer": "https://auth.example.com",
            "jwks": mcpguard_testkit::hmac_jwks()
        }] },
        "store": { "redis": {
            "url": server.url(), "prefix": format!("outage-{on_error}:"), "timeout_ms": 100,
            "on_error": on_error
        } }
    })
    .to_string();
    let build = || mcpguard_redis::guard_from_json(&config, GuardOptions::default()).unwrap();
    (build(), build())
}

fn hs256(sub: &str) -> String {
    support::token(json!({ "sub": sub }))
}

/// A revocation made through `a` while Redis is down reaches `b` once Redis
/// is back (restarted empty), with nothing asked of the host but traffic
/// through `a`; returns what `a.revoke` said.
fn revocation_made_during_an_outage_reaches_the_other_guard(on_error: &str) -> String {
    let mut server = support::Server::start();
    let port = server.port;
    let (a, b) = token_guards(&server, on_error);
    let token = hs256(&format!("outage-{on_error}"));
    let other = hs256("someone-else");
    b.validate(&token).expect("valid, and now in b's cache");
    server.stop();
    let said = format!("{:?}", a.revoke(&token));
    // Refused by a at once (under fail_closed every token is, while the
    // store cannot be asked).
    let refused = a.validate(&token).unwrap_err().reason.code();
    assert!(
        refused == "revoked" || (on_error == "fail_closed" && refused == "store_unavailable"),
        "{refused}"
    );
    assert_eq!(metric(&a, "mcpguard_shared_writes_waiting"), 1.0);

    let _server = support::Server::start_on(port);
    let back = Instant::now();
    // a's own traffic (another token) polls the store, which takes the
    // waiting revocation; b then refuses the token within its bound.
    loop {
        let _ = a.validate(&other);
        if b.validate(&token)
            .is_err_and(|e| e.reason.code() == "revoked")
        {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(4),
            "b still admits the revoked token"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(metric(&a, "mcpguard_shared_writes_waiting"), 0.0);
    assert_eq!(metric(&a, "mcpguard_shared_writes_replayed_total"), 1.0);
    said
}

#[test]
fn under_local_a_revocation_made_while_redis_is_down_reaches_every_guard_once_it_is_back() {
    let said = revocation_made_during_an_outage_reaches_the_other_guard("local");
    assert_eq!(said, "Ok(())");
}

#[test]
fn under_fail_closed_a_revocation_redis_missed_is_an_error_and_still_reaches_every_guard() {
    let said = revocation_made_during_an_outage_reaches_the_other_guard("fail_closed");
    assert!(said.contains("StoreUnavailable"), "{said}");
}

#[test]
fn an_opaque_token_inserted_then_removed_during_an_outage_is_not_resurrected_by_the_replay() {
    let mut server = support::Server::start();
    let port = server.port;
    let (a, b) = token_guards(&server, "local");
    let entry = || {
        mcpguard::token::OpaqueEntry::from_json(
            r#"{"client_id": "app", "scopes": ["tag:web"], "resource": "https://mcp.example.com/mcp"}"#,
        )
        .unwrap()
    };
    const OPAQUE: &str = "opaque-outage-0123456789";
    server.stop();
    a.insert_opaque(OPAQUE, entry()).unwrap();
    a.revoke(OPAQUE).unwrap();
    // A token known everywhere, inserted once Redis is back, shows when
    // the replay has run.
    let _server = support::Server::start_on(port);
    let back = Instant::now();
    while metric(&a, "mcpguard_shared_writes_waiting") > 0.0 {
        let _ = a.validate(&hs256("poller"));
        assert!(back.elapsed() < Duration::from_secs(4), "no replay");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(metric(&a, "mcpguard_shared_writes_replayed_total"), 2.0);
    assert_eq!(
        b.validate(OPAQUE).unwrap_err().reason.code(),
        "inactive",
        "inserted then removed, in that order"
    );
}
