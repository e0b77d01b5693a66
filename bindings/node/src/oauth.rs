//! `OAuthServer`: the core's embedded authorization server for JavaScript.
//!
//! JSON text in, JSON text out: each method takes the request the engine
//! takes (snake_case members, as the core names them) and returns an
//! envelope, `{"ok": true, "value": …}` or `{"ok": false, "error",
//! "error_description", "status", "retry_after"}`. A refusal of the
//! authorization server is an answer to send, not an exception; only a
//! malformed argument throws. `oauth.js` builds the SDK provider on top.

use mcpguard::oauth::http::HttpRequest;
use mcpguard::oauth::{
    AuthorizationServer, AuthorizeOutcome, AuthorizeParams, ClientAuth, ConsentAnswer,
    ConsentRequest, OAuthServerError, RegistrationRequest, RevocationRequest, TokenRequest,
    consent_cookie, consent_cookie_from_header, render_consent_page,
};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde_json::{Value, json};

use crate::errors;

/// The authorization server of a Guard built with an
/// `authorization_server` section.
#[napi]
pub struct OAuthServer {
    inner: AuthorizationServer,
}

fn ok(value: Value) -> String {
    json!({"ok": true, "value": value}).to_string()
}

fn refused(e: &OAuthServerError) -> String {
    let mut v = e.to_json();
    v["ok"] = Value::Bool(false);
    v["status"] = Value::from(e.status());
    if let OAuthServerError::RateLimited { retry_after } = e {
        v["retry_after"] = Value::from(*retry_after);
    }
    v.to_string()
}

fn parse(what: &str, text: &str) -> napi::Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| errors::invalid_argument(format_args!("{what} is not JSON: {e}")))
}

fn text<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str)
}

#[napi]
impl OAuthServer {
    /// The server of `guard` (a `Guard`) built with an
    /// `authorization_server` section, its state in the store the section's
    /// `storage` names (memory, an SQLite file relative to the working
    /// directory, or the Redis of `store.redis`), opened by `mcpguard-host`
    /// as every binding opens it.
    #[napi(constructor, catch_unwind)]
    pub fn new(guard: &crate::guard::Guard) -> napi::Result<OAuthServer> {
        let inner = guard
            .hosted
            .authorization_server(None)
            .map_err(errors::invalid_argument)?;
        Ok(OAuthServer { inner })
    }

    /// The issuer identifier.
    #[napi(getter, catch_unwind)]
    pub fn issuer(&self) -> String {
        self.inner.issuer().to_string()
    }

    /// The RFC 8414 metadata document, as JSON text.
    #[napi(catch_unwind)]
    pub fn metadata(&self) -> String {
        self.inner.metadata().to_string()
    }

    /// The registered client's stored metadata (`null` if unknown), as an envelope.
    #[napi(catch_unwind)]
    pub fn client(&self, client_id: String) -> String {
        match self.inner.store().client(&client_id) {
            Ok(c) => ok(c.map_or(Value::Null, |c| c.metadata)),
            Err(e) => refused(&e.into()),
        }
    }

    /// Registers a client from its metadata (RFC 7591).
    #[napi(catch_unwind)]
    pub fn register(
        &self,
        metadata_json: String,
        initial_access_token: Option<String>,
        rate_key: String,
    ) -> napi::Result<String> {
        let metadata = parse("the client metadata", &metadata_json)?;
        Ok(
            match self.inner.register(&RegistrationRequest {
                metadata: &metadata,
                initial_access_token: initial_access_token.as_deref(),
                rate_key: &rate_key,
            }) {
                Ok(c) => ok(c.response),
                Err(e) => refused(&e),
            },
        )
    }

    /// Checks an authorization request: `{"consent": …}` (with the
    /// `set_cookie` value carrying the CSRF token) or `{"redirect": url}` in
    /// `value`; a refusal is to be shown to the user, not redirected.
    #[napi(catch_unwind)]
    pub fn authorize(&self, params_json: String) -> napi::Result<String> {
        let p = parse("the authorization request", &params_json)?;
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
        Ok(match outcome {
            AuthorizeOutcome::Consent(c) => {
                let mut consent = ConsentRequest::to_json(&c);
                let now = self.inner.guard().token_validator().clock().now_secs();
                let secure = self.inner.issuer().starts_with("https:");
                consent["set_cookie"] = Value::from(consent_cookie(&c, secure, c.expires_at - now));
                ok(json!({"consent": consent}))
            }
            AuthorizeOutcome::Redirect(url) => ok(json!({"redirect": url})),
            AuthorizeOutcome::Error(e) => refused(&e),
        })
    }

