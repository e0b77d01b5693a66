//! The `authorization_server` section of the Guard configuration: what it
//! holds, its defaults, and the checks that turn it into [`Settings`].
//!
//! Unknown keys are refused, and every error names its JSON path from the
//! document's root (`authorization_server.signing_keys[1].pem_file`).
//! Reading `pem_file` is the only I/O.

use std::path::Path;

use serde::Deserialize;
use url::Url;

use super::keys::{KeyRing, SigningKey};
use crate::error::ConfigError;
use crate::ratelimit::{Algorithm, LimitSpec, Quota};

/// The `authorization_server` object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationServerConfig {
    /// The issuer identifier (RFC 8414 §2): an `https` URL without query or
    /// fragment (`http` only for a loopback host). The endpoints live under
    /// it (`<issuer>/authorize`, `/token`, `/register`, `/revoke`).
    pub issuer: String,
    /// ES256 private keys; the first signs, all are published (rotation
    /// with overlap). Empty: one key is generated at start, so tokens do not
    /// outlive the process.
    #[serde(default)]
    pub signing_keys: Vec<SigningKeyConfig>,
    /// Resources (RFC 8707) tokens may be issued for; default: the Guard's
    /// `resource`. The first is used when a client names none.
    #[serde(default)]
    pub resources: Option<Vec<String>>,
    /// Access-token lifetime. Default 3600.
    #[serde(default = "default_access")]
    pub access_token_seconds: u64,
    /// A refresh token's lifetime from its issue (each rotation starts a new
    /// one). Default 1 209 600 (14 days).
    #[serde(default = "default_refresh")]
    pub refresh_token_seconds: u64,
    /// A refresh family's absolute lifetime from the grant. Default
    /// 2 592 000 (30 days).
    #[serde(default = "default_family")]
    pub refresh_family_seconds: u64,
    /// Authorization-code lifetime, 1 to 600. Default 60.
    #[serde(default = "default_code")]
    pub authorization_code_seconds: u64,
    /// How long a consent page stays answerable, 1 to 3600. Default 600.
    #[serde(default = "default_consent")]
    pub consent_seconds: u64,
    /// Who may register clients.
    #[serde(default)]
    pub registration: RegistrationConfig,
    /// Whether confidential clients may use the client credentials grant.
    /// Default `true`.
    #[serde(default = "default_true")]
    pub client_credentials: bool,
    /// Rate limits of the registration and token endpoints.
    #[serde(default)]
    pub rate_limit: EndpointLimitsConfig,
    /// Where clients, codes and refresh tokens are kept.
    #[serde(default)]
    pub storage: StorageConfig,
}

/// One signing key: PEM text inline or in a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyConfig {
    /// The key id; default: the key's RFC 7638 thumbprint.
    #[serde(default)]
    pub kid: Option<String>,
    /// PEM text (`PRIVATE KEY` or `EC PRIVATE KEY`, P-256).
    #[serde(default)]
    pub pem: Option<String>,
    /// A file holding the PEM text, relative to the configuration's folder.
    #[serde(default)]
    pub pem_file: Option<String>,
}

/// The registration policy (RFC 7591 §3).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationConfig {
    /// `false` closes registration. Default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// When not empty, registration needs an initial access token (bearer)
    /// whose SHA-256, in lowercase hex, is listed here.
    #[serde(default)]
    pub initial_access_token_sha256: Vec<String>,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            enabled: true,
            initial_access_token_sha256: Vec::new(),
        }
    }
}

/// Limits on the registration and token endpoints, per caller key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointLimitsConfig {
    /// Registrations per caller. Default 20 per hour.
    #[serde(default = "default_register_limit")]
    pub register: LimitSpec,
    /// Token requests per client. Default 60 per minute.
    #[serde(default = "default_token_limit")]
    pub token: LimitSpec,
    /// Keys each limit tracks. Default 10000.
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
}

impl Default for EndpointLimitsConfig {
    fn default() -> Self {
        EndpointLimitsConfig {
            register: default_register_limit(),
            token: default_token_limit(),
            max_keys: default_max_keys(),
        }
    }
}

