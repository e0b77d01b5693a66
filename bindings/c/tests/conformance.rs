//! The conformance runner of the C API: every file in
//! `$MCPGUARD_CONFORMANCE_DIR` (default: the repository's `conformance/`),
//! every op of `spec/conformance.md` and the two `conformance/README.md` adds
//! (`insert_opaque`, `introspect`), reaching the library only through the
//! exported `mcpguard_*` functions (serde_json only reads the vector files and
//! the JSON the library returns). It mirrors core/tests/conformance.rs:
//! partial match, `_set` keys as sets, numbers compared numerically, an
//! unknown op is a failure, never a skip.
//!
//! Each `authorize` case also checks that the decision's accessors agree
//! with `mcpguard_decision_to_json`.
//!
//! Op `http` (conformance/http_edge.json) goes through
//! `mcpguard_guard_authorize_http` as a C gateway drives it, with the case's
//! `app` as the application behind it, and is compared by
//! `mcpguard_testkit::http_vectors` exactly as the Rust runner compares it.
//! A second run sends every `http` case through
//! `mcpguard_guard_authorize_http_async` instead: the awaited answer is the
//! same, vector for vector.

mod common;

use std::ptr::null_mut;

use common::{arg, last_error, no_str, ok, str_array, take, take_list, text};
use mcpguard_c::*;
use mcpguard_testkit::http_vectors;
use mcpguard_testkit::vectors::{self, check_headers, partial_match};
use serde_json::{Value, json};

/// A guard, its manual clock and the file's HTTP endpoint options, freed
/// through the C API.
struct Fixture {
    guard: *mut mcpguard_guard,
    clock: *mut mcpguard_manual_clock,
    options: *mut mcpguard_http_options,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // SAFETY: each came from its constructor and is freed once, here.
        unsafe {
            mcpguard_http_options_free(self.options);
            mcpguard_guard_free(self.guard);
            mcpguard_manual_clock_free(self.clock);
        }
    }
}

impl Fixture {
    fn new(config: &str, clock_secs: f64, options: &str) -> Result<Fixture, String> {
        let mut clock = null_mut();
        // SAFETY: `clock` is a writable out-parameter.
        ok(
            unsafe { mcpguard_manual_clock_new(clock_secs, &mut clock) },
            "clock",
        )?;
        let mut fixture = Fixture {
            guard: null_mut(),
            clock,
            options: null_mut(),
        };
        let (p, n) = arg(config);
        // SAFETY: `config` outlives the call; `clock` is live; out is writable.
        ok(
            unsafe { mcpguard_guard_new_with_clock(p, n, clock, &mut fixture.guard) },
            "config refused",
        )?;
        let (p, n) = arg(options);
        // SAFETY: `options` outlives the call; out is writable.
        ok(
            unsafe { mcpguard_http_options_new(p, n, &mut fixture.options) },
            "options refused",
        )?;
        Ok(fixture)
    }
}

#[test]
fn every_conformance_vector_passes_through_the_c_api() {
    vectors::run_all("C API", |file, doc, failures| {
        run_file(file, doc, failures, Call::Now)
    });
}

#[test]
fn every_http_vector_answers_the_same_through_the_awaited_c_call() {
    vectors::run_all("C API, awaited", |file, doc, failures| {
        run_file(file, doc, failures, Call::Awaited)
    });
}

/// How an `http` case reaches the guard.
#[derive(Clone, Copy)]
enum Call {
    /// `mcpguard_guard_authorize_http`.
    Now,
    /// `mcpguard_guard_authorize_http_async`, its answer awaited.
    Awaited,
}

