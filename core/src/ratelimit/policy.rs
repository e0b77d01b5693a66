//! The Guard's rate-limit policy: the default limit, roles' limits and
//! rules, combined as config.md says.
//!
//! Decides which limits apply to a request and that it passes only if all
//! of them allow it (one atomic update over all their states, so a denial by
//! one limit consumes nothing from the others, even under concurrency).
//! Leaves choosing the key (client id, subject, request key; issuer
//! namespacing) and rejecting a cost below 1 to the Guard.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::config::{HeaderFormat, KeySource, LimitSpec, RateLimitConfig};
use super::decision::{Engine, Named, RateDecision};
use super::headers;
use super::quota::Limit;
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::shared::SharedRateStore;

/// `check_rule` named a rule the configuration does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no rate-limit rule is named {0:?}")]
pub struct UnknownRule(pub String);

#[derive(Debug)]
struct Rule {
    server: String,
    tool: Option<String>,
    index: usize,
}

/// The rate limits of one Guard, built once from configuration.
///
/// Limits are indexed default first, then roles in the order given, then
/// rules in configuration order; each has its own table of keys (so the
/// same key has separate budgets at each limit), and `max_keys` bounds each
/// table.
#[derive(Debug)]
pub struct RatePolicy {
    enabled: bool,
    key_source: KeySource,
    header_format: HeaderFormat,
    engine: Engine,
    roles: HashMap<String, usize>,
    rules: Vec<Rule>,
    rule_names: HashMap<String, usize>,
    clock: Arc<dyn Clock>,
}

impl RatePolicy {
    /// Builds the policy from the `rate_limit` section and the roles that
    /// have a `rate_limit` (in configuration order).
    ///
    /// Error paths are absolute in the Guard document:
    /// `rate_limit.rules[0].limit`, `roles.analyst.rate_limit.burst`.
    pub fn build(
        cfg: &RateLimitConfig,
        role_limits: &[(String, LimitSpec)],
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        Self::build_shared(cfg, role_limits, clock, None)
    }

    /// As [`build`](Self::build), with the limits' state in `shared` (a
    /// store every replica sees) when given; this process's own store then
    /// only serves `on_error: local`. Refuses (at `store`) a limit the
    /// shared store cannot compute exactly.
    pub fn build_shared(
        cfg: &RateLimitConfig,
        role_limits: &[(String, LimitSpec)],
        clock: Arc<dyn Clock>,
        shared: Option<Arc<dyn SharedRateStore>>,
    ) -> Result<Self, ConfigError> {
        let at = |e: ConfigError| e.within("rate_limit");
        cfg.validate().map_err(at)?;
        let (algorithm, quota) = cfg.default_quota().map_err(at)?;
        let mut limits = vec![Named::new(
            Cow::Borrowed("default"),
            Limit::new(algorithm, quota),
        )];
        let mut roles = HashMap::new();
        for (name, spec) in role_limits {
            let (a, q) = spec
                .quota(cfg.algorithm)
                .map_err(|e| e.within(&format!("roles.{name}.rate_limit")))?;
            if roles.contains_key(name) {
                continue;
            }
            roles.insert(name.clone(), limits.len());
            limits.push(Named::new(Cow::Owned(name.clone()), Limit::new(a, q)));
        }
        let mut rules = Vec::new();
        let mut rule_names = HashMap::new();
        for (rule, (name, a, q)) in cfg.rules.iter().zip(cfg.rule_quotas().map_err(at)?) {
            rule_names.insert(name.clone(), limits.len());
            rules.push(Rule {
                server: rule.server.clone(),
                tool: rule.tool.clone(),
                index: limits.len(),
            });
            limits.push(Named::new(Cow::Owned(name.clone()), Limit::new(a, q)));
        }
        let mut engine = Engine::new(limits, cfg.max_keys, clock.clone())
            .map_err(|e| ConfigError::new("rate_limit", e))?;
        if let Some(shared) = shared {
            engine
                .share(shared)
                .map_err(|why| ConfigError::new("store", why))?;
        }
        Ok(Self {
            enabled: cfg.enabled,
            key_source: cfg.key,
            header_format: cfg.headers,
            engine,
            roles,
            rules,
            rule_names,
            clock,
        })
    }

    /// Checks a request: `key` (already namespaced by issuer), the
    /// principal's `roles` in token order, the target. The first role with
    /// a limit replaces the default; every rule for `server` (and for
    /// `tool`, when the rule names one) adds its limit. Counts the request
    /// at every limit when all allow it, at none otherwise. Cost 0 peeks.
    ///
    /// When rate limiting is disabled, every request is allowed and the
    /// decision's `policy` is `"disabled"` (report no rate limit then).
    pub fn check(
        &self,
        key: &str,
        roles: &[String],
        server: Option<&str>,
        tool: Option<&str>,
        cost: u64,
    ) -> RateDecision {
        self.check_calls(key, roles, server, tool.as_slice(), cost)
    }

    /// [`check`](Self::check) for a request that calls several tools of
    /// one server (a JSON-RPC batch): every limit that applies to any of
    /// them is checked and charged `cost` once, in one atomic update, so a
    /// batch is admitted or refused as a whole.
    pub fn check_calls(
        &self,
        key: &str,
        roles: &[String],
        server: Option<&str>,
        tools: &[&str],
        cost: u64,
    ) -> RateDecision {
        self.check_calls_at(key, roles, server, tools, cost, self.clock.now_nanos())
    }

    /// Whether a check made later ([`check_calls_later`](Self::check_calls_later))
    /// never waits in place: the limits are off, in process, or in a
    /// shared store that answers later.
    pub(crate) fn answers_later(&self) -> bool {
        !self.enabled
            || self
                .engine
                .shared()
                .is_none_or(|shared| shared.answers_later())
    }

