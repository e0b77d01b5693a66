//! [`RedisStore`]: the rate-limit state of every replica in one Redis, one
//! Lua script per request.
//!
//! Decides the key layout and the wire format of the script. The script
//! decides and stores exactly (counts times durations as bignums: Redis
//! Lua numbers are doubles) and returns the states it found; the core then
//! computes every reported number with quota.rs's own code. Keys are
//! `<prefix>{<sha256 of the client key, 128 bits hex>}:v2:<algorithm>:<limit>:<window ns>:<burst>:<limit name>`:
//! the client key is never stored, a request's keys share one cluster hash
//! slot, and a change of a limit's numbers starts a fresh budget instead of
//! misreading the old one's state. Keys expire one second after their state
//! would read as fresh (PX, by Redis's clock; the grace covers a Guard that
//! passes its own time), so Redis holds only live state.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcpguard::ratelimit::{Algorithm, Limit, State};
use mcpguard::shared::{
    OnError, RedisConfig, SharedAnswer, SharedFuture, SharedLimit, SharedRateStore,
    SharedStoreError,
};
use redis::{ConnectionLike, Script};

use crate::breaker::{Admit, Breaker};
use crate::function::Function;
use crate::pipeline::{Io, Pipeline};
use crate::pool::{Connector, Pool};

/// The longest window (and token-bucket refill time, `burst × window /
/// limit`) the script handles: 2^51 ns, about 26 days, so that times and
/// their sums stay exact integers in a double.
pub const MAX_WINDOW_NANOS: u64 = 1 << 51;

const SCRIPT: &str = include_str!("script.lua");

/// The format of the stored state, part of every key: `v2` is four
/// little-endian doubles (`struct.pack('<dddd')`). The text state of the
/// first version lives under other names, so a fleet in the middle of an
/// upgrade never misreads one (each version counts its own budget until
/// the old keys expire).
const STATE_FORMAT: &str = "v2";

/// What a round trip's outcome does to the store: its counters and its
/// circuit breaker, shared by the pooled path and the pipeline's futures
/// so that both count and trip the breaker alike.
pub(crate) struct Health {
    pub(crate) stats: Stats,
    breaker: Breaker,
}

impl Health {
    fn new() -> Self {
        Health {
            stats: Stats::default(),
            breaker: Breaker::new(),
        }
    }

    /// Whether to try Redis now; refused while the breaker is open
    /// (counted as rejected and decided by `on_error`).
    fn admit(&self) -> Result<(), SharedStoreError> {
        match self.breaker.admit() {
            Admit::Go => Ok(()),
            Admit::Open(ms) => {
                let s = &self.stats;
                s.breaker_rejected.fetch_add(1, Ordering::Relaxed);
                s.fallbacks.fetch_add(1, Ordering::Relaxed);
                Err(SharedStoreError::Unavailable {
                    detail: "circuit breaker open after a Redis failure".into(),
                    retry_after_ms: ms,
                })
            }
        }
    }

    /// A round trip's result, begun at `start`: its latency counted, the
    /// breaker told, a failure counted and turned into the store's error.
    fn settle<T>(
        &self,
        start: Instant,
        result: redis::RedisResult<T>,
    ) -> Result<T, SharedStoreError> {
        let s = &self.stats;
        s.latency_nanos
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        match result {
            Ok(v) => {
                self.breaker.success();
                Ok(v)
            }
            Err(e) => {
                s.errors.fetch_add(1, Ordering::Relaxed);
                s.fallbacks.fetch_add(1, Ordering::Relaxed);
                if self.breaker.failure() {
                    s.breaker_opened.fetch_add(1, Ordering::Relaxed);
                }
                Err(SharedStoreError::Unavailable {
                    detail: e.to_string(),
                    retry_after_ms: crate::breaker::OPEN_MS,
                })
            }
        }
    }

