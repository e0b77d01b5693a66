//! Promises settled from any thread through one thread-safe function per
//! environment.
//!
//! napi-rs's `Env::create_deferred` gives every promise a thread-safe
//! function of its own: a libuv handle created and registered on the
//! event loop, a wake-up of the loop to settle it, a second loop turn to
//! close the handle, and an environment cleanup hook added and removed.
//! With many decisions in flight that is most of what a decision costs the
//! loop (`benches/node/bench_redis.js`, 8 in flight). Here an environment
//! (the main thread, each worker thread) has one thread-safe function,
//! created on its first promise, and a settled decision is one item on its
//! queue: Node settles every item queued before the loop woke in one turn,
//! and libuv merges the wake-ups of items queued while one is pending.
//!
//! Lifetimes:
//! - The function keeps the event loop alive only while a promise of its
//!   environment is pending (it is referenced when the count leaves zero
//!   and unreferenced when it returns there, both on the loop's thread), as
//!   napi-rs's own promises do: a host waiting on a decision does not exit
//!   under it, and an idle Guard does not hold the process open.
//! - When the environment is torn down (a worker terminated, the process
//!   exiting), a cleanup hook marks the function gone under a write lock
//!   before Node finalizes it; a decision finished afterwards on another
//!   thread sees the mark under the read lock and drops its answer instead
//!   of calling into freed memory. Node's cleanup hooks run in reverse
//!   order of registration, and the function's own is registered at its
//!   creation, before this one, so the mark always comes first. Items
//!   still queued then are handed back with no environment and dropped.
//! - A [`Pending`] dropped without an answer (a decision whose future was
//!   dropped unfinished) rejects its promise rather than leaving it, and
//!   the loop it holds open, pending for ever.

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;

use napi::Env;
use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::sys;

/// What settles one promise, run on its event loop: the value to resolve
/// it with, or the error to reject it with.
type Answer = Box<dyn FnOnce(sys::napi_env) -> napi::Result<sys::napi_value> + Send>;

/// One queued settlement.
struct Item {
    deferred: sys::napi_deferred,
    answer: Answer,
}

/// One environment's thread-safe function.
struct Settler {
    /// The function; null once the environment began its teardown.
    tsfn: RwLock<sys::napi_threadsafe_function>,
    /// Promises created and not yet settled. Changed only on the loop's
    /// thread; atomic so that the settler can be shared with other threads.
    pending: AtomicUsize,
}

// SAFETY: the thread-safe function is made to be called from any thread;
// the lock keeps every call before the teardown hook's mark, and the mark
// before Node frees it.
unsafe impl Send for Settler {}
// SAFETY: as for `Send`; `pending` is atomic.
unsafe impl Sync for Settler {}

thread_local! {
    /// The settler of the environment running on this thread, with that
    /// environment, once it made its first promise.
    static HERE: RefCell<Option<(usize, Arc<Settler>)>> = const { RefCell::new(None) };
}

/// A promise not yet settled, to be answered from any thread.
pub struct Pending {
    /// Taken when the answer is sent.
    item: Option<(RawDeferred, Arc<Settler>)>,
}

/// A `napi_deferred`, used only on its event loop (by [`call_js`]).
struct RawDeferred(sys::napi_deferred);

// SAFETY: the handle travels with its answer and is dereferenced only by
// Node-API on the environment's own thread.
unsafe impl Send for RawDeferred {}

/// A new promise of `env` and the [`Pending`] that settles it.
pub fn promise(env: &Env) -> napi::Result<(Pending, Object<'_>)> {
    let raw = env.raw();
    let settler = settler(raw)?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    check(
        // SAFETY: `raw` is the live environment of this call.
        unsafe { sys::napi_create_promise(raw, &mut deferred, &mut promise) },
        "create a promise",
    )?;
    if settler.pending.fetch_add(1, Ordering::Relaxed) == 0 {
        let tsfn = *settler.tsfn.read();
        // SAFETY: on the loop's thread, which is where the function was
        // created; the teardown that would null it runs here too.
        unsafe { sys::napi_ref_threadsafe_function(raw, tsfn) };
    }
    Ok((
        Pending {
            item: Some((RawDeferred(deferred), settler)),
        },
        Object::from_raw(raw, promise),
    ))
}

