//! Keys from a real local HTTPS server: fetched at start, refreshed on an
//! unknown `kid` (once per cooldown, whatever the flood), kept when the
//! provider fails, and fetched only under the transport rules.

mod support;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mcpguard::Reason;
use mcpguard::guard::Guard;
use mcpguard_fetch::{Fetcher, guard_from_json};
use mcpguard_testkit as kit;
use serde_json::{Value, json};
use support::{Resp, Server, tls};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://issuer.example";
const WAIT: Duration = Duration::from_secs(10);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A JWT from `iss` signed with testkit key `key` under `kid`.
fn jwt(iss: &str, key: &str, kid: &str) -> String {
    let header = json!({"alg": "RS256", "kid": kid}).to_string();
    let claims = json!({"iss": iss, "sub": "alice", "aud": RES, "exp": now() + 600}).to_string();
    kit::sign("RS256", key, &header, &claims)
}

fn set(keys: &[(&str, &str)]) -> String {
    let list: Vec<_> = keys
        .iter()
        .map(|(k, kid)| (*k, Some(*kid), Some("RS256")))
        .collect();
    kit::jwks(&list).to_string()
}

fn config(issuer: Value, fetch: Value) -> String {
    json!({"resource": RES, "auth": {"issuers": [issuer], "fetch": fetch}}).to_string()
}

fn start(issuer: Value, fetch: Value) -> (Guard, Fetcher) {
    let (g, f) = guard_from_json(&config(issuer, fetch)).unwrap();
    assert!(f.wait_ready(WAIT), "the first fetch was not tried in time");
    (g, f)
}

fn reason(guard: &Guard, token: &str) -> Reason {
    guard.validate(token).unwrap_err().reason
}

/// Polls `f` until it holds (at most `WAIT`).
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

#[test]
fn keys_fetched_at_start_verify_tokens_and_a_rotation_is_picked_up_by_one_fetch() {
    let tls = tls();
    let server = Server::https(&tls);
    server.set("/jwks", Resp::json(set(&[("rsa", "k1")])));
    let (guard, fetcher) = start(
        json!({"issuer": ISS, "jwks_uri": server.url("/jwks")}),
        json!({"ca_pem": tls.ca_pem}),
    );
    assert_eq!(server.hits("/jwks"), 1);
    assert!(guard.validate(&jwt(ISS, "rsa", "k1")).is_ok());

    // Validations of the old key run on while the issuer rotates.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let worker = {
        let (guard, stop, failures) = (guard.clone(), stop.clone(), failures.clone());
        let token = jwt(ISS, "rsa", "k1");
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if guard.token_validator().verify_jwt(&token).is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    server.set("/jwks", Resp::json(set(&[("rsa", "k1"), ("rsa2", "k2")])));
    let new = jwt(ISS, "rsa2", "k2");
    assert_eq!(reason(&guard, &new), Reason::UnknownKey);
    assert!(eventually(|| guard.validate(&new).is_ok()));
    assert_eq!(server.hits("/jwks"), 2);

    // A flood of unknown kids within the cooldown fetches nothing more.
    for i in 0..300 {
        assert_eq!(
            reason(&guard, &jwt(ISS, "rsa", &format!("nope-{i}"))),
            Reason::UnknownKey
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.hits("/jwks"), 2);
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "the old key failed during rotation"
    );
    let stats = fetcher.stats();
    assert_eq!(
        (stats.jwks_fetches, stats.rotations, stats.jwks_failures),
        (2, 1, 0)
    );
    let counted = guard.counters().remote;
    assert_eq!(
        (
            counted.jwks_fetches,
            counted.jwks_updates,
            counted.jwks_fetch_failures
        ),
        (2, 2, 0)
    );
}

#[test]
fn an_unreachable_provider_at_start_leaves_a_working_guard_that_keeps_trying() {
    let tls = tls();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("https://localhost:{}/jwks", addr.port());
    let (guard, fetcher) = start(
        json!({"issuer": ISS, "jwks_uri": url}),
        json!({"ca_pem": tls.ca_pem, "min_refresh_seconds": 1, "connect_timeout_ms": 500}),
    );
    let token = jwt(ISS, "rsa", "k1");
    assert_eq!(reason(&guard, &token), Reason::UnknownKey);
    assert!(fetcher.stats().jwks_failures >= 1);
    assert!(guard.counters().remote.jwks_fetch_failures >= 1);

    // The provider comes up on that port: the next attempt picks it up.
    let server = Server::start(TcpListener::bind(addr).unwrap(), Some(&tls));
    server.set("/jwks", Resp::json(set(&[("rsa", "k1")])));
    assert!(eventually(|| guard.validate(&token).is_ok()));

    // And goes away again: the keys in force stay.
    drop(server);
    let before = fetcher.stats().jwks_failures;
    assert!(fetcher.refresh_now(ISS));
    assert!(eventually(|| fetcher.stats().jwks_failures > before));
    assert!(guard.token_validator().verify_jwt(&token).is_ok());
}

