//! The engines on their own: `TokenValidator`, `TagFilter`, the scope
//! helpers and `RateLimiter`, for hosts that need one piece without a Guard.

use std::sync::Arc;

use mcpguard::access::{self, Filter};
use mcpguard::clock::{Clock, SystemClock};
use mcpguard::ratelimit::{Algorithm, Limiter, Quota};
use mcpguard::token;
use mcpguard::token::opaque::OpaqueEntry;
use napi::Env;
use napi::bindgen_prelude::Unknown;
use napi_derive::napi;
use serde_json::Value;

use crate::clock::ManualClock;
use crate::convert::RateDecisionObject;
use crate::errors;
use crate::fastcall;
use crate::flat::{FlatBuilder, FlatText};

fn clock_of(clock: Option<&ManualClock>) -> Arc<dyn Clock> {
    match clock {
        Some(c) => Arc::new(c.inner.clone()),
        None => Arc::new(SystemClock),
    }
}

/// Bearer-token validation alone, from the `auth` object of a configuration.
#[napi]
pub struct TokenValidator {
    inner: token::TokenValidator,
}

#[napi]
impl TokenValidator {
    /// A validator for the `auth` object (JSON text), with `resource` as
    /// the default audience.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        auth_json: String,
        resource: String,
        clock: Option<&ManualClock>,
    ) -> napi::Result<Self> {
        token::TokenValidator::from_json(&auth_json, &resource, clock_of(clock))
            .map(|inner| TokenValidator { inner })
            .map_err(|e| errors::config(&e.within("auth")))
    }

    /// Validates a bare token; throws `InvalidTokenError` (or
    /// `InsufficientScopeError` for `required_scopes`). Returns the
    /// principal in the flat layout of [`crate::flat`].
    #[napi(ts_return_type = "string", catch_unwind)]
    pub fn validate_flat(&self, token: String) -> napi::Result<FlatText> {
        let p = self
            .inner
            .validate(&token)
            .map_err(|e| errors::token(&e, None))?;
        Ok(FlatBuilder::principal_text(&p))
    }

    /// Revokes a token until it would have expired anyway.
    #[napi(catch_unwind)]
    pub fn revoke(&self, token: String) -> napi::Result<()> {
        self.inner
            .revoke(&token)
            .map_err(|e| errors::revoke(&e, None))
    }

    /// Stores an opaque token the host issued (`opaque_tokens` on), as
    /// `Guard.insertOpaque` does.
    #[napi(catch_unwind)]
    pub fn insert_opaque(&self, token: String, entry_json: String) -> napi::Result<()> {
        insert_opaque(&self.inner, &token, &entry_json)
    }

    /// Turns an RFC 7662 introspection response (JSON text) into a
    /// principal in the flat layout of [`crate::flat`]; a refusal throws as
    /// `validateFlat` does.
    #[napi(ts_return_type = "string", catch_unwind)]
    pub fn validate_introspection_flat(&self, response_json: String) -> napi::Result<FlatText> {
        introspection_flat(&self.inner, &response_json, None)
    }

    /// Replaces an issuer's JWK Set (key rotation).
    #[napi(catch_unwind)]
    pub fn set_jwks(&self, issuer: String, jwks_json: String) -> napi::Result<()> {
        self.inner
            .set_jwks(&issuer, &jwks_json)
            .map_err(|e| errors::key(&e))
    }
}

/// A parsed 1MCP tag filter.
#[napi]
pub struct TagFilter {
    inner: Filter,
}

