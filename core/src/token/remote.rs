//! What the core asks of a fetcher: the two hooks through which keys and
//! introspection answers come from the authorization servers, the rules a
//! configured URL must meet, and the cache of introspection answers.
//!
//! The core never does I/O here. A fetcher (the `mcpguard-fetch` crate)
//! attaches itself to a [`TokenValidator`](super::TokenValidator):
//! - a [`KeyRefresh`] is told, at most once per refresh cooldown per
//!   issuer, that a token named a key the issuer's set lacks; it must
//!   return at once (it wakes its own thread) and later hands the new set to
//!   [`set_jwks`](super::TokenValidator::set_jwks);
//! - an [`Introspector`] is called synchronously, on the request's thread,
//!   for a dot-free token that neither the verified-token cache, the opaque
//!   store nor the [`IntrospectionCache`] knows. Its answer (the RFC 7662
//!   response body) is checked by the core like any introspection response
//!   and kept, by the token's SHA-256, until the earlier of its `exp` and
//!   `introspection.cache_seconds`. A failure never admits: it is
//!   `inactive` or `store_unavailable` as configured.
//!
//! How long a request may block on an uncached opaque token: requests that
//! present the same token at the same time make one call: the first calls
//! the endpoint, bounded by the fetcher's whole-call timeout
//! (`auth.fetch.timeout_ms`); the others wait for its answer, at most that
//! same `timeout_ms` (an introspector that overruns its timeout cannot hold
//! them longer), then get the configured `on_error` refusal. So no request
//! blocks much longer than `timeout_ms`, however many arrive, and a token
//! costs one endpoint call per kept answer.
//!
//! URLs a fetcher may call come from the configuration only (`jwks_uri`,
//! `issuer` with `discovery`, `introspection.endpoint`), never from a token
//! (`jku`, `x5u` and `iss` are not followed). [`check_fetch_url`] decides
//! which are acceptable: `https://`, or `http://` on a loopback host.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use parking_lot::{Condvar, Mutex, RwLock};

use super::error::TokenError;
use super::opaque::sha256;
use super::principal::Principal;

/// Told when a token named a key an issuer's set lacks (already rate-limited
/// by the validator's refresh cooldown). Must not block.
pub trait KeyRefresh: Send + Sync {
    /// `issuer` (as configured) may have rotated its keys.
    fn refresh(&self, issuer: &str);
}

/// Asks the introspecting issuer about an opaque token. Called on the
/// request's thread; it blocks for at most the fetcher's timeout.
pub trait Introspector: Send + Sync {
    /// The endpoint's response body (RFC 7662 JSON) for `token`, or why
    /// there is none.
    fn introspect(&self, token: &str) -> Result<String, IntrospectionUnavailable>;
}

/// The introspection endpoint gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the introspection endpoint gave no answer: {0}")]
pub struct IntrospectionUnavailable(pub String);

/// What the remote sources did, for the Guard's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemoteCounts {
    /// JWK Sets (or metadata) a fetcher fetched and had accepted.
    pub jwks_fetches: u64,
    /// Fetches that failed or whose set was refused (the old set stayed).
    pub jwks_fetch_failures: u64,
    /// Key sets applied with `set_jwks` (each rotation, the first load included).
    pub jwks_updates: u64,
    /// Calls to the introspection endpoint.
    pub introspection_calls: u64,
    /// Calls that gave no usable answer (refused with `on_error`).
    pub introspection_failures: u64,
    /// Writes to the shared token store (revocations, opaque tokens) that
    /// wait for it to answer again.
    pub shared_writes_waiting: u64,
    /// Waiting writes the shared store took later.
    pub shared_writes_replayed: u64,
    /// Writes that could not wait (the queue was full): they hold in this
    /// process only.
    pub shared_writes_dropped: u64,
    /// Times the shared store was found to have lost its state and this
    /// process's revocations and opaque tokens were queued to it again.
    pub shared_store_resets: u64,
}