fn run_file(file: &str, doc: &Value, failures: &mut Vec<String>, call: Call) -> usize {
    let Some(clock) = doc["clock"].as_f64() else {
        failures.push(format!("{file}: `clock` must be a number of seconds"));
        return 0;
    };
    // A file without `options` has no `http` cases; JSON null is the defaults.
    let options = doc["options"].to_string();
    let fixture = match Fixture::new(&doc["config"].to_string(), clock, &options) {
        Ok(f) => f,
        Err(e) => {
            failures.push(format!("{file}: {e}"));
            return 0;
        }
    };
    let Some(cases) = doc["cases"].as_array() else {
        failures.push(format!("{file}: `cases` must be a list"));
        return 0;
    };
    for (i, case) in cases.iter().enumerate() {
        let name = case["name"]
            .as_str()
            .map_or_else(|| format!("#{i}"), str::to_string);
        let outcome = if case["op"] == "http" {
            http_case(&fixture, case, call)
                .and_then(|actual| http_vectors::compare(&case["expect"], &actual))
        } else {
            run_case(&fixture, case)
        };
        if let Err(why) = outcome {
            failures.push(format!("{file} / {name}: {why}"));
        }
    }
    cases.len()
}

/// One `http` case through `mcpguard_guard_authorize_http`, as a C gateway
/// drives it: the core's response, or the application's (its status,
/// `Content-Type`, `Content-Length` and body, the body passed through
/// `mcpguard_http_decision_filter_response` when the decision says so) with
/// the decision's headers added. Mirrors `http_case` of core/tests/conformance.rs.
fn http_case(fx: &Fixture, case: &Value, call: Call) -> Result<Value, String> {
    if let Some(s) = case.get("advance").and_then(Value::as_f64) {
        // SAFETY: the clock is live.
        ok(
            unsafe { mcpguard_manual_clock_advance(fx.clock, s) },
            "advance",
        )?;
    }
    let input = http_vectors::Input::from_case(case)?;
    let headers: Vec<mcpguard_http_header> = input
        .headers
        .iter()
        .map(|(n, v)| mcpguard_http_header {
            name: n.as_ptr(),
            name_len: n.len(),
            value: v.as_ptr(),
            value_len: v.len(),
        })
        .collect();
    let opt = |s: &Option<String>| s.as_deref().map_or((std::ptr::null(), 0), arg);
    let (method, method_len) = arg(&input.method);
    let (path, path_len) = arg(&input.path);
    let (query, query_len) = arg(&input.query);
    let (peer, peer_len) = opt(&input.peer);
    let (server, server_len) = opt(&input.server);
    let (body_state, body, body_len) = match &input.body {
        Some(b) => (mcpguard_http_body::Bytes as u32, b.as_ptr(), b.len()),
        None => (mcpguard_http_body::None as u32, std::ptr::null(), 0),
    };
    let request = mcpguard_http_request {
        method,
        method_len,
        path,
        path_len,
        query,
        query_len,
        headers: headers.as_ptr(),
        header_count: headers.len(),
        peer,
        peer_len,
        body_state,
        body,
        body_len,
        server,
        server_len,
        key: std::ptr::null(),
        key_len: 0,
        cost: 0,
    };
    let d = match call {
        Call::Now => {
            let mut d = null_mut();
            // SAFETY: the request borrows from `input` and `headers`, alive
            // for the call; the guard and options are live; out is writable.
            ok(
                unsafe { mcpguard_guard_authorize_http(fx.guard, fx.options, &request, &mut d) },
                "authorize_http",
            )?;
            d
        }
        Call::Awaited => awaited(fx, &request)?,
    };
    let result = http_response(d, &input.app);
    // SAFETY: freed once, here.
    unsafe { mcpguard_http_decision_free(d) };
    result
}

