//! A Guard on Redis says that its decisions wait on the network, so that a
//! drop-in on an event loop decides off the loop; one without a store says
//! they do not.

mod support;

use mcpguard::guard::{Guard, GuardOptions};
use serde_json::json;

#[test]
fn a_guard_on_redis_waits_on_the_network_and_an_in_process_one_does_not() {
    let rate = json!({ "limit": 5, "window_seconds": 60 });
    // Construction never needs Redis to answer: nothing listens on port 1.
    let text = support::config("redis://127.0.0.1:1/0", "net:", "fail_closed", rate.clone());
    let on_redis = mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap();
    assert!(on_redis.waits_on_network());
    assert!(on_redis.rate_policy().waits_on_network());
    assert!(on_redis.token_validator().waits_on_network());
    let local = Guard::from_json(
        &json!({
            "resource": "https://mcp.example.com/mcp",
            "auth": { "issuers": [], "required": false },
            "rate_limit": rate,
        })
        .to_string(),
    )
    .unwrap();
    assert!(!local.waits_on_network());
    assert!(!local.rate_policy().waits_on_network());
}
