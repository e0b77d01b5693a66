//! Time, injectable.
//!
//! Every engine reads the current time through a [`Clock`] so that tests and
//! conformance vectors can drive time by hand with a [`ManualClock`]. Time is
//! a count of nanoseconds since the Unix epoch in a `u64` (enough until the
//! year 2554); engines must tolerate a clock that moves backwards.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Whole seconds (rounded down) in a reading of nanoseconds since the Unix
/// epoch, as [`Clock::now_secs`] gives them.
pub(crate) fn whole_secs(nanos: u64) -> i64 {
    // u64::MAX / 1e9 fits an i64 comfortably.
    (nanos / NANOS_PER_SEC) as i64
}

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Nanoseconds since the Unix epoch. May go backwards; never panics.
    fn now_nanos(&self) -> u64;

    /// Whole seconds since the Unix epoch (rounded down).
    fn now_secs(&self) -> i64 {
        whole_secs(self.now_nanos())
    }

    /// Whether this clock is the wall clock, which a shared store may
    /// replace by its own (so replicas with skewed clocks agree); a manual
    /// clock says no, and its readings are passed to the store.
    fn is_wall_clock(&self) -> bool {
        true
    }
}

/// The system's wall clock; the default everywhere.
///
/// Every request reads the time several times (the token cache, the rate
/// limiter, the audit event), and `clock_gettime` costs tens of nanoseconds
/// on many virtual machines. So each thread anchors a TSC-based monotonic
/// clock (`quanta`, which falls back to the OS clock where the TSC is not
/// reliable) to `SystemTime` and re-anchors every 250 ms: readings cost a
/// few nanoseconds, and a wall-clock step (NTP) is followed within 250 ms.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// How long a thread's anchor is trusted before `SystemTime` is read again.
const REANCHOR_NANOS: u64 = 250_000_000;

/// A thread's anchor: the wall clock read at a raw TSC reading. A
/// `wall_nanos` of 0 means no anchor yet (the wall clock never reads 0).
#[derive(Clone, Copy)]
struct Anchor {
    wall_nanos: u64,
    raw: u64,
}

/// One calibrated TSC clock for the process (calibration runs once). Held
/// here rather than using `quanta::Instant::now()`, which also consults a
/// thread-local override on every read.
static TSC: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();

thread_local! {
    static ANCHOR: std::cell::Cell<Anchor> =
        const { std::cell::Cell::new(Anchor { wall_nanos: 0, raw: 0 }) };
}

impl Clock for SystemClock {
    fn now_nanos(&self) -> u64 {
        let tsc = TSC.get_or_init(quanta::Clock::new);
        let raw = tsc.raw();
        ANCHOR.with(|cell| {
            let a = cell.get();
            if a.wall_nanos != 0 {
                // 0 when the counter reads behind the anchor (another core's
                // TSC): time stands still rather than going backwards.
                let elapsed = tsc.delta_as_nanos(a.raw, raw);
                if elapsed < REANCHOR_NANOS {
                    return a.wall_nanos.saturating_add(elapsed);
                }
            }
            let wall_nanos = wall_clock_nanos().max(1);
            cell.set(Anchor { wall_nanos, raw });
            wall_nanos
        })
    }
}

/// `SystemTime::now()` in nanoseconds since the Unix epoch (0 before 1970).
fn wall_clock_nanos() -> u64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        Err(_) => 0,
    }
}

/// Errors from building or moving a [`ManualClock`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClockError {
    /// The time or step was NaN or infinite.
    #[error("clock value must be a finite number of seconds, got {0}")]
    NotFinite(f64),
    /// The time was before the Unix epoch or past the year 2554.
    #[error("clock time {0} is outside 0 ..= 18446744073 seconds since the Unix epoch")]
    OutOfRange(f64),
}

