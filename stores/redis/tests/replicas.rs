//! Two processes, each with its own Guard and four threads, hammering one
//! client's key in a real redis-server admit exactly `limit` together, for
//! every algorithm. The test binary re-executes itself as the second
//! process (`MCPGUARD_REDIS_CHILD` tells it what to do).

mod support;

use std::process::Command;

use mcpguard::guard::{Guard, GuardOptions, Request};
use serde_json::json;

/// Above what one process can send (4 × PER_THREAD), so both must take part;
/// with the hour-long window, beyond a 2^53-ns product of limit and window.
const LIMIT: u64 = 2000;
const PER_THREAD: usize = 400;
const CHILD: &str = "MCPGUARD_REDIS_CHILD";

fn guard(url: &str, prefix: &str, algorithm: &str) -> Guard {
    // An hour's window: no refill can add a request while the test runs.
    let rate = json!({ "limit": LIMIT, "window_seconds": 3600, "algorithm": algorithm });
    let text = support::config(url, prefix, "fail_closed", rate);
    mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap()
}

/// Four threads, `PER_THREAD` requests each: how many were allowed.
fn hammer(guard: &Guard) -> u64 {
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut allowed = 0;
                    for _ in 0..PER_THREAD {
                        let mut r = Request::new();
                        r.key = Some("203.0.113.7");
                        let d = guard.authorize(&r);
                        assert!(
                            d.status == 200 || d.status == 429,
                            "unexpected {} {:?}",
                            d.status,
                            d.reason
                        );
                        allowed += u64::from(d.allowed);
                    }
                    allowed
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    })
}

/// The second process: runs only when re-executed by the test below.
#[test]
fn child_process_hammers_when_asked() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let mut parts = spec.splitn(4, ' ');
    let (url, prefix, algorithm, go) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap().parse().unwrap(),
    );
    let g = guard(url, prefix, algorithm);
    wait_until(go);
    println!("ALLOWED={}", hammer(&g));
}

#[test]
fn two_processes_with_four_threads_each_admit_exactly_the_limit_together() {
    let server = support::Server::start();
    for algorithm in ["fixed_window", "sliding_window", "token_bucket"] {
        let prefix = format!("replicas-{algorithm}:");
        let g = guard(&server.url(), &prefix, algorithm);
        // Both processes start hammering at the same instant.
        let go = now_ms() + 700;
        let spec = format!("{} {prefix} {algorithm} {go}", server.url());
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["child_process_hammers_when_asked", "--exact", "--nocapture"])
            .env(CHILD, spec)
            .spawn_and_hammer(&g, go);
        let (mine, theirs) = child;
        assert_eq!(
            mine + theirs,
            LIMIT,
            "{algorithm}: this process admitted {mine}, the other {theirs}"
        );
        assert!(
            theirs > 0 && mine > 0,
            "{algorithm}: both processes took part"
        );
    }
}

trait SpawnAndHammer {
    fn spawn_and_hammer(&mut self, guard: &Guard, go: u64) -> (u64, u64);
}

impl SpawnAndHammer for Command {
    /// Starts the child, hammers here meanwhile, and reads the child's count.
    fn spawn_and_hammer(&mut self, guard: &Guard, go: u64) -> (u64, u64) {
        let child = self
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("cannot re-execute the test binary");
        wait_until(go);
        let mine = hammer(guard);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "the child process failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let theirs = text
            .lines()
            .find_map(|l| l.strip_prefix("ALLOWED="))
            .unwrap_or_else(|| panic!("the child printed no count: {text}"))
            .trim()
            .parse()
            .unwrap();
        (mine, theirs)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn wait_until(ms: u64) {
    let now = now_ms();
    if ms > now {
        std::thread::sleep(std::time::Duration::from_millis(ms - now));
    }
}
