#![no_main]
//! Fuzz target `oauth`: the checks are `mcpguard_fuzzcheck::oauth`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpguard_fuzzcheck::oauth(data));
