//! A connection Redis closed while it sat idle (its `timeout` for idle
//! clients, a NAT or load balancer that forgot the flow, a restart) is
//! replaced without a failure, on every path that keeps connections: the
//! pooled checks, the revocation epoch's read, the pipelined connection of
//! awaited decisions and the authorization server's store. Before, the
//! first request after a quiet spell failed, opened the breaker, and a
//! second of requests was refused under `fail_closed`. Against a real
//! redis-server whose clients are killed with `CLIENT KILL`, and one that
//! closes idle clients itself (`timeout 1`).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcpguard::ManualClock;
use mcpguard::guard::{
    Guard, GuardOptions, HttpAction, HttpBody, HttpOptions, HttpRequest, Request,
};
use mcpguard::oauth::OAuthStore;
use mcpguard::shared::RedisConfig;
use mcpguard_redis::RedisOAuthStore;
use serde_json::json;
use support::{Server, metric};

fn guard(server: &Server, prefix: &str) -> Guard {
    let config = json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": { "issuers": [{
            "issuer": "https://auth.example.com",
            "jwks": mcpguard_testkit::hmac_jwks()
        }], "required": false },
        "rate_limit": { "limit": 100, "window_seconds": 3600 },
        "store": { "redis": { "url": server.url(), "prefix": prefix,
                              "timeout_ms": 1000, "on_error": "fail_closed" } }
    });
    mcpguard_redis::guard_from_json(&config.to_string(), GuardOptions::default()).unwrap()
}

/// Closes every client connection but the one sending the command.
fn kill_clients(server: &Server) {
    server.cmd(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
}

fn no_failure(g: &Guard) {
    assert_eq!(metric(g, "mcpguard_store_errors_total"), 0.0);
    assert_eq!(metric(g, "mcpguard_store_breaker_opened_total"), 0.0);
}

#[test]
fn a_pooled_connection_closed_while_idle_is_replaced_without_a_failure() {
    let server = Server::start();
    let g = guard(&server, "idle-pool:");
    let mut request = Request::new();
    request.key = Some("idle");
    assert!(g.authorize(&request).allowed);
    kill_clients(&server);
    let d = g.authorize(&request);
    assert!(d.allowed, "{d:?}");
    assert_eq!(
        d.rate_limit.as_ref().map(|r| r.remaining),
        Some(98),
        "counted once"
    );
    no_failure(&g);
    assert_eq!(metric(&g, "mcpguard_store_reconnects_total"), 1.0);
}

#[test]
fn the_revocation_epoch_read_survives_a_closed_idle_connection() {
    let server = Server::start();
    let g = guard(&server, "idle-epoch:");
    let token = support::token(json!({ "sub": "alice", "client_id": "idle" }));
    let bearer = format!("Bearer {token}");
    let request = Request {
        authorization: Some(&bearer),
        ..Request::new()
    };
    assert!(g.authorize(&request).allowed);
    kill_clients(&server);
    // The epoch is read again after a second, on the killed connection.
    std::thread::sleep(Duration::from_millis(1100));
    let d = g.authorize(&request);
    assert!(d.allowed, "{d:?}");
    no_failure(&g);
}

#[test]
fn the_pipelined_connection_closed_while_idle_is_replaced_without_a_failure() {
    let server = Server::start();
    let g = guard(&server, "idle-pipe:");
    let request = HttpRequest {
        peer: Some("idle"),
        body: HttpBody::Bytes(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
        ..HttpRequest::new("POST", "/mcp")
    };
    let options = HttpOptions::new(None);
    for round in 0..3 {
        let d = mcpguard::task::block_on(g.authorize_http_later(&request, &options));
        assert!(
            matches!(d.action, HttpAction::Forward { .. }),
            "round {round}: {:?}",
            d.decision
        );
        kill_clients(&server);
    }
    no_failure(&g);
    assert_eq!(metric(&g, "mcpguard_store_pipelined_total"), 3.0);
    assert_eq!(metric(&g, "mcpguard_store_reconnects_total"), 2.0);
}

#[test]
fn the_oauth_store_survives_a_closed_idle_connection() {
    let server = Server::start();
    let config: RedisConfig = serde_json::from_value(
        json!({"url": server.url(), "prefix": "idle-oauth:", "timeout_ms": 1000}),
    )
    .unwrap();
    let store: Arc<dyn OAuthStore> =
        Arc::new(RedisOAuthStore::new(&config, Arc::new(ManualClock::new(1_767_225_600))).unwrap());
    assert!(store.client("nobody").unwrap().is_none());
    kill_clients(&server);
    assert!(store.client("nobody").unwrap().is_none());
}

#[test]
fn connections_redis_closes_for_idling_past_its_timeout_are_replaced() {
    let server = Server::start_with(support::free_port(), &["--timeout", "1"]);
    let g = guard(&server, "idle-timeout:");
    let mut request = Request::new();
    request.key = Some("idle");
    assert!(g.authorize(&request).allowed);
    // Redis closes clients idle past 1 s on its own schedule (a few
    // seconds here); wait until it has closed ours.
    let deadline = Instant::now() + Duration::from_secs(30);
    while connected_clients(&server) > 1 {
        assert!(
            Instant::now() < deadline,
            "Redis never closed the idle client"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let d = g.authorize(&request);
    assert!(d.allowed, "{d:?}");
    no_failure(&g);
    assert_eq!(metric(&g, "mcpguard_store_reconnects_total"), 1.0);
}

/// Clients connected, counting the one that asks.
fn connected_clients(server: &Server) -> usize {
    let redis::Value::BulkString(info) = server.cmd(&["INFO", "clients"]) else {
        panic!("INFO is a bulk string");
    };
    let text = String::from_utf8(info).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}
