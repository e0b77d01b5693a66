#![no_main]
//! Fuzz target `json_query`: the checks are `mcpguard_fuzzcheck::json_query`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpguard_fuzzcheck::json_query(data));
