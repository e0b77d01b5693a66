//! `Guard`: the core's `Guard` for JavaScript.
//!
//! Every method is one core call plus conversion. The audit sink is a
//! napi `ThreadsafeFunction`: the core calls it on whichever thread
//! authorizes, and the event reaches the JavaScript callback on the event
//! loop (right after the current call returns, for calls made from
//! JavaScript), never blocking the authorizing thread.

use std::sync::Arc;

use mcpguard::guard::{self, AuditEvent, GuardOptions, Request, RequestError, RequestFilter};
use napi::Env;
use napi::bindgen_prelude::{External, Object};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::Value;

use crate::clock::ManualClock;
use crate::convert::{AuditEventObject, CountersObject, RateDecisionObject};
use crate::flat::{FlatBuilder, FlatText};
use crate::{decide, engines, errors};

/// Token validation, tag access and rate limiting behind one call per
/// request. Build it with `Guard.fromJson` or `Guard.fromFile`.
#[napi]
pub struct Guard {
    inner: guard::Guard,
    /// The I/O its configuration asks for (fetches, the Redis store), kept
    /// alive with the Guard; it also builds the authorization server.
    pub(crate) hosted: mcpguard_host::HostedGuard,
}

fn options(clock: Option<&ManualClock>) -> GuardOptions {
    match clock {
        Some(c) => GuardOptions::with_clock(c.inner.clone()),
        None => GuardOptions::default(),
    }
}

#[napi]
impl Guard {
    /// Builds a Guard from configuration text (`config.md`), or with
    /// `isFile` from the file at that path (relative `jwks_file` paths
    /// resolve against its folder, and the environment overrides apply), on
    /// `clock` or the system clock. `index.js` calls it for `Guard.fromJson`
    /// and `Guard.fromFile`.
    #[napi(constructor, catch_unwind)]
    pub fn new(source: String, is_file: bool, clock: Option<&ManualClock>) -> napi::Result<Guard> {
        let config = if is_file {
            let mut config = mcpguard::config::GuardConfig::from_file(&source)
                .map_err(|e| errors::config(&e))?;
            config
                .apply_env(&|name| std::env::var(name).ok())
                .map_err(|e| errors::config(&e))?;
            config
        } else {
            mcpguard::config::GuardConfig::from_json(&source).map_err(|e| errors::config(&e))?
        };
        let hosted = mcpguard_host::HostedGuard::build(config, options(clock))
            .map_err(|e| errors::config(&e))?;
        Ok(Guard {
            inner: hosted.guard().clone(),
            hosted,
        })
    }

    /// The handle the hot-path functions ([`guard_authorize`],
    /// [`guard_validate`]) take: plain functions over an external skip the
    /// class-receiver checks a method call pays (about 0.2 µs).
    #[napi(catch_unwind)]
    pub fn handle(&self) -> External<guard::Guard> {
        External::new(self.inner.clone())
    }

    /// Revokes a token until it would have expired anyway.
    #[napi(catch_unwind)]
    pub fn revoke(&self, token: String) -> napi::Result<()> {
        self.inner
            .revoke(&token)
            .map_err(|e| errors::revoke(&e, Some(self.inner.metadata_url())))
    }

    /// Stores an opaque token the host issued (`auth.opaque_tokens` on):
    /// `entryJson` is the entry with the core's snake_case members
    /// (`index.js` writes it from the camelCase object of
    /// `guard.insertOpaque`). The store keeps the token's SHA-256, never the
    /// token; `revoke` removes it.
    #[napi(catch_unwind)]
    pub fn insert_opaque(&self, token: String, entry_json: String) -> napi::Result<()> {
        engines::insert_opaque(self.inner.token_validator(), &token, &entry_json)
    }

    /// Turns an RFC 7662 introspection response (JSON text) the host
    /// fetched into a principal, tags filled, in the flat layout of
    /// [`crate::flat`] (`index.js` wraps it as `guard.validateIntrospection`);
    /// a refusal throws as [`guard_validate`] does.
    #[napi(ts_return_type = "string", catch_unwind)]
    pub fn validate_introspection_flat(&self, response_json: String) -> napi::Result<FlatText> {
        let validator = self.inner.token_validator();
        engines::introspection_flat(validator, &response_json, Some(self.inner.metadata_url()))
    }

    /// Replaces an issuer's JWK Set (key rotation); a bad set changes nothing.
    #[napi(catch_unwind)]
    pub fn set_jwks(&self, issuer: String, jwks_json: String) -> napi::Result<()> {
        self.inner
            .set_jwks(&issuer, &jwks_json)
            .map_err(|e| errors::key(&e))
    }