/// `request` decided through `mcpguard_guard_authorize_http_async`, its
/// answer waited for.
fn awaited(
    fx: &Fixture,
    request: &mcpguard_http_request,
) -> Result<*mut mcpguard_http_decision, String> {
    /// The `done` of the call: sends the decision's address down the
    /// channel whose sender `user_data` owns, then drops that sender. It
    /// owns its own (a clone): the receiving side may return and drop its
    /// sender while this one is still inside `send`.
    unsafe extern "C" fn done(user_data: *mut std::ffi::c_void, d: *mut mcpguard_http_decision) {
        // SAFETY: `user_data` is the boxed sender below, handed over once.
        let tx = unsafe { Box::from_raw(user_data.cast::<std::sync::mpsc::Sender<usize>>()) };
        let _ = tx.send(d as usize);
    }
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let user_data = Box::into_raw(Box::new(tx)).cast();
    // SAFETY: as for the synchronous call; `done` takes the boxed sender.
    let started = unsafe {
        mcpguard_guard_authorize_http_async(fx.guard, fx.options, request, Some(done), user_data)
    };
    if started != mcpguard_result::Ok {
        // Refused here: `done` never runs, so the sender is freed here.
        // SAFETY: the box made above, not handed over.
        drop(unsafe { Box::from_raw(user_data.cast::<std::sync::mpsc::Sender<usize>>()) });
    }
    ok(started, "authorize_http_async")?;
    let d = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| format!("no answer from authorize_http_async: {e}"))?;
    if d == 0 {
        return Err("authorize_http_async answered NULL (a decision failed)".into());
    }
    Ok(d as *mut mcpguard_http_decision)
}

/// The response a client of the gateway sees for decision `d`.
fn http_response(
    d: *const mcpguard_http_decision,
    app: &http_vectors::App,
) -> Result<Value, String> {
    let mut action = mcpguard_http_action::Pass;
    let (mut status, mut count, mut filters) = (0u16, 0usize, false);
    let mut body = mcpguard_bytes {
        data: std::ptr::null(),
        len: 0,
    };
    // SAFETY: `d` is live; every out is writable.
    unsafe {
        ok(mcpguard_http_decision_action(d, &mut action), "action")?;
        ok(mcpguard_http_decision_status(d, &mut status), "status")?;
        ok(mcpguard_http_decision_body(d, &mut body), "body")?;
        ok(
            mcpguard_http_decision_filters_response(d, &mut filters),
            "filters_response",
        )?;
        ok(
            mcpguard_http_decision_header_count(d, &mut count),
            "header_count",
        )?;
    }
    let mut headers = Vec::with_capacity(count);
    for i in 0..count {
        let (mut n, mut v) = (no_str(), no_str());
        // SAFETY: as above; `i` is in range.
        ok(
            unsafe { mcpguard_http_decision_header(d, i, &mut n, &mut v) },
            "header",
        )?;
        headers.push((text(n), text(v)));
    }
    check_inner_decision(d, action)?;
    Ok(match action {
        mcpguard_http_action::Respond => {
            json!({
                "status": status,
                "headers": headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
                "body": String::from_utf8_lossy(bytes(body)),
            })
        }
        mcpguard_http_action::Pass => {
            if status != 0 || count != 0 || body.len != 0 {
                return Err("a pass carries a status, headers or a body".into());
            }
            app.response(Vec::new(), None)
        }
        mcpguard_http_action::Forward => {
            if status != 0 || body.len != 0 {
                return Err("a forward carries a status or a body".into());
            }
            let filtered = if filters {
                match filter_response(d, app)? {
                    Ok(body) => Some(body),
                    Err(replacement) => return Ok(replacement),
                }
            } else {
                None
            };
            app.response(
                headers,
                filtered.map(|body| http_vectors::Filtered {
                    body,
                    drops: &dropped_when_filtered,
                }),
            )
        }
    })
}

/// Whether a gateway drops the application's header `name` with a
/// filtered body, as `mcpguard_http_dropped_when_filtered` answers.
fn dropped_when_filtered(name: &str) -> bool {
    let mut dropped = false;
    let (p, n) = arg(name);
    // SAFETY: the name outlives the call; out is writable.
    let r = unsafe { mcpguard_http_dropped_when_filtered(p, n, &mut dropped) };
    assert_eq!(r, mcpguard_result::Ok, "dropped_when_filtered({name:?})");
    dropped
}

