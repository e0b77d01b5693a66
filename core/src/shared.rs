//! Stores shared by every replica of a host: the `store` configuration
//! section and the trait a shared backend (the `mcpguard-redis` crate)
//! implements.
//!
//! Decides what the core asks of a shared store and what happens when it
//! cannot answer (`on_error`); leaves every byte of I/O to the backend's
//! own crate, so the core stays free of it. A Guard gets a backend through
//! [`GuardOptions::rate_store`](crate::guard::GuardOptions::rate_store); a
//! configuration that names a store nobody plugged in is refused, never
//! silently run on per-process state.

use std::fmt;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::ratelimit::{Limit, State};

/// The `store` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A Redis server (or cluster) shared by every replica.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
}

/// `store.redis`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` (TLS); `MCPGUARD_REDIS_URL` overrides it.
    /// With a cluster, one of its nodes (the others are found from it).
    pub url: String,
    /// More nodes of a Redis Cluster, tried when `url`'s node does not
    /// answer at startup; a non-empty list means a cluster.
    #[serde(default)]
    pub urls: Vec<String>,
    /// `url` (and `urls`) name nodes of a Redis Cluster: commands go to the
    /// node that holds their hash slot, and follow `MOVED` and `ASK`.
    #[serde(default)]
    pub cluster: bool,
    /// Every key starts with it.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Connect, read and write timeout of one round trip, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Connections per Guard.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// What a request gets when the store cannot answer in time.
    #[serde(default)]
    pub on_error: OnError,
    /// PEM CA certificates of a private CA: a `rediss://` server's
    /// certificate is then checked against these roots only (not the
    /// public web roots). Only with `rediss://` URLs.
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// PEM client certificate (chain) for servers that ask for one
    /// (mutual TLS, `tls-auth-clients`); with `client_key_pem`, and only
    /// with `rediss://` URLs.
    #[serde(default)]
    pub client_cert_pem: Option<String>,
    /// PEM private key of `client_cert_pem` (PKCS#8, PKCS#1 or SEC1).
    /// Never printed: `Debug` shows it as redacted.
    #[serde(default)]
    pub client_key_pem: Option<String>,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url)
            .field("urls", &self.urls)
            .field("cluster", &self.cluster)
            .field("prefix", &self.prefix)
            .field("timeout_ms", &self.timeout_ms)
            .field("pool_size", &self.pool_size)
            .field("on_error", &self.on_error)
            .field("ca_pem", &self.ca_pem)
            .field("client_cert_pem", &self.client_cert_pem)
            .field(
                "client_key_pem",
                &self.client_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

fn default_prefix() -> String {
    "mcpguard:".to_string()
}
fn default_timeout_ms() -> u64 {
    50
}
fn default_pool_size() -> u32 {
    8
}

/// The largest `timeout_ms`: a minute (a request must never hang longer).
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// The largest `pool_size`.
pub const MAX_POOL_SIZE: u32 = 1024;

impl RedisConfig {
    /// Whether the configuration names a Redis Cluster (`cluster: true`,
    /// or a list of `urls`).
    pub fn is_cluster(&self) -> bool {
        self.cluster || !self.urls.is_empty()
    }

    /// Every node named: `url`, then `urls`.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.url.as_str()).chain(self.urls.iter().map(String::as_str))
    }

    /// Checks every value; the error names the member (relative to
    /// `store.redis`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let scheme = self.url.split_once("://").map(|(s, _)| s);
        if !matches!(scheme, Some("redis" | "rediss" | "redis+unix" | "unix")) {
            return Err(ConfigError::new(
                "url",
                "must be a redis:// or rediss:// URL (redis+unix:// for a socket)",
            ));
        }
        if self.is_cluster() {
            for (i, url) in self.nodes().enumerate() {
                let scheme = url.split_once("://").map(|(s, _)| s);
                if !matches!(scheme, Some("redis" | "rediss")) {
                    let path = if i == 0 {
                        "url".to_string()
                    } else {
                        format!("urls[{}]", i - 1)
                    };
                    return Err(ConfigError::new(
                        path,
                        "must be a redis:// or rediss:// URL (a cluster's nodes are reached over TCP)",
                    ));
                }
            }
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(ConfigError::new(
                "timeout_ms",
                format_args!("must be between 1 and {MAX_TIMEOUT_MS}"),
            ));
        }
        if !(1..=MAX_POOL_SIZE).contains(&self.pool_size) {
            return Err(ConfigError::new(
                "pool_size",
                format_args!("must be between 1 and {MAX_POOL_SIZE}"),
            ));
        }
        if let Some(text) = &self.ca_pem {
            if !self.nodes().all(|u| u.starts_with("rediss://")) {
                return Err(ConfigError::new(
                    "ca_pem",
                    "is only for rediss:// URLs (TLS); every node must use one",
                ));
            }
            certificates_in(text, "ca_pem")?;
        }
        match (&self.client_cert_pem, &self.client_key_pem) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "client_key_pem",
                    "is needed with client_cert_pem (the certificate's private key)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "client_cert_pem",
                    "is needed with client_key_pem (the key's certificate)",
                ));
            }
            (Some(cert), Some(key)) => {
                if !self.nodes().all(|u| u.starts_with("rediss://")) {
                    return Err(ConfigError::new(
                        "client_cert_pem",
                        "is only for rediss:// URLs (TLS); every node must use one",
                    ));
                }
                certificates_in(cert, "client_cert_pem")?;
                // The key's text never goes into an error.
                let blocks = pem::parse_many(key)
                    .map_err(|_| ConfigError::new("client_key_pem", "is not PEM"))?;
                const KEYS: [&str; 3] = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"];
                if blocks.len() != 1 || !KEYS.contains(&blocks[0].tag()) {
                    return Err(ConfigError::new(
                        "client_key_pem",
                        "must hold one PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
                    ));
                }
            }
        }
        if self.prefix.contains(['{', '}']) {
            return Err(ConfigError::new(
                "prefix",
                "must not contain { or } (the store uses them as cluster hash tags)",
            ));
        }
        Ok(())
    }
}

