//! The `auth` section of the Guard configuration (docs/config.md), as serde
//! structs with the documented defaults. Unknown keys are errors.
//!
//! These structs only describe; [`TokenValidator::from_config`](crate::token::TokenValidator::from_config)
//! checks them (paths in its errors are relative to the `auth` object).

use serde::Deserialize;

use super::keys::JwkSet;

/// The `auth` object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `false`: a request without a token is anonymous. Default `true`.
    #[serde(default = "default_true")]
    pub required: bool,
    /// The trusted issuers and their keys.
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`. Default 30.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Longer tokens are refused before any decoding. Default 8192.
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// The required `typ` header (e.g. `at+jwt`); `None`: not checked.
    #[serde(default)]
    pub require_typ: Option<String>,
    /// Scopes every token must carry (exact comparison).
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// The claim listing role names (string or array); `None`: no roles.
    #[serde(default)]
    pub role_claim: Option<String>,
    /// Verified tokens kept by the cache; 0 disables it. Default 10000.
    #[serde(default = "default_cache_entries")]
    pub cache_entries: usize,
    /// Revocations held until the revoked token expires. Default 100000.
    #[serde(default = "default_revocation_entries")]
    pub revocation_entries: usize,
    /// `true`: a dot-free token is looked up in the opaque store. Default `false`.
    #[serde(default)]
    pub opaque_tokens: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            required: true,
            issuers: Vec::new(),
            leeway_seconds: default_leeway(),
            max_token_bytes: default_max_token_bytes(),
            require_typ: None,
            required_scopes: Vec::new(),
            role_claim: None,
            cache_entries: default_cache_entries(),
            revocation_entries: default_revocation_entries(),
            opaque_tokens: false,
        }
    }
}

/// One trusted issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Compared exactly with the token's `iss`.
    pub issuer: String,
    /// The issuer's JWK Set, inline.
    #[serde(default)]
    pub jwks: Option<JwkSet>,
    /// A file holding the JWK Set, relative to the configuration's base
    /// directory. Exclusive with `jwks`.
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// PEM public keys, alongside either JWK Set.
    #[serde(default)]
    pub pem_keys: Vec<PemKeyConfig>,
    /// Algorithms the issuer may use; default: the `alg` of each key (or
    /// the per-type defaults). Never `none`.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Accepted `aud` values; default: `[resource]`.
    #[serde(default)]
    pub audiences: Option<Vec<String>>,
}

/// A PEM public key (`-----BEGIN PUBLIC KEY-----`, SPKI).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PemKeyConfig {
    /// The key id tokens name in `kid`.
    pub kid: String,
    /// The one algorithm the key verifies (RS*, PS*, ES256, ES384, EdDSA).
    pub alg: String,
    /// The PEM text.
    pub pem: String,
}

fn default_true() -> bool {
    true
}
fn default_leeway() -> u64 {
    30
}
fn default_max_token_bytes() -> usize {
    8192
}
fn default_cache_entries() -> usize {
    10_000
}
fn default_revocation_entries() -> usize {
    100_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::from_str;

    #[test]
    fn defaults_follow_the_spec() {
        let c: AuthConfig = from_str("{}").unwrap();
        assert!(c.required);
        assert_eq!(c.leeway_seconds, 30);
        assert_eq!(c.max_token_bytes, 8192);
        assert_eq!(c.require_typ, None);
        assert!(c.required_scopes.is_empty());
        assert_eq!(c.role_claim, None);
        assert_eq!(c.cache_entries, 10_000);
        assert_eq!(c.revocation_entries, 100_000);
        assert!(!c.opaque_tokens);
    }

    #[test]
    fn a_misspelt_key_is_an_error_with_its_path() {
        let e =
            from_str::<AuthConfig>(r#"{"issuers":[{"issuer":"x","audience":["a"]}]}"#).unwrap_err();
        assert_eq!(e.path, "issuers[0].audience");
        let e = from_str::<AuthConfig>(r#"{"leeway":3}"#).unwrap_err();
        assert_eq!(e.path, "leeway");
    }
}
