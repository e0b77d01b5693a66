//! The `rate_limit` section of the Guard configuration and the roles'
//! `rate_limit`: shapes, defaults, environment overrides and validation.
//!
//! Decides which numbers are acceptable (so that no later arithmetic can
//! overflow) and how the 1MCP and mcpguard environment variables override
//! the file. Leaves reading the environment to the host: [`RateLimitConfig::apply_env`]
//! takes a lookup function.
//!
//! Numbers: `limit` and `burst` are JSON integers (`100`, not `100.0`),
//! `0 ..= 4_294_967_295` (`burst` at least 1); `window_seconds` is any finite
//! JSON number of seconds above zero and at most ten years (315 360 000 s),
//! fractions allowed, kept to the nanosecond. With these bounds every count,
//! weight and arrival time fits a `u128` with room to spare.

use serde::Deserialize;

use super::quota::{Algorithm, Quota, QuotaError};
use crate::error::ConfigError;

/// Which request attribute keys the limit (see config.md: the Guard falls
/// back from `client_id` to the subject to the request's `key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// The token's `client_id` (the default).
    #[default]
    ClientId,
    /// The token's subject.
    Subject,
    /// The request's `key` (e.g. the client IP), as 1MCP does.
    RequestKey,
}

/// Which rate-limit response headers a decision renders to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum HeaderFormat {
    /// `RateLimit-Policy`, `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`.
    #[serde(rename = "draft-6")]
    Draft6,
    /// `RateLimit-Policy: 100;w=900` and `RateLimit: limit=100, remaining=99, reset=900`.
    #[default]
    #[serde(rename = "draft-7")]
    Draft7,
    /// Structured fields: `RateLimit-Policy: "default";q=100;w=900`, `RateLimit: "default";r=99;t=900`.
    #[serde(rename = "draft-10")]
    Draft10,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (a Unix time, as express-rate-limit sends it).
    #[serde(rename = "legacy")]
    Legacy,
    /// No rate-limit headers; only `Retry-After` on a denial.
    #[serde(rename = "none")]
    None,
}

fn default_true() -> bool {
    true
}
fn default_limit() -> u64 {
    100
}
fn default_window() -> f64 {
    900.0
}
fn default_max_keys() -> usize {
    100_000
}

/// The `rate_limit` section (config.md); defaults are 1MCP's: 100 requests
/// per 15 minutes, fixed window, per `client_id`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// `false` turns rate limiting off (`= true`).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The default algorithm, also for rules and roles that name none.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// Requests per window (`= 100`); `0` denies everything.
    #[serde(default = "default_limit")]
    pub limit: u64,
    /// Window length in seconds (`= 900`).
    #[serde(default = "default_window")]
    pub window_seconds: f64,
    /// Token bucket only: requests that may arrive at once (`= limit`).
    #[serde(default)]
    pub burst: Option<u64>,
    /// What keys the limit.
    #[serde(default)]
    pub key: KeySource,
    /// Keys tracked at most by each limit (`= 100000`).
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
    /// Header format (`= "draft-7"`).
    #[serde(default)]
    pub headers: HeaderFormat,
    /// Extra limits for single servers or tools.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            algorithm: Algorithm::default(),
            limit: default_limit(),
            window_seconds: default_window(),
            burst: None,
            key: KeySource::default(),
            max_keys: default_max_keys(),
            headers: HeaderFormat::default(),
            rules: Vec::new(),
        }
    }
}

/// A rule: an extra limit for one server, or one tool of a server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The rule's name (`= "<server>"` or `"<server>/<tool>"`); unique.
    #[serde(default)]
    pub name: Option<String>,
    /// The server the rule limits.
    pub server: String,
    /// The tool the rule limits; absent: every request to the server.
    #[serde(default)]
    pub tool: Option<String>,
    /// Requests per window.
    pub limit: u64,
    /// Window length in seconds.
    pub window_seconds: f64,
    /// Algorithm (`=` the section's `algorithm`).
    #[serde(default)]
    pub algorithm: Option<Algorithm>,
    /// Token bucket only (`= limit`).
    #[serde(default)]
    pub burst: Option<u64>,
}

impl RuleConfig {
    /// The rule's name: `name`, else `"<server>"` or `"<server>/<tool>"`.
    pub fn effective_name(&self) -> String {
        match (&self.name, &self.tool) {
            (Some(n), _) => n.clone(),
            (None, Some(t)) => format!("{}/{}", self.server, t),
            (None, None) => self.server.clone(),
        }
    }
}

/// A role's `rate_limit`: replaces the default limit for its principals.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// Requests per window.
    pub limit: u64,
    /// Window length in seconds.
    pub window_seconds: f64,
    /// Algorithm (`=` the `rate_limit` section's `algorithm`).
    #[serde(default)]
    pub algorithm: Option<Algorithm>,
    /// Token bucket only (`= limit`).
    #[serde(default)]
    pub burst: Option<u64>,
}

/// `ONE_MCP_RATE_LIMIT_WINDOW`: the window in minutes (1MCP).
pub const ENV_ONE_MCP_WINDOW: &str = "ONE_MCP_RATE_LIMIT_WINDOW";
/// `ONE_MCP_RATE_LIMIT_MAX`: requests per window (1MCP).
pub const ENV_ONE_MCP_MAX: &str = "ONE_MCP_RATE_LIMIT_MAX";
/// `MCPGUARD_RATE_LIMIT_WINDOW_SECONDS`: the window in seconds.
pub const ENV_WINDOW_SECONDS: &str = "MCPGUARD_RATE_LIMIT_WINDOW_SECONDS";
/// `MCPGUARD_RATE_LIMIT_MAX`: requests per window.
pub const ENV_MAX: &str = "MCPGUARD_RATE_LIMIT_MAX";

