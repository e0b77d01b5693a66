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

pub mod config;
mod decision;
mod headers;
mod limiter;
mod policy;
pub mod quota;
pub mod store;

pub use config::{HeaderFormat, KeySource, LimitSpec, RateLimitConfig, RuleConfig};
pub use decision::RateDecision;
pub use limiter::Limiter;
pub use policy::{RatePolicy, UnknownRule};
pub use quota::{Algorithm, Limit, Quota, QuotaError, State};
pub use store::{MemoryStore, RateStore, StoreError, StoreKey};
