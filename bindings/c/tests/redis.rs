//! Two guards built through the C API from JSON configuration alone (a
//! `store.redis` section) share one rate-limit budget and a revocation
//! through a real redis-server, started on a free port by the Redis store's
//! own test harness (path-included, not copied). Over `rediss://`, the
//! private CA and the client certificate reach the store through the same
//! configuration: a server the configured roots do not sign, or one that
//! asks for a certificate the guard does not present, is never used (503).

#[path = "../../../stores/redis/tests/support/mod.rs"]
mod redis_support;

mod common;

use std::ffi::{CStr, c_char};
use std::ptr::null_mut;
use std::time::{Duration, Instant};

use common::*;
use mcpguard_c::*;
use serde_json::json;

const LIMIT: usize = 10;

fn config(url: &str) -> String {
    json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": { "issuers": [{
            "issuer": "https://auth.example.com",
            "jwks": mcpguard_testkit::hmac_jwks()
        }] },
        "rate_limit": { "limit": LIMIT, "window_seconds": 3600 },
        "store": { "redis": { "url": url, "prefix": "c-api:", "timeout_ms": 500 } }
    })
    .to_string()
}

fn guard(config: &str) -> *mut mcpguard_guard {
    let (p, n) = arg(config);
    let mut g = null_mut();
    // SAFETY: the text outlives the call; `g` is writable.
    let r = unsafe { mcpguard_guard_new(p, n, &mut g) };
    assert_eq!(r, mcpguard_result::Ok, "{}", last_error());
    g
}

/// Authorizes one request with `authorization`: whether it was allowed,
/// and its status.
fn authorize(g: *const mcpguard_guard, authorization: &str) -> (bool, u16) {
    let (ap, an) = arg(authorization);
    let r = mcpguard_request {
        authorization: ap,
        authorization_len: an,
        server: std::ptr::null(),
        server_len: 0,
        tool: std::ptr::null(),
        tool_len: 0,
        filter_kind: mcpguard_filter_kind::None as u32,
        filter: std::ptr::null(),
        filter_len: 0,
        key: std::ptr::null(),
        key_len: 0,
        cost: 1,
    };
    let mut d = null_mut();
    let (mut allowed, mut status) = (false, 0u16);
    // SAFETY: the request's strings outlive the calls; `d` is freed once.
    unsafe {
        assert_eq!(mcpguard_guard_authorize(g, &r, &mut d), mcpguard_result::Ok);
        assert_eq!(
            mcpguard_decision_allowed(d, &mut allowed),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_decision_status(d, &mut status),
            mcpguard_result::Ok
        );
        mcpguard_decision_free(d);
    }
    (allowed, status)
}

/// Validates `token`: `None` when valid, else the refusal's reason.
fn refusal(g: *const mcpguard_guard, token: &str) -> Option<String> {
    let (tp, tn) = arg(token);
    let mut p = null_mut();
    let mut failure = mcpguard_token_failure {
        status: 0,
        error: no_str(),
        reason: no_str(),
    };
    // SAFETY: the token outlives the call; outs are writable; `p` freed once.
    let r = unsafe { mcpguard_guard_validate(g, tp, tn, &mut p, &mut failure) };
    if r == mcpguard_result::Ok {
        // SAFETY: a principal the call handed over.
        unsafe { mcpguard_principal_free(p) };
        return None;
    }
    assert_eq!(r, mcpguard_result::TokenRejected, "{}", last_error());
    Some(text(failure.reason))
}

/// The guard's counters in the Prometheus text format, through the C call
/// a scrape endpoint makes.
fn metrics_text(g: *const mcpguard_guard) -> String {
    let mut out: *mut c_char = null_mut();
    // SAFETY: `out` is writable; the string is read, then freed once.
    unsafe {
        assert_eq!(
            mcpguard_guard_metrics_text(g, &mut out),
            mcpguard_result::Ok
        );
        let text = CStr::from_ptr(out).to_str().expect("UTF-8").to_string();
        mcpguard_string_free(out);
        text
    }
}

