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
    /// How a fetcher (the `mcpguard-fetch` crate) calls the authorization
    /// servers: timeouts, size cap, refresh bounds, a private CA.
    #[serde(default)]
    pub fetch: FetchConfig,
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
            fetch: FetchConfig::default(),
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
    /// Where the issuer publishes its JWK Set (`https://`, or `http://` on
    /// a loopback host). Exclusive with `jwks`, `jwks_file` and `discovery`.
    /// Fetched by a fetcher, never by the core.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// `true`: the `jwks_uri` (and the introspection endpoint, when
    /// `introspection` names none) come from the issuer's metadata (RFC 8414,
    /// then OpenID Connect Discovery). Requires an `https://` issuer.
    #[serde(default)]
    pub discovery: bool,
    /// Opaque tokens are answered by this issuer's RFC 7662 endpoint.
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
}

/// An issuer's introspection endpoint (RFC 7662) and how to use it.
/// `Debug` shows the secret as redacted.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// The endpoint; default: the metadata's `introspection_endpoint`
    /// (needs `discovery`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The resource server's client id at the authorization server.
    pub client_id: String,
    /// Its secret, sent as HTTP Basic (`client_secret_basic`).
    pub client_secret: String,
    /// How long an `active` answer may be kept, in seconds (never past the
    /// token's `exp`). Default 300; 0 asks the endpoint every time.
    #[serde(default = "default_introspection_cache_seconds")]
    pub cache_seconds: u64,
    /// What a request gets when the endpoint cannot answer. Default
    /// `store_unavailable`.
    #[serde(default)]
    pub on_error: IntrospectionFailure,
}

impl std::fmt::Debug for IntrospectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionConfig")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("cache_seconds", &self.cache_seconds)
            .field("on_error", &self.on_error)
            .finish()
    }
}

/// The refusal given when the introspection endpoint cannot answer
/// (unreachable, timeout, non-200, a response that is not JSON). Never an
/// admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntrospectionFailure {
    /// 503 `store_unavailable`: the client may retry.
    #[default]
    StoreUnavailable,
    /// 401 `inactive`: as if the token were unknown.
    Inactive,
}

/// The `auth.fetch` object: how issuers' metadata, keys and introspection
/// answers are fetched. Only a fetcher reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchConfig {
    /// Connecting gives up after this many milliseconds. Default 2000.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// A whole call (connect, send, read) gives up after this many
    /// milliseconds. Default 5000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Larger response bodies are refused. Default 262144 (256 KiB).
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// Redirects followed per call (never to another scheme). Default 3.
    #[serde(default = "default_max_redirects")]
    pub max_redirects: u32,
    /// A JWK Set is refetched no sooner than this after the last fetch,
    /// whatever its `Cache-Control` says. Default 60.
    #[serde(default = "default_min_refresh_seconds")]
    pub min_refresh_seconds: u64,
    /// ... and no later than this. Default 3600 (also the interval when the
    /// response has no `Cache-Control: max-age` nor `Expires`).
    #[serde(default = "default_max_refresh_seconds")]
    pub max_refresh_seconds: u64,
    /// PEM certificates of a private CA: when given, TLS servers are checked
    /// against these roots only (not the public web roots).
    #[serde(default)]
    pub ca_pem: Option<String>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            connect_timeout_ms: default_connect_timeout_ms(),
            timeout_ms: default_timeout_ms(),
            max_response_bytes: default_max_response_bytes(),
            max_redirects: default_max_redirects(),
            min_refresh_seconds: default_min_refresh_seconds(),
            max_refresh_seconds: default_max_refresh_seconds(),
            ca_pem: None,
        }
    }
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
fn default_introspection_cache_seconds() -> u64 {
    300
}
fn default_connect_timeout_ms() -> u64 {
    2000
}
fn default_timeout_ms() -> u64 {
    5000
}
fn default_max_response_bytes() -> u64 {
    256 * 1024
}
fn default_max_redirects() -> u32 {
    3
}
fn default_min_refresh_seconds() -> u64 {
    60
}
fn default_max_refresh_seconds() -> u64 {
    3600
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
