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

/// The headers for `d` in `format`; `now_nanos` dates the legacy
/// `X-RateLimit-Reset`, which is a Unix time as express-rate-limit sends it.
pub(crate) fn render(
    format: HeaderFormat,
    d: &RateDecision,
    now_nanos: u64,
) -> Vec<(&'static str, String)> {
    let reset = ceil_secs(d.reset);
    let window = ceil_secs(d.window_seconds).max(1);
    let mut out = Vec::with_capacity(5);
    match format {
        HeaderFormat::Draft6 => {
            out.push(("RateLimit-Policy", format!("{};w={}", d.limit, window)));
            out.push(("RateLimit-Limit", d.limit.to_string()));
            out.push(("RateLimit-Remaining", d.remaining.to_string()));
            out.push(("RateLimit-Reset", reset.to_string()));
        }
        HeaderFormat::Draft7 => {
            out.push(("RateLimit-Policy", format!("{};w={}", d.limit, window)));
            out.push((
                "RateLimit",
                format!(
                    "limit={}, remaining={}, reset={}",
                    d.limit, d.remaining, reset
                ),
            ));
        }
        HeaderFormat::Draft10 => {
            let name = sf_string(&d.policy);
            out.push((
                "RateLimit-Policy",
                format!("{name};q={};w={window}", d.limit),
            ));
            out.push(("RateLimit", format!("{name};r={};t={reset}", d.remaining)));
        }
        HeaderFormat::Legacy => {
            let now = now_nanos as f64 / NANOS_PER_SEC as f64;
            out.push(("X-RateLimit-Limit", d.limit.to_string()));
            out.push(("X-RateLimit-Remaining", d.remaining.to_string()));
            out.push(("X-RateLimit-Reset", ceil_secs(now + d.reset).to_string()));
        }
        HeaderFormat::None => {}
    }
    if let (false, Some(wait)) = (d.allowed, d.retry_after) {
        out.push(("Retry-After", ceil_secs(wait).max(1).to_string()));
    }
    out
}