    /// The script's reply read for `limits`; one it cannot read is counted
    /// as an error.
    fn answer(
        &self,
        reply: &[u8],
        limits: impl ExactSizeIterator<Item = Limit>,
    ) -> Result<SharedAnswer, SharedStoreError> {
        parse(reply, limits).map_err(|detail| {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            SharedStoreError::Unavailable {
                detail,
                retry_after_ms: crate::breaker::OPEN_MS,
            }
        })
    }
}

/// Counters of one store, read by [`SharedRateStore::metrics_text`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) round_trips: AtomicU64,
    errors: AtomicU64,
    breaker_opened: AtomicU64,
    breaker_rejected: AtomicU64,
    latency_nanos: AtomicU64,
    fallbacks: AtomicU64,
    /// Checks sent down the pipeline (each also counted below as a
    /// round trip's share).
    pipelined: AtomicU64,
    /// Idle connections found closed by the server or the network, and
    /// replaced (`pool::round_trip`).
    pub(crate) reconnects: AtomicU64,
}

/// Rate-limit state in Redis (see the module docs).
pub struct RedisStore {
    pool: Pool,
    /// Checks awaited rather than waited for, on one connection (one
    /// server only: `None` for a cluster).
    pipeline: Option<Pipeline>,
    script: Script,
    /// The same script as a Redis function, used where the server has them.
    function: Arc<Function>,
    prefix: String,
    pub(crate) on_error: OnError,
    health: Arc<Health>,
    timeout: Duration,
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
    /// `url` (or one of `urls`) does not parse as a Redis URL.
    #[error("store.redis.url is not a usable Redis URL: {0}")]
    Url(redis::RedisError),
}

impl RedisStore {
    /// A store for `config`. Connects nothing: an unreachable Redis is found
    /// by the first request (and `on_error` decides it).
    pub fn new(config: &RedisConfig) -> Result<Self, BuildError> {
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        let connector = Connector::for_config(config, timeout).map_err(BuildError::Url)?;
        let script = Script::new(SCRIPT);
        let function = Arc::new(Function::new(SCRIPT));
        let health = Arc::new(Health::new());
        let pipeline = match &connector {
            Connector::Single(client) => Some(Pipeline::new(Io {
                client: client.clone(),
                function: Arc::clone(&function),
                script: script.clone(),
                health: Arc::clone(&health),
            })),
            Connector::Cluster(_) => None,
        };
        Ok(Self {
            pool: Pool::new(connector, config.pool_size.max(1) as usize, timeout),
            pipeline,
            script,
            function,
            prefix: config.prefix.clone(),
            on_error: config.on_error,
            health,
            timeout,
        })
    }

    /// One round trip at startup (PING, then the script loaded): costs at
    /// most one timeout, never fails the caller; an unreachable Redis shows
    /// in the counters and opens the breaker at once.
    pub fn probe(&self) {
        let (script, function) = (&self.script, &self.function);
        let _ = self.call(|c| {
            redis::cmd("PING").query::<()>(c)?;
            function.load(c)?;
            script.load(c).map(|_| ())
        });
    }

    /// The Redis key of one limit for one client key.
    pub fn key(&self, limit: &SharedLimit<'_>, client_hash: &str) -> String {
        let mut k = String::new();
        self.write_key(&mut k, limit, client_hash);
        k
    }

    fn write_key(&self, out: &mut String, limit: &SharedLimit<'_>, client_hash: &str) {
        let q = limit.limit.quota();
        let alg = algorithm_code(limit.limit.algorithm());
        let _ = write!(
            out,
            "{}{{{client_hash}}}:{STATE_FORMAT}:{alg}:{}:{}:{}:{}",
            self.prefix,
            q.limit(),
            q.window_nanos(),
            q.burst(),
            limit.name
        );
    }

