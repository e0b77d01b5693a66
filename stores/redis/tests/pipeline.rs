//! Decisions that await Redis (`Guard::authorize_http_later`) share one
//! pipelined connection, against a real redis-server: exact under
//! concurrency, the same decisions as the pooled path, many checks to a
//! round trip while Redis is busy, the timeout held per check, a lost
//! script reloaded, and recovery after Redis comes back.

mod support;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mcpguard::ManualClock;
use mcpguard::guard::{
    Guard, GuardOptions, HttpAction, HttpBody, HttpDecision, HttpOptions, HttpRequest,
};
use mcpguard::task;
use serde_json::json;
use support::metric;

const BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

fn guard(server: &support::Server, prefix: &str, on_error: &str, limit: u64) -> Guard {
    let rate = json!({ "limit": limit, "window_seconds": 3600 });
    let text = support::config(&server.url(), prefix, on_error, rate);
    mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap()
}

fn request(peer: &str) -> HttpRequest<'_> {
    HttpRequest {
        peer: Some(peer),
        body: HttpBody::Bytes(BODY.as_bytes()),
        ..HttpRequest::new("POST", "/mcp")
    }
}

fn options() -> HttpOptions {
    HttpOptions::new(None)
}

fn status(d: &HttpDecision) -> u16 {
    match &d.action {
        HttpAction::Respond(r) => r.status,
        _ => 200,
    }
}

/// `n` decisions for `peer`, spawned at once from `threads` threads, each
/// finishing wherever its answer arrives; their statuses, and how long the
/// slowest took.
fn spawn_many(g: &Guard, peer: &str, n: usize, threads: usize) -> (Vec<u16>, Duration) {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    thread::scope(|scope| {
        for t in 0..threads {
            let (tx, g, peer) = (tx.clone(), g.clone(), peer.to_string());
            scope.spawn(move || {
                for _ in (t..n).step_by(threads) {
                    let (tx, g, peer) = (tx.clone(), g.clone(), peer.clone());
                    task::spawn(async move {
                        let d = g.authorize_http_later(&request(&peer), &options()).await;
                        tx.send((status(&d), start.elapsed())).unwrap();
                    });
                }
            });
        }
    });
    let answers: Vec<(u16, Duration)> = (0..n)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(10))
                .expect("every decision finishes")
        })
        .collect();
    let slowest = answers.iter().map(|(_, t)| *t).max().unwrap_or_default();
    (answers.into_iter().map(|(s, _)| s).collect(), slowest)
}

/// Redis, asleep for `seconds` (`DEBUG SLEEP` on a connection of its own).
fn redis_sleeps(server: &support::Server, seconds: &str) -> thread::JoinHandle<()> {
    let url = server.url();
    let seconds = seconds.to_string();
    thread::spawn(move || {
        let client = redis::Client::open(url).unwrap();
        let mut c = client.get_connection().unwrap();
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(seconds)
            .query::<()>(&mut c)
            .unwrap();
    })
}

/// Waits (at most 5 s) until a decision for `peer` is allowed again.
fn served_again(g: &Guard, peer: &str) {
    let start = Instant::now();
    while spawn_many(g, peer, 1, 1).0 != [200] {
        assert!(start.elapsed() < Duration::from_secs(5), "never recovered");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn concurrent_decisions_on_one_connection_admit_exactly_the_limit() {
    let server = support::Server::start();
    let g = guard(&server, "pipe-exact:", "fail_closed", 50);
    let (statuses, _) = spawn_many(&g, "203.0.113.5", 200, 4);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 50);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 150);
    assert_eq!(metric(&g, "mcpguard_store_pipelined_total"), 200.0);
    assert_eq!(metric(&g, "mcpguard_store_errors_total"), 0.0);
}

#[test]
fn awaited_and_in_place_decisions_agree_request_by_request() {
    let server = support::Server::start();
    let config = |prefix: &str| {
        support::config(
            &server.url(),
            prefix,
            "fail_closed",
            json!({ "algorithm": "sliding_window", "limit": 3, "window_seconds": 10 }),
        )
    };
    let clock = ManualClock::from_secs_f64(1_767_225_600.5).unwrap();
    let build = |prefix: &str| {
        mcpguard_redis::guard_from_json(&config(prefix), GuardOptions::with_clock(clock.clone()))
            .unwrap()
    };
    let (later, in_place) = (build("pipe-later:"), build("pipe-inplace:"));
    for step in 0..30 {
        let peer = ["203.0.113.1", "203.0.113.2"][step % 2];
        let a = task::block_on(later.authorize_http_later(&request(peer), &options()));
        let b = in_place.authorize_http(&request(peer), &options());
        assert_eq!(status(&a), status(&b), "step {step}");
        let headers = |d: &HttpDecision| match &d.action {
            HttpAction::Respond(r) => r.headers.clone(),
            HttpAction::Forward { headers } => headers.clone(),
            HttpAction::Pass => Vec::new(),
        };
        assert_eq!(headers(&a), headers(&b), "step {step}");
        clock.advance_secs_f64(1.3).unwrap();
    }
    assert_eq!(metric(&later, "mcpguard_store_pipelined_total"), 30.0);
}

