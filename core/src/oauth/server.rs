//! The engine: registration, authorization with consent, the token grants
//! and revocation, over a [`Guard`] and an [`OAuthStore`].

use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::{Value, json};

use super::config::Settings;
use super::error::OAuthServerError;
use super::keys::{KeyRing, SigningKey, SigningKeyError};
use super::redirect;
use super::secrets::{
    CsrfKey, credential_hash, credential_matches, is_pkce_value, pkce_s256_matches, random_b64,
    random_credential,
};
use super::store::{
    AuthorizationCode, ClientRecord, CodeRedemption, IssuedAccess, OAuthStore,
    PendingAuthorization, RefreshFamily, RefreshToken, Rotation,
};
use crate::access::{scopes_to_tags, validate_scopes};
use crate::clock::{Clock, NANOS_PER_SEC};
use crate::guard::{AuditEvent, AuditKind, Guard};
use crate::ratelimit::Limiter;
use crate::token::jws::verify_compact;
use crate::token::{Principal, TokenKind};

/// The grant type names.
const AUTHORIZATION_CODE: &str = "authorization_code";
const REFRESH_TOKEN: &str = "refresh_token";
const CLIENT_CREDENTIALS: &str = "client_credentials";

/// An embeddable OAuth 2.1 authorization server issuing `tag:` scopes for
/// the resource a [`Guard`] protects.
///
/// Sans-I/O: every method takes a parsed request and returns what to answer
/// (the [`http`](super::http) module turns HTTP requests into these calls).
/// Cheap to clone and `Send + Sync`.
#[derive(Clone)]
pub struct AuthorizationServer {
    inner: Arc<Inner>,
}

struct Inner {
    guard: Guard,
    settings: Arc<Settings>,
    keys: RwLock<Arc<KeyRing>>,
    store: Arc<dyn OAuthStore>,
    clock: Arc<dyn Clock>,
    csrf: CsrfKey,
    register_limit: Limiter,
    token_limit: Limiter,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.inner.settings.issuer)
            .finish_non_exhaustive()
    }
}

/// The server could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The Guard's configuration has no `authorization_server` section.
    #[error("the Guard's configuration has no authorization_server section")]
    NotConfigured,
    /// The store failed while revocations were replayed into the Guard.
    #[error("replaying stored revocations failed: {0}")]
    Replay(String),
}

/// A registration request (RFC 7591 §3.1).
#[derive(Debug, Clone, Copy)]
pub struct RegistrationRequest<'a> {
    /// The client metadata document.
    pub metadata: &'a Value,
    /// The bearer token of the `Authorization` header, if any (the initial
    /// access token when registration is gated).
    pub initial_access_token: Option<&'a str>,
    /// Who is calling, for the rate limit (e.g. the peer address).
    pub rate_key: &'a str,
}

/// A registered client and the registration response.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredClient {
    /// The stored record (secret hashed).
    pub client: ClientRecord,
    /// The client secret, shown this once; `None` for a public client.
    pub client_secret: Option<String>,
    /// The RFC 7591 §3.2.1 response body (secret included).
    pub response: Value,
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636,
/// RFC 8707), as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthorizeParams<'a> {
    /// `response_type`.
    pub response_type: Option<&'a str>,
    /// `client_id`.
    pub client_id: Option<&'a str>,
    /// `redirect_uri`.
    pub redirect_uri: Option<&'a str>,
    /// `state`.
    pub state: Option<&'a str>,
    /// `scope` (space-separated).
    pub scope: Option<&'a str>,
    /// `code_challenge`.
    pub code_challenge: Option<&'a str>,
    /// `code_challenge_method`.
    pub code_challenge_method: Option<&'a str>,
    /// `resource`.
    pub resource: Option<&'a str>,
}

/// What an authorization request leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizeOutcome {
    /// The request is valid: ask the user (see [`ConsentRequest`]).
    Consent(ConsentRequest),
    /// The request is refused and the client can be told: redirect the
    /// user agent here (the URI carries `error`, `state` and `iss`).
    Redirect(String),
    /// The client or redirect URI cannot be trusted: show this error to the
    /// user and do not redirect (RFC 6749 §4.1.2.1).
    Error(OAuthServerError),
}

/// What the user is asked to consent to. The host shows it (or uses
/// [`render_consent_page`](super::render_consent_page)), then calls
/// [`AuthorizationServer::consent`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentRequest {
    /// The pending request's id (for the consent form).
    pub request_id: String,
    /// The CSRF token for the form, and for the cookie the host sets.
    pub csrf_token: String,
    /// The client asking.
    pub client_id: String,
    /// The client's display name, when it registered one.
    pub client_name: Option<String>,
    /// The redirect URI the answer will go to.
    pub redirect_uri: String,
    /// The resource the token will be for.
    pub resource: String,
    /// The `tag:` scopes asked for.
    pub scopes: Vec<String>,
    /// The tags those scopes grant.
    pub tags: Vec<String>,
    /// When the request can no longer be answered.
    pub expires_at: i64,
}

impl ConsentRequest {
    /// The request as a JSON object with the fields' names (what a binding
    /// hands to a host's own consent page).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "request_id": self.request_id, "csrf_token": self.csrf_token,
            "client_id": self.client_id, "client_name": self.client_name,
            "redirect_uri": self.redirect_uri, "resource": self.resource,
            "scopes": self.scopes, "tags": self.tags, "expires_at": self.expires_at,
        })
    }
}