#[napi]
impl TagFilter {
    /// Parses a filter of one `kind`: `tags` (1MCP's `tags` parameter, a
    /// comma list meaning OR), `expression` (`tag-filter`:
    /// `web AND (api OR db)`) or `query` (a preset's `tag_query` object).
    /// `index.js` calls it for `TagFilter.parseTags`, `parseExpression` and
    /// `fromQuery`.
    #[napi(constructor, catch_unwind)]
    pub fn new(kind: String, source: Value) -> napi::Result<TagFilter> {
        let text = || {
            source.as_str().ok_or_else(|| {
                errors::invalid_argument(format!("a {kind} filter must be a string"))
            })
        };
        let parsed = match kind.as_str() {
            "tags" => Filter::parse_tags(text()?),
            "expression" => Filter::parse_expression(text()?),
            "query" => Filter::from_query(&source),
            other => {
                return Err(errors::invalid_argument(format!(
                    "unknown filter kind {other:?}"
                )));
            }
        };
        parsed
            .map(|inner| TagFilter { inner })
            .map_err(|e| errors::filter(&e))
    }

    /// Whether a server with these tags matches.
    #[napi(catch_unwind)]
    pub fn matches(&self, server_tags: Vec<String>) -> bool {
        self.inner.matches_tags(&server_tags)
    }

    /// The normalised tags the filter mentions, first-seen order.
    #[napi(catch_unwind)]
    pub fn tags(&self) -> Vec<String> {
        self.inner.tags()
    }

    /// The filter in the advanced syntax.
    #[napi(js_name = "toString", catch_unwind)]
    pub fn to_js_string(&self) -> String {
        self.inner.to_string()
    }
}

/// The result of `validateScopes`.
#[napi(object)]
pub struct ScopeValidation {
    /// Whether every requested scope is valid and available.
    pub ok: bool,
    /// The normalised scopes (empty when `ok` is false).
    pub scopes: Vec<String>,
    /// 1MCP's messages, one per problem.
    pub errors: Vec<String>,
}

/// Checks requested scopes against the tags a server offers, as 1MCP's
/// authorization server does.
#[napi(catch_unwind)]
pub fn validate_scopes(requested: Vec<String>, available_tags: Vec<String>) -> ScopeValidation {
    match access::validate_scopes(&requested, &available_tags) {
        Ok(scopes) => ScopeValidation {
            ok: true,
            scopes,
            errors: Vec::new(),
        },
        Err(errors) => ScopeValidation {
            ok: false,
            scopes: Vec::new(),
            errors,
        },
    }
}

/// The tags named by `tag:` scopes, normalised, without repeats.
#[napi(catch_unwind)]
pub fn scopes_to_tags(scopes: Vec<String>) -> Vec<String> {
    access::scopes_to_tags(&scopes)
}

/// `tag:<t>` for each tag.
#[napi(catch_unwind)]
pub fn tags_to_scopes(tags: Vec<String>) -> Vec<String> {
    access::tags_to_scopes(&tags)
}

/// The scopes a framework that checks scopes itself must see for a
/// principal (the SDK's `AuthInfo.scopes`): its own, then the `tag:`
/// scopes its roles grant. Decided by the core.
#[napi(catch_unwind)]
pub fn effective_scopes(scopes: Vec<String>, tags: Vec<String>) -> Vec<String> {
    mcpguard::token::effective_scopes(&scopes, &tags)
}

/// A rate limiter's settings (the keys of a `rate_limit` object); `null`
/// reads as absent.
#[napi(object)]
pub struct RateLimiterOptions {
    /// `fixed_window` (default), `sliding_window` or `token_bucket`.
    pub algorithm: Option<Option<String>>,
    /// Requests per window.
    pub limit: f64,
    /// The window in seconds.
    pub window_seconds: f64,
    /// `token_bucket` only: requests at once (default `limit`).
    pub burst: Option<Option<f64>>,
    /// Keys tracked at most (default 100000).
    pub max_keys: Option<Option<f64>>,
}

fn count(value: f64, field: &str) -> napi::Result<u64> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= u64::MAX as f64 {
        Ok(value as u64)
    } else {
        Err(errors::config(&mcpguard::ConfigError::new(
            field,
            format!("must be a whole number, got {value}"),
        )))
    }
}

/// One keyed limiter: one algorithm, one quota, bounded memory.
#[napi]
pub struct RateLimiter {
    inner: Arc<Limiter>,
}

