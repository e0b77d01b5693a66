//! The authorization server's signing keys: ES256 (P-256) key pairs from
//! PEM, the one that signs, the ones still published, and the JWK Set.
//!
//! Rotation with overlap: the first key of the ring signs; every key of the
//! ring is published in the JWK Set and trusted by the Guard, so tokens
//! signed by a key that was just replaced stay valid until they expire. A
//! host rotates by putting the new key first and keeping the old one listed
//! for one access-token lifetime (or at run time with
//! [`AuthorizationServer::rotate_signing_key`](super::AuthorizationServer::rotate_signing_key)).
//!
//! A key without a configured `kid` is named by its RFC 7638 thumbprint.

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64_simd::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::token::KeySet;
use crate::token::jws::Algorithm;

/// A signing key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningKeyError {
    /// The text is not PEM.
    #[error("the signing key is not PEM text: {0}")]
    NotPem(String),
    /// The PEM block is of another kind than a private key.
    #[error(
        "the signing key's PEM block is {0:?}; expected \"PRIVATE KEY\" (PKCS#8) or \"EC PRIVATE KEY\""
    )]
    WrongPemLabel(String),
    /// The key is not a P-256 private key aws-lc-rs accepts.
    #[error("the signing key is not a valid P-256 (ES256) private key")]
    NotP256,
    /// Two keys of the ring have the same `kid`.
    #[error("two signing keys have the kid {0:?}")]
    DuplicateKid(String),
    /// A `kid` is empty.
    #[error("a signing key's kid must not be empty")]
    EmptyKid,
    /// Key generation failed (no entropy).
    #[error("could not generate a signing key")]
    Generation,
}

/// One ES256 key pair and its public JWK.
pub struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
    public_jwk: Value,
}

impl Clone for SigningKey {
    fn clone(&self) -> Self {
        // A key pair that was built once always serializes and parses again.
        let der = self.pair.to_pkcs8v1().expect("a P-256 key serializes");
        let pair =
            EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref())
                .expect("a serialized P-256 key parses");
        SigningKey {
            kid: self.kid.clone(),
            pair,
            public_jwk: self.public_jwk.clone(),
        }
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key from PEM text (`PRIVATE KEY` or `EC PRIVATE KEY`), named `kid`
    /// or, without one, by its RFC 7638 thumbprint.
    pub fn from_pem(pem_text: &str, kid: Option<&str>) -> Result<SigningKey, SigningKeyError> {
        let block = pem::parse(pem_text).map_err(|e| SigningKeyError::NotPem(e.to_string()))?;
        if !matches!(block.tag(), "PRIVATE KEY" | "EC PRIVATE KEY") {
            return Err(SigningKeyError::WrongPemLabel(block.tag().to_string()));
        }
        let pair =
            EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, block.contents())
                .map_err(|_| SigningKeyError::NotP256)?;
        Self::from_pair(pair, kid)
    }

    /// A fresh random key, named by its thumbprint.
    pub fn generate() -> Result<SigningKey, SigningKeyError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| SigningKeyError::Generation)?;
        Self::from_pair(pair, None)
    }

    /// The key as PKCS#8 PEM, so a generated key can be saved.
    pub fn to_pem(&self) -> Result<String, SigningKeyError> {
        let der = self
            .pair
            .to_pkcs8v1()
            .map_err(|_| SigningKeyError::Generation)?;
        Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref())))
    }

    fn from_pair(pair: EcdsaKeyPair, kid: Option<&str>) -> Result<SigningKey, SigningKeyError> {
        // An uncompressed P-256 point: 0x04 || x (32) || y (32).
        let point = pair.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err(SigningKeyError::NotP256);
        }
        let x = URL_SAFE_NO_PAD.encode_to_string(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode_to_string(&point[33..]);
        let kid = match kid {
            Some("") => return Err(SigningKeyError::EmptyKid),
            Some(k) => k.to_string(),
            None => {
                // RFC 7638 §3.2: the required members in lexicographic order,
                // no whitespace (serde_json keeps insertion order here).
                let canonical = json!({"crv": "P-256", "kty": "EC", "x": x, "y": y}).to_string();
                let d = digest::digest(&digest::SHA256, canonical.as_bytes());
                URL_SAFE_NO_PAD.encode_to_string(d.as_ref())
            }
        };
        let public_jwk = json!({
            "kty": "EC", "crv": "P-256", "x": x, "y": y,
            "use": "sig", "alg": "ES256", "kid": kid,
        });
        Ok(SigningKey {
            kid,
            pair,
            public_jwk,
        })
    }

    /// The key id tokens name in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// The server's keys: the first signs, all are published.
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
    jwks: Value,
    verify: KeySet,
}

