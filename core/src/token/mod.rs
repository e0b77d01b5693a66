//! Bearer-token validation.
//!
//! Decides whether a presented access token is genuine, current, issued for
//! this resource and not revoked, and says who it speaks for
//! ([`Principal`]). Fetching JWKS documents and calling introspection
//! endpoints are left to the host; the validator only consumes what the host
//! hands it.

pub mod cache;
pub mod introspection;
pub mod opaque;
mod principal;
pub mod revocation;

pub use principal::{Principal, TokenKind};
