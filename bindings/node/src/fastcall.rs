//! `RateLimiter.check` on raw Node-API calls.
//!
//! A rate-limit check is 29 ns of work in the core, so from JavaScript
//! what surrounds it decides its speed. Measured here (Node 20, release
//! build, one run): the napi-rs function this replaces took 276 ns. Its
//! generated glue costs about 65 ns per call as soon as a function takes
//! arguments (a `#[napi]` function of one `Option<f64>`: 85 ns; of none:
//! 19 ns), a `String` argument about 65 ns more (a UTF-8 length query, a
//! zeroed heap allocation, a second pass), a typed array about 20 ns more,
//! and an `External` a lookup in a global registry behind a mutex.
//!
//! Here the check is a plain Node-API callback (7.6 ns when empty; its
//! arguments, 3 ns more). The limiter comes with the call as the
//! function's `data`, set when the function is made, so JavaScript cannot
//! forge it. The key is read in one call onto the stack, as UTF-16, which
//! V8 copies without encoding (9 ns; as UTF-8, 19 ns), then narrowed or
//! encoded here. The cost is read only when one is passed. The figures
//! and the verdict go into memory of ours that JavaScript reads as a
//! Float64Array over an external buffer, where finding a typed array's
//! data would cost 27 ns a call. The whole call: about 62 ns.
//!
//! Every `unsafe` block here is a Node-API call made on the JavaScript
//! thread during the callback that received `env`, or the reading of
//! memory such a call initialised; each says why it is sound.

use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mcpguard::ratelimit::Limiter;
use napi::bindgen_prelude::Unknown;
use napi::sys;
use napi::{Env, Error, Status};

use crate::errors;
use crate::guard::whole_cost;
use crate::utf16::{self, Units, check};

/// Keys up to this many UTF-16 code units, less one, are read in one
/// call onto the stack; longer ones cost a length query and a heap buffer.
const STACK_KEY_UNITS: usize = 128;

/// `units` as UTF-8, each lone surrogate replaced by U+FFFD: exactly the
/// text Node-API's `napi_get_value_string_utf8` gives (V8 writes UTF-8
/// with `REPLACE_INVALID_UTF8`), written into `buf`, which needs 3 bytes
/// per unit (a pair of units makes 4 bytes, any other unit at most 3).
fn utf8_of<'b>(units: &[u16], buf: &'b mut [u8]) -> napi::Result<&'b str> {
    let mut n = 0;
    // ASCII, the usual key (an address, an id), narrows as it is.
    for (b, &u) in buf.iter_mut().zip(units) {
        if u >= 0x80 {
            break;
        }
        *b = u as u8;
        n += 1;
    }
    if n < units.len() {
        for c in char::decode_utf16(units[n..].iter().copied()) {
            let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
            let end = n + c.len_utf8();
            let Some(room) = buf.get_mut(n..end) else {
                return Err(Error::new(
                    Status::GenericFailure,
                    "a key did not fit its buffer".to_string(),
                ));
            };
            c.encode_utf8(room);
            n = end;
        }
    }
    utf8(&buf[..n])
}

/// The arguments of one call of a raw callback, and what the callback may
/// do with them. Made only by [`Call::new`] inside a callback, which
/// guarantees `env` is the live environment of the JavaScript thread that
/// is running the callback, so each method's Node-API call is sound.
struct Call<const N: usize> {
    env: sys::napi_env,
    args: [sys::napi_value; N],
    /// How many arguments the caller passed (may exceed `N`).
    argc: usize,
    data: *mut c_void,
}