#[napi]
impl RateLimiter {
    /// A limiter with these settings, on `clock` or the system clock.
    #[napi(constructor, catch_unwind)]
    pub fn new(options: RateLimiterOptions, clock: Option<&ManualClock>) -> napi::Result<Self> {
        let name = options.algorithm.flatten();
        let name = name.as_deref().unwrap_or("fixed_window");
        let algorithm = Algorithm::from_name(name).ok_or_else(|| {
            errors::config(&mcpguard::ConfigError::new(
                "algorithm",
                format!(
                    "unknown algorithm {name:?}; use fixed_window, sliding_window or token_bucket"
                ),
            ))
        })?;
        let limit = count(options.limit, "limit")?;
        let burst = options
            .burst
            .flatten()
            .map(|b| count(b, "burst"))
            .transpose()?;
        let max_keys = match options.max_keys.flatten() {
            Some(m) => usize::try_from(count(m, "max_keys")?).unwrap_or(usize::MAX),
            None => 100_000,
        };
        let quota_error = |e: mcpguard::ratelimit::QuotaError| {
            errors::config(&mcpguard::ConfigError::new(e.field(), e))
        };
        let quota =
            Quota::new(algorithm, limit, options.window_seconds, burst).map_err(quota_error)?;
        let inner =
            Limiter::new(algorithm, quota, max_keys, clock_of(clock)).map_err(quota_error)?;
        Ok(RateLimiter {
            inner: Arc::new(inner),
        })
    }

    /// The function `index.js` wraps as `limiter.check`, and the
    /// Float64Array it writes into: `check(key[, cost])` counts a request
    /// of `cost` (default 1) for `key` when it passes; the array then holds
    /// `limit`, `remaining`, `reset`, `retryAfter` (NaN for none), `never`
    /// and `allowed` (0 or 1). Plain Node-API underneath, for speed (see
    /// `fastcall.rs`); `external: false` keeps the results in a buffer of
    /// V8's, the layout used by itself where a runtime refuses external
    /// buffers.
    #[napi(
        ts_return_type = "[check: (key: string, cost?: number | null) => void, results: Float64Array]",
        catch_unwind
    )]
    pub fn checker<'env>(
        &self,
        env: &'env Env,
        external: bool,
    ) -> napi::Result<Vec<Unknown<'env>>> {
        fastcall::checker(env, Arc::clone(&self.inner), external)
    }

    /// What a request of cost 1 would get now, counting nothing.
    #[napi(catch_unwind)]
    pub fn peek(&self, key: String) -> RateDecisionObject {
        RateDecisionObject::from(&self.inner.peek(&key))
    }

    /// Gives `key` its full quota back.
    #[napi(catch_unwind)]
    pub fn reset(&self, key: String) {
        self.inner.reset(&key);
    }

    /// How many keys are tracked now.
    #[napi(getter, catch_unwind)]
    pub fn tracked_keys(&self) -> u32 {
        u32::try_from(self.inner.tracked_keys()).unwrap_or(u32::MAX)
    }
}

/// Stores an opaque token in `validator`'s store, the entry given as JSON
/// text with the core's member names (`Guard.insertOpaque` and
/// `TokenValidator.insertOpaque` both come here).
pub(crate) fn insert_opaque(
    validator: &token::TokenValidator,
    token: &str,
    entry_json: &str,
) -> napi::Result<()> {
    let entry =
        OpaqueEntry::from_json(entry_json).map_err(|e| errors::argument_shape("entry", &e))?;
    validator
        .insert_opaque(token, entry)
        .map_err(|e| errors::opaque(&e))
}

/// An introspection response's principal in the flat layout; a refusal's
/// challenge names `metadata_url` when there is one (the Guard's).
pub(crate) fn introspection_flat(
    validator: &token::TokenValidator,
    response_json: &str,
    metadata_url: Option<&str>,
) -> napi::Result<FlatText> {
    let p = validator
        .validate_introspection(response_json)
        .map_err(|e| errors::token(&e, metadata_url))?;
    Ok(FlatBuilder::principal_text(&p))
}
