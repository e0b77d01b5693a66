//! The HTTP edge for Python hosts: `HttpOptions`, `HttpBody` (the body
//! markers), `HttpDecision` and `HttpResponse`, over the core's
//! [`Guard::authorize_http`](mcpguard::guard::Guard::authorize_http).
//!
//! Everything an HTTP request means (the metadata route, the header and
//! query rules, the JSON-RPC body, batches, listing filters, every refusal's
//! status, headers and body) is decided by the core; this module only moves
//! ASGI's bytes in and the core's answer out. What it decides is Python
//! plumbing: when the GIL is released (see [`authorize_http`]).

use mcpguard::guard::{self as core, HttpAction};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use serde_json::Value;

use crate::convert::json_text;
use crate::errors;
use crate::guard::{Decision, Principal};

/// Bodies at least this large are read with the GIL released: parsing
/// them takes tens of microseconds or more.
const DETACH_BODY_BYTES: usize = 16 * 1024;

/// How one protected endpoint is guarded: built once, shared by every
/// request (``Guard.authorize_http``).
///
/// Give the options as keywords, or as one mapping (or JSON text) of the
/// same shape: ``server`` (the MCP server the endpoint serves),
/// ``read_body`` (read ``POST`` bodies for the tools they call and the
/// listings they ask for; default: on when there is a server),
/// ``max_body_bytes`` (default 4 MiB), ``serve_metadata`` (answer the RFC
/// 9728 metadata route; default on), ``listing_items`` (how listed items
/// map to servers, e.g. ``{"prefix": {"separator": "_1mcp_"}}``) and
/// ``cost`` (rate-limit cost of one call; default 1). The core reads them:
/// a value it refuses raises ``ConfigError`` naming it.
///
/// >>> options = HttpOptions(server="files")
#[pyclass(module = "mcpguard._native", frozen)]
pub struct HttpOptions {
    pub(crate) inner: core::HttpOptions,
}

#[pymethods]
impl HttpOptions {
    /// Builds the options; raises ``ConfigError`` for anything the core
    /// refuses and ``TypeError`` for a mapping given with keywords.
    #[new]
    #[pyo3(signature = (options = None, /, *, server = None, read_body = None, max_body_bytes = None, serve_metadata = None, listing_items = None, cost = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        options: Option<&Bound<'_, PyAny>>,
        server: Option<&Bound<'_, PyAny>>,
        read_body: Option<&Bound<'_, PyAny>>,
        max_body_bytes: Option<&Bound<'_, PyAny>>,
        serve_metadata: Option<&Bound<'_, PyAny>>,
        listing_items: Option<&Bound<'_, PyAny>>,
        cost: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<HttpOptions> {
        let keywords = [
            ("server", server),
            ("read_body", read_body),
            ("max_body_bytes", max_body_bytes),
            ("serve_metadata", serve_metadata),
            ("listing_items", listing_items),
            ("cost", cost),
        ];
        let given: Vec<(&str, &Bound<'_, PyAny>)> = keywords
            .iter()
            .filter_map(|(k, v)| v.filter(|v| !v.is_none()).map(|v| (*k, v)))
            .collect();
        // Every value goes through Python's json and the core's reader, so
        // the rules (types, ranges, unknown keys) live in one place.
        let text = match options.filter(|o| !o.is_none()) {
            Some(_) if !given.is_empty() => {
                return Err(PyTypeError::new_err(
                    "give the options either as a mapping or as keywords, not both",
                ));
            }
            Some(o) => json_text(o)?,
            None => {
                let dict = PyDict::new(py);
                for (k, v) in given {
                    dict.set_item(k, v)?;
                }
                json_text(dict.as_any())?
            }
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            errors::config_error(
                py,
                &mcpguard::ConfigError::new("", format!("HTTP options are not JSON: {e}")),
            )
        })?;
        core::HttpOptions::from_json(&value)
            .map(|inner| HttpOptions { inner })
            .map_err(|e| errors::config_error(py, &e))
    }

    /// The server the endpoint serves, if any.
    #[getter]
    fn server(&self) -> Option<&str> {
        self.inner.server.as_deref()
    }

    /// Whether ``POST`` bodies are read.
    #[getter]
    fn read_body(&self) -> bool {
        self.inner.read_body
    }

