//! The Guard's answer to one request.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::json::seconds;
use crate::ratelimit::RateDecision;
use crate::reason::{OAuthError, Reason};
use crate::token::Principal;

/// One decision: allowed, or refused with everything the host needs to
/// answer the client (status, OAuth error, description, headers).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// HTTP status: 200, 400, 401, 403 or 429.
    pub status: u16,
    /// The OAuth error of a refusal.
    pub error: Option<OAuthError>,
    /// A description of a refusal a person can act on.
    pub error_description: Option<String>,
    /// The machine reason of a refusal.
    pub reason: Option<Reason>,
    /// Headers to send: `WWW-Authenticate` on 400/401/403, the rate-limit
    /// headers in the configured format, `Retry-After` on 429.
    pub headers: Vec<(&'static str, String)>,
    /// Who the token speaks for, when it was valid (`None` for anonymous
    /// requests and authentication failures).
    pub principal: Option<Arc<Principal>>,
    /// The servers this principal may see with this filter, in configuration
    /// order (empty on a refusal before access was decided).
    pub visible_servers: Vec<Arc<str>>,
    /// The rate-limit figures, when rate limiting ran: the limit with the
    /// fewest remaining requests, or on a denial the one that denied.
    pub rate_limit: Option<RateDecision>,
    /// The `tag:` scopes that would grant what was refused. For the host's
    /// logs and tooling, never for the client: it would tell the client which
    /// servers exist.
    pub missing_scopes: Vec<String>,
}

impl Decision {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decision in the JSON shape of `config.md`.
    pub fn to_json(&self) -> Value {
        let headers: Vec<Value> = self.headers.iter().map(|(n, v)| json!([n, v])).collect();
        json!({
            "allowed": self.allowed,
            "status": self.status,
            "error": self.error.map(OAuthError::as_str),
            "error_description": self.error_description,
            "reason": self.reason.map(Reason::code),
            "headers": headers,
            "principal": self.principal.as_deref().map(principal_json),
            "visible_servers": self.visible_servers.iter().map(|s| &**s).collect::<Vec<_>>(),
            "rate_limit": self.rate_limit.as_ref().map(|r| json!({
                "limit": r.limit,
                "remaining": r.remaining,
                "reset": seconds(r.reset),
                "retry_after": r.retry_after.map(seconds),
                "policy": r.policy,
            })),
        })
    }
}

/// A principal in the JSON shape of `config.md`
/// (`subject`, `client_id`, `issuer`, `scopes`, `tags`, `roles`, `expires_at`),
/// plus `kind` (`jwt`, `opaque`, `introspected`; first), `audience` and
/// `jwt_id`.
pub fn principal_json(p: &Principal) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!(p.kind.as_str()));
    m.insert("subject".into(), json!(p.subject));
    m.insert("client_id".into(), json!(p.client_id));
    m.insert("issuer".into(), json!(p.issuer));
    m.insert("audience".into(), json!(p.audience));
    m.insert("scopes".into(), json!(p.scopes));
    m.insert("tags".into(), json!(p.tags));
    m.insert("roles".into(), json!(p.roles));
    m.insert("expires_at".into(), json!(p.expires_at));
    m.insert("jwt_id".into(), json!(p.jwt_id));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_case_insensitively() {
        let d = Decision {
            allowed: false,
            status: 429,
            error: Some(OAuthError::RateLimited),
            error_description: None,
            reason: Some(Reason::RateLimited),
            headers: vec![("Retry-After", "3".into())],
            principal: None,
            visible_servers: vec![],
            rate_limit: None,
            missing_scopes: vec![],
        };
        assert_eq!(d.header("retry-after"), Some("3"));
        assert_eq!(d.to_json()["headers"], json!([["Retry-After", "3"]]));
        assert_eq!(d.to_json()["error"], json!("rate_limited"));
    }
}
