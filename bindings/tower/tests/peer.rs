//! The peer address reaches the core as the Python and Express drop-ins
//! hand theirs: requests without a token are rate-limited per client
//! address, not in one budget shared by everyone.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mcpguard::guard::{Guard, HttpOptions};
use mcpguard_tower::GuardLayer;
use serde_json::json;

/// An axum app behind the layer, served with its connection info; its URL.
async fn serve(layer: GuardLayer) -> String {
    let router = axum::Router::new()
        .route("/mcp", axum::routing::post(|| async { "ok" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    url
}

/// One anonymous request per window.
fn anonymous_guard() -> Guard {
    let config = json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": {"issuers": [], "required": false},
        "servers": {"filesystem": {"tags": ["files"]}},
        "rate_limit": {"limit": 1, "window_seconds": 60}
    });
    Guard::from_json(&config.to_string()).unwrap()
}

/// The status of a `ping` POSTed from `from`.
async fn ping_from(url: &str, from: [u8; 4]) -> u16 {
    let client = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(from)))
        .build()
        .unwrap();
    client
        .post(url)
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn anonymous_requests_are_limited_per_peer_address_from_axums_connect_info() {
    let layer = GuardLayer::new(anonymous_guard(), HttpOptions::new(Some("filesystem")));
    let url = serve(layer).await;
    assert_eq!(ping_from(&url, [127, 0, 0, 1]).await, 200);
    assert_eq!(
        ping_from(&url, [127, 0, 0, 1]).await,
        429,
        "its budget is spent"
    );
    assert_eq!(
        ping_from(&url, [127, 0, 0, 2]).await,
        200,
        "another address has a budget of its own"
    );
}

#[tokio::test]
async fn a_key_function_replaces_the_peer_address() {
    let layer = GuardLayer::new(anonymous_guard(), HttpOptions::new(Some("filesystem")))
        .key(|_| Some("everyone".to_string()));
    let url = serve(layer).await;
    assert_eq!(ping_from(&url, [127, 0, 0, 1]).await, 200);
    assert_eq!(
        ping_from(&url, [127, 0, 0, 2]).await,
        429,
        "one key, one budget"
    );
}
