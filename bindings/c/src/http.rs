//! The HTTP entry point for C gateways: `mcpguard_http_options`,
//! `mcpguard_http_request`, `mcpguard_guard_authorize_http` and what it
//! hands back (`mcpguard_http_decision`, and `mcpguard_http_response` from
//! the listing filter).
//!
//! Decides only how C's pointer + length fields map onto the core's
//! `HttpRequest` and how the core's `HttpDecision` is read back. Everything
//! about the request itself (the metadata route, header and query rules,
//! the JSON-RPC body, the refusal responses, the listing filter) is the
//! core's `Guard::authorize_http`, so a C gateway answers every request
//! exactly as the Rust, Python and Node middlewares do.

use std::ffi::{c_char, c_void};

use mcpguard::guard::{
    HttpAction, HttpBody, HttpDecision, HttpOptions, HttpRequest, HttpResponse, OwnedHttpRequest,
};

use crate::decision::mcpguard_decision;
use crate::ffi::{
    Failure, Out, arg, arg_opt_str, arg_str, at, boundary, boxed, free_boxed, mcpguard_result,
    mcpguard_str, read_handle,
};
use crate::guard::mcpguard_guard;

/// How one protected endpoint is guarded, built once from JSON and shared
/// by every request: immutable, so it may be used from many threads at once.
/// Free it with `mcpguard_http_options_free`.
pub struct mcpguard_http_options {
    options: HttpOptions,
}

/// Reads endpoint options from JSON text (UTF-8, `json_len` bytes): an
/// object with the optional members `server` (the MCP server this endpoint
/// serves), `read_body` (read `POST` bodies for the tools they call and the
/// listings they ask for; default: on when `server` is set; without a
/// server, each request names its own in `mcpguard_http_request.server`),
/// `max_body_bytes`
/// (default 4 MiB), `serve_metadata` (answer the RFC 9728 metadata route;
/// default on), `listing_items` (how listed items map to servers:
/// `{"server": "name"}`, `{"prefix": {"field": "name", "separator":
/// "_1mcp_"}}`, `{"one_mcp": true}` or `{"field": "/_meta/server"}`) and
/// `cost` (default 1), e.g. `{"server": "filesystem"}`. An unknown member,
/// a wrong type or text that is not JSON is `MCPGUARD_RESULT_CONFIG_ERROR`
/// naming the member; `*out` is then NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_options_new(
    json: *const c_char,
    json_len: usize,
    out: *mut *mut mcpguard_http_options,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        // SAFETY: as above.
        let text = unsafe { arg_str(json, json_len, "json") }?;
        let config = |e| Failure::classified(mcpguard_result::ConfigError, &e, None);
        let value: serde_json::Value = mcpguard::error::from_str(text).map_err(config)?;
        let options = HttpOptions::from_json(&value).map_err(config)?;
        out.set(boxed(mcpguard_http_options { options }));
        Ok(())
    })
}

/// Frees endpoint options. NULL is ignored; the pointer is invalid
/// afterwards. Decisions made with them stay valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_options_free(options: *mut mcpguard_http_options) {
    // SAFETY: `options` is NULL or from `mcpguard_http_options_new`, freed once.
    unsafe { free_boxed(options) }
}

/// What the host has of a request's body (`mcpguard_http_request.body_state`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mcpguard_http_body {
    /// The request has no body (`GET`, `DELETE`; a `POST` with none is read
    /// as zero bytes). `body` is ignored.
    None = 0,
    /// `body` holds the whole body, `body_len` bytes.
    Bytes = 1,
    /// The host stopped reading past the options' `max_body_bytes` (read at
    /// most `max_body_bytes + 1` bytes to know). `body` is ignored.
    TooLarge = 2,
    /// The host cannot hand the body over (its own mistake: answered with a
    /// 500 that names it). `body` is ignored.
    Unavailable = 3,
    /// Reading the body failed (the client broke off, a broken chunked
    /// encoding): answered with a 400. `body` is ignored.
    Failed = 4,
}

/// One header as the client sent it: name and value as bytes (not
/// NUL-terminated, any bytes; each may be NULL when its length is 0).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mcpguard_http_header {
    /// The name's first byte.
    pub name: *const u8,
    /// The name's length in bytes.
    pub name_len: usize,
    /// The value's first byte.
    pub value: *const u8,
    /// The value's length in bytes.
    pub value_len: usize,
}

