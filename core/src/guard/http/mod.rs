//! The HTTP-level entry point: what a request means, decided once for every
//! HTTP stack.
//!
//! A host's middleware (ASGI, Express, tower, a C gateway) hands over what
//! any HTTP stack has — method, path, the raw query string, every header
//! (repeated ones included), the peer address and the body bytes — and gets
//! back what to do: answer with a response the core built (the RFC 9728
//! metadata document, or a refusal with its status, headers and JSON body),
//! or pass the request on with headers to add to the application's
//! response. The middleware only moves bytes; it decides nothing, so no two
//! stacks can disagree.
//!
//! What is decided here, in this order:
//!
//! 1. the metadata route: `GET`/`HEAD`/`OPTIONS` on the path of
//!    [`Guard::metadata_path`] (the query is ignored), unguarded; any other
//!    method there is 405;
//! 2. a CORS preflight (`OPTIONS` with `Origin` and
//!    `Access-Control-Request-Method`) carries no credentials and is passed
//!    on unguarded ([`HttpAction::Pass`]);
//! 3. the `Authorization` header: more than one is 400 `invalid_request`
//!    (RFC 6750 §3.1: one method, one token); a value that is not visible
//!    ASCII is `malformed`; then the rules of [`parse_authorization`];
//! 4. the query string: 1MCP's `tags`, `tag-filter` and `preset` (one at
//!    most, see [`filter_from_query`]); an `access_token` parameter is 400;
//! 5. the body, when [`HttpOptions::read_body`] is on and the method is
//!    `POST`: a JSON-RPC message or batch read strictly (see `body.rs`);
//!    anything it cannot read, and a body over
//!    [`HttpOptions::max_body_bytes`], is 400 `invalid_request`, never "no
//!    tools"; a `POST` whose body the host did not hand over is a 500 that
//!    names the host's mistake, never an unchecked call;
//! 6. one [`Guard`] decision for the whole request: every tool a batch
//!    calls must be allowed, and the rate limits of all of them are charged
//!    together, once, with the request's cost times the number of calls;
//! 7. for an allowed request that asks for listings (`tools/list`,
//!    `prompts/list`, `resources/list`, `resources/templates/list`), the
//!    host hands the application's response back to
//!    [`HttpDecision::filter_response`] and sends what it returns.
//!
//! [`parse_authorization`]: super::parse_authorization

mod body;
mod listing;
pub(crate) use listing::Second;
mod owned;
mod query;

pub use owned::OwnedHttpRequest;

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Value, json};

pub use query::filter_from_query;

use super::request::{Credentials, Request, RequestError, parse_authorization};
use super::{Decision, Guard};
use crate::access::{AccessPolicy, Filter, Granted, ItemServer, ListingItems};
use crate::error::ConfigError;
use crate::reason::OAuthError;

/// Default for [`HttpOptions::max_body_bytes`]: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How one protected endpoint is guarded: built once by the host's
/// middleware, shared by every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// The MCP server this endpoint serves, for access checks and rate-limit
    /// rules. A request may name another through [`HttpRequest::server`].
    pub server: Option<String>,
    /// Read `POST` bodies for the tools they call and the listings they ask
    /// for. Needs a server. Default: on when `server` is set.
    pub read_body: bool,
    /// The largest body read; a larger one is refused (400).
    pub max_body_bytes: usize,
    /// Answer the RFC 9728 metadata route. Default: on.
    pub serve_metadata: bool,
    /// How listed items map to servers. Default: every item belongs to
    /// `server`.
    pub listing_items: Option<ListingItems>,
    /// Rate-limit cost of one request (or of one call in a batch). Default 1.
    pub cost: u64,
}