    /// The RFC 9728 protected-resource metadata document.
    #[napi(catch_unwind)]
    pub fn metadata_document(&self) -> Value {
        self.inner.metadata_document()
    }

    /// The path the metadata document is served at.
    #[napi(catch_unwind)]
    pub fn metadata_path(&self) -> String {
        self.inner.metadata_path().to_string()
    }

    /// The full URL of the metadata document.
    #[napi(catch_unwind)]
    pub fn metadata_url(&self) -> String {
        self.inner.metadata_url().to_string()
    }

    /// This server's canonical resource URI.
    #[napi(catch_unwind)]
    pub fn resource(&self) -> String {
        self.inner.resource().to_string()
    }

    /// Whether a decision may wait on the network (the Redis store, an
    /// introspection endpoint): `guardMiddleware` then decides off the
    /// event loop unless told otherwise (`Guard::waits_on_network`).
    #[napi(catch_unwind)]
    pub fn waits_on_network(&self) -> bool {
        self.inner.waits_on_network()
    }

    /// Registers the audit callback (replacing any earlier one); `null`
    /// removes it.
    #[napi(catch_unwind)]
    #[allow(clippy::type_complexity)] // spelled out so that the typings name the event type
    pub fn on_audit(
        &self,
        // Weak (a registered callback does not keep the process alive) and
        // called with the event alone (no error-first argument).
        callback: Option<
            ThreadsafeFunction<AuditEventObject, (), AuditEventObject, napi::Status, false, true>,
        >,
    ) {
        let sink = callback.map(|f| {
            let f = Arc::new(f);
            Arc::new(move |event: &AuditEvent| {
                // NonBlocking: the authorizing thread never waits for the
                // event loop (a full queue cannot happen: it is unbounded).
                f.call(
                    AuditEventObject::from(event),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
            }) as guard::AuditSink
        });
        self.inner.on_audit(sink);
    }

    /// Takes the audit events kept in the ring, oldest first.
    #[napi(catch_unwind)]
    pub fn drain_audit(&self) -> Vec<AuditEventObject> {
        self.inner
            .drain_audit()
            .iter()
            .map(AuditEventObject::from)
            .collect()
    }

    /// Every counter in the Prometheus text format (with a Redis store, its
    /// round trips, errors, latency and breaker state too), for a scrape
    /// endpoint.
    #[napi(catch_unwind)]
    pub fn metrics_text(&self) -> String {
        self.inner.metrics_text()
    }

    /// A snapshot of the counters.
    #[napi(catch_unwind)]
    pub fn counters(&self) -> CountersObject {
        CountersObject::from(&self.inner.counters())
    }

    /// Checks and counts one rate limit for a raw key, without
    /// authentication: the rule named `rule`, or the default limit.
    #[napi(catch_unwind)]
    pub fn check_rate_limit(
        &self,
        key: String,
        cost: Option<f64>,
        rule: Option<String>,
    ) -> napi::Result<RateDecisionObject> {
        let cost = whole_cost(cost).map_err(|e| errors::invalid_argument(e.0))?;
        self.inner
            .check_rate_limit(rule.as_deref(), &key, cost)
            .map(|d| RateDecisionObject::from(&d))
            .map_err(errors::invalid_argument)
    }
}

/// The arguments of [`guard_authorize`], owned: what a decision on another
/// thread needs.
struct AuthorizeArgs {
    authorization: Option<String>,
    server: Option<String>,
    tool: Option<String>,
    tags: Option<String>,
    tag_filter: Option<String>,
    preset: Option<String>,
    key: Option<String>,
    cost: Option<f64>,
    query: Option<Vec<Vec<String>>>,
}

impl AuthorizeArgs {
    /// The decision in the flat layout; a badly shaped request is the
    /// core's 400 decision.
    fn decide(&self, guard: &guard::Guard) -> FlatText {
        let filters = [
            self.tags.as_deref().map(RequestFilter::Tags),
            self.tag_filter.as_deref().map(RequestFilter::TagFilter),
            self.preset.as_deref().map(RequestFilter::Preset),
        ];
        let strings = [&self.authorization, &self.server, &self.tool, &self.key];
        let decision = match build_request(strings.map(|s| s.as_deref()), filters, self.cost)
            .and_then(|req| with_query(req, self.query.as_deref()))
        {
            Ok(req) => guard.authorize(&req),
            Err(e) => guard.refuse_request(&e),
        };
        let mut out = FlatBuilder::default();
        out.decision(&decision);
        out.finish()
    }
}

/// Decides one request (`index.js` wraps it as `guard.authorize`). Never
/// throws for a refusal: the decision says why. Returns the flat layout of
/// [`crate::flat`], the principal always in full: it is whatever the core
/// holds now (an opaque token's entry may be replaced at any time), so the
/// wrapper keeps none.
#[napi(ts_return_type = "string", catch_unwind)]
#[allow(clippy::too_many_arguments)] // positional: no property lookups on the hot path
pub fn guard_authorize(
    guard: &External<guard::Guard>,
    authorization: Option<String>,
    server: Option<String>,
    tool: Option<String>,
    tags: Option<String>,
    tag_filter: Option<String>,
    preset: Option<String>,
    key: Option<String>,
    cost: Option<f64>,
    query: Option<Vec<Vec<String>>>,
) -> FlatText {
    AuthorizeArgs {
        authorization,
        server,
        tool,
        tags,
        tag_filter,
        preset,
        key,
        cost,
        query,
    }
    .decide(guard)
}

/// [`guard_authorize`] decided on a thread of mcpguard's own (see
/// [`crate::decide`]), for a Guard whose decisions may wait on the network:
/// a promise of the same flat text (`index.js` wraps it as
/// `guard.authorizeAsync`), rejected only if the decision panicked.
#[napi(ts_return_type = "Promise<string>", catch_unwind)]
#[allow(clippy::too_many_arguments)] // the same arguments as the synchronous call
pub fn guard_authorize_async<'env>(
    env: &'env Env,
    guard: &External<guard::Guard>,
    authorization: Option<String>,
    server: Option<String>,
    tool: Option<String>,
    tags: Option<String>,
    tag_filter: Option<String>,
    preset: Option<String>,
    key: Option<String>,
    cost: Option<f64>,
    query: Option<Vec<Vec<String>>>,
) -> napi::Result<Object<'env>> {
    let args = AuthorizeArgs {
        authorization,
        server,
        tool,
        tags,
        tag_filter,
        preset,
        key,
        cost,
        query,
    };
    let guard = (**guard).clone();
    decide::settle(env, move || args.decide(&guard))
}

