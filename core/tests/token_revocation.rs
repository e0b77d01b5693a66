//! Revoking a `jti`-less JWT revokes what was signed, not one signature of
//! it: every other encoding of the token that still verifies (ECDSA's
//! `(r, n − s)`, a fresh ECDSA or RSA-PSS signature over the same input)
//! stays revoked, in the deny-list and in the verified-token cache alike;
//! and a bad signature over a cached token's signing input is never a hit.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcpguard::token::{Algorithm, IssuerBuilder, TokenValidator};
use mcpguard::{ManualClock, Reason};
use mcpguard_testkit as kit;
use num_bigint::BigUint;
use serde_json::json;

const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";
const NOW: u64 = 1_767_225_600;

/// The order n of P-256's base point (FIPS 186-4 D.1.2.3).
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
/// The order n of P-384's base point (FIPS 186-4 D.1.2.4).
const P384_N: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";
/// The order L of Ed25519's base point (RFC 8032 §5.1).
const ED25519_L: &str = "1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed";

/// `(alg, test-kit key, kid)` for each algorithm family.
const FAMILIES: [(&str, &str, &str); 6] = [
    ("HS256", "hmac", "hs"),
    ("RS256", "rsa", "rs"),
    ("PS256", "rsa", "ps"),
    ("ES256", "ec256", "es256"),
    ("ES384", "ec384", "es384"),
    ("EdDSA", "ed25519", "ed"),
];

/// A fresh validator (empty cache, empty deny-list) that verifies every
/// family of [`FAMILIES`].
fn validator() -> TokenValidator {
    let jwks = kit::jwks(&[
        ("rsa", Some("rs"), Some("RS256")),
        ("rsa", Some("ps"), Some("PS256")),
        ("ec256", Some("es256"), Some("ES256")),
        ("ec384", Some("es384"), Some("ES384")),
        ("ed25519", Some("ed"), Some("EdDSA")),
    ]);
    TokenValidator::builder(RES)
        .issuer(
            IssuerBuilder::new(ISS)
                .jwks_json(&jwks.to_string())
                .hmac_secret(Some("hs"), Algorithm::HS256, &kit::hmac_secret()),
        )
        .clock(Arc::new(ManualClock::new(NOW)))
        .build()
        .expect("validator")
}

/// A token without `jti`.
fn token(alg: &str, key: &str, kid: &str) -> String {
    kit::sign(
        alg,
        key,
        &json!({"alg": alg, "kid": kid}).to_string(),
        &json!({"iss": ISS, "sub": "alice", "aud": RES, "exp": NOW + 600, "scope": "tag:web"})
            .to_string(),
    )
}

fn with_signature(token: &str, signature: &[u8]) -> String {
    let (header, payload, _) = kit::split(token);
    kit::join(&header, &payload, &URL_SAFE_NO_PAD.encode(signature))
}

fn signature(token: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(kit::split(token).2)
        .expect("base64url")
}

fn big(hex: &str) -> BigUint {
    BigUint::parse_bytes(hex.as_bytes(), 16).expect("hex constant")
}

/// `value` as `len` big-endian bytes.
fn be_bytes(value: &BigUint, len: usize) -> Vec<u8> {
    let bytes = value.to_bytes_be();
    assert!(bytes.len() <= len);
    let mut out = vec![0; len - bytes.len()];
    out.extend_from_slice(&bytes);
    out
}

/// The other ECDSA signature of the same input: `(r, n − s)`.
fn ecdsa_malleated(token: &str, order_hex: &str) -> String {
    let sig = signature(token);
    let half = sig.len() / 2;
    let s = BigUint::from_bytes_be(&sig[half..]);
    let mut out = sig[..half].to_vec();
    out.extend_from_slice(&be_bytes(&(big(order_hex) - s), half));
    with_signature(token, &out)
}

/// Ed25519's `(R, S + L)`: the same equation holds, but RFC 8032 requires
/// `S < L`, so it must not verify.
fn eddsa_s_plus_l(token: &str) -> String {
    let sig = signature(token);
    let mut le = sig[32..].to_vec();
    le.reverse();
    let s = BigUint::from_bytes_be(&le) + big(ED25519_L);
    let mut s_le = be_bytes(&s, 32);
    s_le.reverse();
    let mut out = sig[..32].to_vec();
    out.extend_from_slice(&s_le);
    with_signature(token, &out)
}

/// A new signature by the issuer's key over the same signing input (for
/// ECDSA and RSA-PSS a different signature; for the deterministic
/// algorithms, the same token again).
fn re_signed(token: &str, alg: &str, key: &str) -> String {
    let (header, payload, _) = kit::split(token);
    kit::sign_raw_segments(alg, key, &header, &payload)
}

/// Every other encoding of `token` that verifies, proved to verify on a
/// validator that revoked nothing.
fn verifying_encodings(alg: &str, key: &str, token: &str) -> Vec<String> {
    let mut out = Vec::new();
    match alg {
        "ES256" => out.push(ecdsa_malleated(token, P256_N)),
        "ES384" => out.push(ecdsa_malleated(token, P384_N)),
        _ => {}
    }
    let fresh = re_signed(token, alg, key);
    match alg {
        "ES256" | "ES384" | "PS256" => {
            assert_ne!(fresh, token, "{alg} signs with fresh randomness");
            out.push(fresh);
        }
        _ => assert_eq!(fresh, token, "{alg} is deterministic: no other encoding"),
    }
    let clean = validator();
    for t in &out {
        assert_ne!(t, token);
        let p = clean
            .validate(t)
            .unwrap_or_else(|e| panic!("{alg}: the re-encoding must verify: {e:?}"));
        assert_eq!(p.subject.as_deref(), Some("alice"));
    }
    out
}