/// The user's answer to a consent request.
#[derive(Debug, Clone, Copy)]
pub struct ConsentAnswer<'a> {
    /// The request id from the form.
    pub request_id: &'a str,
    /// The CSRF token from the form.
    pub csrf_form: Option<&'a str>,
    /// The CSRF token from the cookie the consent page set.
    pub csrf_cookie: Option<&'a str>,
    /// The authenticated user (the host's session).
    pub subject: &'a str,
    /// Whether the user approved.
    pub approve: bool,
    /// The scopes the user kept (`Some(&[])`: none); `None`: all asked for.
    /// Only a subset of what was asked is accepted.
    pub scopes: Option<&'a [String]>,
}

/// How the client authenticated at the token or revocation endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientAuth<'a> {
    /// The client id (from Basic auth or the form).
    pub client_id: Option<&'a str>,
    /// The client secret (from Basic auth or the form).
    pub client_secret: Option<&'a str>,
}

impl<'a> ClientAuth<'a> {
    /// The `client_id` and `client_secret` string members of a JSON object
    /// (a binding's request object); a member of another type counts as
    /// absent.
    pub fn from_json(v: &'a Value) -> ClientAuth<'a> {
        ClientAuth {
            client_id: v.get("client_id").and_then(Value::as_str),
            client_secret: v.get("client_secret").and_then(Value::as_str),
        }
    }
}

/// A token request (RFC 6749 §4.1.3, §4.4.2, §6), as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenRequest<'a> {
    /// `grant_type`.
    pub grant_type: Option<&'a str>,
    /// `code`.
    pub code: Option<&'a str>,
    /// `redirect_uri`.
    pub redirect_uri: Option<&'a str>,
    /// `code_verifier`.
    pub code_verifier: Option<&'a str>,
    /// `refresh_token`.
    pub refresh_token: Option<&'a str>,
    /// `scope`.
    pub scope: Option<&'a str>,
    /// `resource`.
    pub resource: Option<&'a str>,
    /// The client's authentication.
    pub client: ClientAuth<'a>,
}

/// An authorization-code exchange whose PKCE verifier the caller checked,
/// for frameworks that check PKCE themselves and never hand the verifier on
/// (the Python MCP SDK's token route). Everything else is the engine's, as
/// in [`AuthorizationServer::token`]: the client, the code (single-use, a
/// second use revokes what the first produced), its expiry, the redirect
/// URI, the resource, and that the challenge checked is the code's own.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedCodeExchange<'a> {
    /// `code`.
    pub code: &'a str,
    /// `redirect_uri` of the token request.
    pub redirect_uri: &'a str,
    /// The PKCE `S256` challenge the caller checked the request's
    /// `code_verifier` against (it must be the one bound into the code).
    pub verified_challenge: &'a str,
    /// `resource`.
    pub resource: Option<&'a str>,
    /// The client's authentication.
    pub client: ClientAuth<'a>,
}

/// How the PKCE proof of a code exchange arrives.
#[derive(Debug, Clone, Copy)]
enum PkceProof<'a> {
    /// The request's `code_verifier`, checked here.
    Verifier(&'a str),
    /// The challenge the caller checked the verifier against.
    Verified(&'a str),
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenResponse {
    /// The access token (a JWT, RFC 9068).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The refresh token, if the grant gives one.
    pub refresh_token: Option<String>,
    /// The scopes the access token carries, space-separated.
    pub scope: String,
    /// The access token's `jti`.
    pub jti: String,
}

impl TokenResponse {
    /// The JSON response body.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        });
        if let Some(r) = &self.refresh_token {
            v["refresh_token"] = Value::from(r.as_str());
        }
        v
    }
}

/// A revocation request (RFC 7009 §2.1).
#[derive(Debug, Clone, Copy, Default)]
pub struct RevocationRequest<'a> {
    /// `token`.
    pub token: Option<&'a str>,
    /// `token_type_hint` (only a hint: both kinds are searched).
    pub token_type_hint: Option<&'a str>,
    /// The client's authentication.
    pub client: ClientAuth<'a>,
}

impl AuthorizationServer {
    /// The authorization server of `guard`'s `authorization_server`
    /// section, keeping its state in `store`. Revocations the store holds
    /// (from before a restart) are replayed into the Guard.
    pub fn new(guard: &Guard, store: Arc<dyn OAuthStore>) -> Result<Self, SetupError> {
        let settings = guard
            .authorization_server_settings()
            .cloned()
            .ok_or(SetupError::NotConfigured)?;
        let clock = guard.token_validator().clock().clone();
        let (ra, rq) = settings.register_limit;
        let (ta, tq) = settings.token_limit;
        let register_limit = Limiter::new(ra, rq, settings.max_keys, clock.clone())
            .map_err(|e| SetupError::Replay(e.to_string()))?;
        let token_limit = Limiter::new(ta, tq, settings.max_keys, clock.clone())
            .map_err(|e| SetupError::Replay(e.to_string()))?;
        let keys = settings.keys.clone();
        let server = AuthorizationServer {
            inner: Arc::new(Inner {
                guard: guard.clone(),
                keys: RwLock::new(keys),
                settings,
                store,
                clock,
                csrf: CsrfKey::generate(),
                register_limit,
                token_limit,
            }),
        };
        let cutoff = server.guard_cutoff(server.now());
        let revoked = server
            .inner
            .store
            .revoked_access(cutoff)
            .map_err(|e| SetupError::Replay(e.to_string()))?;
        server
            .feed_guard(&revoked)
            .map_err(|e| SetupError::Replay(e.to_string()))?;
        Ok(server)
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.inner.settings.issuer
    }