/// A borrowed output byte slice.
fn bytes<'a>(b: mcpguard_bytes) -> &'a [u8] {
    assert!(!b.data.is_null(), "library byte outputs are never NULL");
    // SAFETY: the library wrote `len` readable bytes at `data`, owned by an
    // object the caller still holds.
    unsafe { std::slice::from_raw_parts(b.data, b.len) }
}

/// The inner Guard decision: present for a forward (allowed) and absent
/// for a pass; when present its JSON is well formed.
fn check_inner_decision(
    d: *const mcpguard_http_decision,
    action: mcpguard_http_action,
) -> Result<(), String> {
    let mut inner = null_mut();
    // SAFETY: `d` is live; out is writable.
    ok(
        unsafe { mcpguard_http_decision_decision(d, &mut inner) },
        "decision",
    )?;
    if inner.is_null() {
        return match action {
            mcpguard_http_action::Forward => Err("a forward has no Guard decision".into()),
            _ => Ok(()),
        };
    }
    let v = decision_json(inner);
    // SAFETY: freed once, here.
    unsafe { mcpguard_decision_free(inner) };
    let v = v?;
    let allowed = action == mcpguard_http_action::Forward;
    if v["allowed"] != json!(allowed) {
        return Err(format!(
            "the Guard decision's allowed is {} on a {action:?}",
            v["allowed"]
        ));
    }
    Ok(())
}

/// The application's body through `mcpguard_http_decision_filter_response`:
/// the filtered body, or (`Err`) the response to send instead.
fn filter_response(
    d: *const mcpguard_http_decision,
    app: &http_vectors::App,
) -> Result<Result<Vec<u8>, Value>, String> {
    let (cp, cn) = arg(&app.content_type);
    let mut r = null_mut();
    // SAFETY: the content type and body outlive the call; out is writable.
    ok(
        unsafe {
            mcpguard_http_decision_filter_response(
                d,
                cp,
                cn,
                app.body.as_ptr(),
                app.body.len(),
                &mut r,
            )
        },
        "filter_response",
    )?;
    let result = read_response(r);
    // SAFETY: freed once, here.
    unsafe { mcpguard_http_response_free(r) };
    result
}

fn read_response(r: *const mcpguard_http_response) -> Result<Result<Vec<u8>, Value>, String> {
    let (mut status, mut count) = (0u16, 0usize);
    let mut body = mcpguard_bytes {
        data: std::ptr::null(),
        len: 0,
    };
    // SAFETY: `r` is live; every out is writable.
    unsafe {
        ok(mcpguard_http_response_status(r, &mut status), "status")?;
        ok(mcpguard_http_response_body(r, &mut body), "body")?;
        ok(
            mcpguard_http_response_header_count(r, &mut count),
            "header_count",
        )?;
    }
    let body = bytes(body).to_vec();
    if status == 0 {
        return match count {
            0 => Ok(Ok(body)),
            _ => Err("a filtered body carries headers".into()),
        };
    }
    let mut headers = Vec::with_capacity(count);
    for i in 0..count {
        let (mut n, mut v) = (no_str(), no_str());
        // SAFETY: as above; `i` is in range.
        ok(
            unsafe { mcpguard_http_response_header(r, i, &mut n, &mut v) },
            "header",
        )?;
        headers.push(json!([text(n), text(v)]));
    }
    Ok(Err(json!({
        "status": status,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    })))
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("{what}: {e}"))
}