#[test]
fn checks_queued_while_redis_is_busy_share_a_round_trip() {
    let server = support::Server::start();
    let g = guard(&server, "pipe-batch:", "fail_closed", 1_000_000);
    // Connected and warm: the library is loaded.
    let (statuses, _) = spawn_many(&g, "203.0.113.6", 1, 1);
    assert_eq!(statuses, [200]);
    let before = metric(&g, "mcpguard_store_round_trips_total");
    // Redis sleeps 60 ms (under the 100 ms timeout): the first check waits
    // behind it, and the rest queue meanwhile.
    let sleeper = redis_sleeps(&server, "0.06");
    thread::sleep(Duration::from_millis(10));
    let (statuses, _) = spawn_many(&g, "203.0.113.6", 100, 4);
    sleeper.join().unwrap();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let trips = metric(&g, "mcpguard_store_round_trips_total") - before;
    assert!(
        trips <= 10.0,
        "100 checks took {trips} round trips; queued checks must share one"
    );
}

#[test]
fn a_redis_slower_than_the_timeout_fails_each_check_within_it_then_recovers() {
    let server = support::Server::start();
    let g = guard(&server, "pipe-slow:", "fail_closed", 1_000_000);
    let (statuses, _) = spawn_many(&g, "203.0.113.7", 1, 1);
    assert_eq!(statuses, [200]);
    let sleeper = redis_sleeps(&server, "0.5");
    thread::sleep(Duration::from_millis(20));
    let (statuses, slowest) = spawn_many(&g, "203.0.113.7", 20, 2);
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    // 100 ms timeout: nothing waits for the whole half second.
    assert!(slowest < Duration::from_millis(400), "{slowest:?}");
    sleeper.join().unwrap();
    // The breaker reopens the way after a second; then checks go through.
    served_again(&g, "203.0.113.7");
}

#[test]
fn a_server_that_lost_the_script_gets_it_again_and_the_check_goes_through() {
    let server = support::Server::start();
    let g = guard(&server, "pipe-flush:", "fail_closed", 1_000_000);
    let (statuses, _) = spawn_many(&g, "203.0.113.8", 3, 1);
    assert_eq!(statuses, [200, 200, 200]);
    server.cmd(&["FUNCTION", "FLUSH"]);
    server.cmd(&["SCRIPT", "FLUSH"]);
    let (statuses, _) = spawn_many(&g, "203.0.113.8", 5, 1);
    assert_eq!(statuses, [200; 5]);
    assert_eq!(metric(&g, "mcpguard_store_errors_total"), 0.0);
}

#[test]
fn a_stopped_redis_fails_checks_by_policy_and_a_restarted_one_serves_again() {
    let port = support::free_port();
    let mut server = support::Server::start_on(port);
    let g = guard(&server, "pipe-restart:", "fail_closed", 1_000_000);
    assert_eq!(spawn_many(&g, "203.0.113.9", 2, 1).0, [200, 200]);
    server.stop();
    let (statuses, slowest) = spawn_many(&g, "203.0.113.9", 10, 2);
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    assert!(slowest < Duration::from_millis(400), "{slowest:?}");
    let _server = support::Server::start_on(port);
    served_again(&g, "203.0.113.9");
}

#[test]
fn a_cluster_checks_in_place_and_is_never_decided_from_memory() {
    let cluster = support::Cluster::start();
    let text = json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": { "issuers": [], "required": false },
        "rate_limit": { "limit": 2, "window_seconds": 3600 },
        "store": { "redis": { "url": cluster.urls()[0], "urls": cluster.urls()[1..],
            "prefix": "pipe-cluster:", "timeout_ms": 1000 } }
    })
    .to_string();
    let g = mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap();
    let from_memory =
        task::block_on(g.authorize_http_later_in_memory(&request("203.0.113.10"), &options()));
    assert!(
        from_memory.is_none(),
        "a cluster's check would wait in place"
    );
    // Awaited where waiting is allowed, it checks in place, exactly.
    let statuses: Vec<u16> = (0..3)
        .map(|_| {
            status(&task::block_on(
                g.authorize_http_later(&request("203.0.113.10"), &options()),
            ))
        })
        .collect();
    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(metric(&g, "mcpguard_store_pipelined_total"), 0.0);
}
