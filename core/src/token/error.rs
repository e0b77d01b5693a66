//! Errors of token validation ([`TokenError`]) and of key material
//! ([`KeyError`]).

use std::borrow::Cow;

use crate::reason::{Reason, www_authenticate};

/// A token was refused. `reason` decides status, OAuth error and challenge
/// (see [`Reason`]); `description` says why in words a person can act on.
///
/// Descriptions are fixed texts or name configured values only: they never
/// repeat bytes from the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {description}")]
pub struct TokenError {
    /// The machine reason code.
    pub reason: Reason,
    /// What is wrong, for a person (goes into `error_description`).
    pub description: Cow<'static, str>,
    /// Set on an unknown `kid` (at most once per cooldown per issuer): the
    /// issuer whose JWK Set the host should fetch again and hand to
    /// [`TokenValidator::set_jwks`](crate::token::TokenValidator::set_jwks).
    pub refresh_jwks: Option<String>,
    /// For `insufficient_scope`: the scopes the request needs,
    /// space-separated (the challenge's `scope` attribute).
    pub scope: Option<String>,
}

impl TokenError {
    /// An error with a fixed description.
    pub fn new(reason: Reason, description: &'static str) -> Self {
        Self {
            reason,
            description: Cow::Borrowed(description),
            refresh_jwks: None,
            scope: None,
        }
    }

    /// An error with the reason's generic description.
    pub fn from_reason(reason: Reason) -> Self {
        Self::new(reason, reason.description())
    }

    /// The HTTP status (401 for token failures, 403 for missing scopes).
    pub fn status(&self) -> u16 {
        self.reason.status()
    }

    /// The `WWW-Authenticate` value for this refusal, pointing clients at
    /// the RFC 9728 metadata document.
    pub fn www_authenticate(&self, resource_metadata_url: Option<&str>) -> Option<String> {
        www_authenticate(
            self.reason,
            Some(&self.description),
            self.scope.as_deref(),
            resource_metadata_url,
        )
    }
}

/// Key material was refused: a JWK Set or PEM key that cannot be used.
/// Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The JWK Set text is not JSON of the JWK Set shape.
    #[error("invalid JWK Set at {path}: {message}")]
    InvalidJwkSet {
        /// JSON path inside the set, e.g. `keys[1].kty`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// One key cannot be used.
    #[error("invalid key at {path}: {message}")]
    InvalidKey {
        /// JSON path of the offending member, e.g. `keys[2].crv` or `pem_keys[0].pem`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// `set_jwks` named an issuer that is not configured.
    #[error("issuer {0:?} is not configured")]
    UnknownIssuer(String),
}

impl KeyError {
    pub(crate) fn key(path: impl Into<String>, message: impl Into<String>) -> Self {
        KeyError::InvalidKey {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The JSON path of the offending value (empty for an unknown issuer).
    pub fn path(&self) -> &str {
        match self {
            KeyError::InvalidJwkSet { path, .. } | KeyError::InvalidKey { path, .. } => path,
            KeyError::UnknownIssuer(_) => "",
        }
    }

    /// This error as a configuration error under `prefix` (e.g. `issuers[0].jwks`).
    pub fn into_config_error(self, prefix: &str) -> crate::ConfigError {
        let message = match &self {
            KeyError::InvalidJwkSet { message, .. } | KeyError::InvalidKey { message, .. } => {
                message.clone()
            }
            KeyError::UnknownIssuer(_) => self.to_string(),
        };
        crate::ConfigError::new(crate::error::join_path(prefix, self.path()), message)
    }
}