/// The atomics behind [`RemoteCounts`].
#[derive(Debug, Default)]
pub(crate) struct RemoteCounters {
    pub(crate) jwks_fetches: AtomicU64,
    pub(crate) jwks_fetch_failures: AtomicU64,
    pub(crate) introspection_calls: AtomicU64,
    pub(crate) introspection_failures: AtomicU64,
}

impl RemoteCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, jwks_updates: u64) -> RemoteCounts {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RemoteCounts {
            jwks_fetches: n(&self.jwks_fetches),
            jwks_fetch_failures: n(&self.jwks_fetch_failures),
            jwks_updates,
            introspection_calls: n(&self.introspection_calls),
            introspection_failures: n(&self.introspection_failures),
            shared_writes_waiting: 0,
            shared_writes_replayed: 0,
            shared_writes_dropped: 0,
            shared_store_resets: 0,
        }
    }
}

/// Whether `url` may be fetched: an absolute `https://` URL with a host, or
/// `http://` on a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`),
/// without user information. Returns what is wrong otherwise.
pub fn check_fetch_url(url: &str) -> Result<(), &'static str> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "is not an absolute URL (https://host/path)")?;
    let Some(authority) = uri.authority() else {
        return Err("is not an absolute URL (https://host/path)");
    };
    if authority.as_str().contains('@') {
        return Err("must not carry user information (user@host)");
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(authority.host()) => Ok(()),
        Some("http") => Err("must use https (plain http only on a loopback host, for tests)"),
        _ => Err("must be an https:// URL"),
    }
}

/// `localhost`, an IPv4 loopback address or `[::1]`.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Introspection answers by token SHA-256 (never the token), each kept until
/// its own deadline, at most `capacity` of them: a full cache first forgets
/// expired answers, then an arbitrary one.
pub struct IntrospectionCache {
    capacity: usize,
    map: RwLock<HashMap<u128, Kept>>,
}

struct Kept {
    digest: [u8; 32],
    principal: Arc<Principal>,
    until: i64,
}

impl std::fmt::Debug for IntrospectionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl IntrospectionCache {
    /// An empty cache holding at most `capacity` answers (0: none).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            map: RwLock::new(HashMap::new()),
        }
    }

    /// The answer kept for `token`, if one is still current at `now_secs`.
    pub fn get(&self, token: &str, now_secs: i64) -> Option<Arc<Principal>> {
        if self.capacity == 0 {
            return None;
        }
        let (digest, key) = sha256(token);
        let map = self.map.read();
        let kept = map.get(&key)?;
        (now_secs < kept.until && verify_slices_are_equal(&kept.digest, &digest).is_ok())
            .then(|| Arc::clone(&kept.principal))
    }

    /// Keeps `principal` for `token` until `until` (nothing when that is not
    /// after `now_secs`).
    pub fn insert(&self, token: &str, principal: Arc<Principal>, until: i64, now_secs: i64) {
        if self.capacity == 0 || until <= now_secs {
            return;
        }
        let (digest, key) = sha256(token);
        let mut map = self.map.write();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, k| now_secs < k.until);
            if map.len() >= self.capacity
                && let Some(&victim) = map.keys().next()
            {
                map.remove(&victim);
            }
        }
        map.insert(
            key,
            Kept {
                digest,
                principal,
                until,
            },
        );
    }

    /// Forgets `token`'s answer; returns its token `exp` when there was one.
    pub fn remove(&self, token: &str) -> Option<Option<i64>> {
        let (digest, key) = sha256(token);
        let mut map = self.map.write();
        let ours = map
            .get(&key)
            .is_some_and(|k| verify_slices_are_equal(&k.digest, &digest).is_ok());
        if ours {
            map.remove(&key).map(|k| k.principal.expires_at)
        } else {
            None
        }
    }

    /// Forgets every answer (the introspecting issuer changed its mind).
    pub fn clear(&self) {
        self.map.write().clear();
    }

    /// The number of answers held (expired ones included until pushed out).
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Whether no answer is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Calls in flight, by token SHA-256: concurrent requests presenting the
/// same unknown token wait for one call instead of each making their own,
/// so a token costs one endpoint call per kept answer.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<[u8; 32], Arc<Flight>>>,
}

