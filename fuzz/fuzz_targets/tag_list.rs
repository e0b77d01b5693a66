#![no_main]
//! Fuzz target `tag_list`: the checks are `mcpguard_fuzzcheck::tag_list`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpguard_fuzzcheck::tag_list(data));