    /// The largest body read; the host stops reading one byte past it.
    #[getter]
    fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// Whether the metadata route is answered.
    #[getter]
    fn serve_metadata(&self) -> bool {
        self.inner.serve_metadata
    }

    /// The rate-limit cost of one call.
    #[getter]
    fn cost(&self) -> u64 {
        self.inner.cost
    }

    /// A short description for debugging.
    fn __repr__(&self) -> String {
        format!(
            "HttpOptions(server={}, read_body={}, max_body_bytes={}, serve_metadata={}, cost={})",
            self.inner
                .server
                .as_ref()
                .map_or("None".to_string(), |s| format!("{s:?}")),
            py_bool(self.inner.read_body),
            self.inner.max_body_bytes,
            py_bool(self.inner.serve_metadata),
            self.inner.cost
        )
    }
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// A request body the host could not hand over as bytes:
/// ``HttpBody.TOO_LARGE`` (it stopped reading past ``max_body_bytes``) or
/// ``HttpBody.UNAVAILABLE`` (it was consumed elsewhere).
#[pyclass(module = "mcpguard._native", frozen, eq, eq_int)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpBody {
    /// The body is longer than ``max_body_bytes``.
    #[pyo3(name = "TOO_LARGE")]
    TooLarge,
    /// The body was not handed over.
    #[pyo3(name = "UNAVAILABLE")]
    Unavailable,
}

/// A complete response the core built: send it as it is.
#[pyclass(module = "mcpguard._native", frozen)]
pub struct HttpResponse {
    inner: core::HttpResponse,
}

#[pymethods]
impl HttpResponse {
    /// The status code.
    #[getter]
    fn status(&self) -> u16 {
        self.inner.status
    }

    /// Headers as ``(name, value)`` pairs, ``Content-Type`` and
    /// ``Content-Length`` included.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        str_headers(py, &self.inner.headers)
    }

    /// The headers as ASGI sends them: lower-case names, Latin-1 bytes.
    #[getter]
    fn asgi_headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        asgi_headers(py, &self.inner.headers)
    }

    /// The body.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.body)
    }

    /// A short description for debugging.
    fn __repr__(&self) -> String {
        format!("HttpResponse(status={})", self.inner.status)
    }
}

/// What to do with one HTTP request (``Guard.authorize_http``).
///
/// ``action`` is ``"respond"`` (send ``status``, ``headers`` and ``body``;
/// the application never sees the request), ``"forward"`` (hand the request
/// to the application and add ``headers`` to its response) or ``"pass"`` (a
/// CORS preflight: hand it on untouched). When ``filters_response`` is true
/// the application's response must be buffered and sent through
/// ``filter_response``.
#[pyclass(module = "mcpguard._native", frozen)]
pub struct HttpDecision {
    inner: core::HttpDecision,
}

impl From<core::HttpDecision> for HttpDecision {
    fn from(inner: core::HttpDecision) -> Self {
        HttpDecision { inner }
    }
}

const NO_HEADERS: &[(String, String)] = &[];

impl HttpDecision {
    fn response_headers(&self) -> &[(String, String)] {
        match &self.inner.action {
            HttpAction::Respond(r) => &r.headers,
            HttpAction::Forward { headers } => headers,
            HttpAction::Pass => NO_HEADERS,
        }
    }
}

