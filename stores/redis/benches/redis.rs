//! `authorize` with the Redis store against a bare `EVALSHA` round trip of
//! a trivial script to the same server, in the same run (target: at most
//! 1.2×), and Redis's memory per active client key (`MEMORY USAGE`),
//! printed per algorithm.
//!
//! Besides criterion's figures, the comparison is printed from interleaved
//! rounds (a round of bare `EVALSHA`s, then a round of `authorize`s, one
//! client thread each, on a pooled connection each), so that a load change
//! on a shared machine hits both sides alike; and the server's own time per
//! call (`INFO commandstats`) for each, which separates the script's work
//! on the server from the round trip (the store calls its script as a Redis
//! function, `FCALL`, on this server). Then two client threads: bare
//! `EVALSHA`s against `authorize`, calls per second, for the ceiling any
//! blocking client reaches on this machine. The printed comparisons run
//! twice: as the scheduler places the threads, then with the bench and its
//! redis-server on CPU 0 (see `on_one_cpu`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mcpguard::guard::{Guard, GuardOptions, Request};
use serde_json::json;

fn guard(url: &str, algorithm: &str, prefix: &str) -> Guard {
    // Never denies during the bench (a billion an hour), and keys live for
    // the whole run (a token bucket's key lives as long as its debt).
    let rate = json!({ "limit": 1_000_000_000, "window_seconds": 3600, "algorithm": algorithm });
    let text = support::config(url, prefix, "fail_closed", rate);
    mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap()
}

/// Mean time per call of `f` over `n` calls.
fn mean(n: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed() / n
}

