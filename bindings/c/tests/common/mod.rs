//! Small safe helpers for calling the exported C functions from Rust tests:
//! every call still goes through `mcpguard_*`, these only copy results out.
#![allow(dead_code)] // each test file uses a different subset

use std::ffi::{CStr, c_char};

use mcpguard_c::*;

/// Asserts a call's result code and that the message names `needle`
/// (the caller imports `mcpguard_result` and `last_error`).
#[allow(unused_macros)] // not every test file refuses calls
macro_rules! refused {
    ($code:ident, $needle:expr, $call:expr) => {{
        // SAFETY: every non-NULL argument is live or writable; the NULLs and
        // bad values are what is under test.
        let r = unsafe { $call };
        assert_eq!(
            r,
            mcpguard_result::$code,
            "{}: {}",
            stringify!($call),
            last_error()
        );
        let message = last_error();
        assert!(
            message.contains($needle),
            "{}: message {message:?} should mention {:?}",
            stringify!($call),
            $needle
        );
    }};
}

/// An output slice before the library writes it.
pub fn no_str() -> mcpguard_str {
    mcpguard_str {
        data: std::ptr::null(),
        len: 0,
    }
}

/// Copies a borrowed output slice.
pub fn text(s: mcpguard_str) -> String {
    if s.data.is_null() {
        return "<NULL>".to_string();
    }
    // SAFETY: the library wrote `len` bytes of UTF-8 at `data`, owned by an
    // object the caller still holds.
    let bytes = unsafe { std::slice::from_raw_parts(s.data.cast::<u8>(), s.len) };
    String::from_utf8(bytes.to_vec()).expect("library strings are UTF-8")
}

/// The calling thread's last error message.
pub fn last_error() -> String {
    // SAFETY: mcpguard_last_error returns a NUL-terminated thread-local string.
    unsafe { CStr::from_ptr(mcpguard_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Copies and frees an owned output string.
pub fn take(p: *mut c_char) -> String {
    assert!(!p.is_null(), "owned output string is NULL");
    // SAFETY: `p` is a NUL-terminated string this library allocated.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: freed exactly once, here.
    unsafe { mcpguard_string_free(p) };
    s
}

/// A result as `Ok`, or the code and message.
pub fn ok(r: mcpguard_result, what: &str) -> Result<(), String> {
    if r == mcpguard_result::Ok {
        Ok(())
    } else {
        Err(format!("{what}: {r:?}: {}", last_error()))
    }
}

/// A string argument as pointer + length.
pub fn arg(s: &str) -> (*const c_char, usize) {
    (s.as_ptr().cast(), s.len())
}

/// String slices pointing into `items` (kept alive by the caller).
pub fn str_array(items: &[String]) -> Vec<mcpguard_str> {
    items
        .iter()
        .map(|s| mcpguard_str {
            data: s.as_ptr().cast(),
            len: s.len(),
        })
        .collect()
}

/// Reads and frees a string list.
pub fn take_list(list: *mut mcpguard_string_list) -> Vec<String> {
    let mut n = 0;
    // SAFETY: `list` is a live list from this library; `n` is writable.
    assert_eq!(
        unsafe { mcpguard_string_list_len(list, &mut n) },
        mcpguard_result::Ok
    );
    let items = (0..n)
        .map(|i| {
            let mut s = no_str();
            // SAFETY: as above, `i` is in range.
            assert_eq!(
                unsafe { mcpguard_string_list_get(list, i, &mut s) },
                mcpguard_result::Ok
            );
            text(s)
        })
        .collect();
    // SAFETY: freed exactly once, here.
    unsafe { mcpguard_string_list_free(list) };
    items
}
