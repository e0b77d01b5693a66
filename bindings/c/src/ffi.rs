//! The FFI plumbing every exported function shares: the result code, the
//! panic boundary, the thread-local last error, and the checked conversions
//! of raw pointers and strings that C hands in.
//!
//! Decides how a C caller's mistakes (NULL, bad UTF-8, a bad enum value) are
//! reported: always as a result code plus a message, never as a crash.
//! Leaves everything about guards and decisions to the other modules.

use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use mcpguard::classify::{Classify, ErrorInfo};

/// The result of every `mcpguard_*` function that can fail. `MCPGUARD_RESULT_OK`
/// is zero; on any other value `mcpguard_last_error()` describes the failure.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mcpguard_result {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullParameter = 1,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 2,
    /// An argument had a value outside what the function accepts (an enum
    /// value, a clock time, an algorithm name, a length).
    InvalidArgument = 3,
    /// An index was past the end of a list.
    OutOfRange = 4,
    /// The configuration (or an opaque-token entry) was refused; the message
    /// names the JSON path.
    ConfigError = 5,
    /// `mcpguard_guard_validate`: the token was refused
    /// (`mcpguard_guard_validate_introspection`: the response was).
    TokenRejected = 6,
    /// `mcpguard_guard_set_jwks`: the key set was refused (the old one stays).
    KeyError = 7,
    /// `mcpguard_guard_revoke`: the token could not be revoked.
    RevokeFailed = 8,
    /// A tag filter does not parse.
    InvalidFilter = 9,
    /// `mcpguard_guard_check_rate_limit`: no rule has that name.
    UnknownRule = 10,
    /// A looked-up item (a header by name) is absent.
    NotFound = 11,
    /// A rate-limit quota was refused (limit, window or burst out of range).
    InvalidQuota = 12,
    /// A bug inside mcpguard was caught at the boundary; the object passed
    /// in is unchanged where the library could ensure it.
    Panic = 13,
    /// `mcpguard_guard_insert_opaque`: the opaque-token store holds its
    /// capacity of unexpired tokens (the message gives the number); nothing
    /// was dropped to make room.
    OpaqueStoreFull = 14,
    /// `mcpguard_guard_insert_opaque`: the token is not 1 to 4096 RFC 6750
    /// token characters (`A-Z a-z 0-9 - _ ~ + /`, then optional trailing
    /// `=`) without a dot.
    OpaqueInvalidToken = 15,
    /// `mcpguard_guard_insert_opaque`: the entry's `expires_at` is not after
    /// the guard's current time.
    OpaqueExpired = 16,
    /// `mcpguard_guard_insert_opaque`: the configuration's
    /// `auth.opaque_tokens` is off, so there is no store.
    OpaqueDisabled = 17,
    /// The shared store (`store.redis`) did not answer and `on_error` is
    /// `fail_closed`: the change holds in this process and is replayed to the
    /// store when it answers again; retrying is harmless.
    StoreUnavailable = 18,
    /// `mcpguard_oauth_server_*`: the authorization server refused the call
    /// (a client that failed to authenticate, another client's token);
    /// `mcpguard_last_error_info()` gives the OAuth error as `code` and the
    /// HTTP status.
    OauthRefused = 19,
    /// `mcpguard_guard_after_fork`: the system refused to start a thread;
    /// the keys in force stay, and the next refresh hint tries again.
    ThreadUnavailable = 20,
}

/// A string slice: `len` bytes of UTF-8 at `data`, not NUL-terminated.
///
/// Going in, `data` may be NULL only where the function says the string is
/// optional. Coming out, `data` is never NULL (an absent value is a
/// zero-length string) and the bytes belong to the object the slice came
/// from: they stay valid until that object is freed. Print one with
/// `printf("%.*s", (int)s.len, s.data)`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mcpguard_str {
    /// The first byte (never NULL in an output).
    pub data: *const c_char,
    /// The number of bytes.
    pub len: usize,
}

impl mcpguard_str {
    /// A slice pointing at `s`; the caller keeps `s` alive as long as C may read it.
    pub(crate) fn borrow(s: &str) -> Self {
        mcpguard_str {
            data: s.as_ptr().cast(),
            len: s.len(),
        }
    }

