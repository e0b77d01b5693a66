//! [`TokenValidator`]: the JWT check, built once from configuration.
//!
//! See the [module doc](super) for the order of checks. The validator is
//! immutable after it is built except for key rotation
//! ([`TokenValidator::set_jwks`]), which swaps an issuer's whole key set at
//! once: a validation sees the old set or the new one, never a mix.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::RwLock;

use super::audience::{audience_allowed, has_fragment, same_audience};
use super::cache::{DEFAULT_MAX_TTL_SECS, TokenCache};
use super::claims::{REGISTERED, parse_claims};
use super::config::{AuthConfig, FetchConfig, IntrospectionFailure, IssuerConfig};
use super::error::{KeyError, TokenError};
use super::introspection::{IntrospectionContext, validate_introspection};
use super::jws::{
    Algorithm, decode_segment, read_header, signing_input, split_compact, stack_buffer,
    verify_signature,
};
use super::keys::{JwkSet, KeySet};
use super::members::StrList;
use super::opaque::{OpaqueEntry, OpaqueError, OpaqueStore, is_opaque_candidate};
use super::pending::{Pending, Write};
use super::remote::{
    Flights, IntrospectionCache, Introspector, KeyRefresh, RemoteCounters, RemoteCounts,
    check_fetch_url,
};
use super::revocation::{RevocationError, RevocationList, shared_jti_id, shared_token_id};
use super::{Principal, TokenKind, token_fingerprint};
use crate::clock::{Clock, SystemClock};
use crate::error::ConfigError;
use crate::reason::Reason;
use crate::shared::{OnError, REVOCATION_BOUND_NANOS, SharedTokenStore};

/// A hook run on every freshly verified principal (before any caching):
/// the Guard fills `tags` and `rejected_scopes` with it.
pub type GrantsHook = Arc<dyn Fn(&mut Principal) + Send + Sync>;

/// Opaque tokens held by default when `auth.opaque_tokens` is on.
pub const DEFAULT_OPAQUE_CAPACITY: usize = 100_000;

/// The default time between two JWKS refresh hints for one issuer.
pub const DEFAULT_REFRESH_COOLDOWN: Duration = Duration::from_secs(60);

/// Validates JWT access tokens against the configured issuers.
/// `Send + Sync`; clones share one state and are cheap.
#[derive(Clone)]
pub struct TokenValidator {
    inner: Arc<Inner>,
}

struct Inner {
    issuers: Vec<IssuerState>,
    leeway: i64,
    max_token_bytes: usize,
    /// Lowercase, without `application/`.
    require_typ: Option<String>,
    required_scopes: Vec<String>,
    role_claim: Option<String>,
    clock: Arc<dyn Clock>,
    grants: Option<GrantsHook>,
    refresh_cooldown_nanos: u64,
    generation: AtomicU64,
    required: bool,
    /// This server's resource URI: the audience opaque tokens must name.
    resource: String,
    cache: TokenCache,
    revocations: RevocationList,
    /// Present when `auth.opaque_tokens` is on.
    opaque: Option<OpaqueStore>,
    /// Bumped by every key rotation and revocation, before the cache is
    /// scanned: a validation that began under an older epoch does not cache
    /// its result (see [`TokenCache::insert_if`]).
    epoch: AtomicU64,
    /// Whether fresh principals carry a token fingerprint.
    fingerprints: bool,
    /// Present when an issuer configures `introspection`.
    introspection: Option<IntrospectionSettings>,
    /// What a fetcher attached (see [`super::remote`]).
    hooks: RwLock<Hooks>,
    /// What the remote sources did.
    remote_counters: RemoteCounters,
    /// Revocations and opaque tokens shared with other replicas.
    shared: Option<SharedTokens>,
}

/// The introspecting issuer's settings and its answers.
struct IntrospectionSettings {
    cache_seconds: i64,
    on_error: Reason,
    /// How long a request waits for another's call with the same token
    /// (`auth.fetch.timeout_ms`, the call's own bound).
    wait: std::time::Duration,
    answers: IntrospectionCache,
    flights: Flights,
}

#[derive(Default)]
struct Hooks {
    refresh: Option<Arc<dyn KeyRefresh>>,
    introspector: Option<Arc<dyn Introspector>>,
}

/// A [`TokenValidator`] that does not keep it alive (for a fetcher's
/// thread, which must stop once the validator is gone).
#[derive(Clone)]
pub struct WeakTokenValidator {
    inner: Weak<Inner>,
}

impl fmt::Debug for WeakTokenValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakTokenValidator")
    }
}

impl WeakTokenValidator {
    /// The validator, while some clone of it is alive.
    pub fn upgrade(&self) -> Option<TokenValidator> {
        self.inner.upgrade().map(|inner| TokenValidator { inner })
    }
}

/// A shared token store and what this process last saw of it.
struct SharedTokens {
    store: Arc<dyn SharedTokenStore>,
    /// The revocation epoch last read (`u64::MAX`: never).
    seen_epoch: AtomicU64,
    /// The epoch last read successfully (`u64::MAX`: never), kept across
    /// failed reads: to notice the store lost its state while it was away.
    last_epoch: AtomicU64,
    /// When (clock nanoseconds) the epoch is due to be read again.
    next_poll: AtomicU64,
    /// Writes the store did not take yet, replayed in order.
    pending: Pending,
}

/// The refusal of a token that could not be checked against the shared store.
fn store_unavailable() -> TokenError {
    TokenError::new(
        Reason::StoreUnavailable,
        "the shared revocation store is unavailable",
    )
}

/// A key that is part of the configuration rather than of the JWK Set, so
/// that it survives rotation.
enum StaticKey {
    Pem {
        kid: String,
        alg: String,
        pem: String,
    },
    Secret {
        kid: Option<String>,
        alg: Algorithm,
        secret: Vec<u8>,
    },
}

struct IssuerState {
    issuer: String,
    algorithms: Option<Vec<Algorithm>>,
    audiences: Vec<String>,
    static_keys: Vec<StaticKey>,
    keys: RwLock<Arc<KeySet>>,
    generation: AtomicU64,
    last_hint_nanos: AtomicU64,
    /// Keys come from `jwks_uri` or discovery (through a fetcher).
    remote: bool,
}

const NEVER: u64 = u64::MAX;

/// An HMAC secret given through the builder: `(kid, alg, secret)`.
type HmacSecret = (Option<String>, Algorithm, Vec<u8>);

impl fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenValidator")
            .field("issuers", &self.issuers())
            .field("leeway_seconds", &self.inner.leeway)
            .field("max_token_bytes", &self.inner.max_token_bytes)
            .field("require_typ", &self.inner.require_typ)
            .field("required_scopes", &self.inner.required_scopes)
            .field("role_claim", &self.inner.role_claim)
            .finish_non_exhaustive()
    }
}

impl StaticKey {
    fn add_to(&self, keys: &mut KeySet) -> Result<(), KeyError> {
        match self {
            StaticKey::Pem { kid, alg, pem } => keys.add_pem(kid, alg, pem),
            StaticKey::Secret { kid, alg, secret } => {
                keys.add_hmac_secret(kid.as_deref(), *alg, secret)
            }
        }
    }
}

impl IssuerState {
    /// The issuer's static keys plus `jwks`, checked together (a `kid`
    /// may not repeat across them).
    fn combine(&self, jwks: KeySet) -> Result<KeySet, KeyError> {
        let mut keys = KeySet::new();
        for k in &self.static_keys {
            k.add_to(&mut keys)?;
        }
        keys.extend_from(jwks, "")?;
        Ok(keys)
    }
}