/// One HTTP request as the host's server has it. Text fields are pointer +
/// length, UTF-8 (not NUL-terminated); an optional one is absent when its
/// pointer is NULL (with length 0). Start from `MCPGUARD_HTTP_REQUEST_INIT`
/// and set what the request has. The guard reads the memory only during
/// `mcpguard_guard_authorize_http`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mcpguard_http_request {
    /// The method, e.g. `POST` (required; compared exactly).
    pub method: *const c_char,
    /// Length of `method` in bytes.
    pub method_len: usize,
    /// The path without the query, e.g. `/mcp` (required).
    pub path: *const c_char,
    /// Length of `path` in bytes.
    pub path_len: usize,
    /// The raw query string as received, without the `?`, not decoded
    /// (NULL: none).
    pub query: *const c_char,
    /// Length of `query` in bytes.
    pub query_len: usize,
    /// Every header in the order received, repeated ones included (NULL
    /// when `header_count` is 0).
    pub headers: *const mcpguard_http_header,
    /// How many headers `headers` holds.
    pub header_count: usize,
    /// The peer's address, the default rate-limit key (NULL: unknown).
    pub peer: *const c_char,
    /// Length of `peer` in bytes.
    pub peer_len: usize,
    /// One of `mcpguard_http_body` (a plain integer so that a bad value is
    /// an error, not undefined behaviour).
    pub body_state: u32,
    /// The body when `body_state` is `MCPGUARD_HTTP_BODY_BYTES` (any bytes;
    /// NULL when `body_len` is 0).
    pub body: *const u8,
    /// Length of `body` in bytes.
    pub body_len: usize,
    /// A server the host's routing chose for this request, overriding the
    /// options' `server` (NULL: the options').
    pub server: *const c_char,
    /// Length of `server` in bytes.
    pub server_len: usize,
    /// A rate-limit key the host chose, overriding `peer` (NULL: `peer`).
    pub key: *const c_char,
    /// Length of `key` in bytes.
    pub key_len: usize,
    /// A rate-limit cost the host chose for this request; 0 means the
    /// options' `cost`.
    pub cost: u64,
}

/// Borrows a byte-string argument: NULL is the empty string when `len` is 0.
///
/// # Safety
/// `data` is NULL or valid for reads of `len` bytes that outlive `'a`.
pub(crate) unsafe fn arg_bytes<'a>(
    data: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Failure::new(
            mcpguard_result::NullParameter,
            format!("{name} is NULL but its length is {len}"),
        ));
    }
    if len > isize::MAX as usize {
        return Err(Failure::new(
            mcpguard_result::InvalidArgument,
            format!("{name}: length {len} is larger than any object can be"),
        ));
    }
    // SAFETY: the caller guarantees `len` readable bytes at `data` (checked
    // non-NULL and at most isize::MAX above).
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// One header as the core takes it: name and value bytes.
type Header<'a> = (&'a [u8], &'a [u8]);

/// Reads the header array into the pairs the core takes.
///
/// # Safety
/// `r.headers` is NULL or valid for `r.header_count` elements, each valid
/// for its lengths, for as long as `r` is borrowed.
unsafe fn headers_from_c(r: &mcpguard_http_request) -> Result<Vec<Header<'_>>, Failure> {
    // SAFETY: forwarded from the caller's contract above.
    unsafe { headers_from_parts(r.headers, r.header_count) }
}

/// Reads `count` headers at `headers` into name and value bytes.
///
/// # Safety
/// `headers` is NULL or valid for `count` elements, each valid for its
/// lengths, for `'a`.
pub(crate) unsafe fn headers_from_parts<'a>(
    headers: *const mcpguard_http_header,
    count: usize,
) -> Result<Vec<Header<'a>>, Failure> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if headers.is_null() {
        return Err(Failure::new(
            mcpguard_result::NullParameter,
            format!("request.headers is NULL but header_count is {count}"),
        ));
    }
    if count > isize::MAX as usize / std::mem::size_of::<mcpguard_http_header>() {
        return Err(Failure::new(
            mcpguard_result::InvalidArgument,
            format!("request.header_count {count} is larger than any array can be"),
        ));
    }
    // SAFETY: the caller guarantees `count` readable elements.
    let headers = unsafe { std::slice::from_raw_parts(headers, count) };
    headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            // SAFETY: each element's pointers are valid for their lengths
            // (the caller's contract above).
            unsafe {
                Ok((
                    arg_bytes(h.name, h.name_len, &format!("request.headers[{i}].name"))?,
                    arg_bytes(h.value, h.value_len, &format!("request.headers[{i}].value"))?,
                ))
            }
        })
        .collect()
}

