//! The C API with a remote issuer: a Guard built from JSON configuration
//! alone, whose issuer's `jwks_uri` and introspection endpoint are served by
//! a real local HTTPS server under a test CA the configuration trusts
//! (`auth.fetch.ca_pem`). Every call goes through the exported functions.

mod common;
// The fetcher's own test server (rustls on a std listener, a CA and a
// certificate generated at test time), shared rather than copied.
#[path = "../../../fetch/tests/support/mod.rs"]
mod support;

use std::ptr::null_mut;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use mcpguard_c::*;
use mcpguard_testkit as kit;
use serde_json::{Value, json};
use support::{Req, Resp, Server, tls};

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://issuer.example";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn jwt(key: &str, kid: &str) -> String {
    let header = json!({"alg": "RS256", "kid": kid}).to_string();
    let claims = json!({"iss": ISS, "sub": "alice", "aud": RES, "exp": now() + 600}).to_string();
    kit::sign("RS256", key, &header, &claims)
}

fn set(keys: &[(&str, &str)]) -> String {
    let list: Vec<_> = keys
        .iter()
        .map(|(k, kid)| (*k, Some(*kid), Some("RS256")))
        .collect();
    kit::jwks(&list).to_string()
}

/// A guard made by `mcpguard_guard_new`, freed on drop.
struct CGuard(*mut mcpguard_guard);

impl CGuard {
    fn new(config: &Value) -> CGuard {
        let text = config.to_string();
        let (p, n) = arg(&text);
        let mut g = null_mut();
        // SAFETY: `text` outlives the call; `g` is writable.
        ok(
            unsafe { mcpguard_guard_new(p, n, &mut g) },
            "mcpguard_guard_new",
        )
        .unwrap();
        CGuard(g)
    }

    /// The subject of a valid token, or the reason code of its refusal.
    fn validate(&self, token: &str) -> Result<String, String> {
        let (p, n) = arg(token);
        let mut principal = null_mut();
        let mut failure = mcpguard_token_failure {
            status: 0,
            error: no_str(),
            reason: no_str(),
        };
        // SAFETY: live guard; `token` outlives the call; outputs writable.
        let r = unsafe { mcpguard_guard_validate(self.0, p, n, &mut principal, &mut failure) };
        if r != mcpguard_result::Ok {
            assert_eq!(r, mcpguard_result::TokenRejected, "{}", last_error());
            return Err(text(failure.reason));
        }
        let mut subject = no_str();
        // SAFETY: `principal` is live until freed just below.
        let subject = unsafe {
            ok(
                mcpguard_principal_subject(principal, &mut subject),
                "subject",
            )
            .unwrap();
            let s = text(subject);
            mcpguard_principal_free(principal);
            s
        };
        Ok(subject)
    }

    fn revoke(&self, token: &str) {
        let (p, n) = arg(token);
        // SAFETY: live guard; `token` outlives the call.
        ok(unsafe { mcpguard_guard_revoke(self.0, p, n) }, "revoke").unwrap();
    }