impl<const N: usize> Call<N> {
    /// The first `N` arguments (missing ones read as `undefined`) and the
    /// function's data pointer.
    ///
    /// # Safety
    /// `env` and `info` must be those a Node-API callback received, used
    /// before it returns, and the `Call` must not outlive the callback.
    unsafe fn new(env: sys::napi_env, info: sys::napi_callback_info) -> napi::Result<Self> {
        let mut args = [ptr::null_mut(); N];
        let mut argc = N;
        let mut data = ptr::null_mut();
        // SAFETY: the caller guarantees env/info are this callback's; `args`
        // has room for `argc` values, and napi fills the ones not passed
        // with `undefined`.
        let status = unsafe {
            sys::napi_get_cb_info(
                env,
                info,
                &mut argc,
                args.as_mut_ptr(),
                ptr::null_mut(),
                &mut data,
            )
        };
        check(status, "could not read the arguments")?;
        Ok(Call {
            env,
            args,
            argc,
            data,
        })
    }

    /// Calls `f` with argument `index` read as a string: UTF-8, lone
    /// surrogates replaced by U+FFFD as napi-rs's `String` reads it, whole
    /// whatever its length. Read as UTF-16, which V8 copies without
    /// encoding (measured: 9 ns against 19 ns for UTF-8 on an 11-character
    /// key), then narrowed or encoded here. A non-string is a `TypeError`
    /// (`StringExpected`).
    fn with_str<R>(&self, index: usize, what: &str, f: impl FnOnce(&str) -> R) -> napi::Result<R> {
        let value = self.args[index];
        let mut stack = [MaybeUninit::<u16>::uninit(); STACK_KEY_UNITS];
        // SAFETY: `Call` invariant (live env, a value of this call).
        let read = unsafe { utf16::read(self.env, value, &mut stack, "could not read a string")? };
        let key: String = match read {
            None => {
                return Err(Error::new(
                    Status::StringExpected,
                    format!("{what} must be a string"),
                ));
            }
            Some(Units::Stack(units)) => {
                let mut bytes = [0u8; 3 * STACK_KEY_UNITS];
                return Ok(f(utf8_of(units, &mut bytes)?));
            }
            Some(Units::Heap(units)) => char::decode_utf16(units.iter().copied())
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
        };
        Ok(f(&key))
    }

    /// Argument `index` as an optional number: not passed, `undefined` and
    /// `null` are `None`; anything else but a number is a `TypeError`
    /// (`NumberExpected`). A number costs one Node-API call, an argument not
    /// passed none.
    fn optional_f64(&self, index: usize, what: &str) -> napi::Result<Option<f64>> {
        if index >= self.argc.min(N) {
            return Ok(None);
        }
        let value = self.args[index];
        let mut n = 0.0;
        // SAFETY: `Call` invariant.
        let status = unsafe { sys::napi_get_value_double(self.env, value, &mut n) };
        if status == sys::Status::napi_ok {
            return Ok(Some(n));
        }
        if status != sys::Status::napi_number_expected {
            check(status, "could not read a number")?;
        }
        let mut kind = sys::ValueType::napi_undefined;
        // SAFETY: `Call` invariant.
        check(
            unsafe { sys::napi_typeof(self.env, value, &mut kind) },
            "could not read a type",
        )?;
        match kind {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(None),
            _ => Err(Error::new(
                Status::NumberExpected,
                format!("{what} must be a number"),
            )),
        }
    }

