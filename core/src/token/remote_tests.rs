//! The remote-source configuration and the hooks a fetcher attaches:
//! refresh hints reach the [`KeyRefresh`] once per cooldown, opaque tokens
//! go to the [`Introspector`] once per kept answer, failures never admit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcpguard_testkit as kit;
use parking_lot::Mutex;
use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::reason::Reason;

const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";
const NOW: i64 = 1_767_225_600;

fn build(auth: serde_json::Value) -> Result<(TokenValidator, ManualClock), crate::ConfigError> {
    let clock = ManualClock::new(NOW as u64);
    TokenValidator::from_json(&auth.to_string(), RES, Arc::new(clock.clone())).map(|v| (v, clock))
}

fn path_of(auth: serde_json::Value) -> String {
    build(auth).unwrap_err().path
}

#[test]
fn remote_key_sources_are_exclusive_and_their_urls_checked() {
    let set = kit::jwks(&[("rsa", Some("r"), None)]);
    assert_eq!(
        path_of(json!({"issuers": [{"issuer": ISS, "jwks": set, "jwks_uri": "https://a/j"}]})),
        "issuers[0].jwks_uri"
    );
    assert_eq!(
        path_of(
            json!({"issuers": [{"issuer": ISS, "jwks_uri": "https://a/j", "discovery": true}]})
        ),
        "issuers[0].jwks_uri"
    );
    assert_eq!(
        path_of(json!({"issuers": [{"issuer": ISS, "jwks_uri": "http://as.example/j"}]})),
        "issuers[0].jwks_uri"
    );
    assert_eq!(
        path_of(json!({"issuers": [{"issuer": "http://as.example", "discovery": true}]})),
        "issuers[0].discovery"
    );
    assert_eq!(
        path_of(json!({"issuers": [{"issuer": ISS, "jwks_uri": "https://a/j", "jwks_url": "x"}]})),
        "issuers[0].jwks_url"
    );
    assert!(
        build(json!({"issuers": [{"issuer": "http://127.0.0.1:9", "discovery": true}]})).is_ok()
    );
    assert!(build(json!({"issuers": [{"issuer": ISS, "jwks_uri": "https://a/j"}]})).is_ok());
}

#[test]
fn introspection_settings_are_checked_with_their_paths() {
    let ix = json!({"endpoint": "https://a/introspect", "client_id": "rs", "client_secret": "s"});
    assert_eq!(
        path_of(
            json!({"issuers": [{"issuer": ISS, "introspection": {"client_id": "rs", "client_secret": "s"}}]})
        ),
        "issuers[0].introspection.endpoint"
    );
    assert_eq!(
        path_of(json!({"issuers": [
            {"issuer": ISS, "introspection": ix},
            {"issuer": "https://other.example", "introspection": ix},
        ]})),
        "issuers[1].introspection"
    );
    assert_eq!(
        path_of(json!({"issuers": [{"issuer": ISS, "introspection": {
            "endpoint": "https://a/i", "client_id": "rs", "client_secret": "s", "on_error": "allow"}}]})),
        "issuers[0].introspection.on_error"
    );
    assert_eq!(
        path_of(json!({"fetch": {"min_refresh_seconds": 100, "max_refresh_seconds": 10}})),
        "fetch.max_refresh_seconds"
    );
    assert_eq!(
        path_of(json!({"fetch": {"ca_pem": "not pem"}})),
        "fetch.ca_pem"
    );
    assert_eq!(path_of(json!({"fetch": {"timeout": 3}})), "fetch.timeout");
}

#[test]
fn the_introspection_secret_is_never_printed() {
    let config: crate::token::IntrospectionConfig = serde_json::from_value(json!({
        "endpoint": "https://a/introspect", "client_id": "rs", "client_secret": "hunter2-secret"}))
    .unwrap();
    let printed = format!("{config:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(
        printed.contains("<redacted>") && printed.contains("\"rs\""),
        "{printed}"
    );
}

struct CountingRefresh(Mutex<Vec<String>>);

impl KeyRefresh for CountingRefresh {
    fn refresh(&self, issuer: &str) {
        self.0.lock().push(issuer.to_owned());
    }
}