    /// `(kind, issuer)` of the drained audit events a fetcher recorded.
    fn remote_events(&self) -> Vec<(String, String)> {
        let mut out = null_mut();
        // SAFETY: live guard; `out` writable.
        ok(
            unsafe { mcpguard_guard_drain_audit(self.0, &mut out) },
            "drain",
        )
        .unwrap();
        let events: Vec<Value> = serde_json::from_str(&take(out)).unwrap();
        events
            .iter()
            .filter(|e| {
                matches!(
                    e["kind"].as_str(),
                    Some("jwks_fetched" | "jwks_failed" | "keys_rotated")
                        | Some("introspection_called" | "introspection_failed")
                )
            })
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["issuer"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn counters(&self) -> Value {
        let mut out = null_mut();
        // SAFETY: live guard; `out` writable.
        ok(
            unsafe { mcpguard_guard_counters_json(self.0, &mut out) },
            "counters",
        )
        .unwrap();
        serde_json::from_str(&take(out)).unwrap()
    }
}

impl Drop for CGuard {
    fn drop(&mut self) {
        // SAFETY: made by mcpguard_guard_new, freed once.
        unsafe { mcpguard_guard_free(self.0) };
    }
}

/// Polls `f` until it gives `Some` (at most 10 s).
fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "the condition never held");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn keys_from_a_jwks_uri_verify_tokens_and_a_rotation_is_picked_up_on_an_unknown_kid() {
    let tls = tls();
    let server = Server::https(&tls);
    server.set("/jwks", Resp::json(set(&[("rsa", "k1")])));
    let guard = CGuard::new(&json!({
        "resource": RES,
        "auth": {"issuers": [{"issuer": ISS, "jwks_uri": server.url("/jwks")}],
                 "fetch": {"ca_pem": tls.ca_pem}}}));
    // The first fetch runs at start, on the fetcher's thread. (Validating
    // before it lands would be unknown_key, and would spend the issuer's
    // refresh-hint cooldown that the rotation below relies on.)
    eventually(|| (guard.counters()["jwks_fetches"] == 1).then_some(()));
    assert_eq!(guard.validate(&jwt("rsa", "k1")), Ok("alice".to_owned()));
    assert_eq!(server.hits("/jwks"), 1);

    // The provider rotates: a token under the new kid is refused once,
    // which hints a refresh, and then verifies.
    server.set("/jwks", Resp::json(set(&[("rsa2", "k2")])));
    let new = jwt("rsa2", "k2");
    assert_eq!(guard.validate(&new), Err("unknown_key".to_owned()));
    eventually(|| guard.validate(&new).ok());
    assert_eq!(server.hits("/jwks"), 2);
    assert_eq!(guard.validate(&jwt("rsa", "k1")), Err("unknown_key".into()));

    let events = guard.remote_events();
    assert!(
        events.contains(&("keys_rotated".into(), ISS.into())),
        "{events:?}"
    );
    let counters = guard.counters();
    assert_eq!(counters["jwks_fetches"], 2);
    assert_eq!(counters["jwks_updates"], 2);
}

#[test]
fn opaque_tokens_are_introspected_once_then_kept_and_revoked_or_inactive_ones_refused() {
    let tls = tls();
    let server = Server::https(&tls);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    server.handle("/introspect", move |req: &Req| {
        c.fetch_add(1, Ordering::SeqCst);
        let body = String::from_utf8_lossy(&req.body);
        let active = body.contains("token=good-") && req.header("authorization").is_some();
        Resp::json(if active {
            json!({"active": true, "sub": "bob", "iss": ISS, "aud": RES,
                   "scope": "read", "exp": now() + 300})
            .to_string()
        } else {
            json!({"active": false}).to_string()
        })
    });
    let guard = CGuard::new(&json!({
        "resource": RES,
        "auth": {"issuers": [{"issuer": ISS, "introspection": {
                    "endpoint": server.url("/introspect"),
                    "client_id": "rs", "client_secret": "secret"}}],
                 "fetch": {"ca_pem": tls.ca_pem, "timeout_ms": 2000}}}));

    assert_eq!(guard.validate("good-1"), Ok("bob".to_owned()));
    assert_eq!(guard.validate("good-1"), Ok("bob".to_owned()));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the answer was not kept");

    guard.revoke("good-1");
    assert_eq!(guard.validate("good-1"), Err("revoked".to_owned()));
    assert_eq!(guard.validate("bad-1"), Err("inactive".to_owned()));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    assert_eq!(
        guard.remote_events(),
        [
            ("introspection_called".to_owned(), ISS.to_owned()),
            ("introspection_called".to_owned(), ISS.to_owned())
        ]
    );
    assert_eq!(guard.counters()["introspection_calls"], 2);
}
