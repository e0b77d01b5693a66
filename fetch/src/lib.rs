//! Keys and token answers from the authorization servers themselves, for an
//! mcpguard [`Guard`].
//!
//! The core validates and never does I/O; this crate does the calls its
//! configuration asks for and hands the results to the core:
//! - issuers with `jwks_uri`, or with only `issuer` and `"discovery": true`
//!   (RFC 8414, then OpenID Connect Discovery), get their JWK Set fetched at
//!   start and refreshed by a background thread ([`refresh`] says when);
//! - an issuer with `introspection` gets an RFC 7662 client the core calls
//!   for opaque tokens ([`introspect`]); the core keeps the answers.
//!
//! Only configured URLs are ever called: nothing a token says (`jku`,
//! `x5u`, `iss`) chooses a URL. [`client`] holds the transport rules
//! (HTTPS, loopback-only HTTP, timeouts, size cap, redirects).
//!
//! ```no_run
//! # fn main() -> Result<(), mcpguard::ConfigError> {
//! let config = mcpguard::config::GuardConfig::from_json(r#"{
//!   "resource": "https://mcp.example.com/mcp",
//!   "auth": {"issuers": [{"issuer": "https://auth.example.com", "discovery": true}]}
//! }"#)?;
//! let guard = mcpguard::guard::Guard::from_config(config.clone(), Default::default())?;
//! let fetcher = mcpguard_fetch::Fetcher::attach(&guard, &config)?;
//! fetcher.wait_ready(std::time::Duration::from_secs(5));
//! // … serve with `guard`; keep `fetcher` as long as the guard.
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod discovery;
mod error;
pub mod events;
pub mod introspect;
pub mod refresh;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcpguard::ConfigError;
use mcpguard::config::GuardConfig;
use mcpguard::guard::{Guard, GuardOptions, RemoteAudit};
use mcpguard::token::{AuthConfig, TokenValidator};
use parking_lot::Mutex;

pub use error::FetchError;
pub use events::{Event, EventKind, EventSink, FetchStats};

use client::Client;
use events::Events;
use introspect::HttpIntrospector;
use refresh::{Run, Shared, State, Wake};

/// Options beyond the configuration document.
#[derive(Clone, Default)]
pub struct FetchOptions {
    /// Receives every fetch, failure, rotation and introspection call.
    pub on_event: Option<EventSink>,
    /// The Guard whose audit also records them ([`Fetcher::attach`] sets it).
    pub audit: Option<RemoteAudit>,
}

impl std::fmt::Debug for FetchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchOptions")
            .field("on_event", &self.on_event.is_some())
            .field("audit", &self.audit.is_some())
            .finish()
    }
}