    /// Copies `values` into the Float64Array `array` refers to, which must
    /// have room for them (it has, unless its buffer was detached).
    fn write_referenced<const M: usize>(
        &self,
        array: sys::napi_ref,
        values: [f64; M],
    ) -> napi::Result<()> {
        let mut value = ptr::null_mut();
        // SAFETY: `Call` invariant; the reference is the checker's, alive
        // as long as the checker.
        check(
            unsafe { sys::napi_get_reference_value(self.env, array, &mut value) },
            "could not reach the results array",
        )?;
        let mut kind = 0;
        let mut length = 0usize;
        let mut data = ptr::null_mut();
        // SAFETY: `Call` invariant; null out-pointers are allowed for the
        // array buffer and offset.
        let status = unsafe {
            sys::napi_get_typedarray_info(
                self.env,
                value,
                &mut kind,
                &mut length,
                &mut data,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if status != sys::Status::napi_ok
            || kind != sys::TypedarrayType::float64_array
            || length < M
            || data.is_null()
        {
            return Err(errors::invalid_argument(
                "the results array of this rate limiter was detached",
            ));
        }
        let out = data.cast::<f64>();
        for (i, v) in values.into_iter().enumerate() {
            // SAFETY: `out` points at `length >= M` numbers of a live
            // Float64Array (no JavaScript runs during this call, so it cannot
            // be detached meanwhile); unaligned writes assume no alignment.
            unsafe { out.add(i).write_unaligned(v) };
        }
        Ok(())
    }
}

/// The bytes of a key as text: they are valid UTF-8 by construction;
/// checked all the same, since it costs a few nanoseconds on a short key.
fn utf8(bytes: &[u8]) -> napi::Result<&str> {
    std::str::from_utf8(bytes)
        .map_err(|_| Error::new(Status::StringExpected, "a string was not UTF-8".to_string()))
}

/// Runs a raw callback's body, turning an error into a JavaScript throw
/// (a `TypeError` for an argument of the wrong type) and a panic into an
/// `Error`, so that nothing unwinds into Node.
///
/// # Safety
/// `env` must be the environment of the callback that calls this.
unsafe fn run(
    env: sys::napi_env,
    body: impl FnOnce() -> napi::Result<sys::napi_value>,
) -> sys::napi_value {
    let result = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        Err(Error::new(
            Status::GenericFailure,
            "mcpguard: a rate-limit check failed unexpectedly".to_string(),
        ))
    });
    match result {
        Ok(value) => value,
        Err(e) => {
            let type_error = matches!(e.status, Status::StringExpected | Status::NumberExpected);
            // SAFETY: the caller guarantees env is this callback's.
            unsafe {
                if type_error {
                    napi::JsTypeError::from(e).throw_into(env);
                } else {
                    napi::JsError::from(e).throw_into(env);
                }
            }
            ptr::null_mut()
        }
    }
}

/// How many numbers a check writes: `limit`, `remaining`, `reset`,
/// `retryAfter` (NaN for none), `never` and `allowed` (0 or 1). The verdict
/// goes there too rather than in a return value: making a JavaScript
/// boolean is one more Node-API call (measured: 1 to 3 ns of 65).
const RESULTS: usize = 6;

/// The memory a checker writes its results into and JavaScript reads as a
/// `Float64Array` (an external array buffer over it). Written through
/// atomics, so that no JavaScript use of the buffer, even from another
/// thread after a transfer, is a data race on the Rust side; shared by the
/// checker and the buffer, so that it outlives whichever goes first.
#[derive(Default)]
struct Results([AtomicU64; RESULTS]);

impl Results {
    fn store(&self, values: [f64; RESULTS]) {
        for (slot, v) in self.0.iter().zip(values) {
            // The same bytes a Float64Array reads: native-endian f64.
            slot.store(v.to_bits(), Ordering::Relaxed);
        }
    }
}

/// Where a checker's results go.
enum Out {
    /// Memory of ours that JavaScript reads through an external buffer:
    /// nothing to look up per call.
    External(Arc<Results>),
    /// A Float64Array of V8's (for runtimes that refuse external buffers),
    /// looked up per call, since JavaScript could detach its buffer.
    Referenced(sys::napi_ref),
}

/// What a checker function holds: its limiter and where it writes.
struct Checker {
    limiter: Arc<Limiter>,
    out: Out,
}

