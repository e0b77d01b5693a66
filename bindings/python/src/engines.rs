//! The three engines on their own: `TokenValidator`, `TagFilter` (with the
//! scope helpers) and `RateLimiter`, for hosts that need one piece without
//! the whole Guard.

use std::sync::Arc;

use mcpguard::access::{self, Filter};
use mcpguard::classify::Classify;
use mcpguard::ratelimit::{self, Algorithm, Limiter, Quota};
use mcpguard::token;
use pyo3::prelude::*;

use crate::clock::ManualClock;
use crate::convert::{json_text, object_text, opaque_entry, to_py};
use crate::errors;
use crate::guard::Principal;

fn clock_of(clock: Option<PyRef<'_, ManualClock>>) -> Arc<dyn mcpguard::Clock> {
    match clock {
        Some(c) => c.shared(),
        None => Arc::new(mcpguard::SystemClock),
    }
}

/// Bearer-token validation alone: the ``auth`` object of the configuration
/// (JSON text or a dict) and this server's ``resource`` (the default audience).
///
/// Principals from it carry no tags (tags come from the Guard's servers).
#[pyclass(module = "mcpguard._native", frozen)]
pub struct TokenValidator {
    inner: token::TokenValidator,
}

#[pymethods]
impl TokenValidator {
    /// Builds the validator; raises ``ConfigError`` (path inside ``auth``).
    #[new]
    #[pyo3(signature = (auth, resource, *, clock = None))]
    fn new(
        py: Python<'_>,
        auth: &Bound<'_, PyAny>,
        resource: &str,
        clock: Option<PyRef<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let text = json_text(auth)?;
        token::TokenValidator::from_json(&text, resource, clock_of(clock))
            .map(|inner| TokenValidator { inner })
            .map_err(|e| errors::config_error(py, &e))
    }

    /// Validates a bare token; returns the ``Principal`` or raises
    /// ``InvalidToken`` / ``InsufficientScope``. The GIL is released while a
    /// signature is checked.
    fn validate(&self, py: Python<'_>, token: &str) -> PyResult<Principal> {
        let v = &self.inner;
        let result = if v.is_cached(token) {
            v.validate(token)
        } else {
            py.detach(|| v.validate(token))
        };
        result
            .map(|inner| Principal { inner })
            .map_err(|e| errors::token_error(py, &e, None))
    }

    /// Replaces an issuer's JWK Set (JSON text or a dict); raises
    /// ``ConfigError`` and changes nothing when the set is refused.
    fn set_jwks(&self, py: Python<'_>, issuer: &str, jwks: &Bound<'_, PyAny>) -> PyResult<()> {
        let text = json_text(jwks)?;
        let v = &self.inner;
        py.detach(|| v.set_jwks(issuer, &text))
            .map_err(|e| errors::key_error(py, &e))
    }

    /// Revokes a token until it would have expired; raises ``InvalidToken``
    /// for a token this validator would not accept.
    fn revoke(&self, py: Python<'_>, token: &str) -> PyResult<()> {
        let v = &self.inner;
        py.detach(|| v.revoke(token))
            .map_err(|e| errors::revoke_error(py, &e, None))
    }