/// Decides one HTTP request: the core's `authorize_http` (the metadata
/// route, the `Authorization` header and query rules, the JSON-RPC body,
/// one Guard decision for the whole request). A refusal is not a failure:
/// the call returns `MCPGUARD_RESULT_OK` and `*out` says what to do
/// (`mcpguard_http_decision_action`). Failures are the caller's mistakes
/// only (NULL, bad UTF-8 in a text field, a bad `body_state`), and then
/// `*out` is NULL. The decision belongs to the caller: read it from one
/// thread at a time and free it with `mcpguard_http_decision_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_authorize_http(
    guard: *const mcpguard_guard,
    options: *const mcpguard_http_options,
    request: *const mcpguard_http_request,
    out: *mut *mut mcpguard_http_decision,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        // SAFETY: as above.
        let (guard, options, r) = unsafe {
            (
                arg(guard, "guard")?,
                arg(options, "options")?,
                arg(request, "request")?,
            )
        };
        // SAFETY: every pointer in the request is NULL or valid for its
        // length, for this call (the header's pointer contract).
        let d = unsafe {
            with_request(r, |request| {
                guard.guard.authorize_http(request, &options.options)
            })
        }?;
        out.set(boxed(mcpguard_http_decision { d }));
        Ok(())
    })
}

/// Reads the request's fields as the core's `HttpRequest` and hands it to
/// `f`.
///
/// # Safety
/// Every pointer in `r` is NULL or valid for its length, for this call.
unsafe fn with_request<T>(
    r: &mcpguard_http_request,
    f: impl FnOnce(&HttpRequest<'_>) -> T,
) -> Result<T, Failure> {
    // SAFETY: forwarded from the caller's contract.
    let (method, path, query, peer, server, key, headers, body) = unsafe {
        (
            arg_str(r.method, r.method_len, "request.method")?,
            arg_str(r.path, r.path_len, "request.path")?,
            arg_opt_str(r.query, r.query_len, "request.query")?,
            arg_opt_str(r.peer, r.peer_len, "request.peer")?,
            arg_opt_str(r.server, r.server_len, "request.server")?,
            arg_opt_str(r.key, r.key_len, "request.key")?,
            headers_from_c(r)?,
            body_from_c(r)?,
        )
    };
    let request = HttpRequest {
        method,
        path,
        query: query.unwrap_or_default(),
        headers: &headers,
        peer,
        body,
        server,
        key,
        cost: (r.cost != 0).then_some(r.cost),
    };
    Ok(f(&request))
}

/// Called once with the answer of `mcpguard_guard_authorize_http_async`:
/// the `user_data` given to that call and the decision, which belongs to
/// the callee (free it with `mcpguard_http_decision_free`). The decision
/// is NULL only when it failed unexpectedly (an internal error: answer
/// 500). It runs on whichever thread finished the decision, often the
/// Redis store's I/O thread, which every waiting decision shares: hand the
/// decision to your own event loop (an eventfd, a pipe, a queue) and
/// return at once; never block in it, and never let an exception unwind
/// out of it.
pub type mcpguard_http_done =
    Option<unsafe extern "C" fn(user_data: *mut c_void, decision: *mut mcpguard_http_decision)>;

/// Where an awaited decision's answer goes: the host's callback and its
/// data, which the host made safe to use from any thread.
struct Done {
    done: unsafe extern "C" fn(*mut c_void, *mut mcpguard_http_decision),
    user_data: *mut c_void,
}

// SAFETY: the header's contract for `mcpguard_guard_authorize_http_async`:
// the callback and its `user_data` may be used from any thread.
unsafe impl Send for Done {}

impl Done {
    /// Calls the host with `decision` (NULL: the decision panicked).
    fn call(self, decision: Option<HttpDecision>) {
        let d = decision.map_or(std::ptr::null_mut(), |d| {
            boxed(mcpguard_http_decision { d })
        });
        // SAFETY: the host's callback, called once, with its own data; the
        // decision is handed over.
        unsafe { (self.done)(self.user_data, d) };
    }
}

/// `mcpguard_guard_authorize_http` for a gateway on an event loop, whose
/// thread must never wait on Redis: the same decision, handed to `done`
/// instead of returned. The request is read and copied before this
/// returns (its memory may be reused at once). A request the guard can
/// take from memory up to the shared store (no token, or a cached one) is
/// decided here and its Redis check pipelined with those of every other
/// waiting request; any other (a signature to check, keys or an
/// introspection answer to fetch) is decided on one of mcpguard's own
/// decision threads, free again once its check is sent. No thread waits
/// for the round trip. `done` is called exactly once: before this returns
/// when nothing had to wait (an in-process store, a refusal), else later
/// on a thread of mcpguard's own. A failure (the caller's mistake: NULL,
/// bad UTF-8, a bad `body_state`, no `done`) is returned here, and then
/// `done` is never called. The guard and the options must outlive every
/// pending call. `user_data` is the caller's, passed to `done` as given;
/// it must stay valid until `done` returns, not only until it is called
/// (another thread may see the answer while `done` is still running).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_authorize_http_async(
    guard: *const mcpguard_guard,
    options: *const mcpguard_http_options,
    request: *const mcpguard_http_request,
    done: mcpguard_http_done,
    user_data: *mut c_void,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, options, r) = unsafe {
            (
                arg(guard, "guard")?,
                arg(options, "options")?,
                arg(request, "request")?,
            )
        };
        let Some(done) = done else {
            return Err(Failure::null("done"));
        };
        // SAFETY: as for `mcpguard_guard_authorize_http`.
        let parts = unsafe { with_request(r, |request| OwnedHttpRequest::from(request)) }?;
        let done = Done { done, user_data };
        mcpguard_host::awaited::authorize_http(
            guard.guard.clone(),
            options.options.clone(),
            parts,
            move |_, decision| done.call(decision),
        );
        Ok(())
    })
}

