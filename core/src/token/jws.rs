//! The JWS layer (low level): algorithms, the compact serialization, the
//! protected header and signature verification.
//!
//! This is the part of token validation that knows nothing about claims:
//! it splits a compact JWS, decodes its segments as canonical base64url,
//! reads and checks the protected header, and verifies a signature with an
//! already selected key. [`TokenValidator`](crate::token::TokenValidator)
//! builds on it; [`verify_compact`] runs it alone (used by the Wycheproof
//! tests and by hosts that verify non-JWT JWS payloads).
//!
//! Decisions taken here:
//! - only the compact serialization: a token that starts with `{` (JSON
//!   serialization) or has four dots (JWE) is `malformed`;
//! - base64url without padding, `+`, `/`, whitespace or non-zero trailing
//!   bits, else `malformed`;
//! - a header is a JSON object without repeated member names; `alg` is
//!   required (`malformed`); `none` in any case and unknown names are
//!   `algorithm_not_allowed`; any `crit` entry and `b64: false` are
//!   `unsupported_critical_header`; `jwk`, `jku`, `x5u` and `x5c` are read
//!   only to be ignored: keys come from configuration alone;
//! - an empty signature is `bad_signature`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::error::TokenError;
use super::keys::{KeySet, Verifier};
use super::members::{SeenMembers, Str, StrictAny, set_once};
use crate::reason::Reason;

/// A JWS signature algorithm mcpguard verifies (RFC 7518, RFC 8037).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256 (raw `r‖s` signatures).
    ES256,
    /// ECDSA on P-384 with SHA-384 (raw `r‖s` signatures).
    ES384,
    /// EdDSA on Ed25519.
    EdDSA,
}

/// The kind of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    /// A shared secret (`kty: oct`).
    Hmac,
    /// An RSA public key.
    Rsa,
    /// An EC P-256 public key.
    EcP256,
    /// An EC P-384 public key.
    EcP384,
    /// An Ed25519 public key (`kty: OKP`).
    Ed25519,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The JOSE name, e.g. `RS256`.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm with this JOSE name (exact, case-sensitive).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The kind of key this algorithm verifies with.
    pub const fn family(self) -> KeyFamily {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyFamily::Hmac,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyFamily::Rsa,
            Algorithm::ES256 => KeyFamily::EcP256,
            Algorithm::ES384 => KeyFamily::EcP384,
            Algorithm::EdDSA => KeyFamily::Ed25519,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The three segments of a compact JWS, still base64url-encoded.
#[derive(Debug, Clone, Copy)]
pub struct CompactParts<'t> {
    /// The protected header segment.
    pub header: &'t str,
    /// The payload segment.
    pub payload: &'t str,
    /// The signature segment.
    pub signature: &'t str,
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'t str,
}

/// Splits a compact JWS into its three segments. The dots are located
/// before anything is split: a JWE (four dots) and any count but two are
/// `malformed`, as is the JSON serialization (a token starting with `{`).
pub fn split_compact(token: &str) -> Result<CompactParts<'_>, TokenError> {
    let bytes = token.as_bytes();
    if bytes.first() == Some(&b'{') {
        return Err(malformed("JWS JSON serialization is not accepted"));
    }
    // Find the first two dots and look for a third with memchr-based
    // searches (`str::find` with a char); the full count is needed only
    // when there is a third dot.
    let first = token.find('.');
    let second = first.and_then(|f| token[f + 1..].find('.').map(|i| f + 1 + i));
    let (Some(first), Some(second)) = (first, second) else {
        return Err(malformed("a token has three dot-separated segments"));
    };
    if token[second + 1..].contains('.') {
        let dots = bytes.iter().filter(|&&b| b == b'.').count();
        if dots == 4 {
            return Err(malformed("encrypted tokens (JWE) are not accepted"));
        }
        return Err(malformed("a token has three dot-separated segments"));
    }
    // Dots are ASCII, so these indices are character boundaries.
    let (Some(header), Some(payload), Some(signature), Some(signing_input)) = (
        token.get(..first),
        token.get(first + 1..second),
        token.get(second + 1..),
        token.get(..second),
    ) else {
        return Err(malformed("a token has three dot-separated segments"));
    };
    Ok(CompactParts {
        header,
        payload,
        signature,
        signing_input,
    })
}

/// Decodes a canonical base64url segment into `stack` when it fits, else
/// into `heap` (reused by the caller). Padding, `+`, `/`, whitespace and
/// non-zero trailing bits are refused.
pub(crate) fn decode_segment<'b>(
    segment: &str,
    stack: &'b mut [u8],
    heap: &'b mut Vec<u8>,
    what: &'static str,
) -> Result<&'b [u8], TokenError> {
    let estimate = base64::decoded_len_estimate(segment.len());
    let buf: &'b mut [u8] = if estimate <= stack.len() {
        stack
    } else {
        heap.resize(estimate, 0);
        heap.as_mut_slice()
    };
    match URL_SAFE_NO_PAD.decode_slice(segment.as_bytes(), buf) {
        Ok(n) => Ok(&buf[..n]),
        Err(_) => Err(malformed(what)),
    }
}

