//! `Guard`, and what it hands back: `Decision`, `Principal` (and `RateDecision`).

use std::path::PathBuf;
use std::sync::Arc;

use mcpguard::guard::{self as core, AuditEvent, GuardOptions, Request, principal_json};
use mcpguard::token::opaque::OpaqueEntry;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use serde_json::{Map, Value};

use crate::clock::ManualClock;
use crate::convert::{json_text, loads, to_py};
use crate::engines::{self, RateDecision};
use crate::errors;
use crate::http::{self, HttpDecision, HttpOptions};

/// The enforcement point: token validation, tag-based access and rate
/// limiting behind one call per request.
///
/// Build it once from the configuration document of ``config.md`` and share
/// it: every method may be called from any thread.
///
/// >>> guard = Guard.from_file("guard.json")
/// >>> d = guard.authorize(authorization=request.headers.get("authorization"),
/// ...                     server="filesystem", key=client_ip)
/// >>> if not d.allowed: respond(d.status, d.headers, d.to_dict())
#[pyclass(module = "mcpguard._native", frozen)]
pub struct Guard {
    inner: core::Guard,
    /// The I/O its configuration asks for (key and introspection fetches,
    /// the Redis store), kept alive with the Guard.
    hosted: Option<std::sync::Arc<mcpguard_host::HostedGuard>>,
}

impl Guard {
    /// The core Guard (for the authorization server built on it).
    pub(crate) fn core(&self) -> &core::Guard {
        &self.inner
    }

    /// The Guard with its stores, when built from a configuration.
    pub(crate) fn hosted_guard(&self) -> Option<&mcpguard_host::HostedGuard> {
        self.hosted.as_deref()
    }

    fn hosted(hosted: mcpguard_host::HostedGuard) -> Guard {
        let hosted = Arc::new(hosted);
        let mut live = LIVE.lock();
        live.retain(|g| g.strong_count() > 0);
        live.push(Arc::downgrade(&hosted));
        drop(live);
        Guard {
            inner: hosted.guard().clone(),
            hosted: Some(hosted),
        }
    }
}

/// Every Guard built from a configuration and still alive, for
/// [`after_fork`].
static LIVE: parking_lot::Mutex<Vec<std::sync::Weak<mcpguard_host::HostedGuard>>> =
    parking_lot::Mutex::new(Vec::new());

/// ``mcpguard._native._after_fork``: in a child after ``os.fork``
/// (``mcpguard`` registers it with ``os.register_at_fork``), restarts the
/// key-fetching thread of every live Guard, which fork did not copy. The
/// Redis and SQLite stores reopen their connections by themselves. A
/// registry another thread held at the fork is skipped (its Guards then
/// restart their thread at their next refresh hint).
#[pyfunction]
#[pyo3(name = "_after_fork")]
pub fn after_fork() {
    let Some(live) = LIVE.try_lock() else {
        return;
    };
    for hosted in live.iter().filter_map(std::sync::Weak::upgrade) {
        // A thread that cannot start leaves the keys in force, as a
        // failed fetch does; the next hint tries again.
        let _ = hosted.after_fork();
    }
}

fn options(clock: Option<&ManualClock>) -> GuardOptions {
    match clock {
        Some(c) => GuardOptions {
            clock: c.shared(),
            ..GuardOptions::default()
        },
        None => GuardOptions::default(),
    }
}

#[pymethods]
impl Guard {
    /// Builds a Guard from the configuration document: JSON text, or a
    /// dict of the same shape. The environment is not read. Raises
    /// ``ConfigError`` (with ``.path``) for anything the core refuses.
    #[staticmethod]
    #[pyo3(signature = (config, *, clock = None))]
    fn from_json(
        py: Python<'_>,
        config: &Bound<'_, PyAny>,
        clock: Option<PyRef<'_, ManualClock>>,
    ) -> PyResult<Guard> {
        let text = json_text(config)?;
        mcpguard_host::HostedGuard::from_json(&text, options(clock.as_deref()))
            .map(Guard::hosted)
            .map_err(|e| errors::config_error(py, &e))
    }