/// The server's mean µs per call of `command` (`evalsha`, `fcall`) over
/// `n` calls of `f`.
fn server_micros(conn: &mut redis::Connection, command: &str, n: u32, mut f: impl FnMut()) -> f64 {
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query::<()>(conn)
        .unwrap();
    for _ in 0..n {
        f();
    }
    let info: String = redis::cmd("INFO").arg("commandstats").query(conn).unwrap();
    let line = info
        .lines()
        .find(|l| l.starts_with(&format!("cmdstat_{command}:")))
        .unwrap_or_else(|| panic!("{command} in commandstats"));
    line.split(',')
        .find_map(|f| f.strip_prefix("usec_per_call="))
        .and_then(|v| v.parse().ok())
        .expect("usec_per_call")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let server = support::Server::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let mut stats = client.get_connection().unwrap();
    let trivial = redis::Script::new("return 1");
    let mut request = Request::new();
    request.key = Some("203.0.113.7");
    let guards: Vec<(&str, Guard)> = ["fixed_window", "sliding_window", "token_bucket"]
        .into_iter()
        .map(|a| (a, guard(&server.url(), a, &format!("bench-{a}:"))))
        .collect();
    for (_, g) in &guards {
        assert!(g.authorize(&request).allowed);
    }

    let pinned = std::env::var_os(PINNED).is_some();
    if !pinned {
        let mut group = c.benchmark_group("redis");
        group.bench_function("evalsha_trivial_script", |b| {
            b.iter(|| trivial.invoke::<i64>(&mut conn).unwrap())
        });
        for (algorithm, g) in &guards {
            group.bench_function(format!("authorize_{algorithm}"), |b| {
                b.iter(|| assert!(g.authorize(&request).allowed))
            });
        }
        group.finish();
    }

    let mut bare = || {
        trivial.invoke::<i64>(&mut conn).unwrap();
    };
    let server_bare = server_micros(&mut stats, "evalsha", 20_000, &mut bare);
    let placement = if pinned {
        "everything on CPU 0"
    } else {
        "as the scheduler places it"
    };
    println!(
        "redis: one client thread each, same server, same run, {placement}; median of 15 \
         interleaved rounds of 2000 calls\n  server time per EVALSHA (INFO commandstats): \
         trivial script {server_bare:.2} µs"
    );
    for (algorithm, g) in &guards {
        let mut check = || assert!(g.authorize(&request).allowed);
        let server_ours = server_micros(&mut stats, "fcall", 20_000, &mut check);
        let (mut a, mut b, mut r, mut extra) = (vec![], vec![], vec![], vec![]);
        for _ in 0..15 {
            let t_bare = mean(2000, &mut bare).as_secs_f64() * 1e6;
            let t_ours = mean(2000, &mut check).as_secs_f64() * 1e6;
            a.push(t_ours);
            b.push(t_bare);
            r.push(t_ours / t_bare);
            extra.push(t_ours - t_bare);
        }
        // What the call adds to a bare round trip (the script's server time
        // and the client's work) does not grow with the network's latency:
        // the ratio is at most 1.2× for every bare round trip from five
        // times that extra up. Loopback is this bench's worst case.
        let extra = median(&mut extra);
        println!(
            "  authorize ({algorithm}) {:.2} µs vs bare EVALSHA {:.2} µs: {:.2}× (target ≤ 1.2×); \
             server time per call {server_ours:.2} µs; the {extra:.2} µs it adds is within 1.2× \
             from a bare round trip of {:.0} µs up",
            median(&mut a),
            median(&mut b),
            median(&mut r),
            5.0 * extra
        );
    }

    two_threads(&client, &trivial, &guards[0].1, &request);
    if pinned {
        return;
    }

    for algorithm in ["fixed_window", "sliding_window", "token_bucket"] {
        let prefix = format!("mem-{algorithm}:");
        // One request per key at 10 an hour: every key stays live (a token
        // bucket's key lives only while it has debt: 6 minutes here).
        let rate = json!({ "limit": 10, "window_seconds": 3600, "algorithm": algorithm });
        let text = support::config(&server.url(), &prefix, "fail_closed", rate);
        let g = mcpguard_redis::guard_from_json(&text, GuardOptions::default()).unwrap();
        let keys = 1000;
        for i in 0..keys {
            let key = format!("client-{i}");
            let mut r = Request::new();
            r.key = Some(&key);
            assert!(g.authorize(&r).allowed);
        }
        let names: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query(&mut stats)
            .unwrap();
        assert_eq!(names.len(), keys, "one Redis key per active client");
        let total: u64 = names
            .iter()
            .map(|k| {
                redis::cmd("MEMORY")
                    .arg("USAGE")
                    .arg(k)
                    .query::<u64>(&mut stats)
                    .unwrap()
            })
            .sum();
        println!(
            "redis memory per active client key ({algorithm}): {} bytes (MEMORY USAGE, mean of {keys}; key name {} bytes)",
            total / keys as u64,
            names[0].len()
        );
    }
    println!(
        "{}",
        guards[0]
            .1
            .metrics_text()
            .lines()
            .filter(|l| l.starts_with("mcpguard_store_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(server);
    on_one_cpu();
}

/// Set in the run on one CPU.
const PINNED: &str = "MCPGUARD_BENCH_PINNED";

/// The comparisons again, with this bench and its redis-server on CPU 0
/// (`taskset`, Linux): on this VM a wakeup from one vCPU to another costs
/// tens of microseconds, more than the round trip itself on one vCPU, so
/// the first run measures mostly the hypervisor and this one what each
/// call makes the client and Redis do.
fn on_one_cpu() {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let run = std::process::Command::new("taskset")
        .args(["-c", "0"])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(PINNED, "1")
        .status();
    match run {
        Ok(status) => assert!(status.success(), "the run on CPU 0 failed: {status}"),
        Err(e) => println!("(not run on one CPU: {e})"),
    }
}

/// Calls per second of two threads calling `f` one call after the other
/// for `run`, each with what `setup` gives it (its own connection).
fn per_second<T>(run: Duration, setup: impl Fn() -> T + Sync, f: impl Fn(&mut T) + Sync) -> f64 {
    let end = Instant::now() + run;
    let calls: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut state = setup();
                    let mut n = 0u64;
                    while Instant::now() < end {
                        f(&mut state);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    calls as f64 / run.as_secs_f64()
}

/// What a synchronous client can do with two threads on this machine: bare
/// `EVALSHA`s of the trivial script (each thread its own connection), and
/// `authorize`s through one Guard, in interleaved rounds. The bare figure
/// is the ceiling of any blocking client here, mcpguard's or not: the one
/// the Node and Python bindings' two-thread throughput is held against.
fn two_threads(client: &redis::Client, trivial: &redis::Script, g: &Guard, request: &Request<'_>) {
    let run = Duration::from_millis(1000);
    let (mut bare, mut ours) = (vec![], vec![]);
    for _ in 0..5 {
        bare.push(per_second(
            run,
            || client.get_connection().unwrap(),
            |conn| {
                trivial.invoke::<i64>(conn).unwrap();
            },
        ));
        ours.push(per_second(
            run,
            || (),
            |()| assert!(g.authorize(request).allowed),
        ));
    }
    println!(
        "redis: two client threads, median of 5 interleaved rounds of 1 s: bare EVALSHA {:.1}k calls/s \
         (a blocking client's ceiling here), authorize (fixed_window) {:.1}k calls/s",
        median(&mut bare) / 1000.0,
        median(&mut ours) / 1000.0
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
