#![no_main]
//! Fuzz target `claims`: the checks are `mcpguard_fuzzcheck::claims`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpguard_fuzzcheck::claims(data));