#[pymethods]
impl HttpDecision {
    /// ``"respond"``, ``"forward"`` or ``"pass"``.
    #[getter]
    fn action(&self) -> &'static str {
        match self.inner.action {
            HttpAction::Respond(_) => "respond",
            HttpAction::Forward { .. } => "forward",
            HttpAction::Pass => "pass",
        }
    }

    /// The status to answer with (``"respond"`` only, else ``None``).
    #[getter]
    fn status(&self) -> Option<u16> {
        match &self.inner.action {
            HttpAction::Respond(r) => Some(r.status),
            _ => None,
        }
    }

    /// ``"respond"``: the response's headers; ``"forward"``: the headers to
    /// add to the application's response (rate limits); ``"pass"``: none.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        str_headers(py, self.response_headers())
    }

    /// ``headers`` as ASGI sends them: lower-case names, Latin-1 bytes.
    #[getter]
    fn asgi_headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        asgi_headers(py, self.response_headers())
    }

    /// The body to answer with (``"respond"``; empty otherwise).
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        match &self.inner.action {
            HttpAction::Respond(r) => PyBytes::new(py, &r.body),
            _ => PyBytes::new(py, b""),
        }
    }

    /// The Guard's decision, when one was made (not for the metadata route,
    /// a preflight, or a response about the host's own mistake).
    #[getter]
    fn decision(&self) -> Option<Decision> {
        self.inner.decision.clone().map(|inner| Decision { inner })
    }

    /// The decision's principal, when the token was valid.
    #[getter]
    fn principal(&self) -> Option<Principal> {
        self.inner
            .decision
            .as_ref()
            .and_then(|d| d.principal.clone())
            .map(|inner| Principal { inner })
    }

    /// Whether the application's response must go through
    /// ``filter_response`` (the request asked for a listing). A host that
    /// cannot buffer the response must not send it.
    #[getter]
    fn filters_response(&self) -> bool {
        self.inner.filters_response()
    }

    /// The application's response body with every listing result filtered
    /// to what the principal may call. ``content_type`` is the response's
    /// ``Content-Type`` (JSON, or ``text/event-stream`` whose ``data:``
    /// events carry the JSON-RPC responses). Returns the filtered bytes, or
    /// the ``HttpResponse`` (502) to send instead when the body cannot be
    /// read: an unreadable listing is never passed through. The GIL is
    /// released while the body is filtered.
    #[pyo3(signature = (content_type, body))]
    fn filter_response<'py>(
        &self,
        py: Python<'py>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> PyResult<Bound<'py, PyAny>> {
        if !self.inner.filters_response() {
            return Ok(PyBytes::new(py, body).into_any());
        }
        let d = &self.inner;
        match py.detach(|| d.filter_response(content_type, body)) {
            Ok(filtered) => Ok(PyBytes::new(py, &filtered).into_any()),
            Err(inner) => Ok(Bound::new(py, HttpResponse { inner })?.into_any()),
        }
    }

    /// A short description for debugging.
    fn __repr__(&self) -> String {
        match &self.inner.action {
            HttpAction::Respond(r) => {
                format!("HttpDecision(action='respond', status={})", r.status)
            }
            HttpAction::Forward { .. } => format!(
                "HttpDecision(action='forward', filters_response={})",
                py_bool(self.inner.filters_response())
            ),
            HttpAction::Pass => "HttpDecision(action='pass')".into(),
        }
    }
}

fn str_headers<'py>(py: Python<'py>, headers: &[(String, String)]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for (name, value) in headers {
        list.append(PyTuple::new(py, [name.as_str(), value.as_str()])?)?;
    }
    Ok(list)
}

fn asgi_headers<'py>(
    py: Python<'py>,
    headers: &[(String, String)],
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for (name, value) in headers {
        let name = PyBytes::new(py, name.to_ascii_lowercase().as_bytes());
        let value = PyBytes::new(py, &latin1(value));
        list.append(PyTuple::new(py, [name, value])?)?;
    }
    Ok(list)
}

/// A header value the core built, as the bytes HTTP/1.1 carries: each
/// character one byte (the core's values are ASCII; anything else that
/// cannot be one byte becomes `?`).
fn latin1(value: &str) -> Vec<u8> {
    value
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// The raw query as the core takes it: UTF-8 text as is; bytes that are not
/// UTF-8 percent-encoded, which the query reader decodes back to the same
/// bytes (and refuses where it must read them).
fn query_text(query: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = query.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    let bytes = query
        .cast::<PyBytes>()
        .map_err(|_| PyTypeError::new_err("query must be bytes or str"))?
        .as_bytes();
    Ok(match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() * 3);
            for &b in bytes {
                if b.is_ascii() {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            out
        }
    })
}

/// The headers as ASGI has them: an iterable of ``(name, value)`` bytes pairs.
fn header_objects<'py>(
    headers: &Bound<'py, PyAny>,
) -> PyResult<Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)>> {
    let mut out = Vec::new();
    for item in headers.try_iter()? {
        let item = item?;
        let pair = || PyTypeError::new_err("headers must be (name, value) pairs of bytes");
        let name = item
            .get_item(0)?
            .cast_into::<PyBytes>()
            .map_err(|_| pair())?;
        let value = item
            .get_item(1)?
            .cast_into::<PyBytes>()
            .map_err(|_| pair())?;
        out.push((name, value));
    }
    Ok(out)
}

