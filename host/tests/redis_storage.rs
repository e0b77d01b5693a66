//! `authorization_server.storage: {"redis": {}}` through the path every
//! binding takes (`HostedGuard::authorization_server`): the engine's state
//! lands in the Redis of `store.redis`, under its prefix, and two hosts on
//! that Redis share it; without `store.redis` the error says what is missing.

#[path = "../../stores/redis/tests/support/mod.rs"]
mod support;

use mcpguard::guard::GuardOptions;
use mcpguard::oauth::RegistrationRequest;
use mcpguard_host::{HostedGuard, ServerError};
use serde_json::{Value, json};

fn config(store: Value) -> String {
    json!({
        "resource": "https://mcp.example.com/mcp",
        "servers": {"web-search": {"tags": ["web"]}},
        "store": store,
        "authorization_server": {
            "issuer": "https://auth.example.com",
            "storage": {"redis": {}}
        }
    })
    .to_string()
}

#[test]
fn the_redis_storage_keeps_the_engines_state_in_store_redis() {
    let server = support::Server::start();
    let text = config(json!({"redis": {"url": server.url(), "prefix": "cfg:"}}));
    let a = HostedGuard::from_json(&text, GuardOptions::default()).unwrap();
    let b = HostedGuard::from_json(&text, GuardOptions::default()).unwrap();
    let (a, b) = (
        a.authorization_server(None).unwrap(),
        b.authorization_server(None).unwrap(),
    );
    let registered = a
        .register(&RegistrationRequest {
            metadata: &json!({"redirect_uris": ["https://app.example.com/cb"]}),
            initial_access_token: None,
            rate_key: "k",
        })
        .unwrap();
    let id = registered.client.client_id;
    let key = format!("cfg:{{oauth}}:client:{id}");
    assert_eq!(server.cmd(&["EXISTS", &key]), redis::Value::Int(1));
    assert!(b.store().client(&id).unwrap().is_some());
}

#[test]
fn the_redis_storage_without_store_redis_says_what_is_missing() {
    let text = config(json!({}));
    let hosted = HostedGuard::from_json(&text, GuardOptions::default()).unwrap();
    let e = hosted.authorization_server(None).unwrap_err();
    assert!(matches!(e, ServerError::NoRedis), "{e}");
    assert!(e.to_string().contains("store.redis"), "{e}");
}