    /// The check as `name` (`FCALL` of the function or `EVALSHA` of the
    /// script) of `target`, written straight into one buffer (the `Script`
    /// invocation helper copies every argument twice more).
    fn command(
        &self,
        name: &str,
        target: &str,
        limits: &[SharedLimit<'_>],
        client_hash: &str,
        now_nanos: Option<u64>,
        cost: u64,
    ) -> redis::Cmd {
        let mut cmd = redis::cmd(name);
        cmd.arg(target).arg(limits.len());
        let mut key = String::with_capacity(self.prefix.len() + 96);
        for l in limits {
            key.clear();
            self.write_key(&mut key, l, client_hash);
            cmd.arg(key.as_str());
        }
        // The numbers as the script's one binary argument (script.lua):
        // little-endian doubles, each the value `tonumber` would have read
        // from its decimal text (both round to nearest).
        let mut numbers = Vec::with_capacity(8 * (4 + 4 * limits.len()));
        let mut put = |v: f64| numbers.extend_from_slice(&v.to_le_bytes());
        match now_nanos {
            Some(n) => {
                put((n / 1_000_000_000) as f64);
                put((n % 1_000_000_000) as f64);
            }
            None => {
                put(-1.0);
                put(0.0);
            }
        }
        put(cost.max(1) as f64);
        put(f64::from(u8::from(cost > 0)));
        for l in limits {
            let q = l.limit.quota();
            put(script_algorithm(l.limit.algorithm()));
            put(q.limit() as f64);
            put(q.window_nanos() as f64);
            put(q.burst() as f64);
        }
        cmd.arg(numbers);
        cmd
    }

    /// One round trip on a pooled connection, behind the breaker, counted.
    pub(crate) fn call<T>(
        &self,
        f: impl FnMut(&mut dyn ConnectionLike) -> redis::RedisResult<T>,
    ) -> Result<T, SharedStoreError> {
        self.health.admit()?;
        let start = Instant::now();
        let held = crate::signals::hold();
        let result = crate::pool::round_trip(&self.pool, f, || {
            self.health.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        });
        drop(held);
        self.health
            .stats
            .round_trips
            .fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            self.pool.clear();
        }
        self.health.settle(start, result)
    }

    /// A key for token state: every token key shares the `{tok}` hash slot,
    /// so a revocation and the epoch move in one script.
    pub(crate) fn token_key(&self, kind: &str, id: &[u8; 32]) -> String {
        let mut k = format!("{}{{tok}}:{kind}:", self.prefix);
        for b in id {
            let _ = write!(k, "{b:02x}");
        }
        k
    }

    /// The revocation epoch's key.
    pub(crate) fn epoch_key(&self) -> String {
        format!("{}{{tok}}:epoch", self.prefix)
    }
}

/// The algorithm's number in the script's argument (script.lua).
fn script_algorithm(a: Algorithm) -> f64 {
    match a {
        Algorithm::FixedWindow => 1.0,
        Algorithm::SlidingWindow => 2.0,
        Algorithm::TokenBucket => 3.0,
    }
}