    /// The Guard this server issues tokens for.
    pub fn guard(&self) -> &Guard {
        &self.inner.guard
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn OAuthStore> {
        &self.inner.store
    }

    /// `<issuer>/<path>`: where an endpoint lives.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/{path}", self.issuer().trim_end_matches('/'))
    }

    /// The RFC 8414 authorization-server metadata document.
    pub fn metadata(&self) -> Value {
        let s = &self.inner.settings;
        let mut grants = vec![AUTHORIZATION_CODE, REFRESH_TOKEN];
        if s.client_credentials {
            grants.push(CLIENT_CREDENTIALS);
        }
        let auth_methods = ["none", "client_secret_basic", "client_secret_post"];
        let mut doc = json!({
            "issuer": s.issuer,
            "authorization_endpoint": self.endpoint("authorize"),
            "token_endpoint": self.endpoint("token"),
            "revocation_endpoint": self.endpoint("revoke"),
            "jwks_uri": self.endpoint("jwks.json"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": grants,
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "scopes_supported": crate::access::tags_to_scopes(&self.available_tags(None)),
            "authorization_response_iss_parameter_supported": true,
        });
        if s.registration_enabled {
            doc["registration_endpoint"] = Value::from(self.endpoint("register"));
        }
        doc
    }

    /// The public JWK Set of the signing keys.
    pub fn jwks(&self) -> Value {
        self.inner.keys.read().jwks().clone()
    }

    /// Replaces the signing keys at run time: `new_key` signs from now on,
    /// the keys in use until now stay published and trusted (overlap) until
    /// the next rotation. The Guard gets the new JWK Set at once.
    pub fn rotate_signing_key(&self, new_key: SigningKey) -> Result<(), SigningKeyError> {
        let mut keys = self.inner.keys.write();
        let ring = keys.rotated(new_key)?;
        self.inner
            .guard
            .set_jwks(self.issuer(), &ring.jwks().to_string())
            .map_err(|_| SigningKeyError::NotP256)?;
        *keys = Arc::new(ring);
        Ok(())
    }

    // ----- registration -----

    /// Registers a client (RFC 7591). The metadata members read:
    /// `redirect_uris`, `token_endpoint_auth_method` (`none` — the default,
    /// a public client — or `client_secret_basic` / `client_secret_post`),
    /// `grant_types` (default `authorization_code` and `refresh_token`),
    /// `response_types` (only `code`), `client_name`, `scope` (the most the
    /// client may ever get, checked with 1MCP's scope rules). Others are
    /// kept and echoed.
    pub fn register(
        &self,
        request: &RegistrationRequest<'_>,
    ) -> Result<RegisteredClient, OAuthServerError> {
        let s = &self.inner.settings;
        if !s.registration_enabled {
            return Err(OAuthServerError::RegistrationClosed);
        }
        if !s.initial_access_tokens.is_empty() {
            let ok = request.initial_access_token.is_some_and(|t| {
                s.initial_access_tokens
                    .iter()
                    .fold(false, |found, h| credential_matches(t, h) | found)
            });
            if !ok {
                return Err(OAuthServerError::InitialAccessTokenInvalid);
            }
        }
        Self::limit(&self.inner.register_limit, request.rate_key)?;
        let meta = request.metadata.as_object().ok_or_else(|| {
            OAuthServerError::InvalidClientMetadata(
                "the client metadata must be a JSON object".into(),
            )
        })?;
        let strings = |name: &str| -> Result<Option<Vec<String>>, OAuthServerError> {
            match meta.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            OAuthServerError::InvalidClientMetadata(format!(
                                "{name} must be an array of strings"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(_) => Err(OAuthServerError::InvalidClientMetadata(format!(
                    "{name} must be an array of strings"
                ))),
            }
        };
        let string = |name: &str| -> Result<Option<String>, OAuthServerError> {
            match meta.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(OAuthServerError::InvalidClientMetadata(format!(
                    "{name} must be a string"
                ))),
            }
        };
        let auth_method = string("token_endpoint_auth_method")?.unwrap_or_else(|| "none".into());
        if !matches!(
            auth_method.as_str(),
            "none" | "client_secret_basic" | "client_secret_post"
        ) {
            return Err(OAuthServerError::InvalidClientMetadata(format!(
                "token_endpoint_auth_method {auth_method:?} is not supported; use none, client_secret_basic or client_secret_post"
            )));
        }
        let confidential = auth_method != "none";
        let grant_types = strings("grant_types")?
            .unwrap_or_else(|| vec![AUTHORIZATION_CODE.into(), REFRESH_TOKEN.into()]);
        for g in &grant_types {
            let allowed = match g.as_str() {
                AUTHORIZATION_CODE | REFRESH_TOKEN => true,
                CLIENT_CREDENTIALS => s.client_credentials && confidential,
                _ => false,
            };
            if !allowed {
                return Err(OAuthServerError::InvalidClientMetadata(format!(
                    "grant type {g:?} is not available to this client"
                )));
            }
        }
        if let Some(rt) = strings("response_types")?
            && rt.iter().any(|r| r != "code")
        {
            return Err(OAuthServerError::InvalidClientMetadata(
                "only the response type code is supported".into(),
            ));
        }
        let redirect_uris = strings("redirect_uris")?.unwrap_or_default();
        if grant_types.iter().any(|g| g == AUTHORIZATION_CODE) && redirect_uris.is_empty() {
            return Err(OAuthServerError::InvalidRedirectUri(
                "redirect_uris must list at least one URI for the authorization code grant".into(),
            ));
        }
        for uri in &redirect_uris {
            redirect::check_registrable(uri).map_err(OAuthServerError::InvalidRedirectUri)?;
        }
        let scopes = match string("scope")? {
            None => Vec::new(),
            Some(scope) => validate_scopes(&split_scope(&scope), &self.available_tags(None))
                .map_err(OAuthServerError::InvalidScope)?,
        };
        let client_name = string("client_name")?;
        let now = self.now();
        let client_id = random_b64(16);
        let secret = confidential.then(random_credential);
        let mut response = request.metadata.clone();
        let obj = response.as_object_mut().expect("checked above");
        obj.remove("client_secret");
        obj.insert("client_id".into(), Value::from(client_id.as_str()));
        obj.insert("client_id_issued_at".into(), Value::from(now));
        obj.insert(
            "token_endpoint_auth_method".into(),
            Value::from(auth_method.as_str()),
        );
        obj.insert("grant_types".into(), json!(grant_types));
        obj.insert("response_types".into(), json!(["code"]));
        obj.insert("redirect_uris".into(), json!(redirect_uris));
        if !scopes.is_empty() {
            obj.insert("scope".into(), Value::from(scopes.join(" ")));
        }
        let client = ClientRecord {
            client_id: client_id.clone(),
            secret_hash: secret.as_deref().map(credential_hash),
            redirect_uris,
            grant_types,
            token_endpoint_auth_method: auth_method,
            client_name,
            scopes,
            issued_at: now,
            metadata: response.clone(),
        };
        self.inner.store.insert_client(&client)?;
        if let Some(secret) = &secret {
            response["client_secret"] = Value::from(secret.as_str());
            // The secret never expires (RFC 7591 §3.2.1: 0).
            response["client_secret_expires_at"] = Value::from(0);
        }
        self.audit(
            AuditKind::ClientRegistered,
            &client_id,
            None,
            &client.scopes,
        );
        Ok(RegisteredClient {
            client,
            client_secret: secret,
            response,
        })
    }

    // ----- authorization -----

    /// Checks an authorization request. The client and redirect URI are
    /// checked first (a failure there is never redirected), then, with
    /// errors redirected to the client: `response_type=code`, PKCE `S256`
    /// (a `plain` method is refused), the scopes (1MCP's rules; none asked
    /// for means every tag the client may have) and the resource. A valid
    /// request is kept pending and needs the user's consent.
    pub fn authorize(&self, params: &AuthorizeParams<'_>) -> AuthorizeOutcome {
        let client = match params.client_id {
            None => {
                return AuthorizeOutcome::Error(OAuthServerError::MissingParameter("client_id"));
            }
            Some(id) => match self.inner.store.client(id) {
                Ok(Some(c)) => c,
                Ok(None) => return AuthorizeOutcome::Error(OAuthServerError::UnknownClient),
                Err(e) => return AuthorizeOutcome::Error(e.into()),
            },
        };
        let redirect_uri = match params.redirect_uri {
            Some(uri)
                if client
                    .redirect_uris
                    .iter()
                    .any(|r| redirect::matches(r, uri)) =>
            {
                uri
            }
            Some(_) => return AuthorizeOutcome::Error(OAuthServerError::RedirectUriMismatch),
            // Always required (MCP clients send it), so that the token
            // request can be held to the same URI.
            None => {
                return AuthorizeOutcome::Error(OAuthServerError::MissingParameter("redirect_uri"));
            }
        };
        let refuse = |e: OAuthServerError| self.error_redirect(redirect_uri, params.state, &e);
        match params.response_type {
            None => return refuse(OAuthServerError::MissingParameter("response_type")),
            Some("code") => {}
            Some(_) => return refuse(OAuthServerError::UnsupportedResponseType),
        }
        if !client.grant_types.iter().any(|g| g == AUTHORIZATION_CODE) {
            return refuse(OAuthServerError::UnauthorizedClient(
                AUTHORIZATION_CODE.into(),
            ));
        }
        let challenge = match params.code_challenge {
            None => return refuse(OAuthServerError::PkceRequired),
            Some(c) => c,
        };
        match params.code_challenge_method {
            Some("S256") => {}
            // RFC 7636 makes plain the default; OAuth 2.1 servers refuse it.
            None => return refuse(OAuthServerError::PkceMethodRefused("plain".into())),
            Some(m) => return refuse(OAuthServerError::PkceMethodRefused(m.into())),
        }
        if challenge.len() != 43 || !is_pkce_value(challenge) {
            return refuse(OAuthServerError::InvalidCodeChallenge);
        }
        let scopes = match self.requested_scopes(&client, params.scope) {
            Ok(s) => s,
            Err(e) => return refuse(e),
        };
        let resource = match self.resource(params.resource) {
            Ok(r) => r,
            Err(e) => return refuse(e),
        };
        let request_id = random_credential();
        let expires_at = self.now() + self.inner.settings.consent_seconds;
        let pending = PendingAuthorization {
            id_hash: credential_hash(&request_id),
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_string(),
            state: params.state.map(str::to_string),
            code_challenge: challenge.to_string(),
            resource: resource.clone(),
            scopes: scopes.clone(),
            expires_at,
        };
        if let Err(e) = self.inner.store.insert_pending(&pending) {
            return refuse(e.into());
        }
        AuthorizeOutcome::Consent(ConsentRequest {
            csrf_token: self.inner.csrf.token(&request_id),
            request_id,
            client_id: client.client_id,
            client_name: client.client_name,
            redirect_uri: redirect_uri.to_string(),
            resource,
            tags: scopes_to_tags(&scopes),
            scopes,
            expires_at,
        })
    }

    /// The consent request a pending request id stands for (to render the
    /// page again), or `None` when it is unknown or expired.
    pub fn consent_request(
        &self,
        request_id: &str,
    ) -> Result<Option<ConsentRequest>, OAuthServerError> {
        let Some(p) = self.inner.store.pending(&credential_hash(request_id))? else {
            return Ok(None);
        };
        if p.expires_at < self.now() {
            return Ok(None);
        }
        let client = self.inner.store.client(&p.client_id)?;
        Ok(Some(ConsentRequest {
            request_id: request_id.to_string(),
            csrf_token: self.inner.csrf.token(request_id),
            client_id: p.client_id,
            client_name: client.and_then(|c| c.client_name),
            redirect_uri: p.redirect_uri,
            resource: p.resource,
            tags: scopes_to_tags(&p.scopes),
            scopes: p.scopes,
            expires_at: p.expires_at,
        }))
    }

    /// Answers a pending request with the user's decision. The CSRF token
    /// must be in both the form and the cookie, and be the one of this
    /// request. Returns where to redirect the user agent: with a code
    /// (single-use, short-lived), `state` and `iss`; or with `access_denied`.
    /// The user may narrow the scopes, never widen them.
    pub fn consent(&self, answer: &ConsentAnswer<'_>) -> Result<String, OAuthServerError> {
        let csrf = &self.inner.csrf;
        let (Some(form), Some(cookie)) = (answer.csrf_form, answer.csrf_cookie) else {
            return Err(OAuthServerError::CsrfMismatch);
        };
        if !csrf.verify(answer.request_id, form) || !csrf.verify(answer.request_id, cookie) {
            return Err(OAuthServerError::CsrfMismatch);
        }
        let pending = self
            .inner
            .store
            .take_pending(&credential_hash(answer.request_id))?
            .filter(|p| p.expires_at >= self.now())
            .ok_or(OAuthServerError::UnknownAuthorizationRequest)?;
        let state = pending.state.as_deref();
        if !answer.approve {
            return Ok(self.redirect_url(
                &pending.redirect_uri,
                state,
                &[("error", "access_denied")],
            ));
        }
        let scopes = match answer.scopes {
            None => pending.scopes.clone(),
            // The user unticked every tag: a token granting none.
            Some([]) => Vec::new(),
            Some(kept) => validate_scopes(kept, &scopes_to_tags(&pending.scopes))
                .map_err(|e| OAuthServerError::ScopeEscalation(e.join("; ")))?,
        };
        let code = random_credential();
        let record = AuthorizationCode {
            code_hash: credential_hash(&code),
            client_id: pending.client_id.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            code_challenge: pending.code_challenge.clone(),
            resource: pending.resource.clone(),
            scopes,
            subject: answer.subject.to_string(),
            expires_at: self.now() + self.inner.settings.code_seconds,
            family_id: random_b64(16),
        };
        self.inner.store.insert_code(&record)?;
        self.audit(
            AuditKind::ConsentGranted,
            &record.client_id,
            Some(answer.subject),
            &record.scopes,
        );
        Ok(self.redirect_url(&pending.redirect_uri, state, &[("code", &code)]))
    }

    // ----- token endpoint -----

    /// Answers a token request: the authorization code, refresh token and
    /// client credentials grants.
    pub fn token(&self, request: &TokenRequest<'_>) -> Result<TokenResponse, OAuthServerError> {
        let grant = request
            .grant_type
            .ok_or(OAuthServerError::MissingParameter("grant_type"))?;
        Self::limit(
            &self.inner.token_limit,
            request.client.client_id.unwrap_or("anonymous"),
        )?;
        match grant {
            AUTHORIZATION_CODE => self.exchange_code(request),
            REFRESH_TOKEN => self.refresh(request),
            CLIENT_CREDENTIALS if self.inner.settings.client_credentials => {
                self.client_credentials(request)
            }
            other => Err(OAuthServerError::UnsupportedGrantType(other.to_string())),
        }
    }

    /// The authorization code `code` as stored, spent or not, left in
    /// place: what an adapter whose framework checks PKCE itself shows it
    /// before [`AuthorizationServer::exchange_verified_code`] (a spent code
    /// is returned so that its reuse reaches the exchange and revokes what
    /// the first use produced).
    pub fn authorization_code(
        &self,
        code: &str,
    ) -> Result<Option<AuthorizationCode>, OAuthServerError> {
        Ok(self.inner.store.code(&credential_hash(code))?)
    }

    /// Exchanges an authorization code whose PKCE verifier the caller has
    /// checked against `verified_challenge` (see [`VerifiedCodeExchange`]).
    /// Rate-limited and decided like the `authorization_code` grant of
    /// [`AuthorizationServer::token`], the verifier check aside.
    pub fn exchange_verified_code(
        &self,
        request: &VerifiedCodeExchange<'_>,
    ) -> Result<TokenResponse, OAuthServerError> {
        Self::limit(
            &self.inner.token_limit,
            request.client.client_id.unwrap_or("anonymous"),
        )?;
        self.redeem(
            &request.client,
            request.code,
            request.redirect_uri,
            PkceProof::Verified(request.verified_challenge),
            request.resource,
        )
    }

    fn exchange_code(&self, request: &TokenRequest<'_>) -> Result<TokenResponse, OAuthServerError> {
        let code = request
            .code
            .ok_or(OAuthServerError::MissingParameter("code"))?;
        let verifier = request
            .code_verifier
            .ok_or(OAuthServerError::MissingParameter("code_verifier"))?;
        let redirect_uri = request
            .redirect_uri
            .ok_or(OAuthServerError::MissingParameter("redirect_uri"))?;
        self.redeem(
            &request.client,
            code,
            redirect_uri,
            PkceProof::Verifier(verifier),
            request.resource,
        )
    }

    fn redeem(
        &self,
        client: &ClientAuth<'_>,
        code: &str,
        redirect_uri: &str,
        pkce: PkceProof<'_>,
        resource: Option<&str>,
    ) -> Result<TokenResponse, OAuthServerError> {
        let client = self.authenticate(client)?;
        Self::allowed(&client, AUTHORIZATION_CODE)?;
        let now = self.now();
        let record = match self.inner.store.redeem_code(&credential_hash(code))? {
            CodeRedemption::Unknown => return Err(OAuthServerError::CodeUnknown),
            CodeRedemption::Reused(record) => {
                // RFC 6749 §4.1.2: revoke what the first use produced.
                let cutoff = self.guard_cutoff(now);
                let revoked = self.inner.store.revoke_family(&record.family_id, cutoff)?;
                self.feed_guard(&revoked)?;
                self.audit(
                    AuditKind::TokenReuse,
                    &record.client_id,
                    Some(&record.subject),
                    &record.scopes,
                );
                return Err(OAuthServerError::CodeReused);
            }
            CodeRedemption::Redeemed(record) => record,
        };
        if record.expires_at < now {
            return Err(OAuthServerError::CodeExpired);
        }
        if record.client_id != client.client_id {
            return Err(OAuthServerError::CodeClientMismatch);
        }
        if record.redirect_uri != redirect_uri {
            return Err(OAuthServerError::CodeRedirectMismatch);
        }
        let pkce_ok = match pkce {
            PkceProof::Verifier(verifier) => pkce_s256_matches(verifier, &record.code_challenge),
            // The challenge is public (it travelled in the authorization
            // request): a plain comparison leaks nothing.
            PkceProof::Verified(challenge) => challenge == record.code_challenge,
        };
        if !pkce_ok {
            return Err(OAuthServerError::WrongCodeVerifier);
        }
        if let Some(r) = resource
            && r != record.resource
        {
            return Err(OAuthServerError::InvalidTarget(
                "the resource differs from the one of the authorization request".into(),
            ));
        }
        let s = &self.inner.settings;
        let family = RefreshFamily {
            id: record.family_id.clone(),
            client_id: client.client_id.clone(),
            subject: record.subject.clone(),
            resource: record.resource.clone(),
            scope_ceiling: record.scopes.clone(),
            expires_at: now + s.refresh_family_seconds,
            revoked: false,
        };
        let (access_token, access) = self.access_token(
            &client.client_id,
            &record.subject,
            &record.resource,
            &record.scopes,
            Some(&family.id),
        )?;
        let refresh = client
            .grant_types
            .iter()
            .any(|g| g == REFRESH_TOKEN)
            .then(random_credential);
        let refresh_record = refresh.as_deref().map(|t| RefreshToken {
            token_hash: credential_hash(t),
            family_id: family.id.clone(),
            expires_at: (now + s.refresh_token_seconds).min(family.expires_at),
        });
        if !self
            .inner
            .store
            .issue_family(&family, refresh_record.as_ref(), &access)?
        {
            return Err(OAuthServerError::CodeReused);
        }
        self.audit(
            AuditKind::TokenIssued,
            &client.client_id,
            Some(&record.subject),
            &record.scopes,
        );
        Ok(TokenResponse {
            access_token,
            expires_in: access.expires_at - now,
            refresh_token: refresh,
            scope: record.scopes.join(" "),
            jti: access.jti,
        })
    }

    fn refresh(&self, request: &TokenRequest<'_>) -> Result<TokenResponse, OAuthServerError> {
        let client = self.authenticate(&request.client)?;
        Self::allowed(&client, REFRESH_TOKEN)?;
        let token = request
            .refresh_token
            .ok_or(OAuthServerError::MissingParameter("refresh_token"))?;
        let hash = credential_hash(token);
        let now = self.now();
        let (old, family) = self
            .inner
            .store
            .refresh_token(&hash)?
            .ok_or(OAuthServerError::RefreshUnknown)?;
        if family.client_id != client.client_id {
            return Err(OAuthServerError::RefreshClientMismatch);
        }
        if family.revoked {
            return Err(OAuthServerError::RefreshRevoked);
        }
        if old.expires_at < now || family.expires_at < now {
            return Err(OAuthServerError::RefreshExpired);
        }
        if let Some(r) = request.resource
            && r != family.resource
        {
            return Err(OAuthServerError::InvalidTarget(
                "the resource differs from the one the refresh token is bound to".into(),
            ));
        }
        let scopes = match request.scope {
            None => family.scope_ceiling.clone(),
            Some(scope) => {
                let asked = validate_scopes(&split_scope(scope), &self.client_tags(&client))
                    .map_err(OAuthServerError::InvalidScope)?;
                if let Some(extra) = asked.iter().find(|s| !family.scope_ceiling.contains(s)) {
                    return Err(OAuthServerError::ScopeEscalation(extra.clone()));
                }
                asked
            }
        };
        let (access_token, access) = self.access_token(
            &client.client_id,
            &family.subject,
            &family.resource,
            &scopes,
            Some(&family.id),
        )?;
        let new_token = random_credential();
        let new = RefreshToken {
            token_hash: credential_hash(&new_token),
            family_id: family.id.clone(),
            expires_at: (now + self.inner.settings.refresh_token_seconds).min(family.expires_at),
        };
        match self.inner.store.rotate_refresh(&hash, &new, &access)? {
            Rotation::Rotated(family) => {
                self.audit(
                    AuditKind::TokenRefreshed,
                    &client.client_id,
                    Some(&family.subject),
                    &scopes,
                );
                Ok(TokenResponse {
                    access_token,
                    expires_in: access.expires_at - now,
                    refresh_token: Some(new_token),
                    scope: scopes.join(" "),
                    jti: access.jti,
                })
            }
            Rotation::Reused(family, produced) => {
                let cutoff = self.guard_cutoff(now);
                let live: Vec<IssuedAccess> = produced
                    .into_iter()
                    .filter(|a| a.expires_at > cutoff)
                    .collect();
                self.feed_guard(&live)?;
                self.audit(
                    AuditKind::TokenReuse,
                    &client.client_id,
                    Some(&family.subject),
                    &family.scope_ceiling,
                );
                Err(OAuthServerError::RefreshReused)
            }
            Rotation::Revoked(_) => Err(OAuthServerError::RefreshRevoked),
            Rotation::Unknown => Err(OAuthServerError::RefreshUnknown),
        }
    }

    fn client_credentials(
        &self,
        request: &TokenRequest<'_>,
    ) -> Result<TokenResponse, OAuthServerError> {
        let client = self.authenticate(&request.client)?;
        if client.secret_hash.is_none() {
            return Err(OAuthServerError::UnauthorizedClient(
                CLIENT_CREDENTIALS.into(),
            ));
        }
        Self::allowed(&client, CLIENT_CREDENTIALS)?;
        let scopes = self.requested_scopes(&client, request.scope)?;
        let resource = self.resource(request.resource)?;
        let (access_token, access) = self.access_token(
            &client.client_id,
            &client.client_id,
            &resource,
            &scopes,
            None,
        )?;
        self.audit(AuditKind::TokenIssued, &client.client_id, None, &scopes);
        Ok(TokenResponse {
            access_token,
            expires_in: access.expires_at - self.now(),
            refresh_token: None,
            scope: scopes.join(" "),
            jti: access.jti,
        })
    }

    // ----- revocation -----

    /// Revokes an access token (by its `jti`, in the Guard's deny-list and
    /// the store) or a refresh token (its whole family, and the family's
    /// access tokens) — RFC 7009. A token that is unknown, invalid or
    /// expired needs nothing and succeeds; another client's token is refused.
    pub fn revoke(&self, request: &RevocationRequest<'_>) -> Result<(), OAuthServerError> {
        let client = self.authenticate(&request.client)?;
        let token = request
            .token
            .ok_or(OAuthServerError::MissingParameter("token"))?;
        let now = self.now();
        let as_access = || -> Result<bool, OAuthServerError> {
            let Some(claims) = self.own_token_claims(token) else {
                return Ok(false);
            };
            if claims["client_id"].as_str() != Some(client.client_id.as_str()) {
                return Err(OAuthServerError::TokenOfAnotherClient);
            }
            let (Some(jti), Some(exp)) = (claims["jti"].as_str(), claims["exp"].as_i64()) else {
                return Ok(true);
            };
            if exp <= now {
                return Ok(true);
            }
            let access = IssuedAccess {
                jti: jti.to_string(),
                expires_at: exp,
                family_id: None,
            };
            self.inner.store.revoke_access(&access)?;
            self.feed_guard(std::slice::from_ref(&access))?;
            self.audit(AuditKind::TokenRevoked, &client.client_id, None, &[]);
            Ok(true)
        };
        let as_refresh = || -> Result<bool, OAuthServerError> {
            let Some((_, family)) = self.inner.store.refresh_token(&credential_hash(token))? else {
                return Ok(false);
            };
            if family.client_id != client.client_id {
                return Err(OAuthServerError::TokenOfAnotherClient);
            }
            let revoked = self
                .inner
                .store
                .revoke_family(&family.id, self.guard_cutoff(now))?;
            self.feed_guard(&revoked)?;
            self.audit(
                AuditKind::TokenRevoked,
                &client.client_id,
                Some(&family.subject),
                &family.scope_ceiling,
            );
            Ok(true)
        };
        // The hint only orders the search (RFC 7009 §2.1).
        if request.token_type_hint == Some("refresh_token") {
            if !as_refresh()? {
                as_access()?;
            }
        } else if !as_access()? {
            as_refresh()?;
        }
        Ok(())
    }

    /// Forgets expired pending requests, codes, refresh tokens and records.
    pub fn purge_expired(&self) -> Result<usize, OAuthServerError> {
        Ok(self.inner.store.purge_expired(self.now())?)
    }

    // ----- helpers -----

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now_secs()
    }

