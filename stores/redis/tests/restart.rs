//! A redis-server restarted empty (no persistence) forgets the revocations
//! and opaque tokens it held. Each Guard notices the loss on its next
//! epoch poll (the epoch went back, or started again with another
//! incarnation) and sends what it had written again: a token revoked on A
//! before the restart is refused on B after it, and an opaque token
//! inserted on A is valid on B again.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mcpguard::guard::{Guard, GuardOptions};
use mcpguard::token::OpaqueEntry;
use serde_json::json;

const OPAQUE: &str = "opaque-token-restart-0123456789";

fn guard(url: &str) -> Guard {
    // `local`: a Guard keeps validating while Redis is away.
    let config = support::token_config(url, "restart:", "local");
    mcpguard_redis::guard_from_json(&config, GuardOptions::default()).unwrap()
}

/// Calls `f` every 20 ms until it holds, at most `within`.
fn eventually(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn revocations_and_opaque_tokens_come_back_after_redis_restarts_empty() {
    let mut server = support::Server::start();
    let port = server.port;
    let url = server.url();
    let (a, b) = (guard(&url), guard(&url));
    let revoked = support::token(json!({ "sub": "alice", "jti": "restart-1" }));
    let bystander = support::token(json!({ "sub": "bob", "jti": "restart-2" }));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    a.insert_opaque(
        OPAQUE,
        OpaqueEntry {
            client_id: Some("app".into()),
            scopes: vec!["tag:web".into()],
            expires_at: Some(now + 600),
            ..OpaqueEntry::default()
        },
    )
    .unwrap();
    // Both Guards read the epoch once before A revokes.
    assert!(a.validate(&bystander).is_ok() && b.validate(&bystander).is_ok());
    a.revoke(&revoked).unwrap();
    eventually(Duration::from_secs(2), "revoked on B", || {
        b.validate(&revoked).is_err()
    });
    assert!(b.validate(OPAQUE).is_ok(), "inserted on A, valid on B");

    server.stop();
    let server = support::Server::start_on(port);
    assert_eq!(
        server.cmd(&["DBSIZE"]),
        redis::Value::Int(0),
        "restarted empty"
    );
    // A serves requests as usual; its epoch poll finds the store reset
    // and sends its revocation and its opaque token again.
    eventually(Duration::from_secs(3), "A sent its writes again", || {
        let _ = a.validate(&bystander);
        support::metric(&a, "mcpguard_shared_store_resets_total") >= 1.0
            && support::metric(&a, "mcpguard_shared_writes_waiting") == 0.0
    });
    let keys = match server.cmd(&["KEYS", "restart:*"]) {
        redis::Value::Array(keys) => keys.len(),
        other => panic!("KEYS answered {other:?}"),
    };
    assert!(keys >= 3, "revocation, opaque token and epoch: {keys} keys");
    eventually(
        Duration::from_secs(3),
        "B refuses the revoked token",
        || {
            b.validate(&revoked)
                .is_err_and(|e| e.reason.code() == "revoked")
        },
    );
    assert!(b.validate(&bystander).is_ok(), "only the revoked token");
    assert!(b.validate(OPAQUE).is_ok(), "A's opaque token is back");
}