impl Pending {
    /// Resolves the promise with `answer`, converted on its event loop.
    pub fn resolve<T: ToNapiValue + Send + 'static>(mut self, answer: T) {
        // SAFETY: `call_js` runs the conversion on the live environment.
        self.send(Box::new(move |env| unsafe {
            T::to_napi_value(env, answer)
        }));
    }

    /// Rejects the promise with `error`.
    pub fn reject(mut self, error: napi::Error) {
        self.send(Box::new(move |_| Err(error)));
    }

    /// Queues `answer` for the promise's event loop; after the
    /// environment's teardown began, drops it.
    fn send(&mut self, answer: Answer) {
        let Some((RawDeferred(deferred), settler)) = self.item.take() else {
            return;
        };
        let item = Box::into_raw(Box::new(Item { deferred, answer }));
        let tsfn = settler.tsfn.read();
        let status = if tsfn.is_null() {
            sys::Status::napi_closing
        } else {
            // SAFETY: the read lock holds the teardown hook off, so the
            // function is alive; `item` is handed to `call_js`.
            unsafe {
                sys::napi_call_threadsafe_function(
                    *tsfn,
                    item.cast(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                )
            }
        };
        if status != sys::Status::napi_ok {
            // Not queued (the environment is closing): the promise is gone
            // with it.
            // SAFETY: `item` came from `Box::into_raw` above and was not
            // queued.
            drop(unsafe { Box::from_raw(item) });
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.item.is_some() {
            self.send(Box::new(|_| {
                Err(napi::Error::new(
                    napi::Status::GenericFailure,
                    "mcpguard: a decision ended without an answer".to_string(),
                ))
            }));
        }
    }
}

/// This environment's settler, created on its first promise.
fn settler(env: sys::napi_env) -> napi::Result<Arc<Settler>> {
    let here = HERE.with(|h| {
        h.borrow()
            .as_ref()
            .filter(|(e, _)| *e == env as usize)
            .map(|(_, s)| Arc::clone(s))
    });
    if let Some(settler) = here {
        return Ok(settler);
    }
    let settler = create(env)?;
    HERE.with(|h| *h.borrow_mut() = Some((env as usize, Arc::clone(&settler))));
    Ok(settler)
}

/// A settler for `env`: its thread-safe function, unreferenced until a
/// promise is pending, and the cleanup hook that marks it gone.
fn create(env: sys::napi_env) -> napi::Result<Arc<Settler>> {
    let settler = Arc::new(Settler {
        tsfn: RwLock::new(ptr::null_mut()),
        pending: AtomicUsize::new(0),
    });
    // One count for the function (released by `finalize`), one for the
    // cleanup hook (released by `teardown`).
    let for_tsfn = Arc::into_raw(Arc::clone(&settler))
        .cast_mut()
        .cast::<c_void>();
    let mut name = ptr::null_mut();
    let name_text = c"mcpguard.settle";
    check(
        // SAFETY: a live environment and a NUL-terminated name.
        unsafe {
            sys::napi_create_string_utf8(
                env,
                name_text.as_ptr(),
                name_text.to_bytes().len() as isize,
                &mut name,
            )
        },
        "name the settling function",
    )
    .inspect_err(|_| release(for_tsfn))?;
    let mut tsfn = ptr::null_mut();
    check(
        // SAFETY: no JavaScript function (`call_js` settles directly), an
        // unbounded queue, one thread count held for the environment's
        // life; `for_tsfn` is both the context and the finalizer's data.
        unsafe {
            sys::napi_create_threadsafe_function(
                env,
                ptr::null_mut(),
                ptr::null_mut(),
                name,
                0,
                1,
                for_tsfn,
                Some(finalize),
                for_tsfn,
                Some(call_js),
                &mut tsfn,
            )
        },
        "create the settling function",
    )
    .inspect_err(|_| release(for_tsfn))?;
    *settler.tsfn.write() = tsfn;
    // SAFETY: on the thread that created it.
    unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
    let for_hook = Arc::into_raw(Arc::clone(&settler))
        .cast_mut()
        .cast::<c_void>();
    // SAFETY: `teardown` takes the count `for_hook` holds.
    let hooked = unsafe { sys::napi_add_env_cleanup_hook(env, Some(teardown), for_hook) };
    if let Err(e) = check(hooked, "register the settling function's teardown") {
        release(for_hook);
        // Without the hook the function cannot be used safely: abort it
        // (its finalizer releases `for_tsfn`).
        *settler.tsfn.write() = ptr::null_mut();
        // SAFETY: the function was created above and is not shared yet.
        unsafe {
            sys::napi_release_threadsafe_function(tsfn, sys::ThreadsafeFunctionReleaseMode::abort)
        };
        return Err(e);
    }
    Ok(settler)
}

/// Settles one queued promise on its event loop; during the teardown
/// (no environment) drops the item instead.
unsafe extern "C" fn call_js(
    env: sys::napi_env,
    _js_callback: sys::napi_value,
    context: *mut c_void,
    data: *mut c_void,
) {
    // SAFETY: every item was queued by `Pending::send` from a `Box`.
    let item = unsafe { Box::from_raw(data.cast::<Item>()) };
    if env.is_null() {
        return;
    }
    let Item { deferred, answer } = *item;
    // A panic must not unwind into Node: a conversion that panics rejects.
    let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer(env)))
        .unwrap_or_else(|_| {
            Err(napi::Error::new(
                napi::Status::GenericFailure,
                "mcpguard: a decision failed unexpectedly".to_string(),
            ))
        });
    // SAFETY: on the loop's thread, with the environment Node handed us.
    unsafe {
        match value {
            Ok(value) => {
                sys::napi_resolve_deferred(env, deferred, value);
            }
            Err(error) => {
                if let Ok(error) = ToNapiValue::to_napi_value(env, error) {
                    sys::napi_reject_deferred(env, deferred, error);
                }
            }
        }
    }
    // SAFETY: `context` is the settler the function holds a count of.
    let settler = unsafe { &*context.cast::<Settler>() };
    if settler.pending.fetch_sub(1, Ordering::Relaxed) == 1 {
        let tsfn = *settler.tsfn.read();
        if !tsfn.is_null() {
            // SAFETY: on the loop's thread, the function alive.
            unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
        }
    }
}