    fn limit(limiter: &Limiter, key: &str) -> Result<(), OAuthServerError> {
        let d = limiter.check(key, 1);
        if d.allowed {
            return Ok(());
        }
        Err(OAuthServerError::RateLimited {
            retry_after: d.retry_after.map_or(1, |s| s.ceil().max(1.0) as u64),
        })
    }

    fn authenticate(&self, auth: &ClientAuth<'_>) -> Result<ClientRecord, OAuthServerError> {
        let id = auth
            .client_id
            .ok_or(OAuthServerError::ClientAuthenticationFailed)?;
        let client = self
            .inner
            .store
            .client(id)?
            .ok_or(OAuthServerError::ClientAuthenticationFailed)?;
        match (&client.secret_hash, auth.client_secret) {
            (None, None) => Ok(client),
            (Some(hash), Some(secret)) if credential_matches(secret, hash) => Ok(client),
            _ => Err(OAuthServerError::ClientAuthenticationFailed),
        }
    }

    fn allowed(client: &ClientRecord, grant: &str) -> Result<(), OAuthServerError> {
        if client.grant_types.iter().any(|g| g == grant) {
            Ok(())
        } else {
            Err(OAuthServerError::UnauthorizedClient(grant.to_string()))
        }
    }

    /// Every tag the server knows (the Guard's configuration), or those of
    /// the client's registered scope.
    fn available_tags(&self, client: Option<&ClientRecord>) -> Vec<String> {
        match client {
            Some(c) if !c.scopes.is_empty() => scopes_to_tags(&c.scopes),
            _ => self.inner.guard.access_policy().all_tags(),
        }
    }

