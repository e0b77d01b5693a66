//! mcpguard: the enforcement an MCP host embeds.
//!
//! A synchronous, transport-agnostic core with four engines:
//!
//! - [`token`]: bearer-token validation (JWT and opaque tokens, revocation,
//!   a verified-token cache, RFC 6750 / RFC 9728 errors);
//! - [`access`]: 1MCP's tag-based access control (tags, `tag:` scopes,
//!   filters, visible servers);
//! - [`ratelimit`]: keyed rate limiting (fixed window, sliding window, GCRA
//!   token bucket) with bounded memory and standard headers;
//! - [`oauth`]: an embeddable authorization server issuing `tag:` scopes for
//!   the Guard's resource (registration, PKCE, rotating refresh tokens).
//!
//! The host does the I/O (HTTP, fetching JWKS, introspection) and asks the
//! library for decisions. Every engine reads time through a [`Clock`], so
//! tests and conformance vectors can drive a [`ManualClock`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod classify;
pub mod clock;
pub mod config;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
pub mod json;
pub mod oauth;
pub mod ratelimit;
pub mod reason;
pub mod shared;
mod sync;
pub mod task;
pub mod token;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ConfigError;
pub use reason::{OAuthError, Reason};
