//! mcpguard quick start: one Guard, built from `examples/guard.json` (1MCP's
//! security-guide example), answering a handful of requests.
//!
//! Run it with `make demo` (or `cargo run -p mcpguard --example quickstart`).
//! The sample tokens in `examples/tokens.json` were signed once with the
//! example's key; the Guard runs on a manual clock pinned to
//! 2026-01-01T00:00:00Z so that the output is the same on every run and
//! every day. A real host calls `Guard::from_file(path)` and keeps the
//! system clock.

use std::path::Path;

use mcpguard::ManualClock;
use mcpguard::guard::{Decision, Guard, GuardOptions, Request, RequestFilter};

/// The instant the sample tokens were issued for.
const DEMO_TIME: u64 = 1_767_225_600;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let clock = ManualClock::new(DEMO_TIME);
    let config = mcpguard::config::GuardConfig::from_file(examples.join("guard.json"))?;
    let guard = Guard::from_config(config, GuardOptions::with_clock(clock))?;
    let tokens: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(examples.join("tokens.json"))?)?;
    let bearer = |name: &str| format!("Bearer {}", tokens[name].as_str().unwrap_or_default());

    println!("mcpguard quickstart: examples/guard.json, clock at 2026-01-01T00:00:00Z");
    println!(
        "metadata: {} -> {}",
        guard.metadata_path(),
        guard.metadata_document()
    );

    let developer = bearer("developer");
    let analyst = bearer("analyst");
    let demo = bearer("demo");
    let expired = bearer("expired");
    let wrong_audience = bearer("wrong_audience");

    show(
        1,
        "developer lists servers",
        &guard.authorize(&Request::new().authorization(&developer)),
    );
    show(
        2,
        "analyst lists servers tagged web",
        &guard.authorize(
            &Request::new()
                .authorization(&analyst)
                .filter(RequestFilter::Tags("web")),
        ),
    );
    show(
        3,
        "developer uses the 'local' preset",
        &guard.authorize(
            &Request::new()
                .authorization(&developer)
                .filter(RequestFilter::Preset("local")),
        ),
    );
    show(
        4,
        "demo calls the database server",
        &guard.authorize(&Request::new().authorization(&demo).server("database")),
    );
    show(
        5,
        "demo filters on a tag it was not granted",
        &guard.authorize(
            &Request::new()
                .authorization(&demo)
                .filter(RequestFilter::TagFilter("web and database")),
        ),
    );
    show(
        6,
        "developer calls filesystem/write_file",
        &guard.authorize(
            &Request::new()
                .authorization(&developer)
                .server("filesystem")
                .tool("write_file"),
        ),
    );
    show(7, "no token", &guard.authorize(&Request::new()));
    show(
        8,
        "expired token",
        &guard.authorize(&Request::new().authorization(&expired)),
    );
    show(
        9,
        "token for another resource",
        &guard.authorize(&Request::new().authorization(&wrong_audience)),
    );

    // A burst from the demo client: 100 requests per 15 minutes.
    let burst = Request::new().authorization(&demo).server("web-search");
    let admitted = (0..100).filter(|_| guard.authorize(&burst).allowed).count();
    println!("[10] demo sends a burst of 100 requests to web-search: {admitted} allowed");
    show(11, "demo sends one more", &guard.authorize(&burst));
    Ok(())
}

/// Prints a decision the same way in every language's quick start.
fn show(n: u32, title: &str, d: &Decision) {
    println!("[{n}] {title}");
    match (d.allowed, d.error, d.reason) {
        (true, _, _) => println!("    {} allowed", d.status),
        (false, Some(error), Some(reason)) => println!(
            "    {} {} ({}): {}",
            d.status,
            error,
            reason,
            d.error_description.as_deref().unwrap_or("")
        ),
        _ => println!("    {}", d.status),
    }
    if d.allowed {
        let visible: Vec<&str> = d.visible_servers.iter().map(|s| &**s).collect();
        println!("    visible: {}", visible.join(", "));
    }
    for (name, value) in &d.headers {
        println!("    {name}: {value}");
    }
}
