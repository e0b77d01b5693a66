//! [`RedisStore`]: the rate-limit state of every replica in one Redis, one
//! Lua script per request.
//!
//! Decides the key layout and the wire format of the script; the
//! algorithms' arithmetic is quota.rs's, restated in `script.lua` in
//! integers below 2^53 (Redis Lua numbers are doubles). Keys are
//! `<prefix>{<sha256 of the client key, 128 bits hex>}:<algorithm>:<limit>:<window ns>:<burst>:<limit name>`:
//! the client key is never stored, a request's keys share one cluster hash
//! slot, and a change of a limit's numbers starts a fresh budget instead of
//! misreading the old one's state. Keys expire when their state would read
//! as fresh (PX), so Redis holds only live state.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcpguard::ratelimit::{Algorithm, Limit};
use mcpguard::shared::{
    OnError, RedisConfig, SharedLimit, SharedRateStore, SharedStoreError, SharedVerdict,
};
use redis::Script;

use crate::breaker::{Admit, Breaker};
use crate::pool::Pool;

/// The largest window × capacity (ns) the script computes exactly: 2^50,
/// leaving room below 2^53 for the sums the algorithms form.
pub const MAX_EXACT_NANOS: u64 = 1 << 50;

const SCRIPT: &str = include_str!("script.lua");

/// Counters of one store, read by [`SharedRateStore::metrics_text`].
#[derive(Debug, Default)]
struct Stats {
    round_trips: AtomicU64,
    errors: AtomicU64,
    breaker_opened: AtomicU64,
    breaker_rejected: AtomicU64,
    latency_nanos: AtomicU64,
    fallbacks: AtomicU64,
}

/// Rate-limit state in Redis (see the module docs).
pub struct RedisStore {
    pool: Pool,
    script: Script,
    prefix: String,
    on_error: OnError,
    breaker: Breaker,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("on_error", &self.on_error)
            .finish_non_exhaustive()
    }
}

/// The store could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `url` does not parse as a Redis URL.
    #[error("store.redis.url is not a usable Redis URL: {0}")]
    Url(redis::RedisError),
}

impl RedisStore {
    /// A store for `config`. Connects nothing: an unreachable Redis is found
    /// by the first request (and `on_error` decides it).
    pub fn new(config: &RedisConfig) -> Result<Self, BuildError> {
        if config.url.starts_with("rediss://") {
            crate::install_tls_provider();
        }
        let client = redis::Client::open(config.url.as_str()).map_err(BuildError::Url)?;
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        Ok(Self {
            pool: Pool::new(client, config.pool_size.max(1) as usize, timeout),
            script: Script::new(SCRIPT),
            prefix: config.prefix.clone(),
            on_error: config.on_error,
            breaker: Breaker::new(),
            stats: Arc::default(),
        })
    }

    /// The Redis key of one limit for one client key.
    pub fn key(&self, limit: &SharedLimit<'_>, client_hash: &str) -> String {
        let q = limit.limit.quota();
        let alg = algorithm_code(limit.limit.algorithm());
        format!(
            "{}{{{client_hash}}}:{alg}:{}:{}:{}:{}",
            self.prefix,
            q.limit(),
            q.window_nanos(),
            q.burst(),
            limit.name
        )
    }

