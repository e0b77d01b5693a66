//! Reason codes: why a request was refused, mapped once to an OAuth error,
//! an HTTP status and a `WWW-Authenticate` challenge.
//!
//! The codes are the contract of `spec/conformance.md`; every engine reports
//! its refusals with one of them and nothing else decides status or header.

use std::fmt::{self, Write as _};

/// Why a request was refused. `Display` gives the machine code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No bearer token was presented.
    MissingToken,
    /// The token or the `Authorization` header is not well formed.
    Malformed,
    /// The token is longer than `auth.max_token_bytes`.
    TooLarge,
    /// The token's `alg` is `none`, unknown, or not allowed for the issuer or key.
    AlgorithmNotAllowed,
    /// No configured key matches the token's issuer and `kid`.
    UnknownKey,
    /// The signature is empty or does not verify.
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    NotYetValid,
    /// `iss` names no configured issuer.
    WrongIssuer,
    /// `aud` names none of the issuer's audiences.
    WrongAudience,
    /// A required claim (`exp`, `iss`, …) is absent.
    MissingClaim,
    /// The `typ` header is not the required one.
    WrongType,
    /// The header lists a `crit` extension this library does not implement.
    UnsupportedCriticalHeader,
    /// The token (or its `jti`) was revoked.
    Revoked,
    /// An opaque or introspected token is unknown or inactive.
    Inactive,
    /// The token lacks a scope the request needs.
    InsufficientScope,
    /// The client's tag filter does not parse.
    InvalidFilter,
    /// The client asked for a preset that is not configured.
    UnknownPreset,
    /// The request itself is invalid (bad cost, tool without server, two filters).
    InvalidRequest,
    /// A rate limit denied the request.
    RateLimited,
    /// The shared store (Redis) did not answer in time and `on_error` is
    /// `fail_closed` (503).
    StoreUnavailable,
}

/// The OAuth error (RFC 6750 §3.1) a reason maps to, plus `rate_limited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OAuthError {
    /// `invalid_request` (400).
    InvalidRequest,
    /// `invalid_token` (401).
    InvalidToken,
    /// `insufficient_scope` (403).
    InsufficientScope,
    /// `rate_limited` (429); not an RFC 6750 code, never put in a challenge.
    RateLimited,
    /// `temporarily_unavailable` (503, RFC 6749 §4.1.2.1): the shared store
    /// could not answer; never put in a challenge.
    TemporarilyUnavailable,
}

impl OAuthError {
    /// The wire code, e.g. `invalid_token`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OAuthError::InvalidRequest => "invalid_request",
            OAuthError::InvalidToken => "invalid_token",
            OAuthError::InsufficientScope => "insufficient_scope",
            OAuthError::RateLimited => "rate_limited",
            OAuthError::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Reason {
    /// Every reason, in the order of `spec/conformance.md`.
    pub const ALL: [Reason; 21] = [
        Reason::MissingToken,
        Reason::Malformed,
        Reason::TooLarge,
        Reason::AlgorithmNotAllowed,
        Reason::UnknownKey,
        Reason::BadSignature,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::WrongIssuer,
        Reason::WrongAudience,
        Reason::MissingClaim,
        Reason::WrongType,
        Reason::UnsupportedCriticalHeader,
        Reason::Revoked,
        Reason::Inactive,
        Reason::InsufficientScope,
        Reason::InvalidFilter,
        Reason::UnknownPreset,
        Reason::InvalidRequest,
        Reason::RateLimited,
        Reason::StoreUnavailable,
    ];

    /// The machine code, e.g. `wrong_audience`.
    pub const fn code(self) -> &'static str {
        match self {
            Reason::MissingToken => "missing_token",
            Reason::Malformed => "malformed",
            Reason::TooLarge => "too_large",
            Reason::AlgorithmNotAllowed => "algorithm_not_allowed",
            Reason::UnknownKey => "unknown_key",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::MissingClaim => "missing_claim",
            Reason::WrongType => "wrong_type",
            Reason::UnsupportedCriticalHeader => "unsupported_critical_header",
            Reason::Revoked => "revoked",
            Reason::Inactive => "inactive",
            Reason::InsufficientScope => "insufficient_scope",
            Reason::InvalidFilter => "invalid_filter",
            Reason::UnknownPreset => "unknown_preset",
            Reason::InvalidRequest => "invalid_request",
            Reason::RateLimited => "rate_limited",
            Reason::StoreUnavailable => "store_unavailable",
        }
    }