impl HttpOptions {
    /// Options for an endpoint that serves `server` (or none): bodies read
    /// when there is a server, the metadata route served, cost 1.
    pub fn new(server: Option<&str>) -> HttpOptions {
        HttpOptions {
            server: server.map(str::to_string),
            read_body: server.is_some(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            serve_metadata: true,
            listing_items: None,
            cost: 1,
        }
    }

    /// Reads options from JSON, the shape every binding passes:
    /// `{"server", "read_body", "max_body_bytes", "serve_metadata",
    /// "listing_items", "cost"}`, all optional. `listing_items` is
    /// `{"server": "name"}`, `{"prefix": {"field": "name", "separator":
    /// "_1mcp_"}}`, `{"one_mcp": true}` or `{"field": "/_meta/server"}`.
    /// Unknown keys are errors, as in the Guard configuration.
    pub fn from_json(value: &Value) -> Result<HttpOptions, ConfigError> {
        let obj = match value {
            Value::Null => return Ok(HttpOptions::new(None)),
            Value::Object(o) => o,
            _ => return Err(ConfigError::new("", "HTTP options must be a JSON object")),
        };
        let server = match obj.get("server") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(ConfigError::new("server", "must be a string")),
        };
        let mut o = HttpOptions::new(server);
        for (key, v) in obj {
            let bool_of = |v: &Value| {
                v.as_bool()
                    .ok_or_else(|| ConfigError::new(key.as_str(), "must be true or false"))
            };
            match key.as_str() {
                "server" => {}
                "read_body" => o.read_body = bool_of(v)?,
                "serve_metadata" => o.serve_metadata = bool_of(v)?,
                "max_body_bytes" => {
                    o.max_body_bytes = v
                        .as_u64()
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or_else(|| ConfigError::new(key.as_str(), "must be a whole number"))?
                }
                "cost" => {
                    o.cost = v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                        ConfigError::new(key.as_str(), "must be a whole number of at least 1")
                    })?
                }
                "listing_items" => o.listing_items = Some(listing_items_from_json(v)?),
                other => {
                    return Err(ConfigError::new(other, "unknown HTTP option"));
                }
            }
        }
        o.check()?;
        Ok(o)
    }

    /// Checks that the options fit together. Reading bodies without a
    /// server is allowed (a host function may choose the server per
    /// request): a `tools/call` that reaches no server is then a 400, and a
    /// listing no server owns shows nothing.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.cost < 1 {
            return Err(ConfigError::new("cost", "must be at least 1"));
        }
        Ok(())
    }
}

fn listing_items_from_json(v: &Value) -> Result<ListingItems, ConfigError> {
    let path = "listing_items";
    let obj = v
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| ConfigError::new(path, "must be an object with one key"))?;
    let (kind, value) = obj
        .iter()
        .next()
        .ok_or_else(|| ConfigError::new(path, "is empty"))?;
    let text = |v: &Value, at: &str| {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| ConfigError::new(format!("{path}.{at}"), "must be a string"))
    };
    match kind.as_str() {
        "server" => Ok(ListingItems::Server(text(value, "server")?)),
        "field" => Ok(ListingItems::Mapped(ItemServer::Field(text(
            value, "field",
        )?))),
        "one_mcp" if value == &Value::Bool(true) => Ok(ListingItems::Mapped(ItemServer::one_mcp())),
        "prefix" => {
            let field = value
                .get("field")
                .map_or(Ok("name".to_string()), |f| text(f, "prefix.field"))?;
            let separator = text(
                value.get("separator").unwrap_or(&Value::Null),
                "prefix.separator",
            )?;
            if separator.is_empty() {
                return Err(ConfigError::new(
                    format!("{path}.prefix.separator"),
                    "must not be empty",
                ));
            }
            Ok(ListingItems::Mapped(ItemServer::Prefix {
                field,
                separator,
            }))
        }
        other => Err(ConfigError::new(
            format!("{path}.{other}"),
            "unknown listing mapping",
        )),
    }
}

/// The body of a request, as the host has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpBody<'a> {
    /// The request has no body (`GET`, `DELETE`, or an empty `POST` the
    /// host knows to be empty: it is then read as zero bytes).
    None,
    /// The whole body.
    Bytes(&'a [u8]),
    /// The host stopped reading past [`HttpOptions::max_body_bytes`].
    TooLarge,
    /// The host could not hand the body over (it was consumed elsewhere):
    /// the host's mistake, answered with a 500 that names it.
    Unavailable,
    /// Reading the body failed (the client broke off or sent a broken
    /// chunked encoding): 400, the body cannot be read.
    Failed,
}

