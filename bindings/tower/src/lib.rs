//! mcpguard for Rust hosts: a [tower] layer that puts a [`Guard`] in front
//! of any HTTP service — the official Rust MCP SDK's (`rmcp`) streamable
//! HTTP service on axum, a hyper service, anything built on tower.
//!
//! The layer decides nothing: it hands the core's HTTP entry point
//! ([`Guard::authorize_http`]) the method, path, raw query, every header,
//! the peer and the body bytes, and does what the core answers:
//!
//! - a refusal (400/401/403/429/503), the RFC 9728 metadata document and
//!   its errors are answered with the core's status, headers and JSON body;
//! - an allowed request goes on with the principal and the decision in its
//!   extensions ([`Principal`] as `Arc<Principal>`, [`Decision`]) and the
//!   rate-limit headers added to the response;
//! - a listing (`tools/list`, …) response is buffered and filtered down to
//!   what the principal may call, as JSON or as server-sent events.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use mcpguard::guard::{Guard, HttpOptions};
//! use mcpguard_tower::GuardLayer;
//!
//! let guard = Guard::from_file("guard.json")?;
//! let layer = GuardLayer::new(guard, HttpOptions::new(Some("files")));
//! // axum::Router::new().nest_service("/mcp", mcp_service).layer(layer)
//! # Ok(()) }
//! ```
//!
//! The guard runs on the request's task when everything it decides with is
//! in process: a cached token takes nanoseconds, a signature check tens of
//! microseconds, less than a hop to a blocking thread would cost. A Guard
//! whose decisions wait on the network ([`Guard::waits_on_network`]: the
//! Redis store, an introspection endpoint) decides off the request's task
//! instead (feature `tokio`, on by default), so that a round trip never
//! holds a runtime worker: on tokio's blocking pool up to the rate-limit
//! check, which is awaited on the request's task when the store answers
//! later (Redis on one server pipelines the checks of every waiting
//! request on one connection, and no thread waits for it);
//! [`GuardLayer::offload`] overrides the choice.
//!
//! [tower]: https://docs.rs/tower

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};
use mcpguard::guard::{
    Decision, FILTERED_BODY_DROPS, Guard, HttpAction, HttpBody, HttpDecision, HttpOptions,
    HttpRequest, HttpResponse,
};
use mcpguard::token::Principal;
use tower_layer::Layer;
use tower_service::Service;

/// The error a failed body carries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body the inner service gets: the bytes the guard read, or the
/// original body when the guard did not need to read it.
pub type GuardRequestBody<B> = Either<Full<Bytes>, B>;

/// The body of the layer's responses: one the core built or filtered, or
/// the inner service's.
pub type GuardResponseBody<B> = Either<Full<Bytes>, B>;

/// Chooses a request's rate-limit key (for example a header your proxy
/// sets). Without one, a request without a token is keyed by its peer
/// address (see [`GuardLayer::key`]).
pub type KeyFn = dyn Fn(&http::request::Parts) -> Option<String> + Send + Sync;

/// Chooses the MCP server a request targets, when one endpoint serves
/// several (overrides [`HttpOptions::server`]).
pub type ServerFn = dyn Fn(&http::request::Parts) -> Option<String> + Send + Sync;

/// The layer: build it once, apply it to the MCP service.
#[derive(Clone)]
pub struct GuardLayer {
    shared: Arc<Shared>,
}

struct Shared {
    guard: Guard,
    options: HttpOptions,
    key: Option<Box<KeyFn>>,
    server: Option<Box<ServerFn>>,
    /// Decide on tokio's blocking pool (see [`GuardLayer::offload`]).
    offload: bool,
}

