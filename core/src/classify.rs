//! Every error a host can get from the core, classified once: which family
//! it belongs to (one exception class per family in every binding), its
//! stable code, the reason and HTTP status a host would answer with, and
//! the `WWW-Authenticate` challenge where one applies.
//!
//! Bindings convert an [`ErrorInfo`] into their language's error; none of
//! them decides a class, a code or a status of its own.

use serde_json::{Value, json};

use crate::access::FilterError;
use crate::error::ConfigError;
use crate::guard::RequestError;
use crate::reason::{OAuthError, Reason};
use crate::token::opaque::OpaqueError;
use crate::token::{KeyError, RevokeError, TokenError};

/// The family of an error: one exception class per family in every binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A configuration (or key material) was refused: `ConfigError`.
    Config,
    /// A token was refused (401): `InvalidToken`.
    InvalidToken,
    /// A token lacks a required scope (403): `InsufficientScope`.
    InsufficientScope,
    /// A request, filter or argument was refused (400): `InvalidRequest`.
    InvalidRequest,
    /// An opaque-token entry was refused (bad token text, already
    /// expired): `OpaqueTokenRejected`.
    OpaqueToken,
    /// The opaque-token store cannot take entries (full, disabled):
    /// `OpaqueStoreError`.
    OpaqueStore,
    /// A rate limit refused the request (429): `RateLimited`.
    RateLimited,
    /// The Guard's own state cannot take more (a full revocation list):
    /// the base `GuardError`.
    Guard,
}

impl ErrorKind {
    /// The kind's stable name (`config`, `invalid_token`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::InvalidToken => "invalid_token",
            ErrorKind::InsufficientScope => "insufficient_scope",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::OpaqueToken => "opaque_token",
            ErrorKind::OpaqueStore => "opaque_store",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Guard => "guard",
        }
    }
}

/// One error, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The family.
    pub kind: ErrorKind,
    /// A stable code: the OAuth error for refusals (`invalid_token`), else
    /// the error's own (`invalid_configuration`, `full`, …).
    pub code: &'static str,
    /// The machine reason of a refusal.
    pub reason: Option<Reason>,
    /// The HTTP status a host answers with, where one applies.
    pub status: Option<u16>,
    /// What went wrong, for a person.
    pub message: String,
    /// The JSON path of a configuration error.
    pub path: Option<String>,
    /// The `WWW-Authenticate` challenge of a token refusal.
    pub www_authenticate: Option<String>,
}

impl ErrorInfo {
    fn refusal(kind: ErrorKind, reason: Reason, message: String) -> ErrorInfo {
        ErrorInfo {
            kind,
            code: reason.oauth_error().as_str(),
            reason: Some(reason),
            status: Some(reason.status()),
            message,
            path: None,
            www_authenticate: None,
        }
    }

    /// The JSON shape bindings pass across their boundary:
    /// `{"kind", "code", "reason", "status", "message", "path", "www_authenticate"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "kind": self.kind.as_str(),
            "code": self.code,
            "reason": self.reason.map(Reason::code),
            "status": self.status,
            "message": self.message,
            "path": self.path,
            "www_authenticate": self.www_authenticate,
        })
    }
}

/// Errors the core returns to hosts.
pub trait Classify {
    /// This error, classified; `metadata_url` goes into a token refusal's
    /// challenge.
    fn classify(&self, metadata_url: Option<&str>) -> ErrorInfo;
}

impl Classify for crate::guard::Decision {
    /// A refusal's classification (an allowed decision is classified as
    /// nothing to raise: `Guard` with no status; bindings check `allowed`
    /// first).
    fn classify(&self, _: Option<&str>) -> ErrorInfo {
        let Some(reason) = self.reason else {
            return ErrorInfo {
                kind: ErrorKind::Guard,
                code: "allowed",
                reason: None,
                status: None,
                message: String::new(),
                path: None,
                www_authenticate: None,
            };
        };
        let kind = match reason.oauth_error() {
            OAuthError::InvalidRequest => ErrorKind::InvalidRequest,
            OAuthError::InvalidToken => ErrorKind::InvalidToken,
            OAuthError::InsufficientScope => ErrorKind::InsufficientScope,
            OAuthError::RateLimited => ErrorKind::RateLimited,
            // A shared store or endpoint did not answer: the base class,
            // with status 503.
            OAuthError::TemporarilyUnavailable => ErrorKind::Guard,
        };
        ErrorInfo {
            status: Some(self.status),
            www_authenticate: self.header("WWW-Authenticate").map(str::to_string),
            ..ErrorInfo::refusal(
                kind,
                reason,
                self.error_description.clone().unwrap_or_default(),
            )
        }
    }
}

impl Classify for ConfigError {
    fn classify(&self, _: Option<&str>) -> ErrorInfo {
        ErrorInfo {
            kind: ErrorKind::Config,
            code: "invalid_configuration",
            reason: None,
            status: None,
            message: self.to_string(),
            path: Some(self.path.clone()),
            www_authenticate: None,
        }
    }
}

impl Classify for KeyError {
    fn classify(&self, _: Option<&str>) -> ErrorInfo {
        ErrorInfo {
            kind: ErrorKind::Config,
            code: "invalid_configuration",
            reason: None,
            status: None,
            message: self.to_string(),
            path: Some(self.path().to_string()),
            www_authenticate: None,
        }
    }
}