#[test]
fn a_malformed_or_oversized_set_is_refused_and_the_old_keys_kept() {
    let tls = tls();
    let server = Server::https(&tls);
    server.set("/jwks", Resp::json(set(&[("rsa", "k1")])));
    let (guard, fetcher) = start(
        json!({"issuer": ISS, "jwks_uri": server.url("/jwks")}),
        json!({"ca_pem": tls.ca_pem, "max_response_bytes": 4096}),
    );
    let token = jwt(ISS, "rsa", "k1");
    assert!(guard.validate(&token).is_ok());
    for bad in [
        "{\"keys\": [".to_owned(),
        json!({"keys": [{"kty": "RSA", "kid": "k1", "n": "!!", "e": "AQAB"}]}).to_string(),
        format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(5000)),
    ] {
        server.set("/jwks", Resp::json(bad));
        let before = fetcher.stats().jwks_failures;
        assert!(fetcher.refresh_now(ISS));
        assert!(eventually(|| fetcher.stats().jwks_failures > before));
        assert!(guard.token_validator().verify_jwt(&token).is_ok());
    }
    assert_eq!(fetcher.stats().rotations, 0);
}

#[test]
fn a_redirect_to_plain_http_is_refused_and_one_within_https_followed() {
    let tls = tls();
    let server = Server::https(&tls);
    let plain = Server::http();
    plain.set("/jwks", Resp::json(set(&[("rsa", "k1")])));
    server.set("/down", Resp::redirect(&plain.url("/jwks")));
    server.set("/moved", Resp::redirect("/jwks"));
    server.set("/jwks", Resp::json(set(&[("rsa", "k1")])));
    let token = jwt(ISS, "rsa", "k1");

    let (guard, fetcher) = start(
        json!({"issuer": ISS, "jwks_uri": server.url("/down")}),
        json!({"ca_pem": tls.ca_pem}),
    );
    assert_eq!(
        fetcher.stats().jwks_failures,
        1,
        "the first fetch is refused"
    );
    assert_eq!(reason(&guard, &token), Reason::UnknownKey);
    // The unknown kid hints a fetch at once, on the refresher's thread: it
    // is refused the same way (reading the count before it ends was a race).
    assert!(eventually(|| fetcher.stats().jwks_failures == 2));
    assert_eq!(plain.hits("/jwks"), 0);
    assert_eq!(fetcher.stats().jwks_fetches, 0);

    let (guard, _f) = start(
        json!({"issuer": ISS, "jwks_uri": server.url("/moved")}),
        json!({"ca_pem": tls.ca_pem}),
    );
    assert!(guard.validate(&token).is_ok());
}

#[test]
fn a_server_outside_the_trusted_roots_is_refused() {
    let (ours, theirs) = (tls(), tls());
    let server = Server::https(&theirs);
    server.set("/jwks", Resp::json(set(&[("rsa", "k1")])));
    let (guard, fetcher) = start(
        json!({"issuer": ISS, "jwks_uri": server.url("/jwks")}),
        json!({"ca_pem": ours.ca_pem}),
    );
    assert_eq!(
        fetcher.stats().jwks_failures,
        1,
        "the first fetch is refused"
    );
    assert_eq!(reason(&guard, &jwt(ISS, "rsa", "k1")), Reason::UnknownKey);
    // The unknown kid hints a fetch at once, on the refresher's thread: it
    // is refused the same way (reading the count before it ends was a race).
    assert!(eventually(|| fetcher.stats().jwks_failures == 2));
    assert_eq!(fetcher.stats().jwks_fetches, 0);
}

#[test]
fn discovery_finds_the_keys_under_rfc8414_path_insertion_then_openid() {
    let tls = tls();
    let server = Server::https(&tls);
    let issuer = server.url("/tenant");
    server.set(
        "/.well-known/oauth-authorization-server/tenant",
        Resp::json(json!({"issuer": issuer, "jwks_uri": server.url("/keys")}).to_string()),
    );
    server.set("/keys", Resp::json(set(&[("rsa", "k1")])));
    let (guard, _f) = start(
        json!({"issuer": issuer, "discovery": true}),
        json!({"ca_pem": tls.ca_pem}),
    );
    assert!(guard.validate(&jwt(&issuer, "rsa", "k1")).is_ok());

    // Only OpenID Connect's document, at the issuer's path.
    let other = server.url("/oidc");
    server.set(
        "/oidc/.well-known/openid-configuration",
        Resp::json(json!({"issuer": other, "jwks_uri": server.url("/keys")}).to_string()),
    );
    let (guard, _f) = start(
        json!({"issuer": other, "discovery": true}),
        json!({"ca_pem": tls.ca_pem}),
    );
    assert!(guard.validate(&jwt(&other, "rsa", "k1")).is_ok());
    assert_eq!(
        server.hits("/.well-known/oauth-authorization-server/oidc"),
        1
    );
}

