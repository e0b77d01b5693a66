//! A Guard with the I/O its configuration asks for, built the one way every
//! binding (Python, Node, C) builds it, so that a `jwks_uri`, `discovery`
//! or `introspection` issuer, or a `store.redis` section, works from every
//! language with nothing but the configuration.
//!
//! The core stays free of I/O: [`HostedGuard`] owns the [`Guard`] and the
//! [`Fetcher`] attached to it (a thread only when an issuer fetches), with
//! the Redis store plugged in when configured, and stops the fetcher when
//! dropped.
//!
//! [`HostedGuard::authorization_server`] builds the embedded authorization
//! server the configuration's `authorization_server` section describes, on
//! the store its `storage` names (memory, an SQLite file, or the Redis of
//! `store.redis`), the same way for every binding.

pub mod awaited;
pub mod threads;

use std::path::Path;
use std::sync::Arc;

use mcpguard::ConfigError;
use mcpguard::config::GuardConfig;
use mcpguard::guard::{Guard, GuardOptions};
use mcpguard::oauth::{AuthorizationServer, OAuthStore, SetupError, StorageConfig, StoreError};
use mcpguard::shared::RedisConfig;
use mcpguard_fetch::Fetcher;

/// The authorization server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration has no `authorization_server` section.
    #[error("the Guard's configuration has no authorization_server section")]
    NotConfigured,
    /// The store the section's `storage` names could not be opened.
    #[error("opening the authorization server's store: {0}")]
    Store(#[from] StoreError),
    /// `storage` is `redis` but the configuration has no `store.redis`.
    #[error(
        "authorization_server.storage is redis, but the configuration has no store.redis section to connect to"
    )]
    NoRedis,
    /// The Redis of `store.redis` has a URL that does not parse.
    #[error("authorization_server.storage: {0}")]
    RedisUrl(#[from] mcpguard_redis::BuildError),
    /// The engine refused to start (replaying stored revocations failed).
    #[error("starting the authorization server: {0}")]
    Setup(#[from] SetupError),
}

/// A Guard and the I/O attached to it.
#[derive(Debug)]
pub struct HostedGuard {
    guard: Guard,
    fetcher: Fetcher,
    /// `store.redis`, for the authorization server's Redis store.
    redis: Option<RedisConfig>,
}

impl HostedGuard {
    /// Builds the Guard from `config` and attaches what it asks for.
    pub fn build(config: GuardConfig, options: GuardOptions) -> Result<HostedGuard, ConfigError> {
        // With `store.redis`, rate limits, revocations and opaque tokens live
        // in Redis; without, in this process.
        let guard = mcpguard_redis::guard_from_config(config.clone(), options)?;
        let fetcher = Fetcher::attach(&guard, &config)?;
        Ok(HostedGuard {
            guard,
            fetcher,
            redis: config.store.redis,
        })
    }

    /// Configuration text (`docs/config.md`), without environment overrides.
    pub fn from_json(text: &str, options: GuardOptions) -> Result<HostedGuard, ConfigError> {
        Self::build(GuardConfig::from_json(text)?, options)
    }

    /// Configuration text, with the environment overrides applied.
    pub fn from_json_with_env(
        text: &str,
        options: GuardOptions,
    ) -> Result<HostedGuard, ConfigError> {
        let mut config = GuardConfig::from_json(text)?;
        config.apply_env(&|name| std::env::var(name).ok())?;
        Self::build(config, options)
    }

    /// A configuration file, with the environment overrides applied (as
    /// [`Guard::from_file`] does).
    pub fn from_file(
        path: impl AsRef<std::path::Path>,
        options: GuardOptions,
    ) -> Result<HostedGuard, ConfigError> {
        let mut config = GuardConfig::from_file(path)?;
        config.apply_env(&|name| std::env::var(name).ok())?;
        Self::build(config, options)
    }

    /// The Guard (cheap to clone; the fetcher keeps serving it while this
    /// value lives).
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The fetcher, for its statistics and `wait_ready`.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// Call in a child process after `fork`, when the Guard was built
    /// before it (a pre-forking server's workers): restarts the key
    /// fetcher's thread, which fork did not copy
    /// ([`Fetcher::after_fork`]). The Redis and SQLite stores need no
    /// call: each notices the fork at its next use and opens its own
    /// connections instead of sharing the parent's.
    pub fn after_fork(&self) -> std::io::Result<()> {
        self.fetcher.after_fork()
    }

    /// The authorization server of the configuration's
    /// `authorization_server` section, its state in the store `storage`
    /// names (a relative SQLite path starts at `base_dir`, else at the
    /// working directory). Each call opens the store anew: build the server
    /// once and share it.
    pub fn authorization_server(
        &self,
        base_dir: Option<&Path>,
    ) -> Result<AuthorizationServer, ServerError> {
        let store = self.open_oauth_store(base_dir)?;
        Ok(AuthorizationServer::new(&self.guard, store)?)
    }

    fn open_oauth_store(
        &self,
        base_dir: Option<&Path>,
    ) -> Result<Arc<dyn OAuthStore>, ServerError> {
        let settings = self
            .guard
            .authorization_server_settings()
            .ok_or(ServerError::NotConfigured)?;
        if let StorageConfig::Redis {} = settings.storage {
            let redis = self.redis.as_ref().ok_or(ServerError::NoRedis)?;
            let clock = self.guard.token_validator().clock().clone();
            return Ok(Arc::new(mcpguard_redis::RedisOAuthStore::new(
                redis, clock,
            )?));
        }
        Ok(mcpguard_sqlite::open_configured(
            &settings.storage,
            base_dir,
        )?)
    }
}