/// Settings for one issuer, for [`TokenValidatorBuilder::issuer`].
pub struct IssuerBuilder {
    config: IssuerConfig,
    secrets: Vec<HmacSecret>,
    error: Option<ConfigError>,
}

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaticKey::Pem { kid, alg, .. } => write!(f, "Pem({kid:?}, {alg})"),
            StaticKey::Secret { kid, alg, .. } => write!(f, "Secret({kid:?}, {alg})"),
        }
    }
}

impl fmt::Debug for IssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print HMAC secrets.
        f.debug_struct("IssuerBuilder")
            .field("config", &self.config)
            .field("hmac_secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl IssuerBuilder {
    /// An issuer whose tokens carry exactly this `iss`.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            config: IssuerConfig {
                issuer: issuer.into(),
                jwks: None,
                jwks_file: None,
                pem_keys: Vec::new(),
                algorithms: None,
                audiences: None,
                jwks_uri: None,
                discovery: false,
                introspection: None,
            },
            secrets: Vec::new(),
            error: None,
        }
    }

    /// The issuer's JWK Set as JSON text (errors surface at `build`).
    pub fn jwks_json(mut self, json: &str) -> Self {
        match crate::error::from_str::<JwkSet>(json) {
            Ok(set) => self.config.jwks = Some(set),
            Err(e) => {
                self.error.get_or_insert(e.within("jwks"));
            }
        }
        self
    }

    /// The issuer's JWK Set.
    pub fn jwks(mut self, set: JwkSet) -> Self {
        self.config.jwks = Some(set);
        self
    }

    /// A JWK Set file, relative to the builder's base directory.
    pub fn jwks_file(mut self, path: impl Into<String>) -> Self {
        self.config.jwks_file = Some(path.into());
        self
    }

    /// A PEM public key (SPKI) that verifies `alg` for tokens naming `kid`.
    pub fn pem_key(
        mut self,
        kid: impl Into<String>,
        alg: impl Into<String>,
        pem: impl Into<String>,
    ) -> Self {
        self.config.pem_keys.push(super::config::PemKeyConfig {
            kid: kid.into(),
            alg: alg.into(),
            pem: pem.into(),
        });
        self
    }

    /// An HMAC secret for HS256/384/512 (at least as long as the hash).
    pub fn hmac_secret(mut self, kid: Option<&str>, alg: Algorithm, secret: &[u8]) -> Self {
        self.secrets
            .push((kid.map(str::to_owned), alg, secret.to_vec()));
        self
    }

    /// The algorithms this issuer may use (default: those of its keys).
    pub fn algorithms(mut self, algs: &[Algorithm]) -> Self {
        self.config.algorithms = Some(algs.iter().map(|a| a.name().to_owned()).collect());
        self
    }

    /// Adds an accepted audience (default: the resource).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.config
            .audiences
            .get_or_insert_with(Vec::new)
            .push(aud.into());
        self
    }
}

/// Builds a [`TokenValidator`] from Rust. Shares its checks with
/// [`TokenValidator::from_config`].
///
/// ```
/// use mcpguard::token::{Algorithm, IssuerBuilder, TokenValidator};
/// let v = TokenValidator::builder("https://mcp.example.com/mcp")
///     .issuer(IssuerBuilder::new("https://auth.example.com")
///         .hmac_secret(Some("k1"), Algorithm::HS256, &[7u8; 32]))
///     .leeway_seconds(10)
///     .build()
///     .unwrap();
/// assert_eq!(v.issuers(), ["https://auth.example.com"]);
/// ```
pub struct TokenValidatorBuilder {
    config: AuthConfig,
    resource: String,
    secrets: Vec<Vec<HmacSecret>>,
    errors: Vec<ConfigError>,
    base_dir: Option<PathBuf>,
    clock: Arc<dyn Clock>,
    grants: Option<GrantsHook>,
    refresh_cooldown: Duration,
    cache_max_ttl_secs: u64,
    opaque_capacity: usize,
    fingerprints: bool,
    shared: Option<Arc<dyn SharedTokenStore>>,
}

impl fmt::Debug for TokenValidatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenValidatorBuilder")
            .field("config", &self.config)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl TokenValidatorBuilder {
    /// Adds an issuer.
    pub fn issuer(mut self, issuer: IssuerBuilder) -> Self {
        if let Some(e) = issuer.error {
            let i = self.config.issuers.len();
            self.errors.push(e.within(&format!("issuers[{i}]")));
        }
        self.config.issuers.push(issuer.config);
        self.secrets.push(issuer.secrets);
        self
    }

    /// Clock skew allowed on `exp`, `nbf`, `iat` (default 30 s).
    pub fn leeway_seconds(mut self, seconds: u64) -> Self {
        self.config.leeway_seconds = seconds;
        self
    }

    /// Tokens longer than this are refused before decoding (default 8192).
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.config.max_token_bytes = bytes;
        self
    }

    /// Requires this `typ` header (`at+jwt` equals `application/at+jwt`).
    pub fn require_typ(mut self, typ: impl Into<String>) -> Self {
        self.config.require_typ = Some(typ.into());
        self
    }

    /// Adds a scope every token must carry.
    pub fn required_scope(mut self, scope: impl Into<String>) -> Self {
        self.config.required_scopes.push(scope.into());
        self
    }

    /// The claim listing role names.
    pub fn role_claim(mut self, claim: impl Into<String>) -> Self {
        self.config.role_claim = Some(claim.into());
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The directory `jwks_file` paths are relative to.
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }

    /// A hook run on every freshly verified principal.
    pub fn grants(mut self, hook: GrantsHook) -> Self {
        self.grants = Some(hook);
        self
    }

    /// Minimum time between two JWKS refresh hints for one issuer (default 60 s).
    pub fn refresh_cooldown(mut self, cooldown: Duration) -> Self {
        self.refresh_cooldown = cooldown;
        self
    }

    /// The longest a verified token stays cached, even if its `exp` is later
    /// (default 300 s): bounds how long a revocation the host makes elsewhere
    /// can go unnoticed.
    pub fn cache_max_ttl(mut self, ttl: Duration) -> Self {
        self.cache_max_ttl_secs = ttl.as_secs();
        self
    }

    /// How many opaque tokens the store holds when `opaque_tokens` is on
    /// (default 100,000); an insert beyond it is an error, never a silent drop.
    pub fn opaque_capacity(mut self, capacity: usize) -> Self {
        self.opaque_capacity = capacity;
        self
    }

    /// Whether [`validate`](TokenValidator::validate) gives each fresh
    /// principal a [`token_fingerprint`](Principal::token_fingerprint) (a
    /// SHA-256 of the token, computed once and cached with the principal).
    /// Off by default; the Guard turns it on for its audit events.
    pub fn fingerprints(mut self, on: bool) -> Self {
        self.fingerprints = on;
        self
    }

    /// Shares revocations and opaque tokens with every replica through
    /// `store`: a revocation anywhere is honoured here within
    /// [`REVOCATION_BOUND_NANOS`] (one second).
    pub fn shared_tokens(mut self, store: Arc<dyn SharedTokenStore>) -> Self {
        self.shared = Some(store);
        self
    }

    /// Checks every setting and parses every key.
    pub fn build(self) -> Result<TokenValidator, ConfigError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        let c = &self.config;
        if c.max_token_bytes == 0 {
            return Err(ConfigError::new("max_token_bytes", "must be at least 1"));
        }
        let require_typ = match &c.require_typ {
            Some(t) if normalize_typ(t).is_empty() => {
                return Err(ConfigError::new("require_typ", "must not be empty"));
            }
            Some(t) => Some(normalize_typ(t).to_ascii_lowercase()),
            None => None,
        };
        for (i, s) in c.required_scopes.iter().enumerate() {
            if s.is_empty() || s.contains(' ') {
                return Err(ConfigError::new(
                    format!("required_scopes[{i}]"),
                    "a scope is a non-empty string without spaces",
                ));
            }
        }
        if let Some(rc) = &c.role_claim
            && (rc.is_empty() || REGISTERED.contains(&rc.as_str()))
        {
            return Err(ConfigError::new(
                "role_claim",
                format!(
                    "must name a claim other than the registered ones ({})",
                    REGISTERED.join(", ")
                ),
            ));
        }
        check_fetch_config(&c.fetch).map_err(|e| e.within("fetch"))?;
        let mut introspection = None;
        for (i, ic) in c.issuers.iter().enumerate() {
            if let Some(ix) = &ic.introspection {
                if introspection.is_some() {
                    // An opaque token names no issuer: asking a second server
                    // would hand it tokens meant for the first.
                    return Err(ConfigError::new(
                        format!("issuers[{i}].introspection"),
                        "only one issuer may introspect opaque tokens (a token sent to the wrong server leaks)",
                    ));
                }
                introspection = Some(IntrospectionSettings {
                    cache_seconds: i64::try_from(ix.cache_seconds).unwrap_or(i64::MAX),
                    on_error: match ix.on_error {
                        IntrospectionFailure::StoreUnavailable => Reason::StoreUnavailable,
                        IntrospectionFailure::Inactive => Reason::Inactive,
                    },
                    wait: std::time::Duration::from_millis(c.fetch.timeout_ms),
                    answers: IntrospectionCache::new(c.cache_entries),
                    flights: Flights::default(),
                });
            }
        }
        let mut issuers: Vec<IssuerState> = Vec::with_capacity(c.issuers.len());
        for (i, ic) in c.issuers.iter().enumerate() {
            let secrets = self.secrets.get(i).map(Vec::as_slice).unwrap_or(&[]);
            let state = build_issuer(ic, secrets, &self.resource, self.base_dir.as_deref())
                .map_err(|e| e.within(&format!("issuers[{i}]")))?;
            if issuers.iter().any(|s| s.issuer == state.issuer) {
                return Err(ConfigError::new(
                    format!("issuers[{i}].issuer"),
                    "this issuer is listed twice",
                ));
            }
            issuers.push(state);
        }
        Ok(TokenValidator {
            inner: Arc::new(Inner {
                issuers,
                leeway: i64::try_from(c.leeway_seconds).unwrap_or(i64::MAX),
                max_token_bytes: c.max_token_bytes,
                require_typ,
                required_scopes: c.required_scopes.clone(),
                role_claim: c.role_claim.clone(),
                clock: self.clock,
                grants: self.grants,
                refresh_cooldown_nanos: u64::try_from(self.refresh_cooldown.as_nanos())
                    .unwrap_or(u64::MAX),
                generation: AtomicU64::new(0),
                required: c.required,
                resource: self.resource,
                cache: TokenCache::new(c.cache_entries, self.cache_max_ttl_secs),
                revocations: RevocationList::with_leeway(
                    c.revocation_entries,
                    i64::try_from(c.leeway_seconds).unwrap_or(i64::MAX),
                ),
                opaque: c
                    .opaque_tokens
                    .then(|| OpaqueStore::new(self.opaque_capacity)),
                epoch: AtomicU64::new(0),
                fingerprints: self.fingerprints,
                introspection,
                hooks: RwLock::new(Hooks::default()),
                remote_counters: RemoteCounters::default(),
                shared: self.shared.map(|store| SharedTokens {
                    store,
                    seen_epoch: AtomicU64::new(u64::MAX),
                    last_epoch: AtomicU64::new(u64::MAX),
                    next_poll: AtomicU64::new(0),
                    pending: Pending::default(),
                }),
            }),
        })
    }
}

