#![no_main]
//! Fuzz target `authorize`: the checks are `mcpguard_fuzzcheck::authorize`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpguard_fuzzcheck::authorize(data));