/// Whether the shared store lost its state between two readings of its
/// revocation epoch, `before` (`u64::MAX`: none yet) and `now`: the epoch
/// went back (to 0, no epoch at all, or below `before`), or it belongs to
/// another incarnation of the store (its high 32 bits changed). A reading
/// of 0 before says nothing: the store held no epoch to lose.
pub fn epoch_lost(before: u64, now: u64) -> bool {
    before != u64::MAX && before != 0 && (now < before || now >> 32 != before >> 32)
}

/// Checks that `text` holds one or more PEM certificates; errors name `path`.
fn certificates_in(text: &str, path: &str) -> Result<(), ConfigError> {
    let certificates = pem::parse_many(text)
        .map_err(|e| ConfigError::new(path, format_args!("is not PEM: {e}")))?;
    if certificates.is_empty() || certificates.iter().any(|c| c.tag() != "CERTIFICATE") {
        return Err(ConfigError::new(
            path,
            "must hold one or more PEM certificates (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(())
}

impl StoreConfig {
    /// Checks the section; error paths are relative to `store`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match &self.redis {
            Some(r) => r.validate().map_err(|e| e.within("redis")),
            None => Ok(()),
        }
    }

    /// Applies `MCPGUARD_REDIS_URL` (a non-empty value replaces
    /// `store.redis.url`, and creates `store.redis` with defaults if absent).
    pub fn apply_env(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        let Some(url) = lookup("MCPGUARD_REDIS_URL").filter(|u| !u.is_empty()) else {
            return;
        };
        match &mut self.redis {
            Some(r) => r.url = url,
            None => {
                self.redis = Some(RedisConfig {
                    url,
                    urls: Vec::new(),
                    cluster: false,
                    prefix: default_prefix(),
                    timeout_ms: default_timeout_ms(),
                    pool_size: default_pool_size(),
                    on_error: OnError::default(),
                    ca_pem: None,
                    client_cert_pem: None,
                    client_key_pem: None,
                });
            }
        }
    }
}

/// `store.redis.on_error`: what a request gets when the shared store does
/// not answer in time (or its circuit breaker is open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Refused: 503, reason `store_unavailable`, with `Retry-After`.
    #[default]
    FailClosed,
    /// Allowed without a rate-limit check (counted and audited).
    FailOpen,
    /// Decided by this process's own in-memory store until the shared one
    /// answers again.
    Local,
}

impl OnError {
    /// The configuration name.
    pub const fn as_str(self) -> &'static str {
        match self {
            OnError::FailClosed => "fail_closed",
            OnError::FailOpen => "fail_open",
            OnError::Local => "local",
        }
    }
}