fn build_issuer(
    ic: &IssuerConfig,
    secrets: &[HmacSecret],
    resource: &str,
    base_dir: Option<&Path>,
) -> Result<IssuerState, ConfigError> {
    if ic.issuer.is_empty() {
        return Err(ConfigError::new("issuer", "must not be empty"));
    }
    let algorithms = match &ic.algorithms {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(ConfigError::new("algorithms", "lists no algorithm"));
        }
        Some(list) => {
            let mut algs = Vec::with_capacity(list.len());
            for (j, name) in list.iter().enumerate() {
                let alg = Algorithm::from_name(name).ok_or_else(|| {
                    let msg = if name.eq_ignore_ascii_case("none") {
                        "\"none\" is never allowed".to_owned()
                    } else {
                        format!(
                            "unknown algorithm {name:?}; known: {}",
                            Algorithm::ALL.map(Algorithm::name).join(", ")
                        )
                    };
                    ConfigError::new(format!("algorithms[{j}]"), msg)
                })?;
                if !algs.contains(&alg) {
                    algs.push(alg);
                }
            }
            Some(algs)
        }
    };
    let audiences = ic
        .audiences
        .clone()
        .unwrap_or_else(|| vec![resource.to_owned()]);
    if audiences.is_empty() {
        return Err(ConfigError::new("audiences", "lists no audience"));
    }
    if let Some(j) = audiences.iter().position(String::is_empty) {
        return Err(ConfigError::new(
            if ic.audiences.is_some() {
                format!("audiences[{j}]")
            } else {
                "audiences".to_owned()
            },
            "an audience must not be empty (set the top-level resource or list audiences)",
        ));
    }
    check_remote(ic)?;
    if let Some(j) = audiences.iter().position(|a| has_fragment(a)) {
        return Err(ConfigError::new(
            if ic.audiences.is_some() {
                format!("audiences[{j}]")
            } else {
                "audiences".to_owned()
            },
            "an audience must not have a fragment (#): an RFC 8707 resource indicator has none, \
             so no token's aud could ever match it",
        ));
    }
    let jwks = match (&ic.jwks, &ic.jwks_file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "jwks_file",
                "give either jwks or jwks_file, not both",
            ));
        }
        (Some(set), None) => {
            let mut keys = KeySet::new();
            keys.add_jwk_set(set, algorithms.as_deref())
                .map_err(|e| e.into_config_error("jwks"))?;
            keys
        }
        (None, Some(file)) => {
            let path = match base_dir {
                Some(dir) => dir.join(file),
                None => PathBuf::from(file),
            };
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::new("jwks_file", format!("cannot read {}: {e}", path.display()))
            })?;
            KeySet::from_jwks_json(&text, algorithms.as_deref())
                .map_err(|e| ConfigError::new("jwks_file", format!("{}: {e}", path.display())))?
        }
        (None, None) => KeySet::new(),
    };
    let mut static_keys = Vec::new();
    for (j, p) in ic.pem_keys.iter().enumerate() {
        let key = StaticKey::Pem {
            kid: p.kid.clone(),
            alg: p.alg.clone(),
            pem: p.pem.clone(),
        };
        // Check each key alone first so the error names its entry.
        key.add_to(&mut KeySet::new())
            .map_err(|e| e.into_config_error(&format!("pem_keys[{j}]")))?;
        static_keys.push(key);
    }
    for (kid, alg, secret) in secrets {
        let key = StaticKey::Secret {
            kid: kid.clone(),
            alg: *alg,
            secret: secret.clone(),
        };
        key.add_to(&mut KeySet::new())
            .map_err(|e| e.into_config_error("hmac_secret"))?;
        static_keys.push(key);
    }
    let mut state = IssuerState {
        issuer: ic.issuer.clone(),
        algorithms,
        audiences,
        static_keys,
        keys: RwLock::new(Arc::new(KeySet::new())),
        generation: AtomicU64::new(0),
        last_hint_nanos: AtomicU64::new(NEVER),
        remote: ic.jwks_uri.is_some() || ic.discovery,
    };
    let keys = state
        .combine(jwks)
        .map_err(|e| e.into_config_error("jwks"))?;
    state.keys = RwLock::new(Arc::new(keys));
    Ok(state)
}