/// The protected header fields mcpguard acts on.
#[derive(Debug)]
pub struct Header<'h> {
    /// `alg`, known and not `none`.
    pub alg: Algorithm,
    /// `kid`, if present.
    pub kid: Option<std::borrow::Cow<'h, str>>,
    /// `typ`, if present.
    pub typ: Option<std::borrow::Cow<'h, str>>,
}

/// Reads and checks a decoded protected header (see the module doc).
pub fn parse_header(bytes: &[u8]) -> Result<Header<'_>, TokenError> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(malformed("the token header is not UTF-8"));
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let raw = RawHeaderSeed
        .deserialize(&mut de)
        .and_then(|h| de.end().map(|()| h))
        .map_err(|_| malformed("the token header is not a JSON object with well-typed members"))?;
    let Some(alg) = raw.alg else {
        return Err(malformed("the token header has no alg"));
    };
    let Some(alg) = Algorithm::from_name(alg.as_str()) else {
        if alg.as_str().eq_ignore_ascii_case("none") {
            return Err(TokenError::new(
                Reason::AlgorithmNotAllowed,
                "unsigned tokens (alg none) are never accepted",
            ));
        }
        return Err(TokenError::new(
            Reason::AlgorithmNotAllowed,
            "the token's alg is not a supported signature algorithm",
        ));
    };
    if raw.crit {
        return Err(TokenError::new(
            Reason::UnsupportedCriticalHeader,
            "the token requires a critical header extension that is not supported",
        ));
    }
    if raw.b64 == Some(false) {
        return Err(TokenError::new(
            Reason::UnsupportedCriticalHeader,
            "unencoded payloads (b64 false) are not supported",
        ));
    }
    Ok(Header {
        alg,
        kid: raw.kid.map(|s| s.0),
        typ: raw.typ.map(|s| s.0),
    })
}

struct RawHeader<'h> {
    alg: Option<Str<'h>>,
    kid: Option<Str<'h>>,
    typ: Option<Str<'h>>,
    crit: bool,
    b64: Option<bool>,
}

struct RawHeaderSeed;

impl<'de> DeserializeSeed<'de> for RawHeaderSeed {
    type Value = RawHeader<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RawHeaderSeed {
    type Value = RawHeader<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = SeenMembers::new();
        let mut h = RawHeader {
            alg: None,
            kid: None,
            typ: None,
            crit: false,
            b64: None,
        };
        // Members we read detect their own repeats; others go through the set.
        while let Some(name) = map.next_key::<Str<'de>>()? {
            match name.as_str() {
                "alg" => set_once(&mut h.alg, &mut map)?,
                "kid" => set_once(&mut h.kid, &mut map)?,
                "typ" => set_once(&mut h.typ, &mut map)?,
                "b64" => set_once(&mut h.b64, &mut map)?,
                "crit" => {
                    seen.insert(&name)?;
                    let list: Vec<Str<'de>> = map.next_value()?;
                    // RFC 7515 §4.1.11: an empty list is not allowed.
                    if list.is_empty() {
                        return Err(de::Error::custom("empty crit"));
                    }
                    let mut names = SeenMembers::new();
                    for n in &list {
                        names.insert(n)?;
                    }
                    // No extension is implemented, so any entry is unknown.
                    h.crit = true;
                }
                _ => {
                    seen.insert(&name)?;
                    map.next_value::<StrictAny>()?;
                }
            }
        }
        Ok(h)
    }
}

/// Verifies `signature` over `signing_input` with one key bound to one
/// algorithm. Low level: the caller has chosen the key; an empty signature,
/// a wrong length, a DER-encoded ECDSA signature or an ECDSA `r`/`s` of
/// zero or ≥ n are all `bad_signature`.
pub fn verify_signature(
    verifier: &Verifier,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), TokenError> {
    if signature.is_empty() {
        return Err(TokenError::new(
            Reason::BadSignature,
            "the token's signature is empty",
        ));
    }
    if verifier.verify(signing_input, signature) {
        Ok(())
    } else {
        Err(TokenError::from_reason(Reason::BadSignature))
    }
}

/// What [`verify_compact`] returns: the checked header's algorithm and the
/// decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJws {
    /// The algorithm the token was verified with.
    pub alg: Algorithm,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
}

/// Checks a compact JWS against a key set without reading the payload as
/// claims: structure, canonical base64url, header, key selection by `kid`,
/// signature. The JWS half of [`TokenValidator::verify_jwt`](crate::token::TokenValidator::verify_jwt).
pub fn verify_compact(token: &str, keys: &KeySet) -> Result<VerifiedJws, TokenError> {
    let parts = split_compact(token)?;
    let mut hstack = [0u8; 1024];
    let mut hheap = Vec::new();
    let header_bytes = decode_segment(
        parts.header,
        &mut hstack,
        &mut hheap,
        "the token header is not canonical base64url",
    )?;
    let header = parse_header(header_bytes)?;
    let mut pheap = Vec::new();
    let payload = decode_segment(
        parts.payload,
        &mut [],
        &mut pheap,
        "the token payload is not canonical base64url",
    )?
    .to_vec();
    let mut sstack = [0u8; 1024];
    let mut sheap = Vec::new();
    let signature = decode_segment(
        parts.signature,
        &mut sstack,
        &mut sheap,
        "the token signature is not canonical base64url",
    )?;
    let verifier = keys.select(header.kid.as_deref(), header.alg, None)?;
    verify_signature(verifier, parts.signing_input.as_bytes(), signature)?;
    Ok(VerifiedJws {
        alg: header.alg,
        payload,
    })
}

