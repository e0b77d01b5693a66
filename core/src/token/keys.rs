//! Verification keys: JWK Sets (RFC 7517), PEM public keys and HMAC
//! secrets turned into ready-to-use aws-lc-rs keys, and the choice of a key
//! for a token.
//!
//! Every key is parsed once, when it is configured (or rotated in), into an
//! aws-lc-rs `ParsedPublicKey` or `hmac::Key` bound to exactly one
//! algorithm, so verifying a token never parses key material. HMAC
//! algorithms only ever verify with `oct` keys, so an RSA or EC public key
//! can never be used as an HMAC secret (key confusion is impossible by
//! construction).
//!
//! Which keys of a JWK Set are used:
//! - keys with `use` other than `sig`, or `key_ops` without `verify`, are
//!   skipped (they are for encryption); so are key types and curves mcpguard
//!   does not verify with (P-521, X25519, …) and `alg`s it does not know
//!   (`RSA-OAEP`, …), so that an issuer's published set with such keys still
//!   loads;
//! - a key whose `alg` contradicts its type or curve, private key members
//!   (`d`, `p`, …) in a public set, an RSA modulus under 2048 bits or an
//!   exponent below 3, an EC point not on its curve, an HMAC secret shorter
//!   than the hash (RFC 7518 §3.2), two keys with the same `kid`, and a set
//!   mixing `oct` secrets with public keys are errors: the whole set is
//!   refused.
//! - A JWK with `alg` verifies that algorithm only; without `alg` it
//!   verifies the issuer's `algorithms` that fit its type, or by default RSA
//!   RS256, P-256 ES256, P-384 ES384, Ed25519 EdDSA, `oct` HS256.

use std::fmt;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use base64_simd::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::error::{KeyError, TokenError};
use super::jws::{Algorithm, KeyFamily};
use crate::reason::Reason;

/// A JWK Set document (RFC 7517 §5). Members other than `keys` are ignored.
#[derive(Clone, Default, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl fmt::Debug for JwkSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwkSet").field("keys", &self.keys).finish()
    }
}

/// One JSON Web Key (RFC 7517 §4, RFC 7518 §6, RFC 8037). Only the members
/// mcpguard reads are kept; others (`x5c`, `x5t`, …) are ignored. `Debug`
/// never prints key material.
#[derive(Clone, Default, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC`, `OKP` or `oct`.
    pub kty: Option<String>,
    /// Intended use: must be `sig` when present.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// Permitted operations: must include `verify` when present.
    pub key_ops: Option<Vec<String>>,
    /// The one algorithm this key verifies, when present.
    pub alg: Option<String>,
    /// Key id, matched against the token's `kid`.
    pub kid: Option<String>,
    /// Curve of an `EC` or `OKP` key.
    pub crv: Option<String>,
    /// RSA modulus.
    pub n: Option<String>,
    /// RSA public exponent.
    pub e: Option<String>,
    /// EC x coordinate, or the OKP public key.
    pub x: Option<String>,
    /// EC y coordinate.
    pub y: Option<String>,
    /// `oct` secret.
    pub k: Option<String>,
    /// Private exponent / private key: refused in a verification set.
    pub d: Option<serde_json::Value>,
    /// RSA private prime: refused.
    pub p: Option<serde_json::Value>,
    /// RSA private prime: refused.
    pub q: Option<serde_json::Value>,
    /// RSA CRT exponent: refused.
    pub dp: Option<serde_json::Value>,
    /// RSA CRT exponent: refused.
    pub dq: Option<serde_json::Value>,
    /// RSA CRT coefficient: refused.
    pub qi: Option<serde_json::Value>,
    /// RSA other primes: refused.
    pub oth: Option<serde_json::Value>,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("crv", &self.crv)
            .finish_non_exhaustive()
    }
}

/// One key bound to one algorithm, ready to verify.
pub struct Verifier {
    alg: Algorithm,
    key: KeyMaterial,
}

