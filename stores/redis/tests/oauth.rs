//! The authorization server's Redis store against a real redis-server:
//! the conformance suite every `OAuthStore` backend runs
//! (`mcpguard_testkit::oauth_store`: restarts, two engines on one Redis,
//! 8 racing refreshes of one token, purge), and what is Redis's own: keys
//! under the prefix, no credential in clear, TTLs from expiries, a Redis
//! that is down. (The configuration path, `storage: {"redis": {}}`, is
//! tested in mcpguard-host, which opens the store.)

mod support;

use std::sync::Arc;

use mcpguard::ManualClock;
use mcpguard::oauth::OAuthStore;
use mcpguard::shared::RedisConfig;
use mcpguard_redis::RedisOAuthStore;
use mcpguard_testkit::oauth_store as suite;
use serde_json::json;
use support::Server;

fn config(url: &str, prefix: &str) -> RedisConfig {
    serde_json::from_value(json!({"url": url, "prefix": prefix, "timeout_ms": 2000}))
        .expect("a store.redis section")
}

fn store(url: &str, prefix: &str, clock: &ManualClock) -> Arc<dyn OAuthStore> {
    Arc::new(RedisOAuthStore::new(&config(url, prefix), Arc::new(clock.clone())).unwrap())
}

/// Runs one suite function on a fresh redis-server; each open is a new
/// store (its own connection pool), as a restarted or second replica's.
fn on_redis(test: fn(suite::Open<'_>)) {
    let server = Server::start();
    let url = server.url();
    let open = move |clock: &ManualClock| store(&url, "t:", clock);
    test(&open);
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(#[test]
        fn $name() {
            on_redis(mcpguard_testkit::oauth_store::$name);
        })*
    };
}

conformance!(
    a_restart_between_registration_and_refresh_loses_nothing,
    a_reused_code_after_a_restart_still_revokes_what_it_produced,
    a_code_is_shown_spent_or_not_after_a_restart,
    a_token_rotated_on_one_engine_and_reused_on_another_revokes_the_family,
    concurrent_refreshes_of_one_token_let_exactly_one_through,
    one_code_redeemed_on_four_connections_is_redeemed_once,
    purging_forgets_only_what_expired,
    each_method_keeps_its_promise,
);

fn keys(server: &Server) -> Vec<String> {
    let redis::Value::Array(keys) = server.cmd(&["KEYS", "*"]) else {
        panic!("KEYS answers an array");
    };
    let mut keys: Vec<String> = keys
        .iter()
        .map(|k| redis::from_redis_value_ref(k).unwrap())
        .collect();
    keys.sort();
    keys
}

#[test]
fn every_key_is_under_the_prefix_in_one_slot_and_holds_no_credential_in_clear() {
    let server = Server::start();
    let url = server.url();
    let clock = ManualClock::new(suite::START);
    let open = |c: &ManualClock| store(&url, "app1:", c);
    let h = suite::host(&open, &suite::pem(), &clock);
    let (client, t) = h.grant();
    let refreshed = h
        .refresh(&client, t.refresh_token.as_deref().unwrap())
        .unwrap();
    let keys = keys(&server);
    assert!(!keys.is_empty());
    for k in &keys {
        assert!(k.starts_with("app1:{oauth}:"), "{k}");
    }
    for k in &keys {
        let kind: String = redis::from_redis_value_ref(&server.cmd(&["TYPE", k])).unwrap();
        let text = match kind.as_str() {
            "string" => format!("{:?}", server.cmd(&["GET", k])),
            "hash" => format!("{:?}", server.cmd(&["HGETALL", k])),
            "zset" => format!("{:?}", server.cmd(&["ZRANGE", k, "0", "-1"])),
            other => panic!("{k} is a {other}"),
        };
        for secret in [
            t.refresh_token.as_deref().unwrap(),
            refreshed.refresh_token.as_deref().unwrap(),
            t.access_token.as_str(),
        ] {
            assert!(!text.contains(secret), "{k} holds a credential in clear");
        }
    }
}

#[test]
fn records_expire_in_redis_with_their_credentials() {
    let server = Server::start();
    let url = server.url();
    let clock = ManualClock::new(suite::START);
    let open = |c: &ManualClock| store(&url, "t:", c);
    let h = suite::host(&open, &suite::pem(), &clock);
    let (client, _) = h.grant();
    let _pending_code = h.code(&client);
    let ttl = |k: &str| -> i64 { redis::from_redis_value_ref(&server.cmd(&["TTL", k])).unwrap() };
    for k in keys(&server) {
        let t = ttl(&k);
        if k.contains(":client:") || k.ends_with(":index") {
            assert_eq!(t, -1, "{k} is kept until removed");
        } else if k.contains(":code:") {
            // 60 s of life, and a minute of grace.
            assert!((100..=120).contains(&t), "{k}: {t}");
        } else if k.contains(":access:") || k.contains(":family_access:") {
            assert!((3600..=3660).contains(&t), "{k}: {t}");
        } else {
            assert!(t > 0, "{k} has no TTL");
        }
    }
}

#[test]
fn a_redis_that_is_down_is_a_store_error_not_a_credential() {
    let mut server = Server::start();
    let url = server.url();
    server.stop();
    let clock = ManualClock::new(suite::START);
    let s = store(&url, "t:", &clock);
    let e = s.client("c1").unwrap_err();
    assert!(e.to_string().starts_with("redis: "), "{e}");
    let e = s.redeem_code("sha256:00").unwrap_err();
    assert!(matches!(e, mcpguard::oauth::StoreError::Backend(_)), "{e}");
}

#[test]
fn issuing_trims_the_index_sets_of_what_redis_dropped_by_ttl() {
    let server = Server::start();
    let url = server.url();
    let clock = ManualClock::new(suite::START);
    let open = |c: &ManualClock| store(&url, "t:", c);
    let h = suite::host(&open, &suite::pem(), &clock);
    let (client, t) = h.grant();
    h.server
        .revoke(&mcpguard::oauth::RevocationRequest {
            token: Some(&t.access_token),
            token_type_hint: None,
            client: mcpguard::oauth::ClientAuth {
                client_id: Some(&client),
                client_secret: None,
            },
        })
        .unwrap();
    // Past the access token's hour and twice the grace.
    clock.advance(std::time::Duration::from_secs(3600 + 121));
    let bound = (suite::START + 3600 + 1).to_string();
    let stale = |set: &str| -> i64 {
        let key = format!("t:{{oauth}}:{set}:index");
        redis::from_redis_value_ref(&server.cmd(&["ZCOUNT", &key, "-inf", &bound])).unwrap()
    };
    assert!(stale("expiry") >= 3, "pending, code and access entries");
    assert_eq!(stale("revoked"), 1);
    h.grant();
    assert_eq!(stale("expiry"), 0);
    assert_eq!(stale("revoked"), 0);
}