    /// The default consent page for a consent request (the `consent` object
    /// `authorize` returned), posting to `action`.
    #[napi(catch_unwind)]
    pub fn consent_page(&self, request_id: String, action: String) -> napi::Result<String> {
        match self.inner.consent_request(&request_id) {
            Ok(Some(c)) => Ok(render_consent_page(&c, &action)),
            Ok(None) => Err(errors::invalid_argument(
                "the authorization request is unknown or has expired",
            )),
            Err(e) => Err(errors::invalid_argument(e)),
        }
    }

    /// Answers a pending request (`request_id`, `csrf_form`, the request's
    /// `cookie_header`, `subject`, `approve`, `scopes` or null); `value` is
    /// the URL to redirect to.
    #[napi(catch_unwind)]
    pub fn consent(&self, answer_json: String) -> napi::Result<String> {
        let a = parse("the consent answer", &answer_json)?;
        let scopes: Option<Vec<String>> = match a.get("scopes") {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|_| {
                errors::invalid_argument("scopes must be an array of strings or null")
            })?),
        };
        let cookie = text(&a, "cookie_header").and_then(consent_cookie_from_header);
        let answer = ConsentAnswer {
            request_id: text(&a, "request_id").unwrap_or(""),
            csrf_form: text(&a, "csrf_form"),
            csrf_cookie: cookie.as_deref().or(text(&a, "csrf_cookie")),
            subject: text(&a, "subject")
                .ok_or_else(|| errors::invalid_argument("subject is required"))?,
            approve: a.get("approve").and_then(Value::as_bool).unwrap_or(false),
            scopes: scopes.as_deref(),
        };
        Ok(match self.inner.consent(&answer) {
            Ok(url) => ok(Value::from(url)),
            Err(e) => refused(&e),
        })
    }

    /// Answers a token request (`grant_type` and the grant's parameters,
    /// `client_id` / `client_secret` as authenticated).
    #[napi(catch_unwind)]
    pub fn token(&self, request_json: String) -> napi::Result<String> {
        let r = parse("the token request", &request_json)?;
        Ok(
            match self.inner.token(&TokenRequest {
                grant_type: text(&r, "grant_type"),
                code: text(&r, "code"),
                redirect_uri: text(&r, "redirect_uri"),
                code_verifier: text(&r, "code_verifier"),
                refresh_token: text(&r, "refresh_token"),
                scope: text(&r, "scope"),
                resource: text(&r, "resource"),
                client: ClientAuth::from_json(&r),
            }) {
                Ok(t) => ok(t.to_json()),
                Err(e) => refused(&e),
            },
        )
    }

    /// Revokes a token (RFC 7009).
    #[napi(catch_unwind)]
    pub fn revoke(&self, request_json: String) -> napi::Result<String> {
        let r = parse("the revocation request", &request_json)?;
        Ok(
            match self.inner.revoke(&RevocationRequest {
                token: text(&r, "token"),
                token_type_hint: text(&r, "token_type_hint"),
                client: ClientAuth::from_json(&r),
            }) {
                Ok(()) => ok(Value::Null),
                Err(e) => refused(&e),
            },
        )
    }

    /// Answers an HTTP request to one of the server's endpoints.
    /// `requestJson` is `{"method", "path", "query", "headers": [[name,
    /// value]…]}`; the answer is `{"status", "headers": [[name, value]…],
    /// "body"}`, or `null` when the path is none of the endpoints. `peer`
    /// keys the registration rate limit; `subject` is the signed-in user.
    #[napi(catch_unwind)]
    pub fn handle_http(
        &self,
        request_json: String,
        body: Buffer,
        peer: String,
        subject: Option<String>,
    ) -> napi::Result<Option<String>> {
        let r = parse("the HTTP request", &request_json)?;
        let mut pairs = Vec::new();
        for h in r
            .get("headers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match h.as_array().map(Vec::as_slice) {
                Some([Value::String(n), Value::String(v)]) => pairs.push((n.as_str(), v.as_str())),
                _ => {
                    return Err(errors::invalid_argument(
                        "headers must be [name, value] pairs of strings",
                    ));
                }
            }
        }
        let request = HttpRequest {
            method: text(&r, "method").unwrap_or("GET"),
            path: text(&r, "path").unwrap_or("/"),
            query: text(&r, "query").unwrap_or(""),
            headers: &pairs,
            body: &body,
        };
        Ok(self
            .inner
            .handle_http(&request, &peer, subject.as_deref())
            .map(|r| json!({"status": r.status, "headers": r.headers, "body": r.body}).to_string()))
    }
}