fn malformed(what: &'static str) -> TokenError {
    TokenError::new(Reason::Malformed, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str) -> Result<Algorithm, Reason> {
        parse_header(json.as_bytes())
            .map(|h| h.alg)
            .map_err(|e| e.reason)
    }

    #[test]
    fn dots_are_counted_before_splitting() {
        assert_eq!(split_compact("a.b").unwrap_err().reason, Reason::Malformed);
        assert_eq!(
            split_compact("a.b.c.d").unwrap_err().reason,
            Reason::Malformed
        );
        let jwe = split_compact("a.b.c.d.e").unwrap_err();
        assert!(jwe.description.contains("JWE"));
        assert!(split_compact("{\"payload\":\"x\"}").is_err());
        let p = split_compact("h.p.s").unwrap();
        assert_eq!(
            (p.header, p.payload, p.signature, p.signing_input),
            ("h", "p", "s", "h.p")
        );
    }

    #[test]
    fn missing_alg_is_malformed_and_none_in_any_case_is_not_allowed() {
        assert_eq!(header(r#"{"typ":"JWT"}"#), Err(Reason::Malformed));
        for none in ["none", "None", "NONE", "nOnE"] {
            assert_eq!(
                header(&format!(r#"{{"alg":"{none}"}}"#)),
                Err(Reason::AlgorithmNotAllowed)
            );
        }
        assert_eq!(
            header(r#"{"alg":"HS1024"}"#),
            Err(Reason::AlgorithmNotAllowed)
        );
        assert_eq!(
            header(r#"{"alg":"rs256"}"#),
            Err(Reason::AlgorithmNotAllowed)
        );
        assert_eq!(header(r#"{"alg":"RS256"}"#), Ok(Algorithm::RS256));
    }

    #[test]
    fn header_member_types_and_repeats_are_malformed() {
        assert_eq!(header(r#"{"alg":256}"#), Err(Reason::Malformed));
        assert_eq!(header(r#"{"alg":"RS256","kid":1}"#), Err(Reason::Malformed));
        assert_eq!(
            header(r#"{"alg":"RS256","alg":"none"}"#),
            Err(Reason::Malformed)
        );
        assert_eq!(header(r#"["RS256"]"#), Err(Reason::Malformed));
        assert_eq!(header(r#"{"alg":"RS256"} x"#), Err(Reason::Malformed));
        assert_eq!(
            header(r#"{"alg":"RS256","crit":[]}"#),
            Err(Reason::Malformed)
        );
        assert_eq!(
            header(r#"{"alg":"RS256","b64":"no"}"#),
            Err(Reason::Malformed)
        );
    }

    #[test]
    fn crit_and_unencoded_payloads_are_unsupported() {
        assert_eq!(
            header(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#),
            Err(Reason::UnsupportedCriticalHeader)
        );
        assert_eq!(
            header(r#"{"alg":"RS256","b64":false,"crit":["b64"]}"#),
            Err(Reason::UnsupportedCriticalHeader)
        );
        assert_eq!(
            header(r#"{"alg":"RS256","b64":false}"#),
            Err(Reason::UnsupportedCriticalHeader)
        );
        assert_eq!(
            header(r#"{"alg":"RS256","b64":true}"#),
            Ok(Algorithm::RS256)
        );
    }

    #[test]
    fn embedded_key_headers_are_ignored() {
        let h = parse_header(
            br#"{"alg":"ES256","jwk":{"kty":"EC"},"jku":"https://evil","x5u":"https://evil","x5c":["AA"]}"#,
        )
        .unwrap();
        assert_eq!(h.alg, Algorithm::ES256);
        assert!(h.kid.is_none());
    }

    #[test]
    fn non_canonical_base64url_is_malformed() {
        let mut stack = [0u8; 64];
        let mut heap = Vec::new();
        for bad in ["YQ==", "YQ=", "a+b", "a/b", "Y Q", "YQ\n", "YR"] {
            let e = decode_segment(bad, &mut stack, &mut heap, "x").unwrap_err();
            assert_eq!(e.reason, Reason::Malformed, "{bad}");
        }
        assert_eq!(
            decode_segment("YQ", &mut stack, &mut heap, "x").unwrap(),
            b"a"
        );
        // A segment larger than the stack buffer goes to the heap.
        let long = "QUFB".repeat(40);
        assert_eq!(
            decode_segment(&long, &mut stack, &mut heap, "x")
                .unwrap()
                .len(),
            120
        );
    }
}
