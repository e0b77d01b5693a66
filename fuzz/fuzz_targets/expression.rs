#![no_main]
//! Fuzz target `expression`: the checks are `mcpguard_fuzzcheck::expression`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpguard_fuzzcheck::expression(data));