/// One limit of a shared check: the name decisions report (also part of
/// the shared key, so two replicas' `default` limits share one budget) and
/// its numbers.
#[derive(Debug, Clone, Copy)]
pub struct SharedLimit<'a> {
    /// `default`, a role's name or a rule's name.
    pub name: &'a str,
    /// The algorithm and quota.
    pub limit: Limit,
}

/// A shared store's answer to one check: the states it found and whether
/// it counted the request. The core computes every reported number from
/// these with the same algorithms as in process, so decisions, headers and
/// `retry_after` are identical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedAnswer {
    /// The time the store decided at (its own clock, or the one passed).
    pub now_nanos: u64,
    /// Each limit's state as found before this request, in `limits` order
    /// (`None`: fresh or expired).
    pub states: Vec<Option<State>>,
    /// Whether the store counted the request at every limit (all allowed
    /// it and the cost was above 0).
    pub committed: bool,
}

/// A shared store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharedStoreError {
    /// The store did not answer (down, slow, refused, full) or its circuit
    /// breaker is open; `retry_after_ms` is when the next attempt is due.
    #[error("the shared store is unavailable: {detail}")]
    Unavailable {
        /// What happened, for logs and audit events.
        detail: String,
        /// Milliseconds until the store will be tried again (at least 1).
        retry_after_ms: u64,
    },
    /// A limit cannot be computed exactly by this store (its numbers are
    /// too large); configuration should have refused it.
    #[error("rate limit {0:?} is too large for the shared store")]
    Unsupported(String),
}

/// A shared check answered later (see [`SharedRateStore::check_later`]).
pub type SharedFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<SharedAnswer, SharedStoreError>> + Send>,
>;

