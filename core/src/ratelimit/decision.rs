//! Keys to hashes, hashes to states, states to one [`RateDecision`]: the
//! engine that [`Limiter`](super::Limiter) and [`RatePolicy`](super::RatePolicy) share.
//!
//! Decides which of several limits a decision reports; leaves the choice of
//! limits (roles, rules) to the policy.

use std::borrow::Cow;
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_128_with_secret;

use super::quota::{Algorithm, Limit, QuotaError, Verdict};
use super::store::{MemoryStore, RateStore, StoreError, StoreKey};
use crate::clock::Clock;
use crate::shared::{OnError, SharedAnswer, SharedLimit, SharedRateStore, SharedStoreError};

/// Bytes of the random secret keying the key hash (xxh3's default secret size).
const SECRET_BYTES: usize = 192;

/// The answer to one rate-limit check.
#[derive(Debug, Clone, PartialEq)]
pub struct RateDecision {
    /// The request may proceed (and was counted).
    pub allowed: bool,
    /// The reported limit's capacity: `limit` for the windows, `burst` for
    /// the token bucket.
    pub limit: u64,
    /// Requests left now (after this one, when it was allowed).
    pub remaining: u64,
    /// Seconds until the full quota is back (0 for a fresh key).
    pub reset: f64,
    /// Seconds until this request would pass: `Some` (never 0) exactly when
    /// it was denied and waiting helps.
    pub retry_after: Option<f64>,
    /// Denied because the cost is more than the limit could ever admit.
    pub never: bool,
    /// Denied because the limit's key table is full of throttled keys and
    /// this key is new (see the module doc of `store`).
    pub table_full: bool,
    /// The reported limit: `"default"`, a role's name or a rule's name.
    pub policy: Cow<'static, str>,
    /// The reported limit's window in seconds; for the token bucket the time
    /// to refill the whole burst (`burst × window / limit`), so that `limit`
    /// per `window_seconds` states both its rate and its size.
    pub window_seconds: f64,
    /// The shared store could not answer and `on_error` decided this
    /// request (`None` when the store answered, or there is none).
    pub store_fallback: Option<OnError>,
}

impl RateDecision {
    /// `{"allowed", "limit", "remaining", "reset", "retry_after", "never", "policy"}`,
    /// seconds as whole numbers when they are whole (the shape of the
    /// conformance op `rate_limit`).
    pub fn to_json(&self) -> serde_json::Value {
        let secs = crate::json::seconds;
        serde_json::json!({
            "allowed": self.allowed,
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": secs(self.reset),
            "retry_after": self.retry_after.map(secs),
            "never": self.never,
            "policy": self.policy,
        })
    }
}

/// A limit with the name decisions report.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub name: Cow<'static, str>,
    pub limit: Limit,
    /// Kept ready: every decision reports it.
    window_seconds: f64,
}

impl Named {
    pub fn new(name: Cow<'static, str>, limit: Limit) -> Self {
        let q = limit.quota();
        let window_seconds = match (limit.algorithm(), q.limit()) {
            // The time to refill the whole burst: `burst` per that window is
            // both the bucket's rate and its size.
            (Algorithm::TokenBucket, l) if l > 0 => {
                q.window_seconds() * q.burst() as f64 / l as f64
            }
            _ => q.window_seconds(),
        };
        Self {
            name,
            limit,
            window_seconds,
        }
    }
}

/// Limits over one store, keyed by a secret hash.
///
/// Generic over the store so the in-process one is called statically (and
/// inlined); a shared backend is another `S`.
pub(crate) struct Engine<S: RateStore = MemoryStore> {
    pub limits: Vec<Named>,
    store: S,
    /// A store shared by replicas: asked first; `store` decides only when
    /// it fails and `on_error` is `local`.
    shared: Option<Arc<dyn SharedRateStore>>,
    secret: [u8; SECRET_BYTES],
    clock: Arc<dyn Clock>,
}

