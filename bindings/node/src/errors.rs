//! Core errors as JavaScript errors the wrapper can classify.
//!
//! napi errors carry only a status and a message, so the message carries a
//! JSON payload behind a fixed marker: `kind` (which `GuardError` subclass),
//! `code`, `reason`, `status`, `message`, `wwwAuthenticate` and, for
//! configuration errors, `path`. `index.js` parses it; nothing else should.

use mcpguard::ConfigError;
use mcpguard::access::FilterError;
use mcpguard::token::opaque::OpaqueError;
use mcpguard::token::{KeyError, RevokeError, TokenError};
use serde_json::{Value, json};

/// Prefix of every error message this layer throws (the wrapper looks for it).
pub const MARKER: &str = "\u{0}mcpguard:";

fn throw(payload: Value) -> napi::Error {
    napi::Error::new(napi::Status::GenericFailure, format!("{MARKER}{payload}"))
}

/// A configuration was refused: `ConfigError`, with the JSON path.
pub fn config(e: &ConfigError) -> napi::Error {
    throw(json!({
        "kind": "config", "code": "invalid_configuration", "reason": null, "status": null,
        "message": e.to_string(), "path": e.path, "wwwAuthenticate": null,
    }))
}

/// Key material was refused by `setJwks`: a `ConfigError` naming the path
/// inside the JWK Set.
pub fn key(e: &KeyError) -> napi::Error {
    throw(json!({
        "kind": "config", "code": "invalid_configuration", "reason": null, "status": null,
        "message": e.to_string(), "path": e.path(), "wwwAuthenticate": null,
    }))
}

/// A token was refused: `InvalidTokenError` (401) or
/// `InsufficientScopeError` (403 for `auth.required_scopes`), with the
/// challenge a host would send.
pub fn token(e: &TokenError, resource_metadata_url: Option<&str>) -> napi::Error {
    let kind = if e.status() == 403 {
        "insufficient_scope"
    } else {
        "invalid_token"
    };
    throw(json!({
        "kind": kind, "code": e.reason.oauth_error().as_str(), "reason": e.reason.code(),
        "status": e.status(), "message": e.description,
        "wwwAuthenticate": e.www_authenticate(resource_metadata_url),
    }))
}

/// A revocation was refused: the token's own error, or a full revocation list.
pub fn revoke(e: &RevokeError, resource_metadata_url: Option<&str>) -> napi::Error {
    match e {
        RevokeError::InvalidToken(t) => token(t, resource_metadata_url),
        RevokeError::Full(_) => throw(json!({
            "kind": "guard", "code": "revocation_list_full", "reason": null, "status": 503,
            "message": e.to_string(), "wwwAuthenticate": null,
        })),
        RevokeError::StoreUnavailable(_) => throw(json!({
            "kind": "guard", "code": "store_unavailable", "reason": "store_unavailable",
            "status": 503, "message": e.to_string(), "wwwAuthenticate": null,
        })),
    }
}

/// A filter does not parse: `InvalidRequestError` with reason
/// `invalid_filter` (the message is 1MCP's).
pub fn filter(e: &FilterError) -> napi::Error {
    let reason = e.reason();
    throw(json!({
        "kind": "invalid_request", "code": reason.oauth_error().as_str(), "reason": reason.code(),
        "status": reason.status(), "message": e.to_string(), "wwwAuthenticate": null,
    }))
}

/// A call the host made with arguments the core refuses (an unknown rule, a
/// bad quota, a clock value out of range): `InvalidRequestError`.
pub fn invalid_argument(message: impl std::fmt::Display) -> napi::Error {
    throw(json!({
        "kind": "invalid_request", "code": "invalid_request", "reason": "invalid_request",
        "status": 400, "message": message.to_string(), "wwwAuthenticate": null,
    }))
}

/// The opaque-token store refused an entry: `OpaqueStoreError`, whose
/// `code` is the core's (`full`, `invalid_token`, `expired`, `disabled`).
/// Only a full store has a status a host would answer with (503, like a
/// full revocation list); the others are the host's own mistakes.
pub fn opaque(e: &OpaqueError) -> napi::Error {
    let status =
        matches!(e, OpaqueError::Full { .. } | OpaqueError::StoreUnavailable).then_some(503);
    throw(json!({
        "kind": "opaque_store", "code": e.code(), "reason": null, "status": status,
        "message": e.to_string(), "wwwAuthenticate": null,
    }))
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