    /// Stores an opaque token the host issued (needs ``opaque_tokens`` in
    /// the ``auth`` object), as ``Guard.insert_opaque`` does: the entry as
    /// keywords or as one mapping (or JSON text); raises
    /// ``OpaqueTokenRejected`` / ``OpaqueStoreError`` (with ``code``),
    /// ``ConfigError`` or ``TypeError``.
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
        let fields = token::opaque::OpaqueEntry {
            client_id,
            subject,
            scopes,
            roles,
            resource,
            expires_at,
        };
        insert_opaque(py, &self.inner, token, entry, fields)
    }

    /// Turns an RFC 7662 introspection response (a mapping, or JSON text
    /// read as is) into a ``Principal`` (without tags), as
    /// ``Guard.validate_introspection`` does; raises ``InvalidToken`` /
    /// ``InsufficientScope``, or ``TypeError``.
    fn validate_introspection(
        &self,
        py: Python<'_>,
        response: &Bound<'_, PyAny>,
    ) -> PyResult<Principal> {
        introspect(py, &self.inner, response, None)
    }

    /// The configured issuers, in configuration order.
    fn issuers(&self) -> Vec<String> {
        self.inner
            .issuers()
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

/// Stores an opaque token in `validator`'s store, the GIL released: the
/// entry is a mapping or JSON text, else the keyword fields
/// (``Guard.insert_opaque`` and ``TokenValidator.insert_opaque``).
pub(crate) fn insert_opaque(
    py: Python<'_>,
    validator: &token::TokenValidator,
    token: &str,
    entry: Option<&Bound<'_, PyAny>>,
    fields: token::opaque::OpaqueEntry,
) -> PyResult<()> {
    let entry = opaque_entry(py, entry, fields)?;
    py.detach(|| validator.insert_opaque(token, entry))
        .map_err(|e| errors::opaque_error(py, &e))
}

/// An introspection response (a mapping or JSON text) as a ``Principal``;
/// a refusal's challenge names `metadata_url` when there is one (the
/// Guard's).
pub(crate) fn introspect(
    py: Python<'_>,
    validator: &token::TokenValidator,
    response: &Bound<'_, PyAny>,
    metadata_url: Option<&str>,
) -> PyResult<Principal> {
    let text = object_text(response, "response")?;
    validator
        .validate_introspection(&text)
        .map(|p| Principal { inner: Arc::new(p) })
        .map_err(|e| errors::token_error(py, &e, metadata_url))
}

/// A compiled tag filter (1MCP's ``tags``, ``tag-filter`` and JSON tag
/// queries).
///
/// >>> f = TagFilter.parse(tag_filter="web and not internal")
/// >>> f.matches(["web", "public"]), f.tags()
/// (True, ['web', 'internal'])
#[pyclass(module = "mcpguard._native", frozen)]
pub struct TagFilter {
    inner: Filter,
}

fn filter_error(py: Python<'_>, e: &access::FilterError) -> PyErr {
    errors::request_error(py, &e.classify(None), None)
}

#[pymethods]
impl TagFilter {
    /// Compiles exactly one of ``tags`` (a comma list meaning OR),
    /// ``tag_filter`` (a boolean expression) or ``tag_query`` (a JSON query,
    /// as a dict or JSON text). Raises ``InvalidRequest`` (reason
    /// ``invalid_filter``) with 1MCP's message for a filter it refuses, and
    /// ``TypeError`` unless exactly one kind is given.
    #[staticmethod]
    #[pyo3(signature = (*, tags = None, tag_filter = None, tag_query = None))]
    fn parse(
        py: Python<'_>,
        tags: Option<&str>,
        tag_filter: Option<&str>,
        tag_query: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<TagFilter> {
        let result = match (tags, tag_filter, tag_query) {
            (Some(t), None, None) => Filter::parse_tags(t),
            (None, Some(e), None) => Filter::parse_expression(e),
            (None, None, Some(q)) => {
                let text = json_text(q)?;
                let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    let e = access::FilterError::InvalidQuery {
                        path: String::new(),
                        message: format!("not JSON: {e}"),
                    };
                    filter_error(py, &e)
                })?;
                Filter::from_query(&value)
            }
            _ => {
                return Err(pyo3::exceptions::PyTypeError::new_err(
                    "give exactly one of tags, tag_filter, tag_query",
                ));
            }
        };
        result
            .map(|inner| TagFilter { inner })
            .map_err(|e| filter_error(py, &e))
    }

    /// Whether a server (or tool) with these tags passes the filter.
    fn matches(&self, server_tags: Vec<String>) -> bool {
        self.inner.matches_tags(&server_tags)
    }

    /// The normalised tags the filter mentions, first-seen order.
    fn tags(&self) -> Vec<String> {
        self.inner.tags()
    }

    /// The filter in the advanced (``tag-filter``) syntax.
    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    /// A short description for debugging.
    fn __repr__(&self) -> String {
        format!("TagFilter({:?})", self.inner.to_string())
    }
}

/// Checks requested ``tag:`` scopes against the available tags (1MCP's
/// rules). Returns the normalised scopes; raises ``InvalidRequest`` whose
/// ``errors`` lists every problem.
#[pyfunction]
pub fn validate_scopes(
    py: Python<'_>,
    requested: Vec<String>,
    available_tags: Vec<String>,
) -> PyResult<Vec<String>> {
    access::validate_scopes(&requested, &available_tags).map_err(|errs| {
        let message = errs.join("; ");
        errors::invalid_request(py, message, Some(errs))
    })
}

/// The tags named by the valid ``tag:`` scopes among ``scopes``.
#[pyfunction]
pub fn scopes_to_tags(scopes: Vec<String>) -> Vec<String> {
    access::scopes_to_tags(&scopes)
}

/// ``tag:<tag>`` for each tag.
#[pyfunction]
pub fn tags_to_scopes(tags: Vec<String>) -> Vec<String> {
    access::tags_to_scopes(&tags)
}