    fn client_tags(&self, client: &ClientRecord) -> Vec<String> {
        self.available_tags(Some(client))
    }

    fn requested_scopes(
        &self,
        client: &ClientRecord,
        scope: Option<&str>,
    ) -> Result<Vec<String>, OAuthServerError> {
        let requested = scope.map(split_scope).unwrap_or_default();
        validate_scopes(&requested, &self.client_tags(client))
            .map_err(OAuthServerError::InvalidScope)
    }

    fn resource(&self, requested: Option<&str>) -> Result<String, OAuthServerError> {
        let resources = &self.inner.settings.resources;
        match requested {
            None => Ok(resources[0].clone()),
            Some(r) if resources.iter().any(|x| x == r) => Ok(r.to_string()),
            Some(r) => Err(OAuthServerError::InvalidTarget(format!(
                "this server issues no tokens for the resource {r:?}"
            ))),
        }
    }

    fn access_token(
        &self,
        client_id: &str,
        subject: &str,
        resource: &str,
        scopes: &[String],
        family_id: Option<&str>,
    ) -> Result<(String, IssuedAccess), OAuthServerError> {
        let now = self.now();
        let exp = now + self.inner.settings.access_token_seconds;
        let jti = random_b64(16);
        let claims = json!({
            "iss": self.issuer(),
            "sub": subject,
            "aud": resource,
            "client_id": client_id,
            "scope": scopes.join(" "),
            "iat": now,
            "exp": exp,
            "jti": jti,
        });
        let token = self
            .inner
            .keys
            .read()
            .sign_access_token(&claims)
            .map_err(|_| OAuthServerError::Signing)?;
        Ok((
            token,
            IssuedAccess {
                jti,
                expires_at: exp,
                family_id: family_id.map(str::to_string),
            },
        ))
    }

