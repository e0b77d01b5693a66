#![no_main]
//! Fuzz target `introspection`: the checks are `mcpguard_fuzzcheck::introspection`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpguard_fuzzcheck::introspection(data));