#[test]
fn a_flood_of_unknown_kids_reaches_the_refresh_hook_once_per_cooldown() {
    let (v, clock) =
        build(json!({"issuers": [{"issuer": ISS, "jwks_uri": "https://a/j"}]})).unwrap();
    let hook = Arc::new(CountingRefresh(Mutex::new(Vec::new())));
    v.set_key_refresh(Some(hook.clone()));
    let claims = json!({"iss": ISS, "aud": RES, "exp": NOW + 600}).to_string();
    for i in 0..50 {
        let hdr = json!({"alg": "RS256", "kid": format!("k{i}")}).to_string();
        let e = v
            .validate(&kit::sign("RS256", "rsa", &hdr, &claims))
            .unwrap_err();
        assert_eq!(e.reason, Reason::UnknownKey);
    }
    assert_eq!(*hook.0.lock(), [ISS]);
    clock.advance(std::time::Duration::from_secs(61));
    let hdr = json!({"alg": "RS256", "kid": "again"}).to_string();
    let _ = v.validate(&kit::sign("RS256", "rsa", &hdr, &claims));
    assert_eq!(hook.0.lock().len(), 2);
}

struct Endpoint {
    calls: AtomicUsize,
    answer: Mutex<Result<String, IntrospectionUnavailable>>,
}

impl Introspector for Endpoint {
    fn introspect(&self, _token: &str) -> Result<String, IntrospectionUnavailable> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.answer.lock().clone()
    }
}

fn introspecting(
    on_error: &str,
    cache_seconds: u64,
) -> (TokenValidator, ManualClock, Arc<Endpoint>) {
    let (v, clock) = build(json!({"issuers": [{"issuer": ISS, "introspection": {
        "endpoint": "https://auth.example.com/introspect", "client_id": "rs",
        "client_secret": "s", "cache_seconds": cache_seconds, "on_error": on_error}}]}))
    .unwrap();
    let endpoint = Arc::new(Endpoint {
        calls: AtomicUsize::new(0),
        answer: Mutex::new(Ok(json!({"active": true, "sub": "alice", "iss": ISS,
            "aud": RES, "scope": "read", "exp": NOW + 120})
        .to_string())),
    });
    v.set_introspector(Some(endpoint.clone()));
    (v, clock, endpoint)
}

#[test]
fn an_introspected_answer_is_kept_until_the_cache_lifetime_then_asked_again() {
    let (v, clock, endpoint) = introspecting("store_unavailable", 60);
    for _ in 0..5 {
        assert_eq!(
            v.validate("opaque-a").unwrap().subject.as_deref(),
            Some("alice")
        );
    }
    assert_eq!(endpoint.calls.load(Ordering::SeqCst), 1);
    v.validate("opaque-b").unwrap();
    assert_eq!(endpoint.calls.load(Ordering::SeqCst), 2);
    clock.advance(std::time::Duration::from_secs(60));
    v.validate("opaque-a").unwrap();
    assert_eq!(endpoint.calls.load(Ordering::SeqCst), 3);
}

