//! JavaScript strings read as UTF-16 through Node-API, which V8 copies
//! without encoding.
//!
//! A string is read onto the caller's stack buffer in one call; one that
//! does not fit costs a length query and a heap buffer.

use std::mem::MaybeUninit;
use std::ops::Deref;
use std::ptr;

use napi::{Error, Status, sys};

/// A string's UTF-16 code units, read whole.
pub(crate) enum Units<'b> {
    /// In the caller's buffer (the usual case).
    Stack(&'b [u16]),
    /// Too long for it: on the heap.
    Heap(Vec<u16>),
}

impl Deref for Units<'_> {
    type Target = [u16];

    fn deref(&self) -> &[u16] {
        match self {
            Units::Stack(units) => units,
            Units::Heap(units) => units,
        }
    }
}

/// Whether a read into a buffer of `bufsize` code units that copied
/// `copied` holds the whole string: Node-API copies at most `bufsize - 1`
/// units (then a NUL), so fewer than that means nothing was left out.
pub(crate) fn complete(copied: usize, bufsize: usize) -> bool {
    copied + 1 < bufsize
}

/// `value` read whole as UTF-16: onto `stack` in one call when it fits,
/// else onto the heap. `None` when `value` is not a string; `what` names
/// any other failure.
///
/// # Safety
/// `env` must be the live environment of the running Node-API call, on
/// the JavaScript thread, and `value` a value of that call.
pub(crate) unsafe fn read<'b>(
    env: sys::napi_env,
    value: sys::napi_value,
    stack: &'b mut [MaybeUninit<u16>],
    what: &str,
) -> napi::Result<Option<Units<'b>>> {
    let mut copied = 0usize;
    // SAFETY: the caller's guarantee; Node-API writes at most `stack.len()`
    // units (a NUL included) into `stack`, which has them.
    let status = unsafe {
        sys::napi_get_value_string_utf16(
            env,
            value,
            stack.as_mut_ptr().cast(),
            stack.len(),
            &mut copied,
        )
    };
    if status == sys::Status::napi_string_expected {
        return Ok(None);
    }
    check(status, what)?;
    if complete(copied, stack.len()) {
        // SAFETY: Node-API initialised the first `copied` units of `stack`,
        // fewer than its length.
        let units = unsafe { std::slice::from_raw_parts(stack.as_ptr().cast::<u16>(), copied) };
        return Ok(Some(Units::Stack(units)));
    }
    // SAFETY: the caller's guarantee; `value` is a string (it was just read).
    Ok(Some(Units::Heap(unsafe { read_whole(env, value, what)? })))
}

/// `value`, a string, read whole onto the heap: a length query, then the
/// copy. `what` names the failure of either call.
///
/// # Safety
/// `env` must be the live environment of the running Node-API call, on
/// the JavaScript thread, and `value` a string value of that call.
unsafe fn read_whole(
    env: sys::napi_env,
    value: sys::napi_value,
    what: &str,
) -> napi::Result<Vec<u16>> {
    let mut len = 0usize;
    // SAFETY: the caller's guarantee; a null buffer asks for the length only.
    check(
        unsafe { sys::napi_get_value_string_utf16(env, value, ptr::null_mut(), 0, &mut len) },
        what,
    )?;
    let mut units = vec![0u16; len.saturating_add(1)];
    let mut copied = 0usize;
    // SAFETY: as above; `units` has the `len + 1` units Node-API may write
    // (the string and a NUL).
    check(
        unsafe {
            sys::napi_get_value_string_utf16(
                env,
                value,
                units.as_mut_ptr(),
                units.len(),
                &mut copied,
            )
        },
        what,
    )?;
    units.truncate(copied.min(len));
    Ok(units)
}

/// `Ok` for a Node-API success, else the error `what` names.
pub(crate) fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::from(status), what.to_string()))
    }
}
