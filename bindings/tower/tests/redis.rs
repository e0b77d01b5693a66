//! A Guard on a real redis-server decides off the request's task: while
//! Redis holds a decision (`DEBUG SLEEP`), a current-thread runtime, which
//! a decision on the request's task would stop, goes on running its other
//! tasks. The steps before the store run on tokio's blocking pool, and the
//! store's answer is awaited on the pipelined connection.

#[path = "../../../stores/redis/tests/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Empty, Full};
use mcpguard::guard::{GuardOptions, HttpOptions};
use mcpguard_tower::GuardLayer;
use serde_json::json;
use tower::{Layer, ServiceExt};

fn layer(url: &str, offload: Option<bool>) -> GuardLayer {
    // A timeout well over the sleep: the slow decision is admitted.
    let text = json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": { "issuers": [], "required": false },
        "rate_limit": { "limit": 1000, "window_seconds": 60 },
        "store": { "redis": { "url": url, "prefix": "tower-offload:", "timeout_ms": 2000 } }
    })
    .to_string();
    let guard = mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap();
    assert!(guard.waits_on_network());
    let layer = GuardLayer::new(guard, HttpOptions::new(None));
    match offload {
        Some(o) => layer.offload(o),
        None => layer,
    }
}

/// Runtime ticks counted while one request is decided under a 300 ms
/// `DEBUG SLEEP`, and the request's status. With `warm`, one request is
/// decided first, before Redis sleeps.
fn ticks_during_a_slow_decision(
    server: &support::Server,
    layer: GuardLayer,
    warm: bool,
    request: impl Fn() -> Request<Empty<Bytes>>,
) -> (usize, StatusCode) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let service = layer.layer(tower::service_fn(|_req: Request<_>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
        if warm {
            assert_eq!(
                service.clone().oneshot(request()).await.unwrap().status(),
                StatusCode::OK
            );
        }
        let ticks = Arc::new(AtomicUsize::new(0));
        let counted = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                counted.fetch_add(1, Ordering::Relaxed);
            }
        });
        let url = server.url();
        let sleeper = std::thread::spawn(move || {
            let client = redis::Client::open(url).unwrap();
            let mut c = client.get_connection().unwrap();
            redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg("0.3")
                .exec(&mut c)
                .unwrap();
        });
        std::thread::sleep(Duration::from_millis(20));
        let before = ticks.load(Ordering::Relaxed);
        let status = service.oneshot(request()).await.unwrap().status();
        let during = ticks.load(Ordering::Relaxed) - before;
        ticker.abort();
        sleeper.join().unwrap();
        (during, status)
    })
}

/// An anonymous `GET /mcp`.
fn anonymous() -> Request<Empty<Bytes>> {
    Request::get("/mcp").body(Empty::<Bytes>::new()).unwrap()
}

#[test]
fn a_guard_on_redis_decides_off_the_runtime_and_the_runtime_keeps_running() {
    let server = support::Server::start();
    let (during, status) =
        ticks_during_a_slow_decision(&server, layer(&server.url(), None), true, anonymous);
    assert_eq!(status, StatusCode::OK);
    assert!(
        during >= 10,
        "the runtime ran {during} ticks while the decision waited"
    );
}

#[test]
fn offload_false_decides_on_the_task_as_before() {
    let server = support::Server::start();
    let (during, status) =
        ticks_during_a_slow_decision(&server, layer(&server.url(), Some(false)), true, anonymous);
    assert_eq!(status, StatusCode::OK);
    // The decision held the only runtime thread for the whole sleep.
    assert!(during <= 2, "the runtime ran {during} ticks");
}

#[test]
fn the_layer_awaits_the_check_on_the_pipelined_connection_and_counts_exactly() {
    let server = support::Server::start();
    let text = json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": { "issuers": [], "required": false },
        "rate_limit": { "limit": 25, "window_seconds": 60 },
        "store": { "redis": { "url": server.url(), "prefix": "tower-pipe:", "timeout_ms": 2000 } }
    })
    .to_string();
    let guard = mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap();
    let layer = GuardLayer::new(guard.clone(), HttpOptions::new(None))
        .key(|_| Some("one-client".to_string()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let statuses: Vec<StatusCode> = runtime.block_on(async {
        let service = layer.layer(tower::service_fn(|_req: Request<_>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
        let calls = (0..60).map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                let request = Request::get("/mcp").body(Empty::<Bytes>::new()).unwrap();
                service.oneshot(request).await.unwrap().status()
            })
        });
        let mut out = Vec::new();
        for call in calls.collect::<Vec<_>>() {
            out.push(call.await.unwrap());
        }
        out
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        25
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        35
    );
    assert_eq!(
        support::metric(&guard, "mcpguard_store_pipelined_total"),
        60.0
    );
}

#[test]
fn a_token_to_verify_is_checked_on_the_blocking_pool_and_its_check_awaited() {
    let server = support::Server::start();
    let (iss, res) = ("https://auth.example.com", "https://mcp.example.com/mcp");
    let text = json!({
        "resource": res,
        "auth": { "issuers": [{ "issuer": iss,
            "jwks": mcpguard_testkit::jwks(&[("rsa", Some("k1"), Some("RS256"))]) }] },
        "rate_limit": { "limit": 1000, "window_seconds": 60 },
        "store": { "redis": { "url": server.url(), "prefix": "tower-token:", "timeout_ms": 2000 } }
    })
    .to_string();
    let guard = mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = |client: &str| {
        let claims = json!({"iss": iss, "sub": client, "client_id": client, "aud": res,
            "exp": now + 600});
        let jws = mcpguard_testkit::sign(
            "RS256",
            "rsa",
            &json!({"alg": "RS256", "kid": "k1"}).to_string(),
            &claims.to_string(),
        );
        format!("Bearer {jws}")
    };
    let layer = GuardLayer::new(guard.clone(), HttpOptions::new(None));
    // A token never seen: verified on the pool, the check awaited here.
    let fresh = token("fresh-client");
    let (during, status) = ticks_during_a_slow_decision(&server, layer, false, || {
        Request::get("/mcp")
            .header("authorization", fresh.as_str())
            .body(Empty::<Bytes>::new())
            .unwrap()
    });
    assert_eq!(status, StatusCode::OK);
    assert!(during >= 10, "the runtime ran {during} ticks");
    assert_eq!(
        support::metric(&guard, "mcpguard_store_pipelined_total"),
        1.0
    );
}