fn run_case(fx: &Fixture, case: &Value) -> Result<(), String> {
    let op = case["op"].as_str().ok_or("case has no `op`")?;
    let expect = &case["expect"];
    let g = fx.guard;
    let actual = match op {
        "validate" => validate(g, case["token"].as_str().ok_or("validate needs `token`")?)?,
        "authorize" => {
            let v = authorize(g, &case["request"])?;
            if let Some(absent) = case.get("headers_not_contain") {
                check_headers(&v, absent, false)?;
            }
            if let Some(present) = expect.get("headers_contain") {
                check_headers(&v, present, true)?;
            }
            v
        }
        "parse_filter" => match parse_filter(case) {
            Ok(f) => {
                let tags = filter_tags(f);
                // SAFETY: `f` is live and freed once, here.
                unsafe { mcpguard_tag_filter_free(f) };
                json!({"ok": true, "tags": tags?})
            }
            Err(e) => json!({"ok": false, "error": e}),
        },
        "match_filter" => {
            let f = parse_filter(case).map_err(|e| format!("filter does not parse: {e}"))?;
            let tags = strings(&case["server_tags"], "server_tags")?;
            let slices = str_array(&tags);
            let mut matched = false;
            // SAFETY: `f` is live, `slices` point into `tags` (alive), out is writable.
            let r = unsafe {
                mcpguard_tag_filter_matches(f, slices.as_ptr(), slices.len(), &mut matched)
            };
            // SAFETY: `f` is live and freed once, here.
            unsafe { mcpguard_tag_filter_free(f) };
            ok(r, "match")?;
            json!({"match": matched})
        }
        "validate_scopes" => {
            let requested = strings(&case["requested"], "requested")?;
            let available = strings(&case["available_tags"], "available_tags")?;
            let (rq, av) = (str_array(&requested), str_array(&available));
            let (mut valid, mut list) = (false, null_mut());
            // SAFETY: the slices point into live strings; outs are writable.
            ok(
                unsafe {
                    mcpguard_validate_scopes(
                        rq.as_ptr(),
                        rq.len(),
                        av.as_ptr(),
                        av.len(),
                        &mut valid,
                        &mut list,
                    )
                },
                "validate_scopes",
            )?;
            let items = take_list(list);
            if valid {
                json!({"ok": true, "scopes": items, "errors": []})
            } else {
                json!({"ok": false, "errors": items})
            }
        }
        "scopes_to_tags" => {
            let scopes = strings(&case["scopes"], "scopes")?;
            let sc = str_array(&scopes);
            let mut list = null_mut();
            // SAFETY: the slices point into live strings; out is writable.
            ok(
                unsafe { mcpguard_scopes_to_tags(sc.as_ptr(), sc.len(), &mut list) },
                "scopes_to_tags",
            )?;
            json!({"tags": take_list(list)})
        }
        "rate_limit" => {
            let key = case["key"].as_str().ok_or("rate_limit needs `key`")?;
            let cost = case.get("cost").and_then(Value::as_u64).unwrap_or(1);
            let rule = case.get("rule").and_then(Value::as_str);
            let (rp, rn) = rule.map_or((std::ptr::null(), 0), arg);
            let (kp, kn) = arg(key);
            let mut d = mcpguard_rate_decision::default();
            // SAFETY: strings outlive the call; out is writable.
            ok(
                unsafe { mcpguard_guard_check_rate_limit(g, rp, rn, kp, kn, cost, &mut d) },
                "rate limit",
            )?;
            json!({
                "allowed": d.allowed,
                "limit": d.limit,
                "remaining": d.remaining,
                "reset": d.reset,
                "retry_after": if d.has_retry_after { json!(d.retry_after) } else { Value::Null },
                "never": d.never,
            })
        }
        "advance" => {
            let s = case["seconds"].as_f64().ok_or("advance needs `seconds`")?;
            // SAFETY: the clock is live.
            ok(
                unsafe { mcpguard_manual_clock_advance(fx.clock, s) },
                "advance",
            )?;
            Value::Null
        }
        "revoke" => {
            let (p, n) = arg(case["token"].as_str().ok_or("revoke needs `token`")?);
            // SAFETY: the token outlives the call.
            ok(unsafe { mcpguard_guard_revoke(g, p, n) }, "revoke failed")?;
            Value::Null
        }
        "metadata" => {
            let mut out = null_mut();
            // SAFETY: out is writable.
            ok(
                unsafe { mcpguard_guard_metadata_document(g, &mut out) },
                "metadata",
            )?;
            json!({"document": parse(&take(out))?})
        }
        "insert_opaque" => {
            let token = case["token"]
                .as_str()
                .ok_or("insert_opaque needs `token`")?;
            insert_opaque(g, token, &case["entry"].to_string())?
        }
        "introspect" => {
            // An object is serialised; a string is the response text as is
            // (so a vector can hold a repeated member).
            let text = match &case["response"] {
                Value::String(s) => s.clone(),
                Value::Object(_) => case["response"].to_string(),
                _ => return Err("introspect needs `response` (object or string)".into()),
            };
            introspect(g, &text)?
        }
        other => return Err(format!("unknown op `{other}`")),
    };
    if expect.is_null() {
        return Ok(());
    }
    partial_match(expect, &actual, "")
}

