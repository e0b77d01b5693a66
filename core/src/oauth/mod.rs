//! An embeddable OAuth 2.1 authorization server for the resource a
//! [`Guard`](crate::guard::Guard) protects: the flow of 1MCP's security
//! guide (register a client, get a token with `tag:` scopes, refresh it).
//!
//! Sans-I/O: [`AuthorizationServer`] takes parsed requests and returns what
//! to answer; [`http`] turns raw HTTP requests (method, headers, body bytes)
//! into those calls and the answers into status, headers and body. State
//! lives behind [`OAuthStore`] ([`MemoryOAuthStore`] here; SQLite in the
//! `mcpguard-sqlite` crate, Redis in `mcpguard-redis`).
//!
//! What it decides:
//! - RFC 8414 metadata; RFC 7591 registration (open, closed, or gated by an
//!   initial access token); public clients (PKCE, no secret) and
//!   confidential ones (secret shown once, stored as its SHA-256, compared
//!   in constant time);
//! - the authorization code grant with PKCE `S256` only, exact redirect-URI
//!   match (any port for loopback, RFC 8252), `state` and `iss` (RFC 9207)
//!   returned, `resource` (RFC 8707) bound into code and token; codes are
//!   single-use and short-lived, and a second use revokes what the first
//!   produced;
//! - scopes with 1MCP's `validate_scopes`: none asked for means every tag
//!   the client may have; the user's consent may narrow them;
//! - access tokens as ES256 JWTs (RFC 9068 `at+jwt`) with `iss`, `aud` (the
//!   resource), `scope`, `client_id`, `sub`, `iat`, `exp`, `jti`; the Guard
//!   built with the `authorization_server` section trusts them with no key
//!   configured twice;
//! - refresh tokens: opaque, stored hashed, single-use with rotation, in a
//!   family bound to client, resource and a scope ceiling with an absolute
//!   lifetime; reusing a rotated token revokes the family and its access
//!   tokens (on the Guard's deny-list); a refresh may narrow scopes only;
//! - the client credentials grant for confidential clients; RFC 7009
//!   revocation of access and refresh tokens;
//! - audit events through the Guard's sink, and rate limits on the
//!   registration and token endpoints.
//!
//! What it leaves to the host: authenticating the user (the host passes the
//! subject with the consent), serving HTTP, and, if it wants another look,
//! the consent page ([`render_consent_page`] is the default).

mod config;
mod consent;
mod error;
pub mod http;
mod keys;
mod redirect;
mod secrets;
mod server;
mod store;

pub use config::{
    AuthorizationServerConfig, EndpointLimitsConfig, RegistrationConfig, Settings,
    SigningKeyConfig, StorageConfig,
};
pub use consent::{
    CONSENT_COOKIE, consent_cookie, consent_cookie_from_header, render_consent_page,
};
pub use error::OAuthServerError;
pub use keys::{KeyRing, SigningKey, SigningKeyError};
pub use secrets::{credential_hash, credential_matches, pkce_s256_matches, random_credential};
pub use server::{
    AuthorizationServer, AuthorizeOutcome, AuthorizeParams, ClientAuth, ConsentAnswer,
    ConsentRequest, RegisteredClient, RegistrationRequest, RevocationRequest, SetupError,
    TokenRequest, TokenResponse, VerifiedCodeExchange,
};
pub use store::{
    AuthorizationCode, ClientRecord, CodeRedemption, IssuedAccess, MemoryOAuthStore, OAuthStore,
    PendingAuthorization, RefreshFamily, RefreshToken, Rotation, StoreError, TOMBSTONE_SECONDS,
};

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod tests;