/// The body argument as the core takes it: bytes, ``None`` or a marker.
fn body_arg<'a>(body: Option<&'a Bound<'_, PyAny>>) -> PyResult<core::HttpBody<'a>> {
    Ok(match body {
        None => core::HttpBody::None,
        Some(b) if b.is_none() => core::HttpBody::None,
        Some(b) => {
            if let Ok(bytes) = b.cast::<PyBytes>() {
                core::HttpBody::Bytes(bytes.as_bytes())
            } else if let Ok(marker) = b.cast::<HttpBody>() {
                match *marker.get() {
                    HttpBody::TooLarge => core::HttpBody::TooLarge,
                    HttpBody::Unavailable => core::HttpBody::Unavailable,
                }
            } else {
                return Err(PyTypeError::new_err(
                    "body must be bytes, None, HttpBody.TOO_LARGE or HttpBody.UNAVAILABLE",
                ));
            }
        }
    })
}

/// ``Guard._authorize_http_begin``: the arguments read as
/// [`authorize_http`] reads them, copied, and the decision begun on this
/// thread (see [`crate::later`]). The ``HttpDecision`` when it was decided
/// here, else the id it will arrive under in `completions` (it waits on
/// the store, or was handed to a decision thread).
#[cfg(unix)]
pub fn authorize_http_begin<'py>(
    py: Python<'py>,
    guard: &core::Guard,
    completions: &crate::later::Completions,
    options: &HttpOptions,
    args: &Args<'_, '_>,
) -> PyResult<Bound<'py, PyAny>> {
    use crate::later::{self, Begun};
    let parts = args.with_request(|r| core::OwnedHttpRequest::from(r))?;
    Ok(
        match later::begin(guard.clone(), options.inner.clone(), parts, completions)? {
            Begun::Decided(inner) => Bound::new(py, HttpDecision { inner: *inner })?.into_any(),
            Begun::Waiting(id) => id.into_pyobject(py)?.into_any(),
        },
    )
}

/// One request's arguments, as ``Guard.authorize_http`` takes them (an
/// absent query or header list already replaced by an empty one).
pub struct Args<'a, 'py> {
    pub method: &'a str,
    pub path: &'a str,
    /// `None`: no query.
    pub query: Option<&'a Bound<'py, PyAny>>,
    /// `None`: no headers.
    pub headers: Option<&'a Bound<'py, PyAny>>,
    pub peer: Option<&'a str>,
    pub body: Option<&'a Bound<'py, PyAny>>,
    pub server: Option<&'a str>,
    pub key: Option<&'a str>,
    pub cost: Option<i64>,
}

impl Args<'_, '_> {
    /// `f` over the core's request read from these arguments (the query
    /// and the headers as ASGI has them, the body or its marker); the
    /// ``TypeError`` of an argument of the wrong type otherwise.
    fn with_request<R>(&self, f: impl FnOnce(&core::HttpRequest<'_>) -> R) -> PyResult<R> {
        let query = self.query.map(query_text).transpose()?.unwrap_or_default();
        let objects = match self.headers {
            Some(headers) => header_objects(headers)?,
            None => Vec::new(),
        };
        let header_bytes: Vec<(&[u8], &[u8])> = objects
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        let request = core::HttpRequest {
            method: self.method,
            path: self.path,
            query: &query,
            headers: &header_bytes,
            peer: self.peer,
            body: body_arg(self.body)?,
            server: self.server,
            key: self.key,
            // A negative cost is as invalid as 0: the core answers 400.
            cost: self.cost.map(|c| u64::try_from(c).unwrap_or(0)),
        };
        Ok(f(&request))
    }
}

/// ``Guard.authorize_http``: see its doc in `guard.rs`.
pub fn authorize_http(
    py: Python<'_>,
    guard: &core::Guard,
    options: &HttpOptions,
    args: &Args<'_, '_>,
) -> PyResult<HttpDecision> {
    // The GIL is released around work that takes microseconds (a signature
    // check for a token the cache does not hold, a large body) and around
    // any decision that may wait on the network (the Redis store).
    let opts = &options.inner;
    let inner = args.with_request(|request| {
        let large =
            matches!(request.body, core::HttpBody::Bytes(b) if b.len() >= DETACH_BODY_BYTES);
        if large || guard.waits_on_network() || guard.would_verify_http(request) {
            py.detach(|| guard.authorize_http(request, opts))
        } else {
            guard.authorize_http(request, opts)
        }
    })?;
    Ok(HttpDecision { inner })
}
