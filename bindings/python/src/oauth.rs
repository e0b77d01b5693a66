//! `OAuthServer`: the core's embedded authorization server for Python.
//!
//! Dicts in, dicts out: each method takes the request the engine takes
//! (snake_case keys, as the core names them) and returns an envelope,
//! `{"ok": True, "value": …}` or `{"ok": False, "error",
//! "error_description", "status", "retry_after"}`. A refusal of the
//! authorization server is an answer to give, not an exception; only a
//! malformed argument raises. `mcpguard/oauth.py` builds the SDK provider
//! on top; the Node binding's `OAuthServer` has the same shape.

use std::path::PathBuf;

use mcpguard::oauth::http::HttpRequest;
use mcpguard::oauth::{
    AuthorizationServer, AuthorizeOutcome, AuthorizeParams, ClientAuth, ConsentAnswer,
    ConsentRequest, OAuthServerError, RegistrationRequest, RevocationRequest, TokenRequest,
    VerifiedCodeExchange, consent_cookie, consent_cookie_from_header, credential_hash,
    render_consent_page,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use serde_json::{Value, json};

use crate::convert::{object_text, to_py};
use crate::guard::Guard;

/// The authorization server of a Guard built with an
/// ``authorization_server`` section, its state in the store the section's
/// ``storage`` names (memory, or an SQLite file relative to ``base_dir``,
/// default the working directory).
#[pyclass(module = "mcpguard._native", frozen)]
pub struct OAuthServer {
    inner: AuthorizationServer,
}

/// An HTTP answer for Python: status, `(name, value)` headers, body.
type HttpAnswer = (u16, Vec<(String, String)>, String);

fn ok(value: Value) -> Value {
    json!({"ok": true, "value": value})
}

fn refused(e: &OAuthServerError) -> Value {
    let mut v = e.to_json();
    v["ok"] = Value::Bool(false);
    v["status"] = Value::from(e.status());
    if let OAuthServerError::RateLimited { retry_after } = e {
        v["retry_after"] = Value::from(*retry_after);
    }
    v
}

fn envelope(result: Result<Value, OAuthServerError>) -> Value {
    result.map_or_else(|e| refused(&e), ok)
}

fn parse(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let text = object_text(obj, what)?;
    serde_json::from_str(&text).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

fn text<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str)
}

#[pymethods]
impl OAuthServer {
    /// The server of ``guard`` (which must have an ``authorization_server``
    /// section). Raises ``ValueError`` when it has none or the store does
    /// not open.
    #[new]
    #[pyo3(signature = (guard, *, base_dir = None))]
    fn new(guard: PyRef<'_, Guard>, base_dir: Option<PathBuf>) -> PyResult<OAuthServer> {
        // Built the way every binding builds it (memory, SQLite or the
        // Redis of `store.redis`), when the Guard came from a configuration.
        if let Some(hosted) = guard.hosted_guard() {
            let inner = hosted
                .authorization_server(base_dir.as_deref())
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            return Ok(OAuthServer { inner });
        }
        let guard = guard.core();
        let settings = guard.authorization_server_settings().ok_or_else(|| {
            PyValueError::new_err("the Guard's configuration has no authorization_server section")
        })?;
        let store = mcpguard_sqlite::open_configured(&settings.storage, base_dir.as_deref())
            .map_err(|e| PyValueError::new_err(format!("opening the store: {e}")))?;
        let inner = AuthorizationServer::new(guard, store)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(OAuthServer { inner })
    }

    /// The issuer identifier.
    #[getter]
    fn issuer(&self) -> &str {
        self.inner.issuer()
    }