enum KeyMaterial {
    // Boxed: an aws-lc HMAC key holds its precomputed state (over 1 KiB).
    Hmac(Box<hmac::Key>),
    Public(ParsedPublicKey),
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// The algorithm this key verifies.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Whether `signature` is a valid signature of `message` (constant-time
    /// tag comparison for HMAC).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.key {
            KeyMaterial::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            KeyMaterial::Public(key) => key.verify_sig(message, signature).is_ok(),
        }
    }
}

/// One configured key: its `kid` and one verifier per algorithm it may verify.
#[derive(Debug)]
struct Key {
    kid: Option<String>,
    verifiers: Vec<Verifier>,
}

/// The keys of one issuer. Immutable; rotation swaps in a new set.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

/// The algorithms a JWK without `alg` verifies when the issuer lists none.
pub const DEFAULT_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::HS256,
];

impl KeySet {
    /// An empty set (a host may hand the keys later with `set_jwks`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether some key verifies `alg`.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.keys
            .iter()
            .any(|k| k.verifiers.iter().any(|v| v.alg == alg))
    }

    /// Reads a JWK Set from JSON text. `algorithms` is the issuer's
    /// `algorithms` list (`None`: the defaults). Errors name the JSON path
    /// inside the set (`keys[2].crv`).
    pub fn from_jwks_json(json: &str, algorithms: Option<&[Algorithm]>) -> Result<Self, KeyError> {
        // The set and each key must be JSON objects: serde's derived readers
        // also take a struct written as an array (`[[]]` read as a set with
        // no keys; found by fuzzing).
        let mut shape = serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize::<_, shape::SetShape>(&mut shape).map_err(|e| {
            KeyError::InvalidJwkSet {
                path: e.path().to_string(),
                message: e.into_inner().to_string(),
            }
        })?;
        let mut de = serde_json::Deserializer::from_str(json);
        let set: JwkSet =
            serde_path_to_error::deserialize(&mut de).map_err(|e| KeyError::InvalidJwkSet {
                path: e.path().to_string(),
                message: e.into_inner().to_string(),
            })?;
        // Text after the set (found by fuzzing) is refused, not ignored.
        de.end().map_err(|e| KeyError::InvalidJwkSet {
            path: String::new(),
            message: e.to_string(),
        })?;
        let mut keys = KeySet::new();
        keys.add_jwk_set(&set, algorithms)?;
        Ok(keys)
    }

    /// Adds the usable keys of a JWK Set (see the module doc for which).
    pub fn add_jwk_set(
        &mut self,
        set: &JwkSet,
        algorithms: Option<&[Algorithm]>,
    ) -> Result<(), KeyError> {
        let (mut secret, mut public) = (false, false);
        for (i, jwk) in set.keys.iter().enumerate() {
            let path = format!("keys[{i}]");
            if let Some(key) = key_from_jwk(jwk, algorithms, &path)? {
                if jwk.kty.as_deref() == Some("oct") {
                    secret = true;
                } else {
                    public = true;
                }
                if secret && public {
                    // A published (public) set must never carry a secret, and a
                    // secret set should not pose as a public one.
                    return Err(KeyError::key(
                        format!("{path}.kty"),
                        "a JWK Set mixing secret (oct) and public keys is refused; give HMAC secrets and public keys in separate sources (e.g. pem_keys)",
                    ));
                }
                self.push(key, &path)?;
            }
        }
        Ok(())
    }

    /// Adds one PEM public key (`-----BEGIN PUBLIC KEY-----`, SPKI) that
    /// verifies `alg`. Error paths are relative to the `pem_keys` entry.
    pub fn add_pem(&mut self, kid: &str, alg: &str, pem_text: &str) -> Result<(), KeyError> {
        let Some(alg) = Algorithm::from_name(alg) else {
            return Err(KeyError::key("alg", "unknown or unsupported algorithm"));
        };
        if alg.family() == KeyFamily::Hmac {
            return Err(KeyError::key(
                "alg",
                "PEM keys are public keys; give HMAC secrets as JWK oct keys",
            ));
        }
        let block = pem::parse(pem_text.trim())
            .map_err(|e| KeyError::key("pem", format!("not PEM: {e}")))?;
        if block.tag() != "PUBLIC KEY" {
            return Err(KeyError::key(
                "pem",
                format!(
                    "expected a \"PUBLIC KEY\" (SubjectPublicKeyInfo) block, found {:?}",
                    block.tag()
                ),
            ));
        }
        let der = block.contents();
        if alg.family() == KeyFamily::Rsa {
            let bits = aws_lc_rs::rsa::PublicEncryptingKey::from_der(der)
                .map_err(|e| KeyError::key("pem", format!("not an RSA public key: {e}")))?
                .key_size_bits();
            check_rsa_bits(bits, "pem")?;
        }
        let verification = public_algorithm(alg).ok_or_else(|| wrong_primitive(alg, "alg"))?;
        let key = ParsedPublicKey::new(verification, der)
            .map_err(|e| KeyError::key("pem", format!("not a public key for {alg}: {e}")))?;
        self.push(
            Key {
                kid: Some(kid.to_owned()),
                verifiers: vec![Verifier {
                    alg,
                    key: KeyMaterial::Public(key),
                }],
            },
            "kid",
        )
    }

    /// Adds an HMAC secret that verifies `alg` (HS256/384/512).
    pub fn add_hmac_secret(
        &mut self,
        kid: Option<&str>,
        alg: Algorithm,
        secret: &[u8],
    ) -> Result<(), KeyError> {
        if alg.family() != KeyFamily::Hmac {
            return Err(KeyError::key(
                "alg",
                "HMAC secrets verify HS256, HS384 or HS512",
            ));
        }
        check_hmac_len(alg, secret.len(), "k")?;
        self.push(
            Key {
                kid: kid.map(str::to_owned),
                verifiers: vec![
                    hmac_verifier(alg, secret).ok_or_else(|| wrong_primitive(alg, "alg"))?,
                ],
            },
            "kid",
        )
    }

    /// Adds every key of `other` (a rotation combines the issuer's static
    /// PEM keys and secrets with its current JWK Set).
    pub(crate) fn extend_from(&mut self, other: KeySet, path: &str) -> Result<(), KeyError> {
        for key in other.keys {
            self.push(key, path)?;
        }
        Ok(())
    }

    fn push(&mut self, key: Key, path: &str) -> Result<(), KeyError> {
        if let Some(kid) = &key.kid
            && self.keys.iter().any(|k| k.kid.as_ref() == Some(kid))
        {
            return Err(KeyError::key(
                format!("{path}.kid").trim_start_matches('.').to_owned(),
                format!("duplicate kid {kid:?}: each key of an issuer needs its own kid"),
            ));
        }
        self.keys.push(key);
        Ok(())
    }

    /// Chooses the key for a token: by `kid` when the token has one (an
    /// unknown `kid` is `unknown_key`); without `kid`, the one key that
    /// verifies `alg` (none or several: `unknown_key`). A key that does not
    /// verify `alg` is `algorithm_not_allowed`. `allowed` is the issuer's
    /// `algorithms` list, checked first.
    pub fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        allowed: Option<&[Algorithm]>,
    ) -> Result<&Verifier, TokenError> {
        let allowed_by_issuer = match allowed {
            Some(list) => list.contains(&alg),
            None => self.supports(alg),
        };
        if !allowed_by_issuer {
            return Err(TokenError::new(
                Reason::AlgorithmNotAllowed,
                "the token's alg is not allowed for its issuer",
            ));
        }
        match kid {
            Some(kid) => {
                let Some(key) = self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) else {
                    return Err(TokenError::new(
                        Reason::UnknownKey,
                        "no key of the token's issuer has the token's kid",
                    ));
                };
                key.verifiers.iter().find(|v| v.alg == alg).ok_or_else(|| {
                    TokenError::new(
                        Reason::AlgorithmNotAllowed,
                        "the token's alg is not allowed for the key its kid names",
                    )
                })
            }
            None => {
                let mut found = self
                    .keys
                    .iter()
                    .filter_map(|k| k.verifiers.iter().find(|v| v.alg == alg));
                match (found.next(), found.next()) {
                    (Some(v), None) => Ok(v),
                    (None, _) => Err(TokenError::new(
                        Reason::UnknownKey,
                        "the token has no kid and no key of its issuer verifies its alg",
                    )),
                    (Some(_), Some(_)) => Err(TokenError::new(
                        Reason::UnknownKey,
                        "the token has no kid and its issuer has several keys for its alg",
                    )),
                }
            }
        }
    }
}

