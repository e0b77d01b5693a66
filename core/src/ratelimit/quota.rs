//! The three algorithms, as pure functions of (state, now, cost).
//!
//! Decides how much a key may spend and when it may spend again; leaves
//! where the state lives to a [`RateStore`](super::RateStore). All
//! arithmetic is integer (nanoseconds, or for the token bucket "ticks" of
//! 1/limit ns so that the emission interval is exact), so answers are exact
//! and no interleaving of requests can admit one more than the quota.
//!
//! A clock that goes backwards is treated as "no time has passed" for
//! refills (never extra quota) while waits are measured honestly from the
//! earlier reading; a clock that jumps forward refills to exactly the quota.

use serde::Deserialize;

use crate::clock::NANOS_PER_SEC;

/// The largest `limit` or `burst`: counts fit 32 bits, so a sliding-window
/// state holds two of them in one word.
pub const MAX_LIMIT: u64 = u32::MAX as u64;
/// The longest window: ten years of 365 days.
pub const MAX_WINDOW_SECONDS: f64 = 315_360_000.0;

/// A rate-limiting algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// A window opens at a key's first hit and admits `limit` until it ends
    /// (express-rate-limit's memory store). Admits up to 2 × `limit` across
    /// a window edge.
    #[default]
    FixedWindow,
    /// The current window's count plus the previous window's count weighted
    /// by how much of it still overlaps the sliding window.
    SlidingWindow,
    /// GCRA: `limit` per window refill continuously, at most `burst` at once;
    /// a key's whole state is one theoretical arrival time.
    TokenBucket,
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Algorithm; 3] = [
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::TokenBucket,
    ];

    /// The configuration name: `fixed_window`, `sliding_window` or `token_bucket`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::FixedWindow => "fixed_window",
            Algorithm::SlidingWindow => "sliding_window",
            Algorithm::TokenBucket => "token_bucket",
        }
    }

    /// Parses a configuration name (exact, lowercase).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// A limit's numbers, checked so that no arithmetic on them can overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    limit: u64,
    window_nanos: u64,
    burst: u64,
}

/// A quota that cannot be built. [`QuotaError::field`] names the offending
/// configuration key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuotaError {
    /// `limit` above [`MAX_LIMIT`].
    #[error("limit {0} is above the maximum of 4294967295")]
    LimitTooLarge(u64),
    /// `window_seconds` is NaN or infinite.
    #[error("window_seconds must be a finite number, got {0}")]
    WindowNotFinite(f64),
    /// `window_seconds` is zero, negative or under a nanosecond.
    #[error("window_seconds must be above zero (at least one nanosecond), got {0}")]
    WindowNotPositive(f64),
    /// `window_seconds` above [`MAX_WINDOW_SECONDS`].
    #[error("window_seconds {0} is above the maximum of 315360000 (ten years)")]
    WindowTooLong(f64),
    /// `burst: 0`.
    #[error("burst must be at least 1")]
    ZeroBurst,
    /// `burst` above [`MAX_LIMIT`].
    #[error("burst {0} is above the maximum of 4294967295")]
    BurstTooLarge(u64),
    /// `burst` given for an algorithm other than `token_bucket`.
    #[error("burst applies to the token_bucket algorithm only")]
    BurstNeedsTokenBucket,
    /// `max_keys: 0`.
    #[error("max_keys must be at least 1")]
    ZeroMaxKeys,
    /// The system's random generator failed (the key-hash secret is random).
    #[error("the system random generator is unavailable")]
    Random,
}

impl QuotaError {
    /// The configuration key at fault (`limit`, `window_seconds`, `burst`,
    /// `max_keys`; empty for [`QuotaError::Random`]).
    pub fn field(&self) -> &'static str {
        match self {
            Self::LimitTooLarge(_) => "limit",
            Self::WindowNotFinite(_) | Self::WindowNotPositive(_) | Self::WindowTooLong(_) => {
                "window_seconds"
            }
            Self::ZeroBurst | Self::BurstTooLarge(_) | Self::BurstNeedsTokenBucket => "burst",
            Self::ZeroMaxKeys => "max_keys",
            Self::Random => "",
        }
    }
}

