//! The core's HTTP entry point for JavaScript: `HttpOptions` (one per
//! protected endpoint), `guardAuthorizeHttp` (one call per request) and
//! the `HttpDecision` it returns.
//!
//! Only conversion happens here: Node's raw header list (strings whose
//! characters are the header's Latin-1 bytes) becomes bytes, the body
//! crosses as a `Buffer` or a marker, and the core's answer goes back as the
//! flat layout of [`crate::flat`] plus the response body. What the request
//! means is decided by `Guard::authorize_http` alone.

use mcpguard::ConfigError;
use mcpguard::guard::{self, HttpAction, HttpBody, HttpRequest};
use mcpguard_host::awaited::Request as _;
use napi::Env;
use napi::bindgen_prelude::{Buffer, Either, External, Object, Unknown};
use napi_derive::napi;

use crate::flat::{FlatBuilder, FlatText};
use crate::guard::whole_cost;
use crate::raw_headers::{self, RawHeaders};
use crate::{decide, errors, settle};

/// How one protected endpoint is guarded, built once from the options
/// object (`index.js` writes its JSON with the core's snake_case keys:
/// `server`, `read_body`, `max_body_bytes`, `serve_metadata`,
/// `listing_items`, `cost`).
#[napi]
pub struct HttpOptions {
    inner: guard::HttpOptions,
}

#[napi]
impl HttpOptions {
    /// Reads the options (JSON text) the core's way; unknown keys and bad
    /// values are a `ConfigError` naming the key.
    #[napi(constructor, catch_unwind)]
    pub fn new(options_json: String) -> napi::Result<HttpOptions> {
        let value: serde_json::Value = serde_json::from_str(&options_json)
            .map_err(|e| errors::config(&ConfigError::new("", format!("HTTP options: {e}"))))?;
        guard::HttpOptions::from_json(&value)
            .map(|inner| HttpOptions { inner })
            .map_err(|e| errors::config(&e))
    }

    /// The server this endpoint serves, or `null`.
    #[napi(getter, catch_unwind)]
    pub fn server(&self) -> Option<String> {
        self.inner.server.clone()
    }

    /// Whether `POST` bodies are read (the host must hand them over).
    #[napi(getter, catch_unwind)]
    pub fn read_body(&self) -> bool {
        self.inner.read_body
    }

    /// The largest body read; a host reads at most one byte more.
    #[napi(getter, catch_unwind)]
    pub fn max_body_bytes(&self) -> f64 {
        // A byte count: exact in an f64 up to 2^53.
        self.inner.max_body_bytes as f64
    }

    /// Whether the metadata route is answered.
    #[napi(getter, catch_unwind)]
    pub fn serve_metadata(&self) -> bool {
        self.inner.serve_metadata
    }
}

/// What the host hands over as the body (`bodyState` of
/// [`guard_authorize_http`]).
const BODY_GIVEN: u32 = 0;
const BODY_TOO_LARGE: u32 = 1;
const BODY_UNAVAILABLE: u32 = 2;

/// One request's parts as the host handed them, owned (the body apart):
/// what [`guard_authorize_http`] decides at once and
/// [`guard_authorize_http_async`] decides on the thread pool.
struct Parts {
    method: String,
    path: String,
    query: String,
    /// Node's raw header list, as bytes.
    headers: RawHeaders,
    peer: Option<String>,
    body_state: u32,
    server: Option<String>,
    key: Option<String>,
    cost: Option<u64>,
}

impl Parts {
    /// Checks and converts the arguments; only arguments the host got
    /// wrong are an error.
    #[allow(clippy::too_many_arguments)]
    fn new(
        method: String,
        path: String,
        query: String,
        raw_headers: RawHeaders,
        peer: Option<String>,
        body_state: u32,
        server: Option<String>,
        key: Option<String>,
        cost: Option<f64>,
    ) -> napi::Result<Parts> {
        if !raw_headers.is_paired() {
            return Err(errors::invalid_argument(
                "rawHeaders must alternate names and values (an even number of strings)",
            ));
        }
        if !matches!(body_state, BODY_GIVEN | BODY_TOO_LARGE | BODY_UNAVAILABLE) {
            return Err(errors::invalid_argument(format!(
                "unknown body state {body_state}"
            )));
        }
        let cost = cost
            .map(|c| whole_cost(Some(c)))
            .transpose()
            .map_err(|e| errors::invalid_argument(e.0))?;
        Ok(Parts {
            method,
            path,
            query,
            headers: raw_headers,
            peer,
            body_state,
            server,
            key,
            cost,
        })
    }