    /// The zero-length slice used for absent values.
    pub(crate) fn empty() -> Self {
        Self::borrow("")
    }

    pub(crate) fn borrow_opt(s: Option<&str>) -> Self {
        s.map_or_else(Self::empty, Self::borrow)
    }
}

/// Why a call failed: the code returned to C, the message kept for
/// `mcpguard_last_error`, and the core's classification of the error for
/// `mcpguard_last_error_info` (none for the caller's own mistakes: NULL,
/// bad UTF-8, a bad enum value, which the core never sees).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: mcpguard_result,
    pub(crate) message: String,
    /// Boxed: a failure travels in every `Result` of the exported
    /// functions, so it stays two words plus the message.
    pub(crate) info: Option<Box<ErrorInfo>>,
}

impl Failure {
    pub(crate) fn new(code: mcpguard_result, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            info: None,
        }
    }

    /// A core error: its kind, code, reason, status and message are the
    /// core's classification (`metadata_url` goes into a token refusal's
    /// challenge); only the result code is this API's.
    pub(crate) fn classified(
        code: mcpguard_result,
        error: &impl Classify,
        metadata_url: Option<&str>,
    ) -> Self {
        Self::from_info(code, error.classify(metadata_url))
    }

    /// A failure carrying an already classified error.
    pub(crate) fn from_info(code: mcpguard_result, info: ErrorInfo) -> Self {
        Failure {
            code,
            message: info.message.clone(),
            info: Some(Box::new(info)),
        }
    }

    pub(crate) fn null(name: &str) -> Self {
        Self::new(
            mcpguard_result::NullParameter,
            format!("{name} must not be NULL"),
        )
    }
}

pub(crate) type FfiResult = Result<(), Failure>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    static LAST_ERROR_INFO: RefCell<CString> = RefCell::new(CString::from(c"null"));
}

/// `text` as a C string; a NUL byte (a message may quote caller text with
/// one) would cut it short in C, so it shows as the replacement character.
fn c_text(text: &str) -> CString {
    CString::new(text)
        .unwrap_or_else(|_| CString::new(text.replace('\0', "\u{fffd}")).unwrap_or_default())
}

fn set_last_error(message: &str, info: Option<&ErrorInfo>) {
    LAST_ERROR.with(|e| *e.borrow_mut() = c_text(message));
    // serde_json escapes a NUL as \u0000, so the JSON text never holds one.
    let json = info.map_or_else(|| "null".to_string(), |i| i.to_json().to_string());
    LAST_ERROR_INFO.with(|e| *e.borrow_mut() = c_text(&json));
}

/// Runs one exported function's body: a panic becomes `MCPGUARD_RESULT_PANIC`,
/// a failure is recorded for `mcpguard_last_error`. Success leaves the last
/// error as it was (as `errno` does), which keeps the hot path free of
/// thread-local writes.
pub(crate) fn boundary(body: impl FnOnce() -> FfiResult) -> mcpguard_result {
    // AssertUnwindSafe: after a panic the caller only learns the code; the
    // Guard's own state is behind locks that do not poison (parking_lot) or
    // atomics, so nothing half-updated is observed afterwards.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => mcpguard_result::Ok,
        Ok(Err(failure)) => {
            set_last_error(&failure.message, failure.info.as_deref());
            failure.code
        }
        Err(_) => {
            set_last_error(
                "internal error: mcpguard panicked (this is a bug; please report it)",
                None,
            );
            mcpguard_result::Panic
        }
    }
}