/// The `auth.fetch` bounds.
fn check_fetch_config(f: &FetchConfig) -> Result<(), ConfigError> {
    for (name, value) in [
        ("connect_timeout_ms", f.connect_timeout_ms),
        ("timeout_ms", f.timeout_ms),
        ("max_response_bytes", f.max_response_bytes),
        ("min_refresh_seconds", f.min_refresh_seconds),
    ] {
        if value == 0 {
            return Err(ConfigError::new(name, "must be at least 1"));
        }
    }
    if f.max_refresh_seconds < f.min_refresh_seconds {
        return Err(ConfigError::new(
            "max_refresh_seconds",
            "must not be less than min_refresh_seconds",
        ));
    }
    if let Some(text) = &f.ca_pem {
        let certs = pem::parse_many(text)
            .map_err(|e| ConfigError::new("ca_pem", format!("is not PEM: {e}")))?;
        if !certs.iter().any(|p| p.tag() == "CERTIFICATE") {
            return Err(ConfigError::new(
                "ca_pem",
                "holds no -----BEGIN CERTIFICATE----- block",
            ));
        }
    }
    Ok(())
}

/// An issuer's `jwks_uri`, `discovery` and `introspection`: where keys come
/// from is said once, and every URL is one a fetcher may call.
fn check_remote(ic: &IssuerConfig) -> Result<(), ConfigError> {
    let url =
        |path: &str, value: &str| check_fetch_url(value).map_err(|m| ConfigError::new(path, m));
    if let Some(uri) = &ic.jwks_uri {
        if ic.jwks.is_some() || ic.jwks_file.is_some() {
            return Err(ConfigError::new(
                "jwks_uri",
                "give one of jwks, jwks_file and jwks_uri",
            ));
        }
        if ic.discovery {
            return Err(ConfigError::new(
                "jwks_uri",
                "give either jwks_uri or discovery (which finds the jwks_uri), not both",
            ));
        }
        url("jwks_uri", uri)?;
    }
    if ic.discovery {
        if ic.jwks.is_some() || ic.jwks_file.is_some() {
            return Err(ConfigError::new(
                "discovery",
                "discovery finds the issuer's keys: drop jwks and jwks_file",
            ));
        }
        check_fetch_url(&ic.issuer).map_err(|m| {
            ConfigError::new(
                "discovery",
                format!("needs the issuer to be an https:// URL (http:// only on a loopback host); the issuer {m}"),
            )
        })?;
    }
    if let Some(ix) = &ic.introspection {
        match &ix.endpoint {
            Some(e) => url("introspection.endpoint", e)?,
            None if ic.discovery => {}
            None => {
                return Err(ConfigError::new(
                    "introspection.endpoint",
                    "is required unless discovery is on",
                ));
            }
        }
        if ix.client_id.is_empty() {
            return Err(ConfigError::new(
                "introspection.client_id",
                "must not be empty",
            ));
        }
    }
    Ok(())
}

/// `application/at+jwt` and `at+jwt` are one type (RFC 7515 §4.1.9).
fn normalize_typ(t: &str) -> &str {
    match t.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &t[12..],
        _ => t,
    }
}

impl TokenValidator {
    /// A builder for Rust hosts; `resource` is the default audience.
    pub fn builder(resource: impl Into<String>) -> TokenValidatorBuilder {
        Self::builder_from_config(AuthConfig::default(), resource)
    }

    /// A builder that starts from an `auth` configuration, so a host can add
    /// a clock, a base directory, a grants hook or a refresh cooldown.
    pub fn builder_from_config(
        config: AuthConfig,
        resource: impl Into<String>,
    ) -> TokenValidatorBuilder {
        let secrets = vec![Vec::new(); config.issuers.len()];
        TokenValidatorBuilder {
            config,
            resource: resource.into(),
            secrets,
            errors: Vec::new(),
            base_dir: None,
            clock: Arc::new(SystemClock),
            grants: None,
            refresh_cooldown: DEFAULT_REFRESH_COOLDOWN,
            cache_max_ttl_secs: DEFAULT_MAX_TTL_SECS,
            opaque_capacity: DEFAULT_OPAQUE_CAPACITY,
            shared: None,
            fingerprints: false,
        }
    }