fn key_from_jwk(
    jwk: &Jwk,
    algorithms: Option<&[Algorithm]>,
    path: &str,
) -> Result<Option<Key>, KeyError> {
    let at = |member: &str| format!("{path}.{member}");
    let Some(kty) = jwk.kty.as_deref() else {
        return Err(KeyError::key(at("kty"), "missing kty"));
    };
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    if jwk
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|o| o == "verify"))
    {
        return Ok(None);
    }
    let family = match (kty, jwk.crv.as_deref()) {
        ("RSA", _) => KeyFamily::Rsa,
        ("EC", Some("P-256")) => KeyFamily::EcP256,
        ("EC", Some("P-384")) => KeyFamily::EcP384,
        ("EC", None) | ("OKP", None) => return Err(KeyError::key(at("crv"), "missing crv")),
        ("OKP", Some("Ed25519")) => KeyFamily::Ed25519,
        ("oct", _) => KeyFamily::Hmac,
        // P-521, secp256k1, X25519, Ed448, new key types: not ours to verify with.
        _ => return Ok(None),
    };
    if family != KeyFamily::Hmac {
        for (name, present) in [
            ("d", jwk.d.is_some()),
            ("p", jwk.p.is_some()),
            ("q", jwk.q.is_some()),
            ("dp", jwk.dp.is_some()),
            ("dq", jwk.dq.is_some()),
            ("qi", jwk.qi.is_some()),
            ("oth", jwk.oth.is_some()),
        ] {
            if present {
                return Err(KeyError::key(
                    at(name),
                    "private key material does not belong in a verification key set",
                ));
            }
        }
    }
    let algs: Vec<Algorithm> = match jwk.alg.as_deref() {
        Some(name) => {
            if name.eq_ignore_ascii_case("none") {
                return Err(KeyError::key(at("alg"), "alg none is never accepted"));
            }
            let Some(alg) = Algorithm::from_name(name) else {
                // An encryption or unsupported algorithm: not a key we verify with.
                return Ok(None);
            };
            if alg.family() != family {
                return Err(KeyError::key(
                    at("alg"),
                    format!("alg {alg} does not fit a {kty} key{}", curve_note(jwk)),
                ));
            }
            vec![alg]
        }
        None => algorithms
            .unwrap_or(&DEFAULT_ALGORITHMS)
            .iter()
            .copied()
            .filter(|a| a.family() == family)
            .collect(),
    };
    let verifiers = match family {
        KeyFamily::Hmac => {
            let secret = b64_member(jwk.k.as_deref(), &at("k"))?;
            if secret.is_empty() {
                return Err(KeyError::key(at("k"), "empty HMAC secret"));
            }
            if jwk.alg.is_some() {
                for &alg in &algs {
                    check_hmac_len(alg, secret.len(), &at("k"))?;
                }
            }
            let usable: Vec<Verifier> = algs
                .iter()
                .filter(|&&a| hmac_min_len(a).is_some_and(|min| min <= secret.len()))
                .filter_map(|&a| hmac_verifier(a, &secret))
                .collect();
            if usable.is_empty() && !algs.is_empty() {
                return Err(KeyError::key(
                    at("k"),
                    "HMAC secret is shorter than the hash output of every allowed algorithm (RFC 7518 §3.2)",
                ));
            }
            usable
        }
        KeyFamily::Rsa => {
            let n = b64_member(jwk.n.as_deref(), &at("n"))?;
            let e = b64_member(jwk.e.as_deref(), &at("e"))?;
            let n = strip_zeros(&n);
            let e = strip_zeros(&e);
            let bits = n
                .len()
                .saturating_mul(8)
                .saturating_sub(n.first().map_or(8, |b| b.leading_zeros() as usize));
            check_rsa_bits(bits, &at("n"))?;
            if e.len() > 4 || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
                return Err(KeyError::key(
                    at("e"),
                    "RSA public exponent must be odd, at least 3 and at most 32 bits",
                ));
            }
            let components = RsaPublicKeyComponents { n, e };
            algs.iter()
                .map(|&alg| {
                    let params = rsa_params(alg).ok_or_else(|| wrong_primitive(alg, &at("alg")))?;
                    components
                        .to_parsed_public_key(params)
                        .map(|key| Verifier {
                            alg,
                            key: KeyMaterial::Public(key),
                        })
                        .map_err(|e| KeyError::key(at("n"), format!("invalid RSA key: {e}")))
                })
                .collect::<Result<_, _>>()?
        }
        KeyFamily::EcP256 | KeyFamily::EcP384 => {
            let size = if family == KeyFamily::EcP256 { 32 } else { 48 };
            let x = b64_member(jwk.x.as_deref(), &at("x"))?;
            let y = b64_member(jwk.y.as_deref(), &at("y"))?;
            if x.len() != size || y.len() != size {
                return Err(KeyError::key(
                    at("x"),
                    format!("x and y of a {} key are {size} bytes each", curve_note(jwk)),
                ));
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            public_verifiers(&algs, &point, &at("x"))?
        }
        KeyFamily::Ed25519 => {
            let x = b64_member(jwk.x.as_deref(), &at("x"))?;
            if x.len() != 32 {
                return Err(KeyError::key(at("x"), "an Ed25519 public key is 32 bytes"));
            }
            public_verifiers(&algs, &x, &at("x"))?
        }
    };
    Ok(Some(Key {
        kid: jwk.kid.clone(),
        verifiers,
    }))
}