/// The algorithm's letter in a state key's name.
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
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    let mut s = String::with_capacity(32);
    for b in &d.as_ref()[..16] {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
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
    ) -> Result<SharedAnswer, SharedStoreError> {
        let hash = client_hash(key);
        let command =
            |name: &str, target: &str| self.command(name, target, limits, &hash, now_nanos, cost);
        let (script, function) = (&self.script, &self.function);
        let reply = self.call(|conn| {
            if function.supported()
                && let Some(answer) = function.call(conn, &command("FCALL", &function.name))
            {
                return answer;
            }
            let cmd = command("EVALSHA", script.get_hash());
            match cmd.query::<Vec<u8>>(conn) {
                // A restarted or flushed server lost the script: load it,
                // and send the call again.
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    script.load(conn)?;
                    cmd.query::<Vec<u8>>(conn)
                }
                other => other,
            }
        })?;
        self.health.answer(&reply, limits.iter().map(|l| l.limit))
    }

    fn answers_later(&self) -> bool {
        self.pipeline.is_some()
    }

    fn check_later(
        &self,
        limits: &[SharedLimit<'_>],
        key: &str,
        now_nanos: Option<u64>,
        cost: u64,
    ) -> Option<SharedFuture> {
        let pipeline = self.pipeline.as_ref()?;
        if let Err(refused) = self.health.admit() {
            return Some(Box::pin(std::future::ready(Err(refused))));
        }
        let hash = client_hash(key);
        let packed = |name: &str, target: &str| {
            self.command(name, target, limits, &hash, now_nanos, cost)
                .get_packed_command()
        };
        let fcall = packed("FCALL", &self.function.name);
        let evalsha = packed("EVALSHA", self.script.get_hash());
        let pending = pipeline.send(fcall, evalsha, self.timeout)?;
        let health = Arc::clone(&self.health);
        let limits: Vec<Limit> = limits.iter().map(|l| l.limit).collect();
        let start = Instant::now();
        Some(Box::pin(async move {
            let result = pending.await;
            health.stats.pipelined.fetch_add(1, Ordering::Relaxed);
            let reply = health.settle(start, result)?;
            health.answer(&reply, limits.iter().copied())
        }))
    }

    fn supports(&self, limit: &Limit) -> Result<(), String> {
        let q = limit.quota();
        let refill = match limit.algorithm() {
            Algorithm::TokenBucket if q.limit() > 0 => {
                u128::from(q.window_nanos()) * u128::from(q.burst()) / u128::from(q.limit())
            }
            _ => 0,
        };
        let longest = refill.max(u128::from(q.window_nanos()));
        if longest > u128::from(MAX_WINDOW_NANOS) {
            return Err(format!(
                "its window (or the token bucket's refill time) is {longest} ns, above the \
                 {MAX_WINDOW_NANOS} ns (about 26 days) the Redis store handles"
            ));
        }
        Ok(())
    }

    fn on_error(&self) -> OnError {
        self.on_error
    }

    fn metrics_text(&self, out: &mut String) {
        let s = &self.health.stats;
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
            "mcpguard_store_pipelined_total",
            "Checks awaited on the pipelined connection (many share a round trip).",
            get(&s.pipelined),
        );
        counter(
            "mcpguard_store_reconnects_total",
            "Idle connections found closed (Redis's idle timeout, a NAT, a restart) and replaced without a failure.",
            get(&s.reconnects),
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
            u8::from(self.health.breaker.is_open()),
            self.on_error.as_str()
        );
    }
}

/// 2^53: every whole number up to it is exact in a double.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// The script's reply: `now_sec, now_ns, committed` as three little-endian
/// doubles, then per limit 33 bytes: present (1/0) and the state's four
/// fields as the script stores them (four little-endian doubles). Every
/// number is a whole one from 0 to 2^53 (exact in a double), or the reply
/// is refused.
fn parse(
    reply: &[u8],
    limits: impl ExactSizeIterator<Item = Limit>,
) -> Result<SharedAnswer, String> {
    const HEAD: usize = 24;
    const PER_LIMIT: usize = 33;
    let count = limits.len();
    let wrong = || {
        format!(
            "the script returned {} bytes for {count} limits",
            reply.len(),
        )
    };
    if reply.len() != HEAD + count * PER_LIMIT {
        return Err(wrong());
    }
    let (head, rest) = reply.split_at(HEAD);
    let [sec, ns, committed] = wholes(head)?;
    let time = |sec: u64, ns: u64| sec.saturating_mul(1_000_000_000).saturating_add(ns);
    let states = rest
        .chunks_exact(PER_LIMIT)
        .zip(limits)
        .map(|(block, l)| match block[0] {
            0 if block[1..].iter().all(|b| *b == 0) => Ok(None),
            1 => {
                let [sec, ns, x, y] = wholes(&block[1..])?;
                let start = time(sec, ns);
                Ok(Some(match l.algorithm() {
                    Algorithm::FixedWindow => State { a: start, b: x },
                    Algorithm::SlidingWindow => State {
                        a: start,
                        b: (x << 32) | (y & 0xffff_ffff),
                    },
                    Algorithm::TokenBucket => {
                        let per = u128::from(l.quota().limit());
                        let tat = (u128::from(start) + u128::from(x)) * per + u128::from(y);
                        State {
                            a: (tat >> 64) as u64,
                            b: tat as u64,
                        }
                    }
                }))
            }
            _ => Err(wrong()),
        })
        .collect::<Result<_, String>>()?;
    Ok(SharedAnswer {
        now_nanos: time(sec, ns),
        states,
        committed: committed == 1,
    })
}

