//! One keyed limiter, usable on its own (the bindings expose it as
//! `RateLimiter`).
//!
//! Decides, per string key, whether a request of some cost passes one
//! quota; leaves which key to use to the host.

use std::borrow::Cow;
use std::sync::Arc;

use super::decision::{Engine, Named, RateDecision};
use super::quota::{Algorithm, Limit, Quota, QuotaError};
use super::store::{MemoryStore, RateStore};
use crate::clock::Clock;

/// A keyed rate limiter: one algorithm and quota, up to `max_keys` keys.
///
/// ```
/// use std::sync::Arc;
/// use mcpguard::ManualClock;
/// use mcpguard::ratelimit::{Algorithm, Limiter, Quota};
/// let clock = ManualClock::new(1_767_225_600);
/// let quota = Quota::new(Algorithm::FixedWindow, 2, 60.0, None).unwrap();
/// let limiter = Limiter::new(Algorithm::FixedWindow, quota, 1000, Arc::new(clock.clone())).unwrap();
/// assert!(limiter.check("alice", 1).allowed);
/// assert!(limiter.check("alice", 1).allowed);
/// let denied = limiter.check("alice", 1);
/// assert!(!denied.allowed);
/// assert_eq!(denied.retry_after, Some(60.0));
/// ```
///
/// The state lives behind [`RateStore`]: [`Limiter::new`] keeps it in this
/// process ([`MemoryStore`]); [`Limiter::with_store`] takes any other store
/// (a shared backend) and the algorithms and callers stay the same.
#[derive(Debug)]
pub struct Limiter<S: RateStore = MemoryStore> {
    engine: Engine<S>,
}

impl Limiter {
    /// A limiter applying `algorithm` with `quota`, tracking at most
    /// `max_keys` keys (at least 1), reading time from `clock`.
    pub fn new(
        algorithm: Algorithm,
        quota: Quota,
        max_keys: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, QuotaError> {
        if algorithm != Algorithm::TokenBucket && quota.burst() != quota.limit() {
            return Err(QuotaError::BurstNeedsTokenBucket);
        }
        let named = Named::new(Cow::Borrowed("default"), Limit::new(algorithm, quota));
        Ok(Self {
            engine: Engine::new(vec![named], max_keys, clock)?,
        })
    }
}

impl<S: RateStore> Limiter<S> {
    /// A limiter whose state lives in `store` (one table, index 0), for a
    /// backend shared between processes. The quota and algorithm rules are
    /// those of [`Limiter::new`].
    pub fn with_store(
        algorithm: Algorithm,
        quota: Quota,
        store: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, QuotaError> {
        if algorithm != Algorithm::TokenBucket && quota.burst() != quota.limit() {
            return Err(QuotaError::BurstNeedsTokenBucket);
        }
        let named = Named::new(Cow::Borrowed("default"), Limit::new(algorithm, quota));
        Ok(Self {
            engine: Engine::with_store(vec![named], store, clock)?,
        })
    }

    /// Checks a request of `cost` for `key` and counts it when it passes; a
    /// denied request counts nothing. Cost 0 is a [`peek`](Self::peek).
    pub fn check(&self, key: &str, cost: u64) -> RateDecision {
        self.engine.decide(&[0], key, cost)
    }

    /// What a request of cost 1 would get now, counting nothing (an unknown
    /// key is not tracked by a peek).
    pub fn peek(&self, key: &str) -> RateDecision {
        self.engine.decide(&[0], key, 0)
    }

    /// Gives `key` its full quota back.
    pub fn reset(&self, key: &str) {
        self.engine.clear(0, key);
    }

    /// How many keys are tracked now (at most `max_keys`).
    pub fn tracked_keys(&self) -> usize {
        self.engine.tracked(0)
    }
}