    /// Reads the configuration file at ``path`` (a relative ``jwks_file``
    /// resolves against its folder) and applies the environment overrides
    /// of ``config.md`` (``ONE_MCP_RATE_LIMIT_*``, ``MCPGUARD_RATE_LIMIT_*``).
    #[staticmethod]
    #[pyo3(signature = (path, *, clock = None))]
    fn from_file(
        py: Python<'_>,
        path: PathBuf,
        clock: Option<PyRef<'_, ManualClock>>,
    ) -> PyResult<Guard> {
        mcpguard_host::HostedGuard::from_file(&path, options(clock.as_deref()))
            .map(Guard::hosted)
            .map_err(|e| errors::config_error(py, &e))
    }

    /// Decides one request. Never raises for a refused request: a refusal
    /// is a ``Decision`` with its status (400/401/403/429), reason and
    /// headers.
    ///
    /// ``authorization`` is the raw ``Authorization`` header value;
    /// ``filter`` is ``{"tags": "web,api"}``, ``{"tag_filter": "web and
    /// api"}`` or ``{"preset": "dev"}``; ``key`` is the fallback rate-limit
    /// key (the client address); ``query`` is the request URL's query as
    /// ``(name, value)`` pairs, URL-decoded, from which 1MCP's ``tags``,
    /// ``tag-filter`` and ``preset`` parameters are read (a repeated one, or
    /// a second filter, is a 400 ``Decision``). The GIL is released while a
    /// token's signature is checked and while a decision may wait on the
    /// network (``waits_on_network``), not for a token the cache already
    /// holds on an in-process guard.
    #[pyo3(signature = (authorization = None, server = None, tool = None, filter = None, key = None, cost = 1, query = None))]
    #[allow(clippy::too_many_arguments)]
    fn authorize(
        &self,
        py: Python<'_>,
        authorization: Option<&str>,
        server: Option<&str>,
        tool: Option<&str>,
        filter: Option<&Bound<'_, PyAny>>,
        key: Option<&str>,
        cost: i64,
        query: Option<Vec<(String, String)>>,
    ) -> PyResult<Decision> {
        // The filter dict goes through the core's own request reader, so
        // its rules (one kind, known kinds, strings) live in one place.
        let filter_json = match filter {
            Some(f) if !f.is_none() => Some(filter_value(f)?),
            _ => None,
        };
        let mut request = match &filter_json {
            Some(v) => match Request::from_json(v) {
                Ok(r) => r,
                Err(e) => {
                    return Ok(Decision {
                        inner: self.inner.refuse_request(&e),
                    });
                }
            },
            None => Request::new(),
        };
        if let Some(pairs) = &query {
            let pairs = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            let merged = core::filter_from_query(pairs)
                .and_then(|found| core::RequestFilter::one_of(request.filter, found));
            match merged {
                Ok(filter) => request.filter = filter,
                Err(e) => {
                    return Ok(Decision {
                        inner: self.inner.refuse_request(&e),
                    });
                }
            }
        }
        request.authorization = authorization;
        request.server = server;
        request.tool = tool;
        request.key = key;
        // A negative cost is as invalid as 0: the core answers 400.
        request.cost = u64::try_from(cost).unwrap_or(0);
        let guard = &self.inner;
        // The GIL is released around a signature check and around any
        // decision that may wait on the network (the Redis store): other
        // Python threads run meanwhile.
        let inner = if guard.waits_on_network() || guard.would_verify(authorization) {
            py.detach(|| guard.authorize(&request))
        } else {
            guard.authorize(&request)
        };
        Ok(Decision { inner })
    }

    /// As ``authorize``, for a request given as one dict (or JSON text) in
    /// the shape of ``config.md``: ``{"authorization", "server", "tool",
    /// "filter", "key", "cost"}``. A badly shaped request (an unknown key, a
    /// value of the wrong type) is a 400 ``Decision``, not an exception.
    fn authorize_request(&self, py: Python<'_>, request: &Bound<'_, PyAny>) -> PyResult<Decision> {
        let value: Value = serde_json::from_str(&json_text(request)?).unwrap_or(Value::Null);
        let guard = &self.inner;
        let inner = match Request::from_json(&value) {
            Ok(r) if guard.waits_on_network() || guard.would_verify(r.authorization) => {
                py.detach(|| guard.authorize(&r))
            }
            Ok(r) => guard.authorize(&r),
            Err(e) => guard.refuse_request(&e),
        };
        Ok(Decision { inner })
    }