    /// Parses a machine code back into a reason.
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The OAuth error this reason is reported as.
    pub const fn oauth_error(self) -> OAuthError {
        match self {
            Reason::InsufficientScope => OAuthError::InsufficientScope,
            Reason::InvalidFilter | Reason::UnknownPreset | Reason::InvalidRequest => {
                OAuthError::InvalidRequest
            }
            Reason::RateLimited => OAuthError::RateLimited,
            Reason::StoreUnavailable => OAuthError::TemporarilyUnavailable,
            _ => OAuthError::InvalidToken,
        }
    }

    /// The HTTP status this reason is reported with.
    pub const fn status(self) -> u16 {
        match self.oauth_error() {
            OAuthError::InvalidRequest => 400,
            OAuthError::InvalidToken => 401,
            OAuthError::InsufficientScope => 403,
            OAuthError::RateLimited => 429,
            OAuthError::TemporarilyUnavailable => 503,
        }
    }

    /// A generic description a person can act on; engines may give a more
    /// specific one.
    pub const fn description(self) -> &'static str {
        match self {
            Reason::MissingToken => "No bearer token was presented",
            Reason::Malformed => "The access token is malformed",
            Reason::TooLarge => "The access token is too large",
            Reason::AlgorithmNotAllowed => "The token's signing algorithm is not allowed",
            Reason::UnknownKey => "The token was signed with an unknown key",
            Reason::BadSignature => "The token's signature is invalid",
            Reason::Expired => "The access token has expired",
            Reason::NotYetValid => "The access token is not yet valid",
            Reason::WrongIssuer => "The token's issuer is not trusted",
            Reason::WrongAudience => "The token was not issued for this resource",
            Reason::MissingClaim => "The token lacks a required claim",
            Reason::WrongType => "The token is not an access token of the required type",
            Reason::UnsupportedCriticalHeader => {
                "The token requires an unsupported critical header extension"
            }
            Reason::Revoked => "The access token has been revoked",
            Reason::Inactive => "The access token is not active",
            Reason::InsufficientScope => "The access token lacks a required scope",
            Reason::InvalidFilter => "The tag filter is invalid",
            Reason::UnknownPreset => "The requested preset does not exist",
            Reason::InvalidRequest => "The request is invalid",
            Reason::RateLimited => "Too many requests",
            Reason::StoreUnavailable => "The shared rate-limit store is unavailable",
        }
    }

    /// Whether the reason belongs to token validation (a 401).
    pub const fn is_token_failure(self) -> bool {
        matches!(self.oauth_error(), OAuthError::InvalidToken)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Builds the `WWW-Authenticate` value for a refusal (RFC 6750 §3 with the
/// RFC 9728 `resource_metadata` parameter).
///
/// A missing token's challenge carries no `error` (RFC 6750 §3.1); a 400, 401
/// or 403 carries `error` and `error_description`; `scope` is added when
/// given. A rate-limit refusal has no bearer challenge: `None`.
/// Quoted values hold only the characters RFC 6750 allows; any other
/// character is replaced by `?`.
///
/// ```
/// use mcpguard::reason::{www_authenticate, Reason};
/// let v = www_authenticate(Reason::MissingToken, None, None, Some("https://x/.well-known/oauth-protected-resource")).unwrap();
/// assert_eq!(v, r#"Bearer resource_metadata="https://x/.well-known/oauth-protected-resource""#);
/// ```
pub fn www_authenticate(
    reason: Reason,
    description: Option<&str>,
    scope: Option<&str>,
    resource_metadata: Option<&str>,
) -> Option<String> {
    if matches!(reason, Reason::RateLimited | Reason::StoreUnavailable) {
        return None;
    }
    let mut out = String::from("Bearer");
    let mut first = true;
    let mut param = |out: &mut String, name: &str, value: &str, allow_space: bool| {
        out.push_str(if first { " " } else { ", " });
        first = false;
        let _ = write!(out, "{name}=\"");
        out.extend(value.chars().map(|c| quoted_char(c, allow_space)));
        out.push('"');
    };
    if reason != Reason::MissingToken {
        param(&mut out, "error", reason.oauth_error().as_str(), false);
        param(
            &mut out,
            "error_description",
            description.unwrap_or(reason.description()),
            true,
        );
        if let Some(scope) = scope.filter(|s| !s.is_empty()) {
            param(&mut out, "scope", scope, true);
        }
    }
    if let Some(url) = resource_metadata {
        param(&mut out, "resource_metadata", url, false);
    }
    Some(out)
}

/// RFC 6750 §3: `error_description` and `scope` values are `%x20-21 /
/// %x23-5B / %x5D-7E` (scope tokens separated by single spaces); `error` and
/// URLs have no spaces.
fn quoted_char(c: char, allow_space: bool) -> char {
    match c {
        ' ' if allow_space => ' ',
        '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E' => c,
        _ => '?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_maps_to_the_spec_status() {
        for r in Reason::ALL {
            assert_eq!(Reason::from_code(r.code()), Some(r));
            let expected = match r.code() {
                "insufficient_scope" => 403,
                "invalid_filter" | "unknown_preset" | "invalid_request" => 400,
                "rate_limited" => 429,
                "store_unavailable" => 503,
                _ => 401,
            };
            assert_eq!(r.status(), expected, "{r}");
        }
        assert_eq!(Reason::from_code("nope"), None);
    }

    #[test]
    fn missing_token_challenge_has_no_error_attribute() {
        let v = www_authenticate(Reason::MissingToken, None, None, Some("https://a/m")).unwrap();
        assert!(!v.contains("error"));
        assert_eq!(v, "Bearer resource_metadata=\"https://a/m\"");
        assert_eq!(
            www_authenticate(Reason::MissingToken, None, None, None).unwrap(),
            "Bearer"
        );
    }

    #[test]
    fn token_failure_challenge_names_error_description_and_metadata() {
        let v = www_authenticate(Reason::Expired, None, None, Some("https://a/m")).unwrap();
        assert_eq!(
            v,
            "Bearer error=\"invalid_token\", error_description=\"The access token has expired\", resource_metadata=\"https://a/m\""
        );
    }

    #[test]
    fn insufficient_scope_challenge_carries_scope() {
        let v = www_authenticate(
            Reason::InsufficientScope,
            Some("Insufficient scopes. Required: web, Granted: db"),
            Some("tag:web"),
            None,
        )
        .unwrap();
        assert!(v.contains("error=\"insufficient_scope\""));
        assert!(v.contains("scope=\"tag:web\""));
    }

    #[test]
    fn quoted_values_never_carry_quotes_backslashes_or_control_characters() {
        let v = www_authenticate(
            Reason::Malformed,
            Some("bad \"quote\" \\ back\r\nslash é"),
            None,
            Some("https://a/\"x"),
        )
        .unwrap();
        assert_eq!(
            v,
            "Bearer error=\"invalid_token\", error_description=\"bad ?quote? ? back??slash ?\", resource_metadata=\"https://a/?x\""
        );
    }

    #[test]
    fn rate_limited_has_no_bearer_challenge() {
        assert_eq!(
            www_authenticate(Reason::RateLimited, None, None, None),
            None
        );
    }
}
