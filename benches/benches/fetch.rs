//! What keys and answers from the authorization server cost per request,
//! each against its in-process counterpart in the same run:
//! - a validation that needs no fetch (keys already fetched from a
//!   `jwks_uri` by a real `Fetcher`) against the same token with an inline
//!   JWKS — target: the same cost; both the cached path (`validate`) and the
//!   full check (`verify_jwt`);
//! - an opaque token whose introspection answer is kept against the
//!   in-process opaque store's lookup — target: at most 2×.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mcpguard::guard::Guard;
use mcpguard::token::opaque::OpaqueEntry;
use mcpguard::token::{IntrospectionUnavailable, Introspector};
use mcpguard_testkit as kit;
use serde_json::json;

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Serves `body` to every connection on a loopback port (plain HTTP, which
/// the fetcher allows on loopback only). Bench scaffolding: the request is
/// read up to its blank line and not interpreted.
fn serve(body: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(body.as_bytes());
        }
    });
    port
}

fn jwks_sources(c: &mut Criterion) {
    let jwks = kit::jwks(&[("rsa", Some("k1"), Some("RS256"))]);
    let header = json!({"alg": "RS256", "kid": "k1"}).to_string();
    let claims = json!({"iss": ISS, "sub": "alice", "aud": RES, "exp": now() + 7_200}).to_string();
    let token = kit::sign("RS256", "rsa", &header, &claims);

    let inline = Guard::from_json(
        &json!({"resource": RES, "auth": {"issuers": [{"issuer": ISS, "jwks": jwks}]}}).to_string(),
    )
    .unwrap();
    let port = serve(jwks.to_string());
    let (fetched, fetcher) = mcpguard_fetch::guard_from_json(
        &json!({"resource": RES, "auth": {"issuers": [{"issuer": ISS,
            "jwks_uri": format!("http://127.0.0.1:{port}/jwks")}]}})
        .to_string(),
    )
    .unwrap();
    assert!(fetcher.wait_ready(Duration::from_secs(10)));
    assert!(inline.validate(&token).is_ok());
    assert!(fetched.validate(&token).is_ok());

    let mut group = c.benchmark_group("fetch/no_fetch_needed");
    group.bench_function("validate_cached/inline_jwks", |b| {
        b.iter(|| inline.validate(black_box(&token)).unwrap())
    });
    group.bench_function("validate_cached/jwks_uri", |b| {
        b.iter(|| fetched.validate(black_box(&token)).unwrap())
    });
    group.bench_function("verify_jwt/inline_jwks", |b| {
        b.iter(|| {
            inline
                .token_validator()
                .verify_jwt(black_box(&token))
                .unwrap()
        })
    });
    group.bench_function("verify_jwt/jwks_uri", |b| {
        b.iter(|| {
            fetched
                .token_validator()
                .verify_jwt(black_box(&token))
                .unwrap()
        })
    });
    group.finish();
    assert_eq!(
        fetcher.stats().jwks_fetches,
        1,
        "a validation triggered a fetch"
    );
}

/// Answers every token as active; counts calls (the bench must hit the
/// kept answer, not this).
struct Stub {
    calls: AtomicUsize,
    answer: String,
}

impl Introspector for Stub {
    fn introspect(&self, _token: &str) -> Result<String, IntrospectionUnavailable> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(self.answer.clone())
    }
}

fn opaque_answers(c: &mut Criterion) {
    let token = "Xq3vT0kE9yB2mN7pL4rS8uW1zA6cD5fG0hJ2kL9nP3q";
    let exp = now() + 7_200;
    // The in-process store, looked up on every call (no verified-token cache).
    let store = Guard::from_json(
        &json!({"resource": RES, "auth": {"opaque_tokens": true, "cache_entries": 0}}).to_string(),
    )
    .unwrap();
    store
        .insert_opaque(
            token,
            OpaqueEntry {
                client_id: Some("app".into()),
                subject: Some("alice".into()),
                scopes: vec!["read".into()],
                resource: Some(RES.into()),
                expires_at: Some(exp),
                ..Default::default()
            },
        )
        .unwrap();
    let introspecting = Guard::from_json(
        &json!({"resource": RES, "auth": {"issuers": [{"issuer": ISS, "introspection": {
            "endpoint": "https://auth.example.com/introspect",
            "client_id": "rs", "client_secret": "s"}}]}})
        .to_string(),
    )
    .unwrap();
    let stub = Arc::new(Stub {
        calls: AtomicUsize::new(0),
        answer: json!({"active": true, "client_id": "app", "sub": "alice", "iss": ISS,
                       "aud": RES, "scope": "read", "exp": exp})
        .to_string(),
    });
    introspecting
        .token_validator()
        .set_introspector(Some(stub.clone()));
    assert!(store.validate(token).is_ok());
    assert!(introspecting.validate(token).is_ok());

    let mut group = c.benchmark_group("fetch/opaque");
    group.bench_function("opaque_store_lookup", |b| {
        b.iter(|| store.validate(black_box(token)).unwrap())
    });
    group.bench_function("introspection_kept_answer", |b| {
        b.iter(|| introspecting.validate(black_box(token)).unwrap())
    });
    group.finish();
    assert_eq!(
        stub.calls.load(Ordering::Relaxed),
        1,
        "the kept answer was not used"
    );
}

criterion_group!(benches, jwks_sources, opaque_answers);
criterion_main!(benches);