    /// Decides one HTTP request as ASGI (or any HTTP stack) has it, with
    /// the endpoint's ``options`` (an ``HttpOptions`` built once): ``method``
    /// and ``path``; ``query``, the raw query string (bytes, undecoded);
    /// ``headers``, every header as ``(name, value)`` bytes, repeated ones
    /// included; ``peer``, the client address (the default rate-limit key);
    /// ``body``, the request body as bytes, ``None`` for none,
    /// ``HttpBody.TOO_LARGE`` when the host stopped reading past
    /// ``options.max_body_bytes`` or ``HttpBody.UNAVAILABLE`` when it could
    /// not hand the body over. ``server``, ``key`` and ``cost`` override the
    /// options' server, the peer and the options' cost for this request.
    ///
    /// Never raises for a refused request: the ``HttpDecision`` holds the
    /// response to send (metadata document, or refusal with its status,
    /// headers and JSON body), or the headers to add to the application's
    /// response. The GIL is released while a token's signature is checked,
    /// while a large body is read and while a decision may wait on the
    /// network (``waits_on_network``), not for a token the cache holds on an
    /// in-process guard.
    #[pyo3(signature = (options, method, path, query = None, headers = None, peer = None, body = None, *, server = None, key = None, cost = None))]
    #[allow(clippy::too_many_arguments)]
    fn authorize_http(
        &self,
        py: Python<'_>,
        options: PyRef<'_, HttpOptions>,
        method: &str,
        path: &str,
        query: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        peer: Option<&str>,
        body: Option<&Bound<'_, PyAny>>,
        server: Option<&str>,
        key: Option<&str>,
        cost: Option<i64>,
    ) -> PyResult<HttpDecision> {
        let args = http::Args {
            method,
            path,
            query,
            headers,
            peer,
            body,
            server,
            key,
            cost,
        };
        http::authorize_http(py, &self.inner, &options, &args)
    }

