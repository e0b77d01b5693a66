//! The plain objects that cross the boundary off the hot path, in
//! JavaScript's camelCase: rate decisions, audit events and counters
//! (decisions and principals travel flat, see [`crate::flat`]).

use mcpguard::guard::{AuditEvent, Counters};
use mcpguard::ratelimit::RateDecision;
use napi::bindgen_prelude::{Either, Null};
use napi_derive::napi;

/// `null` for `None`: the decision shape has explicit nulls, where a napi
/// object would leave an `Option` field out.
fn nullable<T>(value: Option<T>) -> Either<T, Null> {
    value.map_or(Either::B(Null), Either::A)
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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
    /// `auth_success`, `auth_failure`, `access_denied`, `rate_limited`, an
    /// authorization-server step, or a fetcher's `jwks_fetched`,
    /// `jwks_failed`, `keys_rotated`, `introspection_called`,
    /// `introspection_failed`.
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
            server: nullable(e.server.as_deref().map(str::to_owned)),
            tool: nullable(e.tool.as_deref().map(str::to_owned)),
            missing_scopes: e.missing_scopes.clone(),
            rejected_scopes: e.rejected_scopes.clone(),
            token_fingerprint: nullable(e.token_fingerprint.as_deref().map(str::to_string)),
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
    /// JWK Sets fetched from a `jwks_uri` (or discovery) and accepted.
    pub jwks_fetches: i64,
    /// JWK Set fetches that failed or were refused (the keys in force stayed).
    pub jwks_fetch_failures: i64,
    /// Key sets applied (each rotation, the first load included).
    pub jwks_updates: i64,
    /// Calls to the introspection endpoint.
    pub introspection_calls: i64,
    /// Introspection calls that gave no usable answer.
    pub introspection_failures: i64,
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
            jwks_fetches: saturating_i64(c.remote.jwks_fetches),
            jwks_fetch_failures: saturating_i64(c.remote.jwks_fetch_failures),
            jwks_updates: saturating_i64(c.remote.jwks_updates),
            introspection_calls: saturating_i64(c.remote.introspection_calls),
            introspection_failures: saturating_i64(c.remote.introspection_failures),
        }
    }
}