/// One HTTP request as any stack has it.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// The method, e.g. `POST` (compared exactly: methods are case-sensitive).
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The raw query string as received (without the `?`), not decoded.
    pub query: &'a str,
    /// Every header as `(name, value)` bytes, repeated ones included.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// The peer's address: the default rate-limit key.
    pub peer: Option<&'a str>,
    /// The body.
    pub body: HttpBody<'a>,
    /// A server the host's routing chose for this request (overrides
    /// [`HttpOptions::server`]).
    pub server: Option<&'a str>,
    /// A rate-limit key the host chose (overrides `peer`), e.g. from the
    /// header its proxy sets. `X-Forwarded-For` is never read here.
    pub key: Option<&'a str>,
    /// A cost the host chose (overrides [`HttpOptions::cost`]).
    pub cost: Option<u64>,
}

impl<'a> HttpRequest<'a> {
    /// A request with no headers, query, peer or body.
    pub fn new(method: &'a str, path: &'a str) -> HttpRequest<'a> {
        HttpRequest {
            method,
            path,
            query: "",
            headers: &[],
            peer: None,
            body: HttpBody::None,
            server: None,
            key: None,
            cost: None,
        }
    }

    fn header_values<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        let headers: &'a [(&'a [u8], &'a [u8])] = self.headers;
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| *v)
    }

    fn has_header(&self, name: &str) -> bool {
        self.header_values(name).next().is_some()
    }

    /// The bearer token of the request's one `Authorization` header, read
    /// by the rules `authorize_http` applies (`None` when there is no such
    /// header, more than one, or a value that is not a bearer credential of
    /// visible ASCII). For a host that hands the token on, as the MCP SDKs'
    /// `AuthInfo.token` does, once the request was admitted.
    pub fn bearer_token(&self) -> Option<&'a str> {
        let mut values = self.header_values("authorization");
        let value = values.next()?;
        if values.next().is_some() || !visible_ascii(value) {
            return None;
        }
        match parse_authorization(std::str::from_utf8(value).ok(), usize::MAX) {
            Ok(Credentials::Bearer(token)) => Some(token),
            _ => None,
        }
    }
}

/// A complete response the core built; the host sends it as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers in order, `Content-Type` and `Content-Length` included.
    pub headers: Vec<(String, String)>,
    /// The body (empty for `HEAD`, 204 and 405 without a body).
    pub body: Vec<u8>,
}

impl HttpResponse {
    fn json(status: u16, mut headers: Vec<(String, String)>, doc: &Value) -> HttpResponse {
        let body = serde_json::to_vec(doc).unwrap_or_default();
        headers.push(("Content-Type".into(), "application/json".into()));
        headers.push(("Content-Length".into(), body.len().to_string()));
        HttpResponse {
            status,
            headers,
            body,
        }
    }

    /// The 502 sent instead of a listing response the guard could not read
    /// (or that failed to arrive from the application): a listing is never
    /// passed through unfiltered.
    pub fn listing_unreadable(why: &str) -> HttpResponse {
        HttpResponse::json(
            502,
            Vec::new(),
            &json!({
                "error": "server_error",
                "error_description": format!("mcpguard could not filter the listing response: {why}"),
            }),
        )
    }

    /// The response's JSON shape, as the cross-surface vectors hold it:
    /// `{"status", "headers": [[name, value], …], "body": "<text>"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "status": self.status,
            "headers": self.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
            "body": String::from_utf8_lossy(&self.body),
        })
    }
}

/// What the host does with the request.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpAction {
    /// Send this response; the application never sees the request.
    Respond(HttpResponse),
    /// Hand the request to the application and add these headers to its
    /// response (the rate-limit headers).
    Forward {
        /// Headers to add to the application's response.
        headers: Vec<(String, String)>,
    },
    /// Not guarded (a CORS preflight): hand it to the application untouched.
    Pass,
}

/// The answer for one HTTP request.
#[derive(Debug, Clone)]
pub struct HttpDecision {
    /// What to do.
    pub action: HttpAction,
    /// The Guard's decision, when one was made (not for the metadata route,
    /// a preflight, or a request refused before the Guard saw it).
    pub decision: Option<Decision>,
    listing: Option<Arc<ListingScope>>,
}

/// What [`HttpDecision::filter_response`] filters by.
#[derive(Debug)]
struct ListingScope {
    policy: Arc<AccessPolicy>,
    granted: Arc<Granted>,
    filter: Option<Arc<Filter>>,
    /// How items map to servers; `None`: no server owns them.
    items: Option<ListingItems>,
    ids: Vec<Value>,
}

