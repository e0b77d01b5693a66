#![no_main]
//! Fuzz target `jwks`: the checks are `mcpguard_fuzzcheck::jwks`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpguard_fuzzcheck::jwks(data));
