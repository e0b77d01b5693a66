//! Keyed rate limiting: fixed window, sliding window and GCRA token bucket,
//! exact under concurrency, with bounded memory and standard headers.
//!
//! Decides whether a request passes every limit that applies to it (the
//! default or a role's limit, plus rules for servers and tools), what the
//! response headers say, and which keys are remembered. Leaves to the host
//! (the Guard) which key identifies a client (issuer-namespaced client id,
//! subject or request key) and rejecting requests whose cost is below 1.
//!
//! - [`config`]: the `rate_limit` section, roles' limits, environment overrides.
//! - [`quota`]: the algorithms as pure functions of state and time.
//! - [`store`]: where states live ([`RateStore`], [`MemoryStore`]).
//! - [`Limiter`]: one keyed limit; [`RatePolicy`]: the Guard's limits.
//!
//! Choices made here:
//! - Numbers: `limit` and `burst` are JSON integers up to 4 294 967 295
//!   (`limit: 0` denies everything, as in express-rate-limit); `window_seconds`
//!   is a finite number above zero and at most ten years, fractions allowed.
//!   Within these bounds no arithmetic can overflow.
//! - Answers are exact: integer nanoseconds (token bucket: 1/limit ns), so on a
//!   clock at whole seconds `reset` and `retry_after` are whole seconds.
//! - A denied request consumes nothing. `retry_after` is `Some` and above zero
//!   exactly when waiting helps; a cost above what a limit can ever admit
//!   (above `limit`, or `burst` for the token bucket) is denied with
//!   `never: true` and no `retry_after`.
//! - Cost 0 is a peek: it answers for a cost of 1 and consumes and tracks
//!   nothing (the Guard rejects a cost below 1 before asking).
//! - Keys are stored as a keyed 128-bit xxh3 hash (a random secret per
//!   limiter, from aws-lc-rs), never as strings. Every limit has its own
//!   table, so a key has a separate budget at each limit.
//! - `max_keys` bounds each limit's table; fresh keys are forgotten first,
//!   then the least-used of a small sample, never a throttled key; a table full
//!   of throttled keys refuses new keys (`table_full`). See [`store`].
//! - A clock that goes backwards never refills; one that jumps forward refills
//!   to exactly the quota.

pub mod config;
mod decision;
mod headers;
mod limiter;
mod policy;
pub mod quota;
pub mod store;
mod table;

pub use config::{HeaderFormat, KeySource, LimitSpec, RateLimitConfig, RuleConfig};
pub use decision::RateDecision;
pub use limiter::Limiter;
pub use policy::{RatePolicy, UnknownRule};
pub use quota::{Algorithm, Limit, Quota, QuotaError, State};
pub use store::{MemoryStore, RateStore, StoreError, StoreKey};