    /// Whether a decision may wait on the network: the limits live in a
    /// shared store (Redis) and are enabled.
    pub fn waits_on_network(&self) -> bool {
        self.enabled && self.engine.shared().is_some()
    }

    /// [`check_calls`](Self::check_calls) at `now_nanos`, a reading of this
    /// policy's clock the caller took for the whole request (the Guard
    /// reads the clock once per request, not once per engine).
    pub(crate) fn check_calls_at(
        &self,
        key: &str,
        roles: &[String],
        server: Option<&str>,
        tools: &[&str],
        cost: u64,
        now_nanos: u64,
    ) -> RateDecision {
        match self.applying(roles, server, tools) {
            None => disabled(),
            Some(limits) => self
                .engine
                .decide_at(limits.as_slice(), key, cost, now_nanos),
        }
    }

    /// [`check_calls_at`](Self::check_calls_at), the shared store's answer
    /// awaited rather than waited for (see `Engine::decide_at_later`).
    pub(crate) async fn check_calls_later(
        &self,
        key: &str,
        roles: &[String],
        server: Option<&str>,
        tools: &[&str],
        cost: u64,
        now_nanos: u64,
    ) -> RateDecision {
        match self.applying(roles, server, tools) {
            None => disabled(),
            Some(limits) => {
                self.engine
                    .decide_at_later(limits.as_slice(), key, cost, now_nanos)
                    .await
            }
        }
    }

    /// The limits a request is checked against (`None` when rate limiting
    /// is disabled): the first of the principal's `roles` with a limit, or
    /// the default; then every rule for `server` (and for one of `tools`,
    /// when the rule names a tool), in ascending order.
    #[inline]
    fn applying(&self, roles: &[String], server: Option<&str>, tools: &[&str]) -> Option<Applying> {
        if !self.enabled {
            return None;
        }
        let base = roles
            .iter()
            .find_map(|r| self.roles.get(r.as_str()).copied())
            .unwrap_or(0);
        let applies = |r: &Rule| {
            server == Some(r.server.as_str())
                && r.tool.as_deref().is_none_or(|t| tools.contains(&t))
        };
        if !self.rules.iter().any(applies) {
            return Some(Applying::One(base));
        }
        // Rules come after the default and roles, so this stays ascending.
        let mut indices = Vec::with_capacity(1 + self.rules.len());
        indices.push(base);
        indices.extend(self.rules.iter().filter(|r| applies(r)).map(|r| r.index));
        Some(Applying::Many(indices))
    }

    /// Checks and counts one limit for a raw key: the rule named `rule`, or
    /// the default limit for `None` (the conformance op `rate_limit`). Works
    /// whether or not rate limiting is enabled.
    pub fn check_rule(
        &self,
        rule: Option<&str>,
        key: &str,
        cost: u64,
    ) -> Result<RateDecision, UnknownRule> {
        let index = match rule {
            None => 0,
            Some(name) => *self
                .rule_names
                .get(name)
                .ok_or_else(|| UnknownRule(name.to_string()))?,
        };
        Ok(self.engine.decide(&[index], key, cost))
    }

    /// The headers for `d` in the configured format, with `Retry-After` on
    /// a denial that waiting cures. Empty for a disabled policy.
    pub fn headers(&self, d: &RateDecision) -> Vec<(&'static str, String)> {
        self.headers_at(d, || self.clock.now_nanos())
    }

    /// [`headers`](Self::headers), with the time (which only the legacy
    /// format's `X-RateLimit-Reset` needs) from `now_nanos`.
    pub(crate) fn headers_at(
        &self,
        d: &RateDecision,
        now_nanos: impl FnOnce() -> u64,
    ) -> Vec<(&'static str, String)> {
        // A decision `on_error` made without the store has no quota to report.
        let unknown = matches!(
            d.store_fallback,
            Some(crate::shared::OnError::FailOpen | crate::shared::OnError::FailClosed)
        );
        if !self.enabled || unknown {
            return Vec::new();
        }
        headers::render(self.header_format, d, now_nanos)
    }

    /// The shared store's counters in the Prometheus text format (nothing
    /// without a shared store).
    pub fn store_metrics_text(&self, out: &mut String) {
        if let Some(shared) = self.engine.shared() {
            shared.metrics_text(out);
        }
    }

    /// Whether rate limiting is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// What keys the limits.
    pub fn key_source(&self) -> KeySource {
        self.key_source
    }

    /// The configured header format.
    pub fn header_format(&self) -> HeaderFormat {
        self.header_format
    }

    /// Keys tracked now, summed over all limits.
    pub fn tracked_keys(&self) -> usize {
        (0..self.engine.limits.len())
            .map(|i| self.engine.tracked(i))
            .sum()
    }
}

/// The limits one request is checked against: one (the common case,
/// without a vector) or several.
enum Applying {
    One(usize),
    Many(Vec<usize>),
}

impl Applying {
    fn as_slice(&self) -> &[usize] {
        match self {
            Applying::One(i) => std::slice::from_ref(i),
            Applying::Many(v) => v,
        }
    }
}

/// The decision of a policy with rate limiting disabled: allowed, with
/// `policy` `"disabled"`.
fn disabled() -> RateDecision {
    RateDecision {
        allowed: true,
        limit: 0,
        remaining: 0,
        reset: 0.0,
        retry_after: None,
        never: false,
        table_full: false,
        policy: Cow::Borrowed("disabled"),
        window_seconds: 0.0,
        store_fallback: None,
    }
}