    /// The RFC 8414 metadata document.
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.metadata())
    }

    /// The registered client's stored metadata (``None`` if unknown), as an envelope.
    fn client<'py>(&self, py: Python<'py>, client_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let found = self.inner.store().client(client_id).map_err(Into::into);
        to_py(
            py,
            &envelope(found.map(|c| c.map_or(Value::Null, |c| c.metadata))),
        )
    }

    /// Registers a client from its metadata (RFC 7591); ``value`` is the
    /// registration response.
    #[pyo3(signature = (metadata, initial_access_token, rate_key))]
    fn register<'py>(
        &self,
        py: Python<'py>,
        metadata: &Bound<'py, PyAny>,
        initial_access_token: Option<&str>,
        rate_key: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let metadata = parse("the client metadata", metadata)?;
        let r = self.inner.register(&RegistrationRequest {
            metadata: &metadata,
            initial_access_token,
            rate_key,
        });
        to_py(py, &envelope(r.map(|c| c.response)))
    }

    /// Checks an authorization request: ``{"consent": …}`` or
    /// ``{"redirect": url}`` in ``value``; a refusal is to be shown to the
    /// user, not redirected.
    fn authorize<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let p = parse("the authorization request", params)?;
        let outcome = self.inner.authorize(&AuthorizeParams {
            response_type: text(&p, "response_type"),
            client_id: text(&p, "client_id"),
            redirect_uri: text(&p, "redirect_uri"),
            state: text(&p, "state"),
            scope: text(&p, "scope"),
            code_challenge: text(&p, "code_challenge"),
            code_challenge_method: text(&p, "code_challenge_method"),
            resource: text(&p, "resource"),
        });
        let v = match outcome {
            AuthorizeOutcome::Consent(c) => ok(json!({"consent": ConsentRequest::to_json(&c)})),
            AuthorizeOutcome::Redirect(url) => ok(json!({"redirect": url})),
            AuthorizeOutcome::Error(e) => refused(&e),
        };
        to_py(py, &v)
    }

    /// The default consent page of a pending request, posting to
    /// ``action``, and the ``Set-Cookie`` value carrying its CSRF token:
    /// ``(html, set_cookie)``, or ``None`` when the request is unknown or
    /// has expired.
    fn consent_page(&self, request_id: &str, action: &str) -> PyResult<Option<(String, String)>> {
        let c = self
            .inner
            .consent_request(request_id)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(c.map(|c| {
            let now = self.inner.guard().token_validator().clock().now_secs();
            let secure = self.inner.issuer().starts_with("https:");
            let cookie = consent_cookie(&c, secure, c.expires_at - now);
            (render_consent_page(&c, action), cookie)
        }))
    }

    /// Answers a pending request (``request_id``, ``csrf_form``, the
    /// request's ``cookie_header``, ``subject``, ``approve``, ``scopes`` or
    /// ``None``); ``value`` is the URL to redirect to.
    fn consent<'py>(
        &self,
        py: Python<'py>,
        answer: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = parse("the consent answer", answer)?;
        let scopes: Option<Vec<String>> =
            match a.get("scopes") {
                None | Some(Value::Null) => None,
                Some(v) => Some(serde_json::from_value(v.clone()).map_err(|_| {
                    PyTypeError::new_err("scopes must be a list of strings or None")
                })?),
            };
        let cookie = text(&a, "cookie_header").and_then(consent_cookie_from_header);
        let answer = ConsentAnswer {
            request_id: text(&a, "request_id").unwrap_or(""),
            csrf_form: text(&a, "csrf_form"),
            csrf_cookie: cookie.as_deref(),
            subject: text(&a, "subject")
                .ok_or_else(|| PyTypeError::new_err("subject is required"))?,
            approve: a.get("approve").and_then(Value::as_bool).unwrap_or(false),
            scopes: scopes.as_deref(),
        };
        to_py(py, &envelope(self.inner.consent(&answer).map(Value::from)))
    }

    /// The authorization code as stored, spent or not (``None`` if
    /// unknown), as an envelope: ``client_id``, ``redirect_uri``,
    /// ``code_challenge``, ``resource``, ``scopes``, ``subject``,
    /// ``expires_at``.
    fn authorization_code<'py>(&self, py: Python<'py>, code: &str) -> PyResult<Bound<'py, PyAny>> {
        let r = self.inner.authorization_code(code).map(|c| {
            c.map_or(Value::Null, |c| {
                json!({
                    "client_id": c.client_id, "redirect_uri": c.redirect_uri,
                    "code_challenge": c.code_challenge, "resource": c.resource,
                    "scopes": c.scopes, "subject": c.subject, "expires_at": c.expires_at,
                })
            })
        });
        to_py(py, &envelope(r))
    }

    /// The refresh token as stored with its family (``None`` if unknown),
    /// as an envelope: ``client_id``, ``scopes`` (the family's ceiling),
    /// ``resource``, ``subject``, ``expires_at`` (the earlier of the
    /// token's and the family's end).
    fn refresh_token<'py>(&self, py: Python<'py>, token: &str) -> PyResult<Bound<'py, PyAny>> {
        let found = self
            .inner
            .store()
            .refresh_token(&credential_hash(token))
            .map_err(Into::into);
        let r = found.map(|found| {
            found.map_or(Value::Null, |(t, f)| {
                json!({
                    "client_id": f.client_id, "scopes": f.scope_ceiling, "resource": f.resource,
                    "subject": f.subject, "expires_at": t.expires_at.min(f.expires_at),
                })
            })
        });
        to_py(py, &envelope(r))
    }

    /// Answers a token request (``grant_type`` and the grant's parameters,
    /// ``client_id`` / ``client_secret`` as authenticated).
    fn token<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let r = parse("the token request", request)?;
        let t = self.inner.token(&TokenRequest {
            grant_type: text(&r, "grant_type"),
            code: text(&r, "code"),
            redirect_uri: text(&r, "redirect_uri"),
            code_verifier: text(&r, "code_verifier"),
            refresh_token: text(&r, "refresh_token"),
            scope: text(&r, "scope"),
            resource: text(&r, "resource"),
            client: ClientAuth::from_json(&r),
        });
        to_py(py, &envelope(t.map(|t| t.to_json())))
    }

    /// Exchanges an authorization code whose PKCE verifier the caller
    /// checked against ``verified_challenge`` (``code``, ``redirect_uri``,
    /// ``verified_challenge``, ``resource``, ``client_id``,
    /// ``client_secret``): the engine checks that challenge is the code's
    /// own, and every other rule of the exchange.
    fn exchange_verified_code<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let r = parse("the code exchange", request)?;
        let t = self.inner.exchange_verified_code(&VerifiedCodeExchange {
            code: text(&r, "code").unwrap_or(""),
            redirect_uri: text(&r, "redirect_uri").unwrap_or(""),
            verified_challenge: text(&r, "verified_challenge").unwrap_or(""),
            resource: text(&r, "resource"),
            client: ClientAuth::from_json(&r),
        });
        to_py(py, &envelope(t.map(|t| t.to_json())))
    }

    /// Revokes a token (RFC 7009): ``token``, ``token_type_hint``,
    /// ``client_id``, ``client_secret``.
    fn revoke<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let r = parse("the revocation request", request)?;
        let done = self.inner.revoke(&RevocationRequest {
            token: text(&r, "token"),
            token_type_hint: text(&r, "token_type_hint"),
            client: ClientAuth::from_json(&r),
        });
        to_py(py, &envelope(done.map(|()| Value::Null)))
    }

    /// Answers an HTTP request to one of the engine's own endpoints
    /// (metadata, ``/register``, ``/authorize``, ``/token``, ``/revoke``,
    /// ``/jwks.json`` under the issuer): ``(status, headers, body)``, or
    /// ``None`` when the path is none of them. ``headers`` are ``(name,
    /// value)`` pairs; ``peer`` keys the registration rate limit;
    /// ``subject`` is the signed-in user. This is the way for confidential
    /// and machine clients, whose secrets the SDK's routes cannot check.
    #[pyo3(signature = (method, path, query = "", headers = Vec::new(), body = Vec::new(), peer = "", subject = None))]
    #[allow(clippy::too_many_arguments)]
    fn handle_http(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        peer: &str,
        subject: Option<&str>,
    ) -> Option<HttpAnswer> {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let request = HttpRequest {
            method,
            path,
            query,
            headers: &pairs,
            body: &body,
        };
        self.inner.handle_http(&request, peer, subject).map(|r| {
            let headers = r
                .headers
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect();
            (r.status, headers, r.body)
        })
    }

    fn __repr__(&self) -> String {
        format!("OAuthServer(issuer={:?})", self.inner.issuer())
    }
}
