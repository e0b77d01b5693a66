//! Opaque tokens answered by a real local RFC 7662 endpoint over HTTPS:
//! one call per token per kept answer, credentials sent as
//! client_secret_basic, revocations honoured, failures never admitting.

mod support;

use std::time::Duration;

use base64::Engine as _;
use mcpguard::Reason;
use mcpguard::guard::{Guard, Request};
use mcpguard_fetch::{Fetcher, guard_from_json};
use serde_json::{Value, json};
use support::{Req, Resp, Server, tls};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://issuer.example";
// A secret with characters RFC 6749 §2.3.1 makes us form-encode.
const SECRET: &str = "s3cr:t&=";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn form_token(req: &Req) -> Option<String> {
    form_pairs(&req.body)
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace('+', " ")))
        .collect()
}

/// The endpoint: `good-*` tokens are active (for RES, 5 minutes), others not;
/// a request without the right credentials is 401.
fn endpoint(server: &Server) {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("rs:s3cr%3At%26%3D")
    );
    server.handle("/introspect", move |req| {
        if req.method != "POST" || req.header("authorization") != Some(expected.as_str()) {
            return Resp::status(401);
        }
        match form_token(req) {
            Some(t) if t.starts_with("good-") => Resp::json(
                json!({"active": true, "sub": "alice", "client_id": "app", "iss": ISS,
                       "aud": RES, "scope": "read write", "exp": now() + 300})
                .to_string(),
            ),
            _ => Resp::json(json!({"active": false}).to_string()),
        }
    });
}

fn start(introspection: Value, ca_pem: &str) -> (Guard, Fetcher) {
    let mut ix = json!({"client_id": "rs", "client_secret": SECRET});
    for (k, v) in introspection.as_object().unwrap() {
        ix[k] = v.clone();
    }
    let text = json!({"resource": RES, "auth": {
        "issuers": [{"issuer": ISS, "introspection": ix}],
        "fetch": {"ca_pem": ca_pem, "timeout_ms": 1000}}})
    .to_string();
    guard_from_json(&text).unwrap()
}

#[test]
fn an_opaque_token_costs_one_call_per_kept_answer() {
    let tls = tls();
    let server = Server::https(&tls);
    endpoint(&server);
    let (guard, fetcher) = start(json!({"endpoint": server.url("/introspect")}), &tls.ca_pem);
    for _ in 0..20 {
        let p = guard.validate("good-1").unwrap();
        assert_eq!(p.subject.as_deref(), Some("alice"));
        assert_eq!(p.scopes, ["read", "write"]);
    }
    assert_eq!(server.hits("/introspect"), 1);
    guard.validate("good-2").unwrap();
    assert_eq!(server.hits("/introspect"), 2);
    assert_eq!(
        guard.validate("unknown").unwrap_err().reason,
        Reason::Inactive
    );
    assert_eq!(fetcher.stats().introspection_calls, 3);
    let counted = guard.counters();
    assert_eq!(counted.remote.introspection_calls, 3);
    assert_eq!(counted.to_json()["introspection_calls"], 3);
}

#[test]
fn a_revoked_token_is_refused_without_asking_again() {
    let tls = tls();
    let server = Server::https(&tls);
    endpoint(&server);
    let (guard, _f) = start(json!({"endpoint": server.url("/introspect")}), &tls.ca_pem);
    guard.validate("good-1").unwrap();
    guard.revoke("good-1").unwrap();
    assert_eq!(
        guard.validate("good-1").unwrap_err().reason,
        Reason::Revoked
    );
    assert_eq!(server.hits("/introspect"), 1);
}

