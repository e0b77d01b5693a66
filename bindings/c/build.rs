//! Gives the shared library the soname C hosts link against
//! (`libmcpguard.so.<major>`), whatever file name Cargo gives it.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmcpguard.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
