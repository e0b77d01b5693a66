#![no_main]
//! Fuzz target `http`: the checks are `mcpguard_fuzzcheck::http`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpguard_fuzzcheck::http(data));
