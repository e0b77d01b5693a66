//! The plain objects that cross the boundary, in JavaScript's camelCase:
//! requests in, decisions, principals, rate decisions, audit events and
//! counters out (the shapes of `spec/config.md`).

use mcpguard::guard::{AuditEvent, Counters, Decision};
use mcpguard::ratelimit::RateDecision;
use mcpguard::token::Principal;
use napi::bindgen_prelude::{Either, Null};
use napi_derive::napi;

/// `null` for `None`: the decision shape has explicit nulls, where a napi
/// object would leave an `Option` field out.
fn nullable<T>(value: Option<T>) -> Either<T, Null> {
    value.map_or(Either::B(Null), Either::A)
}

/// The client's filter: exactly one of `tags` (1MCP's `tags` query
/// parameter), `tagFilter` (`tag-filter`) or `preset`. `null` reads as
/// absent, as JavaScript callers expect (hence `Option<Option<_>>`: the
/// outer for a missing key, the inner for `null`).
#[napi(object)]
pub struct FilterInput {
    /// A comma list of tags, meaning OR.
    pub tags: Option<Option<String>>,
    /// An advanced expression (`web AND (api OR db)`).
    pub tag_filter: Option<Option<String>>,
    /// The name of a configured preset.
    pub preset: Option<Option<String>>,
}

/// One request to authorize; every field is optional (`null` or absent,
/// as in [`FilterInput`]).
#[napi(object)]
pub struct AuthorizeRequest {
    /// The raw `Authorization` header value.
    pub authorization: Option<Option<String>>,
    /// The target server.
    pub server: Option<Option<String>>,
    /// The target tool on that server.
    pub tool: Option<Option<String>>,
    /// The client's tag filter.
    pub filter: Option<Option<FilterInput>>,
    /// The host's fallback rate-limit key (e.g. the client's IP address).
    pub key: Option<Option<String>>,
    /// Rate-limit cost (a whole number, at least 1; default 1).
    pub cost: Option<Option<f64>>,
}

/// Who a valid token speaks for.
#[napi(object)]
pub struct PrincipalObject {
    /// `sub`.
    pub subject: Either<String, Null>,
    /// `client_id` (or `azp`).
    pub client_id: Either<String, Null>,
    /// `iss`.
    pub issuer: String,
    /// `aud`, as a list.
    pub audience: Vec<String>,
    /// The token's scopes.
    pub scopes: Vec<String>,
    /// Granted tags: the token's `tag:` scopes, then those its roles add.
    pub tags: Vec<String>,
    /// Role names from `auth.role_claim`.
    pub roles: Vec<String>,
    /// `exp` in Unix seconds.
    pub expires_at: Either<i64, Null>,
    /// `jti`.
    pub jwt_id: Either<String, Null>,
}

impl From<&Principal> for PrincipalObject {
    fn from(p: &Principal) -> Self {
        PrincipalObject {
            subject: nullable(p.subject.clone()),
            client_id: nullable(p.client_id.clone()),
            issuer: p.issuer.clone(),
            audience: p.audience.clone(),
            scopes: p.scopes.clone(),
            tags: p.tags.clone(),
            roles: p.roles.clone(),
            expires_at: nullable(p.expires_at),
            jwt_id: nullable(p.jwt_id.clone()),
        }
    }
}

/// The rate-limit figures of a decision.
#[napi(object)]
pub struct RateLimitObject {
    /// The limit's quota per window (or the bucket's burst).
    pub limit: i64,
    /// Requests left before this limit denies.
    pub remaining: i64,
    /// Seconds until the full quota is back.
    pub reset: f64,
    /// Seconds until a denied request would pass; `null` when allowed or
    /// when no wait helps.
    pub retry_after: Either<f64, Null>,
    /// The limit's name: `default`, a role or a rule.
    pub policy: String,
}