/// The storage backend: `{"memory": {}}`, `{"sqlite": {"path": "…"}}` or
/// `{"redis": {}}`. The core builds only the memory store; the SQLite one
/// is in the `mcpguard-sqlite` crate, the Redis one in `mcpguard-redis`
/// (opened by `mcpguard-host` on the configuration's `store.redis`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StorageConfig {
    /// In this process; lost on exit.
    Memory {},
    /// An SQLite database file.
    Sqlite {
        /// The database file, relative to the configuration's folder.
        path: String,
    },
    /// The Redis of the configuration's `store.redis` section (its URL,
    /// prefix, timeout and pool size), shared by every replica.
    Redis {},
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig::Memory {}
    }
}

/// The section, checked: what the engine runs on.
#[derive(Debug)]
pub struct Settings {
    /// The issuer identifier, as configured.
    pub issuer: String,
    /// The signing keys.
    pub keys: std::sync::Arc<KeyRing>,
    /// Resources tokens may be for; the first is the default.
    pub resources: Vec<String>,
    /// Access-token lifetime, seconds.
    pub access_token_seconds: i64,
    /// Refresh-token lifetime, seconds.
    pub refresh_token_seconds: i64,
    /// Refresh-family lifetime, seconds.
    pub refresh_family_seconds: i64,
    /// Code lifetime, seconds.
    pub code_seconds: i64,
    /// Consent lifetime, seconds.
    pub consent_seconds: i64,
    /// Whether registration is open.
    pub registration_enabled: bool,
    /// Hashes (`sha256:<hex>`) of the initial access tokens.
    pub initial_access_tokens: Vec<String>,
    /// Whether the client credentials grant is on.
    pub client_credentials: bool,
    /// Registration limit: algorithm and quota.
    pub register_limit: (Algorithm, Quota),
    /// Token limit: algorithm and quota.
    pub token_limit: (Algorithm, Quota),
    /// Keys each limit tracks.
    pub max_keys: usize,
    /// The storage the host should open.
    pub storage: StorageConfig,
}

impl AuthorizationServerConfig {
    /// Checks the section and loads its keys. `resource` is the Guard's
    /// resource; `base_dir` is where relative `pem_file` paths start.
    /// Error paths start at `authorization_server`.
    pub fn build(&self, resource: &str, base_dir: Option<&Path>) -> Result<Settings, ConfigError> {
        self.build_inner(resource, base_dir)
            .map_err(|e| e.within("authorization_server"))
    }

