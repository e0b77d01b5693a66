//! mcpguard's C API: `libmcpguard.so`, `libmcpguard.a` and `include/mcpguard.h`.
//!
//! A thin layer over the `mcpguard` core in the manner of rustls-ffi: every
//! symbol is prefixed `mcpguard_`, objects are opaque, every fallible function
//! returns an `mcpguard_result` and writes its outputs through out-parameters,
//! every pointer is checked for NULL, every function runs behind a panic
//! boundary. It converts types and errors and decides nothing itself.
//!
//! The memory and threading rules C callers rely on are stated once, in the
//! header's preamble (`cbindgen.toml`), and apply to every function here.
//! Functions are `unsafe extern "C"` because they trust C's pointers to be
//! NULL or valid; that single contract is documented there, which is why the
//! per-function `# Safety` sections are not repeated.
#![allow(clippy::missing_safety_doc)]
#![allow(non_camel_case_types)]
#![warn(missing_docs)]

mod decision;
mod engines;
mod ffi;
mod guard;
mod http;
mod oauth;

pub use decision::*;
pub use engines::*;
pub use ffi::{
    mcpguard_last_error, mcpguard_last_error_info, mcpguard_result, mcpguard_str,
    mcpguard_string_free,
};
pub use guard::*;
pub use http::*;
pub use oauth::*;

// The header promises that these objects may be shared between threads;
// this stops compiling if one of them ever stops being `Send + Sync`.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<mcpguard_guard>();
    shared::<mcpguard_principal>();
    shared::<mcpguard_tag_filter>();
    shared::<mcpguard_rate_limiter>();
    shared::<mcpguard_manual_clock>();
    shared::<mcpguard_decision>();
    shared::<mcpguard_http_options>();
    shared::<mcpguard_http_decision>();
    shared::<mcpguard_http_response>();
    shared::<mcpguard_oauth_server>();
};

/// The major version of this library (matches the crate's `Cargo.toml`).
pub const MCPGUARD_VERSION_MAJOR: u32 = 0;
/// The minor version of this library.
pub const MCPGUARD_VERSION_MINOR: u32 = 1;
/// The patch version of this library.
pub const MCPGUARD_VERSION_PATCH: u32 = 0;

/// The version of the library actually linked, `"MAJOR.MINOR.PATCH"`, to
/// compare with the header's `MCPGUARD_VERSION` at run time. The bytes are
/// static.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_version(out: *mut mcpguard_str) -> mcpguard_result {
    ffi::boundary(|| {
        // SAFETY: `out` is NULL or writable (the header's pointer contract).
        let out = unsafe { ffi::Out::new(out, "out") }?;
        out.set(mcpguard_str::borrow(env!("CARGO_PKG_VERSION")));
        Ok(())
    })
}