impl HttpDecision {
    fn respond(response: HttpResponse) -> HttpDecision {
        HttpDecision {
            action: HttpAction::Respond(response),
            decision: None,
            listing: None,
        }
    }

    /// Whether the application's response must go through
    /// [`filter_response`](Self::filter_response) (the request asked for a
    /// listing). A host that cannot buffer the response must not send it.
    pub fn filters_response(&self) -> bool {
        self.listing.is_some()
    }

    /// The application's response body with every listing result filtered
    /// down to what the principal may call, as `authorize` would decide a
    /// call of each item. `content_type` is the response's `Content-Type`:
    /// JSON (`application/json`), or `text/event-stream` whose `data:`
    /// events carry the JSON-RPC responses. An empty body is returned as
    /// it is. A body that cannot be read is never passed through: the
    /// error is the 502 response to send instead. That includes an event
    /// whose data is not JSON (an event with empty data, the SDKs' priming
    /// event, passes), and a response that gives a member the filter reads
    /// twice (an `id`, a `result`, a list, an item's `name`, any key of an
    /// item mapped by a JSON pointer): JSON parsers disagree on which one a
    /// client would see. Send the filtered body with the application's
    /// status and headers, less those [`dropped_when_filtered`] names, and
    /// `Content-Length` set to its length.
    pub fn filter_response(
        &self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, HttpResponse> {
        self.filter_response_reading(content_type, body, Second::AsNeeded)
    }

    /// [`filter_response`](Self::filter_response), with a listing that
    /// loses items placed by the reading `second` allows.
    pub(crate) fn filter_response_reading(
        &self,
        content_type: Option<&str>,
        body: &[u8],
        second: Second,
    ) -> Result<Vec<u8>, HttpResponse> {
        let Some(scope) = self.listing.as_deref() else {
            return Ok(body.to_vec());
        };
        listing::filter_body(scope, content_type, body, second)
            .map_err(|why| HttpResponse::listing_unreadable(&why))
    }
}

/// The application's response headers that describe its body, and so are
/// wrong for the body [`HttpDecision::filter_response`] returns: its
/// length and framing (`Content-Length`, `Transfer-Encoding`), its digests
/// (`Content-MD5`, RFC 3230 `Digest`, RFC 9530 `Content-Digest` and
/// `Repr-Digest`) and its entity tag (`ETag`: a cache holding the
/// unfiltered listing under it must not answer for the filtered one).
/// Lower case; compare names without case. A host sending a filtered body
/// drops these and sends `Content-Length` with the filtered body's length.
pub const FILTERED_BODY_DROPS: [&str; 7] = [
    "content-length",
    "transfer-encoding",
    "content-md5",
    "digest",
    "content-digest",
    "repr-digest",
    "etag",
];

/// Whether the application's response header `name` (any case) is dropped
/// when its body is replaced by a filtered one (see
/// [`FILTERED_BODY_DROPS`]).
pub fn dropped_when_filtered(name: &str) -> bool {
    FILTERED_BODY_DROPS
        .iter()
        .any(|d| d.eq_ignore_ascii_case(name))
}

const PREFLIGHT_ALLOW_HEADERS: &str = "*";

impl Guard {
    /// Decides one HTTP request (see the [module doc](self) for what is
    /// decided and in which order). Never fails: every refusal is an
    /// [`HttpAction::Respond`] with its status, headers and JSON body.
    ///
    /// ```
    /// use mcpguard::guard::{Guard, HttpAction, HttpOptions, HttpRequest};
    /// let guard = Guard::from_json(r#"{
    ///     "resource": "https://mcp.example.com/mcp",
    ///     "auth": { "issuers": [] },
    ///     "servers": { "files": { "tags": ["files"] } }
    /// }"#).unwrap();
    /// let options = HttpOptions::new(Some("files"));
    /// // The SSE stream a client opens: no token, so 401 naming the metadata.
    /// let d = guard.authorize_http(&HttpRequest::new("GET", "/mcp"), &options);
    /// let HttpAction::Respond(response) = d.action else { panic!() };
    /// assert_eq!(response.status, 401);
    /// // A POST's body is read first: an empty one is no JSON-RPC message.
    /// let d = guard.authorize_http(&HttpRequest::new("POST", "/mcp"), &options);
    /// let HttpAction::Respond(response) = d.action else { panic!() };
    /// assert_eq!(response.status, 400);
    /// ```
    pub fn authorize_http(&self, req: &HttpRequest<'_>, options: &HttpOptions) -> HttpDecision {
        let inputs = match self.http_front(req, options) {
            Front::Decide(inputs) => inputs,
            Front::Answered(answered) => return answered,
        };
        let call = HttpCall::new(req, options, &inputs);
        let decided = self.decide(&call.request, call.tools.as_slice());
        self.http_outcome(decided, options, inputs)
    }