    fn build_inner(
        &self,
        resource: &str,
        base_dir: Option<&Path>,
    ) -> Result<Settings, ConfigError> {
        check_issuer(&self.issuer).map_err(|e| ConfigError::new("issuer", e))?;
        let mut keys = Vec::with_capacity(self.signing_keys.len());
        for (i, k) in self.signing_keys.iter().enumerate() {
            let at = |field: &str| format!("signing_keys[{i}]{field}");
            let text = match (&k.pem, &k.pem_file) {
                (Some(p), None) => p.clone(),
                (None, Some(file)) => {
                    let path = match base_dir {
                        Some(dir) => dir.join(file),
                        None => file.into(),
                    };
                    std::fs::read_to_string(&path).map_err(|e| {
                        ConfigError::new(
                            at(".pem_file"),
                            format_args!("cannot read {}: {e}", path.display()),
                        )
                    })?
                }
                _ => {
                    return Err(ConfigError::new(
                        at(""),
                        "give exactly one of pem and pem_file",
                    ));
                }
            };
            keys.push(
                SigningKey::from_pem(&text, k.kid.as_deref())
                    .map_err(|e| ConfigError::new(at(""), e))?,
            );
        }
        let keys = KeyRing::new(keys).map_err(|e| ConfigError::new("signing_keys", e))?;
        let keys = std::sync::Arc::new(keys);
        let resources = match &self.resources {
            None => vec![resource.to_string()],
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new("resources", "list at least one resource"));
            }
            Some(list) => {
                for (i, r) in list.iter().enumerate() {
                    check_resource(r)
                        .map_err(|e| ConfigError::new(format!("resources[{i}]"), e))?;
                    if list[..i].contains(r) {
                        return Err(ConfigError::new(
                            format!("resources[{i}]"),
                            "this resource is listed twice",
                        ));
                    }
                }
                list.clone()
            }
        };
        let seconds = |name: &str, v: u64, max: u64| -> Result<i64, ConfigError> {
            if v == 0 || v > max {
                return Err(ConfigError::new(
                    name,
                    format_args!("must be between 1 and {max} seconds"),
                ));
            }
            Ok(v as i64)
        };
        const TEN_YEARS: u64 = 315_360_000;
        let access_token_seconds =
            seconds("access_token_seconds", self.access_token_seconds, 86_400)?;
        let refresh_token_seconds = seconds(
            "refresh_token_seconds",
            self.refresh_token_seconds,
            TEN_YEARS,
        )?;
        let refresh_family_seconds = seconds(
            "refresh_family_seconds",
            self.refresh_family_seconds,
            TEN_YEARS,
        )?;
        let code_seconds = seconds(
            "authorization_code_seconds",
            self.authorization_code_seconds,
            600,
        )?;
        let consent_seconds = seconds("consent_seconds", self.consent_seconds, 3600)?;
        let mut initial_access_tokens = Vec::new();
        for (i, h) in self
            .registration
            .initial_access_token_sha256
            .iter()
            .enumerate()
        {
            if h.len() != 64 || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(ConfigError::new(
                    format!("registration.initial_access_token_sha256[{i}]"),
                    "must be a SHA-256 in lowercase hex (64 characters)",
                ));
            }
            initial_access_tokens.push(format!("sha256:{h}"));
        }
        let register_limit = self
            .rate_limit
            .register
            .quota(Algorithm::SlidingWindow)
            .map_err(|e| e.within("rate_limit.register"))?;
        let token_limit = self
            .rate_limit
            .token
            .quota(Algorithm::SlidingWindow)
            .map_err(|e| e.within("rate_limit.token"))?;
        for (name, (a, q)) in [("register", &register_limit), ("token", &token_limit)] {
            if *a != Algorithm::TokenBucket && q.burst() != q.limit() {
                return Err(ConfigError::new(
                    format!("rate_limit.{name}.burst"),
                    "burst is for the token_bucket algorithm only",
                ));
            }
        }
        if self.rate_limit.max_keys == 0 {
            return Err(ConfigError::new(
                "rate_limit.max_keys",
                "must be at least 1",
            ));
        }
        if let StorageConfig::Sqlite { path } = &self.storage
            && path.is_empty()
        {
            return Err(ConfigError::new("storage.sqlite.path", "must not be empty"));
        }
        Ok(Settings {
            issuer: self.issuer.clone(),
            keys,
            resources,
            access_token_seconds,
            refresh_token_seconds,
            refresh_family_seconds,
            code_seconds,
            consent_seconds,
            registration_enabled: self.registration.enabled,
            initial_access_tokens,
            client_credentials: self.client_credentials,
            register_limit,
            token_limit,
            max_keys: self.rate_limit.max_keys,
            storage: self.storage.clone(),
        })
    }
}

/// Whether `url`'s host is a loopback name or address.
pub(crate) fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn check_issuer(issuer: &str) -> Result<(), String> {
    let url = Url::parse(issuer).map_err(|e| format!("{issuer:?} is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        _ => {
            return Err(format!(
                "{issuer:?} must be an https URL (http only on a loopback host)"
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{issuer:?} must have no query and no fragment (RFC 8414 §2)"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{issuer:?} must not hold credentials"));
    }
    Ok(())
}

fn check_resource(resource: &str) -> Result<(), String> {
    let url = Url::parse(resource).map_err(|e| format!("{resource:?} is not a URL: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "{resource:?} must not have a fragment (RFC 8707 §2)"
        ));
    }
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("{resource:?} must be an https (or http) URI"));
    }
    Ok(())
}

