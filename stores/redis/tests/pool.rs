//! The connection pool keeps `pool_size` connections: more threads than
//! that wait for one to come back instead of opening (and closing) one of
//! their own per request.

mod support;

use mcpguard::guard::{Guard, GuardOptions, Request};
use serde_json::json;

/// Connections the server has accepted since it started, this question's
/// own included (each `Server::cmd` opens one).
fn connections_received(server: &support::Server) -> u64 {
    let redis::Value::BulkString(info) = server.cmd(&["INFO", "stats"]) else {
        panic!("INFO answers a bulk string")
    };
    let info = String::from_utf8(info).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .expect("INFO stats counts connections")
        .trim()
        .parse()
        .unwrap()
}

/// A Guard on the Redis at `url` with `pool_size` connections and a
/// `timeout_ms` timeout (a limit never reached), warmed up by one request.
fn pooled_guard(url: &str, prefix: &str, pool_size: u32, timeout_ms: u32) -> Guard {
    let rate = json!({ "limit": 1_000_000, "window_seconds": 3600 });
    let text = support::config(url, prefix, "fail_closed", rate)
        .replace("\"pool_size\":8", &format!("\"pool_size\":{pool_size}"))
        .replace(
            "\"timeout_ms\":100",
            &format!("\"timeout_ms\":{timeout_ms}"),
        );
    assert!(
        text.contains(&format!("\"pool_size\":{pool_size}"))
            && text.contains(&format!("\"timeout_ms\":{timeout_ms}")),
        "{text}"
    );
    let guard = mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap();
    let mut r = Request::new();
    r.key = Some("client");
    assert!(guard.authorize(&r).allowed);
    guard
}

/// How many of `per_thread` requests from each of `threads` threads, all
/// for one client, `guard` refuses.
fn refused_of(guard: &Guard, threads: usize, per_thread: usize) -> usize {
    let refused = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut r = Request::new();
                r.key = Some("client");
                for _ in 0..per_thread {
                    if !guard.authorize(&r).allowed {
                        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    refused.into_inner()
}

#[test]
fn eight_threads_on_a_pool_of_two_share_two_connections_and_every_request_is_answered() {
    let server = support::Server::start();
    let guard = pooled_guard(&server.url(), "pool:", 2, 100);
    let before = connections_received(&server);
    let refused = refused_of(&guard, 8, 400);
    // Less this question's own connection: the pool's second one (the
    // warm-up's is still idle), and a few more at most should a thread wait
    // out the 100 ms timeout on a busy machine. The earlier pool opened one
    // whenever a thread found none idle: 18 for half as many requests.
    let opened = connections_received(&server) - before - 1;
    assert!(opened <= 4, "{opened} connections opened for 3200 requests");
    assert_eq!(refused, 0, "a request waited past the timeout");
}

/// A TCP proxy to `upstream` that holds every reply `delay` before passing
/// it on: a Redis whose round trips are slow without being dead. Runs until
/// the test process ends; returns its port.
fn slow_proxy(upstream: u16, delay: std::time::Duration) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = c_read.read(&mut buf) {
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_write.shutdown(std::net::Shutdown::Both);
            });
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s_read.read(&mut buf) {
                    std::thread::sleep(delay);
                    if c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_write.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    port
}

#[test]
fn a_request_that_waits_out_the_timeout_for_a_pooled_connection_opens_its_own_and_is_answered() {
    let server = support::Server::start();
    // Every round trip takes 60 ms; the timeout is 250 ms (room for a
    // round trip on a busy machine); one pooled connection for eight
    // threads: a thread fifth in line would wait 240 ms and more. It opens
    // a connection of its own instead of failing.
    let proxy = slow_proxy(server.port, std::time::Duration::from_millis(60));
    let url = format!("redis://127.0.0.1:{proxy}/0");
    let guard = pooled_guard(&url, "slow:", 1, 250);
    let before = connections_received(&server);
    let refused = refused_of(&guard, 8, 5);
    assert_eq!(
        refused, 0,
        "a request failed for want of a pooled connection"
    );
    let opened = connections_received(&server) - before - 1;
    assert!(
        opened >= 1,
        "nobody waited out the timeout: {opened} opened"
    );
}
