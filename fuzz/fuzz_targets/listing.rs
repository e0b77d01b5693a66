#![no_main]
//! Fuzz target `listing`: the checks are `mcpguard_fuzzcheck::listing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpguard_fuzzcheck::listing(data));