/// Reads the body fields.
///
/// # Safety
/// `r.body` is NULL or valid for `r.body_len` bytes, for `'a`.
unsafe fn body_from_c<'a>(r: &'a mcpguard_http_request) -> Result<HttpBody<'a>, Failure> {
    Ok(match r.body_state {
        s if s == mcpguard_http_body::None as u32 => HttpBody::None,
        // SAFETY: forwarded from the caller's contract above.
        s if s == mcpguard_http_body::Bytes as u32 => {
            HttpBody::Bytes(unsafe { arg_bytes(r.body, r.body_len, "request.body") }?)
        }
        s if s == mcpguard_http_body::TooLarge as u32 => HttpBody::TooLarge,
        s if s == mcpguard_http_body::Unavailable as u32 => HttpBody::Unavailable,
        s if s == mcpguard_http_body::Failed as u32 => HttpBody::Failed,
        other => {
            return Err(Failure::new(
                mcpguard_result::InvalidArgument,
                format!("request.body_state {other} is not an mcpguard_http_body"),
            ));
        }
    })
}

/// What a gateway does with a request (`mcpguard_http_decision_action`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mcpguard_http_action {
    /// Send the decision's response (status, headers, body) as it is; the
    /// application never sees the request.
    Respond = 0,
    /// Hand the request to the application and add the decision's headers
    /// to its response; when `mcpguard_http_decision_filters_response` says
    /// so, pass the application's body through
    /// `mcpguard_http_decision_filter_response` first.
    Forward = 1,
    /// Not guarded (a CORS preflight): hand the request to the application
    /// untouched.
    Pass = 2,
}

/// Bytes that are not necessarily text: `len` bytes at `data` (never NULL
/// in an output), belonging to the object they came from.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mcpguard_bytes {
    /// The first byte.
    pub data: *const u8,
    /// The number of bytes.
    pub len: usize,
}

impl mcpguard_bytes {
    fn borrow(b: &[u8]) -> Self {
        // A zero-length slice of a Vec may dangle; C gets a real address.
        let b = if b.is_empty() { b"".as_slice() } else { b };
        mcpguard_bytes {
            data: b.as_ptr(),
            len: b.len(),
        }
    }
}

/// The answer for one HTTP request. Owned by the caller of
/// `mcpguard_guard_authorize_http`; read it from one thread at a time; free
/// it with `mcpguard_http_decision_free`.
pub struct mcpguard_http_decision {
    d: HttpDecision,
}

/// Frees an HTTP decision. NULL is ignored; the pointer and everything
/// borrowed from it are invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_decision_free(decision: *mut mcpguard_http_decision) {
    // SAFETY: `decision` is NULL or from `mcpguard_guard_authorize_http`, freed once.
    unsafe { free_boxed(decision) }
}