/// The `N` whole numbers in `8 * N` bytes of little-endian doubles, each
/// from 0 to 2^53.
fn wholes<const N: usize>(bytes: &[u8]) -> Result<[u64; N], String> {
    let mut out = [0u64; N];
    for (slot, le) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(le);
        let x = f64::from_le_bytes(b);
        if !(0.0..=EXACT).contains(&x) || x.fract() != 0.0 {
            return Err(format!(
                "the script returned {x}, not a whole number from 0 to 2^53"
            ));
        }
        // Whole and in range: the conversion is exact.
        *slot = x as u64;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpguard::ratelimit::Quota;

    fn fixed() -> SharedLimit<'static> {
        let quota = Quota::new(Algorithm::FixedWindow, 10, 60.0, None).unwrap();
        SharedLimit {
            name: "default",
            limit: Limit::new(Algorithm::FixedWindow, quota),
        }
    }

    fn doubles(xs: &[f64]) -> Vec<u8> {
        xs.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn a_reply_reads_the_time_the_commit_and_each_state_found() {
        let mut reply = doubles(&[1_700_000_000.0, 5.0, 1.0]);
        reply.push(1);
        reply.extend(doubles(&[1_699_999_990.0, 7.0, 3.0, 0.0]));
        reply.extend([0; 33]);
        let answer = parse(&reply, [fixed(), fixed()].iter().map(|l| l.limit)).unwrap();
        assert_eq!(answer.now_nanos, 1_700_000_000_000_000_005);
        assert!(answer.committed);
        assert_eq!(
            answer.states,
            [
                Some(State {
                    a: 1_699_999_990_000_000_007,
                    b: 3
                }),
                None
            ]
        );
    }

    #[test]
    fn a_reply_that_is_not_the_scripts_is_refused() {
        let head = doubles(&[1.0, 2.0, 0.0]);
        let with = |block: &[u8]| [head.as_slice(), block].concat();
        let state = |xs: &[f64]| [[1u8].as_slice(), &doubles(xs)].concat();
        // Too short, too long, and a presence byte that is neither 0 nor 1.
        assert!(parse(&head, [fixed().limit].into_iter()).is_err());
        assert!(parse(&with(&[0; 34]), [fixed().limit].into_iter()).is_err());
        assert!(
            parse(
                &with(&[[2u8].as_slice(), &[0; 32]].concat()),
                [fixed().limit].into_iter()
            )
            .is_err()
        );
        // "None" with bytes after it.
        assert!(
            parse(
                &with(&[[0u8].as_slice(), &[1; 32]].concat()),
                [fixed().limit].into_iter()
            )
            .is_err()
        );
        // Negative, fractional, infinite, NaN and past 2^53.
        for bad in [-1.0, 0.5, f64::INFINITY, f64::NAN, 2f64.powi(54)] {
            assert!(
                parse(
                    &with(&state(&[1.0, 0.0, bad, 0.0])),
                    [fixed().limit].into_iter()
                )
                .is_err(),
                "{bad}"
            );
        }
        assert!(
            parse(
                &with(&state(&[1.0, 0.0, 2.0, 0.0])),
                [fixed().limit].into_iter()
            )
            .is_ok()
        );
    }
}
