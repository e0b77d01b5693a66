//! Shared enforcement across replicas: mcpguard's rate limits in Redis.
//!
//! Every replica of a host builds its Guard with [`guard_from_config`] (or
//! [`guard_from_json`]); when the configuration has a `store.redis`
//! section the Guard's rate limits live in that Redis, checked and counted
//! for all limits of a request in one round trip (one Lua script, called
//! as a Redis function with `FCALL` on Redis 7, else sent by `EVALSHA`),
//! all or nothing, with the same decisions, headers and
//! `retry_after` as the in-process limiter. Time is the Redis server's
//! (`TIME` in the script), so replicas with skewed clocks agree; a Guard on
//! a manual clock passes its own.
//!
//! Decisions that await the store (`Guard::authorize_http_later`) share
//! one pipelined connection instead of a pooled one each: their checks go
//! out together and their answers come back in one read (one server only;
//! a cluster's checks take the pool).
//!
//! When Redis does not answer within `timeout_ms`, `on_error` decides the
//! request (`fail_closed`: 503 `store_unavailable`; `fail_open`: allowed;
//! `local`: this process's own store) and a circuit breaker keeps a dead
//! Redis from costing more than one timeout per second per process.
//! Building a Guard costs at most one timeout (a probe) and never fails
//! for an unreachable Redis: that is a per-request matter, visible in the
//! store's counters at once ([`Guard::metrics_text`]-style
//! output through [`mcpguard::shared::SharedRateStore::metrics_text`]).
//!
//! Revocations and opaque tokens are shared too: a token revoked through
//! any Guard is refused by every Guard on the same Redis within one second
//! ([`mcpguard::shared::REVOCATION_BOUND_NANOS`]), and an opaque token
//! inserted through one is valid on all (stored under its SHA-256, expiring
//! with it).
//!
//! Redis Cluster (`store.redis.cluster: true`, or a list of `urls`): every
//! request's keys share one hash slot (a hash tag), so each round trip goes
//! to one node, whichever holds the slot now; scripts and the function
//! library are loaded where they are missing (`NOSCRIPT`, "Function not
//! found"), with the same timeouts, pool and breaker as a single server.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod breaker;
mod function;
mod oauth;
mod pipeline;
mod pool;
mod signals;
mod store;
mod sync;
mod tokens;

use std::sync::Arc;

use mcpguard::ConfigError;
use mcpguard::config::GuardConfig;
use mcpguard::guard::{Guard, GuardOptions};

pub use breaker::OPEN_MS;
pub use oauth::RedisOAuthStore;
pub use store::{BuildError, MAX_WINDOW_NANOS, RedisStore};

/// Builds a Guard from a parsed configuration: with the Redis store when it
/// has `store.redis`, a plain Guard otherwise. Apply the environment
/// (`MCPGUARD_REDIS_URL`) first with [`GuardConfig::apply_env`].
pub fn guard_from_config(
    config: GuardConfig,
    mut options: GuardOptions,
) -> Result<Guard, ConfigError> {
    if let Some(redis) = &config.store.redis {
        redis
            .validate()
            .map_err(|e| e.within("redis").within("store"))?;
        let store = RedisStore::new(redis).map_err(|e| ConfigError::new("store.redis.url", e))?;
        store.probe();
        let store = Arc::new(store);
        options.rate_store = Some(store.clone());
        options.token_store = Some(store);
    }
    Guard::from_config(config, options)
}

/// [`guard_from_config`] from JSON text (the environment is not read).
pub fn guard_from_json(text: &str, options: GuardOptions) -> Result<Guard, ConfigError> {
    guard_from_config(GuardConfig::from_json(text)?, options)
}

/// [`guard_from_config`] from JSON text, after the environment overrides
/// of `config.md` (`MCPGUARD_REDIS_URL` among them).
pub fn guard_from_json_with_env(text: &str, options: GuardOptions) -> Result<Guard, ConfigError> {
    let mut config = GuardConfig::from_json(text)?;
    config.apply_env(&|k| std::env::var(k).ok())?;
    guard_from_config(config, options)
}

/// rustls needs a process-wide crypto provider; ours is aws-lc-rs (the
/// project's one crypto backend). Installed once, unless the host already
/// installed one.
fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}