/// Runs an HTTP-decision accessor: checks the decision and the output.
///
/// # Safety
/// Pointers are NULL or valid (the header's pointer contract).
unsafe fn read<T>(
    decision: *const mcpguard_http_decision,
    out: *mut T,
    get: impl FnOnce(&HttpDecision) -> Result<T, Failure>,
) -> mcpguard_result {
    // SAFETY: forwarded from the caller's contract above.
    unsafe { read_handle(decision, "decision", out, |h| get(&h.d)) }
}

/// What to do: respond, forward or pass.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_decision_action(
    decision: *const mcpguard_http_decision,
    out: *mut mcpguard_http_action,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read(decision, out, |d| {
            Ok(match d.action {
                HttpAction::Respond(_) => mcpguard_http_action::Respond,
                HttpAction::Forward { .. } => mcpguard_http_action::Forward,
                HttpAction::Pass => mcpguard_http_action::Pass,
            })
        })
    }
}

/// The status, headers and body the decision's action carries: a whole
/// response to send (respond), headers to add (forward), nothing (pass).
fn parts(action: &HttpAction) -> (u16, &[(String, String)], &[u8]) {
    match action {
        HttpAction::Respond(r) => (r.status, &r.headers, &r.body),
        HttpAction::Forward { headers } => (0, headers, &[]),
        HttpAction::Pass => (0, &[], &[]),
    }
}

/// The status of the response to send when the action is respond (200 for
/// the metadata document, 204, 400, 401, 403, 405, 429, 500); 0 otherwise
/// (the application's status stands).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_decision_status(
    decision: *const mcpguard_http_decision,
    out: *mut u16,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read(decision, out, |d| Ok(parts(&d.action).0)) }
}

/// How many headers the decision carries: the response's (respond,
/// `Content-Type` and `Content-Length` included), those to add to the
/// application's response (forward: the rate-limit headers), or 0 (pass).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_decision_header_count(
    decision: *const mcpguard_http_decision,
    out: *mut usize,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read(decision, out, |d| Ok(parts(&d.action).1.len())) }
}

/// Header number `index` (from 0): its name and value, in the order to send
/// them. `MCPGUARD_RESULT_OUT_OF_RANGE` past the end.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_decision_header(
    decision: *const mcpguard_http_decision,
    index: usize,
    name: *mut mcpguard_str,
    value: *mut mcpguard_str,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (decision, name, value) = unsafe {
            (
                arg(decision, "decision")?,
                Out::new(name, "name")?,
                Out::new(value, "value")?,
            )
        };
        header_out(parts(&decision.d.action).1, index, &name, &value)
    })
}

fn header_out(
    headers: &[(String, String)],
    index: usize,
    name: &Out<mcpguard_str>,
    value: &Out<mcpguard_str>,
) -> Result<(), Failure> {
    let (n, v) = at(headers, index, "header")?;
    name.set(mcpguard_str::borrow(n));
    value.set(mcpguard_str::borrow(v));
    Ok(())
}

/// The body of the response to send when the action is respond (a JSON
/// document; zero-length for `HEAD`, 204 and a forward or pass).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_decision_body(
    decision: *const mcpguard_http_decision,
    out: *mut mcpguard_bytes,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read(decision, out, |d| {
            Ok(mcpguard_bytes::borrow(parts(&d.action).2))
        })
    }
}

/// Whether the application's response must go through
/// `mcpguard_http_decision_filter_response` before it is sent (a forwarded
/// request that asks for a listing: `tools/list`, `prompts/list`,
/// `resources/list`, `resources/templates/list`). A gateway that cannot
/// buffer the response must not send it unfiltered.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_decision_filters_response(
    decision: *const mcpguard_http_decision,
    out: *mut bool,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read(decision, out, |d| Ok(d.filters_response())) }
}

/// The Guard's decision inside, as an `mcpguard_decision` the caller frees
/// (read it with the `mcpguard_decision_*` functions: the principal to hand
/// to the application, `mcpguard_decision_to_json`, …), or NULL (still
/// `MCPGUARD_RESULT_OK`) when the Guard made none: the metadata route, a
/// preflight, a request the host got wrong (500).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_decision_decision(
    decision: *const mcpguard_http_decision,
    out: *mut *mut mcpguard_decision,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read(decision, out, |d| {
            Ok(d.decision.clone().map_or(std::ptr::null_mut(), |inner| {
                boxed(mcpguard_decision::new(inner))
            }))
        })
    }
}