impl std::fmt::Debug for GuardLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardLayer")
            .field("guard", &self.shared.guard)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl GuardLayer {
    /// A layer deciding every request with `guard` for the endpoint
    /// `options` describe (see [`HttpOptions`]).
    pub fn new(guard: Guard, options: HttpOptions) -> GuardLayer {
        GuardLayer {
            shared: Arc::new(Shared {
                offload: guard.waits_on_network(),
                guard,
                options,
                key: None,
                server: None,
            }),
        }
    }

    /// Whether decisions run off the request's task: on tokio's blocking
    /// pool (`tokio::task::spawn_blocking`) up to the rate-limit check,
    /// whose answer the request's task awaits when the store answers later
    /// (see the crate docs). Default: [`Guard::waits_on_network`], on exactly when a decision may
    /// wait on the network. Outside a tokio runtime, or without the `tokio`
    /// feature, decisions are always made on the request's task.
    pub fn offload(self, offload: bool) -> GuardLayer {
        self.rebuild(|s| s.offload = offload)
    }

    /// Sets the function that gives a request's rate-limit key, in place
    /// of the peer address. The peer address is what the server saw, as
    /// the Python and Express drop-ins read it: axum's
    /// `ConnectInfo<SocketAddr>` (feature `axum`, on by default; serve
    /// with `into_make_service_with_connect_info::<SocketAddr>()`), else a
    /// `SocketAddr` in the request's extensions; without either, requests
    /// without a token share one budget. `X-Forwarded-For` is never read
    /// unless this function reads it: behind a proxy, read the header your
    /// proxy sets.
    ///
    /// ```no_run
    /// # use mcpguard::guard::{Guard, HttpOptions};
    /// # use mcpguard_tower::GuardLayer;
    /// # let guard: Guard = unimplemented!();
    /// let layer = GuardLayer::new(guard, HttpOptions::new(Some("files"))).key(|parts| {
    ///     let forwarded = parts.headers.get("x-real-ip")?.to_str().ok()?;
    ///     Some(forwarded.to_string())
    /// });
    /// ```
    pub fn key(
        self,
        key: impl Fn(&http::request::Parts) -> Option<String> + Send + Sync + 'static,
    ) -> GuardLayer {
        self.rebuild(|s| s.key = Some(Box::new(key)))
    }

    /// Sets the function that chooses a request's target server.
    pub fn server(
        self,
        server: impl Fn(&http::request::Parts) -> Option<String> + Send + Sync + 'static,
    ) -> GuardLayer {
        self.rebuild(|s| s.server = Some(Box::new(server)))
    }

    fn rebuild(self, change: impl FnOnce(&mut Shared)) -> GuardLayer {
        let mut shared = match Arc::try_unwrap(self.shared) {
            Ok(s) => s,
            Err(arc) => Shared {
                guard: arc.guard.clone(),
                options: arc.options.clone(),
                key: None,
                server: None,
                offload: arc.offload,
            },
        };
        change(&mut shared);
        GuardLayer {
            shared: Arc::new(shared),
        }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`GuardLayer`] wraps around an inner service.
#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for GuardService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardService").finish_non_exhaustive()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GuardService<S>
where
    S: Service<Request<GuardRequestBody<ReqBody>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<GuardResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The ready service goes with this call; a clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let options = &shared.options;
            let reads_body = options.read_body && parts.method == http::Method::POST;
            let (bytes, body) = if reads_body {
                match Limited::new(body, options.max_body_bytes).collect().await {
                    Ok(collected) => (Read::Bytes(collected.to_bytes()), None),
                    Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                        (Read::TooLarge, None)
                    }
                    Err(_) => (Read::Failed, None),
                }
            } else {
                (Read::Untouched, Some(body))
            };

            let decision = if shared.offload {
                decide_off_task(&shared, &parts, &bytes).await
            } else {
                decide(&shared, &parts, &bytes)
            };
            match decision.action {
                HttpAction::Respond(ref r) => Ok(core_response(r)),
                HttpAction::Pass | HttpAction::Forward { .. } => {
                    let added = match &decision.action {
                        HttpAction::Forward { headers } => headers.clone(),
                        _ => Vec::new(),
                    };
                    if let Some(d) = &decision.decision {
                        if let Some(p) = &d.principal {
                            parts.extensions.insert::<Arc<Principal>>(p.clone());
                        }
                        parts.extensions.insert::<Decision>(d.clone());
                    }
                    let body = match (bytes, body) {
                        (Read::Bytes(b), _) => Either::Left(Full::new(b)),
                        (_, Some(original)) => Either::Right(original),
                        // Not reached: a body too large was refused by the core.
                        (_, None) => Either::Left(Full::new(Bytes::new())),
                    };
                    let response = inner.call(Request::from_parts(parts, body)).await?;
                    Ok(finish(response, &decision, added).await)
                }
            }
        })
    }
}