/// A token of `sub` for client `client`, valid for an hour from now.
fn token_for(sub: &str, client: &str) -> String {
    redis_support::token(json!({ "sub": sub, "client_id": client }))
}

#[test]
fn two_c_guards_share_one_budget_and_a_revocation_through_redis() {
    let server = redis_support::Server::start();
    let text = config(&server.url());
    let (a, b) = (guard(&text), guard(&text));
    let token = token_for("alice", "c-client");
    let bearer = format!("Bearer {token}");

    // One client, alternating between the guards: one budget of LIMIT.
    let results: Vec<(bool, u16)> = (0..2 * LIMIT)
        .map(|i| authorize(if i % 2 == 0 { a } else { b }, &bearer))
        .collect();
    let allowed = results.iter().filter(|r| r.0).count();
    assert_eq!(allowed, LIMIT, "{results:?}");
    assert!(
        results[LIMIT..].iter().all(|r| *r == (false, 429)),
        "{results:?}"
    );

    // Revoked through a, while b holds the token in its verified-token
    // cache: refused by b within the stated second.
    assert_eq!(refusal(b, &token), None);
    let (tp, tn) = arg(&token);
    // SAFETY: the token outlives the call.
    let r = unsafe { mcpguard_guard_revoke(a, tp, tn) };
    assert_eq!(r, mcpguard_result::Ok, "{}", last_error());
    let revoked = Instant::now();
    loop {
        match refusal(b, &token) {
            Some(reason) if reason == "revoked" => break,
            other => assert!(
                revoked.elapsed() < Duration::from_millis(1500),
                "b still says {other:?} after the bound"
            ),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        revoked.elapsed() <= Duration::from_millis(1100),
        "took {:?}",
        revoked.elapsed()
    );

    // SAFETY: each guard is freed once, after its last use.
    unsafe {
        mcpguard_guard_free(a);
        mcpguard_guard_free(b);
    }
}

#[test]
fn one_c_call_scrapes_every_counter_the_shared_store_s_included() {
    let server = redis_support::Server::start();
    let g = guard(&config(&server.url()));
    let token = token_for("bob", "c-metrics");
    for _ in 0..3 {
        assert_eq!(authorize(g, &format!("Bearer {token}")), (true, 200));
    }
    let metrics = metrics_text(g);
    assert!(
        metrics
            .lines()
            .any(|l| l == "mcpguard_requests_allowed_total 3"),
        "{metrics}"
    );
    let round_trips = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mcpguard_store_round_trips_total "))
        .and_then(|n| n.parse::<f64>().ok());
    assert!(round_trips.is_some_and(|n| n >= 3.0), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l == "mcpguard_store_breaker_open 0"),
        "{metrics}"
    );
    // SAFETY: freed once, after its last use.
    unsafe { mcpguard_guard_free(g) };
}

#[test]
fn a_c_guard_on_redis_says_its_decisions_wait_on_the_network() {
    let server = redis_support::Server::start();
    let on_redis = guard(&config(&server.url()));
    let in_process = guard(
        &json!({
            "resource": "https://mcp.example.com/mcp",
            "auth": { "issuers": [] }
        })
        .to_string(),
    );
    let waits = |g: *const mcpguard_guard| {
        let mut out = false;
        // SAFETY: `g` is a live guard; `out` is writable.
        let r = unsafe { mcpguard_guard_waits_on_network(g, &mut out) };
        assert_eq!(r, mcpguard_result::Ok, "{}", last_error());
        out
    };
    assert!(waits(on_redis));
    assert!(!waits(in_process));
    let mut out = true;
    // SAFETY: a NULL guard is refused, never read.
    let r = unsafe { mcpguard_guard_waits_on_network(std::ptr::null(), &mut out) };
    assert_ne!(r, mcpguard_result::Ok);
    // SAFETY: each freed once, after its last use.
    unsafe {
        mcpguard_guard_free(on_redis);
        mcpguard_guard_free(in_process);
    }
}