/// `check(key[, cost])` of one limiter, the function [`checker`] makes:
/// counts a request of `cost` (default 1; `undefined` and `null` read as
/// absent) for `key` when it passes and writes the figures, the verdict
/// last, into the checker's results. Returns `undefined`.
unsafe extern "C" fn check_callback(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: env is this callback's.
    unsafe {
        run(env, || {
            // SAFETY: env/info are this callback's, and `call` lives only
            // inside it.
            let call = Call::<2>::new(env, info)?;
            // SAFETY: the data of a function made by `checker` is a
            // `Box<Checker>` released only by the function's finalizer, which
            // cannot run while the function is being called.
            let checker = &*call.data.cast::<Checker>().cast_const();
            // The key's type is checked before the cost's, as napi-rs
            // converts arguments in order.
            let d = call.with_str(0, "key", |key| {
                let cost = whole_cost(call.optional_f64(1, "cost")?)
                    .map_err(|e| errors::invalid_argument(e.0))?;
                Ok::<_, Error>(checker.limiter.check(key, cost))
            })??;
            let values = [
                d.limit as f64,
                d.remaining as f64,
                d.reset,
                d.retry_after.unwrap_or(f64::NAN),
                if d.never { 1.0 } else { 0.0 },
                if d.allowed { 1.0 } else { 0.0 },
            ];
            match &checker.out {
                Out::External(results) => results.store(values),
                Out::Referenced(array) => call.write_referenced(*array, values)?,
            }
            // No value: `undefined`.
            Ok(ptr::null_mut())
        })
    }
}

/// Releases a checker's share of its results when their buffer is collected.
unsafe extern "C" fn release_results(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the pointer `checker` made with `Arc::into_raw` for
    // this buffer; Node calls a finalizer once.
    drop(unsafe { Arc::from_raw(data.cast::<Results>().cast_const()) });
}