    /// ``authorize_http`` for an asyncio host: a coroutine of the same
    /// ``HttpDecision``, with the same arguments. For a Guard that waits on
    /// the network (``waits_on_network``: the Redis store), a request the
    /// guard can take from memory (no token, or one its cache holds) is
    /// decided on the loop and its Redis check pipelined with every other
    /// waiting request's, holding no thread while it waits; any other (a
    /// signature to check first) on one of mcpguard's own decision
    /// threads, never the loop's default executor. A Guard that does not wait
    /// on the network decides in place, as ``authorize_http`` does.
    /// Outside a running asyncio loop, it decides in place.
    #[pyo3(signature = (options, method, path, query = None, headers = None, peer = None, body = None, *, server = None, key = None, cost = None))]
    #[allow(clippy::too_many_arguments)]
    fn authorize_http_async<'py>(
        slf: &Bound<'py, Self>,
        options: &Bound<'py, HttpOptions>,
        method: &Bound<'py, PyAny>,
        path: &Bound<'py, PyAny>,
        query: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        peer: Option<&Bound<'py, PyAny>>,
        body: Option<&Bound<'py, PyAny>>,
        server: Option<&Bound<'py, PyAny>>,
        key: Option<&Bound<'py, PyAny>>,
        cost: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // The coroutine is mcpguard._loop's: awaiting is asyncio's business,
        // the decision the core's (through `_authorize_http_begin`).
        static LATER: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
        let py = slf.py();
        let later = LATER.get_or_try_init(py, || {
            py.import("mcpguard._loop")?
                .getattr("authorize_http_async")
                .map(Bound::unbind)
        })?;
        let none = py.None().into_bound(py);
        let or_none = |a: Option<&Bound<'py, PyAny>>| a.cloned().unwrap_or_else(|| none.clone());
        let kwargs = PyDict::new(py);
        kwargs.set_item("server", or_none(server))?;
        kwargs.set_item("key", or_none(key))?;
        kwargs.set_item("cost", or_none(cost))?;
        let args = PyTuple::new(
            py,
            [
                slf.clone().into_any(),
                options.clone().into_any(),
                method.clone(),
                path.clone(),
                or_none(query),
                or_none(headers),
                or_none(peer),
                or_none(body),
            ],
        )?;
        later.bind(py).call(args, Some(&kwargs))
    }

    /// The first step of ``authorize_http_async`` (``mcpguard._loop``):
    /// the ``HttpDecision`` when it was decided on this thread, else the id
    /// it will arrive under in ``completions`` (it waits on the store, or
    /// on one of mcpguard's decision threads when it needs more than
    /// memory first). Raises as ``authorize_http`` does for arguments of
    /// the wrong type.
    #[cfg(unix)]
    #[pyo3(name = "_authorize_http_begin", signature = (completions, options, method, path, query = None, headers = None, peer = None, body = None, *, server = None, key = None, cost = None))]
    #[allow(clippy::too_many_arguments)]
    fn authorize_http_begin<'py>(
        &self,
        py: Python<'py>,
        completions: PyRef<'_, crate::later::Completions>,
        options: PyRef<'_, HttpOptions>,
        method: &str,
        path: &str,
        query: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        peer: Option<&str>,
        body: Option<&Bound<'_, PyAny>>,
        server: Option<&str>,
        key: Option<&str>,
        cost: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = http::Args {
            method,
            path,
            query,
            headers,
            peer,
            body,
            server,
            key,
            cost,
        };
        http::authorize_http_begin(py, &self.inner, &completions, &options, &args)
    }

    /// The time (Unix seconds) until which this guard accepts
    /// ``principal``'s token: its expiry plus the configured leeway, ``None``
    /// for a token without expiry. Hand this, not ``principal.expires_at``,
    /// to a framework that checks expiry itself (the MCP SDK does), so that
    /// it accepts exactly what the guard accepts.
    fn accepted_until(&self, principal: PyRef<'_, Principal>) -> Option<i64> {
        self.inner
            .token_validator()
            .accepted_until(&principal.inner)
    }

    /// ``validate`` when the guard can answer from memory alone (a cached
    /// token, no revocation epoch to read): the ``Principal``, or the error
    /// ``validate`` raises. ``None`` when it would wait, and then nothing
    /// was done: ``GuardTokenVerifier`` validates those on a decision
    /// thread (``_validate_begin``).
    #[pyo3(name = "_validate_in_memory")]
    fn validate_in_memory(&self, py: Python<'_>, token: &str) -> PyResult<Option<Principal>> {
        let guard = &self.inner;
        guard
            .validate_in_memory(token)
            .map(|result| {
                result
                    .map(|inner| Principal { inner })
                    .map_err(|e| errors::token_error(py, &e, Some(guard.metadata_url())))
            })
            .transpose()
    }

    /// Starts ``validate`` of ``token`` on one of mcpguard's decision
    /// threads; returns the id its ``Principal`` (or its ``GuardError``)
    /// will arrive under in ``completions`` (``mcpguard._loop``).
    #[cfg(unix)]
    #[pyo3(name = "_validate_begin")]
    fn validate_begin(
        &self,
        completions: PyRef<'_, crate::later::Completions>,
        token: String,
    ) -> u64 {
        crate::later::begin_validate(self.inner.clone(), token, &completions)
    }

    /// Validates a bare token (no ``Bearer `` prefix) as ``authorize``
    /// would. Returns the ``Principal``; raises ``InvalidToken`` (401) or
    /// ``InsufficientScope`` (403, ``auth.required_scopes``).
    fn validate(&self, py: Python<'_>, token: &str) -> PyResult<Principal> {
        let guard = &self.inner;
        let result = if guard.token_validator().is_cached(token) {
            guard.validate(token)
        } else {
            py.detach(|| guard.validate(token))
        };
        result
            .map(|inner| Principal { inner })
            .map_err(|e| errors::token_error(py, &e, Some(guard.metadata_url())))
    }

    /// Revokes a token until it would have expired anyway (a JWT by its
    /// ``jti``); cached validations of it are dropped at once. Raises
    /// ``InvalidToken`` for a token this guard would not accept.
    fn revoke(&self, py: Python<'_>, token: &str) -> PyResult<()> {
        let guard = &self.inner;
        py.detach(|| guard.revoke(token))
            .map_err(|e| errors::revoke_error(py, &e, Some(guard.metadata_url())))
    }

    /// Stores an opaque token the host issued (needs ``auth.opaque_tokens``):
    /// requests presenting it are then authorized like a JWT with these
    /// claims. The entry is the keywords, or one mapping (or JSON text) with
    /// the same members: ``expires_at`` is whole Unix seconds (``None``:
    /// until revoked), ``resource`` the audience (``None``: any). Storing a
    /// token again replaces its entry; ``revoke`` removes it. The store keeps
    /// the token's SHA-256, never the token.
    ///
    /// Raises ``OpaqueTokenRejected`` (a ``ValueError``; ``code``
    /// ``"invalid_token"`` or ``"expired"``), ``OpaqueStoreError`` (``code``
    /// ``"full"`` or ``"disabled"``), ``ConfigError`` for a mapping with an
    /// unknown or mistyped member (``path`` names it), ``TypeError`` for an
    /// argument of the wrong type. The GIL is released while the store and
    /// the verified-token cache are updated.
    ///
    /// >>> guard.insert_opaque("opq-7Hd93kQ", client_id="app", subject="alice",
    /// ...                     scopes=["tag:web"], expires_at=int(time.time()) + 600)
    #[pyo3(signature = (token, entry = None, *, client_id = None, subject = None, scopes = Vec::new(), roles = Vec::new(), resource = None, expires_at = None))]
    #[allow(clippy::too_many_arguments)]
    fn insert_opaque(
        &self,
        py: Python<'_>,
        token: &str,
        entry: Option<&Bound<'_, PyAny>>,
        client_id: Option<String>,
        subject: Option<String>,
        scopes: Vec<String>,
        roles: Vec<String>,
        resource: Option<String>,
        expires_at: Option<i64>,
    ) -> PyResult<()> {
        let fields = OpaqueEntry {
            client_id,
            subject,
            scopes,
            roles,
            resource,
            expires_at,
        };
        engines::insert_opaque(py, self.inner.token_validator(), token, entry, fields)
    }

    /// Turns an RFC 7662 introspection response the host fetched for a
    /// token (a mapping, or the response body as JSON text, read as is) into
    /// a ``Principal`` with its tags, as ``validate`` gives for a JWT:
    /// ``active`` must be true, times are checked with the leeway, ``iss``
    /// (when present) must be a configured issuer and ``aud`` (when present)
    /// this resource. Raises what ``validate`` raises: ``InvalidToken``
    /// (reason ``inactive``, ``expired``, ``wrong_issuer``,
    /// ``wrong_audience``, ``malformed``, ...) or ``InsufficientScope``; and
    /// ``TypeError`` for neither a mapping nor text. Nothing is cached. There
    /// is no signature to check, so the GIL is kept (the work is a JSON parse).
    fn validate_introspection(
        &self,
        py: Python<'_>,
        response: &Bound<'_, PyAny>,
    ) -> PyResult<Principal> {
        let guard = &self.inner;
        engines::introspect(
            py,
            guard.token_validator(),
            response,
            Some(guard.metadata_url()),
        )
    }

    /// Replaces an issuer's JWK Set (JSON text or a dict) atomically, for
    /// key rotation. A bad set raises ``ConfigError`` and changes nothing.
    fn set_jwks(&self, py: Python<'_>, issuer: &str, jwks: &Bound<'_, PyAny>) -> PyResult<()> {
        let text = json_text(jwks)?;
        let guard = &self.inner;
        py.detach(|| guard.set_jwks(issuer, &text))
            .map_err(|e| errors::key_error(py, &e))
    }

    /// The RFC 9728 protected-resource metadata document, as a dict.
    fn metadata_document<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.metadata_document())
    }

    /// The path the metadata document is served at, e.g.
    /// ``/.well-known/oauth-protected-resource/mcp``.
    fn metadata_path(&self) -> &str {
        self.inner.metadata_path()
    }

    /// The full URL of the metadata document (the challenge's ``resource_metadata``).
    fn metadata_url(&self) -> &str {
        self.inner.metadata_url()
    }

    /// This server's canonical resource URI (the configuration's ``resource``).
    fn resource(&self) -> &str {
        self.inner.resource()
    }

    /// Registers ``callback(event: dict)``, called on the authorizing thread
    /// for every audit event; ``None`` removes it. A callback that raises is
    /// reported through ``sys.unraisablehook`` and counted in
    /// ``counters()["audit_sink_panics"]``; the request is decided as usual.
    #[pyo3(signature = (callback))]
    fn on_audit(&self, callback: Option<Py<PyAny>>) {
        let sink = callback.map(|cb| {
            let sink: core::AuditSink = Arc::new(move |event: &AuditEvent| {
                let raised = Python::attach(|py| {
                    let cb = cb.bind(py);
                    match to_py(py, &event.to_json()).and_then(|e| cb.call1((e,))) {
                        Ok(_) => false,
                        Err(e) => {
                            e.write_unraisable(py, Some(cb));
                            true
                        }
                    }
                });
                if raised {
                    // The core counts a failing sink by catching its unwind;
                    // `resume_unwind` skips the panic hook, so nothing is
                    // printed beyond the unraisable report above.
                    std::panic::resume_unwind(Box::new("the audit callback raised"));
                }
            });
            sink
        });
        self.inner.on_audit(sink);
    }

    /// Takes the audit events kept so far (oldest first), as dicts with
    /// ``time``, ``kind``, ``reason``, ``client_id``, ``subject``,
    /// ``issuer``, ``server``, ``tool``, ``missing_scopes``,
    /// ``rejected_scopes`` and ``token_fingerprint``.
    fn drain_audit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for event in self.inner.drain_audit() {
            list.append(to_py(py, &event.to_json())?)?;
        }
        Ok(list)
    }

    /// A snapshot of the counters (allowed, denied by reason, cache hits
    /// and misses, audit events dropped, audit callback failures), as a dict.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.counters().to_json())
    }

    /// Every counter in the Prometheus text format (the counters above and,
    /// with a Redis store, its round trips, errors, latency and breaker
    /// state), for a ``/metrics`` endpoint.
    fn metrics_text(&self) -> String {
        self.inner.metrics_text()
    }

    /// Checks and counts one rate limit for a raw key, without
    /// authentication: the rule named ``rule``, or the default limit.
    /// Raises ``KeyError`` for a rule that is not configured.
    /// With the Redis store the GIL is released during the round trip.
    #[pyo3(signature = (key, cost = 1, rule = None))]
    fn check_rate_limit(
        &self,
        py: Python<'_>,
        key: &str,
        cost: u64,
        rule: Option<&str>,
    ) -> PyResult<RateDecision> {
        let guard = &self.inner;
        let decided = if guard.rate_policy().waits_on_network() {
            py.detach(|| guard.check_rate_limit(rule, key, cost))
        } else {
            guard.check_rate_limit(rule, key, cost)
        };
        decided
            .map(|inner| RateDecision { inner })
            .map_err(|e| PyKeyError::new_err(e.to_string()))
    }

    /// Whether a decision may wait on the network: rate limits,
    /// revocations or opaque tokens in the Redis store, or an introspection
    /// endpoint called for unknown opaque tokens. ``GuardMiddleware`` then
    /// decides on a worker thread, off the event loop, unless told
    /// otherwise; the GIL is released during such decisions.
    fn waits_on_network(&self) -> bool {
        self.inner.waits_on_network()
    }

    /// A short description for debugging.
    fn __repr__(&self) -> String {
        format!("Guard(resource={:?})", self.inner.resource())
    }
}

