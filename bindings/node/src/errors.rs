//! Core errors as JavaScript errors the wrapper can classify.
//!
//! napi errors carry only a status and a message, so the message carries a
//! JSON payload behind a fixed marker: the core's own classification
//! ([`mcpguard::classify::ErrorInfo::to_json`]: `kind`, `code`, `reason`,
//! `status`, `message`, `path`, `www_authenticate`). This layer decides
//! none of them; `errors.js` maps `kind` to its `GuardError` subclass and
//! copies the rest. Nothing else parses the payload.

use mcpguard::ConfigError;
use mcpguard::access::FilterError;
use mcpguard::classify::Classify;
use mcpguard::guard::RequestError;
use mcpguard::token::opaque::OpaqueError;
use mcpguard::token::{KeyError, RevokeError, TokenError};
use serde_json::{Value, json};

/// Prefix of every error message this layer throws (the wrapper looks for it).
pub const MARKER: &str = "\u{0}mcpguard:";

fn throw(payload: Value) -> napi::Error {
    napi::Error::new(napi::Status::GenericFailure, format!("{MARKER}{payload}"))
}

/// Any core error, classified by the core; `metadata_url` goes into a
/// token refusal's challenge.
pub fn classified(e: &impl Classify, metadata_url: Option<&str>) -> napi::Error {
    throw(e.classify(metadata_url).to_json())
}

/// A configuration was refused: `ConfigError`, with the JSON path.
pub fn config(e: &ConfigError) -> napi::Error {
    classified(e, None)
}

/// Key material was refused by `setJwks`: a `ConfigError` naming the path
/// inside the JWK Set.
pub fn key(e: &KeyError) -> napi::Error {
    classified(e, None)
}

/// A token was refused: `InvalidTokenError` (401) or
/// `InsufficientScopeError` (403 for `auth.required_scopes`), with the
/// challenge a host would send.
pub fn token(e: &TokenError, resource_metadata_url: Option<&str>) -> napi::Error {
    classified(e, resource_metadata_url)
}

/// A revocation was refused: the token's own error, or a full revocation list.
pub fn revoke(e: &RevokeError, resource_metadata_url: Option<&str>) -> napi::Error {
    classified(e, resource_metadata_url)
}

/// A filter does not parse: `InvalidRequestError` with reason
/// `invalid_filter` (the message is 1MCP's).
pub fn filter(e: &FilterError) -> napi::Error {
    classified(e, None)
}

/// A call the host made with arguments the core refuses (an unknown rule, a
/// bad quota, a clock value out of range): the core's `RequestError`,
/// `InvalidRequestError` in JavaScript.
pub fn invalid_argument(message: impl std::fmt::Display) -> napi::Error {
    classified(&RequestError(message.to_string()), None)
}

/// The opaque-token store refused an entry: `OpaqueTokenRejectedError` (a
/// bad token text, an entry already expired) or `OpaqueStoreError` (a full
/// or disabled store), with the core's `code`.
pub fn opaque(e: &OpaqueError) -> napi::Error {
    classified(e, None)
}

/// An argument of the wrong shape, read by the core as JSON (an
/// opaque-token entry): a JavaScript `TypeError` naming the member at
/// fault in the camelCase the caller wrote (`entry.expiresAt`).
pub fn argument_shape(what: &str, e: &ConfigError) -> napi::Error {
    let at = mcpguard::error::join_path(what, &camel_case(&e.path));
    throw(json!({ "kind": "type", "message": format!("{at}: {}", e.message) }))
}

/// `expires_at` → `expiresAt`, `scopes[1]` unchanged.
fn camel_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_read_in_camel_case() {
        assert_eq!(camel_case("expires_at"), "expiresAt");
        assert_eq!(camel_case("client_id"), "clientId");
        assert_eq!(camel_case("scopes[1]"), "scopes[1]");
        assert_eq!(camel_case(""), "");
    }
}