/// Releases a checker when its function is collected.
unsafe extern "C" fn release_checker(env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Box<Checker>` `checker` leaked for this
    // function; Node calls a finalizer once, with the function's env.
    unsafe { release(env, *Box::from_raw(data.cast::<Checker>())) };
}

/// Drops a checker, deleting its reference to the results array if it has one.
///
/// # Safety
/// `env` must be the live environment the checker was made in.
unsafe fn release(env: sys::napi_env, checker: Checker) {
    if let Out::Referenced(array) = checker.out {
        // SAFETY: the caller guarantees env; the reference is this checker's
        // and deleted once, here.
        unsafe { sys::napi_delete_reference(env, array) };
    }
}

/// Makes the results array of a checker: over memory of ours when
/// `external` and the runtime allows external buffers, else V8's.
///
/// # Safety
/// `env` must be the live environment of the running #[napi] call.
unsafe fn results_array(
    env: sys::napi_env,
    external: bool,
) -> napi::Result<(sys::napi_value, Out)> {
    let bytes = RESULTS * std::mem::size_of::<f64>();
    let mut buffer = ptr::null_mut();
    let mut out = None;
    if external {
        let results = Arc::new(Results::default());
        let data = Arc::into_raw(Arc::clone(&results))
            .cast_mut()
            .cast::<c_void>();
        // SAFETY: env per the caller; `data` points at `bytes` bytes that
        // stay allocated until `release_results` drops this share.
        let status = unsafe {
            sys::napi_create_external_arraybuffer(
                env,
                data,
                bytes,
                Some(release_results),
                ptr::null_mut(),
                &mut buffer,
            )
        };
        // On a refusal (`napi_no_external_buffers_allowed`) the share is
        // leaked rather than dropped: 40 bytes, once, against any doubt
        // about whether Node will still call the finalizer.
        if status == sys::Status::napi_ok {
            out = Some(Out::External(results));
        }
    }
    if out.is_none() {
        let mut data = ptr::null_mut();
        // SAFETY: env per the caller.
        check(
            unsafe { sys::napi_create_arraybuffer(env, bytes, &mut data, &mut buffer) },
            "could not make the results buffer",
        )?;
    }
    let mut array = ptr::null_mut();
    // SAFETY: env per the caller; `buffer` holds RESULTS f64s from offset 0.
    check(
        unsafe {
            sys::napi_create_typedarray(
                env,
                sys::TypedarrayType::float64_array,
                RESULTS,
                buffer,
                0,
                &mut array,
            )
        },
        "could not make the results array",
    )?;
    let out = match out {
        Some(out) => out,
        None => {
            let mut reference = ptr::null_mut();
            // SAFETY: env per the caller; a strong reference keeps the array
            // alive as long as the checker (deleted in `release`).
            check(
                unsafe { sys::napi_create_reference(env, array, 1, &mut reference) },
                "could not keep the results array",
            )?;
            Out::Referenced(reference)
        }
    };
    Ok((array, out))
}

/// The function `check(key[, cost])` over `limiter` (see
/// [`check_callback`]) and the Float64Array it writes `limit`,
/// `remaining`, `reset`, `retryAfter` (NaN for none), `never` and
/// `allowed` (0 or 1) into. `external: false` keeps the results in a buffer of V8's (the
/// layout for runtimes that refuse external buffers, chosen by itself when
/// they do; `false` lets the tests cover it).
pub(crate) fn checker<'env>(
    env: &'env Env,
    limiter: Arc<Limiter>,
    external: bool,
) -> napi::Result<Vec<Unknown<'env>>> {
    let env = env.raw();
    // SAFETY: `Env` is only handed to the #[napi] call running now, so env
    // is the live environment.
    let (array, out) = unsafe { results_array(env, external)? };
    let data = Box::into_raw(Box::new(Checker { limiter, out })).cast::<c_void>();
    let mut function = ptr::null_mut();
    let name = "check";
    // SAFETY: env as above; the name is passed with its length.
    let made = unsafe {
        sys::napi_create_function(
            env,
            name.as_ptr().cast(),
            name.len() as isize,
            Some(check_callback),
            data,
            &mut function,
        )
    };
    // SAFETY: as above; the finalizer owns `data` from here on.
    let owned = made == sys::Status::napi_ok
        && unsafe {
            sys::napi_add_finalizer(
                env,
                function,
                data,
                Some(release_checker),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        } == sys::Status::napi_ok;
    if !owned {
        // The function (if any) is never handed out, so nothing calls it.
        // SAFETY: `data` came from `Box::into_raw` above and no finalizer
        // owns it; env as above.
        unsafe { release(env, *Box::from_raw(data.cast::<Checker>())) };
        return Err(Error::new(
            Status::GenericFailure,
            "could not make the check function".to_string(),
        ));
    }
    // SAFETY: both are live values just made in this environment.
    let parts = unsafe { [function, array].map(|value| Unknown::from_raw_unchecked(env, value)) };
    Ok(parts.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::utf16::complete;

    #[test]
    fn a_read_is_complete_only_when_it_left_room_unused() {
        // 127 units of room: 127 copied may be a cut string.
        assert!(complete(0, STACK_KEY_UNITS));
        assert!(complete(126, STACK_KEY_UNITS));
        assert!(!complete(127, STACK_KEY_UNITS));
    }

    fn utf8(units: &[u16]) -> String {
        let mut buf = vec![0u8; 3 * units.len()];
        utf8_of(units, &mut buf).unwrap().to_string()
    }

    #[test]
    fn keys_read_as_utf16_become_their_exact_utf8() {
        for text in [
            "203.0.113.7",
            "",
            "é",
            "ключ",
            "鍵",
            "😀",
            "a😀b€c",
            "\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}",
        ] {
            let units: Vec<u16> = text.encode_utf16().collect();
            assert_eq!(utf8(&units), text);
        }
    }

    #[test]
    fn lone_surrogates_become_replacement_characters_as_v8_writes_them() {
        // A lone lead, a lone trail, a lead before a lead and its pair, a
        // trailing lead.
        let units = [0x61, 0xD800, 0x62, 0xDC00, 0xD83D, 0xD83D, 0xDE00, 0xD800];
        assert_eq!(utf8(&units), "a\u{FFFD}b\u{FFFD}\u{FFFD}😀\u{FFFD}");
    }

    #[test]
    fn three_bytes_per_unit_always_hold_the_utf8() {
        // The worst cases: all three-byte characters, all lone surrogates.
        let units = vec![0x20AC; STACK_KEY_UNITS - 1];
        assert_eq!(utf8(&units).len(), 3 * (STACK_KEY_UNITS - 1));
        let lone = vec![0xDFFF; STACK_KEY_UNITS - 1];
        assert_eq!(utf8(&lone).chars().count(), STACK_KEY_UNITS - 1);
    }
}
