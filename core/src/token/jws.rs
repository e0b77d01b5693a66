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

use std::cell::RefCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::rc::Rc;

use base64_simd::{Out, URL_SAFE_NO_PAD};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::error::TokenError;
use super::keys::{KeySet, Verifier};
use super::members::{SeenMembers, StrictAny, set_once};
use crate::json::Str;
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
    // Find the first two dots and look for a third (memchr); the full
    // count is needed only when there is a third dot.
    let first = memchr::memchr(b'.', bytes);
    let second = first.and_then(|f| memchr::memchr(b'.', &bytes[f + 1..]).map(|i| f + 1 + i));
    let (Some(first), Some(second)) = (first, second) else {
        return Err(malformed("a token has three dot-separated segments"));
    };
    if memchr::memchr(b'.', &bytes[second + 1..]).is_some() {
        if memchr::memchr_iter(b'.', bytes).count() == 4 {
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

/// The signing input `header.payload` of a token shaped like a compact JWS
/// (exactly two dots), else `None`. Nothing is decoded or checked.
///
/// This is what identifies a JWT for revocation: the signature is left out
/// because a signature is not unique to what it signs. ECDSA is malleable
/// (`(r, s)` and `(r, n − s)` both verify), and ECDSA and RSA-PSS signers
/// draw fresh randomness per signature, so one token's claims can come
/// with several valid signatures; revoking one must revoke them all.
///
/// ```
/// use mcpguard::token::jws::signing_input;
/// assert_eq!(signing_input("eyJh.eyJp.c2ln"), Some("eyJh.eyJp"));
/// assert_eq!(signing_input("opaque-token"), None);
/// assert_eq!(signing_input("a.b.c.d.e"), None);
/// ```
pub fn signing_input(token: &str) -> Option<&str> {
    let bytes = token.as_bytes();
    let last = memchr::memrchr(b'.', bytes)?;
    let first = memchr::memchr(b'.', bytes)?;
    if first == last || memchr::memchr(b'.', &bytes[first + 1..last]).is_some() {
        return None;
    }
    // A dot is ASCII, so `last` is a character boundary.
    token.get(..last)
}

/// An uninitialised stack buffer for [`decode_segment`]: decoding writes
/// every byte it returns, so the buffer is never zeroed.
pub(crate) fn stack_buffer<const N: usize>() -> [MaybeUninit<u8>; N] {
    [MaybeUninit::uninit(); N]
}

/// Decodes a canonical base64url segment into `stack` when it fits, else
/// into the spare capacity of `heap` (reused by the caller). Padding, `+`,
/// `/`, whitespace and non-zero trailing bits are refused.
///
/// The decoder is `base64-simd` (SIMD where the CPU has it, chosen at run
/// time): on a typical token it is about four times the speed of the
/// `base64` crate, and a differential test holds the two to the same
/// answers, canonical checks included.
pub(crate) fn decode_segment<'b>(
    segment: &str,
    stack: &'b mut [MaybeUninit<u8>],
    heap: &'b mut Vec<u8>,
    what: &'static str,
) -> Result<&'b [u8], TokenError> {
    let input = segment.as_bytes();
    // The exact decoded length, or an error for an impossible length; the
    // decoder requires a buffer at least this long.
    let Ok(len) = URL_SAFE_NO_PAD.decoded_length(input) else {
        return Err(malformed(what));
    };
    let buf: &'b mut [MaybeUninit<u8>] = if len <= stack.len() {
        stack
    } else {
        heap.clear();
        heap.reserve(len);
        heap.spare_capacity_mut()
    };
    match URL_SAFE_NO_PAD.decode(input, Out::from_uninit_slice(buf)) {
        Ok(bytes) => Ok(bytes),
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

/// A protected header read by [`read_header`], owned so that it can be
/// kept.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OwnedHeader {
    pub alg: Algorithm,
    pub kid: Option<Box<str>>,
    pub typ: Option<Box<str>>,
}

/// Header segments longer than this are not remembered.
const MAX_REMEMBERED_HEADER: usize = 256;
/// How many header segments each thread remembers.
const REMEMBERED_HEADERS: usize = 4;

type Remembered = [Option<(Box<str>, Rc<OwnedHeader>)>; REMEMBERED_HEADERS];

thread_local! {
    /// The last few header segments this thread read, with their parse.
    /// An issuer signs every token with the same few headers (one per key),
    /// so a hit spares the base64 decode and the JSON parse. Reading a
    /// header is a pure function of its segment, so a remembered answer is
    /// the answer; only headers that passed are kept.
    static HEADERS: RefCell<(Remembered, usize)> = const {
        RefCell::new(([const { None }; REMEMBERED_HEADERS], 0))
    };
}

