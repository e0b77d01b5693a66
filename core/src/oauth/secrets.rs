//! Credentials the server hands out and how it keeps them: random values,
//! their SHA-256 (the only form ever stored), constant-time comparison and
//! the PKCE `S256` check.
//!
//! Every credential (client secret, authorization code, refresh token,
//! consent request id) is 32 random bytes from aws-lc-rs, base64url without
//! padding. Stores hold only `sha256:<hex>` of it, so a leaked store
//! replays nothing.

use aws_lc_rs::{constant_time, digest, hmac, rand};
use base64_simd::URL_SAFE_NO_PAD;

/// Bytes of randomness in every credential the server issues.
pub const CREDENTIAL_BYTES: usize = 32;

/// A fresh random credential: 32 bytes, base64url without padding (43 characters).
pub fn random_credential() -> String {
    random_b64(CREDENTIAL_BYTES)
}

/// `n` random bytes, base64url without padding.
pub(crate) fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // aws-lc's RNG fails only when the OS has no entropy source at all, a
    // state in which no credential can be issued safely; abort loudly.
    rand::fill(&mut bytes).expect("the system random number generator failed");
    URL_SAFE_NO_PAD.encode_to_string(&bytes)
}

/// The stored form of a credential: `sha256:` and the hex SHA-256 of its text.
pub fn credential_hash(credential: &str) -> String {
    let d = digest::digest(&digest::SHA256, credential.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    push_hex(&mut out, d.as_ref());
    out
}

/// Whether `credential` hashes to `stored` (a [`credential_hash`]), compared
/// in constant time.
pub fn credential_matches(credential: &str, stored: &str) -> bool {
    constant_time::verify_slices_are_equal(
        credential_hash(credential).as_bytes(),
        stored.as_bytes(),
    )
    .is_ok()
}

/// Whether a PKCE `code_verifier` matches the `S256` `code_challenge`
/// (RFC 7636 §4.6), compared in constant time. A verifier outside the RFC's
/// 43–128 unreserved characters never matches.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    if !is_pkce_value(verifier) {
        return false;
    }
    let d = digest::digest(&digest::SHA256, verifier.as_bytes());
    let computed = URL_SAFE_NO_PAD.encode_to_string(d.as_ref());
    constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

/// Whether `s` has the shape of a PKCE verifier (RFC 7636 §4.1): 43 to 128
/// characters of `[A-Za-z0-9-._~]`. An `S256` challenge (43 base64url
/// characters) has this shape too.
pub fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The HMAC key binding consent-page CSRF tokens to their pending request.
pub(crate) struct CsrfKey(hmac::Key);

impl CsrfKey {
    /// A fresh random key (CSRF tokens do not outlive the process that
    /// rendered the page; a pending request is minutes long).
    pub(crate) fn generate() -> CsrfKey {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        CsrfKey(
            hmac::Key::generate(hmac::HMAC_SHA256, &rng)
                .expect("the system random number generator failed"),
        )
    }

    /// The CSRF token for the pending request `request_id`.
    pub(crate) fn token(&self, request_id: &str) -> String {
        let tag = hmac::sign(&self.0, request_id.as_bytes());
        URL_SAFE_NO_PAD.encode_to_string(tag.as_ref())
    }

    /// Whether `token` is the CSRF token of `request_id` (constant time).
    pub(crate) fn verify(&self, request_id: &str, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode_to_vec(token) else {
            return false;
        };
        hmac::verify(&self.0, request_id.as_bytes(), &tag).is_ok()
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_random_and_43_characters() {
        let a = random_credential();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_credential());
    }

    #[test]
    fn a_stored_hash_matches_only_its_credential() {
        let h = credential_hash("secret-a");
        assert!(h.starts_with("sha256:") && h.len() == 71);
        assert!(credential_matches("secret-a", &h));
        assert!(!credential_matches("secret-b", &h));
        assert!(!credential_matches("secret-a", "secret-a"));
    }

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_s256_matches(verifier, challenge));
        assert!(!pkce_s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            challenge
        ));
        assert!(!pkce_s256_matches("short", challenge));
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_request() {
        let key = CsrfKey::generate();
        let t = key.token("req-1");
        assert!(key.verify("req-1", &t));
        assert!(!key.verify("req-2", &t));
        assert!(!key.verify("req-1", "not base64 !"));
        assert!(!CsrfKey::generate().verify("req-1", &t));
    }
}