/// The configuration of [`config`] on `url` under `fail_closed`, trusting
/// `ca_pem` (none: the public roots) and presenting `client` when given.
fn tls_config(url: &str, ca_pem: Option<&str>, client: Option<(&str, &str)>) -> String {
    let mut config: serde_json::Value = serde_json::from_str(&config(url)).unwrap();
    let redis = &mut config["store"]["redis"];
    redis["on_error"] = json!("fail_closed");
    if let Some(pem) = ca_pem {
        redis["ca_pem"] = json!(pem);
    }
    if let Some((cert, key)) = client {
        redis["client_cert_pem"] = json!(cert);
        redis["client_key_pem"] = json!(key);
    }
    config.to_string()
}

/// The statuses of `2 * LIMIT` requests of one client alternating between
/// two guards built from `config`.
fn shared_statuses(config: &str, client: &str) -> Vec<u16> {
    let (a, b) = (guard(config), guard(config));
    let bearer = format!("Bearer {}", token_for("alice", client));
    let statuses = (0..2 * LIMIT)
        .map(|i| authorize(if i % 2 == 0 { a } else { b }, &bearer).1)
        .collect();
    // SAFETY: each guard is freed once, after its last use.
    unsafe {
        mcpguard_guard_free(a);
        mcpguard_guard_free(b);
    }
    statuses
}

/// The status of one request through a guard built from `config`.
fn one_status(config: &str, client: &str) -> u16 {
    let g = guard(config);
    let status = authorize(g, &format!("Bearer {}", token_for("alice", client))).1;
    // SAFETY: freed once, after its last use.
    unsafe { mcpguard_guard_free(g) };
    status
}

fn one_budget() -> Vec<u16> {
    [vec![200; LIMIT], vec![429; LIMIT]].concat()
}

#[test]
fn c_guards_over_rediss_trust_the_configured_ca_only() {
    let ca = mcpguard_testkit::tls::test_ca("mcpguard C test CA");
    let server = redis_support::TlsServer::start(&ca, false);
    let url = server.url();
    let trusted = tls_config(&url, Some(&ca.ca_pem), None);
    assert_eq!(shared_statuses(&trusted, "c-tls"), one_budget());
    let stranger = mcpguard_testkit::tls::test_ca("a CA the server does not know");
    for roots in [None, Some(stranger.ca_pem.as_str())] {
        let untrusted = tls_config(&url, roots, None);
        assert_eq!(
            one_status(&untrusted, "c-untrusted"),
            503,
            "roots {roots:?}"
        );
    }
}

#[test]
fn c_guards_present_the_configured_client_certificate() {
    let ca = mcpguard_testkit::tls::test_ca("mcpguard C mTLS CA");
    let server = redis_support::TlsServer::start(&ca, true);
    let url = server.url();
    let client = (ca.client_cert_pem.as_str(), ca.client_key_pem.as_str());
    let with_certificate = tls_config(&url, Some(&ca.ca_pem), Some(client));
    assert_eq!(shared_statuses(&with_certificate, "c-mtls"), one_budget());
    let stranger = mcpguard_testkit::tls::test_ca("a CA the server does not know");
    let foreign = (
        stranger.client_cert_pem.as_str(),
        stranger.client_key_pem.as_str(),
    );
    for presented in [None, Some(foreign)] {
        let refused = tls_config(&url, Some(&ca.ca_pem), presented);
        assert_eq!(
            one_status(&refused, "c-no-certificate"),
            503,
            "client certificate {presented:?}"
        );
    }
}

#[test]
fn two_c_guards_on_a_redis_cluster_share_one_budget() {
    let cluster = redis_support::Cluster::start();
    let urls = cluster.urls();
    let mut config: serde_json::Value = serde_json::from_str(&config(&urls[0])).unwrap();
    // The first node and the others as a list: a cluster.
    config["store"]["redis"]["urls"] = json!(urls[1..]);
    let statuses = shared_statuses(&config.to_string(), "c-cluster");
    assert_eq!(statuses, one_budget());
}