impl<S: RateStore> std::fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("limits", &self.limits)
            .field("store", &self.store)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Engine<MemoryStore> {
    pub fn new(
        limits: Vec<Named>,
        max_keys: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, QuotaError> {
        if max_keys == 0 {
            return Err(QuotaError::ZeroMaxKeys);
        }
        let plain: Vec<Limit> = limits.iter().map(|n| n.limit).collect();
        Engine::with_store(limits, MemoryStore::new(&plain, max_keys), clock)
    }
}

impl<S: RateStore> Engine<S> {
    /// Limits over `store`, which holds one table per limit, in order.
    pub fn with_store(
        limits: Vec<Named>,
        store: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, QuotaError> {
        let mut secret = [0u8; SECRET_BYTES];
        // A per-limiter random secret: nobody can aim keys at one shard or
        // make two keys share a budget without knowing it.
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| QuotaError::Random)?;
        Ok(Self {
            store,
            shared: None,
            limits,
            secret,
            clock,
        })
    }

    /// Puts the limits on a shared store, after checking that it can
    /// compute every one exactly (the error names the limit).
    pub fn share(&mut self, shared: Arc<dyn SharedRateStore>) -> Result<(), String> {
        for n in &self.limits {
            shared
                .supports(&n.limit)
                .map_err(|why| format!("rate limit '{}': {why}", n.name))?;
        }
        self.shared = Some(shared);
        Ok(())
    }

    /// The shared store, if any.
    pub fn shared(&self) -> Option<&Arc<dyn SharedRateStore>> {
        self.shared.as_ref()
    }

    #[inline]
    pub fn hash(&self, key: &str) -> u128 {
        xxh3_128_with_secret(key.as_bytes(), &self.secret)
    }

    pub fn clear(&self, index: usize, key: &str) {
        // Our own indices are always valid; an unknown one clears nothing.
        let _ = self.store.clear(StoreKey {
            limit: index,
            hash: self.hash(key),
        });
    }

    pub fn tracked(&self, index: usize) -> usize {
        self.store.tracked(index)
    }

    /// Checks `key` against the limits `indices` (ascending, distinct).
    /// Cost 0 peeks: it answers for a cost of 1 and consumes nothing.
    pub fn decide(&self, indices: &[usize], key: &str, cost: u64) -> RateDecision {
        if let Some(shared) = &self.shared {
            return self.decide_shared(shared.as_ref(), indices, key, cost, None);
        }
        self.decide_local(indices, key, cost, self.clock.now_nanos())
    }

    /// [`decide`](Self::decide) at `now_nanos`, a reading of this engine's
    /// clock the caller already took for the request (a Guard reads the
    /// clock once per request). A shared store on the wall clock still
    /// uses its own time.
    pub fn decide_at(
        &self,
        indices: &[usize],
        key: &str,
        cost: u64,
        now_nanos: u64,
    ) -> RateDecision {
        if let Some(shared) = &self.shared {
            return self.decide_shared(shared.as_ref(), indices, key, cost, Some(now_nanos));
        }
        self.decide_local(indices, key, cost, now_nanos)
    }

    /// With this process's own store.
    fn decide_local(&self, indices: &[usize], key: &str, cost: u64, now: u64) -> RateDecision {
        let hash = self.hash(key);
        match indices {
            [i] => self.decide_one(*i, hash, now, cost),
            _ => self.decide_many(indices, hash, now, cost),
        }
    }

    /// [`decide_at`](Self::decide_at), the shared store's answer awaited
    /// rather than waited for: with a store that answers later
    /// ([`SharedRateStore::check_later`]), no thread is held while it
    /// works. Decides exactly as `decide_at`.
    pub(crate) async fn decide_at_later(
        &self,
        indices: &[usize],
        key: &str,
        cost: u64,
        now_nanos: u64,
    ) -> RateDecision {
        let Some(shared) = &self.shared else {
            return self.decide_local(indices, key, cost, now_nanos);
        };
        let shared = shared.as_ref();
        let (limits, now) = self.shared_request(indices, Some(now_nanos));
        let pending = shared.check_later(&limits, key, now, cost);
        let result = match pending {
            Some(answer) => answer.await,
            None => shared.check(&limits, key, now, cost),
        };
        self.conclude_shared(shared, indices, key, cost, result)
    }

    /// With the shared store: one call for every limit; on failure,
    /// `on_error` decides.
    fn decide_shared(
        &self,
        shared: &dyn SharedRateStore,
        indices: &[usize],
        key: &str,
        cost: u64,
        now: Option<u64>,
    ) -> RateDecision {
        let (limits, now) = self.shared_request(indices, now);
        let result = shared.check(&limits, key, now, cost);
        self.conclude_shared(shared, indices, key, cost, result)
    }

    /// What a shared check sends: the limits `indices` name, and the time
    /// to decide at (`None`: the store's own clock, when this engine's
    /// clock is the wall clock).
    fn shared_request(
        &self,
        indices: &[usize],
        now: Option<u64>,
    ) -> (Vec<SharedLimit<'_>>, Option<u64>) {
        let limits = indices
            .iter()
            .filter_map(|&i| self.limits.get(i))
            .map(|n| SharedLimit {
                name: &n.name,
                limit: n.limit,
            })
            .collect();
        let now =
            (!self.clock.is_wall_clock()).then(|| now.unwrap_or_else(|| self.clock.now_nanos()));
        (limits, now)
    }

    /// The decision from the shared store's answer to a check of `indices`
    /// (or, when it failed, from `on_error`).
    fn conclude_shared(
        &self,
        shared: &dyn SharedRateStore,
        indices: &[usize],
        key: &str,
        cost: u64,
        result: Result<SharedAnswer, SharedStoreError>,
    ) -> RateDecision {
        let error = match result {
            Ok(answer) if answer.states.len() == indices.len() => {
                let consume = cost > 0;
                let verdicts: Vec<Option<Verdict>> = indices
                    .iter()
                    .zip(&answer.states)
                    .map(|(&i, state)| {
                        let named = self.limits.get(i)?;
                        Some(
                            named
                                .limit
                                .evaluate(*state, answer.now_nanos, cost, consume),
                        )
                    })
                    .collect();
                let all = verdicts.iter().all(|v| v.is_some_and(|v| v.allowed));
                if !consume || all == answer.committed {
                    return self.report(indices, &verdicts);
                }
                SharedStoreError::Unavailable {
                    detail: format!(
                        "the store {} a request the limits {}",
                        if answer.committed {
                            "counted"
                        } else {
                            "refused"
                        },
                        if all { "admit" } else { "refuse" }
                    ),
                    retry_after_ms: 1000,
                }
            }
            Ok(_) => SharedStoreError::Unavailable {
                detail: "the store answered for the wrong number of limits".into(),
                retry_after_ms: 1000,
            },
            Err(e) => e,
        };
        let index = indices.first().copied().unwrap_or(0);
        let (name, capacity, window) = match self.limits.get(index) {
            Some(n) => (n.name.clone(), n.limit.capacity(), n.window_seconds),
            None => (Cow::Borrowed("default"), 0, 0.0),
        };
        let policy = shared.on_error();
        match policy {
            OnError::Local => RateDecision {
                store_fallback: Some(OnError::Local),
                // After a failed round trip: the time now, not before it.
                ..self.decide_local(indices, key, cost, self.clock.now_nanos())
            },
            OnError::FailOpen => RateDecision {
                allowed: true,
                limit: capacity,
                remaining: 0,
                reset: 0.0,
                retry_after: None,
                never: false,
                table_full: false,
                policy: name,
                window_seconds: window,
                store_fallback: Some(OnError::FailOpen),
            },
            OnError::FailClosed => {
                let wait_ms = match error {
                    SharedStoreError::Unavailable { retry_after_ms, .. } => retry_after_ms,
                    SharedStoreError::Unsupported(_) => 1000,
                };
                RateDecision {
                    allowed: false,
                    limit: capacity,
                    remaining: 0,
                    reset: 0.0,
                    retry_after: Some(wait_ms.max(1) as f64 / 1000.0),
                    never: false,
                    table_full: false,
                    policy: name,
                    window_seconds: window,
                    store_fallback: Some(OnError::FailClosed),
                }
            }
        }
    }

    /// One limit: the common case, without the bookkeeping of several.
    fn decide_one(&self, index: usize, hash: u128, now: u64, cost: u64) -> RateDecision {
        let Some(named) = self.limits.get(index) else {
            return self.full(index, 1);
        };
        let consume = cost > 0;
        let key = StoreKey { limit: index, hash };
        let result = self.store.update_one(key, now, |state| {
            let v = named.limit.evaluate(state, now, cost, consume);
            (v.allowed && consume, v.next, v)
        });
        match result {
            Ok(v) => Self::decision(named, v.allowed, &v),
            Err(StoreError::Full { limit, wait_nanos }) => self.full(limit, wait_nanos),
            Err(_) => self.full(index, 1),
        }
    }

    fn decide_many(&self, indices: &[usize], hash: u128, now: u64, cost: u64) -> RateDecision {
        let consume = cost > 0;
        let keys: Vec<StoreKey> = indices
            .iter()
            .map(|&limit| StoreKey { limit, hash })
            .collect();
        let mut verdicts: Vec<Option<Verdict>> = vec![None; indices.len()];
        let limits = &self.limits;
        let result = self.store.update(&keys, now, &mut |states| {
            let mut all = true;
            for (j, &i) in indices.iter().enumerate() {
                let v = match limits.get(i) {
                    Some(n) => n.limit.evaluate(states[j], now, cost, consume),
                    None => return false,
                };
                all &= v.allowed;
                verdicts[j] = Some(v);
            }
            if !(all && consume) {
                return false;
            }
            for (j, v) in verdicts.iter().enumerate() {
                states[j] = v.and_then(|v| v.next);
            }
            true
        });
        match result {
            Ok(_) => self.report(indices, &verdicts),
            Err(StoreError::Full { limit, wait_nanos }) => self.full(limit, wait_nanos),
            // Unreachable with our own indices; refuse rather than guess.
            Err(_) => self.full(indices.first().copied().unwrap_or(0), 1),
        }
    }

    fn decision(named: &Named, allowed: bool, v: &Verdict) -> RateDecision {
        RateDecision {
            allowed,
            limit: named.limit.capacity(),
            remaining: v.remaining,
            reset: named.limit.seconds(v.reset),
            retry_after: v.retry.map(|t| named.limit.seconds(t)),
            never: v.never,
            table_full: false,
            policy: named.name.clone(),
            window_seconds: named.window_seconds,
            store_fallback: None,
        }
    }

    /// The verdict a decision reports: the fewest remaining when all allow;
    /// otherwise one that can never pass, else the longest wait.
    fn report(&self, indices: &[usize], verdicts: &[Option<Verdict>]) -> RateDecision {
        let all = verdicts.iter().all(|v| v.is_some_and(|v| v.allowed));
        let mut pick: Option<(usize, Verdict)> = None;
        for (j, v) in verdicts.iter().enumerate() {
            let Some(v) = *v else { continue };
            let better = match &pick {
                None => all || !v.allowed,
                Some((_, p)) if all => v.remaining < p.remaining,
                Some((pj, p)) => {
                    !v.allowed
                        && !p.never
                        && (v.never
                            || self.wait_secs(indices[j], &v) > self.wait_secs(indices[*pj], p))
                }
            };
            if better {
                pick = Some((j, v));
            }
        }
        match pick.and_then(|(j, v)| Some((self.limits.get(*indices.get(j)?)?, v))) {
            Some((named, v)) => Self::decision(named, all, &v),
            None => self.full(indices.first().copied().unwrap_or(0), 1),
        }
    }

    fn wait_secs(&self, index: usize, v: &Verdict) -> f64 {
        match (self.limits.get(index), v.retry) {
            (Some(n), Some(t)) => n.limit.seconds(t),
            _ => 0.0,
        }
    }

    /// A refusal because a new key found no room.
    fn full(&self, index: usize, wait_nanos: u64) -> RateDecision {
        let (name, capacity, window) = match self.limits.get(index) {
            Some(n) => (n.name.clone(), n.limit.capacity(), n.window_seconds),
            None => (Cow::Borrowed("default"), 0, 0.0),
        };
        let wait = wait_nanos.max(1) as f64 / crate::clock::NANOS_PER_SEC as f64;
        RateDecision {
            allowed: false,
            limit: capacity,
            remaining: 0,
            reset: wait,
            retry_after: Some(wait),
            never: false,
            table_full: true,
            policy: name,
            window_seconds: window,
            store_fallback: None,
        }
    }
}