/// A keyed rate limiter alone: ``limit`` requests per ``window_seconds``
/// with ``algorithm`` ``"fixed_window"``, ``"sliding_window"`` or
/// ``"token_bucket"`` (whose ``burst`` defaults to ``limit``), tracking at
/// most ``max_keys`` keys.
///
/// >>> limiter = RateLimiter(limit=10, window_seconds=60)
/// >>> limiter.check("203.0.113.7").allowed
/// True
#[pyclass(module = "mcpguard._native", frozen)]
pub struct RateLimiter {
    inner: Limiter,
}

#[pymethods]
impl RateLimiter {
    /// Builds the limiter; raises ``ConfigError`` for numbers it refuses.
    #[new]
    #[pyo3(signature = (limit = 100, window_seconds = 900.0, *, algorithm = "fixed_window", burst = None, max_keys = 100_000, clock = None))]
    fn new(
        py: Python<'_>,
        limit: u64,
        window_seconds: f64,
        algorithm: &str,
        burst: Option<u64>,
        max_keys: usize,
        clock: Option<PyRef<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let config_error = |path: &str, message: String| {
            errors::config_error(py, &mcpguard::ConfigError::new(path, message))
        };
        let alg = Algorithm::from_name(algorithm).ok_or_else(|| {
            config_error(
                "algorithm",
                format!(
                    "unknown algorithm {algorithm:?}: expected fixed_window, sliding_window or token_bucket"
                ),
            )
        })?;
        let quota = Quota::new(alg, limit, window_seconds, burst)
            .map_err(|e| config_error(e.field(), e.to_string()))?;
        Limiter::new(alg, quota, max_keys, clock_of(clock))
            .map(|inner| RateLimiter { inner })
            .map_err(|e| config_error(e.field(), e.to_string()))
    }

    /// Checks ``key`` and, when allowed, counts ``cost`` against it.
    #[pyo3(signature = (key, cost = 1))]
    fn check(&self, key: &str, cost: u64) -> RateDecision {
        RateDecision {
            inner: self.inner.check(key, cost),
        }
    }

    /// What a request of cost 1 would get now, counting nothing.
    fn peek(&self, key: &str) -> RateDecision {
        RateDecision {
            inner: self.inner.peek(key),
        }
    }

    /// Gives ``key`` its full quota back.
    fn reset(&self, key: &str) {
        self.inner.reset(key)
    }

    /// How many keys are tracked now (at most ``max_keys``).
    fn tracked_keys(&self) -> usize {
        self.inner.tracked_keys()
    }
}

/// The answer to one rate-limit check.
#[pyclass(module = "mcpguard._native", frozen)]
pub struct RateDecision {
    pub(crate) inner: ratelimit::RateDecision,
}

#[pymethods]
impl RateDecision {
    /// Whether the request may proceed (and was counted).
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.allowed
    }

    /// The limit's capacity (``limit``, or ``burst`` for the token bucket).
    #[getter]
    fn limit(&self) -> u64 {
        self.inner.limit
    }

    /// Requests left now.
    #[getter]
    fn remaining(&self) -> u64 {
        self.inner.remaining
    }

    /// Seconds until the full quota is back.
    #[getter]
    fn reset(&self) -> f64 {
        self.inner.reset
    }

    /// Seconds until a refused request would pass; ``None`` when allowed or
    /// when no wait helps.
    #[getter]
    fn retry_after(&self) -> Option<f64> {
        self.inner.retry_after
    }

    /// Refused because the cost is more than the limit can ever admit.
    #[getter]
    fn never(&self) -> bool {
        self.inner.never
    }

    /// The limit's name (``default``, a role or a rule).
    #[getter]
    fn policy(&self) -> &str {
        &self.inner.policy
    }

    /// The limit's window in seconds.
    #[getter]
    fn window_seconds(&self) -> f64 {
        self.inner.window_seconds
    }

    /// ``{"allowed", "limit", "remaining", "reset", "retry_after", "never", "policy"}``.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.to_json())
    }

    /// ``True`` when allowed, so ``if decision:`` reads naturally.
    fn __bool__(&self) -> bool {
        self.inner.allowed
    }

    /// A short description for debugging.
    fn __repr__(&self) -> String {
        format!(
            "RateDecision(allowed={}, remaining={}, retry_after={:?})",
            if self.inner.allowed { "True" } else { "False" },
            self.inner.remaining,
            self.inner.retry_after
        )
    }
}
