//! `mcpguard_guard_from_file_with_clock` applies the environment overrides
//! of `config.md` exactly as `mcpguard_guard_from_file` does (and as the
//! Python and Node constructors do): a guard a test builds on a manual clock
//! reads the same file the same way as the one a host builds at start-up.
//!
//! The one test of this binary sets process environment variables, which
//! is why it lives alone in its own test binary: no other test runs
//! concurrently with it.

mod common;

use std::ptr::null_mut;

use common::{arg, last_error};
use mcpguard_c::*;

fn guard_json() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/guard.json")
        .to_string_lossy()
        .into_owned()
}

/// The default limit's capacity and window (reset of a fresh key) of a guard
/// built by `build`, through `mcpguard_guard_check_rate_limit`.
fn default_limit(
    build: impl FnOnce(*mut *mut mcpguard_guard) -> mcpguard_result,
    key: &str,
) -> Result<(u64, f64), String> {
    let mut g = null_mut();
    let r = build(&mut g);
    if r != mcpguard_result::Ok {
        return Err(format!("{r:?}: {}", last_error()));
    }
    let (kp, kn) = arg(key);
    let mut d = mcpguard_rate_decision::default();
    // SAFETY: `g` is live, the key outlives the call, `d` is writable.
    let r = unsafe { mcpguard_guard_check_rate_limit(g, std::ptr::null(), 0, kp, kn, 1, &mut d) };
    // SAFETY: freed once, here.
    unsafe { mcpguard_guard_free(g) };
    assert_eq!(r, mcpguard_result::Ok, "{}", last_error());
    Ok((d.limit, d.reset))
}

#[test]
fn from_file_with_clock_applies_the_environment_overrides_like_from_file() {
    let path = guard_json();
    let (pp, pn) = arg(&path);
    let mut clock = null_mut();
    // SAFETY: `clock` is writable.
    assert_eq!(
        unsafe { mcpguard_manual_clock_new(1_767_225_600.0, &mut clock) },
        mcpguard_result::Ok
    );
    let with_clock = |out| {
        // SAFETY: the path outlives the call, `clock` is live, `out` writable.
        unsafe { mcpguard_guard_from_file_with_clock(pp, pn, clock, out) }
    };
    let system = |out| {
        // SAFETY: the path outlives the call; `out` is writable.
        unsafe { mcpguard_guard_from_file(pp, pn, out) }
    };

    // guard.json: 100 requests per 900 s.
    assert_eq!(default_limit(with_clock, "a"), Ok((100, 900.0)));

    // SAFETY: this binary's only test; no other thread reads the
    // environment while it changes.
    unsafe {
        std::env::set_var("MCPGUARD_RATE_LIMIT_MAX", "7");
        std::env::set_var("MCPGUARD_RATE_LIMIT_WINDOW_SECONDS", "30");
    }
    assert_eq!(default_limit(with_clock, "b"), Ok((7, 30.0)));
    assert_eq!(default_limit(system, "b"), Ok((7, 30.0)));

    // A malformed override is refused by both, with the same message.
    // SAFETY: as above.
    unsafe { std::env::set_var("MCPGUARD_RATE_LIMIT_MAX", "many") };
    let refused = default_limit(with_clock, "c").expect_err("a bad override is refused");
    assert!(refused.starts_with("ConfigError"), "{refused}");
    assert!(refused.contains("MCPGUARD_RATE_LIMIT_MAX"), "{refused}");
    assert_eq!(default_limit(system, "c"), Err(refused));

    // SAFETY: as above.
    unsafe {
        std::env::remove_var("MCPGUARD_RATE_LIMIT_MAX");
        std::env::remove_var("MCPGUARD_RATE_LIMIT_WINDOW_SECONDS");
    }
    assert_eq!(default_limit(with_clock, "d"), Ok((100, 900.0)));
    // SAFETY: freed once, here.
    unsafe { mcpguard_manual_clock_free(clock) };
}
