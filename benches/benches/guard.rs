//! `Guard::authorize` for an allowed request with a cached token, a filter
//! and a rate-limit check (target: at most 1 µs), and its breakdown: header
//! parsing, the cached validation, the access decision and the rate-limit
//! check, each measured on its own with the same inputs.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mcpguard::access::{FilterRequest, Granted};
use mcpguard::guard::{Guard, Request, RequestFilter, parse_authorization};
use mcpguard_testkit as kit;
use serde_json::json;

const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";
/// Far in the future: the Guard reads the system clock here.
const EXP: i64 = 4_000_000_000;

fn guard() -> Guard {
    let config = json!({
        "resource": RES,
        "auth": {"issuers": [{"issuer": ISS, "jwks": kit::jwks(&[("rsa", Some("k1"), Some("RS256"))])}],
                 "role_claim": "roles"},
        "servers": {
            "filesystem": {"tags": ["files", "sensitive"]},
            "database": {"tags": ["database", "sensitive"]},
            "web-search": {"tags": ["web", "safe"]},
            "memory": {"tags": ["memory", "safe"]}
        },
        // A limit no bench run can exhaust, so every iteration takes the
        // allowed path through the rate limiter.
        "rate_limit": {"limit": u32::MAX, "window_seconds": 1.0}
    });
    Guard::from_json(&config.to_string()).expect("bench config")
}

fn token() -> String {
    let claims = json!({"iss": ISS, "sub": "user-1234", "client_id": "client-abc", "aud": RES,
        "exp": EXP, "iat": 1_767_225_600, "jti": "9f0c1d2e", "scope": "tag:web tag:files tag:memory",
        "roles": ["developer"]});
    kit::sign(
        "RS256",
        "rsa",
        &json!({"alg": "RS256", "kid": "k1", "typ": "at+jwt"}).to_string(),
        &claims.to_string(),
    )
}

fn bench_authorize(c: &mut Criterion) {
    let guard = guard();
    let token = token();
    let header = format!("Bearer {token}");
    let request = Request::new()
        .authorization(&header)
        .filter(RequestFilter::Tags("web,files"))
        .server("web-search")
        .key("203.0.113.7");
    assert!(
        guard.authorize(&request).allowed,
        "the bench request must be allowed"
    );
    // The audit ring fills and then drops its oldest event on every call:
    // the steady state a host that never drains would see.
    let mut g = c.benchmark_group("guard");
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("authorize (cached token, filter, rate limit)", |b| {
        b.iter(|| std::hint::black_box(guard.authorize(std::hint::black_box(&request))))
    });

    // The breakdown, step by step.
    g.bench_function("step: parse Authorization", |b| {
        b.iter(|| parse_authorization(std::hint::black_box(Some(&header)), 8192))
    });
    g.bench_function("step: validate (cache hit)", |b| {
        b.iter(|| guard.validate(std::hint::black_box(&token)))
    });
    let principal = guard.validate(&token).expect("valid");
    let access = guard.access_policy();
    // authorize uses the granted set cached with the principal.
    let granted: &Granted = principal
        .granted
        .as_deref()
        .expect("the Guard caches the grant");
    g.bench_function("step: access (parse filter, decide)", |b| {
        b.iter(|| {
            let filter = access
                .resolve_filter(FilterRequest::Tags("web,files"))
                .expect("filter");
            access.decide(granted, Some(&filter), Some("web-search"), None)
        })
    });
    let rate = guard.rate_policy();
    let key = format!("c\u{0}{ISS}\u{0}client-abc");
    g.bench_function("step: rate limit check + headers", |b| {
        b.iter(|| {
            let d = rate.check(&key, &principal.roles, Some("web-search"), None, 1);
            rate.headers(&d)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_authorize);
criterion_main!(benches);
