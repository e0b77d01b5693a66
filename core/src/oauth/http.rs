//! The authorization server's endpoints at the HTTP level, so that every
//! host (Express, ASGI, tower, C) only moves bytes: each function takes the
//! method, headers, query and body bytes and returns status, headers and
//! body.
//!
//! Paths, under the issuer's path: `/.well-known/oauth-authorization-server`
//! (RFC 8414 §3), `/jwks.json`, `/register`, `/authorize`, `/token`,
//! `/revoke`. Parsing is done by crates: forms by `form_urlencoded`, media
//! types by `mime`, HTTP Basic by `base64` and `percent-encoding` (RFC 6749
//! §2.3.1), cookies by `cookie`.
//!
//! Rules applied here, before the engine:
//! - a parameter sent twice is refused, an empty one counts as absent
//!   (RFC 6749 §3.1);
//! - the token and revocation endpoints take POST with a form body,
//!   registration POST with JSON; other methods get 405 with `Allow`;
//! - a client authenticates with Basic or with `client_secret` in the body,
//!   never both (RFC 6749 §2.3); a failed Basic authentication gets 401 with
//!   a `Basic` challenge;
//! - answers that carry credentials are `Cache-Control: no-store`; the
//!   machine endpoints allow any origin (browser-based MCP clients), the
//!   consent page is framed by nobody.

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::Value;

use super::consent::{consent_cookie_from_header, cookie_value, render_consent_page};
use super::error::OAuthServerError;
use super::server::{
    AuthorizationServer, AuthorizeOutcome, AuthorizeParams, ClientAuth, ConsentAnswer,
    RegistrationRequest, RevocationRequest, TokenRequest,
};
use crate::guard::{Credentials, parse_authorization};

/// The well-known path of the metadata document (before the issuer's path).
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// Longest `Authorization` header value read (an initial access token or Basic credentials).
const MAX_AUTHORIZATION_BYTES: usize = 8192;

/// An HTTP request as the host received it.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// `GET`, `POST`, … (case-sensitive, as HTTP says).
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The raw query string, without `?` (empty when there is none).
    pub query: &'a str,
    /// The headers (names compared without case; a repeated header is
    /// listed once per value).
    pub headers: &'a [(&'a str, &'a str)],
    /// The raw body.
    pub body: &'a [u8],
}

impl<'a> HttpRequest<'a> {
    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    fn headers_named(&self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// What to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The body (JSON, HTML or text, as `Content-Type` says; may be empty).
    pub body: String,
}

impl HttpResponse {
    /// The first value of a header, compared without case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(status: u16, body: &Value) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![
                ("Content-Type", "application/json".into()),
                ("Cache-Control", "no-store".into()),
                ("Pragma", "no-cache".into()),
                ("Access-Control-Allow-Origin", "*".into()),
            ],
            body: body.to_string(),
        }
    }

    fn error(e: &OAuthServerError) -> HttpResponse {
        let mut r = HttpResponse::json(e.status(), &e.to_json());
        match e {
            OAuthServerError::RateLimited { retry_after } => {
                r.headers.push(("Retry-After", retry_after.to_string()));
            }
            OAuthServerError::InitialAccessTokenInvalid => {
                r.headers.push((
                    "WWW-Authenticate",
                    "Bearer error=\"invalid_token\"".to_string(),
                ));
            }
            _ => {}
        }
        r
    }

    /// A page for the user (the consent page, or an error a client must not
    /// be redirected with).
    fn page(status: u16, content_type: &str, body: String) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![
                ("Content-Type", content_type.to_string()),
                ("Cache-Control", "no-store".into()),
                ("X-Content-Type-Options", "nosniff".into()),
                ("X-Frame-Options", "DENY".into()),
                (
                    "Content-Security-Policy",
                    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'".into(),
                ),
                ("Referrer-Policy", "no-referrer".into()),
            ],
            body,
        }
    }

    fn user_error(e: &OAuthServerError) -> HttpResponse {
        HttpResponse::page(
            e.status(),
            "text/plain; charset=utf-8",
            format!("{}: {e}\n", e.code()),
        )
    }

    fn redirect(location: String) -> HttpResponse {
        HttpResponse {
            status: 302,
            headers: vec![("Location", location), ("Cache-Control", "no-store".into())],
            body: String::new(),
        }
    }

    fn method_not_allowed(allow: &str) -> HttpResponse {
        HttpResponse {
            status: 405,
            headers: vec![("Allow", allow.to_string())],
            body: String::new(),
        }
    }

    fn preflight(allow: &str) -> HttpResponse {
        HttpResponse {
            status: 204,
            headers: vec![
                ("Access-Control-Allow-Origin", "*".into()),
                ("Access-Control-Allow-Methods", allow.to_string()),
                (
                    "Access-Control-Allow-Headers",
                    "Authorization, Content-Type, MCP-Protocol-Version".into(),
                ),
                ("Access-Control-Max-Age", "86400".into()),
            ],
            body: String::new(),
        }
    }
}

