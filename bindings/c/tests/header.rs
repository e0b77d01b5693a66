//! The committed `include/mcpguard.h` is exactly what cbindgen generates from
//! this crate now, and its version macros match `Cargo.toml`.
//!
//! `MCPGUARD_BLESS_HEADER=1 cargo test -p mcpguard-c --test header` (or
//! `make -C bindings/c header`) rewrites the committed header instead.

use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    crate_dir().join("../../include/mcpguard.h")
}

fn generate() -> String {
    let dir = crate_dir();
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn committed_header_matches_a_fresh_generation() {
    let fresh = generate();
    let path = header_path();
    if std::env::var_os("MCPGUARD_BLESS_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write include/mcpguard.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "at the end".to_string(),
                |i| format!("at line {}", i + 1),
            );
        panic!(
            "{} differs from a fresh cbindgen generation ({line}); run `make -C bindings/c header` and commit it",
            Path::new("include/mcpguard.h").display()
        );
    }
}

fn define(header: &str, name: &str) -> String {
    let prefix = format!("#define {name} ");
    header
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{name} is not defined in the header"))
        .trim()
        .to_string()
}

#[test]
fn header_version_macros_match_cargo_toml() {
    let header = std::fs::read_to_string(header_path()).expect("include/mcpguard.h");
    assert_eq!(
        define(&header, "MCPGUARD_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert_eq!(
        define(&header, "MCPGUARD_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(
        define(&header, "MCPGUARD_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION_PATCH")
    );
    assert_eq!(
        mcpguard_c::MCPGUARD_VERSION_MAJOR.to_string(),
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert_eq!(
        mcpguard_c::MCPGUARD_VERSION_MINOR.to_string(),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(
        mcpguard_c::MCPGUARD_VERSION_PATCH.to_string(),
        env!("CARGO_PKG_VERSION_PATCH")
    );
    // The text form is built from the three numbers by the preprocessor
    // (the C examples compare it with mcpguard_version() at run time).
    assert!(
        define(&header, "MCPGUARD_VERSION").contains("MCPGUARD_STRINGIFY(MCPGUARD_VERSION_PATCH)")
    );
}