    /// The core's request.
    fn request<'a>(
        &'a self,
        headers: &'a [(&'a [u8], &'a [u8])],
        body: Option<&'a [u8]>,
    ) -> HttpRequest<'a> {
        let body = match (self.body_state, body) {
            (BODY_TOO_LARGE, _) => HttpBody::TooLarge,
            (BODY_UNAVAILABLE, _) => HttpBody::Unavailable,
            (_, Some(b)) => HttpBody::Bytes(b),
            (_, None) => HttpBody::None,
        };
        HttpRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers,
            peer: self.peer.as_deref(),
            body,
            server: self.server.as_deref(),
            key: self.key.as_deref(),
            cost: self.cost,
        }
    }

    /// The core's decision, with what the binding adds to it.
    fn decide(
        &self,
        guard: &guard::Guard,
        options: &guard::HttpOptions,
        body: Option<&[u8]>,
    ) -> HttpDecision {
        let headers = self.headers.pairs();
        let request = self.request(&headers, body);
        let inner = guard.authorize_http(&request, options);
        conclude(guard, &request, inner)
    }
}

/// A request decided off the event loop: its parts and its body, owned.
struct Asked {
    parts: Parts,
    body: Option<Vec<u8>>,
}

impl mcpguard_host::awaited::Request for Asked {
    fn header_pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.parts.headers.pairs()
    }
    fn request<'a>(&'a self, pairs: &'a [(&'a [u8], &'a [u8])]) -> HttpRequest<'a> {
        self.parts.request(pairs, self.body.as_deref())
    }
}

/// The binding's answer: the core's, with the principal's expiry as the
/// SDK's `AuthInfo` states it and, for a request handed to the
/// application with a principal, its bearer token.
fn conclude(
    guard: &guard::Guard,
    request: &HttpRequest<'_>,
    inner: guard::HttpDecision,
) -> HttpDecision {
    let accepted_until = inner
        .decision
        .as_ref()
        .and_then(|d| d.principal.as_deref())
        .and_then(|p| guard.token_validator().accepted_until(p));
    // `AuthInfo` is for a request handed to the application.
    let admitted = matches!(inner.action, HttpAction::Forward { .. })
        && inner
            .decision
            .as_ref()
            .is_some_and(|d| d.principal.is_some());
    let token = admitted
        .then(|| request.bearer_token())
        .flatten()
        .map(str::to_owned);
    HttpDecision {
        inner,
        accepted_until,
        token,
    }
}

/// An answer that is all in the flat layout (pass, or forward without a
/// listing to filter: most requests) as that string; one with more to give
/// later (a response body, a listing filter) as the [`HttpDecision`]
/// object, which costs Node-API a wrapped instance, a reference and a
/// finalizer.
fn answer(decision: HttpDecision) -> Either<FlatText, HttpDecision> {
    if decision.is_flat() {
        Either::A(decision.flat())
    } else {
        Either::B(decision)
    }
}

/// Decides one HTTP request (`index.js` wraps it as `guard.authorizeHttp`).
/// `rawHeaders` is Node's `req.rawHeaders` (name, value, name, value, …);
/// `bodyState` is 0 (the body is `body`, or none), 1 (the host stopped
/// reading past `maxBodyBytes`) or 2 (the body was consumed elsewhere).
/// Never throws for a refusal; only arguments the host got wrong throw.
/// The answer is the flat text when it is all in the flat layout, else
/// the [`HttpDecision`] object.
#[napi(ts_return_type = "string | HttpDecision", catch_unwind)]
#[allow(clippy::too_many_arguments)] // positional: no property lookups on the hot path
pub fn guard_authorize_http(
    env: &Env,
    guard: &External<guard::Guard>,
    options: &HttpOptions,
    method: String,
    path: String,
    query: String,
    #[napi(ts_arg_type = "Array<string>")] raw_headers: Unknown<'_>,
    peer: Option<String>,
    body: Option<Buffer>,
    body_state: u32,
    server: Option<String>,
    key: Option<String>,
    cost: Option<f64>,
) -> napi::Result<Either<FlatText, HttpDecision>> {
    let parts = Parts::new(
        method,
        path,
        query,
        raw_headers::read(env, raw_headers)?,
        peer,
        body_state,
        server,
        key,
        cost,
    )?;
    Ok(answer(parts.decide(guard, &options.inner, body.as_deref())))
}