/// The body as the layer read it.
#[derive(Clone)]
enum Read {
    Bytes(Bytes),
    TooLarge,
    Failed,
    Untouched,
}

/// What the core is asked about a request, owned: what a decision on
/// another thread needs (the host's `key` and `server` functions already
/// applied, on the request's task).
#[cfg(feature = "tokio")]
struct Asked {
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Read,
    chosen: Chosen,
}

#[cfg(feature = "tokio")]
impl Asked {
    fn of(parts: &http::request::Parts, body: &Read, chosen: Chosen) -> Asked {
        Asked {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
            body: body.clone(),
            chosen,
        }
    }
}

/// [`decide`] without holding a runtime worker while it waits, when there
/// is a runtime to ask (else on this task). A request whose steps before
/// the shared store need nothing but memory (no token, or a cached one) is
/// decided on this task. Any other runs on tokio's blocking pool up to the
/// store's check (the steps before it may wait on the network: a token
/// verified or introspected, a revocation epoch read); when the store answers
/// later (Redis on one server pipelines the checks of every waiting
/// request on one connection), the blocking thread is free once the check
/// is sent, and the request's task awaits the answer and finishes the
/// decision. With any other store the decision completes on that thread.
#[cfg(feature = "tokio")]
async fn decide_off_task(
    shared: &Arc<Shared>,
    parts: &http::request::Parts,
    body: &Read,
) -> HttpDecision {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return decide(shared, parts, body);
    };
    let chosen = Chosen::of(shared, parts);
    // A request the Guard can take from memory up to the store (no token,
    // or a cached one) is decided on this task, the store's answer awaited.
    {
        let headers = header_pairs(&parts.headers);
        let request = http_request(&parts.method, &parts.uri, &headers, body, &chosen);
        let in_memory = shared
            .guard
            .authorize_http_later_in_memory(&request, &shared.options);
        if let Some(decision) = in_memory.await {
            return decision;
        }
    }
    let asked = Asked::of(parts, body, chosen);
    let on_pool = shared.clone();
    let mut decision: Pin<Box<dyn Future<Output = HttpDecision> + Send>> =
        Box::pin(async move { decide_asked_later(&on_pool, &asked).await });
    // The first poll on the pool, with a waker that does nothing: the
    // request's task polls again below, and its waker is the one the
    // store keeps (a future registers the waker of each poll).
    let first = runtime.spawn_blocking(move || {
        let polled = decision
            .as_mut()
            .poll(&mut Context::from_waker(std::task::Waker::noop()));
        (decision, polled)
    });
    match first.await {
        Ok((_, Poll::Ready(d))) => d,
        Ok((pending, Poll::Pending)) => pending.await,
        // A panic in the decision is this request's panic, as it would be
        // on this task.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down and dropped the task: decide here.
        Err(_) => decide(shared, parts, body),
    }
}

/// The decision for `asked`, the shared store's answer awaited.
#[cfg(feature = "tokio")]
async fn decide_asked_later(shared: &Shared, asked: &Asked) -> HttpDecision {
    let headers = header_pairs(&asked.headers);
    let request = http_request(
        &asked.method,
        &asked.uri,
        &headers,
        &asked.body,
        &asked.chosen,
    );
    shared
        .guard
        .authorize_http_later(&request, &shared.options)
        .await
}