/// One decision, in the shape of `config.md` with camelCase keys.
#[napi(object)]
pub struct DecisionObject {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// 200, 400, 401, 403 or 429.
    pub status: u32,
    /// The OAuth error of a refusal.
    pub error: Either<String, Null>,
    /// A description of a refusal a person can act on.
    pub error_description: Either<String, Null>,
    /// The machine reason of a refusal.
    pub reason: Either<String, Null>,
    /// `[name, value]` pairs to send.
    pub headers: Vec<Vec<String>>,
    /// Who the token speaks for, when it was valid.
    pub principal: Either<PrincipalObject, Null>,
    /// The servers visible with this filter, in configuration order.
    pub visible_servers: Vec<String>,
    /// The rate-limit figures, when rate limiting ran.
    pub rate_limit: Either<RateLimitObject, Null>,
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<&Decision> for DecisionObject {
    fn from(d: &Decision) -> Self {
        DecisionObject {
            allowed: d.allowed,
            status: u32::from(d.status),
            error: nullable(d.error.map(|e| e.as_str().to_string())),
            error_description: nullable(d.error_description.clone()),
            reason: nullable(d.reason.map(|r| r.code().to_string())),
            headers: d
                .headers
                .iter()
                .map(|(n, v)| vec![(*n).to_string(), v.clone()])
                .collect(),
            principal: nullable(d.principal.as_deref().map(PrincipalObject::from)),
            visible_servers: d.visible_servers.iter().map(|s| s.to_string()).collect(),
            rate_limit: nullable(d.rate_limit.as_ref().map(|r| RateLimitObject {
                limit: saturating_i64(r.limit),
                remaining: saturating_i64(r.remaining),
                reset: r.reset,
                retry_after: nullable(r.retry_after),
                policy: r.policy.to_string(),
            })),
        }
    }
}

/// One rate-limit check.
#[napi(object)]
pub struct RateDecisionObject {
    /// The request may proceed (and was counted).
    pub allowed: bool,
    /// The limit's capacity.
    pub limit: i64,
    /// Requests left now.
    pub remaining: i64,
    /// Seconds until the full quota is back.
    pub reset: f64,
    /// Seconds until a denied request would pass, or `null`.
    pub retry_after: Either<f64, Null>,
    /// Denied because the cost exceeds what the limit can ever admit.
    pub never: bool,
    /// The limit's name.
    pub policy: String,
}

impl From<&RateDecision> for RateDecisionObject {
    fn from(d: &RateDecision) -> Self {
        RateDecisionObject {
            allowed: d.allowed,
            limit: saturating_i64(d.limit),
            remaining: saturating_i64(d.remaining),
            reset: d.reset,
            retry_after: nullable(d.retry_after),
            never: d.never,
            policy: d.policy.to_string(),
        }
    }
}

/// One audit event.
#[napi(object)]
pub struct AuditEventObject {
    /// Unix seconds (fractional) on the Guard's clock.
    pub time: f64,
    /// `auth_success`, `auth_failure`, `access_denied` or `rate_limited`.
    pub kind: String,
    /// The reason code of a refusal.
    pub reason: Either<String, Null>,
    /// The principal's client id.
    pub client_id: Either<String, Null>,
    /// The principal's subject.
    pub subject: Either<String, Null>,
    /// The principal's issuer.
    pub issuer: Either<String, Null>,
    /// The request's server.
    pub server: Either<String, Null>,
    /// The request's tool.
    pub tool: Either<String, Null>,
    /// `tag:` scopes that would have granted what was refused.
    pub missing_scopes: Vec<String>,
    /// Scopes of the token that grant nothing here.
    pub rejected_scopes: Vec<String>,
    /// The first 8 bytes of the token's SHA-256, in hex.
    pub token_fingerprint: Either<String, Null>,
}

impl From<&AuditEvent> for AuditEventObject {
    fn from(e: &AuditEvent) -> Self {
        AuditEventObject {
            time: e.time,
            kind: e.kind.as_str().to_string(),
            reason: nullable(e.reason.map(|r| r.code().to_string())),
            client_id: nullable(e.client_id().map(str::to_string)),
            subject: nullable(e.subject().map(str::to_string)),
            issuer: nullable(e.issuer().map(str::to_string)),
            server: nullable(e.server.clone()),
            tool: nullable(e.tool.clone()),
            missing_scopes: e.missing_scopes.clone(),
            rejected_scopes: e.rejected_scopes.clone(),
            token_fingerprint: nullable(e.token_fingerprint.clone()),
        }
    }
}

/// A snapshot of the Guard's counters.
#[napi(object)]
pub struct CountersObject {
    /// Requests allowed.
    pub allowed: i64,
    /// Refusals per reason code.
    pub denied: std::collections::HashMap<String, i64>,
    /// All refusals.
    pub denied_total: i64,
    /// Validations the verified-token cache answered.
    pub cache_hits: i64,
    /// Validations that checked a signature (or failed before).
    pub cache_misses: i64,
    /// Audit events dropped because the ring was full.
    pub audit_dropped: i64,
    /// Audit sink calls that failed.
    pub audit_sink_panics: i64,
}

impl From<&Counters> for CountersObject {
    fn from(c: &Counters) -> Self {
        CountersObject {
            allowed: saturating_i64(c.allowed),
            denied: c
                .denied
                .iter()
                .map(|(r, n)| (r.code().to_string(), saturating_i64(*n)))
                .collect(),
            denied_total: saturating_i64(c.denied_total()),
            cache_hits: saturating_i64(c.cache_hits),
            cache_misses: saturating_i64(c.cache_misses),
            audit_dropped: saturating_i64(c.audit_dropped),
            audit_sink_panics: saturating_i64(c.audit_sink_panics),
        }
    }
}