/// Decodes and reads a header segment (see [`parse_header`]), remembering
/// the last few per thread.
pub(crate) fn read_header(segment: &str) -> Result<Rc<OwnedHeader>, TokenError> {
    let hit = HEADERS.with_borrow(|(slots, _)| {
        slots
            .iter()
            .flatten()
            .find(|(seen, _)| **seen == *segment)
            .map(|(_, h)| Rc::clone(h))
    });
    if let Some(header) = hit {
        return Ok(header);
    }
    let mut stack = stack_buffer::<MAX_REMEMBERED_HEADER>();
    let mut heap = Vec::new();
    let bytes = decode_segment(
        segment,
        &mut stack,
        &mut heap,
        "the token header is not canonical base64url",
    )?;
    let header = parse_header(bytes)?;
    let header = Rc::new(OwnedHeader {
        alg: header.alg,
        kid: header.kid.map(|k| k.into()),
        typ: header.typ.map(|t| t.into()),
    });
    if segment.len() <= MAX_REMEMBERED_HEADER {
        HEADERS.with_borrow_mut(|(slots, next)| {
            slots[*next % REMEMBERED_HEADERS] = Some((segment.into(), Rc::clone(&header)));
            *next = (*next + 1) % REMEMBERED_HEADERS;
        });
    }
    Ok(header)
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
    // The same header path as `verify_jwt`, so the Wycheproof vectors run
    // through it too.
    let header = read_header(parts.header)?;
    let mut pheap = Vec::new();
    let payload = decode_segment(
        parts.payload,
        &mut [],
        &mut pheap,
        "the token payload is not canonical base64url",
    )?
    .to_vec();
    let mut sstack = stack_buffer::<1024>();
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

    proptest::proptest! {
        /// The SIMD decoder gives the `base64` crate's strict answer on any
        /// input drawn from base64url, its neighbours and whitespace, at
        /// every length around the stack buffer's size.
        #[test]
        fn segment_decoding_agrees_with_the_reference_decoder(
            s in "[A-Za-z0-9_\\-+/= \n.]{0,200}",
            canonical in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            use base64::Engine as _;
            let reference = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let encoded = reference.encode(&canonical);
            for input in [s.as_str(), encoded.as_str()] {
                let mut stack = stack_buffer::<64>();
                let mut heap = Vec::new();
                let ours = decode_segment(input, &mut stack, &mut heap, "x").ok().map(<[u8]>::to_vec);
                proptest::prop_assert_eq!(ours, reference.decode(input).ok(), "{:?}", input);
            }
        }
    }

    fn b64(text: &str) -> String {
        base64_simd::URL_SAFE_NO_PAD.encode_to_string(text)
    }

    #[test]
    fn a_header_read_twice_on_a_thread_is_remembered() {
        let seg = b64(r#"{"alg":"HS256","kid":"remember-me"}"#);
        let first = read_header(&seg).unwrap();
        assert!(Rc::ptr_eq(&first, &read_header(&seg).unwrap()));
        assert_eq!(first.kid.as_deref(), Some("remember-me"));
    }

    #[test]
    fn remembered_headers_never_answer_for_another_segment() {
        // More headers than slots, read in turn twice: each answer is its own.
        let kids: Vec<String> = (0..REMEMBERED_HEADERS * 2 + 1)
            .map(|i| format!("k{i}"))
            .collect();
        for _ in 0..2 {
            for kid in &kids {
                let seg = b64(&format!(
                    r#"{{"alg":"ES256","kid":"{kid}","typ":"at+jwt"}}"#
                ));
                let h = read_header(&seg).unwrap();
                assert_eq!(h.kid.as_deref(), Some(kid.as_str()));
                assert_eq!(
                    (h.alg, h.typ.as_deref()),
                    (Algorithm::ES256, Some("at+jwt"))
                );
            }
        }
    }

    #[test]
    fn a_refused_header_is_refused_every_time() {
        for text in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS256","crit":["x"]}"#,
            r#"{"kid":"k"}"#,
        ] {
            let seg = b64(text);
            let first = read_header(&seg).unwrap_err();
            assert_eq!(read_header(&seg).unwrap_err(), first, "{text}");
        }
        // A header too long to remember is still read.
        let long = b64(&format!(r#"{{"alg":"HS256","kid":"{}"}}"#, "k".repeat(400)));
        assert_eq!(
            read_header(&long).unwrap().kid.as_deref().map(str::len),
            Some(400)
        );
        assert_eq!(read_header(&long).unwrap().alg, Algorithm::HS256);
    }

    #[test]
    fn non_canonical_base64url_is_malformed() {
        let mut stack = stack_buffer::<64>();
        let mut heap = Vec::new();
        for bad in [
            "YQ==", "YQ=", "a+b", "a/b", "Y Q", "YQ\n", "YR", "Y", "YQ.", "YQ\0",
        ] {
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
