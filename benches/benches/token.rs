//! Uncached JWT verification: mcpguard's `TokenValidator::verify_jwt`
//! against `jsonwebtoken::decode` with an equivalent `Validation` (same
//! algorithm, issuer, audience, exp and leeway; claims decoded into a
//! struct holding the same claims), for HS256, RS256 (2048), ES256 and EdDSA.
//! For ES256 and EdDSA, `raw_verify` times aws-lc's signature check alone on
//! a key parsed once (the floor under both libraries), so the gap above it
//! is what a validator adds.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{self, ParsedPublicKey};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{DecodingKey, Validation};
use mcpguard::ManualClock;
use mcpguard::token::{Algorithm, IssuerBuilder, TokenValidator};
use mcpguard_testkit as kit;
use serde::Deserialize;
use serde_json::json;

const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";
/// Far in the future: jsonwebtoken reads the system clock.
const EXP: i64 = 4_000_000_000;

/// The claims the baseline decodes: what mcpguard's Principal holds.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    client_id: String,
    scope: String,
    jti: String,
}

fn claims() -> String {
    json!({"iss": ISS, "sub": "user-1234", "aud": RES, "exp": EXP, "iat": 1_767_225_600,
           "client_id": "client-abc", "scope": "tag:web tag:files mcp:read", "jti": "9f0c1d2e"})
    .to_string()
}

fn baseline_key(alg: &str, key: &str) -> DecodingKey {
    if key == "hmac" {
        return DecodingKey::from_secret(&kit::hmac_secret());
    }
    let jwk = kit::public_jwk(key, None, None);
    let s = |k: &str| jwk[k].as_str().unwrap_or_default().to_owned();
    match alg {
        "RS256" => DecodingKey::from_rsa_components(&s("n"), &s("e")),
        "ES256" => DecodingKey::from_ec_components(&s("x"), &s("y")),
        _ => DecodingKey::from_ed_components(&s("x")),
    }
    .expect("baseline key")
}

/// The aws-lc public key a validator would hold, parsed once (ES256, EdDSA).
fn raw_key(alg: &str, key: &str) -> Option<ParsedPublicKey> {
    let jwk = kit::public_jwk(key, None, None);
    let b = |k: &str| {
        base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwk[k].as_str().unwrap_or_default(),
        )
        .expect("jwk member")
    };
    let parsed = match alg {
        "ES256" => {
            let point = [vec![4u8], b("x"), b("y")].concat();
            ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
        }
        "EdDSA" => ParsedPublicKey::new(&signature::ED25519, b("x")),
        _ => return None,
    };
    Some(parsed.expect("raw key"))
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify_jwt");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40);
    for (alg, key, jalg) in [
        ("HS256", "hmac", jsonwebtoken::Algorithm::HS256),
        ("RS256", "rsa", jsonwebtoken::Algorithm::RS256),
        ("ES256", "ec256", jsonwebtoken::Algorithm::ES256),
        ("EdDSA", "ed25519", jsonwebtoken::Algorithm::EdDSA),
    ] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": "k1"}).to_string();
        let token = kit::sign(alg, key, &header, &claims());

        let mut issuer = IssuerBuilder::new(ISS);
        issuer = if key == "hmac" {
            issuer.hmac_secret(Some("k1"), Algorithm::HS256, &kit::hmac_secret())
        } else {
            issuer.jwks_json(&kit::jwks(&[(key, Some("k1"), Some(alg))]).to_string())
        };
        let validator = TokenValidator::builder(RES)
            .issuer(issuer)
            .leeway_seconds(30)
            .clock(Arc::new(ManualClock::new(1_767_225_600)))
            .build()
            .expect("validator");
        assert!(validator.verify_jwt(&token).is_ok(), "{alg}");

        let dkey = baseline_key(alg, key);
        let mut validation = Validation::new(jalg);
        validation.set_issuer(&[ISS]);
        validation.set_audience(&[RES]);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        assert!(
            jsonwebtoken::decode::<Claims>(&token, &dkey, &validation).is_ok(),
            "{alg} baseline"
        );

        group.bench_function(format!("{alg}/jsonwebtoken"), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Claims>(std::hint::black_box(&token), &dkey, &validation)
            })
        });
        group.bench_function(format!("{alg}/mcpguard"), |b| {
            b.iter(|| validator.verify_jwt(std::hint::black_box(&token)))
        });
        if let Some(raw) = raw_key(alg, key) {
            let (h, p, sig) = kit::split(&token);
            let input = format!("{h}.{p}");
            let sig =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig)
                    .expect("signature");
            assert!(raw.verify_sig(input.as_bytes(), &sig).is_ok(), "{alg} raw");
            group.bench_function(format!("{alg}/raw_verify"), |b| {
                b.iter(|| raw.verify_sig(std::hint::black_box(input.as_bytes()), &sig))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