/// Runs a `*_free` body behind the panic boundary; a free has no result to
/// return, so a panic there is swallowed (it would be a bug in a `Drop`).
pub(crate) fn free_boundary(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

/// The message of the last failed `mcpguard_*` call on this thread, or ""
/// when none has failed yet. The text is NUL-terminated and stays valid until
/// the next failing call on the same thread; copy it to keep it. A
/// successful call does not clear it, so read it only right after a call
/// returned something other than `MCPGUARD_RESULT_OK`.
#[unsafe(no_mangle)]
pub extern "C" fn mcpguard_last_error() -> *const c_char {
    catch_unwind(|| LAST_ERROR.with(|e| e.borrow().as_ptr())).unwrap_or(c"".as_ptr())
}

/// The last failed `mcpguard_*` call's error as the core classified it, a
/// NUL-terminated JSON object: `{"kind", "code", "reason", "status",
/// "message", "path", "www_authenticate"}`. `kind` is the error's family
/// (`config`, `invalid_token`, `insufficient_scope`, `invalid_request`,
/// `opaque_token`, `opaque_store`, `guard`), `code` its stable code (the
/// OAuth error of a refusal, e.g. `invalid_token`; else the error's own,
/// e.g. `invalid_configuration`, `revocation_list_full`), `status` the HTTP
/// status a host answers with (or null), `path` the JSON path of a
/// configuration error and `www_authenticate` the challenge of a token
/// refusal. Every binding reports the same error with the same values.
///
/// The text is `null` when the last failure was the caller's own mistake
/// (NULL, bad UTF-8, a bad enum value, an index out of range, an argument
/// outside the range a function takes) or a caught panic, and before any
/// call has failed. Lifetime and threading as `mcpguard_last_error()`.
#[unsafe(no_mangle)]
pub extern "C" fn mcpguard_last_error_info() -> *const c_char {
    catch_unwind(|| LAST_ERROR_INFO.with(|e| e.borrow().as_ptr())).unwrap_or(c"null".as_ptr())
}

/// Frees a string this library allocated (the `char **` outputs such as
/// `mcpguard_decision_to_json`). NULL is ignored. The pointer is invalid
/// afterwards; pass each string here exactly once.
///
/// # Safety
/// `s` is NULL or a string returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_string_free(s: *mut c_char) {
    free_boundary(|| {
        if !s.is_null() {
            // SAFETY: the caller hands back a pointer from `CString::into_raw`
            // (see `owned_string`) exactly once.
            drop(unsafe { CString::from_raw(s) });
        }
    });
}

/// Converts an owned Rust string into a NUL-terminated C string the caller
/// frees with `mcpguard_string_free`.
pub(crate) fn owned_string(s: String) -> Result<*mut c_char, Failure> {
    CString::new(s).map(CString::into_raw).map_err(|_| {
        Failure::new(
            mcpguard_result::InvalidArgument,
            "the text contains a NUL byte and cannot be returned as a C string",
        )
    })
}

/// Borrows a required object argument.
///
/// # Safety
/// `p` is NULL or points at a live `T` that outlives `'a` and that nobody
/// mutates meanwhile.
pub(crate) unsafe fn arg<'a, T>(p: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: forwarded from the caller's contract above.
    unsafe { p.as_ref() }.ok_or_else(|| Failure::null(name))
}

/// Borrows an optional object argument (NULL means absent).
///
/// # Safety
/// As [`arg`].
pub(crate) unsafe fn arg_opt<'a, T>(p: *const T) -> Option<&'a T> {
    // SAFETY: forwarded from the caller's contract above.
    unsafe { p.as_ref() }
}

/// An output parameter, checked for NULL once; [`Out::set`] writes it.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// Checks an output parameter.
    ///
    /// # Safety
    /// `p` is NULL or valid for a write of `T` until the exported function
    /// returns.
    pub(crate) unsafe fn new(p: *mut T, name: &str) -> Result<Self, Failure> {
        NonNull::new(p).map(Out).ok_or_else(|| Failure::null(name))
    }

    /// Checks an optional output parameter (NULL means the caller does not want it).
    ///
    /// # Safety
    /// As [`Out::new`].
    pub(crate) unsafe fn optional(p: *mut T) -> Option<Self> {
        NonNull::new(p).map(Out)
    }

    /// Writes the value without reading or dropping what was there (C
    /// memory may be uninitialised, and `T` is plain data or a pointer).
    pub(crate) fn set(&self, value: T) {
        // SAFETY: `new` was given a pointer valid for writes (its contract).
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// Borrows a required string argument (pointer + length) as UTF-8.
///
/// # Safety
/// `data` is NULL or valid for reads of `len` bytes that outlive `'a`.
pub(crate) unsafe fn arg_str<'a>(
    data: *const c_char,
    len: usize,
    name: &str,
) -> Result<&'a str, Failure> {
    if data.is_null() {
        return Err(Failure::null(name));
    }
    // SAFETY: forwarded from the caller's contract above; not NULL.
    unsafe { slice_str(data, len, name) }
}

