//! The C API's cost over the Rust API, measured in the same run:
//! `mcpguard_guard_authorize` + reading the decision + `mcpguard_decision_free`
//! against `Guard::authorize` + reading the same fields, with a cached token
//! (the sample developer token of examples/, the rate limit set high enough
//! never to deny). Target: the C path at most 1.3× the Rust path.
//!
//! The same for the HTTP entry point: `mcpguard_guard_authorize_http` for an
//! allowed single `tools/call` (headers and body as a gateway hands them
//! over) + reading the action and headers + `mcpguard_http_decision_free`,
//! against `Guard::authorize_http`; same target.
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
use mcpguard::guard::{
    Guard, HttpAction, HttpBody, HttpDecision, HttpOptions, HttpRequest, Request,
};
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

/// What a C gateway does per request: authorize_http, read the action and
/// the headers to add, free.
fn c_http_path(
    guard: *const mcpguard_guard,
    options: *const mcpguard_http_options,
    request: &mcpguard_http_request,
) -> usize {
    let mut d = null_mut();
    let mut action = mcpguard_http_action::Pass;
    let (mut count, mut bytes) = (0usize, 0usize);
    let empty = mcpguard_str {
        data: std::ptr::null(),
        len: 0,
    };
    // SAFETY: the guard and options are live, the request's memory outlives
    // the call, every out is writable, and `d` is freed once at the end.
    unsafe {
        mcpguard_guard_authorize_http(guard, options, request, &mut d);
        mcpguard_http_decision_action(d, &mut action);
        mcpguard_http_decision_header_count(d, &mut count);
        for i in 0..count {
            let (mut name, mut value) = (empty, empty);
            mcpguard_http_decision_header(d, i, &mut name, &mut value);
            bytes += name.len + value.len;
        }
        mcpguard_http_decision_free(d);
    }
    action as usize + bytes
}

/// The same reads through the Rust API.
fn rust_http_path(guard: &Guard, options: &HttpOptions, request: &HttpRequest<'_>) -> usize {
    let d: HttpDecision = guard.authorize_http(request, options);
    let (action, headers) = match &d.action {
        HttpAction::Respond(r) => (0, &r.headers),
        HttpAction::Forward { headers } => (1, headers),
        HttpAction::Pass => return 2,
    };
    action
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
}

/// Each path's best per-call time over interleaved rounds, and the ratio.
fn interleaved(rust: &dyn Fn() -> usize, c: &dyn Fn() -> usize) -> (f64, f64, f64) {
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
        best_rust = best_rust.min(per_call(rust));
        best_c = best_c.min(per_call(c));
    }
    (best_rust, best_c, best_c / best_rust)
}

const CALL: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/tmp/a"}}}"#;

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

    let (best_rust, best_c, ratio) =
        interleaved(&|| rust_path(&rust_guard, &rust_request), &|| {
            c_path(c_guard.guard, &c_request)
        });
    println!(
        "C API vs Rust API (same run, best of 10 interleaved rounds of 50000): \
         Rust {:.0} ns, C {:.0} ns, ratio {ratio:.3} (target <= {TARGET_RATIO})",
        best_rust * 1e9,
        best_c * 1e9
    );

    // The HTTP entry point: an allowed tools/call with a cached token.
    let options_json = r#"{"server": "filesystem"}"#;
    let rust_options = HttpOptions::from_json(&serde_json::from_str(options_json).expect("JSON"))
        .expect("options");
    let mut c_options = null_mut();
    // SAFETY: the text outlives the call; out is writable.
    unsafe {
        assert_eq!(
            mcpguard_http_options_new(
                options_json.as_ptr().cast(),
                options_json.len(),
                &mut c_options
            ),
            mcpguard_result::Ok
        );
    }
    let accept: &[u8] = b"application/json, text/event-stream";
    let raw_headers: [(&[u8], &[u8]); 3] = [
        (b"content-type", b"application/json"),
        (b"accept", accept),
        (b"authorization", bearer.as_bytes()),
    ];
    let c_headers: Vec<mcpguard_http_header> = raw_headers
        .iter()
        .map(|(n, v)| mcpguard_http_header {
            name: n.as_ptr(),
            name_len: n.len(),
            value: v.as_ptr(),
            value_len: v.len(),
        })
        .collect();
    let rust_http = HttpRequest {
        headers: &raw_headers,
        peer: Some("203.0.113.7"),
        body: HttpBody::Bytes(CALL),
        ..HttpRequest::new("POST", "/mcp")
    };
    let (method, path, peer) = ("POST", "/mcp", "203.0.113.7");
    let c_http = mcpguard_http_request {
        method: method.as_ptr().cast(),
        method_len: method.len(),
        path: path.as_ptr().cast(),
        path_len: path.len(),
        query: std::ptr::null(),
        query_len: 0,
        headers: c_headers.as_ptr(),
        header_count: c_headers.len(),
        peer: peer.as_ptr().cast(),
        peer_len: peer.len(),
        body_state: mcpguard_http_body::Bytes as u32,
        body: CALL.as_ptr(),
        body_len: CALL.len(),
        server: std::ptr::null(),
        server_len: 0,
        key: std::ptr::null(),
        key_len: 0,
        cost: 0,
    };
    // Both forward the call, with the same headers.
    let rust_http_path = |g: &Guard| rust_http_path(g, &rust_options, &rust_http);
    assert_eq!(
        rust_http_path(&rust_guard),
        c_http_path(c_guard.guard, c_options, &c_http)
    );
    assert!(matches!(
        rust_guard.authorize_http(&rust_http, &rust_options).action,
        HttpAction::Forward { .. }
    ));
    let mut group = c.benchmark_group("authorize_http_tools_call");
    group.bench_function("rust_Guard_authorize_http", |b| {
        b.iter(|| rust_http_path(black_box(&rust_guard)))
    });
    group.bench_function("c_mcpguard_guard_authorize_http", |b| {
        b.iter(|| c_http_path(black_box(c_guard.guard), c_options, black_box(&c_http)))
    });
    group.finish();
    let (http_rust, http_c, http_ratio) = interleaved(&|| rust_http_path(&rust_guard), &|| {
        c_http_path(c_guard.guard, c_options, &c_http)
    });
    println!(
        "C HTTP entry point vs Rust (same run, best of 10 interleaved rounds of 50000): \
         Rust {:.0} ns, C {:.0} ns, ratio {http_ratio:.3} (target <= {TARGET_RATIO})",
        http_rust * 1e9,
        http_c * 1e9
    );
    // SAFETY: freed once, here.
    unsafe { mcpguard_http_options_free(c_options) };
    c.final_summary();

    if ratio > TARGET_RATIO || http_ratio > TARGET_RATIO {
        eprintln!("a C path is more than {TARGET_RATIO}x its Rust path");
        std::process::exit(1);
    }
}