fn curve_note(jwk: &Jwk) -> String {
    jwk.crv
        .as_deref()
        .map(|c| format!(" on {c:?}"))
        .unwrap_or_default()
}

fn public_verifiers(
    algs: &[Algorithm],
    bytes: &[u8],
    path: &str,
) -> Result<Vec<Verifier>, KeyError> {
    algs.iter()
        .map(|&alg| {
            let verification = public_algorithm(alg).ok_or_else(|| wrong_primitive(alg, path))?;
            ParsedPublicKey::new(verification, bytes)
                .map(|key| Verifier {
                    alg,
                    key: KeyMaterial::Public(key),
                })
                .map_err(|e| KeyError::key(path, format!("invalid public key: {e}")))
        })
        .collect()
}

fn b64_member(value: Option<&str>, path: &str) -> Result<Vec<u8>, KeyError> {
    let Some(value) = value else {
        return Err(KeyError::key(path, "missing"));
    };
    URL_SAFE_NO_PAD
        .decode_to_vec(value)
        .map_err(|_| KeyError::key(path, "not base64url without padding"))
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn check_rsa_bits(bits: usize, path: &str) -> Result<(), KeyError> {
    if !(2048..=8192).contains(&bits) {
        return Err(KeyError::key(
            path,
            format!("RSA keys must have 2048 to 8192 bits, this one has {bits}"),
        ));
    }
    Ok(())
}

/// The aws-lc-rs primitive that verifies one algorithm.
#[derive(Clone, Copy)]
enum Primitive {
    /// An HMAC over this hash; the secret must be at least the hash's output
    /// long (RFC 7518 §3.2).
    Hmac(hmac::Algorithm),
    /// An RSA signature scheme (PKCS#1 v1.5 or PSS) and hash.
    Rsa(&'static signature::RsaParameters),
    /// An ECDSA (fixed `r‖s` signatures, as JWS requires) or EdDSA scheme.
    Curve(&'static dyn signature::VerificationAlgorithm),
}

impl Primitive {
    /// The one place an algorithm meets its primitive. Exhaustive on
    /// purpose: a new [`Algorithm`] does not compile until it is given its
    /// own primitive here, so it can never fall through to another's.
    fn of(alg: Algorithm) -> Primitive {
        match alg {
            Algorithm::HS256 => Primitive::Hmac(hmac::HMAC_SHA256),
            Algorithm::HS384 => Primitive::Hmac(hmac::HMAC_SHA384),
            Algorithm::HS512 => Primitive::Hmac(hmac::HMAC_SHA512),
            Algorithm::RS256 => Primitive::Rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
            Algorithm::RS384 => Primitive::Rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
            Algorithm::RS512 => Primitive::Rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
            Algorithm::PS256 => Primitive::Rsa(&signature::RSA_PSS_2048_8192_SHA256),
            Algorithm::PS384 => Primitive::Rsa(&signature::RSA_PSS_2048_8192_SHA384),
            Algorithm::PS512 => Primitive::Rsa(&signature::RSA_PSS_2048_8192_SHA512),
            Algorithm::ES256 => Primitive::Curve(&signature::ECDSA_P256_SHA256_FIXED),
            Algorithm::ES384 => Primitive::Curve(&signature::ECDSA_P384_SHA384_FIXED),
            Algorithm::EdDSA => Primitive::Curve(&signature::ED25519),
        }
    }

    /// The primitive as a public-key verification algorithm; `None` for HMAC.
    fn public(self) -> Option<&'static dyn signature::VerificationAlgorithm> {
        match self {
            Primitive::Hmac(_) => None,
            Primitive::Rsa(params) => Some(params),
            Primitive::Curve(alg) => Some(alg),
        }
    }
}

/// The shortest secret `alg` accepts (its hash's output length); `None`
/// when `alg` is not an HMAC algorithm.
fn hmac_min_len(alg: Algorithm) -> Option<usize> {
    match Primitive::of(alg) {
        Primitive::Hmac(h) => Some(h.digest_algorithm().output_len()),
        Primitive::Rsa(_) | Primitive::Curve(_) => None,
    }
}

fn check_hmac_len(alg: Algorithm, len: usize, path: &str) -> Result<(), KeyError> {
    let Some(min) = hmac_min_len(alg) else {
        return Err(KeyError::key(
            path,
            format!("{alg} is not an HMAC algorithm: an HMAC secret cannot verify it"),
        ));
    };
    if len < min {
        return Err(KeyError::key(
            path,
            format!(
                "{alg} needs a secret of at least {min} bytes (RFC 7518 §3.2), this one has {len}"
            ),
        ));
    }
    Ok(())
}

/// A verifier of `alg` with an HMAC secret; `None` when `alg` is not an
/// HMAC algorithm (callers check the key family first).
fn hmac_verifier(alg: Algorithm, secret: &[u8]) -> Option<Verifier> {
    let Primitive::Hmac(h) = Primitive::of(alg) else {
        return None;
    };
    Some(Verifier {
        alg,
        key: KeyMaterial::Hmac(Box::new(hmac::Key::new(h, secret))),
    })
}

/// The RSA parameters of `alg`; `None` when `alg` is not an RSA algorithm.
fn rsa_params(alg: Algorithm) -> Option<&'static signature::RsaParameters> {
    match Primitive::of(alg) {
        Primitive::Rsa(params) => Some(params),
        Primitive::Hmac(_) | Primitive::Curve(_) => None,
    }
}

/// The public-key algorithm of `alg`; `None` for HMAC.
fn public_algorithm(alg: Algorithm) -> Option<&'static dyn signature::VerificationAlgorithm> {
    Primitive::of(alg).public()
}

