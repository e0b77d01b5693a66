//! The HTTP entry point through the C functions: what a gateway gets for
//! the per-request overrides (server, key, cost), header bytes that are not
//! text, the listing filter's 502; and a C caller's mistakes with it, each
//! a result code and a message, never a crash: NULL for every pointer
//! argument, a NULL field with a length, invalid UTF-8 where text is
//! required, zero-length arrays, a bad `body_state`, indexes past the end,
//! refused options. Also `mcpguard_last_error_info`: the core's
//! classification of every error the C API reports.

#[macro_use]
mod common;

use std::ffi::{CStr, c_char};
use std::ptr::{null, null_mut};

use common::{arg, last_error, no_str, text};
use mcpguard_c::*;
use serde_json::{Value, json};

const DEMO_TIME: f64 = 1_767_225_600.0;

fn examples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn token(name: &str) -> String {
    let tokens: Value = serde_json::from_str(
        &std::fs::read_to_string(examples().join("tokens.json")).expect("tokens.json"),
    )
    .expect("tokens.json is JSON");
    tokens[name].as_str().expect("a sample token").to_string()
}

/// A guard on examples/guard.json at the sample tokens' time, and options
/// for an endpoint serving `filesystem`; freed through the C API.
struct Gateway {
    clock: *mut mcpguard_manual_clock,
    guard: *mut mcpguard_guard,
    options: *mut mcpguard_http_options,
}

impl Gateway {
    /// examples/guard.json with the rate limit keyed by the host's
    /// request key (the JWKS inlined, as the file's folder is not known).
    fn keyed_by_request(options: &str) -> Gateway {
        let read = |name: &str| -> Value {
            serde_json::from_str(&std::fs::read_to_string(examples().join(name)).expect(name))
                .expect("JSON")
        };
        let mut config = read("guard.json");
        config["auth"]["issuers"][0] = json!({
            "issuer": "https://auth.example.com",
            "jwks": read("jwks.json"),
        });
        config["rate_limit"]["key"] = json!("request_key");
        let config = config.to_string();
        let (cp, cn) = arg(&config);
        // SAFETY: the configuration is live for the call and `out` writable.
        Gateway::build(options, |clock, out| unsafe {
            mcpguard_guard_new_with_clock(cp, cn, clock, out)
        })
    }

    fn new(options: &str) -> Gateway {
        let path = examples().join("guard.json").to_string_lossy().into_owned();
        let (pp, pn) = arg(&path);
        // SAFETY: the path is live for the call and `out` writable.
        Gateway::build(options, |clock, out| unsafe {
            mcpguard_guard_from_file_with_clock(pp, pn, clock, out)
        })
    }

    /// A manual clock, the guard `make` builds on it, and `options`.
    fn build(
        options: &str,
        make: impl FnOnce(*const mcpguard_manual_clock, *mut *mut mcpguard_guard) -> mcpguard_result,
    ) -> Gateway {
        let mut gw = Gateway {
            clock: null_mut(),
            guard: null_mut(),
            options: null_mut(),
        };
        let (op, on) = arg(options);
        // SAFETY: every argument is live for the call and every out writable.
        unsafe {
            assert_eq!(
                mcpguard_manual_clock_new(DEMO_TIME, &mut gw.clock),
                mcpguard_result::Ok
            );
        }
        assert_eq!(
            make(gw.clock, &mut gw.guard),
            mcpguard_result::Ok,
            "{}",
            last_error()
        );
        // SAFETY: as above.
        unsafe {
            assert_eq!(
                mcpguard_http_options_new(op, on, &mut gw.options),
                mcpguard_result::Ok,
                "{}",
                last_error()
            );
        }
        gw
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // SAFETY: each came from its constructor and is freed once, here.
        unsafe {
            mcpguard_http_options_free(self.options);
            mcpguard_guard_free(self.guard);
            mcpguard_manual_clock_free(self.clock);
        }
    }
}

/// A request whose fields borrow from Rust values (alive while it is used).
fn request(method: &str, path: &str) -> mcpguard_http_request {
    let (m, mn) = arg(method);
    let (p, pn) = arg(path);
    mcpguard_http_request {
        method: m,
        method_len: mn,
        path: p,
        path_len: pn,
        query: null(),
        query_len: 0,
        headers: null(),
        header_count: 0,
        peer: null(),
        peer_len: 0,
        body_state: mcpguard_http_body::None as u32,
        body: null(),
        body_len: 0,
        server: null(),
        server_len: 0,
        key: null(),
        key_len: 0,
        cost: 0,
    }
}