/// A filter argument as the JSON the core's request reader takes:
/// `{"filter": {...}}`. Plain `str`/`None` values are copied directly; any
/// other shape goes through `json.dumps` and is judged by the core.
fn filter_value(filter: &Bound<'_, PyAny>) -> PyResult<Value> {
    let mut request = Map::new();
    let value = match filter.cast::<PyDict>() {
        Ok(dict) => {
            let mut map = Map::new();
            for (k, v) in dict.iter() {
                let k: String = k.extract()?;
                let v = if v.is_none() {
                    Value::Null
                } else if let Ok(s) = v.cast::<PyString>() {
                    Value::String(s.to_str()?.to_owned())
                } else {
                    parse_json(&json_text(&v)?)
                };
                map.insert(k, v);
            }
            Value::Object(map)
        }
        Err(_) => parse_json(&json_text(filter)?),
    };
    request.insert("filter".into(), value);
    Ok(Value::Object(request))
}

fn parse_json(text: &str) -> Value {
    // `json.dumps` output always parses; a value that somehow does not is
    // handed to the core as a number, which it refuses with a 400.
    serde_json::from_str(text).unwrap_or(Value::Bool(false))
}

/// The Guard's answer to one request.
///
/// ``allowed`` says whether to proceed; on a refusal send ``status``, every
/// header in ``headers`` and, e.g., ``to_dict()`` or ``{"error": error,
/// "error_description": error_description}`` as the body.
/// ``raise_for_status()`` turns a refusal into the matching exception.
#[pyclass(module = "mcpguard._native", frozen)]
pub struct Decision {
    pub(crate) inner: core::Decision,
}