/// The error for an algorithm whose primitive does not fit the key (the
/// family checks before make it unreachable; an error, never a panic).
fn wrong_primitive(alg: Algorithm, path: &str) -> KeyError {
    KeyError::key(path, format!("{alg} cannot verify with this kind of key"))
}

#[cfg(test)]
mod primitive_tests {
    use super::*;

    #[test]
    fn every_algorithm_maps_to_a_primitive_of_its_own_key_family() {
        for alg in Algorithm::ALL {
            let fits = match (Primitive::of(alg), alg.family()) {
                (Primitive::Hmac(_), KeyFamily::Hmac) | (Primitive::Rsa(_), KeyFamily::Rsa) => true,
                (Primitive::Curve(_), f) => {
                    matches!(
                        f,
                        KeyFamily::EcP256 | KeyFamily::EcP384 | KeyFamily::Ed25519
                    )
                }
                _ => false,
            };
            assert!(fits, "{alg}");
            assert_eq!(hmac_min_len(alg).is_some(), alg.family() == KeyFamily::Hmac);
            assert_eq!(rsa_params(alg).is_some(), alg.family() == KeyFamily::Rsa);
            assert_eq!(
                public_algorithm(alg).is_some(),
                alg.family() != KeyFamily::Hmac
            );
        }
    }