/// Filters the application's response body (`body_len` bytes at `body`;
/// NULL when 0) down to the listing items the request's principal may use,
/// as `authorize` would decide a call of each item. `content_type` is the
/// response's `Content-Type` (NULL: none): JSON, or `text/event-stream`
/// whose `data:` events carry the JSON-RPC responses.
///
/// `*out` is a response the caller frees with `mcpguard_http_response_free`.
/// Its status is 0 when it holds the filtered body: send the application's
/// status and headers with that body, `Content-Length` set to its length
/// and any `Transfer-Encoding` removed (the body is whole now; the Python
/// and Express drop-ins send it so). A body the core cannot read is never passed through: the status
/// is then 502 and the response (status, headers, body) is what to send
/// instead. A decision that filters nothing returns the body unchanged.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_decision_filter_response(
    decision: *const mcpguard_http_decision,
    content_type: *const c_char,
    content_type_len: usize,
    body: *const u8,
    body_len: usize,
    out: *mut *mut mcpguard_http_response,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        // SAFETY: as above.
        let (decision, content_type, body) = unsafe {
            (
                arg(decision, "decision")?,
                arg_opt_str(content_type, content_type_len, "content_type")?,
                arg_bytes(body, body_len, "body")?,
            )
        };
        let response = match decision.d.filter_response(content_type, body) {
            Ok(body) => HttpResponse {
                status: 0,
                headers: Vec::new(),
                body,
            },
            Err(replacement) => replacement,
        };
        out.set(boxed(mcpguard_http_response { r: response }));
        Ok(())
    })
}

/// Whether the application's response header `name` (`name_len` bytes,
/// any case) is dropped when its body is replaced by the filtered one
/// `mcpguard_http_decision_filter_response` returns: the headers that
/// describe the unfiltered body (`Content-Length`, `Transfer-Encoding`,
/// `Content-MD5`, `Digest`, `Content-Digest`, `Repr-Digest`, `ETag`). Send
/// the application's other headers, and `Content-Length` with the filtered
/// body's length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_dropped_when_filtered(
    name: *const c_char,
    name_len: usize,
    out: *mut bool,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: as above.
        let name = unsafe { arg_str(name, name_len, "name") }?;
        out.set(mcpguard::guard::dropped_when_filtered(name));
        Ok(())
    })
}

/// What `mcpguard_http_decision_filter_response` hands back (the filtered
/// body, status 0 and no headers, or the response to send instead: 502),
/// and `mcpguard_oauth_server_handle_http`'s answer (a whole response to
/// send). Free it with `mcpguard_http_response_free`.
pub struct mcpguard_http_response {
    r: HttpResponse,
}

impl mcpguard_http_response {
    pub(crate) fn new(r: HttpResponse) -> Self {
        mcpguard_http_response { r }
    }
}

/// Frees a response. NULL is ignored; the pointer and everything borrowed
/// from it are invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_response_free(response: *mut mcpguard_http_response) {
    // SAFETY: `response` is NULL or from this library, freed once.
    unsafe { free_boxed(response) }
}

/// Runs a response accessor.
///
/// # Safety
/// Pointers are NULL or valid (the header's pointer contract).
unsafe fn read_response<T>(
    response: *const mcpguard_http_response,
    out: *mut T,
    get: impl FnOnce(&HttpResponse) -> T,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: forwarded from the caller's contract above.
        let (response, out) = unsafe { (arg(response, "response")?, Out::new(out, "out")?) };
        out.set(get(&response.r));
        Ok(())
    })
}

/// 0 when the response holds the filtered body (the application's status
/// stands), else the status to send (502).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_response_status(
    response: *const mcpguard_http_response,
    out: *mut u16,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read_response(response, out, |r| r.status) }
}

/// How many headers the response carries (0 for a filtered body).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_response_header_count(
    response: *const mcpguard_http_response,
    out: *mut usize,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read_response(response, out, |r| r.headers.len()) }
}

/// Header number `index` (from 0). `MCPGUARD_RESULT_OUT_OF_RANGE` past the end.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_response_header(
    response: *const mcpguard_http_response,
    index: usize,
    name: *mut mcpguard_str,
    value: *mut mcpguard_str,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (response, name, value) = unsafe {
            (
                arg(response, "response")?,
                Out::new(name, "name")?,
                Out::new(value, "value")?,
            )
        };
        header_out(&response.r.headers, index, &name, &value)
    })
}

/// The body to send: the filtered application body, or the 502 document.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_http_response_body(
    response: *const mcpguard_http_response,
    out: *mut mcpguard_bytes,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read_response(response, out, |r| mcpguard_bytes::borrow(&r.body)) }
}