    /// The claims of a JWT this server signed (whatever its audience or
    /// expiry), or `None` for any other string.
    fn own_token_claims(&self, token: &str) -> Option<Value> {
        let keys = self.inner.keys.read().clone();
        let verified = verify_compact(token, keys.verification_keys()).ok()?;
        let claims: Value = serde_json::from_slice(&verified.payload).ok()?;
        (claims["iss"].as_str() == Some(self.issuer())).then_some(claims)
    }

    /// The oldest expiry an access token can have and still be accepted by
    /// the Guard at `now`: it admits a token until `exp` plus its leeway, so
    /// a token revoked on the store's side must reach the deny-list for
    /// that long, not only until its `exp`.
    fn guard_cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(self.inner.guard.token_validator().leeway_seconds())
    }

    /// Puts revoked access tokens on the Guard's deny-list.
    fn feed_guard(&self, revoked: &[IssuedAccess]) -> Result<(), OAuthServerError> {
        let validator = self.inner.guard.token_validator();
        for a in revoked {
            validator
                .revoke_jti(self.issuer(), &a.jti, a.expires_at)
                .map_err(|e| OAuthServerError::GuardRevocation(e.to_string()))?;
        }
        Ok(())
    }

    fn redirect_url(&self, uri: &str, state: Option<&str>, params: &[(&str, &str)]) -> String {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if let Some(s) = state {
            all.push(("state", s));
        }
        all.push(("iss", self.issuer()));
        // The URI matched a registered one, which parsed at registration.
        redirect::with_params(uri, &all).unwrap_or_else(|| uri.to_string())
    }

    fn error_redirect(
        &self,
        uri: &str,
        state: Option<&str>,
        e: &OAuthServerError,
    ) -> AuthorizeOutcome {
        let description = e.to_string();
        AuthorizeOutcome::Redirect(self.redirect_url(
            uri,
            state,
            &[("error", e.code()), ("error_description", &description)],
        ))
    }

    fn audit(&self, kind: AuditKind, client_id: &str, subject: Option<&str>, scopes: &[String]) {
        let principal = Principal {
            kind: TokenKind::Jwt,
            subject: subject.map(str::to_string),
            client_id: Some(client_id.to_string()),
            issuer: self.issuer().to_string(),
            audience: Vec::new(),
            scopes: scopes.to_vec(),
            roles: Vec::new(),
            tags: scopes_to_tags(scopes),
            rejected_scopes: Vec::new(),
            expires_at: None,
            jwt_id: None,
            claims_json: Arc::from("{}"),
            token_fingerprint: None,
            granted: None,
            rate_key: None,
        };
        self.inner.guard.record_event(AuditEvent {
            time: self.inner.clock.now_nanos() as f64 / NANOS_PER_SEC as f64,
            kind,
            reason: None,
            principal: Some(Arc::new(principal)),
            server: None,
            tool: None,
            missing_scopes: Vec::new(),
            rejected_scopes: Vec::new(),
            token_fingerprint: None,
        });
    }
}

/// A `scope` parameter split on spaces (RFC 6749 §3.3), empty parts dropped.
fn split_scope(scope: &str) -> Vec<String> {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