/// Validates a bare token (no `Bearer ` prefix) through the cache; the
/// principal's tags are filled. Records no audit event. Returns the
/// principal in the flat layout of [`crate::flat`] (`index.js` wraps it as
/// `guard.validate`).
#[napi(ts_return_type = "string", catch_unwind)]
pub fn guard_validate(guard: &External<guard::Guard>, token: String) -> napi::Result<FlatText> {
    match guard.validate(&token) {
        Ok(p) => Ok(FlatBuilder::principal_text(&p)),
        Err(e) => Err(errors::token(&e, Some(guard.metadata_url()))),
    }
}

/// [`guard_validate`], followed by the time until which the Guard accepts
/// the token (`exp` plus the leeway, `null` for a token without expiry):
/// what an SDK that checks expiry itself must be told, so that it accepts
/// exactly what the Guard accepts (`index.js` wraps it as
/// `guard.validateWithExpiry`).
#[napi(ts_return_type = "string", catch_unwind)]
pub fn guard_validate_with_expiry(
    guard: &External<guard::Guard>,
    token: String,
) -> napi::Result<FlatText> {
    validate_with_expiry(guard, &token)
}

/// [`guard_validate_with_expiry`] on a thread of mcpguard's own (see
/// [`crate::decide`]), for a Guard whose validation may wait on the network
/// (opaque tokens or revocations in Redis, an introspection endpoint): a
/// promise of the same text, rejected as the synchronous call throws
/// (`index.js` wraps it as `guard.validateWithExpiryAsync`).
#[napi(ts_return_type = "Promise<string>", catch_unwind)]
pub fn guard_validate_with_expiry_async<'env>(
    env: &'env Env,
    guard: &External<guard::Guard>,
    token: String,
) -> napi::Result<Object<'env>> {
    let guard = (**guard).clone();
    decide::try_settle(env, move || validate_with_expiry(&guard, &token))
}

/// [`guard_validate_with_expiry`] when the Guard can answer from memory
/// (`Guard::validate_in_memory`: a cached token, no revocation epoch to
/// read), on the event loop; `null` when it would wait, and then nothing
/// was done (`validateWithExpiryAsync` goes to a thread for those).
#[napi(catch_unwind)]
pub fn guard_validate_with_expiry_in_memory(
    guard: &External<guard::Guard>,
    token: String,
) -> napi::Result<Option<FlatText>> {
    match guard.validate_in_memory(&token) {
        Some(result) => principal_with_expiry(guard, result).map(Some),
        None => Ok(None),
    }
}