fn default_true() -> bool {
    true
}
fn default_access() -> u64 {
    3600
}
fn default_refresh() -> u64 {
    1_209_600
}
fn default_family() -> u64 {
    2_592_000
}
fn default_code() -> u64 {
    60
}
fn default_consent() -> u64 {
    600
}
fn default_max_keys() -> usize {
    10_000
}
fn default_register_limit() -> LimitSpec {
    LimitSpec {
        limit: 20,
        window_seconds: 3600.0,
        algorithm: None,
        burst: None,
    }
}
fn default_token_limit() -> LimitSpec {
    LimitSpec {
        limit: 60,
        window_seconds: 60.0,
        algorithm: None,
        burst: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::from_str;

    const R: &str = "https://mcp.example.com/mcp";

    fn build(json: &str) -> Result<Settings, ConfigError> {
        from_str::<AuthorizationServerConfig>(json)
            .map_err(|e| e.within("authorization_server"))?
            .build(R, None)
    }

    #[test]
    fn defaults_follow_the_documentation() {
        let s = build(r#"{"issuer":"https://auth.example.com"}"#).unwrap();
        assert_eq!(s.access_token_seconds, 3600);
        assert_eq!(s.code_seconds, 60);
        assert_eq!(s.refresh_token_seconds, 1_209_600);
        assert_eq!(s.refresh_family_seconds, 2_592_000);
        assert_eq!(s.resources, [R]);
        assert!(s.registration_enabled && s.client_credentials);
        assert_eq!(s.storage, StorageConfig::Memory {});
        assert_eq!(s.keys.kids().len(), 1, "a key is generated");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        let e =
            build(r#"{"issuer":"https://a.example","registration":{"open":true}}"#).unwrap_err();
        assert_eq!(e.path, "authorization_server.registration.open");
        let e = build(r#"{"issuer":"https://a.example","storage":{"postgres":{}}}"#).unwrap_err();
        assert_eq!(e.path, "authorization_server.storage");
    }

    #[test]
    fn the_redis_storage_takes_no_members_of_its_own() {
        let s = build(r#"{"issuer":"https://a.example","storage":{"redis":{}}}"#).unwrap();
        assert_eq!(s.storage, StorageConfig::Redis {});
        let e =
            build(r#"{"issuer":"https://a.example","storage":{"redis":{"url":"x"}}}"#).unwrap_err();
        assert!(e.path.starts_with("authorization_server.storage"), "{e}");
    }

    #[test]
    fn an_http_issuer_is_refused_unless_loopback() {
        let e = build(r#"{"issuer":"http://auth.example.com"}"#).unwrap_err();
        assert_eq!(e.path, "authorization_server.issuer");
        assert!(build(r#"{"issuer":"http://127.0.0.1:8080"}"#).is_ok());
        let e = build(r#"{"issuer":"https://a.example/?x=1"}"#).unwrap_err();
        assert!(e.message.contains("no query"), "{e}");
    }

    #[test]
    fn lifetimes_out_of_range_name_their_field() {
        let e = build(r#"{"issuer":"https://a.example","authorization_code_seconds":601}"#)
            .unwrap_err();
        assert_eq!(e.path, "authorization_server.authorization_code_seconds");
        let e = build(r#"{"issuer":"https://a.example","access_token_seconds":0}"#).unwrap_err();
        assert_eq!(e.path, "authorization_server.access_token_seconds");
    }

    #[test]
    fn a_signing_key_needs_exactly_one_source_and_must_be_p256() {
        let e = build(r#"{"issuer":"https://a.example","signing_keys":[{}]}"#).unwrap_err();
        assert_eq!(e.path, "authorization_server.signing_keys[0]");
        let e = build(
            r#"{"issuer":"https://a.example","signing_keys":[{"pem_file":"/nonexistent/k.pem"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "authorization_server.signing_keys[0].pem_file");
        let pem = SigningKey::generate().unwrap().to_pem().unwrap();
        let doc = serde_json::json!({"issuer":"https://a.example","signing_keys":[{"kid":"k1","pem":pem}]});
        let s = build(&doc.to_string()).unwrap();
        assert_eq!(s.keys.kids(), ["k1"]);
    }

    #[test]
    fn initial_access_token_hashes_must_be_hex_sha256() {
        let e = build(
            r#"{"issuer":"https://a.example","registration":{"initial_access_token_sha256":["abc"]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.path,
            "authorization_server.registration.initial_access_token_sha256[0]"
        );
    }

    #[test]
    fn resources_must_be_urls_without_fragment_and_unique() {
        let e =
            build(r#"{"issuer":"https://a.example","resources":["https://x/#f"]}"#).unwrap_err();
        assert_eq!(e.path, "authorization_server.resources[0]");
        let e = build(r#"{"issuer":"https://a.example","resources":["https://x/","https://x/"]}"#)
            .unwrap_err();
        assert_eq!(e.path, "authorization_server.resources[1]");
    }
}