#[test]
fn metadata_naming_another_issuer_is_not_believed() {
    let tls = tls();
    let server = Server::https(&tls);
    let issuer = server.origin();
    server.set(
        "/.well-known/oauth-authorization-server",
        Resp::json(
            json!({"issuer": "https://evil.example", "jwks_uri": server.url("/keys")}).to_string(),
        ),
    );
    server.set("/keys", Resp::json(set(&[("rsa", "k1")])));
    let (guard, _f) = start(
        json!({"issuer": issuer, "discovery": true}),
        json!({"ca_pem": tls.ca_pem}),
    );
    assert_eq!(
        reason(&guard, &jwt(&issuer, "rsa", "k1")),
        Reason::UnknownKey
    );
    assert_eq!(server.hits("/keys"), 0);
}

#[test]
fn cache_control_max_age_schedules_the_next_fetch_within_the_bounds() {
    let tls = tls();
    let server = Server::https(&tls);
    server.set(
        "/jwks",
        Resp::json(set(&[("rsa", "k1")])).with_header("cache-control", "max-age=0"),
    );
    let (_guard, _f) = start(
        json!({"issuer": ISS, "jwks_uri": server.url("/jwks")}),
        json!({"ca_pem": tls.ca_pem, "min_refresh_seconds": 1, "max_refresh_seconds": 1}),
    );
    // max-age=0 is raised to the 1 s minimum: a second fetch after ~1 s, not a storm.
    assert!(server.wait_hits("/jwks", 2, WAIT));
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.hits("/jwks") <= 3);
}

#[test]
fn the_refresher_stops_when_the_guard_is_dropped() {
    let tls = tls();
    let server = Server::https(&tls);
    server.set("/jwks", Resp::json(set(&[("rsa", "k1")])));
    let (guard, fetcher) = start(
        json!({"issuer": ISS, "jwks_uri": server.url("/jwks")}),
        json!({"ca_pem": tls.ca_pem, "min_refresh_seconds": 1, "max_refresh_seconds": 1}),
    );
    drop(guard);
    std::thread::sleep(Duration::from_millis(100));
    let hits = server.hits("/jwks");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(server.hits("/jwks"), hits);
    drop(fetcher);
}

/// The kinds of the Guard's drained audit events that concern `issuer`.
fn audited(guard: &Guard, issuer: &str) -> Vec<&'static str> {
    guard
        .drain_audit()
        .into_iter()
        .filter(|e| e.issuer() == Some(issuer) && e.kind.is_remote())
        .map(|e| e.kind.as_str())
        .collect()
}

#[test]
fn fetches_rotations_and_failures_are_audit_events_and_metrics_of_the_guard() {
    let tls = tls();
    let server = Server::https(&tls);
    server.set("/jwks", Resp::json(set(&[("rsa", "k1")])));
    let (guard, fetcher) = start(
        json!({"issuer": ISS, "jwks_uri": server.url("/jwks")}),
        json!({"ca_pem": tls.ca_pem}),
    );
    let sunk = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&sunk);
    guard.on_audit(Some(Arc::new(move |e: &mcpguard::guard::AuditEvent| {
        if e.kind.is_remote() {
            s.fetch_add(1, Ordering::Relaxed);
        }
    })));
    assert_eq!(audited(&guard, ISS), ["jwks_fetched"]);

    // A rotation: the new set replaces the old one.
    server.set("/jwks", Resp::json(set(&[("rsa2", "k2")])));
    assert!(fetcher.refresh_now(ISS));
    assert!(eventually(|| fetcher.stats().jwks_fetches == 2));
    assert_eq!(fetcher.stats().rotations, 1);
    assert_eq!(audited(&guard, ISS), ["keys_rotated", "jwks_fetched"]);

    // A failed fetch: the keys in force stay, and the Guard hears of it.
    server.set("/jwks", Resp::status(500));
    assert!(fetcher.refresh_now(ISS));
    assert!(eventually(|| fetcher.stats().jwks_failures == 1));
    let events = guard.drain_audit();
    let failed = events
        .iter()
        .find(|e| e.kind.as_str() == "jwks_failed")
        .expect("no jwks_failed event");
    assert_eq!(failed.to_json()["issuer"], ISS);
    assert_eq!(failed.to_json()["kind"], "jwks_failed");
    assert_eq!(sunk.load(Ordering::Relaxed), 3, "the sink missed an event");

    let metrics = guard.metrics_text();
    for line in [
        "mcpguard_jwks_fetches_total 2",
        "mcpguard_jwks_fetch_failures_total 1",
        "mcpguard_jwks_updates_total 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
}