    #[test]
    fn hmac_secrets_must_be_as_long_as_their_hash() {
        assert_eq!(hmac_min_len(Algorithm::HS256), Some(32));
        assert_eq!(hmac_min_len(Algorithm::HS384), Some(48));
        assert_eq!(hmac_min_len(Algorithm::HS512), Some(64));
    }

    #[test]
    fn each_hmac_algorithm_verifies_with_its_own_hash_only() {
        let secret = [9u8; 64];
        let message = b"header.payload";
        for (alg, h) in [
            (Algorithm::HS256, hmac::HMAC_SHA256),
            (Algorithm::HS384, hmac::HMAC_SHA384),
            (Algorithm::HS512, hmac::HMAC_SHA512),
        ] {
            let tag = hmac::sign(&hmac::Key::new(h, &secret), message);
            for other in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                let v = hmac_verifier(other, &secret).expect("an HMAC algorithm");
                assert_eq!(
                    v.verify(message, tag.as_ref()),
                    other == alg,
                    "{alg} by {other}"
                );
            }
        }
        assert!(hmac_verifier(Algorithm::RS256, &secret).is_none());
    }
}

/// The shape RFC 7517 §5 gives a JWK Set: an object whose `keys` member, when
/// it is an array, holds objects. Read before the set itself, which then
/// reports every other problem.
mod shape {
    use std::fmt;

