//! `ManualClock`: the time source tests hand to a Guard or an engine.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A clock that moves only when told to, for tests.
///
/// Pass it as ``clock=`` to ``Guard.from_json``, ``Guard.from_file``,
/// ``TokenValidator`` or ``RateLimiter``; the guard reads this clock, so
/// ``clock.advance(31)`` moves the guard's time too.
///
/// >>> clock = ManualClock(1767225600)
/// >>> clock.advance(31.5)
/// >>> clock.now()
/// 1767225631.5
#[pyclass(module = "mcpguard._native", frozen)]
pub struct ManualClock {
    pub(crate) inner: mcpguard::ManualClock,
}

impl ManualClock {
    /// The clock as the core's engines take it.
    pub(crate) fn shared(&self) -> Arc<dyn mcpguard::Clock> {
        Arc::new(self.inner.clone())
    }
}

fn value_error(e: mcpguard::clock::ClockError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

#[pymethods]
impl ManualClock {
    /// A clock standing at ``seconds`` since the Unix epoch (may be fractional).
    #[new]
    fn new(seconds: f64) -> PyResult<Self> {
        Ok(ManualClock {
            inner: mcpguard::ManualClock::from_secs_f64(seconds).map_err(value_error)?,
        })
    }

    /// Moves the clock by ``seconds`` (negative moves it backwards).
    fn advance(&self, seconds: f64) -> PyResult<()> {
        self.inner.advance_secs_f64(seconds).map_err(value_error)
    }

    /// Sets the clock to ``seconds`` since the Unix epoch.
    fn set(&self, seconds: f64) -> PyResult<()> {
        self.inner.set_secs_f64(seconds).map_err(value_error)
    }

    /// The clock's time in seconds since the Unix epoch.
    fn now(&self) -> f64 {
        self.inner.secs_f64()
    }

    /// A short description for debugging.
    fn __repr__(&self) -> String {
        format!("ManualClock({})", self.inner.secs_f64())
    }
}
