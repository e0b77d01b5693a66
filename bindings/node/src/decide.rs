//! Promises of the decisions `guardAuthorizeHttpAsync` and its kin make
//! off the event loop, on mcpguard's own decision threads
//! (`mcpguard_host::threads`: libuv's pool also reads files, resolves
//! names and runs zlib and crypto for the whole process, and decisions
//! waiting on a slow Redis there would queue all of those behind them).
//! Each promise is settled on its event loop through [`crate::settle`].

use std::future::Future;
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

/// A promise of a decision that awaits the shared store's answer instead
/// of holding a thread for it. `from_memory` is polled now, on this thread
/// (the event loop), and where it is woken; it must never wait on anything
/// but the store's answer (the core's `authorize_http_later_in_memory`): a
/// request whose token is cached costs no hop to another thread, its check
/// is sent from the event loop and the store's I/O thread settles it.
/// When it cannot decide without waiting (a signature to check, a store or
/// an introspection endpoint to ask) it hands back `later`, whose first
/// poll runs on a decision thread, free once the check is sent. A panic
/// in any poll rejects the promise.
pub fn settle_from_memory<'env, T, M, L, LF>(
    env: &'env Env,
    from_memory: M,
) -> napi::Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    M: Future<Output = Result<T, L>> + Send + 'static,
    L: FnOnce() -> LF + Send + 'static,
    LF: Future<Output = T> + Send + 'static,
{
    let (pending, promise) = settle::promise(env)?;
    mcpguard::task::spawn(async move {
        match mcpguard::task::catch_unwind(from_memory).await {
            Ok(Ok(answer)) => pending.resolve(answer),
            Ok(Err(later)) => submit(Box::new(move || {
                mcpguard::task::spawn(async move {
                    match mcpguard::task::catch_unwind(later()).await {
                        Ok(answer) => pending.resolve(answer),
                        Err(_) => pending.reject(failed()),
                    }
                });
            })),
            Err(_) => pending.reject(failed()),
        }
    });
    Ok(promise)
}

/// The rejection of a decision that panicked.
fn failed() -> napi::Error {
    napi::Error::new(
        napi::Status::GenericFailure,
        "mcpguard: a decision failed unexpectedly".to_string(),
    )
}