    /// Builds the validator from the JSON text of an `auth` object (what the
    /// bindings' `TokenValidator` takes), with `resource` as the default
    /// audience. Errors name their path inside the object.
    pub fn from_json(
        auth_json: &str,
        resource: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<TokenValidator, ConfigError> {
        let config: AuthConfig = crate::error::from_str(auth_json)?;
        Self::from_config(&config, resource, None, clock)
    }

    /// Builds the validator from the `auth` object. `resource` is the
    /// top-level `resource` (the default audience); `base_dir` is where
    /// `jwks_file` paths start (reading those files is the only I/O). Error
    /// paths are relative to `auth` (`issuers[0].jwks.keys[2].crv`).
    pub fn from_config(
        config: &AuthConfig,
        resource: &str,
        base_dir: Option<&Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<TokenValidator, ConfigError> {
        let mut b = Self::builder_from_config(config.clone(), resource).clock(clock);
        if let Some(dir) = base_dir {
            b = b.base_dir(dir);
        }
        b.build()
    }

    /// Validates a bare token (no `Bearer ` prefix): the verified-token
    /// cache first, then the opaque store (when `opaque_tokens` is on and the
    /// token has no dot) or the full JWT check, then the revocation list.
    pub fn validate(&self, token: &str) -> Result<Arc<Principal>, TokenError> {
        self.validate_traced(token).0
    }

    /// As [`validate`](Self::validate), also saying whether the cache
    /// answered (for the host's counters).
    pub fn validate_traced(&self, token: &str) -> (Result<Arc<Principal>, TokenError>, bool) {
        self.validate_traced_at(token, self.inner.clock.now_nanos())
    }

    /// [`validate_traced`](Self::validate_traced) at `now_nanos`, a reading
    /// of this validator's clock the caller took for the whole request (the
    /// Guard reads the clock once per request, not once per engine).
    pub(crate) fn validate_traced_at(
        &self,
        token: &str,
        now_nanos: u64,
    ) -> (Result<Arc<Principal>, TokenError>, bool) {
        let s = &*self.inner;
        if token.len() > s.max_token_bytes {
            return (Err(too_large()), false);
        }
        if let Err(e) = self.poll_shared_epoch(now_nanos) {
            return (Err(e), false);
        }
        let now = crate::clock::whole_secs(now_nanos);
        if let Some(p) = s.cache.get(token, now) {
            return (Ok(p), true);
        }
        let epoch = s.epoch.load(Ordering::Acquire);
        let opaque = is_opaque_candidate(token);
        let result = match &s.opaque {
            Some(store) if opaque => self
                .lookup_opaque(store, token, now)
                .map_err(|(reason, description)| TokenError::new(reason, description))
                .and_then(|p| self.finish_non_jwt(p)),
            _ if opaque && s.introspection.is_some() => {
                Err(TokenError::from_reason(Reason::Inactive))
            }
            _ => self
                .verify_jwt(token)
                .and_then(|p| self.check_shared_revocation(token, p)),
        };
        // A token the opaque store does not know may be the introspecting
        // issuer's: its answers have their own cache (by SHA-256).
        if let (Err(e), Some(intro)) = (&result, &s.introspection)
            && opaque
            && e.reason == Reason::Inactive
        {
            return (self.introspected(token, now, intro), false);
        }
        let result = result.map(|mut p| {
            if s.fingerprints {
                p.token_fingerprint = Some(Arc::from(token_fingerprint(token)));
            }
            let p = Arc::new(p);
            s.cache.insert_if(token, Arc::clone(&p), now, || {
                s.epoch.load(Ordering::Acquire) == epoch
            });
            p
        });
        (result, false)
    }

    /// [`validate_traced_at`](Self::validate_traced_at) when it can answer
    /// from memory alone, and so without waiting on anything: the token is
    /// in the verified-token cache and no read of the shared revocation
    /// epoch is due (or it is too large to read at all). `None` otherwise
    /// (a signature to check, a key set to fetch, a store or an
    /// introspection endpoint to ask, the epoch to read): nothing was done
    /// then, and `validate_traced_at` answers.
    pub(crate) fn validate_in_memory_at(
        &self,
        token: &str,
        now_nanos: u64,
    ) -> Option<Result<Arc<Principal>, TokenError>> {
        let s = &*self.inner;
        if token.len() > s.max_token_bytes {
            return Some(Err(too_large()));
        }
        if let Some(sh) = &s.shared
            && now_nanos >= sh.next_poll.load(Ordering::Acquire)
        {
            return None;
        }
        let now = crate::clock::whole_secs(now_nanos);
        s.cache.get(token, now).map(Ok)
    }

    /// Reads the shared revocation epoch when it is due (at most once per
    /// [`REVOCATION_BOUND_NANOS`]; one thread claims each poll) and drops
    /// the whole verified-token cache when it moved.
    fn poll_shared_epoch(&self, now: u64) -> Result<(), TokenError> {
        let s = &*self.inner;
        let Some(sh) = &s.shared else { return Ok(()) };
        let due = sh.next_poll.load(Ordering::Acquire);
        if now < due
            || sh
                .next_poll
                .compare_exchange(
                    due,
                    now.saturating_add(REVOCATION_BOUND_NANOS),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_err()
        {
            return Ok(());
        }
        match sh.store.epoch() {
            Ok(epoch) => {
                if sh.seen_epoch.swap(epoch, Ordering::AcqRel) != epoch {
                    self.invalidate(TokenCache::clear);
                }
                // The store lost what it held: what this process wrote to
                // it (and still holds) goes again, with the replay below.
                let before = sh.last_epoch.swap(epoch, Ordering::AcqRel);
                if crate::shared::epoch_lost(before, epoch) {
                    sh.pending.restore(s.clock.now_secs());
                }
                // The store answers: what it missed while it did not goes
                // now, and a backlog keeps the next request polling.
                if sh.pending.replay(&*sh.store, s.clock.now_secs()) {
                    sh.next_poll.store(0, Ordering::Release);
                }
                Ok(())
            }
            Err(_) => {
                // Nothing cached may be trusted longer than the bound.
                self.invalidate(TokenCache::clear);
                sh.seen_epoch.store(u64::MAX, Ordering::Release);
                match sh.store.on_error() {
                    OnError::FailClosed => {
                        // Try again on the next request, not in a second.
                        sh.next_poll.store(0, Ordering::Release);
                        Err(store_unavailable())
                    }
                    OnError::FailOpen | OnError::Local => Ok(()),
                }
            }
        }
    }

    /// A verified JWT, refused when a replica revoked it (by `jti` or whole).
    fn check_shared_revocation(&self, token: &str, p: Principal) -> Result<Principal, TokenError> {
        let Some(sh) = &self.inner.shared else {
            return Ok(p);
        };
        let mut ids = vec![shared_token_id(token)];
        if let Some(jti) = &p.jwt_id {
            ids.push(shared_jti_id(&p.issuer, jti));
        }
        match sh.store.any_revoked(&ids) {
            Ok(false) => Ok(p),
            Ok(true) => Err(TokenError::from_reason(Reason::Revoked)),
            Err(_) if sh.store.on_error() == OnError::FailClosed => Err(store_unavailable()),
            Err(_) => Ok(p),
        }
    }

    /// An opaque token: this process's store, then the shared one.
    fn lookup_opaque(
        &self,
        store: &OpaqueStore,
        token: &str,
        now: i64,
    ) -> Result<Principal, (Reason, &'static str)> {
        let s = &*self.inner;
        let audience_ok = |aud: &str| same_audience(aud, &s.resource);
        let local = store.lookup(token, now, s.leeway, &audience_ok);
        let Some(sh) = &s.shared else { return local };
        if !matches!(local, Err((Reason::Inactive, _))) {
            return local;
        }
        let unavailable = (
            Reason::StoreUnavailable,
            "the shared opaque-token store is unavailable",
        );
        let digest = opaque_digest(token);
        let entry = match sh.store.lookup_opaque(&digest) {
            Ok(Some(json)) => json,
            Ok(None) => return local,
            Err(_) if sh.store.on_error() == OnError::FailClosed => return Err(unavailable),
            Err(_) => return local,
        };
        // A stored entry that no longer parses is not a grant.
        let entry = OpaqueEntry::from_json(&entry).map_err(|_| local_inactive())?;
        let one = OpaqueStore::new(1);
        one.insert(token, entry, now)
            .map_err(|_| local_inactive())?;
        one.lookup(token, now, s.leeway, &audience_ok)
    }

    /// Whether the verified-token cache holds `token` now (unexpired): a
    /// [`validate`](Self::validate) of it would then be a lookup, not a
    /// signature check. Revocation and key rotation drop entries, so a hit
    /// stays a valid answer.
    pub fn is_cached(&self, token: &str) -> bool {
        let s = &*self.inner;
        token.len() <= s.max_token_bytes && s.cache.get(token, s.clock.now_secs()).is_some()
    }

    /// An opaque token answered by the introspecting issuer: its kept
    /// answer, else one call through the attached [`Introspector`] (shared
    /// by concurrent requests with the same token). A local revocation wins
    /// over any answer; a failed call is the configured refusal, never an
    /// admission.
    fn introspected(
        &self,
        token: &str,
        now: i64,
        intro: &IntrospectionSettings,
    ) -> Result<Arc<Principal>, TokenError> {
        let s = &*self.inner;
        // The revocation list is the authority: checked before any kept
        // answer, so one kept just as its token was revoked is never served.
        if s.revocations.is_token_revoked(token, now) {
            return Err(TokenError::from_reason(Reason::Revoked));
        }
        if let Some(p) = intro.answers.get(token, now) {
            return Ok(p);
        }
        let unavailable = TokenError::new(
            intro.on_error,
            "the authorization server's introspection endpoint did not answer",
        );
        intro
            .flights
            .run(token, unavailable.clone(), intro.wait, || {
                // A call that just finished may have kept an answer.
                if let Some(p) = intro.answers.get(token, now) {
                    return Ok(p);
                }
                let introspector = s.hooks.read().introspector.clone();
                let Some(introspector) = introspector else {
                    return Err(TokenError::new(
                        intro.on_error,
                        "no introspection client is attached to answer for opaque tokens",
                    ));
                };
                RemoteCounters::bump(&s.remote_counters.introspection_calls);
                let body = introspector.introspect(token).map_err(|_| {
                    RemoteCounters::bump(&s.remote_counters.introspection_failures);
                    unavailable.clone()
                })?;
                let mut principal = self.validate_introspection(&body)?;
                if s.fingerprints {
                    principal.token_fingerprint = Some(Arc::from(token_fingerprint(token)));
                }
                let principal = Arc::new(principal);
                if s.revocations.is_token_revoked(token, now) {
                    return Err(TokenError::from_reason(Reason::Revoked));
                }
                let keep = now.saturating_add(intro.cache_seconds);
                let until = principal.expires_at.map_or(keep, |exp| exp.min(keep));
                intro
                    .answers
                    .insert(token, Arc::clone(&principal), until, now);
                Ok(principal)
            })
    }

    /// Attaches (or, with `None`, detaches) the hook told about refresh
    /// hints. Replaces the previous one.
    pub fn set_key_refresh(&self, hook: Option<Arc<dyn KeyRefresh>>) {
        self.inner.hooks.write().refresh = hook;
    }

    /// Attaches (or detaches) the client that calls the introspection
    /// endpoint. Replaces the previous one.
    pub fn set_introspector(&self, hook: Option<Arc<dyn Introspector>>) {
        self.inner.hooks.write().introspector = hook;
    }

    /// Whether validating a token may wait on the network: revocations and
    /// opaque tokens live in a shared store, or an introspector is attached
    /// (it is called on the request's thread for an unknown opaque token).
    pub fn waits_on_network(&self) -> bool {
        self.inner.shared.is_some() || self.inner.hooks.read().introspector.is_some()
    }

    /// Counts one JWK Set fetch by a fetcher: accepted, or failed (the
    /// keys in force stayed). For the Guard's counters.
    pub fn count_fetch(&self, accepted: bool) {
        let c = &self.inner.remote_counters;
        RemoteCounters::bump(if accepted {
            &c.jwks_fetches
        } else {
            &c.jwks_fetch_failures
        });
    }

    /// What the remote sources did so far.
    pub fn remote_counts(&self) -> RemoteCounts {
        let mut counts = self.inner.remote_counters.snapshot(self.generation());
        if let Some(sh) = &self.inner.shared {
            let p = sh.pending.counts();
            counts.shared_writes_waiting = p.waiting;
            counts.shared_writes_replayed = p.replayed;
            counts.shared_writes_dropped = p.dropped;
            counts.shared_store_resets = p.restored;
        }
        counts
    }

    /// Whether an issuer configures `introspection`.
    pub fn introspects(&self) -> bool {
        self.inner.introspection.is_some()
    }

    /// Introspection answers kept now (expired ones included until pushed out).
    pub fn introspection_answers(&self) -> usize {
        self.inner
            .introspection
            .as_ref()
            .map_or(0, |i| i.answers.len())
    }

    /// A handle that does not keep the validator alive.
    pub fn downgrade(&self) -> WeakTokenValidator {
        WeakTokenValidator {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// Turns an RFC 7662 introspection response the host fetched into a
    /// principal: `active` must be true, times are checked with the leeway,
    /// `iss` (when present) must be a configured issuer (any, when none is
    /// configured), `aud` (when present) must name this resource or an
    /// issuer's audience; then `required_scopes` and the grants hook apply.
    /// Not cached (the host decides how long to trust a response).
    pub fn validate_introspection(&self, response_json: &str) -> Result<Principal, TokenError> {
        let s = &*self.inner;
        let issuer_ok =
            |iss: &str| s.issuers.is_empty() || s.issuers.iter().any(|i| i.issuer == iss);
        let audience_ok = |aud: &str| {
            same_audience(aud, &s.resource)
                || s.issuers
                    .iter()
                    .any(|i| audience_allowed([aud], &i.audiences))
        };
        let ctx = IntrospectionContext {
            now_secs: s.clock.now_secs(),
            leeway_secs: s.leeway,
            issuer_ok: &issuer_ok,
            audience_ok: &audience_ok,
            role_claim: s.role_claim.as_deref(),
        };
        let principal = validate_introspection(response_json, &ctx)
            .map_err(|e| TokenError::new(e.reason, e.description))?;
        self.finish_non_jwt(principal)
    }

    /// Adds an opaque token to the store (when `opaque_tokens` is on). The
    /// store keeps the token's SHA-256, never the token.
    pub fn insert_opaque(&self, token: &str, entry: OpaqueEntry) -> Result<(), OpaqueError> {
        let s = &*self.inner;
        let store = s.opaque.as_ref().ok_or(OpaqueError::Disabled)?;
        let now = s.clock.now_secs();
        if let Some(sh) = &s.shared {
            let json = serde_json::to_string(&entry).map_err(|_| OpaqueError::InvalidToken)?;
            store.insert(token, entry.clone(), now)?;
            let until = entry
                .expires_at
                .map(|exp| exp.saturating_add(s.leeway).max(now.saturating_add(1)));
            let write = Write::InsertOpaque {
                digest: opaque_digest(token),
                entry_json: json,
                until,
            };
            if sh.pending.submit(&*sh.store, write, now).is_err()
                && sh.store.on_error() == OnError::FailClosed
            {
                return Err(OpaqueError::StoreUnavailable);
            }
        } else {
            store.insert(token, entry, now)?;
        }
        // A re-inserted token must not keep its old cached principal.
        self.invalidate(|cache| {
            cache.remove(token);
        });
        Ok(())
    }

    /// Revokes a token the host was handed (e.g. at an RFC 7009 endpoint).
    /// A JWT is verified first, so a forged token cannot revoke someone
    /// else's `jti`; it is then revoked by `jti` (or, without one, by its
    /// signing input `header.payload`, so that every valid signature over
    /// the same claims is revoked with it, see
    /// [`RevocationList`]) until it would have expired anyway. An opaque token is removed
    /// from the store. A token already expired, revoked or unknown to the
    /// opaque store needs nothing and succeeds. Cached validations of it are
    /// dropped at once.
    pub fn revoke(&self, token: &str) -> Result<(), RevokeError> {
        let s = &*self.inner;
        if is_opaque_candidate(token) && (s.opaque.is_some() || s.introspection.is_some()) {
            if let Some(store) = &s.opaque {
                store.revoke(token);
            }
            if let Some(intro) = &s.introspection {
                // Held until the kept answer's `exp` (unknown: until
                // unrevoked), so a later answer saying `active` is refused.
                let exp = intro
                    .answers
                    .get(token, s.clock.now_secs())
                    .and_then(|p| p.expires_at);
                s.revocations.revoke_token(token, exp, s.clock.now_secs())?;
            }
            self.invalidate(|cache| {
                if let Some(intro) = &s.introspection {
                    intro.answers.remove(token);
                }
                cache.remove(token);
            });
            if let Some(sh) = &s.shared {
                let write = Write::RemoveOpaque {
                    digest: opaque_digest(token),
                };
                self.shared_result(sh, write)?;
            }
            return Ok(());
        }
        let principal = match self.verify_jwt(token) {
            Ok(p) => p,
            Err(e) if matches!(e.reason, Reason::Expired | Reason::Revoked) => return Ok(()),
            Err(e) => return Err(RevokeError::InvalidToken(e)),
        };
        let now = s.clock.now_secs();
        // verify_jwt only accepts tokens with an `exp`.
        let exp = principal.expires_at.unwrap_or(i64::MAX);
        // verify_jwt accepted it, so it is a compact JWS.
        let signed = signing_input(token).unwrap_or(token);
        match &principal.jwt_id {
            Some(jti) => {
                s.revocations.revoke_jti(&principal.issuer, jti, exp, now)?;
                self.invalidate(|cache| {
                    cache.invalidate_jti(&principal.issuer, jti);
                    cache.invalidate_signing_input(signed);
                });
            }
            None => {
                // By signing input, not by the token's bytes: another valid
                // signature over the same claims (ECDSA's `(r, n − s)`) must
                // stay revoked, in the list and in the cache alike.
                s.revocations.revoke_token(token, Some(exp), now)?;
                self.invalidate(|cache| {
                    cache.invalidate_signing_input(signed);
                });
            }
        }
        if let Some(sh) = &s.shared {
            let id = match &principal.jwt_id {
                Some(jti) => shared_jti_id(&principal.issuer, jti),
                None => shared_token_id(token),
            };
            // Held for at least a second from now, as long as the token
            // (with the leeway) could still be admitted.
            let until = exp.saturating_add(s.leeway).max(now.saturating_add(1));
            self.shared_result(
                sh,
                Write::Revoke {
                    id,
                    until: Some(until),
                },
            )?;
        }
        Ok(())
    }

    /// Makes a revocation's shared write (after any that wait); its
    /// failure, by policy: an error under `fail_closed` (the change holds in
    /// this process and is queued for the store), else nothing.
    fn shared_result(&self, sh: &SharedTokens, write: Write) -> Result<(), RevokeError> {
        match sh
            .pending
            .submit(&*sh.store, write, self.inner.clock.now_secs())
        {
            Ok(Some(epoch)) => {
                // The store holds this epoch now: remember it, so that a
                // loss right after this write (before the next poll) is
                // noticed.
                sh.last_epoch.store(epoch, Ordering::Release);
                Ok(())
            }
            Err(e) if sh.store.on_error() == OnError::FailClosed => {
                Err(RevokeError::StoreUnavailable(e.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// Revokes a JWT by issuer and `jti` without the token itself (a host
    /// that keeps its own records), until `expires_at` (plus leeway).
    pub fn revoke_jti(&self, issuer: &str, jti: &str, expires_at: i64) -> Result<(), RevokeError> {
        let s = &*self.inner;
        let now = s.clock.now_secs();
        s.revocations.revoke_jti(issuer, jti, expires_at, now)?;
        self.invalidate(|cache| {
            cache.invalidate_jti(issuer, jti);
        });
        if let Some(sh) = &s.shared {
            let until = expires_at.saturating_add(s.leeway);
            if until >= now {
                let write = Write::Revoke {
                    id: shared_jti_id(issuer, jti),
                    until: Some(until.max(now.saturating_add(1))),
                };
                self.shared_result(sh, write)?;
            }
        }
        Ok(())
    }

    /// Bumps the epoch, then lets `f` drop cache entries (the order the
    /// cache's `insert_if` relies on).
    fn invalidate(&self, f: impl FnOnce(&TokenCache)) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        f(&self.inner.cache);
    }

    /// The checks every token kind shares after its own: required scopes,
    /// then the grants hook.
    fn finish_non_jwt(&self, mut principal: Principal) -> Result<Principal, TokenError> {
        let s = &*self.inner;
        check_required_scopes(&s.required_scopes, &principal.scopes)?;
        if let Some(hook) = &s.grants {
            hook(&mut principal);
        }
        Ok(principal)
    }

    /// The full, uncached check of a JWT (see the [module doc](super) for
    /// the order), then the grants hook.
    pub fn verify_jwt(&self, token: &str) -> Result<Principal, TokenError> {
        let s = &*self.inner;
        if token.len() > s.max_token_bytes {
            return Err(too_large());
        }
        let parts = split_compact(token)?;
        let header = read_header(parts.header)?;
        if let Some(required) = &s.require_typ {
            let ok = header
                .typ
                .as_deref()
                .is_some_and(|t| normalize_typ(t).eq_ignore_ascii_case(required));
            if !ok {
                return Err(TokenError::new(
                    Reason::WrongType,
                    "the token's typ header is not the required access-token type",
                ));
            }
        }
        // Stack buffers sized for ordinary tokens, left uninitialised (the
        // decoder writes what it returns); larger segments spill to the heap.
        let mut payload_stack = stack_buffer::<1024>();
        let mut payload_heap = Vec::new();
        let payload = decode_segment(
            parts.payload,
            &mut payload_stack,
            &mut payload_heap,
            "the token payload is not canonical base64url",
        )?;
        let mut sig_stack = stack_buffer::<512>();
        let mut sig_heap = Vec::new();
        let signature = decode_segment(
            parts.signature,
            &mut sig_stack,
            &mut sig_heap,
            "the token signature is not canonical base64url",
        )?;
        let Ok(claims_text) = std::str::from_utf8(payload) else {
            return Err(malformed("the token payload is not UTF-8"));
        };
        let claims = parse_claims(claims_text, s.role_claim.as_deref()).map_err(|_| {
            malformed("the token claims are not a JSON object with well-typed registered claims")
        })?;

        // The issuer named by the (not yet trusted) claims only chooses
        // which keys may verify the token.
        let Some(iss) = &claims.iss else {
            return Err(TokenError::new(
                Reason::MissingClaim,
                "the token has no iss claim",
            ));
        };
        let Some(issuer) = s.issuers.iter().find(|i| i.issuer == iss.as_str()) else {
            return Err(TokenError::from_reason(Reason::WrongIssuer));
        };
        let keys = Arc::clone(&issuer.keys.read());
        let verifier = keys
            .select(
                header.kid.as_deref(),
                header.alg,
                issuer.algorithms.as_deref(),
            )
            .map_err(|mut e| {
                // An unknown kid, or an alg no current key verifies while the
                // issuer's algorithms come from its keys, may mean the issuer
                // rotated: hint the host to refetch (rate-limited).
                let stale = e.reason == Reason::UnknownKey
                    || (issuer.algorithms.is_none()
                        && e.reason == Reason::AlgorithmNotAllowed
                        && !keys.supports(header.alg));
                if stale && issuer.remote && keys.is_empty() {
                    // Keys come from the issuer and none has arrived yet:
                    // the key is unknown, whatever the algorithm.
                    e.reason = Reason::UnknownKey;
                    e.description = Cow::Borrowed("no keys of this issuer are known yet");
                }
                if stale {
                    e.refresh_jwks = self.refresh_hint(issuer);
                    if e.refresh_jwks.is_some() {
                        let hook = s.hooks.read().refresh.clone();
                        if let Some(hook) = hook {
                            hook.refresh(&issuer.issuer);
                        }
                    }
                }
                e
            })?;
        verify_signature(verifier, parts.signing_input.as_bytes(), signature)?;

        // From here on the claims are trusted.
        let now = s.clock.now_secs();
        let Some(exp) = claims.exp else {
            return Err(TokenError::new(
                Reason::MissingClaim,
                "the token has no exp claim",
            ));
        };
        if now >= exp.floor.saturating_add(s.leeway) {
            return Err(TokenError::from_reason(Reason::Expired));
        }
        let latest = now.saturating_add(s.leeway);
        if claims.nbf.is_some_and(|nbf| nbf.ceil > latest) {
            return Err(TokenError::new(
                Reason::NotYetValid,
                "the access token is not valid yet (nbf)",
            ));
        }
        if claims.iat.is_some_and(|iat| iat.ceil > latest) {
            return Err(TokenError::new(
                Reason::NotYetValid,
                "the access token was issued in the future (iat)",
            ));
        }
        let Some(aud) = &claims.aud else {
            return Err(TokenError::new(
                Reason::MissingClaim,
                "the token has no aud claim",
            ));
        };
        if !audience_allowed(aud.iter(), &issuer.audiences) {
            return Err(TokenError::from_reason(Reason::WrongAudience));
        }
        let scopes: Vec<String> = match (&claims.scope, &claims.scp) {
            (Some(scope), _) => split_spaces(scope.as_str()),
            (None, Some(StrList::One(s))) => split_spaces(s.as_str()),
            (None, Some(StrList::Many(list))) => {
                list.iter().map(|s| s.as_str().to_owned()).collect()
            }
            (None, None) => Vec::new(),
        };
        // Revocation is checked once the token is known to be genuine and
        // current: a revoked token is `revoked`, whatever it asks for. A
        // whole-token revocation names the signing input, so another valid
        // signature of a revoked token is revoked too.
        let revoked = claims.jti.as_ref().is_some_and(|jti| {
            s.revocations
                .is_jti_revoked(&issuer.issuer, jti.as_str(), now)
        }) || s.revocations.is_token_revoked(token, now);
        if revoked {
            return Err(TokenError::from_reason(Reason::Revoked));
        }
        check_required_scopes(&s.required_scopes, &scopes)?;
        let owned = |v: &Option<crate::json::Str<'_>>| v.as_ref().map(|s| s.as_str().to_owned());
        let mut principal = Principal {
            kind: TokenKind::Jwt,
            subject: owned(&claims.sub),
            client_id: owned(&claims.client_id)
                .or_else(|| owned(&claims.azp))
                .or_else(|| owned(&claims.cid)),
            issuer: issuer.issuer.clone(),
            audience: aud.iter().map(str::to_owned).collect(),
            scopes,
            roles: claims
                .roles
                .as_ref()
                .map(|r| r.iter().map(str::to_owned).collect())
                .unwrap_or_default(),
            tags: Vec::new(),
            rejected_scopes: Vec::new(),
            expires_at: Some(exp.floor),
            jwt_id: owned(&claims.jti),
            claims_json: Arc::from(claims_text),
            token_fingerprint: None,
            granted: None,
            rate_key: None,
        };
        if let Some(hook) = &s.grants {
            hook(&mut principal);
        }
        Ok(principal)
    }

    /// A refresh hint for `issuer`, at most once per cooldown.
    fn refresh_hint(&self, issuer: &IssuerState) -> Option<String> {
        let now = self.inner.clock.now_nanos();
        let last = issuer.last_hint_nanos.load(Ordering::Acquire);
        // `abs_diff`: a clock that moved backwards must not silence hints forever.
        if last != NEVER && now.abs_diff(last) < self.inner.refresh_cooldown_nanos {
            return None;
        }
        issuer
            .last_hint_nanos
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| issuer.issuer.clone())
    }

    /// Replaces `issuer`'s JWK Set atomically (the issuer's PEM keys and
    /// secrets stay). Validations running meanwhile see the old or the new
    /// set, never a mix. A bad set changes nothing. Error paths are relative
    /// to the set (`keys[1].n`).
    pub fn set_jwks(&self, issuer: &str, jwks_json: &str) -> Result<(), KeyError> {
        let Some(state) = self.inner.issuers.iter().find(|i| i.issuer == issuer) else {
            return Err(KeyError::UnknownIssuer(issuer.to_owned()));
        };
        let jwks = KeySet::from_jwks_json(jwks_json, state.algorithms.as_deref())?;
        let keys = Arc::new(state.combine(jwks)?);
        *state.keys.write() = keys;
        state.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.invalidate(|cache| {
            cache.invalidate_issuer(issuer);
        });
        Ok(())
    }

    /// Counts key rotations of every issuer: a cache that stores this number
    /// with an entry knows the keys changed when it differs.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Counts key rotations of one issuer; `None` for an unknown issuer.
    pub fn issuer_generation(&self, issuer: &str) -> Option<u64> {
        self.inner
            .issuers
            .iter()
            .find(|i| i.issuer == issuer)
            .map(|i| i.generation.load(Ordering::Acquire))
    }

    /// The configured issuers, in configuration order.
    pub fn issuers(&self) -> Vec<&str> {
        self.inner
            .issuers
            .iter()
            .map(|i| i.issuer.as_str())
            .collect()
    }

    /// The audiences accepted for `issuer`.
    pub fn audiences(&self, issuer: &str) -> Option<&[String]> {
        self.inner
            .issuers
            .iter()
            .find(|i| i.issuer == issuer)
            .map(|i| i.audiences.as_slice())
    }

    /// How many usable keys `issuer` has right now.
    pub fn key_count(&self, issuer: &str) -> Option<usize> {
        self.inner
            .issuers
            .iter()
            .find(|i| i.issuer == issuer)
            .map(|i| i.keys.read().len())
    }

    /// The clock the validator reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// `auth.leeway_seconds`.
    pub fn leeway_seconds(&self) -> i64 {
        self.inner.leeway
    }

    /// `auth.required`: whether a request without a token is refused.
    pub fn required(&self) -> bool {
        self.inner.required
    }

    /// `auth.cache_entries` (for the verified-token cache).
    pub fn cache_entries(&self) -> usize {
        self.inner.cache.capacity()
    }

    /// `auth.revocation_entries` (for the revocation list).
    pub fn revocation_entries(&self) -> usize {
        self.inner.revocations.capacity()
    }

    /// `auth.opaque_tokens`.
    pub fn opaque_tokens(&self) -> bool {
        self.inner.opaque.is_some()
    }

    /// The time until which this validator accepts `principal`'s token:
    /// its `expires_at` plus the leeway (saturating), `None` for a token
    /// without expiry. Hand this, not the raw `exp`, to a framework that
    /// checks expiry itself (the MCP SDKs do), so that it accepts exactly
    /// what the validator accepts.
    pub fn accepted_until(&self, principal: &Principal) -> Option<i64> {
        principal
            .expires_at
            .map(|exp| exp.saturating_add(self.inner.leeway))
    }

    /// `auth.max_token_bytes`.
    pub fn max_token_bytes(&self) -> usize {
        self.inner.max_token_bytes
    }

    /// The refresh-hint cooldown.
    pub fn refresh_cooldown(&self) -> Duration {
        Duration::from_nanos(self.inner.refresh_cooldown_nanos)
    }
}

fn too_large() -> TokenError {
    TokenError::new(
        Reason::TooLarge,
        "the access token is longer than the configured maximum",
    )
}

/// `auth.required_scopes`, compared exactly.
fn check_required_scopes(required: &[String], scopes: &[String]) -> Result<(), TokenError> {
    let missing: Vec<&str> = required
        .iter()
        .filter(|r| !scopes.iter().any(|have| have == *r))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(TokenError {
        reason: Reason::InsufficientScope,
        description: Cow::Owned(format!(
            "The access token lacks required scopes: {}",
            missing.join(" ")
        )),
        refresh_jwks: None,
        scope: Some(required.join(" ")),
    })
}

/// A revocation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevokeError {
    /// The token is not one this validator accepts (forged, malformed, for
    /// another resource…), so it names nothing to revoke.
    #[error("cannot revoke: {0}")]
    InvalidToken(TokenError),
    /// The revocation list is full of live revocations.
    #[error(transparent)]
    Full(#[from] RevocationError),
    /// The revocation holds in this process but did not reach the shared
    /// store (`on_error: fail_closed`). It waits in this process's queue and
    /// reaches the store when it answers again; retrying is harmless.
    #[error(
        "the revocation holds in this process and waits for the shared store, which did not answer: {0}"
    )]
    StoreUnavailable(String),
}

/// An opaque token's SHA-256: its name in a shared store.
fn opaque_digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref(),
    );
    out
}

fn local_inactive() -> (Reason, &'static str) {
    (Reason::Inactive, Reason::Inactive.description())
}

/// Splits a space-delimited scope string (RFC 6749 §3.3: `%x20` only),
/// dropping empty parts. A byte scan: scope strings are short, where
/// `str::split`'s searcher costs more than the scan.
fn split_spaces(s: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(4);
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if b == b' ' {
            // A space is ASCII, so `start..i` lies on character boundaries.
            if i > start {
                out.push(s[start..i].to_owned());
            }
            start = i + 1;
        }
    }
    if start < s.len() {
        out.push(s[start..].to_owned());
    }
    out
}

fn malformed(what: &'static str) -> TokenError {
    TokenError::new(Reason::Malformed, what)
}

// Compile-time proof that the validator can be shared across threads.
const _: fn() = || {
    fn assert<T: Send + Sync>() {}
    assert::<TokenValidator>();
};

#[cfg(test)]
mod split_tests {
    use super::split_spaces;

    #[test]
    fn scopes_split_on_single_spaces_only() {
        assert_eq!(split_spaces("a b  c "), ["a", "b", "c"]);
        assert_eq!(split_spaces("  "), Vec::<String>::new());
        assert_eq!(split_spaces(""), Vec::<String>::new());
        assert_eq!(split_spaces(" tag:wéb\ttag:x é"), ["tag:wéb\ttag:x", "é"]);
    }
}