/// The fetcher attached to one validator: its refresher thread and its
/// introspection client. Keep it as long as the Guard; dropping it detaches
/// both hooks and stops the thread. Dropping the Guard first also stops the
/// thread (it serves a validator that is gone).
pub struct Fetcher {
    shared: Arc<Shared>,
    validator: mcpguard::token::WeakTokenValidator,
    /// Some issuer's keys are fetched: a refresher thread runs.
    refreshes: bool,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("issuers", &self.shared.lock().runs.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Builds a Guard from configuration text and attaches a fetcher to it.
pub fn guard_from_json(text: &str) -> Result<(Guard, Fetcher), ConfigError> {
    guard_from_config(GuardConfig::from_json(text)?, GuardOptions::default())
}

/// Builds a Guard from a parsed configuration and attaches a fetcher to it.
pub fn guard_from_config(
    config: GuardConfig,
    options: GuardOptions,
) -> Result<(Guard, Fetcher), ConfigError> {
    let guard = Guard::from_config(config.clone(), options)?;
    let fetcher = Fetcher::attach(&guard, &config)?;
    Ok((guard, fetcher))
}

impl Fetcher {
    /// Attaches a fetcher to `guard`, built from `config` (the document the
    /// Guard was built from). Its fetches, failures, rotations and
    /// introspection calls are audit events of the Guard.
    pub fn attach(guard: &Guard, config: &GuardConfig) -> Result<Fetcher, ConfigError> {
        Self::attach_with(guard, config, FetchOptions::default())
    }

    /// [`attach`](Self::attach) with options (an event sink of the host's
    /// own; `options.audit` is replaced by `guard`'s).
    pub fn attach_with(
        guard: &Guard,
        config: &GuardConfig,
        options: FetchOptions,
    ) -> Result<Fetcher, ConfigError> {
        let options = FetchOptions {
            audit: Some(guard.remote_audit()),
            ..options
        };
        Self::start(guard.token_validator(), &config.auth, options)
    }

    /// Attaches a fetcher to `validator`, built from `auth` (its
    /// configuration). Returns at once: the first fetches run on the
    /// fetcher's thread (see [`wait_ready`](Self::wait_ready)); until they
    /// succeed, the issuer's tokens are refused with `unknown_key`. Error
    /// paths are relative to the whole document (`auth.fetch.ca_pem`).
    pub fn start(
        validator: &TokenValidator,
        auth: &AuthConfig,
        options: FetchOptions,
    ) -> Result<Fetcher, ConfigError> {
        let client = Client::new(&auth.fetch)
            .map_err(|e| ConfigError::new("auth.fetch.ca_pem", e.to_string()))?;
        let events = Arc::new(Events::new(options.on_event, options.audit));
        let now = Instant::now();
        let mut runs = Vec::new();
        let mut introspector = None;
        for (i, ic) in auth.issuers.iter().enumerate() {
            if validator.key_count(&ic.issuer).is_none() {
                return Err(ConfigError::new(
                    format!("auth.issuers[{i}].issuer"),
                    "is not an issuer of this Guard (attach with the configuration it was built from)",
                ));
            }
            let ix = ic.introspection.as_ref().map(|ix| {
                Arc::new(HttpIntrospector::new(
                    &ic.issuer,
                    client.clone(),
                    ix.endpoint.clone(),
                    &ix.client_id,
                    &ix.client_secret,
                    Arc::clone(&events),
                ))
            });
            if let Some(ix) = &ix {
                introspector = Some(Arc::clone(ix));
            }
            if ic.jwks_uri.is_some() || ic.discovery {
                runs.push(Run {
                    issuer: ic.issuer.clone(),
                    jwks_uri: ic.jwks_uri.clone(),
                    discovery: ic.discovery,
                    introspector: ix.filter(|ix| ix.endpoint.read().is_none()),
                    due: now,
                    hinted: false,
                    failures: 0,
                    tried: false,
                    applied: None,
                });
            }
        }
        let refreshes = !runs.is_empty();
        let shared = Arc::new(Shared {
            state: std::sync::Mutex::new(State { stop: false, runs }),
            wake: std::sync::Condvar::new(),
            events,
            min_refresh: Duration::from_secs(auth.fetch.min_refresh_seconds),
            max_refresh: Duration::from_secs(auth.fetch.max_refresh_seconds),
            client,
            validator: validator.downgrade(),
            thread: Mutex::default(),
        });
        if let Some(ix) = introspector {
            validator.set_introspector(Some(ix));
        }
        if refreshes {
            validator.set_key_refresh(Some(Arc::new(Wake(Arc::clone(&shared)))));
            shared.ensure_thread().map_err(|e| {
                ConfigError::new("auth", format!("cannot start the fetch thread: {e}"))
            })?;
        }
        Ok(Fetcher {
            shared,
            validator: validator.downgrade(),
            refreshes,
        })
    }

    /// Waits until every issuer's first fetch has been tried (succeeded or
    /// failed), at most `timeout`; true if they all were.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if st.stop || st.runs.iter().all(|r| r.tried) {
                return st.runs.iter().all(|r| r.tried);
            }
            let (next, timed_out) = self.shared.wait(st, Some(deadline));
            st = next;
            if timed_out {
                return st.runs.iter().all(|r| r.tried);
            }
        }
    }

    /// Asks for `issuer`'s keys to be fetched now (as a refresh hint does);
    /// false if the fetcher does not keep that issuer's keys.
    pub fn refresh_now(&self, issuer: &str) -> bool {
        let mut st = self.shared.lock();
        let Some(run) = st.runs.iter_mut().find(|r| r.issuer == issuer) else {
            return false;
        };
        run.hinted = true;
        drop(st);
        self.shared.wake.notify_all();
        true
    }

    /// Call in a child process after `fork` (a pre-forking server built
    /// the Guard before forking its workers): starts this process's own
    /// refresher thread, since fork copies only the thread that forked.
    /// Without it the child starts one at its first refresh hint (an
    /// unknown `kid`), and keeps the keys it was forked with until then.
    /// Does nothing where the thread already runs, or when no keys are
    /// fetched. The Python binding calls it from `os.register_at_fork`.
    pub fn after_fork(&self) -> std::io::Result<()> {
        if self.refreshes {
            self.shared.ensure_thread()?;
        }
        Ok(())
    }

    /// The counters so far.
    pub fn stats(&self) -> FetchStats {
        self.shared.events.stats()
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        if let Some(v) = self.validator.upgrade() {
            v.set_key_refresh(None);
            v.set_introspector(None);
        }
        self.shared.stop_and_join();
    }
}