/// Which endpoint a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// RFC 8414 metadata.
    Metadata,
    /// The JWK Set.
    Jwks,
    /// RFC 7591 registration.
    Register,
    /// The authorization endpoint (and the consent form's target).
    Authorize,
    /// The token endpoint.
    Token,
    /// RFC 7009 revocation.
    Revoke,
}

/// A decoded form body or query: pairs in order.
struct Form<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Form<'a> {
    fn parse(bytes: &'a [u8]) -> Form<'a> {
        Form(form_urlencoded::parse(bytes).collect())
    }

    /// The one value of `name`; empty counts as absent, two are an error.
    fn one(&self, name: &str) -> Result<Option<&str>, OAuthServerError> {
        let mut found = None;
        for (k, v) in &self.0 {
            if k == name && !v.is_empty() {
                if found.is_some() {
                    return Err(OAuthServerError::RepeatedParameter(name.to_string()));
                }
                found = Some(v.as_ref());
            }
        }
        Ok(found)
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.to_string())
            .collect()
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// Whether the request's `Content-Type` is `essence` (parameters ignored).
fn content_type_is(req: &HttpRequest<'_>, essence: &str) -> bool {
    req.header("Content-Type")
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.essence_str().eq_ignore_ascii_case(essence))
}

/// Client credentials from Basic and the form, and whether Basic was used.
struct ClientCredentials {
    client_id: Option<String>,
    client_secret: Option<String>,
    basic: bool,
}

impl ClientCredentials {
    fn as_auth(&self) -> ClientAuth<'_> {
        ClientAuth {
            client_id: self.client_id.as_deref(),
            client_secret: self.client_secret.as_deref(),
        }
    }
}