    /// Runs the script once; `Err` is a description of the failure.
    fn run(
        &self,
        limits: &[SharedLimit<'_>],
        key: &str,
        now: Option<u64>,
        cost: u64,
    ) -> Result<Vec<i64>, String> {
        let hash = client_hash(key);
        let mut inv = self.script.prepare_invoke();
        for l in limits {
            inv.key(self.key(l, &hash));
        }
        match now {
            Some(n) => inv.arg(n / 1_000_000_000).arg(n % 1_000_000_000),
            None => inv.arg("").arg(""),
        };
        inv.arg(cost.max(1)).arg(u8::from(cost > 0));
        for l in limits {
            let q = l.limit.quota();
            inv.arg(algorithm_code(l.limit.algorithm()))
                .arg(q.limit())
                .arg(q.window_nanos())
                .arg(q.burst());
        }
        let mut conn = self.pool.get().map_err(|e| e.to_string())?;
        // EVALSHA; on NOSCRIPT (a restarted or flushed server) the script is
        // loaded and the call repeated.
        match inv.invoke::<Vec<i64>>(&mut conn) {
            Ok(v) => {
                self.pool.put(conn);
                Ok(v)
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

fn algorithm_code(a: Algorithm) -> &'static str {
    match a {
        Algorithm::FixedWindow => "f",
        Algorithm::SlidingWindow => "s",
        Algorithm::TokenBucket => "t",
    }
}

/// The first 128 bits of the key's SHA-256, in hex: the key itself never
/// reaches Redis, and every replica derives the same name.
fn client_hash(key: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    let mut s = String::with_capacity(32);
    for b in &d.as_ref()[..16] {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl SharedRateStore for RedisStore {
    fn check(
        &self,
        limits: &[SharedLimit<'_>],
        key: &str,
        now_nanos: Option<u64>,
        cost: u64,
    ) -> Result<Vec<SharedVerdict>, SharedStoreError> {
        let s = &self.stats;
        if let Admit::Open(ms) = self.breaker.admit() {
            s.breaker_rejected.fetch_add(1, Ordering::Relaxed);
            s.fallbacks.fetch_add(1, Ordering::Relaxed);
            return Err(SharedStoreError::Unavailable {
                detail: "circuit breaker open after a Redis failure".into(),
                retry_after_ms: ms,
            });
        }
        let start = Instant::now();
        let result = self.run(limits, key, now_nanos, cost);
        s.round_trips.fetch_add(1, Ordering::Relaxed);
        s.latency_nanos
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let answer = result.and_then(|v| parse(&v, limits.len()));
        match answer {
            Ok(v) => {
                self.breaker.success();
                Ok(v)
            }
            Err(detail) => {
                s.errors.fetch_add(1, Ordering::Relaxed);
                s.fallbacks.fetch_add(1, Ordering::Relaxed);
                if self.breaker.failure() {
                    s.breaker_opened.fetch_add(1, Ordering::Relaxed);
                }
                self.pool.clear();
                Err(SharedStoreError::Unavailable {
                    detail,
                    retry_after_ms: crate::breaker::OPEN_MS,
                })
            }
        }
    }

    fn supports(&self, limit: &Limit) -> Result<(), String> {
        let q = limit.quota();
        let size = q
            .window_nanos()
            .saturating_mul(q.limit().max(q.burst()).max(1));
        if size > MAX_EXACT_NANOS {
            return Err(format!(
                "window × limit is {size} ns, above the {MAX_EXACT_NANOS} ns the Redis store \
                 computes exactly (shorten the window or lower the limit)"
            ));
        }
        Ok(())
    }

    fn on_error(&self) -> OnError {
        self.on_error
    }

    fn metrics_text(&self, out: &mut String) {
        let s = &self.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "mcpguard_store_round_trips_total",
            "Round trips to the shared store.",
            get(&s.round_trips),
        );
        counter(
            "mcpguard_store_errors_total",
            "Round trips that failed (down, slow, refused).",
            get(&s.errors),
        );
        counter(
            "mcpguard_store_breaker_opened_total",
            "Times the circuit breaker opened.",
            get(&s.breaker_opened),
        );
        counter(
            "mcpguard_store_breaker_rejected_total",
            "Requests not sent because the breaker was open.",
            get(&s.breaker_rejected),
        );
        counter(
            "mcpguard_store_fallbacks_total",
            "Requests decided by on_error instead of the store.",
            get(&s.fallbacks),
        );
        let secs = get(&s.latency_nanos) as f64 / 1e9;
        let _ = writeln!(
            out,
            "# HELP mcpguard_store_latency_seconds_sum Seconds spent in round trips \
             (divide by the round trips for the mean).\n\
             # TYPE mcpguard_store_latency_seconds_sum counter\n\
             mcpguard_store_latency_seconds_sum {secs}"
        );
        let _ = writeln!(
            out,
            "# HELP mcpguard_store_breaker_open Whether the circuit breaker is open (1) now.\n\
             # TYPE mcpguard_store_breaker_open gauge\nmcpguard_store_breaker_open {}\n\
             # HELP mcpguard_store_on_error The configured on_error policy.\n\
             # TYPE mcpguard_store_on_error gauge\nmcpguard_store_on_error{{policy=\"{}\"}} 1",
            u8::from(self.breaker.is_open()),
            self.on_error.as_str()
        );
    }
}

/// Five integers per limit: allowed, never, remaining, reset, retry (-1 = none).
fn parse(v: &[i64], n: usize) -> Result<Vec<SharedVerdict>, String> {
    if v.len() != n * 5 {
        return Err(format!(
            "the script returned {} numbers for {n} limits",
            v.len()
        ));
    }
    let ticks = |x: i64| u128::from(x.max(0) as u64);
    Ok(v.chunks_exact(5)
        .map(|c| SharedVerdict {
            allowed: c[0] == 1,
            never: c[1] == 1,
            remaining: c[2].max(0) as u64,
            reset: ticks(c[3]),
            retry: (c[4] >= 0).then(|| ticks(c[4])),
        })
        .collect())
}