fn header(name: &[u8], value: &[u8]) -> mcpguard_http_header {
    mcpguard_http_header {
        name: name.as_ptr(),
        name_len: name.len(),
        value: value.as_ptr(),
        value_len: value.len(),
    }
}

fn with_body(mut r: mcpguard_http_request, body: &[u8]) -> mcpguard_http_request {
    r.body_state = mcpguard_http_body::Bytes as u32;
    (r.body, r.body_len) = (body.as_ptr(), body.len());
    r
}

fn with_headers(mut r: mcpguard_http_request, h: &[mcpguard_http_header]) -> mcpguard_http_request {
    (r.headers, r.header_count) = (h.as_ptr(), h.len());
    r
}

fn no_bytes() -> mcpguard_bytes {
    mcpguard_bytes {
        data: null(),
        len: 0,
    }
}

fn bytes_text(b: mcpguard_bytes) -> String {
    assert!(!b.data.is_null(), "byte outputs are never NULL");
    // SAFETY: the library wrote `len` readable bytes at `data`, owned by an
    // object the caller still holds.
    String::from_utf8(unsafe { std::slice::from_raw_parts(b.data, b.len) }.to_vec())
        .expect("these bodies are UTF-8")
}

/// What a decision says, read through every accessor.
#[derive(Debug)]
struct Seen {
    action: mcpguard_http_action,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    filters: bool,
    inner: Option<Value>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

fn read(d: *const mcpguard_http_decision) -> Seen {
    let mut action = mcpguard_http_action::Pass;
    let (mut status, mut count, mut filters) = (0u16, 0usize, false);
    let (mut body, mut inner) = (no_bytes(), null_mut());
    // SAFETY: `d` is live; every out is writable.
    unsafe {
        assert_eq!(
            mcpguard_http_decision_action(d, &mut action),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_http_decision_status(d, &mut status),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_http_decision_body(d, &mut body),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_http_decision_filters_response(d, &mut filters),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_http_decision_header_count(d, &mut count),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_http_decision_decision(d, &mut inner),
            mcpguard_result::Ok
        );
    }
    let headers = (0..count)
        .map(|i| {
            let (mut n, mut v) = (no_str(), no_str());
            // SAFETY: as above; `i` is in range.
            assert_eq!(
                unsafe { mcpguard_http_decision_header(d, i, &mut n, &mut v) },
                mcpguard_result::Ok
            );
            (text(n), text(v))
        })
        .collect();
    let inner = (!inner.is_null()).then(|| {
        let mut json = null_mut();
        // SAFETY: `inner` is live and freed once, here; out is writable.
        unsafe {
            assert_eq!(
                mcpguard_decision_to_json(inner, &mut json),
                mcpguard_result::Ok
            );
            mcpguard_decision_free(inner);
        }
        serde_json::from_str(&common::take(json)).expect("decision JSON")
    });
    Seen {
        action,
        status,
        headers,
        body: bytes_text(body),
        filters,
        inner,
    }
}

/// Decides `r` and reads the decision.
fn decide(gw: &Gateway, r: &mcpguard_http_request) -> Seen {
    let mut d = null_mut();
    // SAFETY: the request's memory is alive for the call; out is writable.
    let result = unsafe { mcpguard_guard_authorize_http(gw.guard, gw.options, r, &mut d) };
    assert_eq!(result, mcpguard_result::Ok, "{}", last_error());
    let seen = read(d);
    // SAFETY: freed once, here.
    unsafe { mcpguard_http_decision_free(d) };
    seen
}

fn last_info() -> Value {
    // SAFETY: mcpguard_last_error_info returns a NUL-terminated thread-local string.
    let text = unsafe { CStr::from_ptr(mcpguard_last_error_info()) }
        .to_str()
        .expect("UTF-8");
    serde_json::from_str(text).expect("last_error_info is JSON")
}

const CALL_READ: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{}}}"#;

