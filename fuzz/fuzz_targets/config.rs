#![no_main]
//! Fuzz target `config`: the checks are `mcpguard_fuzzcheck::config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpguard_fuzzcheck::config(data));
