//! `mcpguard._native`: the Python extension module over the mcpguard core.
//!
//! Thin by design: every class here holds a core value and converts it
//! (strings, lists, dicts) and its errors (into the `mcpguard` exception
//! hierarchy, defined in Python in `mcpguard/_errors.py`). Decisions,
//! validation rules and texts all come from the core. What this layer does
//! decide is Python plumbing: when to release the GIL (only around signature
//! checks, large bodies and round trips, see `Guard.authorize` in
//! `guard.rs` and `authorize_http` in `http.rs`), how an awaited decision
//! reaches its asyncio loop without a thread (`later.rs`), and how a
//! raising audit callback is reported (`sys.unraisablehook`, and the
//! core's `audit_sink_panics` counter).
#![warn(missing_docs)]

mod clock;
mod convert;
mod engines;
mod errors;
mod guard;
mod http;
#[cfg(unix)]
mod later;
mod oauth;

use pyo3::prelude::*;

/// The compiled core of mcpguard. Import from `mcpguard`, not from here.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<clock::ManualClock>()?;
    m.add_class::<guard::Guard>()?;
    m.add_class::<guard::Decision>()?;
    m.add_class::<guard::Principal>()?;
    m.add_class::<http::HttpOptions>()?;
    m.add_class::<http::HttpBody>()?;
    m.add_class::<http::HttpDecision>()?;
    m.add_class::<http::HttpResponse>()?;
    m.add_class::<oauth::OAuthServer>()?;
    #[cfg(unix)]
    m.add_class::<later::Completions>()?;
    m.add_class::<engines::TokenValidator>()?;
    m.add_class::<engines::TagFilter>()?;
    m.add_class::<engines::RateLimiter>()?;
    m.add_class::<engines::RateDecision>()?;
    m.add_function(wrap_pyfunction!(guard::after_fork, m)?)?;
    m.add_function(wrap_pyfunction!(engines::validate_scopes, m)?)?;
    m.add_function(wrap_pyfunction!(engines::scopes_to_tags, m)?)?;
    m.add_function(wrap_pyfunction!(engines::tags_to_scopes, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The response headers a filtered listing drops (the core's list).
    m.add(
        "FILTERED_BODY_DROPS",
        pyo3::types::PyTuple::new(m.py(), mcpguard::guard::FILTERED_BODY_DROPS)?,
    )?;
    Ok(())
}
