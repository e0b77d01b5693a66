//! `ManualClock`: the core's manual clock, for tests and reproducible demos.

use napi_derive::napi;

use crate::errors;

/// A clock that moves only when told to. Guards, validators and limiters
/// built with it share its time (`Guard.fromJson(config, { clock })`).
#[napi]
pub struct ManualClock {
    pub(crate) inner: mcpguard::ManualClock,
}

#[napi]
impl ManualClock {
    /// A clock reading `unixSeconds` (may be fractional).
    #[napi(constructor, catch_unwind)]
    pub fn new(unix_seconds: f64) -> napi::Result<Self> {
        let inner =
            mcpguard::ManualClock::from_secs_f64(unix_seconds).map_err(errors::invalid_argument)?;
        Ok(ManualClock { inner })
    }

    /// Moves the clock by `seconds` (fractional; negative moves it back).
    #[napi(catch_unwind)]
    pub fn advance(&self, seconds: f64) -> napi::Result<()> {
        self.inner
            .advance_secs_f64(seconds)
            .map_err(errors::invalid_argument)
    }

    /// Sets the clock to `unixSeconds`.
    #[napi(catch_unwind)]
    pub fn set(&self, unix_seconds: f64) -> napi::Result<()> {
        self.inner
            .set_secs_f64(unix_seconds)
            .map_err(errors::invalid_argument)
    }

    /// The current reading in (fractional) Unix seconds.
    #[napi(catch_unwind)]
    pub fn now(&self) -> f64 {
        self.inner.secs_f64()
    }
}