impl KeyRing {
    /// A ring of `keys` (at least one; the first signs).
    pub fn new(keys: Vec<SigningKey>) -> Result<KeyRing, SigningKeyError> {
        let mut keys = keys;
        if keys.is_empty() {
            keys.push(SigningKey::generate()?);
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.kid == k.kid) {
                return Err(SigningKeyError::DuplicateKid(k.kid.clone()));
            }
        }
        let jwks = json!({ "keys": keys.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>() });
        let verify = KeySet::from_jwks_json(&jwks.to_string(), Some(&[Algorithm::ES256]))
            .map_err(|_| SigningKeyError::NotP256)?;
        Ok(KeyRing { keys, jwks, verify })
    }

    /// The ring after a rotation: `new_key` signs, the key that signed until
    /// now stays published (overlap), older keys drop out.
    pub fn rotated(&self, new_key: SigningKey) -> Result<KeyRing, SigningKeyError> {
        KeyRing::new(vec![new_key, self.keys[0].clone()])
    }

    /// The public JWK Set document (RFC 7517) of every key in the ring.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// The key ids, signing key first.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }

    /// The ring's keys as the token engine's verification keys.
    pub(crate) fn verification_keys(&self) -> &KeySet {
        &self.verify
    }

    /// A JWS compact serialization of `claims` with header
    /// `{"alg":"ES256","typ":"at+jwt","kid":…}` (RFC 9068), signed by the
    /// first key.
    pub fn sign_access_token(&self, claims: &Value) -> Result<String, SigningKeyError> {
        let key = &self.keys[0];
        let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": key.kid});
        let mut out = URL_SAFE_NO_PAD.encode_to_string(header.to_string().as_bytes());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode_to_string(claims.to_string().as_bytes()));
        let sig = key
            .pair
            .sign(&SystemRandom::new(), out.as_bytes())
            .map_err(|_| SigningKeyError::Generation)?;
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode_to_string(sig.as_ref()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_pem_with_the_same_thumbprint() {
        let k = SigningKey::generate().unwrap();
        let again = SigningKey::from_pem(&k.to_pem().unwrap(), None).unwrap();
        assert_eq!(k.kid(), again.kid());
        assert_eq!(k.kid().len(), 43);
    }

    #[test]
    fn a_public_key_or_an_rsa_key_is_refused() {
        let e = SigningKey::from_pem(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            None,
        )
        .unwrap_err();
        assert!(matches!(e, SigningKeyError::WrongPemLabel(_)), "{e}");
        let e = SigningKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            None,
        )
        .unwrap_err();
        assert_eq!(e, SigningKeyError::NotP256);
    }

    #[test]
    fn tokens_verify_with_the_published_set_and_rotation_keeps_old_keys() {
        let old = SigningKey::generate().unwrap();
        let old_pem = old.to_pem().unwrap();
        let ring = KeyRing::new(vec![old]).unwrap();
        let token = ring.sign_access_token(&json!({"sub": "a"})).unwrap();
        assert!(crate::token::jws::verify_compact(&token, ring.verification_keys()).is_ok());
        let rotated = KeyRing::new(vec![
            SigningKey::generate().unwrap(),
            SigningKey::from_pem(&old_pem, None).unwrap(),
        ])
        .unwrap();
        assert_eq!(rotated.jwks()["keys"].as_array().unwrap().len(), 2);
        assert!(crate::token::jws::verify_compact(&token, rotated.verification_keys()).is_ok());
        let other = KeyRing::new(vec![SigningKey::generate().unwrap()]).unwrap();
        assert!(crate::token::jws::verify_compact(&token, other.verification_keys()).is_err());
    }

    #[test]
    fn duplicate_kids_are_refused() {
        let a = SigningKey::generate().unwrap();
        let pem = a.to_pem().unwrap();
        let b = SigningKey::from_pem(&pem, None).unwrap();
        assert!(matches!(
            KeyRing::new(vec![a, b]),
            Err(SigningKeyError::DuplicateKid(_))
        ));
    }
}