impl Quota {
    /// `limit` requests per `window_seconds`; `burst` (token bucket only,
    /// `= limit`) requests at once.
    ///
    /// ```
    /// use mcpguard::ratelimit::{Algorithm, Quota};
    /// let q = Quota::new(Algorithm::TokenBucket, 100, 900.0, Some(10)).unwrap();
    /// assert_eq!((q.limit(), q.burst(), q.window_seconds()), (100, 10, 900.0));
    /// assert!(Quota::new(Algorithm::FixedWindow, 100, 0.0, None).is_err());
    /// ```
    pub fn new(
        algorithm: Algorithm,
        limit: u64,
        window_seconds: f64,
        burst: Option<u64>,
    ) -> Result<Self, QuotaError> {
        Self::check_limit(limit)?;
        let window_nanos = Self::check_window(window_seconds)?;
        let burst = match burst {
            None => limit,
            Some(_) if algorithm != Algorithm::TokenBucket => {
                return Err(QuotaError::BurstNeedsTokenBucket);
            }
            Some(0) => return Err(QuotaError::ZeroBurst),
            Some(b) if b > MAX_LIMIT => return Err(QuotaError::BurstTooLarge(b)),
            Some(b) => b,
        };
        Ok(Self {
            limit,
            window_nanos,
            burst,
        })
    }

    /// Checks a `limit`.
    pub fn check_limit(limit: u64) -> Result<(), QuotaError> {
        if limit > MAX_LIMIT {
            return Err(QuotaError::LimitTooLarge(limit));
        }
        Ok(())
    }

    /// Checks a window and returns it in nanoseconds.
    pub fn check_window(seconds: f64) -> Result<u64, QuotaError> {
        if !seconds.is_finite() {
            return Err(QuotaError::WindowNotFinite(seconds));
        }
        if seconds > MAX_WINDOW_SECONDS {
            return Err(QuotaError::WindowTooLong(seconds));
        }
        // In range, so the product fits a u64 (3.2e17 < 1.8e19).
        let nanos = (seconds * NANOS_PER_SEC as f64).round();
        if nanos < 1.0 {
            return Err(QuotaError::WindowNotPositive(seconds));
        }
        Ok(nanos as u64)
    }

    /// Requests per window.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Requests at once (token bucket); equals `limit` for the windows.
    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// The window in nanoseconds.
    pub fn window_nanos(&self) -> u64 {
        self.window_nanos
    }

    /// The window in seconds.
    pub fn window_seconds(&self) -> f64 {
        self.window_nanos as f64 / NANOS_PER_SEC as f64
    }
}

/// One key's state for one limit: two words whose meaning belongs to the
/// algorithm (fixed window: window start ns, count; sliding window: window
/// start ns, previous count << 32 | current count; token bucket: the
/// theoretical arrival time in ticks of 1/limit ns, high and low words).
/// All zeros means a fresh quota for every algorithm, and no algorithm ever
/// stores it, so a store may keep it as "forgotten".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct State {
    /// First word.
    pub a: u64,
    /// Second word.
    pub b: u64,
}

impl State {
    /// The fresh state.
    pub const FRESH: State = State { a: 0, b: 0 };

    fn tat(self) -> u128 {
        (u128::from(self.a) << 64) | u128::from(self.b)
    }

    fn from_tat(t: u128) -> Self {
        State {
            a: (t >> 64) as u64,
            b: t as u64,
        }
    }
}

/// The outcome of evaluating one limit for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub allowed: bool,
    /// The cost exceeds what this limit can ever admit.
    pub never: bool,
    pub remaining: u64,
    /// Until the full quota is back, in ticks of 1/`per` ns.
    pub reset: u128,
    /// Until this request would pass (denied and not `never`), in ticks.
    pub retry: Option<u128>,
    /// The state to store when the request is committed.
    pub next: Option<State>,
}

/// How a tracked key stands, for eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Its state equals a fresh quota: forgetting it changes nothing.
    Fresh,
    /// Partly used; forgetting it would forgive `limit - remaining`.
    Active { remaining: u64 },
    /// A cost-1 request would be denied for `wait_nanos` more.
    Throttled { wait_nanos: u64 },
}

/// An algorithm with its quota: everything needed to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    algorithm: Algorithm,
    quota: Quota,
}