/// A clock that moves only when told to: for tests and conformance vectors.
///
/// Clones share one time, so the clock handed to a guard can be advanced by
/// the test that holds another clone.
///
/// ```
/// use mcpguard::{Clock, ManualClock};
/// let clock = ManualClock::new(1_767_225_600);
/// clock.advance(std::time::Duration::from_secs(31));
/// assert_eq!(clock.now_secs(), 1_767_225_631);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `unix_seconds`.
    pub fn new(unix_seconds: u64) -> Self {
        Self::from_nanos(unix_seconds.saturating_mul(NANOS_PER_SEC))
    }

    /// A clock reading `nanos` nanoseconds since the Unix epoch.
    pub fn from_nanos(nanos: u64) -> Self {
        Self {
            nanos: Arc::new(AtomicU64::new(nanos)),
        }
    }

    /// A clock reading a possibly fractional number of seconds, as the
    /// conformance vectors' `clock` key gives it.
    pub fn from_secs_f64(unix_seconds: f64) -> Result<Self, ClockError> {
        Ok(Self::from_nanos(secs_f64_to_nanos(unix_seconds)?))
    }

    /// Moves the clock forward by `step` (saturating at the far end).
    pub fn advance(&self, step: Duration) {
        let step = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(step))
            });
    }

    /// Moves the clock by a possibly fractional, possibly negative number of
    /// seconds (negative moves it back, saturating at the epoch), so tests can
    /// show that engines survive a clock that goes backwards.
    pub fn advance_secs_f64(&self, seconds: f64) -> Result<(), ClockError> {
        if !seconds.is_finite() {
            return Err(ClockError::NotFinite(seconds));
        }
        let magnitude = secs_f64_to_nanos(seconds.abs()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(if seconds >= 0.0 {
                    n.saturating_add(magnitude)
                } else {
                    n.saturating_sub(magnitude)
                })
            });
        Ok(())
    }

    /// Sets the clock to `unix_seconds` (which may be earlier than now).
    pub fn set_secs_f64(&self, unix_seconds: f64) -> Result<(), ClockError> {
        self.nanos
            .store(secs_f64_to_nanos(unix_seconds)?, Ordering::Release);
        Ok(())
    }

    /// The current reading in (fractional) seconds.
    pub fn secs_f64(&self) -> f64 {
        self.now_nanos() as f64 / NANOS_PER_SEC as f64
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("nanos", &self.now_nanos())
            .finish()
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }

    fn is_wall_clock(&self) -> bool {
        false
    }
}

fn secs_f64_to_nanos(seconds: f64) -> Result<u64, ClockError> {
    if !seconds.is_finite() {
        return Err(ClockError::NotFinite(seconds));
    }
    let nanos = (seconds * NANOS_PER_SEC as f64).round();
    if !(0.0..=u64::MAX as f64).contains(&nanos) {
        return Err(ClockError::OutOfRange(seconds));
    }
    Ok(nanos as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_of_a_manual_clock_share_one_time() {
        let a = ManualClock::new(100);
        let b = a.clone();
        b.advance(Duration::from_millis(1500));
        assert_eq!(a.now_nanos(), 101_500_000_000);
        assert_eq!(a.now_secs(), 101);
    }

    #[test]
    fn fractional_start_and_negative_steps_are_exact_and_saturate() {
        let c = ManualClock::from_secs_f64(10.25).unwrap();
        assert_eq!(c.now_nanos(), 10_250_000_000);
        c.advance_secs_f64(-0.25).unwrap();
        assert_eq!(c.now_secs(), 10);
        c.advance_secs_f64(-1e12).unwrap();
        assert_eq!(c.now_nanos(), 0);
    }

    #[test]
    fn non_finite_and_out_of_range_times_are_typed_errors() {
        assert!(matches!(
            ManualClock::from_secs_f64(f64::NAN),
            Err(ClockError::NotFinite(_))
        ));
        assert!(matches!(
            ManualClock::from_secs_f64(-1.0),
            Err(ClockError::OutOfRange(_))
        ));
        let c = ManualClock::new(5);
        assert!(c.advance_secs_f64(f64::INFINITY).is_err());
        assert_eq!(c.now_secs(), 5, "a rejected step leaves the clock alone");
    }

    #[test]
    fn advancing_past_the_end_saturates() {
        let c = ManualClock::from_nanos(u64::MAX - 1);
        c.advance(Duration::from_secs(10));
        assert_eq!(c.now_nanos(), u64::MAX);
    }

    #[test]
    fn system_clock_reads_after_2020() {
        assert!(SystemClock.now_secs() > 1_577_836_800);
    }

    #[test]
    fn system_clock_agrees_with_system_time_across_reanchoring() {
        for _ in 0..3 {
            let ours = SystemClock.now_nanos();
            let theirs = wall_clock_nanos();
            // Read back to back: within a second covers any scheduling gap.
            assert!(ours.abs_diff(theirs) < NANOS_PER_SEC, "{ours} vs {theirs}");
            std::thread::sleep(Duration::from_millis(130));
        }
    }
}