/// Borrows an optional string argument: NULL means absent, and then `len`
/// must be 0 (a non-zero length with NULL is the caller's bug, reported).
///
/// # Safety
/// As [`arg_str`].
pub(crate) unsafe fn arg_opt_str<'a>(
    data: *const c_char,
    len: usize,
    name: &str,
) -> Result<Option<&'a str>, Failure> {
    if data.is_null() {
        if len != 0 {
            return Err(Failure::new(
                mcpguard_result::NullParameter,
                format!("{name} is NULL but its length is {len}"),
            ));
        }
        return Ok(None);
    }
    // SAFETY: forwarded from the caller's contract above; not NULL.
    unsafe { slice_str(data, len, name) }.map(Some)
}

/// # Safety
/// `data` is not NULL and valid for reads of `len` bytes that outlive `'a`.
unsafe fn slice_str<'a>(data: *const c_char, len: usize, name: &str) -> Result<&'a str, Failure> {
    if len > isize::MAX as usize {
        return Err(Failure::new(
            mcpguard_result::InvalidArgument,
            format!("{name}: length {len} is larger than any object can be"),
        ));
    }
    // SAFETY: the caller guarantees `len` readable bytes at `data` (checked
    // non-NULL and at most isize::MAX above).
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            mcpguard_result::InvalidUtf8,
            format!("{name} is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// Reads an array of `count` string slices into owned strings. `items` may
/// be NULL only when `count` is 0.
///
/// # Safety
/// `items` is NULL or valid for reads of `count` `mcpguard_str`, each of
/// which satisfies [`arg_str`]'s contract.
pub(crate) unsafe fn arg_str_array(
    items: *const mcpguard_str,
    count: usize,
    name: &str,
) -> Result<Vec<String>, Failure> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if items.is_null() {
        return Err(Failure::new(
            mcpguard_result::NullParameter,
            format!("{name} is NULL but its count is {count}"),
        ));
    }
    if count > isize::MAX as usize / std::mem::size_of::<mcpguard_str>() {
        return Err(Failure::new(
            mcpguard_result::InvalidArgument,
            format!("{name}: count {count} is larger than any array can be"),
        ));
    }
    // SAFETY: the caller guarantees `count` readable elements at `items`.
    let slice = unsafe { std::slice::from_raw_parts(items, count) };
    slice
        .iter()
        .enumerate()
        .map(|(i, s)| {
            // SAFETY: each element satisfies `arg_str`'s contract (caller's promise).
            unsafe { arg_str(s.data, s.len, &format!("{name}[{i}]")) }.map(str::to_string)
        })
        .collect()
}

/// Moves a Rust value to the heap for C to hold; freed by [`free_boxed`].
pub(crate) fn boxed<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Runs an accessor on a handle: checks the handle and the output pointer,
/// then writes what `get` reads from it (inside the panic boundary).
///
/// # Safety
/// Pointers are NULL or valid (the header's pointer contract).
pub(crate) unsafe fn read_handle<H, T>(
    handle: *const H,
    name: &str,
    out: *mut T,
    get: impl FnOnce(&H) -> Result<T, Failure>,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: forwarded from the caller's contract above.
        let (handle, out) = unsafe { (arg(handle, name)?, Out::new(out, "out")?) };
        out.set(get(handle)?);
        Ok(())
    })
}

/// Frees a value made by [`boxed`]; NULL is ignored.
///
/// # Safety
/// `p` is NULL or came from [`boxed`] for the same `T` and is not used again.
pub(crate) unsafe fn free_boxed<T>(p: *mut T) {
    free_boundary(|| {
        if !p.is_null() {
            // SAFETY: forwarded from the caller's contract above.
            drop(unsafe { Box::from_raw(p) });
        }
    });
}

/// Looks up `items[index]`, or reports the index as out of range.
pub(crate) fn at<'a, T>(items: &'a [T], index: usize, what: &str) -> Result<&'a T, Failure> {
    items.get(index).ok_or_else(|| {
        Failure::new(
            mcpguard_result::OutOfRange,
            format!(
                "{what} index {index} is out of range (count {})",
                items.len()
            ),
        )
    })
}