impl Limit {
    /// `algorithm` applied with `quota`.
    pub fn new(algorithm: Algorithm, quota: Quota) -> Self {
        Self { algorithm, quota }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// What `remaining` counts down from: `burst` for the token bucket,
    /// `limit` for the windows.
    pub fn capacity(&self) -> u64 {
        match self.algorithm {
            Algorithm::TokenBucket => self.quota.burst,
            _ => self.quota.limit,
        }
    }

    /// Ticks per nanosecond of this limit's durations.
    pub(crate) fn ticks_per_nano(&self) -> u64 {
        match self.algorithm {
            Algorithm::TokenBucket => self.quota.limit.max(1),
            _ => 1,
        }
    }

    /// Ticks as (fractional) seconds, exact for whole nanoseconds.
    #[inline]
    pub(crate) fn seconds(&self, ticks: u128) -> f64 {
        const NS: f64 = NANOS_PER_SEC as f64;
        // Below 2^53 integers are exact in an f64, and one correctly rounded
        // division of two exact values is as exact as an answer can be.
        const EXACT: u64 = 1 << 53;
        let per = self.ticks_per_nano();
        match u64::try_from(ticks) {
            Ok(t) if per == 1 => t as f64 / NS,
            Ok(t) if t < EXACT && per < EXACT / NANOS_PER_SEC => t as f64 / (per as f64 * NS),
            Ok(t) => (t / per) as f64 / NS + (t % per) as f64 / (per as f64 * NS),
            Err(_) => {
                let per = u128::from(per);
                (ticks / per) as f64 / NS + (ticks % per) as f64 / (per as f64 * NS)
            }
        }
    }

    /// Ticks as whole nanoseconds, rounded up.
    pub(crate) fn nanos_ceil(&self, ticks: u128) -> u64 {
        let per = u128::from(self.ticks_per_nano());
        let n = ticks.div_ceil(per);
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// Decides a request of `cost` (at least 1) at `now`. With `consume`
    /// false nothing would be stored and `remaining`/`reset` describe the
    /// state as it is (a peek); with `consume` true and an allowed request,
    /// they describe the state after it and `next` holds it.
    #[inline]
    pub(crate) fn evaluate(
        &self,
        state: Option<State>,
        now: u64,
        cost: u64,
        consume: bool,
    ) -> Verdict {
        let state = state.filter(|s| *s != State::FRESH);
        let cost = cost.max(1);
        match self.algorithm {
            Algorithm::FixedWindow => self.fixed(state, now, cost, consume),
            Algorithm::SlidingWindow => self.sliding(state, now, cost, consume),
            Algorithm::TokenBucket => self.gcra(state, now, cost, consume),
        }
    }

    /// How a stored state stands at `now`.
    pub(crate) fn standing(&self, state: State, now: u64) -> Standing {
        let v = self.evaluate(Some(state), now, 1, false);
        if v.reset == 0 {
            Standing::Fresh
        } else if v.allowed {
            Standing::Active {
                remaining: v.remaining,
            }
        } else {
            Standing::Throttled {
                wait_nanos: v.retry.map_or(u64::MAX, |t| self.nanos_ceil(t)).max(1),
            }
        }
    }

    fn fixed(&self, state: Option<State>, now: u64, cost: u64, consume: bool) -> Verdict {
        let (limit, window) = (self.quota.limit, self.quota.window_nanos);
        // A window ends `window` after its first hit; past its end the next
        // hit opens a new one. A clock read before the start stays in it.
        let (start, count) = match state {
            Some(s) if now < s.a.saturating_add(window) => (s.a, s.b),
            _ => (now, 0),
        };
        let until_end = u128::from(start.saturating_add(window).saturating_sub(now));
        let reset_now = if count > 0 { until_end } else { 0 };
        let remaining_now = limit.saturating_sub(count);
        if cost > limit {
            return denied_never(remaining_now, reset_now);
        }
        // count <= limit <= u32::MAX and cost <= limit: no overflow.
        let after = count + cost;
        if after <= limit {
            if consume {
                Verdict {
                    allowed: true,
                    never: false,
                    remaining: limit - after,
                    reset: until_end,
                    retry: None,
                    next: Some(State { a: start, b: after }),
                }
            } else {
                allowed_peek(remaining_now, reset_now)
            }
        } else {
            Verdict {
                allowed: false,
                never: false,
                remaining: remaining_now,
                reset: reset_now,
                retry: Some(until_end.max(1)),
                next: None,
            }
        }
    }

    fn sliding(&self, state: Option<State>, now: u64, cost: u64, consume: bool) -> Verdict {
        let limit = u128::from(self.quota.limit);
        let w = self.quota.window_nanos;
        let wl = u128::from(w);
        // (start of the current window, previous count, current count, time into the window)
        let (start, prev, cur, into) = match state {
            None => (now, 0u128, 0u128, 0u64),
            Some(s) => {
                let (prev, cur) = (u128::from(s.b >> 32), u128::from(s.b & 0xffff_ffff));
                let e = now.saturating_sub(s.a);
                if e < w {
                    (s.a, prev, cur, e)
                } else if e - w < w {
                    (s.a + w, cur, 0, e - w)
                } else {
                    (now, 0, 0, 0)
                }
            }
        };
        // A clock read before the window's start counts as its start for the
        // weights (no refill), and the waits add the time still to go back.
        let lag = state.map_or(0, |s| u128::from(s.a.saturating_sub(now)));
        let left = wl - u128::from(into);
        // The weighted count times the window, in integers.
        let used = prev * left + cur * wl;
        let full = limit * wl;
        let reset_of = |prev: u128, cur: u128| -> u128 {
            if cur > 0 {
                lag + wl + left
            } else if prev > 0 {
                lag + left
            } else {
                0
            }
        };
        let remaining_now = || count(div(full.saturating_sub(used), wl));
        if u128::from(cost) > limit {
            return denied_never(remaining_now(), reset_of(prev, cur));
        }
        let cost = u128::from(cost);
        if used + cost * wl <= full {
            if !consume {
                return allowed_peek(remaining_now(), reset_of(prev, cur));
            }
            let cur = cur + cost;
            let remaining = count(div(full - used - cost * wl, wl));
            // cur <= limit <= u32::MAX, prev <= u32::MAX.
            let packed = ((prev as u64) << 32) | cur as u64;
            return Verdict {
                allowed: true,
                never: false,
                remaining,
                reset: reset_of(prev, cur),
                retry: None,
                next: Some(State {
                    a: start,
                    b: packed,
                }),
            };
        }
        // The first instant at which the request fits.
        let wait = if cur + cost <= limit {
            // Still in this window: the previous window's weight must shrink
            // until prev * (w - e') <= (limit - cur - cost) * w.
            let fit = div((limit - cur - cost) * wl, prev.max(1));
            (wl - fit).saturating_sub(u128::from(into))
        } else {
            // Next window: the current count becomes the previous one.
            let fit = div((limit - cost) * wl, cur.max(1));
            left + (wl - fit)
        };
        Verdict {
            allowed: false,
            never: false,
            remaining: remaining_now(),
            reset: reset_of(prev, cur),
            retry: Some((lag + wait).max(1)),
            next: None,
        }
    }

    fn gcra(&self, state: Option<State>, now: u64, cost: u64, consume: bool) -> Verdict {
        let limit = self.quota.limit;
        if limit == 0 {
            return denied_never(0, 0);
        }
        if cost > self.quota.burst {
            // Report the bucket as it stands (cost 1 always fits a burst >= 1).
            let v = self.gcra(state, now, 1, false);
            return denied_never(v.remaining, v.reset);
        }
        // Ticks are 1/limit ns, so one request costs exactly `window` ticks.
        let t = u128::from(self.quota.window_nanos);
        let tau = t * u128::from(self.quota.burst);
        let now_t = u128::from(now) * u128::from(limit);
        let tat = state.map_or(now_t, |s| s.tat()).max(now_t);
        let used = tat - now_t;
        let remaining_now = || count(div(tau.saturating_sub(used), t));
        let after = used + u128::from(cost) * t;
        if after <= tau {
            if !consume {
                return allowed_peek(remaining_now(), used);
            }
            Verdict {
                allowed: true,
                never: false,
                remaining: count(div(tau - after, t)),
                reset: after,
                retry: None,
                next: Some(State::from_tat(now_t + after)),
            }
        } else {
            Verdict {
                allowed: false,
                never: false,
                remaining: remaining_now(),
                reset: used,
                retry: Some((after - tau).max(1)),
                next: None,
            }
        }
    }
}

/// `a / b` (b > 0) with the fast 64-bit division whenever both fit, which
/// is nearly always: only absolute times need 128 bits, differences do not.
#[inline]
fn div(a: u128, b: u128) -> u128 {
    match (u64::try_from(a), u64::try_from(b)) {
        (Ok(a), Ok(b)) if b != 0 => u128::from(a / b),
        _ => a / b.max(1),
    }
}

/// A count that fits 64 bits by construction (it is at most the limit).
#[inline]
fn count(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn denied_never(remaining: u64, reset: u128) -> Verdict {
    Verdict {
        allowed: false,
        never: true,
        remaining,
        reset,
        retry: None,
        next: None,
    }
}

fn allowed_peek(remaining: u64, reset: u128) -> Verdict {
    Verdict {
        allowed: true,
        never: false,
        remaining,
        reset,
        retry: None,
        next: None,
    }
}