impl Classify for TokenError {
    fn classify(&self, metadata_url: Option<&str>) -> ErrorInfo {
        let kind = if self.reason == Reason::InsufficientScope {
            ErrorKind::InsufficientScope
        } else {
            ErrorKind::InvalidToken
        };
        ErrorInfo {
            www_authenticate: self.www_authenticate(metadata_url),
            ..ErrorInfo::refusal(kind, self.reason, self.description.to_string())
        }
    }
}

impl Classify for RevokeError {
    fn classify(&self, metadata_url: Option<&str>) -> ErrorInfo {
        match self {
            RevokeError::InvalidToken(t) => t.classify(metadata_url),
            RevokeError::Full(full) => ErrorInfo {
                kind: ErrorKind::Guard,
                code: "revocation_list_full",
                reason: None,
                status: Some(503),
                message: full.to_string(),
                path: None,
                www_authenticate: None,
            },
            RevokeError::StoreUnavailable(_) => ErrorInfo {
                kind: ErrorKind::Guard,
                code: "store_unavailable",
                reason: Some(Reason::StoreUnavailable),
                status: Some(503),
                message: self.to_string(),
                path: None,
                www_authenticate: None,
            },
        }
    }
}

impl Classify for FilterError {
    fn classify(&self, _: Option<&str>) -> ErrorInfo {
        ErrorInfo::refusal(ErrorKind::InvalidRequest, self.reason(), self.to_string())
    }
}

impl Classify for RequestError {
    fn classify(&self, _: Option<&str>) -> ErrorInfo {
        ErrorInfo::refusal(
            ErrorKind::InvalidRequest,
            Reason::InvalidRequest,
            self.0.clone(),
        )
    }
}

impl Classify for OpaqueError {
    fn classify(&self, _: Option<&str>) -> ErrorInfo {
        let (kind, status) = match self {
            OpaqueError::InvalidToken | OpaqueError::Expired => (ErrorKind::OpaqueToken, None),
            OpaqueError::Full { .. } | OpaqueError::StoreUnavailable => {
                (ErrorKind::OpaqueStore, Some(503))
            }
            OpaqueError::Disabled => (ErrorKind::OpaqueStore, None),
        };
        ErrorInfo {
            kind,
            code: self.code(),
            reason: None,
            status,
            message: self.to_string(),
            path: None,
            www_authenticate: None,
        }
    }
}

impl Classify for crate::oauth::OAuthServerError {
    /// A refusal of the authorization server: its OAuth error as the code
    /// and its HTTP status; a rate limit is `RateLimited`, a failing store
    /// or signer the base class, every other refusal `InvalidRequest`.
    fn classify(&self, _: Option<&str>) -> ErrorInfo {
        use crate::oauth::OAuthServerError as E;
        let kind = match self {
            E::RateLimited { .. } => ErrorKind::RateLimited,
            E::Store(_) | E::Signing | E::GuardRevocation(_) => ErrorKind::Guard,
            _ => ErrorKind::InvalidRequest,
        };
        ErrorInfo {
            kind,
            code: self.code(),
            reason: None,
            status: Some(self.status()),
            message: self.to_string(),
            path: None,
            www_authenticate: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authorization_server_refusal_keeps_its_oauth_code_and_status() {
        use crate::oauth::OAuthServerError;
        let i = OAuthServerError::ClientAuthenticationFailed.classify(None);
        assert_eq!(
            (i.kind, i.code, i.status),
            (ErrorKind::InvalidRequest, "invalid_client", Some(401))
        );
        let i = OAuthServerError::RateLimited { retry_after: 3 }.classify(None);
        assert_eq!((i.kind, i.status), (ErrorKind::RateLimited, Some(429)));
    }

    #[test]
    fn a_full_revocation_list_is_a_503_guard_error() {
        let e = RevokeError::Full(crate::token::RevocationError::Full { capacity: 1 });
        let info = e.classify(None);
        assert_eq!(
            (info.kind, info.status, info.code),
            (ErrorKind::Guard, Some(503), "revocation_list_full")
        );
    }

    #[test]
    fn token_refusals_carry_their_status_reason_and_challenge() {
        let e = TokenError::from_reason(Reason::Expired);
        let info = e.classify(Some("https://m/.well-known/x"));
        assert_eq!(info.kind, ErrorKind::InvalidToken);
        assert_eq!((info.status, info.code), (Some(401), "invalid_token"));
        assert!(
            info.www_authenticate
                .unwrap()
                .contains("resource_metadata=")
        );
        let scope = TokenError::from_reason(Reason::InsufficientScope).classify(None);
        assert_eq!(
            (scope.kind, scope.status),
            (ErrorKind::InsufficientScope, Some(403))
        );
    }

    #[test]
    fn opaque_errors_split_into_rejected_entries_and_store_errors() {
        assert_eq!(
            OpaqueError::Expired.classify(None).kind,
            ErrorKind::OpaqueToken
        );
        let full = OpaqueError::Full { capacity: 3 }.classify(None);
        assert_eq!(
            (full.kind, full.status),
            (ErrorKind::OpaqueStore, Some(503))
        );
        assert_eq!(OpaqueError::Disabled.classify(None).status, None);
    }
}