fn form_decode(part: &str) -> Option<String> {
    // application/x-www-form-urlencoded: `+` is a space, then percent-decoding.
    let spaced = part.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

fn client_credentials(
    req: &HttpRequest<'_>,
    form: &Form<'_>,
) -> Result<ClientCredentials, OAuthServerError> {
    let form_id = form.one("client_id")?.map(str::to_string);
    let form_secret = form.one("client_secret")?.map(str::to_string);
    let Some(header) = req.header("Authorization") else {
        return Ok(ClientCredentials {
            client_id: form_id,
            client_secret: form_secret,
            basic: false,
        });
    };
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("Basic") {
        return Err(OAuthServerError::MalformedRequest(
            "client authentication at this endpoint uses Basic or the form, not this scheme".into(),
        ));
    }
    if form_secret.is_some() {
        return Err(OAuthServerError::MalformedRequest(
            "use one client authentication method: Basic or client_secret, not both".into(),
        ));
    }
    let bad = || OAuthServerError::ClientAuthenticationFailed;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let id = form_decode(id).ok_or_else(bad)?;
    let secret = form_decode(secret).ok_or_else(bad)?;
    if form_id.as_deref().is_some_and(|f| f != id) {
        return Err(bad());
    }
    Ok(ClientCredentials {
        client_id: Some(id),
        client_secret: Some(secret),
        basic: true,
    })
}

/// The error response for a client-authenticated endpoint: a failed Basic
/// authentication gets 401 with a `Basic` challenge (RFC 6749 §5.2).
fn client_error(e: &OAuthServerError, basic: bool) -> HttpResponse {
    let mut r = HttpResponse::error(e);
    if basic && *e == OAuthServerError::ClientAuthenticationFailed {
        r.headers
            .push(("WWW-Authenticate", "Basic realm=\"oauth\"".into()));
    }
    r
}

impl AuthorizationServer {
    fn issuer_path(&self) -> String {
        url::Url::parse(self.issuer())
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default()
    }

    /// The path of an endpoint on this server.
    pub fn endpoint_path(&self, endpoint: Endpoint) -> String {
        let base = self.issuer_path();
        match endpoint {
            Endpoint::Metadata => format!("{METADATA_PATH}{base}"),
            Endpoint::Jwks => format!("{base}/jwks.json"),
            Endpoint::Register => format!("{base}/register"),
            Endpoint::Authorize => format!("{base}/authorize"),
            Endpoint::Token => format!("{base}/token"),
            Endpoint::Revoke => format!("{base}/revoke"),
        }
    }

    /// Which endpoint `path` is, if any.
    pub fn endpoint_for(&self, path: &str) -> Option<Endpoint> {
        [
            Endpoint::Metadata,
            Endpoint::Jwks,
            Endpoint::Register,
            Endpoint::Authorize,
            Endpoint::Token,
            Endpoint::Revoke,
        ]
        .into_iter()
        .find(|e| self.endpoint_path(*e) == path)
    }

    /// Answers a request to any endpoint of this server, or `None` when the
    /// path is none of them. `peer` keys the registration rate limit (the
    /// caller's address); `subject` is the signed-in user, if any (needed to
    /// answer the consent form).
    pub fn handle_http(
        &self,
        req: &HttpRequest<'_>,
        peer: &str,
        subject: Option<&str>,
    ) -> Option<HttpResponse> {
        Some(match self.endpoint_for(req.path)? {
            Endpoint::Metadata => self.http_metadata(req),
            Endpoint::Jwks => self.http_jwks(req),
            Endpoint::Register => self.http_register(req, peer),
            Endpoint::Authorize => self.http_authorize(req, subject),
            Endpoint::Token => self.http_token(req),
            Endpoint::Revoke => self.http_revoke(req),
        })
    }

    /// `GET /.well-known/oauth-authorization-server`.
    pub fn http_metadata(&self, req: &HttpRequest<'_>) -> HttpResponse {
        match req.method {
            "GET" | "HEAD" => public_json(&self.metadata()),
            "OPTIONS" => HttpResponse::preflight("GET, HEAD, OPTIONS"),
            _ => HttpResponse::method_not_allowed("GET, HEAD, OPTIONS"),
        }
    }

    /// `GET /jwks.json`.
    pub fn http_jwks(&self, req: &HttpRequest<'_>) -> HttpResponse {
        match req.method {
            "GET" | "HEAD" => public_json(&self.jwks()),
            "OPTIONS" => HttpResponse::preflight("GET, HEAD, OPTIONS"),
            _ => HttpResponse::method_not_allowed("GET, HEAD, OPTIONS"),
        }
    }

    /// `POST /register` with a JSON body (RFC 7591): 201 and the client's
    /// information, secret included for a confidential client.
    pub fn http_register(&self, req: &HttpRequest<'_>, peer: &str) -> HttpResponse {
        match req.method {
            "POST" => {}
            "OPTIONS" => return HttpResponse::preflight("POST, OPTIONS"),
            _ => return HttpResponse::method_not_allowed("POST, OPTIONS"),
        }
        if !content_type_is(req, "application/json") {
            return HttpResponse::error(&OAuthServerError::InvalidClientMetadata(
                "the registration request must be application/json".into(),
            ));
        }
        let metadata: Value = match serde_json::from_slice(req.body) {
            Ok(v) => v,
            Err(e) => {
                return HttpResponse::error(&OAuthServerError::InvalidClientMetadata(format!(
                    "the body is not JSON: {e}"
                )));
            }
        };
        let token = match parse_authorization(req.header("Authorization"), MAX_AUTHORIZATION_BYTES)
        {
            Ok(Credentials::Bearer(t)) => Some(t),
            Ok(Credentials::None) => None,
            Err(_) => return HttpResponse::error(&OAuthServerError::InitialAccessTokenInvalid),
        };
        match self.register(&RegistrationRequest {
            metadata: &metadata,
            initial_access_token: token,
            rate_key: peer,
        }) {
            Ok(client) => HttpResponse::json(201, &client.response),
            Err(e) => HttpResponse::error(&e),
        }
    }

    /// The authorization endpoint. `GET` (or a `POST` of the same
    /// parameters) checks the request and answers with the consent page
    /// (setting the CSRF cookie), an error redirect, or an error page. A
    /// `POST` from the consent page (it carries `request_id`) answers the
    /// pending request for the signed-in `subject` and redirects back to
    /// the client.
    pub fn http_authorize(&self, req: &HttpRequest<'_>, subject: Option<&str>) -> HttpResponse {
        let form = match req.method {
            "GET" | "HEAD" => Form::parse(req.query.as_bytes()),
            "POST" if content_type_is(req, "application/x-www-form-urlencoded") => {
                Form::parse(req.body)
            }
            "POST" => {
                return HttpResponse::user_error(&OAuthServerError::MalformedRequest(
                    "the form must be application/x-www-form-urlencoded".into(),
                ));
            }
            _ => return HttpResponse::method_not_allowed("GET, HEAD, POST"),
        };
        if req.method == "POST" && form.has("request_id") {
            return self.consent_form(req, &form, subject);
        }
        let params = (|| {
            Ok::<_, OAuthServerError>(AuthorizeParams {
                response_type: form.one("response_type")?,
                client_id: form.one("client_id")?,
                redirect_uri: form.one("redirect_uri")?,
                state: form.one("state")?,
                scope: form.one("scope")?,
                code_challenge: form.one("code_challenge")?,
                code_challenge_method: form.one("code_challenge_method")?,
                resource: form.one("resource")?,
            })
        })();
        let params = match params {
            Ok(p) => p,
            Err(e) => return HttpResponse::user_error(&e),
        };
        match self.authorize(&params) {
            AuthorizeOutcome::Consent(c) => {
                let action = self.endpoint("authorize");
                let mut page = HttpResponse::page(
                    200,
                    "text/html; charset=utf-8",
                    render_consent_page(&c, &action),
                );
                let max_age = c.expires_at - self.now();
                page.headers.push((
                    "Set-Cookie",
                    cookie_value(&c.csrf_token, self.issuer().starts_with("https:"), max_age),
                ));
                page
            }
            AuthorizeOutcome::Redirect(location) => HttpResponse::redirect(location),
            AuthorizeOutcome::Error(e) => HttpResponse::user_error(&e),
        }
    }

    fn consent_form(
        &self,
        req: &HttpRequest<'_>,
        form: &Form<'_>,
        subject: Option<&str>,
    ) -> HttpResponse {
        let Some(subject) = subject else {
            return HttpResponse::page(
                401,
                "text/plain; charset=utf-8",
                "login_required: sign in before answering the consent page\n".into(),
            );
        };
        let fields = (|| {
            Ok::<_, OAuthServerError>((
                form.one("request_id")?
                    .ok_or(OAuthServerError::UnknownAuthorizationRequest)?,
                form.one("csrf_token")?,
                form.one("decision")?,
            ))
        })();
        let (request_id, csrf_form, decision) = match fields {
            Ok(f) => f,
            Err(e) => return HttpResponse::user_error(&e),
        };
        let approve = match decision {
            Some("approve") => true,
            Some("deny") => false,
            _ => {
                return HttpResponse::user_error(&OAuthServerError::MalformedRequest(
                    "decision must be approve or deny".into(),
                ));
            }
        };
        let cookie = req
            .headers_named("Cookie")
            .find_map(consent_cookie_from_header);
        // The default page marks that its checkboxes are the user's choice;
        // a page without them grants what was asked.
        let kept = form.all("scope");
        let scopes = form.has("scope_choice").then_some(kept.as_slice());
        let answer = ConsentAnswer {
            request_id,
            csrf_form,
            csrf_cookie: cookie.as_deref(),
            subject,
            approve,
            scopes,
        };
        match self.consent(&answer) {
            Ok(location) => {
                let mut r = HttpResponse::redirect(location);
                r.headers.push((
                    "Set-Cookie",
                    cookie_value("", self.issuer().starts_with("https:"), 0),
                ));
                r
            }
            Err(e) => HttpResponse::user_error(&e),
        }
    }

    /// `POST /token` with a form body.
    pub fn http_token(&self, req: &HttpRequest<'_>) -> HttpResponse {
        let form = match self.machine_form(req) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let creds = match client_credentials(req, &form) {
            Ok(c) => c,
            Err(e) => return client_error(&e, false),
        };
        let request = (|| {
            Ok::<_, OAuthServerError>(TokenRequest {
                grant_type: form.one("grant_type")?,
                code: form.one("code")?,
                redirect_uri: form.one("redirect_uri")?,
                code_verifier: form.one("code_verifier")?,
                refresh_token: form.one("refresh_token")?,
                scope: form.one("scope")?,
                resource: form.one("resource")?,
                client: creds.as_auth(),
            })
        })();
        match request.and_then(|r| self.token(&r)) {
            Ok(t) => HttpResponse::json(200, &t.to_json()),
            Err(e) => client_error(&e, creds.basic),
        }
    }

    /// `POST /revoke` with a form body (RFC 7009): 200 with an empty body
    /// whether or not the token was known.
    pub fn http_revoke(&self, req: &HttpRequest<'_>) -> HttpResponse {
        let form = match self.machine_form(req) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let creds = match client_credentials(req, &form) {
            Ok(c) => c,
            Err(e) => return client_error(&e, false),
        };
        let request = (|| {
            Ok::<_, OAuthServerError>(RevocationRequest {
                token: form.one("token")?,
                token_type_hint: form.one("token_type_hint")?,
                client: creds.as_auth(),
            })
        })();
        match request.and_then(|r| self.revoke(&r)) {
            Ok(()) => HttpResponse {
                status: 200,
                headers: vec![
                    ("Cache-Control", "no-store".into()),
                    ("Access-Control-Allow-Origin", "*".into()),
                ],
                body: String::new(),
            },
            Err(e) => client_error(&e, creds.basic),
        }
    }

    /// The form of a POST to the token or revocation endpoint, or the
    /// response refusing the request.
    fn machine_form<'r>(&self, req: &HttpRequest<'r>) -> Result<Form<'r>, HttpResponse> {
        match req.method {
            "POST" => {}
            "OPTIONS" => return Err(HttpResponse::preflight("POST, OPTIONS")),
            _ => return Err(HttpResponse::method_not_allowed("POST, OPTIONS")),
        }
        if !content_type_is(req, "application/x-www-form-urlencoded") {
            return Err(HttpResponse::error(&OAuthServerError::MalformedRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            )));
        }
        Ok(Form::parse(req.body))
    }
}

fn public_json(doc: &Value) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![
            ("Content-Type", "application/json".into()),
            ("Cache-Control", "public, max-age=300".into()),
            ("Access-Control-Allow-Origin", "*".into()),
        ],
        body: doc.to_string(),
    }
}