    use serde::Deserialize;
    use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use crate::json::MaybeStr;

    /// The set: an object.
    pub(super) struct SetShape;

    impl<'de> Deserialize<'de> for SetShape {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(SetShape)
        }
    }

    impl<'de> Visitor<'de> for SetShape {
        type Value = SetShape;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JWK Set object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SetShape, A::Error> {
            while let Some(MaybeStr(key)) = map.next_key::<MaybeStr<'de>>()? {
                if key.as_deref() == Some("keys") {
                    map.next_value::<KeysShape>()?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(SetShape)
        }
    }

    /// `keys`: when an array, of objects (any other type is the set
    /// reader's error to report).
    struct KeysShape;

    impl<'de> Deserialize<'de> for KeysShape {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(KeysShape)
        }
    }

    impl<'de> Visitor<'de> for KeysShape {
        type Value = KeysShape;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of JWKs")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeysShape, A::Error> {
            while seq.next_element::<KeyShape>()?.is_some() {}
            Ok(KeysShape)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeysShape, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(KeysShape)
        }
        crate::json::scalars_give!(KeysShape);
    }

    /// One key: an object.
    struct KeyShape;

    impl<'de> Deserialize<'de> for KeyShape {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(KeyShape)
        }
    }

    impl<'de> Visitor<'de> for KeyShape {
        type Value = KeyShape;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JWK object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyShape, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(KeyShape)
        }
    }
}