    /// [`authorize_http`](Self::authorize_http) as a future that waits for
    /// a shared store without holding a thread: with a store that answers
    /// later (the Redis store on one server pipelines the checks of every
    /// waiting request on one connection), the first poll decides up to
    /// the rate limit and sends the check, and the store's answer wakes
    /// the future to finish. With any other store it completes on its
    /// first poll. The same steps and the same decision as
    /// `authorize_http`; run it with [`task::spawn`](crate::task::spawn) or
    /// any executor.
    pub async fn authorize_http_later(
        &self,
        req: &HttpRequest<'_>,
        options: &HttpOptions,
    ) -> HttpDecision {
        let inputs = match self.http_front(req, options) {
            Front::Decide(inputs) => inputs,
            Front::Answered(answered) => return answered,
        };
        let call = HttpCall::new(req, options, &inputs);
        let decided = self
            .decide_later(&call.request, call.tools.as_slice())
            .await;
        self.http_outcome(decided, options, inputs)
    }

    /// [`authorize_http_later`](Self::authorize_http_later) when the
    /// steps before the shared store need nothing but memory (no token, or
    /// one the verified-token cache holds with no read of the shared
    /// revocation epoch due) and the rate limits are in process or in a
    /// store that answers later. Then its first poll never waits, so an event
    /// loop may make it itself (the Redis check is sent, and the answer
    /// finishes the decision where it arrives). `None`, with nothing
    /// recorded or counted, when they would wait (a signature to check, a
    /// key set to fetch, a store or an introspection endpoint to ask, the
    /// epoch to read): decide with `authorize_http_later` where waiting is
    /// allowed. Whatever it answers is what `authorize_http` answers.
    pub async fn authorize_http_later_in_memory(
        &self,
        req: &HttpRequest<'_>,
        options: &HttpOptions,
    ) -> Option<HttpDecision> {
        let inputs = match self.http_front(req, options) {
            Front::Decide(inputs) => inputs,
            Front::Answered(answered) => return Some(answered),
        };
        let call = HttpCall::new(req, options, &inputs);
        let decided = self
            .decide_in_memory_later(&call.request, call.tools.as_slice())
            .await?;
        Some(self.http_outcome(decided, options, inputs))
    }

    /// What is answered before the Guard decides (the metadata route, a
    /// preflight, a request that cannot be read), or what the request says.
    fn http_front<'r>(&self, req: &HttpRequest<'r>, options: &'r HttpOptions) -> Front<'r> {
        if options.serve_metadata && req.path == self.metadata_route() {
            return Front::Answered(HttpDecision::respond(self.metadata_response(req)));
        }
        if req.method == "OPTIONS"
            && req.has_header("origin")
            && req.has_header("access-control-request-method")
        {
            return Front::Answered(HttpDecision {
                action: HttpAction::Pass,
                decision: None,
                listing: None,
            });
        }
        match self.http_inputs(req, options) {
            Ok(inputs) => Front::Decide(inputs),
            Err(Early::Invalid(e)) => {
                let d = self.refuse_request(&e);
                let response = refusal_response(&d);
                Front::Answered(HttpDecision {
                    action: HttpAction::Respond(response),
                    decision: Some(d),
                    listing: None,
                })
            }
            Err(Early::Response(r)) => Front::Answered(HttpDecision::respond(r)),
        }
    }

    /// The path the metadata document is served at, without a query.
    fn metadata_route(&self) -> &str {
        let path = self.metadata_path();
        path.split_once('?').map_or(path, |(p, _)| p)
    }