/// Rate-limit state shared by every replica.
///
/// Contract: [`check`](Self::check) reads the states of `key` at every
/// limit of `limits` and, when `cost > 0` and every limit admits the
/// request (exactly as [`Limit`]'s algorithms decide in process), stores
/// the states after it at every one; at none otherwise (atomically,
/// against every other replica). Cost 0 only reads.
pub trait SharedRateStore: Send + Sync + fmt::Debug {
    /// The check; `now_nanos` is the caller's clock when it must be used
    /// (a manual clock), `None` to use the store's own clock (so replicas
    /// with skewed clocks agree).
    fn check(
        &self,
        limits: &[SharedLimit<'_>],
        key: &str,
        now_nanos: Option<u64>,
        cost: u64,
    ) -> Result<SharedAnswer, SharedStoreError>;

    /// The same check, answered later: a future that resolves to what
    /// [`check`](Self::check) would return, without holding a thread
    /// while the store works (a store that pipelines the requests of many
    /// callers on one connection). `None` (the default): this store only
    /// answers in place, and the caller uses `check`. The future owns what
    /// it needs; the check was sent when this returns.
    fn check_later(
        &self,
        limits: &[SharedLimit<'_>],
        key: &str,
        now_nanos: Option<u64>,
        cost: u64,
    ) -> Option<SharedFuture> {
        let _ = (limits, key, now_nanos, cost);
        None
    }

    /// Whether [`check_later`](Self::check_later) answers (else it
    /// returns `None` and the check is made in place, waiting). A decision
    /// made on an event loop asks this first. Default: no.
    fn answers_later(&self) -> bool {
        false
    }

    /// Checks at build time that the store can compute `limit` exactly;
    /// the error says why not.
    fn supports(&self, limit: &Limit) -> Result<(), String>;

    /// What requests get when [`check`](Self::check) fails.
    fn on_error(&self) -> OnError;

    /// Appends the store's counters in the Prometheus text format.
    fn metrics_text(&self, out: &mut String);
}

/// How long another replica's verified-token cache may still admit a token
/// revoked through one Guard: a validator with a shared token store polls
/// the store's revocation epoch at most this often, and drops its whole
/// cache when the epoch moved.
pub const REVOCATION_BOUND_NANOS: u64 = 1_000_000_000;

/// A replica-independent identity of a revocation or an opaque token: a
/// SHA-256 (of the revocation's key bytes, or of the opaque token); the
/// token itself never reaches the store.
pub type SharedId = [u8; 32];

/// Revocations and opaque tokens shared by every replica.
///
/// A failed call is decided by [`on_error`](Self::on_error):
/// `fail_closed` refuses (a token that cannot be checked is refused with
/// reason `store_unavailable`; a revocation or insertion that did not
/// reach the store is an error), `fail_open` and `local` go on with this
/// process's own state. Under every policy, a write the store missed waits
/// in the validator and is replayed, in order, once the store answers.
pub trait SharedTokenStore: Send + Sync + fmt::Debug {
    /// Holds the revocation `id` for `ttl_secs` (`None`: until withdrawn)
    /// and moves the revocation epoch; returns the epoch it moved to.
    fn revoke(&self, id: &SharedId, ttl_secs: Option<u64>) -> Result<u64, SharedStoreError>;

    /// Whether any of `ids` is held.
    fn any_revoked(&self, ids: &[SharedId]) -> Result<bool, SharedStoreError>;

    /// The revocation epoch: moves with every revocation and opaque-token
    /// removal, anywhere, and never back while the store keeps its state.
    /// 0 means the store holds no epoch. A store that can lose its state
    /// starts each new epoch at a random multiple of 2^32 (its high 32 bits
    /// name that incarnation of the store), so that a loss is noticed even
    /// once other replicas have moved the new epoch on; see [`epoch_lost`].
    fn epoch(&self) -> Result<u64, SharedStoreError>;

    /// Stores an opaque token's entry (JSON, [`OpaqueEntry`](crate::token::OpaqueEntry))
    /// under the token's SHA-256, for `ttl_secs` (`None`: until removed).
    fn insert_opaque(
        &self,
        digest: &SharedId,
        entry_json: &str,
        ttl_secs: Option<u64>,
    ) -> Result<(), SharedStoreError>;

    /// The entry stored under the token's SHA-256.
    fn lookup_opaque(&self, digest: &SharedId) -> Result<Option<String>, SharedStoreError>;

    /// Removes the entry and moves the revocation epoch; returns the epoch
    /// it moved to.
    fn remove_opaque(&self, digest: &SharedId) -> Result<u64, SharedStoreError>;

    /// What callers do when a call fails.
    fn on_error(&self) -> OnError;
}

#[cfg(test)]
mod tests {
    use crate::config::GuardConfig;

    fn parse(store: &str) -> Result<GuardConfig, crate::ConfigError> {
        let text = format!(r#"{{"resource": "https://a.example/mcp", "store": {store}}}"#);
        let config = GuardConfig::from_json(&text)?;
        config.store.validate().map_err(|e| e.within("store"))?;
        Ok(config)
    }

    #[test]
    fn the_store_section_takes_its_defaults_and_refuses_unknown_keys_and_bad_values() {
        let c = parse(r#"{"redis": {"url": "rediss://cache:6380/0"}}"#).unwrap();
        let r = c.store.redis.unwrap();
        assert_eq!(
            (r.prefix.as_str(), r.timeout_ms, r.pool_size, r.on_error),
            ("mcpguard:", 50, 8, super::OnError::FailClosed)
        );
        let e = parse(r#"{"redis": {"url": "redis://h", "tiemout_ms": 5}}"#).unwrap_err();
        assert!(e.to_string().contains("tiemout_ms"), "{e}");
        let e = parse(r#"{"redis": {"url": "http://h"}}"#).unwrap_err();
        assert_eq!(e.path, "store.redis.url");
        let e = parse(r#"{"redis": {"url": "redis://h", "timeout_ms": 0}}"#).unwrap_err();
        assert_eq!(e.path, "store.redis.timeout_ms");
        let e = parse(r#"{"redis": {"url": "redis://h", "on_error": "ignore"}}"#).unwrap_err();
        assert!(e.to_string().contains("on_error"), "{e}");
    }

    #[test]
    fn a_list_of_urls_or_cluster_true_names_a_cluster_of_tcp_nodes() {
        let c =
            parse(r#"{"redis": {"url": "redis://a:7000", "urls": ["rediss://b:7001"]}}"#).unwrap();
        let r = c.store.redis.unwrap();
        assert!(r.is_cluster());
        assert_eq!(
            r.nodes().collect::<Vec<_>>(),
            ["redis://a:7000", "rediss://b:7001"]
        );
        let c = parse(r#"{"redis": {"url": "redis://a:7000", "cluster": true}}"#).unwrap();
        assert!(c.store.redis.unwrap().is_cluster());
        let c = parse(r#"{"redis": {"url": "redis://a:7000"}}"#).unwrap();
        assert!(!c.store.redis.unwrap().is_cluster());
        let e = parse(r#"{"redis": {"url": "redis://a", "urls": ["redis://b", "unix:///s"]}}"#)
            .unwrap_err();
        assert_eq!(e.path, "store.redis.urls[1]");
        let e = parse(r#"{"redis": {"url": "redis+unix:///s", "cluster": true}}"#).unwrap_err();
        assert_eq!(e.path, "store.redis.url");
    }

    #[test]
    fn ca_pem_takes_certificates_for_rediss_urls_only() {
        let cert = "-----BEGIN CERTIFICATE-----\nMAo=\n-----END CERTIFICATE-----\n";
        let section = |url: &str, pem: &str| {
            serde_json::json!({"redis": {"url": url, "ca_pem": pem}}).to_string()
        };
        let c = parse(&section("rediss://cache:6380/0", cert)).unwrap();
        assert_eq!(c.store.redis.unwrap().ca_pem.as_deref(), Some(cert));
        let e = parse(&section("redis://cache:6379/0", cert)).unwrap_err();
        assert_eq!(e.path, "store.redis.ca_pem");
        assert!(e.to_string().contains("rediss://"), "{e}");
        let e = parse(&section("rediss://cache:6380/0", "not a certificate")).unwrap_err();
        assert_eq!(e.path, "store.redis.ca_pem");
        let key = "-----BEGIN PRIVATE KEY-----\nMAo=\n-----END PRIVATE KEY-----\n";
        let e = parse(&section("rediss://cache:6380/0", key)).unwrap_err();
        assert!(e.to_string().contains("CERTIFICATE"), "{e}");
        let cluster = serde_json::json!({"redis": {"url": "rediss://a:7000",
            "urls": ["redis://b:7001"], "ca_pem": cert}});
        let e = parse(&cluster.to_string()).unwrap_err();
        assert_eq!(e.path, "store.redis.ca_pem");
    }

    #[test]
    fn a_client_certificate_comes_with_its_key_over_rediss_and_the_key_is_never_printed() {
        let cert = "-----BEGIN CERTIFICATE-----\nMAo=\n-----END CERTIFICATE-----\n";
        let key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END PRIVATE KEY-----\n";
        let section = |url: &str, cert: Option<&str>, key: Option<&str>| {
            let mut redis = serde_json::json!({"url": url});
            if let Some(c) = cert {
                redis["client_cert_pem"] = c.into();
            }
            if let Some(k) = key {
                redis["client_key_pem"] = k.into();
            }
            serde_json::json!({ "redis": redis }).to_string()
        };
        let tls = "rediss://cache:6380/0";
        let c = parse(&section(tls, Some(cert), Some(key))).unwrap();
        let redis = c.store.redis.unwrap();
        assert_eq!(redis.client_key_pem.as_deref(), Some(key));
        let printed = format!("{redis:?}");
        assert!(
            !printed.contains("c2VjcmV0") && printed.contains("<redacted>"),
            "{printed}"
        );
        let path = |cert, key, url| parse(&section(url, cert, key)).unwrap_err().path;
        assert_eq!(path(Some(cert), None, tls), "store.redis.client_key_pem");
        assert_eq!(path(None, Some(key), tls), "store.redis.client_cert_pem");
        assert_eq!(
            path(Some(cert), Some(key), "redis://cache:6379/0"),
            "store.redis.client_cert_pem"
        );
        assert_eq!(
            path(Some(key), Some(key), tls),
            "store.redis.client_cert_pem"
        );
        assert_eq!(
            path(Some(cert), Some(cert), tls),
            "store.redis.client_key_pem"
        );
        let e = parse(&section(tls, Some(cert), Some("secret-key-text"))).unwrap_err();
        assert_eq!(e.path, "store.redis.client_key_pem");
        assert!(!e.to_string().contains("secret-key-text"), "{e}");
        let two = format!("{key}{key}");
        assert_eq!(
            path(Some(cert), Some(&two), tls),
            "store.redis.client_key_pem"
        );
    }

    #[test]
    fn mcpguard_redis_url_overrides_the_url_or_creates_the_section() {
        let env = |k: &str| (k == "MCPGUARD_REDIS_URL").then(|| "redis://other:1/2".to_string());
        let mut c = parse(r#"{"redis": {"url": "redis://h", "on_error": "local"}}"#).unwrap();
        c.apply_env(&env).unwrap();
        let r = c.store.redis.unwrap();
        assert_eq!(
            (r.url.as_str(), r.on_error),
            ("redis://other:1/2", super::OnError::Local)
        );
        let mut c = parse("{}").unwrap();
        c.apply_env(&env).unwrap();
        assert_eq!(c.store.redis.unwrap().url, "redis://other:1/2");
    }
}