#[test]
fn a_failing_endpoint_gives_the_configured_refusal() {
    let tls = tls();
    let server = Server::https(&tls);
    server.set("/down", Resp::status(500));
    server.set("/moved", Resp::redirect("/introspect"));
    endpoint(&server);
    for (ix, reason) in [
        (
            json!({"endpoint": server.url("/down")}),
            Reason::StoreUnavailable,
        ),
        (
            json!({"endpoint": server.url("/down"), "on_error": "inactive"}),
            Reason::Inactive,
        ),
        // A redirect is never followed with a token in the body.
        (
            json!({"endpoint": server.url("/moved")}),
            Reason::StoreUnavailable,
        ),
        // Wrong credentials: the endpoint's 401 is a failure, not an answer.
        (
            json!({"endpoint": server.url("/introspect"), "client_secret": "wrong"}),
            Reason::StoreUnavailable,
        ),
    ] {
        let (guard, fetcher) = start(ix, &tls.ca_pem);
        let e = guard.validate("good-1").unwrap_err();
        assert_eq!(e.reason, reason);
        assert_eq!(fetcher.stats().introspection_failures, 1);
        assert_eq!(guard.counters().remote.introspection_failures, 1);
    }
    assert_eq!(server.hits("/introspect"), 1);

    // Through the request path: a 503 the client may retry, without a
    // bearer challenge (the token was not judged).
    let (guard, _f) = start(json!({"endpoint": server.url("/down")}), &tls.ca_pem);
    let d = guard.authorize(&Request::new().authorization("Bearer good-1"));
    assert!(!d.allowed);
    assert_eq!(d.status, 503);
    assert_eq!(d.reason, Some(Reason::StoreUnavailable));
    assert_eq!(d.error.map(|e| e.as_str()), Some("temporarily_unavailable"));
    assert_eq!(d.header("www-authenticate"), None);
}

#[test]
fn an_unreachable_endpoint_times_out_into_the_configured_refusal() {
    let tls = tls();
    // A listener that never answers: the call must give up within timeout_ms.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://localhost:{}/introspect",
        silent.local_addr().unwrap().port()
    );
    let (guard, _f) = start(json!({"endpoint": url}), &tls.ca_pem);
    let t = std::time::Instant::now();
    assert_eq!(
        guard.validate("good-1").unwrap_err().reason,
        Reason::StoreUnavailable
    );
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn discovery_gives_the_introspection_endpoint() {
    let tls = tls();
    let server = Server::https(&tls);
    endpoint(&server);
    let issuer = server.origin();
    server.set(
        "/.well-known/oauth-authorization-server",
        Resp::json(
            json!({"issuer": issuer, "jwks_uri": server.url("/keys"),
            "introspection_endpoint": server.url("/introspect")})
            .to_string(),
        ),
    );
    server.set("/keys", Resp::json(json!({"keys": []}).to_string()));
    let text = json!({"resource": RES, "auth": {"issuers": [{"issuer": issuer, "discovery": true,
        "introspection": {"client_id": "rs", "client_secret": SECRET}}],
        "fetch": {"ca_pem": tls.ca_pem}}})
    .to_string();
    let (guard, fetcher) = guard_from_json(&text).unwrap();
    assert!(fetcher.wait_ready(Duration::from_secs(10)));
    // The answer names ISS as its issuer, which this Guard does not trust.
    assert_eq!(
        guard.validate("good-1").unwrap_err().reason,
        Reason::WrongIssuer
    );
    assert_eq!(server.hits("/introspect"), 1);
}

#[test]
fn introspection_calls_and_failures_are_audit_events_and_metrics_of_the_guard() {
    let tls = tls();
    let server = Server::https(&tls);
    endpoint(&server);
    let (guard, _f) = start(json!({"endpoint": server.url("/introspect")}), &tls.ca_pem);
    guard.validate("good-1").unwrap();
    guard.validate("good-1").unwrap();
    server.set("/introspect", Resp::status(500));
    guard.validate("good-2").unwrap_err();
    let kinds: Vec<_> = guard
        .drain_audit()
        .into_iter()
        .filter(|e| e.kind.is_remote())
        .map(|e| (e.kind.as_str(), e.to_json()["issuer"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("introspection_called", json!(ISS)),
            ("introspection_failed", json!(ISS))
        ]
    );
    let metrics = guard.metrics_text();
    for line in [
        "mcpguard_introspection_calls_total 2",
        "mcpguard_introspection_failures_total 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
}

#[test]
fn eight_requests_with_one_new_token_make_one_call_to_a_slow_endpoint() {
    let tls = tls();
    let server = Server::https(&tls);
    server.handle("/introspect", |_req| {
        std::thread::sleep(Duration::from_millis(400));
        Resp::json(
            json!({"active": true, "sub": "alice", "iss": ISS, "aud": RES, "exp": now() + 300})
                .to_string(),
        )
    });
    let (guard, fetcher) = start(json!({"endpoint": server.url("/introspect")}), &tls.ca_pem);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (guard, barrier) = (guard.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                guard.validate("slow-1").map(|p| p.subject.clone())
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap().as_deref(), Some("alice"));
    }
    assert_eq!(server.hits("/introspect"), 1);
    assert_eq!(fetcher.stats().introspection_calls, 1);
}
