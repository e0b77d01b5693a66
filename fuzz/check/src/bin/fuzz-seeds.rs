//! Writes the seeds only the fixture can make (its own genuine tokens, with
//! their JOSE headers and claims) into `<dir>/<target>/`, next to the ones
//! `fuzz/seed_corpus.py` takes from the conformance vectors.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/seeds".to_string()),
    );
    for (target, data) in mcpguard_fuzzcheck::fixture_seeds() {
        let folder = dir.join(target);
        std::fs::create_dir_all(&folder)?;
        let name = format!("fixture-{:016x}", xxh(&data));
        std::fs::write(folder.join(name), data)?;
    }
    Ok(())
}

/// A stable file name for a seed (FNV-1a; not a security hash).
fn xxh(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
