//! Promises of the calls `guardAuthorizeAsync` and
//! `guardValidateWithExpiryAsync` make off the event loop, on mcpguard's
//! own decision threads (`mcpguard_host::threads`: libuv's pool also reads
//! files, resolves names and runs zlib and crypto for the whole process,
//! and decisions waiting on a slow Redis there would queue all of those
//! behind them). `guardAuthorizeHttpAsync` awaits the store instead, as
//! every binding's awaited HTTP call does (`mcpguard_host::awaited`). Each
//! promise is settled on its event loop through [`crate::settle`].

use std::panic::{AssertUnwindSafe, catch_unwind};

use mcpguard_host::threads::submit;
use napi::Env;
use napi::bindgen_prelude::{Object, ToNapiValue};

use crate::settle;

/// A promise of `decide()`'s answer, made on a decision thread; a panic
/// rejects it.
pub fn settle<'env, T, F>(env: &'env Env, decide: F) -> napi::Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    try_settle(env, move || Ok(decide()))
}

/// [`settle()`](fn@settle) for a call that may refuse: its error rejects the promise,
/// as the synchronous call would have thrown it.
pub fn try_settle<'env, T, F>(env: &'env Env, decide: F) -> napi::Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    F: FnOnce() -> napi::Result<T> + Send + 'static,
{
    let (pending, promise) = settle::promise(env)?;
    submit(Box::new(move || {
        match catch_unwind(AssertUnwindSafe(decide)) {
            Ok(Ok(answer)) => pending.resolve(answer),
            Ok(Err(refused)) => pending.reject(refused),
            Err(_) => pending.reject(failed()),
        }
    }));
    Ok(promise)
}

/// The rejection of a decision that panicked.
pub(crate) fn failed() -> napi::Error {
    napi::Error::new(
        napi::Status::GenericFailure,
        "mcpguard: a decision failed unexpectedly".to_string(),
    )
}