impl RateLimitConfig {
    /// Applies the environment overrides to the default limit.
    ///
    /// Precedence: `MCPGUARD_RATE_LIMIT_*` over `ONE_MCP_RATE_LIMIT_*` over
    /// the file. Every variable that is set is checked, even one that a
    /// higher-precedence variable overrides, so a typo never hides. A set but
    /// empty or malformed value is an error (path `window_seconds` or `limit`,
    /// the message names the variable); nothing changes on error.
    ///
    /// ```
    /// use mcpguard::ratelimit::RateLimitConfig;
    /// let mut cfg = RateLimitConfig::default();
    /// let env = |k: &str| (k == "ONE_MCP_RATE_LIMIT_WINDOW").then(|| "1".to_string());
    /// cfg.apply_env(&env).unwrap();
    /// assert_eq!(cfg.window_seconds, 60.0);
    /// ```
    pub fn apply_env(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let one_window = lookup(ENV_ONE_MCP_WINDOW)
            .map(|v| env_window(ENV_ONE_MCP_WINDOW, &v, 60.0))
            .transpose()?;
        let one_max = lookup(ENV_ONE_MCP_MAX)
            .map(|v| env_limit(ENV_ONE_MCP_MAX, &v))
            .transpose()?;
        let own_window = lookup(ENV_WINDOW_SECONDS)
            .map(|v| env_window(ENV_WINDOW_SECONDS, &v, 1.0))
            .transpose()?;
        let own_max = lookup(ENV_MAX)
            .map(|v| env_limit(ENV_MAX, &v))
            .transpose()?;
        if let Some(w) = own_window.or(one_window) {
            self.window_seconds = w;
        }
        if let Some(l) = own_max.or(one_max) {
            self.limit = l;
        }
        Ok(())
    }

    /// Checks every number and name, with paths relative to `rate_limit`
    /// (`limit`, `rules[0].window_seconds`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.default_quota()?;
        if self.max_keys == 0 {
            return Err(ConfigError::new("max_keys", "must be at least 1"));
        }
        self.rule_quotas().map(|_| ())
    }

    /// The default limit's algorithm and quota.
    pub(crate) fn default_quota(&self) -> Result<(Algorithm, Quota), ConfigError> {
        quota_at(
            "",
            self.algorithm,
            self.limit,
            self.window_seconds,
            self.burst,
        )
    }

    /// Each rule's name, algorithm and quota, in order; names are unique.
    pub(crate) fn rule_quotas(&self) -> Result<Vec<(String, Algorithm, Quota)>, ConfigError> {
        let mut out: Vec<(String, Algorithm, Quota)> = Vec::with_capacity(self.rules.len());
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            let name = rule.effective_name();
            if out.iter().any(|(n, _, _)| *n == name) {
                let field = if rule.name.is_some() {
                    "name"
                } else {
                    "server"
                };
                return Err(ConfigError::new(
                    format!("{at}.{field}"),
                    format_args!("duplicate rule name {name:?}; give the rules distinct \"name\"s"),
                ));
            }
            if rule.server.is_empty() {
                return Err(ConfigError::new(
                    format!("{at}.server"),
                    "must name a server",
                ));
            }
            if rule.tool.as_deref() == Some("") {
                return Err(ConfigError::new(
                    format!("{at}.tool"),
                    "must name a tool, or be left out",
                ));
            }
            let algorithm = rule.algorithm.unwrap_or(self.algorithm);
            let (a, q) = quota_at(&at, algorithm, rule.limit, rule.window_seconds, rule.burst)?;
            out.push((name, a, q));
        }
        Ok(out)
    }
}

impl LimitSpec {
    /// The algorithm (this spec's, else `default`) and the checked quota;
    /// paths relative to the spec (`limit`, `burst`).
    pub fn quota(&self, default: Algorithm) -> Result<(Algorithm, Quota), ConfigError> {
        quota_at(
            "",
            self.algorithm.unwrap_or(default),
            self.limit,
            self.window_seconds,
            self.burst,
        )
    }
}

fn quota_at(
    at: &str,
    algorithm: Algorithm,
    limit: u64,
    window_seconds: f64,
    burst: Option<u64>,
) -> Result<(Algorithm, Quota), ConfigError> {
    let quota = Quota::new(algorithm, limit, window_seconds, burst)
        .map_err(|e| ConfigError::new(crate::error::join_path(at, e.field()), &e))?;
    Ok((algorithm, quota))
}

fn env_window(var: &str, raw: &str, unit_seconds: f64) -> Result<f64, ConfigError> {
    let bad = |why: &dyn std::fmt::Display| {
        ConfigError::new(
            "window_seconds",
            format_args!("environment variable {var}={raw:?}: {why}"),
        )
    };
    let number: f64 = raw.trim().parse().map_err(|_| bad(&"not a number"))?;
    let seconds = number * unit_seconds;
    Quota::check_window(seconds).map_err(|e: QuotaError| bad(&e))?;
    Ok(seconds)
}

fn env_limit(var: &str, raw: &str) -> Result<u64, ConfigError> {
    let bad = |why: &dyn std::fmt::Display| {
        ConfigError::new(
            "limit",
            format_args!("environment variable {var}={raw:?}: {why}"),
        )
    };
    let limit: u64 = raw
        .trim()
        .parse()
        .map_err(|_| bad(&"not a non-negative integer"))?;
    Quota::check_limit(limit).map_err(|e: QuotaError| bad(&e))?;
    Ok(limit)
}
