//! Rate-limit keys expire with their window: a window's key keeps the
//! expiry it was given when the window began (the script skips setting it
//! again within the window), and a new window gives its key a new one.

mod support;

use std::time::Duration;

use mcpguard::guard::{Guard, GuardOptions, Request};
use serde_json::json;
use support::Server;

fn guard(url: &str, prefix: &str, algorithm: &str) -> Guard {
    let rate = json!({ "limit": 100, "window_seconds": 1, "algorithm": algorithm });
    let text = support::config(url, prefix, "fail_closed", rate);
    mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap()
}

/// The remaining time to live of the one key under `prefix`, in ms.
fn pttl(server: &Server, prefix: &str) -> i64 {
    let redis::Value::Array(keys) = server.cmd(&["KEYS", &format!("{prefix}*")]) else {
        panic!("KEYS answers an array");
    };
    let [redis::Value::BulkString(key)] = keys.as_slice() else {
        panic!("one key expected, found {keys:?}");
    };
    let key = String::from_utf8(key.clone()).unwrap();
    match server.cmd(&["PTTL", &key]) {
        redis::Value::Int(ms) => ms,
        other => panic!("PTTL answered {other:?}"),
    }
}

fn allowed(guard: &Guard) {
    let mut r = Request::new();
    r.key = Some("203.0.113.7");
    assert_eq!(guard.authorize(&r).status, 200);
}

#[test]
fn a_window_keeps_its_expiry_and_a_new_window_gets_a_new_one() {
    let server = Server::start();
    // Window 1 s, one second of grace: a fixed window's key lives at most
    // 2 s from the window's start, a sliding window's (which the next
    // window still reads) at most 3 s.
    for (algorithm, most) in [("fixed_window", 2000), ("sliding_window", 3000)] {
        let prefix = format!("exp-{algorithm}:");
        let g = guard(&server.url(), &prefix, algorithm);
        allowed(&g);
        let first = pttl(&server, &prefix);
        assert!(
            first > most - 200 && first <= most,
            "{algorithm}: {first} ms"
        );
        std::thread::sleep(Duration::from_millis(300));
        allowed(&g);
        let again = pttl(&server, &prefix);
        assert!(
            again <= first - 250 && again > 0,
            "{algorithm}: the window's expiry stays where it was ({first} then {again} ms)"
        );
        // Past the window (and, for the sliding window, the one after it,
        // whose key would be read still): a new window, a new expiry.
        std::thread::sleep(Duration::from_millis(if most == 2000 { 800 } else { 1800 }));
        allowed(&g);
        let fresh = pttl(&server, &prefix);
        assert!(
            fresh > again,
            "{algorithm}: a new window's key expires later ({again} then {fresh} ms)"
        );
        assert!(fresh <= most, "{algorithm}: {fresh} ms");
    }
}
