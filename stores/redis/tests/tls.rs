//! `rediss://` against a real redis-server serving TLS on loopback, its
//! certificate signed by a private CA generated at test time: with that CA
//! in `store.redis.ca_pem`, two Guards share one budget and a revocation
//! over TLS; with no `ca_pem` (the public roots) or another CA's, the
//! server is not trusted and the store is unavailable (503 under
//! `fail_closed`), never used unverified. A server that asks for client
//! certificates is used with the one in `client_cert_pem` /
//! `client_key_pem`, and refuses the store without one, or with one its CA
//! did not sign.

mod support;

use std::time::{Duration, Instant};

use mcpguard::guard::{Guard, GuardOptions, Request};
use mcpguard_testkit::tls::{TestCa, test_ca};
use serde_json::json;

const LIMIT: usize = 6;

/// A TLS redis-server and the CA that signed its certificate.
struct TlsServer {
    server: support::TlsServer,
    ca: TestCa,
}

fn tls_server() -> TlsServer {
    tls_server_asking(false)
}

/// As [`tls_server`]; with `client_certificates`, the server asks every
/// client for a certificate its CA signed (`tls-auth-clients yes`).
fn tls_server_asking(client_certificates: bool) -> TlsServer {
    let ca = test_ca("mcpguard-redis test CA");
    let server = support::TlsServer::start(&ca, client_certificates);
    TlsServer { server, ca }
}

fn guard(url: &str, ca_pem: Option<&str>) -> Guard {
    guard_as(url, ca_pem, None)
}

/// A Guard on `url` trusting `ca_pem`, presenting `client` (certificate
/// and key, PEM) when given.
fn guard_as(url: &str, ca_pem: Option<&str>, client: Option<(&str, &str)>) -> Guard {
    let mut redis = json!({ "url": url, "prefix": "tls:", "timeout_ms": 500 });
    if let Some(pem) = ca_pem {
        redis["ca_pem"] = json!(pem);
    }
    if let Some((cert, key)) = client {
        redis["client_cert_pem"] = json!(cert);
        redis["client_key_pem"] = json!(key);
    }
    let config = json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": { "issuers": [{
            "issuer": "https://auth.example.com",
            "jwks": mcpguard_testkit::hmac_jwks()
        }] },
        "rate_limit": { "limit": LIMIT, "window_seconds": 3600 },
        "store": { "redis": redis }
    });
    mcpguard_redis::guard_from_json(&config.to_string(), GuardOptions::default()).unwrap()
}

fn bearer(client: &str) -> String {
    let token = support::token(json!({ "sub": "alice", "client_id": client }));
    format!("Bearer {token}")
}

fn status(guard: &Guard, authorization: &str) -> u16 {
    guard
        .authorize(&Request::new().authorization(authorization))
        .status
}

/// Requests alternating between `a` and `b` with one token: `LIMIT`
/// admitted in all, then refused, as one budget in Redis.
fn share_one_budget(a: &Guard, b: &Guard, header: &str) {
    let statuses: Vec<u16> = (0..2 * LIMIT)
        .map(|i| status(if i % 2 == 0 { a } else { b }, header))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        LIMIT,
        "{statuses:?}"
    );
    assert!(statuses[LIMIT..].iter().all(|s| *s == 429), "{statuses:?}");
}

#[test]
fn over_rediss_with_the_private_ca_two_guards_share_one_budget_and_a_revocation() {
    let server = tls_server();
    let url = server.server.url();
    let a = guard(&url, Some(&server.ca.ca_pem));
    let b = guard(&url, Some(&server.ca.ca_pem));
    let header = bearer("tls-client");
    share_one_budget(&a, &b, &header);

    let token = header.strip_prefix("Bearer ").unwrap();
    b.validate(token).expect("valid, and cached by b");
    a.revoke(token).expect("revoked over TLS");
    let revoked = Instant::now();
    while b.validate(token).is_ok() {
        assert!(
            revoked.elapsed() < Duration::from_millis(1500),
            "b still admits the token"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(b.validate(token).unwrap_err().reason.code(), "revoked");
    let metrics = a.metrics_text();
    assert!(
        metrics
            .lines()
            .any(|l| l == "mcpguard_store_breaker_open 0"),
        "{metrics}"
    );
}

#[test]
fn a_rediss_server_whose_certificate_the_configured_roots_do_not_sign_is_never_used() {
    let server = tls_server();
    let url = server.server.url();
    let other_ca = test_ca("another CA");
    for roots in [None, Some(other_ca.ca_pem.as_str())] {
        let g = guard(&url, roots);
        let d = g.authorize(&Request::new().authorization(&bearer("untrusted")));
        assert_eq!(d.status, 503, "roots {roots:?}");
        assert_eq!(d.reason.unwrap().code(), "store_unavailable");
    }
}

#[test]
fn a_server_that_asks_for_client_certificates_takes_the_configured_one_only() {
    let server = tls_server_asking(true);
    let url = server.server.url();
    let ca = &server.ca;
    let client = (ca.client_cert_pem.as_str(), ca.client_key_pem.as_str());
    let a = guard_as(&url, Some(&ca.ca_pem), Some(client));
    let b = guard_as(&url, Some(&ca.ca_pem), Some(client));
    share_one_budget(&a, &b, &bearer("mtls-client"));

    let stranger = test_ca("a CA the server does not know");
    let foreign = (
        stranger.client_cert_pem.as_str(),
        stranger.client_key_pem.as_str(),
    );
    for presented in [None, Some(foreign)] {
        let g = guard_as(&url, Some(&ca.ca_pem), presented);
        let d = g.authorize(&Request::new().authorization(&bearer("no-certificate")));
        assert_eq!(d.status, 503, "client certificate {presented:?}");
        assert_eq!(d.reason.unwrap().code(), "store_unavailable");
    }
}
