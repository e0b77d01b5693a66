//! A signal that reaches a thread while it waits on Redis does not fail
//! the round trip. Linux interrupts a socket read that has a timeout even
//! under `SA_RESTART`, and redis-rs returns that as an error: before the
//! store held signals off, a child process exiting under Node (SIGCHLD)
//! opened the breaker and refused the next second of requests under
//! `fail_closed`. Against a real redis-server slowed with `DEBUG SLEEP`,
//! with SIGUSR1 sent to the waiting thread every few milliseconds.

#![cfg(unix)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mcpguard::guard::{Guard, GuardOptions, Request};
use nix::sys::pthread::{Pthread, pthread_kill, pthread_self};
use nix::sys::signal::Signal;
use serde_json::json;
use support::metric;

fn guard(server: &support::Server, prefix: &str) -> Guard {
    let config = json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": { "issuers": [{
            "issuer": "https://auth.example.com",
            "jwks": mcpguard_testkit::hmac_jwks()
        }] },
        "rate_limit": { "limit": 100, "window_seconds": 3600 },
        "store": { "redis": { "url": server.url(), "prefix": prefix,
                              "timeout_ms": 3000, "on_error": "fail_closed" } }
    });
    mcpguard_redis::guard_from_json(&config.to_string(), GuardOptions::default()).unwrap()
}

/// Sends SIGUSR1 to `target` every 5 ms until dropped; counts what it sent.
struct Pelter {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Pelter {
    fn start(target: Pthread) -> Pelter {
        let (stop, sent) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (s, n) = (Arc::clone(&stop), Arc::clone(&sent));
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                pthread_kill(target, Signal::SIGUSR1).unwrap();
                n.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(5));
            }
        });
        Pelter {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.sent.load(Ordering::Relaxed)
    }
}

/// Holds redis-server for `secs` from a connection of its own.
fn slow_down(server: &support::Server, secs: &'static str) -> thread::JoinHandle<()> {
    let url = server.url();
    let handle = thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(secs)
            .query::<()>(&mut c)
            .expect("DEBUG SLEEP");
    });
    // Let the sleep begin before the guarded call is sent.
    thread::sleep(Duration::from_millis(50));
    handle
}

#[test]
fn signals_during_a_slow_round_trip_neither_fail_it_nor_open_the_breaker() {
    let server = support::Server::start();
    let g = guard(&server, "signals:");
    let handled = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&handled)).unwrap();
    let token = support::token(json!({ "sub": "alice", "client_id": "signals" }));
    let bearer = format!("Bearer {token}");
    let request = Request {
        authorization: Some(&bearer),
        ..Request::new()
    };
    assert!(g.authorize(&request).allowed);
    // First the revocation epoch's read (due again after a second), then
    // the rate-limit script alone.
    for (what, wait) in [
        ("epoch", Duration::from_millis(1100)),
        ("script", Duration::ZERO),
    ] {
        thread::sleep(wait);
        handled.store(false, Ordering::Relaxed);
        let sleeper = slow_down(&server, "0.3");
        let pelter = Pelter::start(pthread_self());
        let start = Instant::now();
        let decision = g.authorize(&request);
        let took = start.elapsed();
        let sent = pelter.stop();
        sleeper.join().unwrap();
        assert!(decision.allowed, "{what}: {decision:?}");
        assert!(
            took >= Duration::from_millis(150),
            "{what}: Redis was slowed ({took:?})"
        );
        assert!(sent >= 10, "{what}: {sent} signals sent during the call");
        assert!(
            handled.load(Ordering::Relaxed),
            "{what}: the signals were delivered after"
        );
    }
    assert_eq!(metric(&g, "mcpguard_store_errors_total"), 0.0);
    assert_eq!(metric(&g, "mcpguard_store_breaker_opened_total"), 0.0);
}

#[test]
fn the_pipelines_io_thread_blocks_the_asynchronous_signals() {
    use mcpguard::guard::{HttpBody, HttpOptions, HttpRequest};
    let server = support::Server::start();
    let rate = json!({ "limit": 100, "window_seconds": 3600 });
    let config = support::config(&server.url(), "signals-io:", "fail_closed", rate);
    let g = mcpguard_redis::guard_from_json(&config, GuardOptions::default()).unwrap();
    let request = HttpRequest {
        peer: Some("io"),
        body: HttpBody::Bytes(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
        ..HttpRequest::new("POST", "/mcp")
    };
    let options = HttpOptions::new(None);
    let decided = mcpguard::task::block_on(g.authorize_http_later(&request, &options));
    assert!(
        decided.decision.as_ref().is_some_and(|d| d.allowed),
        "{decided:?}"
    );
    assert_eq!(metric(&g, "mcpguard_store_pipelined_total"), 1.0);
    let blocked = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| {
            let dir = t.unwrap().path();
            let name = std::fs::read_to_string(dir.join("comm")).ok()?;
            name.starts_with("mcpguard-redis")
                .then(|| std::fs::read_to_string(dir.join("status")).unwrap())
        })
        .map(|status| {
            let line = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
            u64::from_str_radix(line["SigBlk:".len()..].trim(), 16).unwrap()
        })
        .collect::<Vec<_>>();
    assert_eq!(blocked.len(), 1, "one I/O thread");
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGUSR1,
        Signal::SIGPROF,
    ] {
        let bit = 1u64 << (signal as i32 - 1);
        assert_ne!(blocked[0] & bit, 0, "{signal:?} blocked on the I/O thread");
    }
    assert_eq!(blocked[0] & (1 << (Signal::SIGSEGV as i32 - 1)), 0);
}
