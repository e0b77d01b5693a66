//! Why the authorization server refused a request: one variant per cause,
//! each mapped once to its OAuth error code (RFC 6749 §5.2, RFC 7591 §3.2.2,
//! RFC 7009 §2.2.1, RFC 8707 §2) and HTTP status.

use super::store::StoreError;

/// A refusal of the authorization server. `Display` is the
/// `error_description` sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthServerError {
    /// A required parameter is absent.
    #[error("the {0} parameter is required")]
    MissingParameter(&'static str),
    /// A parameter appears more than once (RFC 6749 §3.1).
    #[error("the {0} parameter must not be repeated")]
    RepeatedParameter(String),
    /// The request body or a parameter is not well formed.
    #[error("{0}")]
    MalformedRequest(String),
    /// Registration is closed by configuration.
    #[error("client registration is closed on this server")]
    RegistrationClosed,
    /// Registration needs an initial access token and none, or a wrong one, was given.
    #[error("client registration needs a valid initial access token")]
    InitialAccessTokenInvalid,
    /// A registration's client metadata was refused.
    #[error("{0}")]
    InvalidClientMetadata(String),
    /// A registration's redirect URI was refused.
    #[error("{0}")]
    InvalidRedirectUri(String),
    /// No client is registered with this id.
    #[error("no client is registered with this client_id")]
    UnknownClient,
    /// Client authentication failed (wrong or missing secret, wrong method).
    #[error("client authentication failed")]
    ClientAuthenticationFailed,
    /// The redirect URI is not one the client registered.
    #[error("the redirect_uri is not registered for this client")]
    RedirectUriMismatch,
    /// The response type is not `code`.
    #[error("only response_type=code is supported")]
    UnsupportedResponseType,
    /// No PKCE challenge was sent.
    #[error("a PKCE code_challenge (method S256) is required")]
    PkceRequired,
    /// A PKCE method other than `S256` (`plain` included) was asked for.
    #[error("code_challenge_method {0:?} is not supported; use S256")]
    PkceMethodRefused(String),
    /// The PKCE challenge is not 43 base64url characters.
    #[error("the code_challenge is not a valid S256 challenge")]
    InvalidCodeChallenge,
    /// The requested scopes were refused (1MCP's texts, joined by `; `).
    #[error("{}", .0.join("; "))]
    InvalidScope(Vec<String>),
    /// A refresh or consent asked for scopes beyond what was granted.
    #[error("the requested scope exceeds the scope granted: {0}")]
    ScopeEscalation(String),
    /// The resource is not one this server issues tokens for, or differs from the one bound.
    #[error("{0}")]
    InvalidTarget(String),
    /// The pending authorization request is unknown or has expired.
    #[error("the authorization request is unknown or has expired; start again")]
    UnknownAuthorizationRequest,
    /// The consent form's CSRF token is missing or wrong.
    #[error("the consent form's CSRF token is missing or does not match this request")]
    CsrfMismatch,
    /// The user refused consent.
    #[error("the user denied the authorization request")]
    AccessDenied,
    /// The grant type is not supported.
    #[error("unsupported grant_type {0:?}")]
    UnsupportedGrantType(String),
    /// The client is not allowed this grant type.
    #[error("this client is not allowed the {0} grant")]
    UnauthorizedClient(String),
    /// The code is unknown.
    #[error("the authorization code is invalid")]
    CodeUnknown,
    /// The code has expired.
    #[error("the authorization code has expired")]
    CodeExpired,
    /// The code was used before; what it produced has been revoked.
    #[error("the authorization code was already used; the tokens it produced are revoked")]
    CodeReused,
    /// The code was issued to another client.
    #[error("the authorization code was issued to another client")]
    CodeClientMismatch,
    /// The token request's redirect URI differs from the authorization request's.
    #[error("the redirect_uri differs from the one of the authorization request")]
    CodeRedirectMismatch,
    /// The PKCE verifier does not match the challenge.
    #[error("the code_verifier does not match the code_challenge")]
    WrongCodeVerifier,
    /// The refresh token is unknown.
    #[error("the refresh token is invalid")]
    RefreshUnknown,
    /// The refresh token or its family has expired.
    #[error("the refresh token has expired")]
    RefreshExpired,
    /// The refresh token was rotated before: the whole family is revoked.
    #[error("the refresh token was already used; its family of tokens is revoked")]
    RefreshReused,
    /// The refresh token's family was revoked.
    #[error("the refresh token has been revoked")]
    RefreshRevoked,
    /// The refresh token was issued to another client.
    #[error("the refresh token was issued to another client")]
    RefreshClientMismatch,
    /// RFC 7009 §2.1: a client asked to revoke a token issued to another client.
    #[error("the token was issued to another client")]
    TokenOfAnotherClient,
    /// A rate limit refused the request.
    #[error("too many requests; retry after {retry_after} s")]
    RateLimited {
        /// Whole seconds until a retry can pass.
        retry_after: u64,
    },
    /// The store failed; nothing was issued.
    #[error("the authorization server's store failed: {0}")]
    Store(#[from] StoreError),
    /// Signing the token failed.
    #[error("the authorization server could not sign the token")]
    Signing,
    /// The Guard's deny-list refused a revocation (it is full).
    #[error("the Guard could not record the revocation: {0}")]
    GuardRevocation(String),
}

impl OAuthServerError {
    /// The OAuth `error` code.
    pub fn code(&self) -> &'static str {
        use OAuthServerError::*;
        match self {
            MissingParameter(_)
            | RepeatedParameter(_)
            | MalformedRequest(_)
            | RedirectUriMismatch
            | PkceRequired
            | PkceMethodRefused(_)
            | InvalidCodeChallenge
            | UnknownAuthorizationRequest
            | CsrfMismatch => "invalid_request",
            RegistrationClosed | AccessDenied => "access_denied",
            InitialAccessTokenInvalid => "invalid_token",
            InvalidClientMetadata(_) => "invalid_client_metadata",
            InvalidRedirectUri(_) => "invalid_redirect_uri",
            UnknownClient | ClientAuthenticationFailed => "invalid_client",
            UnsupportedResponseType => "unsupported_response_type",
            InvalidScope(_) | ScopeEscalation(_) => "invalid_scope",
            InvalidTarget(_) => "invalid_target",
            UnsupportedGrantType(_) => "unsupported_grant_type",
            UnauthorizedClient(_) => "unauthorized_client",
            CodeUnknown
            | CodeExpired
            | CodeReused
            | CodeClientMismatch
            | CodeRedirectMismatch
            | WrongCodeVerifier
            | RefreshUnknown
            | RefreshExpired
            | RefreshReused
            | RefreshRevoked
            | RefreshClientMismatch => "invalid_grant",
            TokenOfAnotherClient => "unauthorized_client",
            RateLimited { .. } => "too_many_requests",
            Store(_) | Signing | GuardRevocation(_) => "server_error",
        }
    }

    /// The HTTP status of the error response.
    pub fn status(&self) -> u16 {
        use OAuthServerError::*;
        match self {
            UnknownClient | ClientAuthenticationFailed | InitialAccessTokenInvalid => 401,
            RegistrationClosed | CsrfMismatch => 403,
            RateLimited { .. } => 429,
            Store(_) | Signing | GuardRevocation(_) => 500,
            _ => 400,
        }
    }

    /// The JSON error body (`{"error", "error_description"}`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": self.code(), "error_description": self.to_string()})
    }
}
