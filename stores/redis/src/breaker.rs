//! The circuit breaker: a dead or slow Redis costs at most one timeout per
//! second per process, not one per request.
//!
//! Closed, every request goes to Redis. A failure opens it for one second:
//! requests fail at once (and `on_error` decides them). After the second,
//! exactly one request probes (it claims the probe by moving the deadline
//! another second on); its success closes the breaker, its failure keeps it
//! open. Recovery needs nothing from the host.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// How long the breaker stays open after a failure.
pub const OPEN_MS: u64 = 1000;

/// The breaker's state: the instant (ms since `epoch`, plus 1) until which it
/// is open; 0 when closed.
pub(crate) struct Breaker {
    epoch: Instant,
    open_until: AtomicU64,
}

/// Whether a request may go to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Yes.
    Go,
    /// No: open for this many more milliseconds (at least 1).
    Open(u64),
}

impl Breaker {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            open_until: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Whether to try Redis now (claims the probe when one is due).
    pub fn admit(&self) -> Admit {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Admit::Go;
        }
        let now = self.now_ms();
        if now < until {
            return Admit::Open(until - now);
        }
        // Due for a probe: one thread wins it, the others wait a second more.
        match self.open_until.compare_exchange(
            until,
            now + OPEN_MS,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Admit::Go,
            Err(0) => Admit::Go,
            Err(other) => Admit::Open(other.saturating_sub(now).max(1)),
        }
    }

    /// A round trip succeeded: close.
    pub fn success(&self) {
        if self.open_until.load(Ordering::Relaxed) != 0 {
            self.open_until.store(0, Ordering::Release);
        }
    }

    /// A round trip failed: open for [`OPEN_MS`]. Returns whether this
    /// failure opened a closed breaker.
    pub fn failure(&self) -> bool {
        let next = self.now_ms() + OPEN_MS;
        self.open_until.swap(next, Ordering::AcqRel) == 0
    }

    /// Whether the breaker is open now.
    pub fn is_open(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        until != 0 && self.now_ms() < until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_opens_for_a_second_then_exactly_one_request_probes() {
        let b = Breaker::new();
        assert_eq!(b.admit(), Admit::Go);
        assert!(b.failure());
        assert!(matches!(b.admit(), Admit::Open(ms) if ms <= OPEN_MS));
        assert!(b.is_open());
        // Pretend the second has passed.
        b.open_until.store(1, Ordering::Release);
        assert_eq!(b.admit(), Admit::Go, "the probe");
        assert!(matches!(b.admit(), Admit::Open(_)), "no second probe");
        b.success();
        assert_eq!(b.admit(), Admit::Go);
        assert!(!b.is_open());
    }
}