fn reason(v: &TokenValidator, token: &str) -> Option<Reason> {
    v.validate(token).err().map(|e| e.reason)
}

#[test]
fn ecdsa_n_minus_s_is_a_second_valid_signature() {
    // The premise of the tests below, pinned on its own.
    let clean = validator();
    for (alg, key, kid, n) in [
        ("ES256", "ec256", "es256", P256_N),
        ("ES384", "ec384", "es384", P384_N),
    ] {
        let t = token(alg, key, kid);
        let m = ecdsa_malleated(&t, n);
        assert_ne!(signature(&t), signature(&m));
        assert!(clean.validate(&t).is_ok(), "{alg}");
        assert!(clean.validate(&m).is_ok(), "{alg}: (r, n - s) verifies");
    }
}

#[test]
fn revoking_a_jti_less_token_revokes_every_encoding_that_verifies() {
    for (alg, key, kid) in FAMILIES {
        let t = token(alg, key, kid);
        let others = verifying_encodings(alg, key, &t);
        let v = validator();
        assert!(v.validate(&t).is_ok(), "{alg}");
        v.revoke(&t).unwrap();
        assert_eq!(reason(&v, &t), Some(Reason::Revoked), "{alg}");
        for other in &others {
            assert_eq!(reason(&v, other), Some(Reason::Revoked), "{alg}: {other}");
        }
        // Another token of the same issuer is untouched.
        let unrelated = kit::sign(
            alg,
            key,
            &json!({"alg": alg, "kid": kid}).to_string(),
            &json!({"iss": ISS, "sub": "bob", "aud": RES, "exp": NOW + 600}).to_string(),
        );
        assert!(v.validate(&unrelated).is_ok(), "{alg}");
    }
}

#[test]
fn revoking_a_re_encoding_revokes_the_original_too() {
    for (alg, key, kid, n) in [
        ("ES256", "ec256", "es256", P256_N),
        ("ES384", "ec384", "es384", P384_N),
    ] {
        let t = token(alg, key, kid);
        let m = ecdsa_malleated(&t, n);
        let v = validator();
        v.revoke(&m).unwrap();
        assert_eq!(reason(&v, &t), Some(Reason::Revoked), "{alg}");
    }
}

#[test]
fn a_re_encoding_cached_before_the_revocation_is_dropped_from_the_cache() {
    for (alg, key, kid) in FAMILIES {
        let t = token(alg, key, kid);
        for other in verifying_encodings(alg, key, &t) {
            let v = validator();
            assert!(v.validate(&other).is_ok(), "{alg}");
            assert!(v.is_cached(&other), "{alg}: cached before the revocation");
            v.revoke(&t).unwrap();
            assert!(!v.is_cached(&other), "{alg}: the revocation dropped it");
            let (result, hit) = v.validate_traced(&other);
            assert!(!hit, "{alg}");
            assert_eq!(result.unwrap_err().reason, Reason::Revoked, "{alg}");
        }
    }
}

#[test]
fn both_encodings_cached_then_either_revoked_leaves_neither_usable() {
    for (alg, key, kid, n) in [
        ("ES256", "ec256", "es256", P256_N),
        ("ES384", "ec384", "es384", P384_N),
    ] {
        let t = token(alg, key, kid);
        let m = ecdsa_malleated(&t, n);
        let v = validator();
        assert!(v.validate(&t).is_ok());
        assert!(v.validate(&m).is_ok());
        assert!(v.validate(&t).is_ok());
        v.revoke(&t).unwrap();
        assert_eq!(reason(&v, &t), Some(Reason::Revoked), "{alg}");
        assert_eq!(reason(&v, &m), Some(Reason::Revoked), "{alg}");
    }
}

#[test]
fn a_bad_signature_over_a_cached_signing_input_is_never_a_hit() {
    for (alg, key, kid) in FAMILIES {
        let t = token(alg, key, kid);
        let v = validator();
        assert!(v.validate(&t).is_ok(), "{alg}");
        assert!(v.is_cached(&t));
        let mut sig = signature(&t);
        sig[0] ^= 0x01;
        let forged = with_signature(&t, &sig);
        let (header, payload, _) = kit::split(&t);
        let stripped = kit::join(&header, &payload, "");
        for bad in [forged, stripped] {
            assert!(!v.is_cached(&bad), "{alg}");
            let (result, hit) = v.validate_traced(&bad);
            assert!(!hit, "{alg}");
            assert_eq!(
                result.unwrap_err().reason,
                Reason::BadSignature,
                "{alg}: {bad}"
            );
        }
        // The genuine token is still served from the cache.
        let (result, hit) = v.validate_traced(&t);
        assert!(hit && result.is_ok(), "{alg}");
    }
}

#[test]
fn eddsa_s_plus_l_does_not_verify() {
    let t = token("EdDSA", "ed25519", "ed");
    let v = validator();
    assert_eq!(
        reason(&v, &eddsa_s_plus_l(&t)),
        Some(Reason::BadSignature),
        "RFC 8032 requires S < L"
    );
}

#[test]
fn a_token_with_a_jti_is_revoked_with_every_encoding_too() {
    let claims = json!({"iss": ISS, "sub": "alice", "aud": RES, "exp": NOW + 600, "jti": "j1"});
    let t = kit::sign(
        "ES256",
        "ec256",
        &json!({"alg": "ES256", "kid": "es256"}).to_string(),
        &claims.to_string(),
    );
    let m = ecdsa_malleated(&t, P256_N);
    let v = validator();
    assert!(v.validate(&m).is_ok());
    v.revoke(&t).unwrap();
    assert!(!v.is_cached(&m));
    assert_eq!(reason(&v, &m), Some(Reason::Revoked));
}