#[test]
fn the_host_key_overrides_the_peer_as_the_rate_limit_key() {
    let gw = Gateway::keyed_by_request(r#"{"server": "filesystem"}"#);
    let bearer = format!("Bearer {}", token("developer"));
    let h = [header(b"authorization", bearer.as_bytes())];
    let remaining = |peer: &str, key: Option<&str>| -> u64 {
        let mut r = with_headers(with_body(request("POST", "/mcp"), CALL_READ), &h);
        (r.peer, r.peer_len) = arg(peer);
        if let Some(k) = key {
            (r.key, r.key_len) = arg(k);
        }
        let seen = decide(&gw, &r);
        seen.inner.expect("a Guard decision")["rate_limit"]["remaining"]
            .as_u64()
            .expect("remaining")
    };
    assert_eq!(remaining("198.51.100.1", None), 99);
    assert_eq!(remaining("198.51.100.1", None), 98);
    assert_eq!(remaining("198.51.100.2", None), 99, "the peer is the key");
    assert_eq!(
        remaining("198.51.100.1", Some("tenant-a")),
        99,
        "the host's key replaces the peer"
    );
    assert_eq!(remaining("198.51.100.9", Some("tenant-a")), 98);
}

#[test]
fn the_per_request_server_and_cost_overrides_reach_the_guard() {
    let gw = Gateway::new(r#"{"server": "filesystem"}"#);
    let bearer = format!("Bearer {}", token("developer"));
    let h = [header(b"authorization", bearer.as_bytes())];
    let base = with_headers(with_body(request("POST", "/mcp"), CALL_READ), &h);
    let remaining = |seen: &Seen| -> u64 {
        seen.inner.as_ref().expect("a Guard decision")["rate_limit"]["remaining"]
            .as_u64()
            .expect("remaining")
    };

    // cost 0 is the options' cost (1); a cost of 5 is charged as 5.
    let first = decide(&gw, &base);
    assert_eq!(first.action, mcpguard_http_action::Forward);
    let mut costly = base;
    costly.cost = 5;
    let second = decide(&gw, &costly);
    assert_eq!(remaining(&first) - remaining(&second), 5);

    // The host's routing may name another server than the options': the
    // developer may call tools of `web-search`, and an unconfigured server
    // is refused.
    let (sp, sn) = arg("web-search");
    let mut web = base;
    (web.server, web.server_len) = (sp, sn);
    let seen = decide(&gw, &web);
    assert_eq!(seen.action, mcpguard_http_action::Forward, "{seen:?}");
    let (sp, sn) = arg("no-such-server");
    let mut unknown = base;
    (unknown.server, unknown.server_len) = (sp, sn);
    let seen = decide(&gw, &unknown);
    assert_eq!(seen.action, mcpguard_http_action::Respond);
    assert_eq!(seen.status, 403, "{seen:?}");
}

#[test]
fn header_values_are_bytes_and_a_non_text_authorization_is_a_401() {
    let gw = Gateway::new(r#"{"server": "filesystem"}"#);
    let h = [header(b"Authorization", b"Bearer \xff\xfe")];
    let seen = decide(&gw, &with_headers(request("GET", "/mcp"), &h));
    assert_eq!(
        (seen.action, seen.status),
        (mcpguard_http_action::Respond, 401)
    );
    assert_eq!(seen.json()["error"], "invalid_token");
    assert!(
        seen.header("www-authenticate")
            .is_some_and(|c| c.contains("resource_metadata=")),
        "{seen:?}"
    );
    let inner = seen.inner.expect("the Guard refused it");
    assert_eq!(inner["reason"], "malformed");
}

#[test]
fn zero_length_arrays_and_empty_bodies_are_ordinary_requests() {
    let gw = Gateway::new(r#"{"server": "filesystem"}"#);
    // No headers: NULL or not, a count of 0 is an empty list.
    let none = decide(&gw, &request("GET", "/mcp"));
    let empty: [mcpguard_http_header; 0] = [];
    let mut r = request("GET", "/mcp");
    r.headers = empty.as_ptr();
    let also_none = decide(&gw, &r);
    assert_eq!((none.status, also_none.status), (401, 401));
    // An empty name or value may be NULL with length 0.
    let h = [mcpguard_http_header {
        name: b"x-empty".as_ptr(),
        name_len: 7,
        value: null(),
        value_len: 0,
    }];
    assert_eq!(
        decide(&gw, &with_headers(request("GET", "/mcp"), &h)).status,
        401
    );
    // A POST body of zero bytes (NULL, 0) is read, and is no JSON-RPC message.
    let bearer = format!("Bearer {}", token("developer"));
    let h = [header(b"authorization", bearer.as_bytes())];
    let mut r = with_headers(request("POST", "/mcp"), &h);
    r.body_state = mcpguard_http_body::Bytes as u32;
    let seen = decide(&gw, &r);
    assert_eq!(seen.status, 400, "{seen:?}");
    assert_eq!(seen.json()["error"], "invalid_request");
    // Too large and unavailable bodies: the core's 400 and 500.
    r.body_state = mcpguard_http_body::TooLarge as u32;
    assert_eq!(decide(&gw, &r).status, 400);
    r.body_state = mcpguard_http_body::Unavailable as u32;
    let seen = decide(&gw, &r);
    assert_eq!(seen.status, 500);
    assert!(
        seen.inner.is_none(),
        "the host's mistake gets no Guard decision"
    );
    r.body_state = mcpguard_http_body::Failed as u32;
    let seen = decide(&gw, &r);
    assert_eq!(seen.status, 400, "{seen:?}");
    assert_eq!(seen.json()["error"], "invalid_request");
}

#[test]
fn an_unreadable_listing_response_is_replaced_by_a_502() {
    let gw = Gateway::new(r#"{"server": "filesystem"}"#);
    let bearer = format!("Bearer {}", token("developer"));
    let h = [header(b"authorization", bearer.as_bytes())];
    let list = br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;
    let r = with_headers(with_body(request("POST", "/mcp"), list), &h);
    let mut d = null_mut();
    // SAFETY: the request's memory is alive; out is writable.
    unsafe {
        assert_eq!(
            mcpguard_guard_authorize_http(gw.guard, gw.options, &r, &mut d),
            mcpguard_result::Ok
        );
    }
    assert!(read(d).filters);
    let (cp, cn) = arg("application/json");
    let filter = |body: &[u8]| -> (u16, Vec<(String, String)>, String) {
        let mut resp = null_mut();
        let (mut status, mut count, mut b) = (0u16, 0usize, no_bytes());
        // SAFETY: every argument is live; outs are writable.
        unsafe {
            assert_eq!(
                mcpguard_http_decision_filter_response(
                    d,
                    cp,
                    cn,
                    body.as_ptr(),
                    body.len(),
                    &mut resp
                ),
                mcpguard_result::Ok
            );
            mcpguard_http_response_status(resp, &mut status);
            mcpguard_http_response_header_count(resp, &mut count);
            mcpguard_http_response_body(resp, &mut b);
        }
        let headers = (0..count)
            .map(|i| {
                let (mut n, mut v) = (no_str(), no_str());
                // SAFETY: `resp` is live; `i` is in range.
                unsafe { mcpguard_http_response_header(resp, i, &mut n, &mut v) };
                (text(n), text(v))
            })
            .collect();
        let body = bytes_text(b);
        // SAFETY: freed once, here.
        unsafe { mcpguard_http_response_free(resp) };
        (status, headers, body)
    };
    let (status, headers, body) = filter(b"{not json");
    assert_eq!(status, 502);
    assert!(headers.contains(&("Content-Length".into(), body.len().to_string())));
    assert!(body.contains("server_error"), "{body}");
    let listing = br#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"read_file"},{"name":"write_file"}]}}"#;
    let (status, headers, body) = filter(listing);
    assert_eq!((status, headers.len()), (0, 0));
    assert!(
        body.contains("read_file") && !body.contains("write_file"),
        "{body}"
    );
    // SAFETY: freed once, here.
    unsafe { mcpguard_http_decision_free(d) };
}

#[test]
fn null_for_every_pointer_argument_of_the_http_functions_is_refused() {
    let gw = Gateway::new(r#"{"server": "filesystem"}"#);
    let (g, o) = (gw.guard, gw.options);
    let r = request("GET", "/mcp");
    let mut d = null_mut();
    // SAFETY: every argument is live; out is writable.
    unsafe {
        assert_eq!(
            mcpguard_guard_authorize_http(g, o, &r, &mut d),
            mcpguard_result::Ok
        );
    }
    let (mut s, mut v) = (no_str(), no_str());
    let (mut n, mut u, mut b) = (0usize, 0u16, false);
    let mut bytes = no_bytes();
    let mut action = mcpguard_http_action::Pass;
    let mut opts = o; // not NULL, so the reset to NULL shows
    let (jp, jn) = arg("{}");
    refused!(
        NullParameter,
        "json",
        mcpguard_http_options_new(null(), 2, &mut opts)
    );
    assert!(opts.is_null());
    refused!(
        NullParameter,
        "out",
        mcpguard_http_options_new(jp, jn, null_mut())
    );

    let mut out = d; // not NULL, so the reset shows
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_authorize_http(null(), o, &r, &mut out)
    );
    assert!(out.is_null());
    refused!(
        NullParameter,
        "options",
        mcpguard_guard_authorize_http(g, null(), &r, &mut out)
    );
    refused!(
        NullParameter,
        "request",
        mcpguard_guard_authorize_http(g, o, null(), &mut out)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_authorize_http(g, o, &r, null_mut())
    );

    refused!(
        NullParameter,
        "decision",
        mcpguard_http_decision_action(null(), &mut action)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_http_decision_action(d, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_http_decision_status(null(), &mut u)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_http_decision_status(d, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_http_decision_header_count(null(), &mut n)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_http_decision_header_count(d, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_http_decision_header(null(), 0, &mut s, &mut v)
    );
    refused!(
        NullParameter,
        "name",
        mcpguard_http_decision_header(d, 0, null_mut(), &mut v)
    );
    refused!(
        NullParameter,
        "value",
        mcpguard_http_decision_header(d, 0, &mut s, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_http_decision_body(null(), &mut bytes)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_http_decision_body(d, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_http_decision_filters_response(null(), &mut b)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_http_decision_filters_response(d, null_mut())
    );
    let mut inner = null_mut();
    refused!(
        NullParameter,
        "decision",
        mcpguard_http_decision_decision(null(), &mut inner)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_http_decision_decision(d, null_mut())
    );

    let mut resp = null_mut();
    refused!(
        NullParameter,
        "decision",
        mcpguard_http_decision_filter_response(null(), null(), 0, null(), 0, &mut resp)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_http_decision_filter_response(d, null(), 0, null(), 0, null_mut())
    );
    refused!(
        NullParameter,
        "content_type is NULL but its length is 4",
        mcpguard_http_decision_filter_response(d, null(), 4, null(), 0, &mut resp)
    );
    refused!(
        NullParameter,
        "body is NULL but its length is 3",
        mcpguard_http_decision_filter_response(d, null(), 0, null(), 3, &mut resp)
    );
    assert!(resp.is_null());
    // A NULL content type and an empty body are absent, not mistakes.
    // SAFETY: `d` is live; out is writable.
    unsafe {
        assert_eq!(
            mcpguard_http_decision_filter_response(d, null(), 0, null(), 0, &mut resp),
            mcpguard_result::Ok
        );
    }
    refused!(
        NullParameter,
        "response",
        mcpguard_http_response_status(null(), &mut u)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_http_response_status(resp, null_mut())
    );
    refused!(
        NullParameter,
        "response",
        mcpguard_http_response_header_count(null(), &mut n)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_http_response_header_count(resp, null_mut())
    );
    refused!(
        NullParameter,
        "response",
        mcpguard_http_response_header(null(), 0, &mut s, &mut v)
    );
    refused!(
        NullParameter,
        "name",
        mcpguard_http_response_header(resp, 0, null_mut(), &mut v)
    );
    refused!(
        NullParameter,
        "response",
        mcpguard_http_response_body(null(), &mut bytes)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_http_response_body(resp, null_mut())
    );
    // A caller's mistake has no classification from the core.
    assert_eq!(last_info(), Value::Null);
    // SAFETY: freed once each, here.
    unsafe {
        mcpguard_http_response_free(resp);
        mcpguard_http_decision_free(d);
    }
}

#[test]
fn every_http_free_accepts_null() {
    // SAFETY: NULL is documented as ignored by every free function.
    unsafe {
        mcpguard_http_options_free(null_mut());
        mcpguard_http_decision_free(null_mut());
        mcpguard_http_response_free(null_mut());
    }
}

/// Spoils one field of a request.
type Spoil = fn(&mut mcpguard_http_request);
/// Sets one text field of a request to pointer + length.
type SetText = fn(&mut mcpguard_http_request, *const c_char, usize);

#[test]
fn null_request_fields_with_a_length_are_refused_but_absent_ones_are_not() {
    let gw = Gateway::new(r#"{"server": "filesystem"}"#);
    let mut d = null_mut();
    let cases: [(Spoil, &str); 9] = [
        (|r| r.method = null(), "request.method must not be NULL"),
        (|r| r.path = null(), "request.path must not be NULL"),
        (
            |r| r.query_len = 3,
            "request.query is NULL but its length is 3",
        ),
        (
            |r| r.peer_len = 3,
            "request.peer is NULL but its length is 3",
        ),
        (
            |r| r.server_len = 3,
            "request.server is NULL but its length is 3",
        ),
        (|r| r.key_len = 3, "request.key is NULL but its length is 3"),
        (
            |r| r.header_count = 2,
            "request.headers is NULL but header_count is 2",
        ),
        (
            |r| {
                r.body_state = mcpguard_http_body::Bytes as u32;
                r.body_len = 9;
            },
            "request.body is NULL but its length is 9",
        ),
        (
            |r| r.header_count = usize::MAX,
            "request.headers is NULL but header_count",
        ),
    ];
    for (spoil, message) in cases {
        let mut r = request("POST", "/mcp");
        spoil(&mut r);
        let code = if message.contains("must not be NULL") || message.contains("is NULL") {
            mcpguard_result::NullParameter
        } else {
            mcpguard_result::InvalidArgument
        };
        // SAFETY: the request's non-NULL pointers are live; out is writable.
        let result = unsafe { mcpguard_guard_authorize_http(gw.guard, gw.options, &r, &mut d) };
        assert_eq!(result, code, "{message}: {}", last_error());
        assert!(last_error().contains(message), "{}", last_error());
        assert!(d.is_null());
    }
    // A header element with a NULL name of non-zero length.
    let h = [mcpguard_http_header {
        name: null(),
        name_len: 4,
        value: null(),
        value_len: 0,
    }];
    let r = with_headers(request("GET", "/mcp"), &h);
    refused!(
        NullParameter,
        "request.headers[0].name is NULL but its length is 4",
        mcpguard_guard_authorize_http(gw.guard, gw.options, &r, &mut d)
    );
    // A huge header count behind a real pointer is refused before any read.
    let mut r = with_headers(request("GET", "/mcp"), &h);
    r.header_count = usize::MAX;
    refused!(
        InvalidArgument,
        "larger than any array",
        mcpguard_guard_authorize_http(gw.guard, gw.options, &r, &mut d)
    );
    // A body pointer is ignored unless the state is BYTES.
    let mut r = request("GET", "/mcp");
    r.body_len = 9;
    assert_eq!(decide(&gw, &r).status, 401);
}

#[test]
fn invalid_utf8_in_a_text_field_is_refused_with_its_name() {
    let gw = Gateway::new(r#"{"server": "filesystem"}"#);
    let bad = b"/m\xffcp";
    let (bp, bn) = (bad.as_ptr().cast::<c_char>(), bad.len());
    let mut d = null_mut();
    let fields: [(SetText, &str); 6] = [
        (
            |r, p, n| (r.method, r.method_len) = (p, n),
            "request.method",
        ),
        (|r, p, n| (r.path, r.path_len) = (p, n), "request.path"),
        (|r, p, n| (r.query, r.query_len) = (p, n), "request.query"),
        (|r, p, n| (r.peer, r.peer_len) = (p, n), "request.peer"),
        (
            |r, p, n| (r.server, r.server_len) = (p, n),
            "request.server",
        ),
        (|r, p, n| (r.key, r.key_len) = (p, n), "request.key"),
    ];
    for (set, name) in fields {
        let mut r = request("GET", "/mcp");
        set(&mut r, bp, bn);
        refused!(
            InvalidUtf8,
            &format!("{name} is not valid UTF-8 (at byte 2)"),
            mcpguard_guard_authorize_http(gw.guard, gw.options, &r, &mut d)
        );
        assert!(d.is_null());
    }
    let mut opts = null_mut();
    refused!(
        InvalidUtf8,
        "json is not valid UTF-8",
        mcpguard_http_options_new(bp, bn, &mut opts)
    );
    // SAFETY: the request borrows static strings; out is writable.
    unsafe {
        assert_eq!(
            mcpguard_guard_authorize_http(gw.guard, gw.options, &request("GET", "/mcp"), &mut d),
            mcpguard_result::Ok
        );
    }
    let mut resp = null_mut();
    refused!(
        InvalidUtf8,
        "content_type is not valid UTF-8",
        mcpguard_http_decision_filter_response(d, bp, bn, null(), 0, &mut resp)
    );
    // Bodies and header bytes are not text: the same bytes are accepted there.
    let h = [header(b"x-raw", bad)];
    let r = with_body(with_headers(request("GET", "/mcp"), &h), bad);
    assert_eq!(decide(&gw, &r).status, 401);
    // SAFETY: freed once, here.
    unsafe { mcpguard_http_decision_free(d) };
}

#[test]
fn bad_values_and_indexes_get_their_own_codes() {
    let gw = Gateway::new(r#"{"server": "filesystem"}"#);
    let mut r = request("GET", "/mcp");
    r.body_state = 5;
    let mut d = null_mut();
    refused!(
        InvalidArgument,
        "request.body_state 5 is not an mcpguard_http_body",
        mcpguard_guard_authorize_http(gw.guard, gw.options, &r, &mut d)
    );
    assert_eq!(last_info(), Value::Null);
    // SAFETY: the request borrows static strings; out is writable.
    unsafe {
        assert_eq!(
            mcpguard_guard_authorize_http(gw.guard, gw.options, &request("GET", "/mcp"), &mut d),
            mcpguard_result::Ok
        );
    }
    let seen = read(d);
    let (mut s, mut v) = (no_str(), no_str());
    refused!(
        OutOfRange,
        &format!("header index {} is out of range", seen.headers.len()),
        mcpguard_http_decision_header(d, seen.headers.len(), &mut s, &mut v)
    );
    let mut resp = null_mut();
    // SAFETY: `d` is live; out is writable.
    unsafe {
        mcpguard_http_decision_filter_response(d, null(), 0, null(), 0, &mut resp);
    }
    refused!(
        OutOfRange,
        "header index 0 is out of range (count 0)",
        mcpguard_http_response_header(resp, 0, &mut s, &mut v)
    );
    // SAFETY: freed once each, here.
    unsafe {
        mcpguard_http_response_free(resp);
        mcpguard_http_decision_free(d);
    }
}

#[test]
fn refused_options_are_config_errors_the_core_classified() {
    let mut o = null_mut();
    for (json, path) in [
        ("{not json", ""),
        ("[]", ""),
        (r#"{"server": 3}"#, "server"),
        (r#"{"sever": "files"}"#, "sever"),
        (r#"{"server": "a", "read_body": "yes"}"#, "read_body"),
        (r#"{"server": "a", "max_body_bytes": -1}"#, "max_body_bytes"),
        (r#"{"server": "a", "cost": 0}"#, "cost"),
        (
            r#"{"server": "a", "listing_items": {"prefix": {"separator": ""}}}"#,
            "listing_items.prefix.separator",
        ),
    ] {
        let (p, n) = arg(json);
        // SAFETY: the text outlives the call; out is writable.
        let r = unsafe { mcpguard_http_options_new(p, n, &mut o) };
        assert_eq!(r, mcpguard_result::ConfigError, "{json}");
        assert!(o.is_null());
        let info = last_info();
        assert_eq!(info["kind"], "config", "{json}: {info}");
        assert_eq!(info["code"], "invalid_configuration");
        assert_eq!(info["status"], Value::Null);
        assert_eq!(info["message"], json!(last_error()));
        if !path.is_empty() {
            assert_eq!(info["path"], path, "{json}: {info}");
        }
    }
}

#[test]
fn last_error_info_is_the_core_classification_of_each_error() {
    let gw = Gateway::new(r#"{"server": "filesystem"}"#);
    let g = gw.guard;

    // A refused token: 401 with the challenge, and the failure struct
    // carries the same status, code and reason.
    let expired = token("expired");
    let (tp, tn) = arg(&expired);
    let mut p = null_mut();
    let mut failure = mcpguard_token_failure {
        status: 0,
        error: no_str(),
        reason: no_str(),
    };
    // SAFETY: the token outlives the call; outs are writable.
    let r = unsafe { mcpguard_guard_validate(g, tp, tn, &mut p, &mut failure) };
    assert_eq!(r, mcpguard_result::TokenRejected);
    let info = last_info();
    assert_eq!(info["kind"], "invalid_token");
    assert_eq!(
        (
            info["status"].clone(),
            info["code"].clone(),
            info["reason"].clone()
        ),
        (
            json!(failure.status),
            json!(text(failure.error)),
            json!(text(failure.reason))
        )
    );
    assert_eq!(
        (failure.status, text(failure.reason)),
        (401, "expired".into())
    );
    assert!(
        info["www_authenticate"]
            .as_str()
            .is_some_and(|c| c.contains("resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\"")),
        "{info}"
    );
    assert_eq!(info["message"], json!(last_error()));

    // A configuration error names its path.
    let (cp, cn) = arg(r#"{"resource": "https://mcp.example.com/mcp", "auth": {"issuers": 3}}"#);
    let mut other = null_mut();
    refused!(
        ConfigError,
        "auth.issuers",
        mcpguard_guard_new(cp, cn, &mut other)
    );
    let info = last_info();
    assert_eq!(
        (info["kind"].clone(), info["path"].clone()),
        (json!("config"), json!("auth.issuers"))
    );

    // A filter that does not parse: 400 invalid_request, reason invalid_filter.
    let (fp, fl) = arg("web and");
    let mut f = null_mut();
    refused!(
        InvalidFilter,
        "Unexpected end of input",
        mcpguard_tag_filter_parse(mcpguard_filter_syntax::Expression as u32, fp, fl, &mut f)
    );
    let info = last_info();
    assert_eq!(
        (
            info["kind"].clone(),
            info["status"].clone(),
            info["reason"].clone()
        ),
        (
            json!("invalid_request"),
            json!(400),
            json!("invalid_filter")
        )
    );
    let (qp, ql) = arg("{not json");
    refused!(
        InvalidFilter,
        "not JSON",
        mcpguard_tag_filter_parse(mcpguard_filter_syntax::Query as u32, qp, ql, &mut f)
    );
    assert_eq!(last_info()["reason"], "invalid_filter");

    // The opaque-token store: disabled in guard.json.
    let (op, on) = arg("opq-1");
    let (ep, en) = arg("{}");
    refused!(
        OpaqueDisabled,
        "opaque",
        mcpguard_guard_insert_opaque(g, op, on, ep, en)
    );
    let info = last_info();
    assert_eq!(
        (info["kind"].clone(), info["code"].clone()),
        (json!("opaque_store"), json!("disabled"))
    );
    let (bp, bl) = arg(r#"{"scopes": [1]}"#);
    refused!(
        ConfigError,
        "invalid opaque-token entry at scopes[0]",
        mcpguard_guard_insert_opaque(g, op, on, bp, bl)
    );
    let info = last_info();
    assert_eq!(
        (info["kind"].clone(), info["path"].clone()),
        (json!("config"), json!("scopes[0]"))
    );
    assert_eq!(info["message"], json!(last_error()));

    // Key material: a config error naming the path inside the JWK Set.
    let (ip, il) = arg("https://auth.example.com");
    let (kp, kl) = arg(r#"{"keys": 3}"#);
    refused!(KeyError, "keys", mcpguard_guard_set_jwks(g, ip, il, kp, kl));
    assert_eq!(last_info()["kind"], "config");

    // Revoking a token that does not validate: the token's own refusal.
    let (rp, rl) = arg("not-a-jwt.at.all");
    // SAFETY: the token outlives the call.
    let r = unsafe { mcpguard_guard_revoke(g, rp, rl) };
    assert_eq!(r, mcpguard_result::RevokeFailed, "{}", last_error());
    assert_eq!(last_info()["kind"], "invalid_token");

    // The host's own mistake: no classification, and none is left over.
    refused!(NullParameter, "out", mcpguard_version(null_mut()));
    assert_eq!(last_info(), Value::Null);
}
