//! The C API's cost over the Rust API, measured in the same run:
//! `mcpguard_guard_authorize` + reading the decision + `mcpguard_decision_free`
//! against `Guard::authorize` + reading the same fields, with a cached token
//! (the sample developer token of examples/, the rate limit set high enough
//! never to deny). Target: the C path at most 1.3× the Rust path.
//!
//! Criterion reports each path; an interleaved timing loop afterwards gives
//! the ratio (best of several rounds, so that a burst of load from other
//! processes does not decide it) and the process fails when it is above 1.3.

use std::hint::black_box;
use std::path::Path;
use std::ptr::null_mut;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mcpguard::ManualClock;
use mcpguard::guard::{Guard, Request};
use mcpguard_c::*;
use serde_json::{Value, json};

const DEMO_TIME: u64 = 1_767_225_600;
const TARGET_RATIO: f64 = 1.3;

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// examples/guard.json with its JWKS inlined and a limit that never denies.
fn config() -> String {
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(examples().join(name)).expect(name))
            .expect(name)
    };
    let mut config = read("guard.json");
    config["auth"]["issuers"][0] = json!({
        "issuer": "https://auth.example.com",
        "jwks": read("jwks.json"),
    });
    config["rate_limit"]["limit"] = json!(4_294_967_295u64);
    config.to_string()
}

fn bearer() -> String {
    let tokens: Value = serde_json::from_str(
        &std::fs::read_to_string(examples().join("tokens.json")).expect("tokens"),
    )
    .expect("tokens");
    format!(
        "Bearer {}",
        tokens["developer"].as_str().expect("developer")
    )
}

struct CGuard {
    guard: *mut mcpguard_guard,
    clock: *mut mcpguard_manual_clock,
}

impl CGuard {
    fn new(config: &str) -> CGuard {
        let mut g = CGuard {
            guard: null_mut(),
            clock: null_mut(),
        };
        // SAFETY: `config` outlives the calls; outs are writable.
        unsafe {
            assert_eq!(
                mcpguard_manual_clock_new(DEMO_TIME as f64, &mut g.clock),
                mcpguard_result::Ok
            );
            assert_eq!(
                mcpguard_guard_new_with_clock(
                    config.as_ptr().cast(),
                    config.len(),
                    g.clock,
                    &mut g.guard
                ),
                mcpguard_result::Ok
            );
        }
        g
    }
}

impl Drop for CGuard {
    fn drop(&mut self) {
        // SAFETY: both came from their constructors and are freed once, here.
        unsafe {
            mcpguard_guard_free(self.guard);
            mcpguard_manual_clock_free(self.clock);
        }
    }
}

/// What a C host does per request: authorize, read status and headers and
/// visible servers, free.
fn c_path(guard: *const mcpguard_guard, request: &mcpguard_request) -> usize {
    let mut d = null_mut();
    let (mut allowed, mut status, mut count, mut servers) = (false, 0u16, 0usize, 0usize);
    let mut bytes = 0;
    let empty = mcpguard_str {
        data: std::ptr::null(),
        len: 0,
    };
    // SAFETY: the guard is live, the request's strings outlive the call, every
    // out is writable, and `d` is freed once at the end.
    unsafe {
        mcpguard_guard_authorize(guard, request, &mut d);
        mcpguard_decision_allowed(d, &mut allowed);
        mcpguard_decision_status(d, &mut status);
        mcpguard_decision_header_count(d, &mut count);
        for i in 0..count {
            let (mut name, mut value) = (empty, empty);
            mcpguard_decision_header(d, i, &mut name, &mut value);
            bytes += name.len + value.len;
        }
        mcpguard_decision_visible_server_count(d, &mut servers);
        mcpguard_decision_free(d);
    }
    usize::from(allowed) + usize::from(status) + bytes + servers
}

/// The same reads through the Rust API.
fn rust_path(guard: &Guard, request: &Request<'_>) -> usize {
    let d = guard.authorize(request);
    let bytes: usize = d.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    usize::from(d.allowed) + usize::from(d.status) + bytes + d.visible_servers.len()
}

fn main() {
    let config = config();
    let bearer = bearer();
    let rust_guard =
        Guard::from_json_with_clock(&config, ManualClock::new(DEMO_TIME)).expect("config");
    let rust_request = Request::new().authorization(&bearer).server("web-search");
    let c_guard = CGuard::new(&config);
    let c_request = mcpguard_request {
        authorization: bearer.as_ptr().cast(),
        authorization_len: bearer.len(),
        server: "web-search".as_ptr().cast(),
        server_len: "web-search".len(),
        tool: std::ptr::null(),
        tool_len: 0,
        filter_kind: mcpguard_filter_kind::None as u32,
        filter: std::ptr::null(),
        filter_len: 0,
        key: std::ptr::null(),
        key_len: 0,
        cost: 1,
    };
    // Both paths agree and are allowed (the token is verified once, then cached).
    assert_eq!(
        rust_path(&rust_guard, &rust_request),
        c_path(c_guard.guard, &c_request)
    );
    assert!(rust_guard.authorize(&rust_request).allowed);

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut group = c.benchmark_group("authorize_cached_token");
    group.bench_function("rust_Guard_authorize", |b| {
        b.iter(|| rust_path(black_box(&rust_guard), black_box(&rust_request)))
    });
    group.bench_function("c_mcpguard_guard_authorize", |b| {
        b.iter(|| c_path(black_box(c_guard.guard), black_box(&c_request)))
    });
    group.finish();
    c.final_summary();

    // Interleaved rounds: each path's best per-call time.
    let per_call = |f: &dyn Fn() -> usize| {
        const N: u32 = 50_000;
        let start = Instant::now();
        for _ in 0..N {
            black_box(f());
        }
        start.elapsed().as_secs_f64() / f64::from(N)
    };
    let (mut best_rust, mut best_c) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..10 {
        best_rust = best_rust.min(per_call(&|| rust_path(&rust_guard, &rust_request)));
        best_c = best_c.min(per_call(&|| c_path(c_guard.guard, &c_request)));
    }
    let ratio = best_c / best_rust;
    println!(
        "C API vs Rust API (same run, best of 10 interleaved rounds of 50000): \
         Rust {:.0} ns, C {:.0} ns, ratio {ratio:.3} (target <= {TARGET_RATIO})",
        best_rust * 1e9,
        best_c * 1e9
    );
    if ratio > TARGET_RATIO {
        eprintln!("the C path is more than {TARGET_RATIO}x the Rust path");
        std::process::exit(1);
    }
}