/// [`guard_authorize_http`] awaited (`mcpguard_host::awaited`), for a
/// Guard whose decisions may wait on the network (the Redis store): a
/// request it can take from memory is decided here, its Redis check
/// pipelined; any other on a thread of mcpguard's own. The event loop goes
/// on serving while a round trip is under way, and libuv's pool stays free
/// for files and names. The
/// arguments are checked and copied (the body too) before it returns; a
/// promise of the same answer (`index.js` wraps it as
/// `guard.authorizeHttpAsync`), rejected only if the decision panicked.
#[napi(ts_return_type = "Promise<string | HttpDecision>", catch_unwind)]
#[allow(clippy::too_many_arguments)] // the same arguments as the synchronous call
pub fn guard_authorize_http_async<'env>(
    env: &'env Env,
    guard: &External<guard::Guard>,
    options: &HttpOptions,
    method: String,
    path: String,
    query: String,
    #[napi(ts_arg_type = "Array<string>")] raw_headers: Unknown<'_>,
    peer: Option<String>,
    body: Option<Buffer>,
    body_state: u32,
    server: Option<String>,
    key: Option<String>,
    cost: Option<f64>,
) -> napi::Result<Object<'env>> {
    let parts = Parts::new(
        method,
        path,
        query,
        raw_headers::read(env, raw_headers)?,
        peer,
        body_state,
        server,
        key,
        cost,
    )?;
    let asked = Asked {
        parts,
        body: body.map(|b| b.to_vec()),
    };
    let (pending, promise) = settle::promise(env)?;
    let guard = (**guard).clone();
    mcpguard_host::awaited::authorize_http(
        guard.clone(),
        options.inner.clone(),
        asked,
        move |asked, decided| match decided {
            Some(inner) => {
                let pairs = asked.header_pairs();
                let request = asked.request(&pairs);
                pending.resolve(answer(conclude(&guard, &request, inner)));
            }
            None => pending.reject(decide::failed()),
        },
    );
    Ok(promise)
}

/// The application's response headers a filtered listing drops, lower
/// case (the core's `FILTERED_BODY_DROPS`): they describe the unfiltered
/// body (length, framing, digests, entity tag).
#[napi(catch_unwind)]
pub fn filtered_body_drops() -> Vec<String> {
    guard::FILTERED_BODY_DROPS
        .iter()
        .map(|n| n.to_string())
        .collect()
}

/// The answer for one HTTP request (see `Guard::authorize_http`).
#[napi]
pub struct HttpDecision {
    inner: guard::HttpDecision,
    accepted_until: Option<i64>,
    /// The bearer token, when a principal was admitted (for `AuthInfo`).
    token: Option<String>,
}

/// What `filterResponse` gives: the filtered body, or the response to send
/// instead (502) when the application's response cannot be read.
#[napi(object)]
pub struct FilteredResponse {
    /// Whether `body` is the filtered body (else `status`, `headers` and
    /// `body` are the response to send instead).
    pub ok: bool,
    /// The status of the response to send instead.
    pub status: Option<u32>,
    /// Its headers, `[name, value]` pairs.
    pub headers: Option<Vec<Vec<String>>>,
    /// The filtered body, or the body of the response to send instead.
    pub body: Buffer,
}

fn pairs(headers: &[(String, String)]) -> Vec<Vec<String>> {
    headers
        .iter()
        .map(|(n, v)| vec![n.clone(), v.clone()])
        .collect()
}

impl HttpDecision {
    /// Whether the flat layout says all there is: no response body to
    /// send and no listing to filter.
    fn is_flat(&self) -> bool {
        !matches!(self.inner.action, HttpAction::Respond(_)) && !self.inner.filters_response()
    }
}

#[napi]
impl HttpDecision {
    /// Everything but the response body, in the flat layout of
    /// [`crate::flat`] (`index.js` reads it).
    #[napi(ts_return_type = "string", catch_unwind)]
    pub fn flat(&self) -> FlatText {
        let mut out = FlatBuilder::default();
        out.http(&self.inner, self.accepted_until, self.token.as_deref());
        out.finish()
    }

    /// The body of the response to send (`respond`); empty otherwise.
    #[napi(catch_unwind)]
    pub fn body(&self) -> Buffer {
        match &self.inner.action {
            HttpAction::Respond(r) => Buffer::from(r.body.as_slice()),
            _ => Buffer::from(Vec::new()),
        }
    }

    /// The application's response body with every listing result filtered
    /// down to what the principal may call; `contentType` is the response's
    /// `Content-Type` (JSON, or an SSE stream of `data:` events).
    #[napi(catch_unwind)]
    pub fn filter_response(&self, content_type: Option<String>, body: Buffer) -> FilteredResponse {
        match self.inner.filter_response(content_type.as_deref(), &body) {
            Ok(filtered) => FilteredResponse {
                ok: true,
                status: None,
                headers: None,
                body: filtered.into(),
            },
            Err(r) => FilteredResponse {
                ok: false,
                status: Some(u32::from(r.status)),
                headers: Some(pairs(&r.headers)),
                body: r.body.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exported_drops_are_the_cores_list() {
        assert_eq!(filtered_body_drops(), guard::FILTERED_BODY_DROPS);
    }
}
