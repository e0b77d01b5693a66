//! The rate-limit script runs as a Redis function where the server has
//! them (`FCALL`), is loaded again when the server lost it, and falls back
//! to `EVALSHA` where `FCALL` is missing; the decisions are the same either
//! way, and none of it is a store error.

mod support;

use mcpguard::guard::{Guard, GuardOptions, Request};
use serde_json::json;
use support::{Server, metric};

fn guard(url: &str, prefix: &str, limit: u64) -> Guard {
    let rate = json!({ "limit": limit, "window_seconds": 3600 });
    let text = support::config(url, prefix, "fail_closed", rate);
    mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap()
}

fn statuses(guard: &Guard, n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| {
            let mut r = Request::new();
            r.key = Some("203.0.113.7");
            guard.authorize(&r).status
        })
        .collect()
}

/// Calls of `command` the server counted (`INFO commandstats`).
fn calls(server: &Server, command: &str) -> u64 {
    let redis::Value::BulkString(info) = server.cmd(&["INFO", "commandstats"]) else {
        panic!("INFO answers a bulk string");
    };
    let info = String::from_utf8(info).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[test]
fn the_script_runs_as_a_function_and_is_loaded_again_when_the_server_lost_it() {
    let server = Server::start();
    let g = guard(&server.url(), "fn:", 5);
    assert_eq!(statuses(&g, 2), [200, 200]);
    assert!(calls(&server, "fcall") >= 2, "FCALL is used");
    assert_eq!(calls(&server, "evalsha"), 0);
    server.cmd(&["FUNCTION", "FLUSH"]);
    assert_eq!(
        statuses(&g, 4),
        [200, 200, 200, 429],
        "one budget throughout"
    );
    assert_eq!(metric(&g, "mcpguard_store_errors_total"), 0.0);
    assert_eq!(calls(&server, "evalsha"), 0, "loaded again, not replaced");
}

#[test]
fn a_server_without_fcall_gets_the_same_decisions_through_evalsha() {
    let server = Server::start_with(support::free_port(), &["--rename-command", "FCALL", ""]);
    let g = guard(&server.url(), "nofn:", 3);
    assert_eq!(statuses(&g, 4), [200, 200, 200, 429]);
    assert!(calls(&server, "evalsha") >= 4);
    assert_eq!(metric(&g, "mcpguard_store_errors_total"), 0.0);
}

#[test]
fn a_user_the_acl_does_not_let_load_functions_gets_the_same_decisions_through_evalsha() {
    let server = Server::start();
    server.cmd(&[
        "ACL",
        "SETUSER",
        "limited",
        "on",
        "nopass",
        "~*",
        "&*",
        "+@all",
        "-function",
    ]);
    let url = format!("redis://limited:any@127.0.0.1:{}/0", server.port);
    let g = guard(&url, "acl:", 3);
    assert_eq!(statuses(&g, 4), [200, 200, 200, 429]);
    assert!(calls(&server, "evalsha") >= 4);
    assert_eq!(calls(&server, "fcall"), 0);
    assert_eq!(metric(&g, "mcpguard_store_errors_total"), 0.0);
}
