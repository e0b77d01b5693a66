//! Replays every committed fuzz input on stable Rust: the seed corpora
//! (`fuzz/corpus/<target>/`), and every input that ever failed
//! (`fuzz/regressions/<target>/`, kept with the fix), through the same
//! checks the fuzz targets run; and, on a machine that fuzzed, the inputs
//! libFuzzer saved in `fuzz/artifacts/<target>/` (not committed), so a
//! crash found stays a failing test until it is fixed. A regression fails `cargo test`, no
//! nightly needed.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut failed = Vec::new();
    let mut count = 0;
    for (name, check) in mcpguard_fuzzcheck::TARGETS {
        for file in inputs(&fuzz_dir().join(kind).join(name)) {
            let data = match fs::read(&file) {
                Ok(data) => data,
                // Listed, then gone: a fuzzer running on this checkout
                // replaced it with a smaller input (libFuzzer's reduction).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("{}: {e}", file.display()),
            };
            count += 1;
            if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failed.push(file.display().to_string());
            }
        }
    }
    assert!(failed.is_empty(), "failing inputs:\n{}", failed.join("\n"));
    count
}

#[test]
fn every_target_has_a_committed_seed_corpus() {
    for (name, _) in mcpguard_fuzzcheck::TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        assert!(!inputs(&dir).is_empty(), "no corpus in {}", dir.display());
    }
}

#[test]
fn the_committed_corpus_passes_every_check() {
    assert!(replay("corpus") > 0);
}

#[test]
fn every_past_crash_input_passes_every_check() {
    replay("regressions");
}

#[test]
fn inputs_libfuzzer_saved_here_pass_every_check() {
    replay("artifacts");
}

#[test]
fn the_fixture_admits_its_own_tokens() {
    // The authorize check is only meaningful if good tokens get through.
    let good = mcpguard_fuzzcheck::good_authorizations();
    assert_eq!(good.len(), 5);
    for header in &good {
        assert!(mcpguard_fuzzcheck::admits(header), "{header}");
        mcpguard_fuzzcheck::authorize(header.as_bytes());
    }
    let mut tampered = good[1].clone();
    tampered.pop();
    assert!(!mcpguard_fuzzcheck::admits(&tampered));
}
