//! Validates a few sample tokens against `examples/validate_tokens.json` on
//! a manual clock and prints each decision.
//!
//! Run with `cargo run -p mcpguard --example validate_tokens`. The tokens
//! are signed here with aws-lc-rs (HS256 with the configuration's `oct`
//! secret, EdDSA with a fixed demo seed); both are deterministic, so the
//! output is the same on every run.

use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcpguard::ManualClock;
use mcpguard::token::{AuthConfig, TokenValidator};

const NOW: i64 = 1_767_225_600;
const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../validate_tokens.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let resource = doc["resource"].as_str().unwrap_or_default();
    let auth: AuthConfig = mcpguard::error::from_value(&doc["auth"])?;
    let clock = ManualClock::new(NOW as u64);
    let validator = TokenValidator::from_config(&auth, resource, None, Arc::new(clock.clone()))
        .map_err(|e| e.within("auth"))?;

    // The HS256 secret is the configuration's oct key.
    let k = doc["auth"]["issuers"][0]["jwks"]["keys"][0]["k"]
        .as_str()
        .unwrap_or_default();
    let secret = URL_SAFE_NO_PAD.decode(k)?;
    let hs = hmac::Key::new(hmac::HMAC_SHA256, &secret);
    let seed: Vec<u8> = (0u8..32).collect();
    let ed = Ed25519KeyPair::from_seed_unchecked(&seed)?;

    let claims = |exp: i64, aud: &str| {
        format!(
            r#"{{"iss":"https://auth.example.com","sub":"alice","client_id":"demo-app","aud":"{aud}","exp":{exp},"iat":{NOW},"scope":"tag:web mcp:read","roles":["developer"]}}"#
        )
    };
    let aud = "https://mcp.example.com/mcp";
    let sign_hs = |claims: &str| {
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"HS256","kid":"hs-1"}"#),
            b64(claims.as_bytes())
        );
        let tag = hmac::sign(&hs, input.as_bytes());
        format!("{input}.{}", b64(tag.as_ref()))
    };
    let sign_ed = |claims: &str| {
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"EdDSA","kid":"ed-1"}"#),
            b64(claims.as_bytes())
        );
        let sig = ed.sign(input.as_bytes());
        format!("{input}.{}", b64(sig.as_ref()))
    };
    let valid = sign_hs(&claims(NOW + 3600, aud));
    // Change one character in the middle of the signature: still canonical
    // base64url, but the signature no longer verifies.
    let signed = sign_ed(&claims(NOW + 3600, aud));
    let at = signed.len() - 20;
    let swap = if &signed[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swap}{}", &signed[..at], &signed[at + 1..]);
    let samples = [
        ("valid HS256 token", valid),
        ("valid EdDSA token", sign_ed(&claims(NOW + 3600, aud))),
        ("expired an hour ago", sign_hs(&claims(NOW - 3600, aud))),
        (
            "issued for another resource",
            sign_hs(&claims(NOW + 3600, "https://other.example.com/mcp")),
        ),
        ("bad signature", tampered),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(br#"{"alg":"none"}"#),
                b64(claims(NOW + 3600, aud).as_bytes())
            ),
        ),
    ];
    for (label, token) in samples {
        println!("== {label}");
        match validator.validate(&token) {
            Ok(p) => println!(
                "   allowed: subject={} client_id={} scopes={:?} roles={:?} expires_at={}",
                p.subject.as_deref().unwrap_or("-"),
                p.client_id.as_deref().unwrap_or("-"),
                p.scopes,
                p.roles,
                p.expires_at.unwrap_or_default()
            ),
            Err(e) => {
                println!("   refused: reason={} status={}", e.reason, e.status());
                println!("   {e}");
                if let Some(h) = e.www_authenticate(Some(METADATA)) {
                    println!("   WWW-Authenticate: {h}");
                }
            }
        }
    }
    Ok(())
}