/// Without tokio, every decision is made on the request's task.
#[cfg(not(feature = "tokio"))]
async fn decide_off_task(
    shared: &Arc<Shared>,
    parts: &http::request::Parts,
    body: &Read,
) -> HttpDecision {
    decide(shared, parts, body)
}

/// What the connection and the host's functions say about a request: its
/// peer address, its rate-limit key and its server.
struct Chosen {
    peer: Option<String>,
    key: Option<String>,
    server: Option<String>,
}

impl Chosen {
    fn of(shared: &Shared, parts: &http::request::Parts) -> Chosen {
        Chosen {
            peer: peer(parts),
            key: shared.key.as_ref().and_then(|f| f(parts)),
            server: shared.server.as_ref().and_then(|f| f(parts)),
        }
    }
}

fn decide(shared: &Shared, parts: &http::request::Parts, body: &Read) -> HttpDecision {
    decide_asked(
        shared,
        &parts.method,
        &parts.uri,
        &parts.headers,
        body,
        &Chosen::of(shared, parts),
    )
}

fn decide_asked(
    shared: &Shared,
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    body: &Read,
    chosen: &Chosen,
) -> HttpDecision {
    let headers = header_pairs(headers);
    let request = http_request(method, uri, &headers, body, chosen);
    shared.guard.authorize_http(&request, &shared.options)
}

/// Every header as the core reads it: (name, value) bytes, repeats kept.
fn header_pairs(headers: &http::HeaderMap) -> Vec<(&[u8], &[u8])> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
        .collect()
}

/// The core's request.
fn http_request<'a>(
    method: &'a http::Method,
    uri: &'a http::Uri,
    headers: &'a [(&'a [u8], &'a [u8])],
    body: &'a Read,
    chosen: &'a Chosen,
) -> HttpRequest<'a> {
    HttpRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        peer: chosen.peer.as_deref(),
        body: match body {
            Read::Bytes(b) => HttpBody::Bytes(b),
            Read::TooLarge => HttpBody::TooLarge,
            Read::Failed => HttpBody::Failed,
            Read::Untouched => HttpBody::None,
        },
        server: chosen.server.as_deref(),
        key: chosen.key.as_deref(),
        cost: None,
    }
}

/// The address of the peer the server saw (its IP, as the Python and
/// Express drop-ins hand theirs): axum's `ConnectInfo<SocketAddr>`, else a
/// `SocketAddr` another stack put in the extensions.
fn peer(parts: &http::request::Parts) -> Option<String> {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        return Some(addr.ip().to_string());
    }
    parts
        .extensions
        .get::<std::net::SocketAddr>()
        .map(|a| a.ip().to_string())
}

/// The inner response with the decision's headers added, and its body
/// filtered when the request asked for a listing.
async fn finish<B>(
    response: Response<B>,
    decision: &HttpDecision,
    added: Vec<(String, String)>,
) -> Response<GuardResponseBody<B>>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = response.into_parts();
    for (name, value) in added {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            parts.headers.append(n, v);
        }
    }
    if !decision.filters_response() {
        return Response::from_parts(parts, Either::Right(body));
    }
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let why = format!("the response failed to arrive ({})", e.into());
            return core_response(&HttpResponse::listing_unreadable(&why));
        }
    };
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match decision.filter_response(content_type.as_deref(), &bytes) {
        Ok(filtered) => {
            // The headers that describe the service's body (its length,
            // framing, digests, entity tag) go: the core names them.
            for name in FILTERED_BODY_DROPS {
                parts.headers.remove(name);
            }
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(filtered.len()));
            Response::from_parts(parts, Either::Left(Full::new(Bytes::from(filtered))))
        }
        Err(r) => core_response(&r),
    }
}

/// A response the core built, as an `http` response.
fn core_response<B>(r: &HttpResponse) -> Response<GuardResponseBody<B>> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(r.body.clone()))));
    *response.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in &r.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(n, v);
        }
    }
    response
}