type Answer = Result<Arc<Principal>, TokenError>;

#[derive(Default)]
struct Flight {
    answer: Mutex<Option<Answer>>,
    done: Condvar,
}

/// Settles a flight even if the call unwinds, so no follower waits forever.
struct Leader<'a> {
    flights: &'a Flights,
    digest: [u8; 32],
    flight: Arc<Flight>,
    fallback: Option<TokenError>,
}

impl Leader<'_> {
    fn settle(&mut self, answer: Answer) {
        *self.flight.answer.lock() = Some(answer);
        self.flight.done.notify_all();
        self.flights.map.lock().remove(&self.digest);
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if let Some(e) = self.fallback.take() {
            self.settle(Err(e));
        }
    }
}

impl Flights {
    /// `call()` for the first caller with `token`; later callers arriving
    /// while it runs get its answer, waiting at most `wait` for it (then
    /// `fallback`). `fallback` also settles the flight if `call` unwinds.
    pub(crate) fn run(
        &self,
        token: &str,
        fallback: TokenError,
        wait: Duration,
        call: impl FnOnce() -> Answer,
    ) -> Answer {
        let (digest, _) = sha256(token);
        let (flight, leads) = {
            let mut map = self.map.lock();
            match map.get(&digest) {
                Some(f) => (Arc::clone(f), false),
                None => {
                    let f = Arc::new(Flight::default());
                    map.insert(digest, Arc::clone(&f));
                    (f, true)
                }
            }
        };
        if !leads {
            let deadline = Instant::now() + wait;
            let mut answer = flight.answer.lock();
            while answer.is_none() {
                if flight.done.wait_until(&mut answer, deadline).timed_out() {
                    break;
                }
            }
            return answer.clone().unwrap_or(Err(fallback));
        }
        let mut leader = Leader {
            flights: self,
            digest,
            flight,
            fallback: Some(fallback),
        };
        let answer = call();
        leader.fallback = None;
        leader.settle(answer.clone());
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenKind;

    fn principal(exp: i64) -> Arc<Principal> {
        Arc::new(Principal {
            kind: TokenKind::Opaque,
            subject: Some("alice".into()),
            client_id: None,
            issuer: String::new(),
            audience: vec![],
            scopes: vec![],
            roles: vec![],
            tags: vec![],
            rejected_scopes: vec![],
            expires_at: Some(exp),
            jwt_id: None,
            claims_json: Arc::from("{}"),
            token_fingerprint: None,
            granted: None,
            rate_key: None,
        })
    }

    #[test]
    fn fetch_urls_are_https_or_loopback_http_only() {
        assert!(check_fetch_url("https://as.example/jwks").is_ok());
        assert!(check_fetch_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_fetch_url("http://localhost/jwks").is_ok());
        assert!(check_fetch_url("http://[::1]:9/jwks").is_ok());
        assert!(check_fetch_url("http://as.example/jwks").is_err());
        assert!(check_fetch_url("http://127.0.0.1.evil.example/").is_err());
        assert!(check_fetch_url("ftp://as.example/jwks").is_err());
        assert!(check_fetch_url("/jwks").is_err());
        assert!(check_fetch_url("https://user:pw@as.example/").is_err());
    }

    #[test]
    fn an_answer_is_kept_until_its_deadline_and_never_for_another_token() {
        let c = IntrospectionCache::new(4);
        c.insert("tok-a", principal(2_000), 1_100, 1_000);
        assert!(c.get("tok-a", 1_099).is_some());
        assert!(c.get("tok-a", 1_100).is_none());
        assert!(c.get("tok-b", 1_000).is_none());
        assert_eq!(c.remove("tok-a"), Some(Some(2_000)));
        assert!(c.get("tok-a", 1_000).is_none());
    }

    #[test]
    fn a_full_cache_stays_within_its_capacity() {
        let c = IntrospectionCache::new(2);
        for i in 0..10 {
            c.insert(&format!("tok-{i}"), principal(2_000), 1_500, 1_000);
        }
        assert_eq!(c.len(), 2);
        assert!(c.get("tok-9", 1_000).is_some());
    }
}
