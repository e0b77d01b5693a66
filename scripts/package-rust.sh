#!/usr/bin/env bash
# The Rust crates as a user gets them: `cargo package` the core, the tower
# layer, the fetcher and the Redis and SQLite stores (each built from its
# packaged files alone), then build the
# quick start as a host that depends on the packaged core, outside the
# workspace. Fails when a crate's package misses a file, a dependency has
# no version, or the metadata is incomplete.
set -euo pipefail
cd "$(dirname "$0")/.."
crates=(mcpguard mcpguard-tower mcpguard-fetch mcpguard-redis mcpguard-sqlite)
# Packaged together, each crate is verified against the others' packages
# (cargo's local overlay, not crates.io). Cargo keeps that overlay's
# unpacked sources under $CARGO_HOME/registry/src/-<hash>/ and reuses them
# for the same version, so a second run would verify against stale
# sources: drop those overlay copies first (crates.io's are untouched).
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-* "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/-*
# The same holds for builds: cargo reuses a registry crate's compiled
# library whenever its name, version and source match, whatever its files
# say, so a packaged core built by an earlier run would stand in for
# today's. Our crates' builds are dropped first (third-party ones are kept,
# and the target dir stays the workspace's: no second copy of every
# dependency on disk).
cargo clean --quiet "${crates[@]/#/-p}"
cargo package --quiet --allow-dirty "${crates[@]/#/-p}"
for crate in "${crates[@]}"; do
  manifest=$(tar -xzOf "target/package/$crate-0.1.0.crate" "$crate-0.1.0/Cargo.toml")
  for key in description license repository readme keywords categories; do
    grep -q "^$key = " <<<"$manifest" || { echo "$crate: package metadata lacks $key" >&2; exit 1; }
  done
done
host=$(mktemp -d)
trap 'rm -rf "$host"' EXIT
tar -xzf target/package/mcpguard-0.1.0.crate -C "$host"
mkdir -p "$host/app/src"
cp examples/rust/quickstart.rs "$host/app/src/main.rs"
# The quick start reads the sample configuration next to its manifest.
sed -i 's|Path::new(env!("CARGO_MANIFEST_DIR")).join("..")|Path::new(env!("MCPGUARD_EXAMPLES"))|' "$host/app/src/main.rs"
cat >"$host/app/Cargo.toml" <<TOML
[package]
name = "packaged-host"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
mcpguard = { path = "../mcpguard-0.1.0" }
serde_json = "1"

[workspace]
TOML
cp Cargo.lock "$host/app/Cargo.lock"
MCPGUARD_EXAMPLES="$PWD/examples" CARGO_TARGET_DIR="$PWD/target" \
  cargo run --quiet --manifest-path "$host/app/Cargo.toml" | diff -u examples/quickstart.expected -
echo "rust packages: ${crates[*]} package; a host built on the packaged core runs the quick start"