fn parse(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("library returned bad JSON: {e}"))
}

fn no_failure() -> mcpguard_token_failure {
    mcpguard_token_failure {
        status: 0,
        error: no_str(),
        reason: no_str(),
    }
}

fn validate(g: *const mcpguard_guard, token: &str) -> Result<Value, String> {
    let (p, n) = arg(token);
    let (mut principal, mut failure) = (null_mut(), no_failure());
    // SAFETY: the token outlives the call; outs are writable.
    let r = unsafe { mcpguard_guard_validate(g, p, n, &mut principal, &mut failure) };
    principal_result("validate", r, principal, &failure)
}

fn introspect(g: *const mcpguard_guard, response: &str) -> Result<Value, String> {
    let (p, n) = arg(response);
    let (mut principal, mut failure) = (null_mut(), no_failure());
    // SAFETY: the response outlives the call; outs are writable.
    let r = unsafe { mcpguard_guard_validate_introspection(g, p, n, &mut principal, &mut failure) };
    principal_result("introspect", r, principal, &failure)
}

/// The op's result as the Rust runner compares it: `insert_opaque`'s
/// result codes back to the core's codes; a refused entry is the vector's
/// mistake, not a case result.
fn insert_opaque(g: *const mcpguard_guard, token: &str, entry: &str) -> Result<Value, String> {
    let (tp, tn) = arg(token);
    let (ep, en) = arg(entry);
    // SAFETY: both strings outlive the call.
    let code = match unsafe { mcpguard_guard_insert_opaque(g, tp, tn, ep, en) } {
        mcpguard_result::Ok => return Ok(json!({"ok": true})),
        mcpguard_result::OpaqueStoreFull => "full",
        mcpguard_result::OpaqueInvalidToken => "invalid_token",
        mcpguard_result::OpaqueExpired => "expired",
        mcpguard_result::OpaqueDisabled => "disabled",
        other => return Err(format!("insert_opaque: {other:?}: {}", last_error())),
    };
    Ok(json!({"ok": false, "error": code}))
}

/// What `validate` and `introspect` compare: the principal's JSON with
/// `ok`, or the refusal's status, error and reason.
fn principal_result(
    what: &str,
    r: mcpguard_result,
    principal: *mut mcpguard_principal,
    failure: &mcpguard_token_failure,
) -> Result<Value, String> {
    match r {
        mcpguard_result::Ok => {
            let mut json = null_mut();
            // SAFETY: `principal` is live; out is writable.
            let r = unsafe { mcpguard_principal_to_json(principal, &mut json) };
            // SAFETY: freed once, here.
            unsafe { mcpguard_principal_free(principal) };
            ok(r, "principal_to_json")?;
            let mut v = parse(&take(json))?;
            v["ok"] = json!(true);
            Ok(v)
        }
        mcpguard_result::TokenRejected => {
            if !principal.is_null() {
                return Err("a rejected token still produced a principal".into());
            }
            Ok(json!({"ok": false, "status": failure.status,
                "error": text(failure.error), "reason": text(failure.reason)}))
        }
        other => Err(format!("{what}: {other:?}: {}", last_error())),
    }
}