#[pymethods]
impl Decision {
    /// Whether the request may proceed.
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.allowed
    }

    /// HTTP status: 200, 400, 401, 403 or 429.
    #[getter]
    fn status(&self) -> u16 {
        self.inner.status
    }

    /// The OAuth error of a refusal (``invalid_request``, ``invalid_token``,
    /// ``insufficient_scope``, ``rate_limited``), else ``None``.
    #[getter]
    fn error(&self) -> Option<&'static str> {
        self.inner.error.map(|e| e.as_str())
    }

    /// A description of a refusal a person can act on, else ``None``.
    #[getter]
    fn error_description(&self) -> Option<&str> {
        self.inner.error_description.as_deref()
    }

    /// The machine reason code of a refusal (see ``conformance.md``), else ``None``.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.inner.reason.map(|r| r.code())
    }

    /// Headers to send, as ``(name, value)`` pairs in order:
    /// ``WWW-Authenticate`` on refusals, the rate-limit headers, ``Retry-After`` on 429.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (name, value) in &self.inner.headers {
            list.append(PyTuple::new(py, [*name, value.as_str()])?)?;
        }
        Ok(list)
    }

    /// Who the token speaks for, when it was valid (else ``None``).
    #[getter]
    fn principal(&self) -> Option<Principal> {
        self.inner
            .principal
            .clone()
            .map(|inner| Principal { inner })
    }

    /// The servers this principal may see with this filter, in configuration order.
    #[getter]
    fn visible_servers(&self) -> Vec<&str> {
        self.inner.visible_servers.iter().map(|s| &**s).collect()
    }

    /// The rate-limit figures, when rate limiting ran (else ``None``): the
    /// limit with the fewest remaining requests, or on a denial the one that
    /// denied.
    #[getter]
    fn rate_limit(&self) -> Option<RateDecision> {
        self.inner
            .rate_limit
            .clone()
            .map(|inner| RateDecision { inner })
    }

    /// The ``tag:`` scopes that would grant what was refused: for the
    /// host's logs, never for the client.
    #[getter]
    fn missing_scopes(&self) -> Vec<String> {
        self.inner.missing_scopes.clone()
    }

    /// The value of the first header called ``name`` (case-insensitive), or ``None``.
    fn header(&self, name: &str) -> Option<&str> {
        self.inner.header(name)
    }

    /// The decision as a dict in the shape of ``config.md``.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.to_json())
    }

    /// Returns ``None`` when allowed; otherwise raises the matching
    /// ``GuardError`` subclass (``InvalidRequest``, ``InvalidToken``,
    /// ``InsufficientScope`` or ``RateLimited``) carrying this decision's
    /// reason, status, error, description and ``WWW-Authenticate``.
    fn raise_for_status(&self, py: Python<'_>) -> PyResult<()> {
        let d = &self.inner;
        if d.allowed {
            return Ok(());
        }
        let info = mcpguard::classify::Classify::classify(d, None);
        let mut extra = Vec::new();
        if d.status == 429 {
            let retry_after = d.rate_limit.as_ref().and_then(|r| r.retry_after);
            extra.push(("retry_after", errors::obj(py, retry_after)));
        }
        Err(errors::classified(py, &info, extra))
    }

    /// ``True`` when allowed, so ``if decision:`` reads naturally.
    fn __bool__(&self) -> bool {
        self.inner.allowed
    }

    /// A short description for debugging.
    fn __repr__(&self) -> String {
        match (self.inner.allowed, self.inner.reason) {
            (false, Some(r)) => format!(
                "Decision(status={}, reason={:?})",
                self.inner.status,
                r.code()
            ),
            _ => format!("Decision(status={}, allowed=True)", self.inner.status),
        }
    }
}