    fn metadata_response(&self, req: &HttpRequest<'_>) -> HttpResponse {
        let cors = || vec![("Access-Control-Allow-Origin".to_string(), "*".to_string())];
        match req.method {
            "GET" | "HEAD" => {
                let mut r = HttpResponse::json(200, cors(), &self.inner.metadata);
                r.headers
                    .push(("Cache-Control".into(), "public, max-age=3600".into()));
                if req.method == "HEAD" {
                    r.body.clear();
                }
                r
            }
            "OPTIONS" => {
                let mut headers = cors();
                headers.push((
                    "Access-Control-Allow-Methods".into(),
                    "GET, HEAD, OPTIONS".into(),
                ));
                headers.push((
                    "Access-Control-Allow-Headers".into(),
                    PREFLIGHT_ALLOW_HEADERS.into(),
                ));
                headers.push(("Access-Control-Max-Age".into(), "86400".into()));
                headers.push(("Content-Length".into(), "0".into()));
                HttpResponse {
                    status: 204,
                    headers,
                    body: Vec::new(),
                }
            }
            method => {
                let mut headers = cors();
                headers.push(("Allow".into(), "GET, HEAD, OPTIONS".into()));
                HttpResponse::json(
                    405,
                    headers,
                    &json!({
                        "error": "invalid_request",
                        "error_description": format!("{method} is not allowed on the metadata document"),
                    }),
                )
            }
        }
    }

    /// Everything the request says, read before the Guard decides.
    fn http_inputs<'r>(
        &self,
        req: &HttpRequest<'r>,
        options: &'r HttpOptions,
    ) -> Result<Inputs<'r>, Early> {
        let mut authorization = None;
        for value in req.header_values("authorization") {
            if authorization.is_some() {
                return Err(Early::Invalid(RequestError(
                    "The request carries more than one Authorization header".into(),
                )));
            }
            authorization = Some(value);
        }
        // Visible ASCII, spaces and tabs only (RFC 9110 field values);
        // anything else is the token check's `malformed`.
        let authorization = authorization.map(|v| match std::str::from_utf8(v) {
            Ok(text) if visible_ascii(v) => HeaderText::Text(text),
            _ => HeaderText::Unreadable,
        });
        let filter = query::query_filter(req.query).map_err(Early::Invalid)?;
        let server = req.server.or(options.server.as_deref());
        let rpc = if options.read_body && req.method == "POST" {
            match req.body {
                HttpBody::Bytes(b) if b.len() > options.max_body_bytes => {
                    return Err(too_large(options));
                }
                HttpBody::TooLarge => return Err(too_large(options)),
                HttpBody::Bytes(b) => Some(body::read_rpc_body(b)),
                HttpBody::None => Some(body::read_rpc_body(b"")),
                HttpBody::Unavailable => return Err(Early::Response(no_body_response())),
                HttpBody::Failed => {
                    return Err(Early::Invalid(RequestError(
                        "The request body could not be read".into(),
                    )));
                }
            }
        } else {
            None
        };
        let rpc = match rpc {
            None => body::RpcBody::default(),
            Some(Ok(b)) => b,
            Some(Err(e)) => return Err(Early::Invalid(RequestError(e.to_string()))),
        };
        Ok(Inputs {
            authorization,
            filter,
            server,
            rpc,
        })
    }

    /// The HTTP answer to a decision: the refusal's response, or the
    /// request forwarded with the decision's headers (and, for a listing
    /// request, what filtering its response needs).
    fn http_outcome(
        &self,
        (decision, filter): super::Decided,
        options: &HttpOptions,
        inputs: Inputs<'_>,
    ) -> HttpDecision {
        if !decision.allowed {
            return HttpDecision {
                action: HttpAction::Respond(refusal_response(&decision)),
                decision: Some(decision),
                listing: None,
            };
        }
        let listing = (!inputs.rpc.listing_ids.is_empty()).then(|| {
            self.listing_scope(
                &decision,
                filter,
                options,
                inputs.server,
                inputs.rpc.listing_ids,
            )
        });
        HttpDecision {
            action: HttpAction::Forward {
                headers: decision
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.clone()))
                    .collect(),
            },
            decision: Some(decision),
            listing: listing.map(Arc::new),
        }
    }

    fn listing_scope(
        &self,
        decision: &Decision,
        filter: Option<Arc<Filter>>,
        options: &HttpOptions,
        server: Option<&str>,
        ids: Vec<Value>,
    ) -> ListingScope {
        let items = match (&options.listing_items, server) {
            (Some(items), _) => Some(items.clone()),
            (None, Some(server)) => Some(ListingItems::Server(server.to_string())),
            // A call of an item no server owns would be refused (a tool
            // without its server): such a listing shows nothing.
            (None, None) => None,
        };
        let policy = self.inner.access.clone();
        let granted = match decision.principal.as_deref() {
            None => Arc::new(Granted::All),
            Some(p) => match &p.granted {
                Some(g) => g.clone(),
                None => Arc::new(policy.granted(&p.tags)),
            },
        };
        ListingScope {
            policy,
            granted,
            filter,
            items,
            ids,
        }
    }
}

