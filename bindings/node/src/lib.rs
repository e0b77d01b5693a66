//! The Node binding of mcpguard (napi-rs v3): the native half of the npm
//! package `mcpguard`.
//!
//! Thin by design: it converts JavaScript values to core types and back and
//! decides nothing itself. Errors leave this layer as a JavaScript `Error`
//! whose message carries a JSON payload ([`errors`]); the hand-written
//! `index.js` turns that into the right `GuardError` subclass. Denials from
//! `authorize` are decisions, never errors.
//!
//! What it leaves to the JavaScript layer: the error classes, accepting a
//! configuration object as well as text, and the `mcpguard/mcp` and
//! `mcpguard/express` integrations.
#![deny(missing_docs)]

mod clock;
mod convert;
pub mod decide;
mod engines;
pub mod errors;
mod fastcall;
pub mod flat;
mod guard;
mod http;
mod oauth;
mod raw_headers;
pub mod settle;
mod utf16;

pub use clock::ManualClock;
pub use engines::{
    RateLimiter, ScopeValidation, TagFilter, TokenValidator, effective_scopes, scopes_to_tags,
    tags_to_scopes, validate_scopes,
};
pub use guard::{
    Guard, guard_authorize, guard_authorize_async, guard_validate, guard_validate_with_expiry,
    guard_validate_with_expiry_async, guard_validate_with_expiry_in_memory,
};
pub use http::{
    FilteredResponse, HttpDecision, HttpOptions, guard_authorize_http, guard_authorize_http_async,
};
pub use oauth::OAuthServer;