/// Who a validated token speaks for.
#[pyclass(module = "mcpguard._native", frozen)]
pub struct Principal {
    pub(crate) inner: Arc<mcpguard::token::Principal>,
}

#[pymethods]
impl Principal {
    /// ``sub``, if the token has one.
    #[getter]
    fn subject(&self) -> Option<&str> {
        self.inner.subject.as_deref()
    }

    /// ``client_id``, else ``azp``, else ``cid``.
    #[getter]
    fn client_id(&self) -> Option<&str> {
        self.inner.client_id.as_deref()
    }

    /// The issuer the token was checked against (``""`` for a local opaque token).
    #[getter]
    fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// ``aud`` as a list.
    #[getter]
    fn audience(&self) -> Vec<String> {
        self.inner.audience.clone()
    }

    /// The token's scopes in token order.
    #[getter]
    fn scopes(&self) -> Vec<String> {
        self.inner.scopes.clone()
    }

    /// The scopes to hand a framework that checks scopes itself (the SDK's
    /// ``AccessToken``): the token's own, then ``tag:`` scopes its roles grant.
    #[getter]
    fn effective_scopes(&self) -> Vec<String> {
        self.inner.effective_scopes()
    }

    /// Tags granted by its ``tag:`` scopes and its roles.
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.inner.tags.clone()
    }

    /// Role names from the configured ``auth.role_claim``.
    #[getter]
    fn roles(&self) -> Vec<String> {
        self.inner.roles.clone()
    }

    /// ``exp`` in Unix seconds, when the token has one.
    #[getter]
    fn expires_at(&self) -> Option<i64> {
        self.inner.expires_at
    }

    /// ``jti``, when present.
    #[getter]
    fn jwt_id(&self) -> Option<&str> {
        self.inner.jwt_id.as_deref()
    }

    /// How the token was validated: ``jwt``, ``opaque`` or ``introspected``.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner.kind {
            mcpguard::token::TokenKind::Jwt => "jwt",
            mcpguard::token::TokenKind::Opaque => "opaque",
            mcpguard::token::TokenKind::Introspected => "introspected",
        }
    }

    /// Every claim of the token as signed, as a dict.
    #[getter]
    fn claims<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.inner.claims_json)
    }

    /// Whether the token carries ``scope`` (exact comparison).
    fn has_scope(&self, scope: &str) -> bool {
        self.inner.has_scope(scope)
    }

    /// The principal as a dict in the shape of ``config.md``.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &principal_json(&self.inner))
    }

    /// A short description for debugging.
    fn __repr__(&self) -> String {
        format!(
            "Principal(subject={:?}, client_id={:?}, issuer={:?})",
            self.inner.subject, self.inner.client_id, self.inner.issuer
        )
    }
}
