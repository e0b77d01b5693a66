#![no_main]
//! Fuzz target `jose_header`: the checks are `mcpguard_fuzzcheck::jose_header`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpguard_fuzzcheck::jose_header(data));
