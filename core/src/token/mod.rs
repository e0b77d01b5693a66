//! Bearer-token validation.
//!
//! Decides whether a presented access token is genuine, current, issued for
//! this resource and not revoked, and says who it speaks for
//! ([`Principal`]). Fetching JWKS documents and calling introspection
//! endpoints are left to the host or to a fetcher attached through the
//! [`remote`] hooks; the validator only consumes what it is handed (an
//! unknown `kid` gives a rate-limited hint to refetch the issuer's JWK Set,
//! [`TokenError::refresh_jwks`], also passed to an attached [`KeyRefresh`]).
//!
//! # Order of checks ([`TokenValidator::verify_jwt`])
//!
//! The first failing check decides the reason:
//!
//! 1. length over `max_token_bytes` → `too_large` (nothing is decoded);
//! 2. structure: a JSON serialization (`{…`), a JWE (four dots) or any dot
//!    count but two → `malformed`;
//! 3. header: canonical base64url, UTF-8, one JSON object without repeated
//!    members, well-typed `alg`/`kid`/`typ`/`crit`/`b64` → else `malformed`;
//!    no `alg` → `malformed`; `none` (any case) or an unknown `alg` →
//!    `algorithm_not_allowed`; a `crit` entry or `b64: false` →
//!    `unsupported_critical_header`;
//! 4. `typ` when `require_typ` is set → `wrong_type`;
//! 5. payload and signature segments: canonical base64url → `malformed`;
//!    claims: UTF-8, one JSON object, no repeated members at any depth,
//!    registered claims of their registered types → `malformed`;
//! 6. `iss`: absent → `missing_claim`; not a configured issuer →
//!    `wrong_issuer`;
//! 7. key: the `alg` must be allowed for that issuer
//!    (`algorithm_not_allowed`); the key is chosen among that issuer's keys
//!    only, by `kid` (`unknown_key`, with a refresh hint) and must verify
//!    that `alg` (`algorithm_not_allowed`); when the issuer has no
//!    `algorithms` list and no current key verifies the `alg`, the
//!    `algorithm_not_allowed` refusal carries the refresh hint too (the
//!    issuer may have rotated to a new algorithm);
//! 8. signature (empty or not verifying → `bad_signature`);
//! 9. only now are the claims trusted: `exp` absent → `missing_claim`, past
//!    `exp + leeway` → `expired`; `nbf` or `iat` later than `now + leeway`
//!    → `not_yet_valid`; `aud` absent → `missing_claim`, naming none of
//!    the issuer's audiences (`[]` included; an entry with a fragment
//!    names none, see [`audience`]) → `wrong_audience`;
//! 10. `required_scopes` → `insufficient_scope` (403);
//! 11. the [`Principal`] is built and the grants hook runs.
//!
//! So a token that is both badly signed and expired is `bad_signature`.

pub mod audience;
pub mod cache;
mod claims;
pub mod config;
mod error;
pub mod introspection;
pub mod jws;
pub mod keys;
mod members;
pub mod opaque;
mod pending;
mod principal;
pub mod remote;
pub mod revocation;
mod validator;

pub use cache::TokenCache;
pub use config::{
    AuthConfig, FetchConfig, IntrospectionConfig, IntrospectionFailure, IssuerConfig, PemKeyConfig,
};
pub use error::{KeyError, TokenError};
pub use introspection::IntrospectionError;
pub use jws::Algorithm;
pub use keys::{Jwk, JwkSet, KeySet};
pub use opaque::{OpaqueEntry, OpaqueError, OpaqueStore};
pub use principal::{Principal, TokenKind, effective_scopes, token_fingerprint};
pub use remote::{IntrospectionUnavailable, Introspector, KeyRefresh, RemoteCounts};
pub use revocation::{RevocationError, RevocationList};
pub use validator::{
    DEFAULT_OPAQUE_CAPACITY, DEFAULT_REFRESH_COOLDOWN, GrantsHook, IssuerBuilder, RevokeError,
    TokenValidator, TokenValidatorBuilder, WeakTokenValidator,
};

// For `crate::fuzzing`: the claims parser, reachable by the fuzz harnesses.
pub(crate) use claims::{NumericDate, parse_claims as parse_claims_text};

#[cfg(test)]
mod remote_tests;
#[cfg(test)]
mod tests;