/// Builds the C request from the JSON request shape of config.md (as the
/// core's `Request::from_json` reads it) and authorizes it.
fn authorize(g: *const mcpguard_guard, request: &Value) -> Result<Value, String> {
    let obj = request
        .as_object()
        .ok_or("bad request: the request must be a JSON object")?;
    let mut r = mcpguard_request {
        authorization: std::ptr::null(),
        authorization_len: 0,
        server: std::ptr::null(),
        server_len: 0,
        tool: std::ptr::null(),
        tool_len: 0,
        filter_kind: mcpguard_filter_kind::None as u32,
        filter: std::ptr::null(),
        filter_len: 0,
        key: std::ptr::null(),
        key_len: 0,
        cost: 1,
    };
    let opt = |v: &Value, name: &str| -> Result<(*const std::ffi::c_char, usize), String> {
        match v {
            Value::Null => Ok((std::ptr::null(), 0)),
            Value::String(s) => Ok(arg(s)),
            _ => Err(format!("bad request: {name} must be a string")),
        }
    };
    for (name, v) in obj {
        match name.as_str() {
            "authorization" => (r.authorization, r.authorization_len) = opt(v, name)?,
            "server" => (r.server, r.server_len) = opt(v, name)?,
            "tool" => (r.tool, r.tool_len) = opt(v, name)?,
            "key" => (r.key, r.key_len) = opt(v, name)?,
            "cost" => {
                r.cost = match v {
                    Value::Null => 1,
                    _ => v
                        .as_u64()
                        .ok_or("bad request: cost must be a whole number")?,
                }
            }
            "filter" => {
                let Some(f) = v.as_object() else {
                    if v.is_null() {
                        continue;
                    }
                    return Err("bad request: filter must be an object".into());
                };
                if f.len() > 1 {
                    return Err("bad request: a request may carry only one filter".into());
                }
                if let Some((kind, text)) = f.iter().next() {
                    r.filter_kind = match kind.as_str() {
                        "tags" => mcpguard_filter_kind::Tags,
                        "tag_filter" => mcpguard_filter_kind::TagFilter,
                        "preset" => mcpguard_filter_kind::Preset,
                        other => return Err(format!("bad request: unknown filter kind `{other}`")),
                    } as u32;
                    (r.filter, r.filter_len) =
                        arg(text.as_str().ok_or("bad request: filter text")?);
                }
            }
            other => return Err(format!("bad request: unknown request field `{other}`")),
        }
    }
    let mut d = null_mut();
    // SAFETY: the request's strings borrow from `request`, alive for the call.
    ok(
        unsafe { mcpguard_guard_authorize(g, &r, &mut d) },
        "authorize",
    )?;
    let result = decision_json(d);
    // SAFETY: freed once, here.
    unsafe { mcpguard_decision_free(d) };
    result
}