fn validate_with_expiry(guard: &guard::Guard, token: &str) -> napi::Result<FlatText> {
    principal_with_expiry(guard, guard.validate(token))
}

/// A validation's answer as `validateWithExpiry` returns it: the principal
/// and until when the token is accepted, or the error it throws.
fn principal_with_expiry(
    guard: &guard::Guard,
    result: Result<std::sync::Arc<mcpguard::token::Principal>, mcpguard::token::TokenError>,
) -> napi::Result<FlatText> {
    let p = result.map_err(|e| errors::token(&e, Some(guard.metadata_url())))?;
    let mut out = FlatBuilder::default();
    out.principal(Some(&p));
    out.accepted_until(guard.token_validator().accepted_until(&p));
    Ok(out.finish())
}

pub(crate) fn whole_cost(cost: Option<f64>) -> Result<u64, RequestError> {
    match cost {
        None => Ok(1),
        Some(c) if c.is_finite() && c >= 0.0 && c.fract() == 0.0 && c <= u64::MAX as f64 => {
            Ok(c as u64)
        }
        Some(c) => Err(RequestError(format!(
            "cost must be a whole number of at least 1, got {c}"
        ))),
    }
}

/// The core request for the wrapper's positional arguments
/// (`[authorization, server, tool, key]`, the three filter kinds, the cost).
fn build_request<'a>(
    [authorization, server, tool, key]: [Option<&'a str>; 4],
    filters: [Option<RequestFilter<'a>>; 3],
    cost: Option<f64>,
) -> Result<Request<'a>, RequestError> {
    let mut req = Request::new();
    req.authorization = authorization;
    req.server = server;
    req.tool = tool;
    req.key = key;
    req.cost = whole_cost(cost)?;
    let mut given = filters.into_iter().flatten();
    req.filter = given.next();
    if given.next().is_some() {
        return Err(RequestError(
            "a request may carry only one filter (tags, tagFilter or preset)".into(),
        ));
    }
    Ok(req)
}

/// Reads 1MCP's filter parameters from the request URL's query (`[name,
/// value]` pairs, URL-decoded) the core's way; a filter there besides an
/// explicit one is refused like two explicit ones.
fn with_query<'a>(
    mut req: Request<'a>,
    query: Option<&'a [Vec<String>]>,
) -> Result<Request<'a>, RequestError> {
    let Some(pairs) = query else {
        return Ok(req);
    };
    let mut named = Vec::with_capacity(pairs.len());
    for pair in pairs {
        match pair.as_slice() {
            [name, value] => named.push((name.as_str(), value.as_str())),
            _ => {
                return Err(RequestError(
                    "query entries must be [name, value] pairs".into(),
                ));
            }
        }
    }
    match guard::filter_from_query(named)? {
        Some(_) if req.filter.is_some() => Err(RequestError(
            "a request may carry only one filter (the query names one too)".into(),
        )),
        Some(found) => {
            req.filter = Some(found);
            Ok(req)
        }
        None => Ok(req),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_filters_are_read_by_the_core() {
        let pairs = vec![vec!["tags".to_string(), "web".to_string()]];
        let req = with_query(Request::new(), Some(&pairs)).unwrap();
        assert_eq!(req.filter, Some(RequestFilter::Tags("web")));
        let odd = vec![vec!["tags".to_string()]];
        assert!(with_query(Request::new(), Some(&odd)).is_err());
    }

    #[test]
    fn fractional_negative_and_nan_costs_are_invalid_requests() {
        assert_eq!(whole_cost(None), Ok(1));
        assert_eq!(whole_cost(Some(3.0)), Ok(3));
        assert_eq!(
            whole_cost(Some(0.0)),
            Ok(0),
            "0 reaches the core's own check"
        );
        for bad in [1.5, -1.0, f64::NAN, f64::INFINITY] {
            assert!(whole_cost(Some(bad)).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn a_filter_with_two_kinds_is_an_invalid_request() {
        let filters = [
            Some(RequestFilter::Tags("web")),
            None,
            Some(RequestFilter::Preset("dev")),
        ];
        assert!(build_request([None; 4], filters, None).is_err());
        let one = [None, Some(RequestFilter::TagFilter("web")), None];
        assert!(build_request([None; 4], one, Some(2.0)).is_ok());
    }
}