/// The environment's cleanup hook: marks the function gone (waiting for
/// any thread inside a call) and aborts it, before Node finalizes it.
unsafe extern "C" fn teardown(arg: *mut c_void) {
    // SAFETY: `arg` holds a count of the settler, taken back here.
    let settler = unsafe { Arc::from_raw(arg.cast_const().cast::<Settler>()) };
    let mut tsfn = settler.tsfn.write();
    if !tsfn.is_null() {
        // SAFETY: alive until this returns; no other thread is inside it.
        unsafe {
            sys::napi_release_threadsafe_function(*tsfn, sys::ThreadsafeFunctionReleaseMode::abort)
        };
        *tsfn = ptr::null_mut();
    }
    drop(tsfn);
    // A later environment on this thread makes a settler of its own.
    let _ = HERE.try_with(|h| h.borrow_mut().take());
}

/// The function's finalizer: releases its count of the settler.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    release(data);
}

/// Takes back one count of a settler handed to Node-API.
fn release(raw: *mut c_void) {
    // SAFETY: `raw` came from `Arc::into_raw` of a settler, once per call.
    drop(unsafe { Arc::from_raw(raw.cast_const().cast::<Settler>()) });
}

/// `status` as a result.
fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(
            napi::Status::from(status),
            format!("mcpguard: could not {what}"),
        ))
    }
}