/// The Guard's request for an HTTP request, and the tools its body calls.
struct HttpCall<'r> {
    request: Request<'r>,
    tools: Tools<'r>,
}

/// The tools a body calls: one (the common case) needs no vector.
enum Tools<'r> {
    None,
    One([&'r str; 1]),
    Many(Vec<&'r str>),
}

impl Tools<'_> {
    fn as_slice(&self) -> &[&str] {
        match self {
            Tools::None => &[],
            Tools::One(one) => one,
            Tools::Many(many) => many,
        }
    }
}

impl<'i> HttpCall<'i> {
    /// The call `inputs` make (borrowed from them), at the request's cost
    /// times the tools it calls.
    fn new(req: &HttpRequest<'i>, options: &HttpOptions, inputs: &'i Inputs<'_>) -> HttpCall<'i> {
        let calls = u64::try_from(inputs.rpc.tools.len().max(1)).unwrap_or(u64::MAX);
        let cost = req.cost.unwrap_or(options.cost).saturating_mul(calls);
        let authorization = match inputs.authorization {
            None => None,
            Some(HeaderText::Text(t)) => Some(t),
            // A value the token check refuses as malformed, whatever it is.
            Some(HeaderText::Unreadable) => Some("\u{0}"),
        };
        let request = Request {
            authorization,
            server: inputs.server,
            tool: None,
            filter: inputs.filter.as_ref().map(|(kind, value)| kind.with(value)),
            key: req.key.or(req.peer),
            cost,
        };
        let tools = match inputs.rpc.tools.as_slice() {
            [] => Tools::None,
            [tool] => Tools::One([&**tool]),
            all => Tools::Many(all.iter().map(|t| &**t).collect()),
        };
        HttpCall { request, tools }
    }
}

/// Whether every byte is visible ASCII, a space or a tab. Reads every
/// byte without stopping early, so the compiler can check many at a time
/// (a bearer token is hundreds of bytes, on every request).
fn visible_ascii(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        ok & ((0x20..0x7f).contains(&b) | (b == b'\t'))
    })
}

/// What the request says, read before the Guard decides.
struct Inputs<'r> {
    authorization: Option<HeaderText<'r>>,
    /// The query's filter, decoded.
    filter: Option<(query::FilterKind, Cow<'r, str>)>,
    server: Option<&'r str>,
    rpc: body::RpcBody<'r>,
}

enum HeaderText<'r> {
    Text(&'r str),
    Unreadable,
}

/// A request answered before the Guard decides, or what it says.
enum Front<'r> {
    Answered(HttpDecision),
    Decide(Inputs<'r>),
}

/// A request answered before the Guard decides.
enum Early {
    /// 400 `invalid_request`, through the Guard's refusal (counted).
    Invalid(RequestError),
    /// A response of its own (the host's mistake).
    Response(HttpResponse),
}

fn too_large(options: &HttpOptions) -> Early {
    Early::Invalid(RequestError(format!(
        "The request body is larger than {} bytes",
        options.max_body_bytes
    )))
}

fn no_body_response() -> HttpResponse {
    HttpResponse::json(
        500,
        Vec::new(),
        &json!({
            "error": "server_error",
            "error_description": "mcpguard must read this request's body to authorize the tools it calls, \
                and the host did not hand it over (Express: mount express.json() before guardMiddleware)",
        }),
    )
}

/// The response for a refused decision: its status and headers, and a JSON
/// body `{"error", "error_description"}`.
fn refusal_response(d: &Decision) -> HttpResponse {
    let headers = d
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    let error = d.error.map(OAuthError::as_str);
    HttpResponse::json(
        d.status,
        headers,
        &json!({ "error": error, "error_description": d.error_description }),
    )
}