#[test]
fn an_answer_is_never_kept_past_the_tokens_exp() {
    let (v, clock, endpoint) = introspecting("store_unavailable", 3_600);
    v.validate("opaque-a").unwrap();
    clock.advance(std::time::Duration::from_secs(121));
    *endpoint.answer.lock() = Ok(json!({"active": false}).to_string());
    assert_eq!(v.validate("opaque-a").unwrap_err().reason, Reason::Inactive);
    assert_eq!(endpoint.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_failing_endpoint_gives_the_configured_refusal_never_an_admission() {
    for (on_error, reason) in [
        ("store_unavailable", Reason::StoreUnavailable),
        ("inactive", Reason::Inactive),
    ] {
        let (v, _, endpoint) = introspecting(on_error, 60);
        *endpoint.answer.lock() = Err(IntrospectionUnavailable("timeout".into()));
        let e = v.validate("opaque-a").unwrap_err();
        assert_eq!(e.reason, reason);
        v.set_introspector(None);
        assert_eq!(v.validate("opaque-a").unwrap_err().reason, reason);
    }
    assert_eq!(Reason::StoreUnavailable.status(), 503);
    assert_eq!(
        Reason::StoreUnavailable.oauth_error().as_str(),
        "temporarily_unavailable"
    );
}

#[test]
fn a_revoked_token_is_refused_though_its_kept_answer_and_the_endpoint_say_active() {
    let (v, _, endpoint) = introspecting("store_unavailable", 60);
    v.validate("opaque-a").unwrap();
    v.revoke("opaque-a").unwrap();
    assert_eq!(v.validate("opaque-a").unwrap_err().reason, Reason::Revoked);
    assert_eq!(endpoint.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        v.validate("opaque-b").unwrap().subject.as_deref(),
        Some("alice")
    );
}

#[test]
fn introspection_answers_are_checked_like_any_response() {
    let (v, _, endpoint) = introspecting("store_unavailable", 60);
    *endpoint.answer.lock() =
        Ok(json!({"active": true, "aud": "https://elsewhere", "exp": NOW + 60}).to_string());
    assert_eq!(
        v.validate("opaque-a").unwrap_err().reason,
        Reason::WrongAudience
    );
    *endpoint.answer.lock() = Ok("not json".into());
    assert_eq!(
        v.validate("opaque-c").unwrap_err().reason,
        Reason::Malformed
    );
    assert_eq!(v.introspection_answers(), 0);
}

#[test]
fn concurrent_requests_with_one_new_token_share_one_call() {
    let (v, _, _) = introspecting("store_unavailable", 60);
    let slow = Arc::new(Hanging(AtomicUsize::new(0), 200));
    v.set_introspector(Some(slow.clone()));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let v = v.clone();
            std::thread::spawn(move || v.validate("opaque-a").map(|p| p.subject.clone()))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap().as_deref(), Some("alice"));
    }
    assert_eq!(slow.0.load(Ordering::SeqCst), 1);
}

/// Answers as active after sleeping its second field in milliseconds,
/// counting calls.
struct Hanging(AtomicUsize, u64);

impl Introspector for Hanging {
    fn introspect(&self, _token: &str) -> Result<String, IntrospectionUnavailable> {
        self.0.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(self.1));
        Ok(json!({"active": true, "sub": "alice", "aud": RES, "exp": NOW + 120}).to_string())
    }
}

#[test]
fn requests_waiting_on_another_call_give_up_after_the_fetch_timeout() {
    let (v, _) = build(json!({"issuers": [{"issuer": ISS, "introspection": {
        "endpoint": "https://auth.example.com/introspect", "client_id": "rs",
        "client_secret": "s"}}], "fetch": {"timeout_ms": 100}}))
    .unwrap();
    // An introspector that overruns its timeout: 3 s for one answer.
    let hanging = Arc::new(Hanging(AtomicUsize::new(0), 3_000));
    v.set_introspector(Some(hanging.clone()));
    let leader = {
        let v = v.clone();
        std::thread::spawn(move || v.validate("opaque-slow").map(|p| p.subject.clone()))
    };
    while hanging.0.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    let started = std::time::Instant::now();
    let followers: Vec<_> = (0..4)
        .map(|_| {
            let v = v.clone();
            std::thread::spawn(move || v.validate("opaque-slow").map(|p| p.subject.clone()))
        })
        .collect();
    for f in followers {
        let refused = f.join().unwrap().unwrap_err();
        assert_eq!(refused.reason, Reason::StoreUnavailable);
    }
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2_500),
        "the followers waited for the whole call: {:?}",
        started.elapsed()
    );
    assert_eq!(leader.join().unwrap().unwrap().as_deref(), Some("alice"));
    assert_eq!(
        hanging.0.load(Ordering::SeqCst),
        1,
        "a follower made a call"
    );
}

#[test]
fn a_validator_waits_on_the_network_while_an_introspector_is_attached() {
    let (v, _, _) = introspecting("store_unavailable", 60);
    assert!(v.waits_on_network());
    v.set_introspector(None);
    assert!(!v.waits_on_network());
}
