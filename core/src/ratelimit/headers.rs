//! Response headers from a decision, in the configured format.
//!
//! Decides the header names and value syntax of IETF
//! draft-ietf-httpapi-ratelimit-headers 06, 07 and 10 and of the legacy
//! `X-RateLimit-*` headers; leaves setting them on a response to the host.
//! Durations are whole seconds rounded up (a client that waits the
//! advertised time is never early). `Retry-After` (at least 1) goes with
//! every denial that waiting can cure; a request that can never pass gets
//! none, since no wait helps.

use super::config::HeaderFormat;
use super::decision::RateDecision;
use crate::clock::NANOS_PER_SEC;

/// Whole seconds, rounded up; 0 for zero, negative or NaN.
fn ceil_secs(x: f64) -> u64 {
    if x > 0.0 { x.ceil() as u64 } else { 0 }
}

/// An RFC 8941 sf-string: printable ASCII with `"` and `\` escaped; any
/// other character (names come from configuration) becomes `_`.
fn sf_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('_'),
        }
    }
    out.push('"');
    out
}

/// A header value built from text and whole numbers, in one allocation.
enum Part<'a> {
    Text(&'a str),
    Num(u64),
}

fn value(parts: &[Part<'_>]) -> String {
    // 20 digits is the longest u64.
    let len = parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.len(),
            Part::Num(_) => 20,
        })
        .sum();
    let mut out = String::with_capacity(len);
    let mut digits = itoa::Buffer::new();
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Num(n) => out.push_str(digits.format(*n)),
        }
    }
    out
}

fn num(n: u64) -> String {
    itoa::Buffer::new().format(n).to_owned()
}

/// The headers for `d` in `format`; `now_nanos` dates the legacy
/// `X-RateLimit-Reset`, which is a Unix time as express-rate-limit sends it
/// (only that format reads it).
pub(crate) fn render(
    format: HeaderFormat,
    d: &RateDecision,
    now_nanos: impl FnOnce() -> u64,
) -> Vec<(&'static str, String)> {
    use Part::{Num, Text};
    let reset = ceil_secs(d.reset);
    let window = ceil_secs(d.window_seconds).max(1);
    let mut out = Vec::with_capacity(5);
    match format {
        HeaderFormat::Draft6 => {
            out.push((
                "RateLimit-Policy",
                value(&[Num(d.limit), Text(";w="), Num(window)]),
            ));
            out.push(("RateLimit-Limit", num(d.limit)));
            out.push(("RateLimit-Remaining", num(d.remaining)));
            out.push(("RateLimit-Reset", num(reset)));
        }
        HeaderFormat::Draft7 => {
            out.push((
                "RateLimit-Policy",
                value(&[Num(d.limit), Text(";w="), Num(window)]),
            ));
            out.push((
                "RateLimit",
                value(&[
                    Text("limit="),
                    Num(d.limit),
                    Text(", remaining="),
                    Num(d.remaining),
                    Text(", reset="),
                    Num(reset),
                ]),
            ));
        }
        HeaderFormat::Draft10 => {
            let name = sf_string(&d.policy);
            out.push((
                "RateLimit-Policy",
                value(&[
                    Text(&name),
                    Text(";q="),
                    Num(d.limit),
                    Text(";w="),
                    Num(window),
                ]),
            ));
            out.push((
                "RateLimit",
                value(&[
                    Text(&name),
                    Text(";r="),
                    Num(d.remaining),
                    Text(";t="),
                    Num(reset),
                ]),
            ));
        }
        HeaderFormat::Legacy => {
            let now = now_nanos() as f64 / NANOS_PER_SEC as f64;
            out.push(("X-RateLimit-Limit", num(d.limit)));
            out.push(("X-RateLimit-Remaining", num(d.remaining)));
            out.push(("X-RateLimit-Reset", num(ceil_secs(now + d.reset))));
        }
        HeaderFormat::None => {}
    }
    if let (false, Some(wait)) = (d.allowed, d.retry_after) {
        out.push(("Retry-After", num(ceil_secs(wait).max(1))));
    }
    out
}