/// The decision's JSON, after checking that every accessor agrees with it.
fn decision_json(d: *const mcpguard_decision) -> Result<Value, String> {
    let mut json = null_mut();
    // SAFETY: `d` is live; out is writable.
    ok(
        unsafe { mcpguard_decision_to_json(d, &mut json) },
        "to_json",
    )?;
    let v = parse(&take(json))?;

    let (mut allowed, mut status, mut count) = (false, 0u16, 0usize);
    let (mut error, mut reason, mut description) = (no_str(), no_str(), no_str());
    let mut rate = mcpguard_rate_limit {
        present: false,
        limit: 0,
        remaining: 0,
        reset: 0.0,
        has_retry_after: false,
        retry_after: 0.0,
        policy: no_str(),
    };
    // SAFETY: `d` is live; every out is writable.
    unsafe {
        ok(mcpguard_decision_allowed(d, &mut allowed), "allowed")?;
        ok(mcpguard_decision_status(d, &mut status), "status")?;
        ok(mcpguard_decision_error(d, &mut error), "error")?;
        ok(mcpguard_decision_reason(d, &mut reason), "reason")?;
        ok(
            mcpguard_decision_description(d, &mut description),
            "description",
        )?;
        ok(mcpguard_decision_rate_limit(d, &mut rate), "rate_limit")?;
    }
    let or_null = |s: mcpguard_str| {
        let t = text(s);
        if t.is_empty() { Value::Null } else { json!(t) }
    };
    let mut headers = Vec::new();
    // SAFETY: as above.
    ok(
        unsafe { mcpguard_decision_header_count(d, &mut count) },
        "header_count",
    )?;
    for i in 0..count {
        let (mut n, mut val) = (no_str(), no_str());
        // SAFETY: as above; `i` is in range.
        ok(
            unsafe { mcpguard_decision_header(d, i, &mut n, &mut val) },
            "header",
        )?;
        headers.push(json!([text(n), text(val)]));
    }
    let mut servers = Vec::new();
    // SAFETY: as above.
    ok(
        unsafe { mcpguard_decision_visible_server_count(d, &mut count) },
        "server_count",
    )?;
    for i in 0..count {
        let mut s = no_str();
        // SAFETY: as above; `i` is in range.
        ok(
            unsafe { mcpguard_decision_visible_server(d, i, &mut s) },
            "visible_server",
        )?;
        servers.push(json!(text(s)));
    }
    let from_accessors = json!({
        "allowed": allowed,
        "status": status,
        "error": or_null(error),
        "reason": or_null(reason),
        "error_description": or_null(description),
        "headers": headers,
        "visible_servers": servers,
        "rate_limit": if rate.present { json!({
            "limit": rate.limit, "remaining": rate.remaining, "reset": rate.reset,
            "retry_after": if rate.has_retry_after { json!(rate.retry_after) } else { Value::Null },
            "policy": text(rate.policy),
        }) } else { Value::Null },
    });
    partial_match(&from_accessors, &v, "")
        .map_err(|e| format!("accessors disagree with to_json: {e}"))?;
    Ok(v)
}

fn parse_filter(case: &Value) -> Result<*mut mcpguard_tag_filter, String> {
    let kinds: Vec<&str> = ["tags", "tag_filter", "tag_query"]
        .into_iter()
        .filter(|k| case.get(*k).is_some())
        .collect();
    let (syntax, text) = match kinds.as_slice() {
        ["tags"] => (
            mcpguard_filter_syntax::Tags,
            case["tags"]
                .as_str()
                .ok_or("tags must be a string")?
                .to_string(),
        ),
        ["tag_filter"] => (
            mcpguard_filter_syntax::Expression,
            case["tag_filter"]
                .as_str()
                .ok_or("tag_filter must be a string")?
                .to_string(),
        ),
        ["tag_query"] => (mcpguard_filter_syntax::Query, case["tag_query"].to_string()),
        _ => {
            return Err(format!(
                "a filter case needs exactly one of tags, tag_filter, tag_query; got {kinds:?}"
            ));
        }
    };
    let (p, n) = arg(&text);
    let mut f = null_mut();
    // SAFETY: `text` outlives the call; out is writable.
    match unsafe { mcpguard_tag_filter_parse(syntax as u32, p, n, &mut f) } {
        mcpguard_result::Ok => Ok(f),
        mcpguard_result::InvalidFilter => Err(last_error()),
        other => Err(format!("parse: {other:?}: {}", last_error())),
    }
}

fn filter_tags(f: *const mcpguard_tag_filter) -> Result<Vec<String>, String> {
    let mut n = 0;
    // SAFETY: `f` is live; out is writable.
    ok(
        unsafe { mcpguard_tag_filter_tag_count(f, &mut n) },
        "tag_count",
    )?;
    (0..n)
        .map(|i| {
            let mut s = no_str();
            // SAFETY: as above; `i` is in range.
            ok(unsafe { mcpguard_tag_filter_tag(f, i, &mut s) }, "tag").map(|()| text(s))
        })
        .collect()
}
