//! The Guard: one configuration, one call per request, one decision back.
//!
//! [`Guard::authorize`] runs the steps of `spec/config.md` in a fixed order,
//! and the order is part of the contract (each step is tested):
//!
//! 1. the request's own shape (`cost` ≥ 1, no `tool` without a `server`):
//!    400 `invalid_request`;
//! 2. the `Authorization` header and the token: 401 (`missing_token` only
//!    when `auth.required`), or 403 for `auth.required_scopes`;
//! 3. the client's filter: 400 `invalid_filter` / `unknown_preset`;
//! 4. access: the filter may only mention granted tags, the target server
//!    must be visible and a tagged tool granted: 403 `insufficient_scope`;
//! 5. rate limiting, by the configured key: 429 `rate_limited`.
//!
//! A request refused at steps 1–4 consumes no rate-limit quota. Every step
//! that refuses records an audit event; a request that gets past step 2
//! records an authentication success.
//!
//! The Guard does no I/O beyond reading its configuration (and `jwks_file`):
//! the host fetches JWKS documents and hands them over with
//! [`Guard::set_jwks`], and sends the decision's status and headers itself.

mod audit;
mod decision;
pub mod http;
mod request;

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

pub use audit::{AuditEvent, AuditKind, AuditSink, Counters, RemoteAudit};
pub use decision::{Decision, principal_json};
pub use http::{
    FILTERED_BODY_DROPS, HttpAction, HttpBody, HttpDecision, HttpOptions, HttpRequest,
    HttpResponse, OwnedHttpRequest, dropped_when_filtered, filter_from_query,
};
pub use request::{Credentials, Request, RequestError, RequestFilter, parse_authorization};

/// A decision, and the filter the request resolved to (for filtering
/// listings the same way).
pub(crate) type Decided = (Decision, Option<Arc<crate::access::Filter>>);

/// Where a decision stands after access: decided (refused), due for its
/// rate-limit check, or (deciding from memory alone) unable to go on.
enum Step<'a> {
    Done(Decided),
    Rate(RateStep<'a>),
    /// Asked to decide from memory alone, the token check would have to
    /// wait (see `Guard::decide_in_memory_later`); nothing was recorded.
    Waits,
}

/// A request access admitted, and what its rate-limit check and the
/// decision after it need.
struct RateStep<'a> {
    guard: &'a Guard,
    request: &'a Request<'a>,
    tools: &'a [&'a str],
    principal: Option<Arc<Principal>>,
    visible_servers: Vec<Arc<str>>,
    token_fingerprint: Option<Arc<str>>,
    filter: Option<Arc<crate::access::Filter>>,
    now: u64,
}

impl RateStep<'_> {
    /// The rate-limit key and the principal's roles; `None` when rate
    /// limiting is off.
    fn key_and_roles(&self) -> Option<(std::borrow::Cow<'_, str>, &[String])> {
        let rate = &self.guard.inner.rate;
        if !rate.enabled() {
            return None;
        }
        let principal = self.principal.as_deref();
        Some((
            rate_key(rate.key_source(), principal, self.request.key),
            principal.map_or(&[][..], |p| p.roles.as_slice()),
        ))
    }

    /// The check, the shared store called in place (`None`: rate limiting
    /// is off).
    fn check_in_place(&self) -> Option<RateDecision> {
        let (key, roles) = self.key_and_roles()?;
        let r = self.request;
        let rate = &self.guard.inner.rate;
        Some(rate.check_calls_at(&key, roles, r.server, self.tools, r.cost, self.now))
    }

    /// The check, the shared store's answer awaited.
    async fn check_later(&self) -> Option<RateDecision> {
        let (key, roles) = self.key_and_roles()?;
        let r = self.request;
        let rate = &self.guard.inner.rate;
        Some(
            rate.check_calls_later(&key, roles, r.server, self.tools, r.cost, self.now)
                .await,
        )
    }

    /// The decision after the check: refused for its rate (or a store
    /// that failed closed), else allowed with the rate-limit headers.
    fn finish(self, rate: Option<RateDecision>) -> Decided {
        let guard = self.guard;
        let s = &*guard.inner;
        let mut headers = Vec::new();
        if let Some(d) = &rate {
            headers = s.rate.headers_at(d, || self.now);
            if let Some(policy) = d.store_fallback {
                guard.store_failed(
                    policy,
                    self.principal.clone(),
                    self.request,
                    self.token_fingerprint.clone(),
                );
            }
        }
        let rate = match rate {
            Some(d) if !d.allowed => {
                let d = guard.rate_limited(
                    d,
                    headers,
                    self.principal,
                    self.visible_servers,
                    self.request,
                    self.token_fingerprint,
                );
                return (d, None);
            }
            rate => rate,
        };
        s.counters.allowed();
        let decision = Decision {
            allowed: true,
            status: 200,
            error: None,
            error_description: None,
            reason: None,
            headers,
            principal: self.principal,
            visible_servers: self.visible_servers,
            rate_limit: rate,
            missing_scopes: Vec::new(),
        };
        (decision, self.filter)
    }
}

use serde_json::{Value, json};

use crate::access::{AccessPolicy, AccessSettings, Denial, FilterError, FilterRequest, Granted};
use crate::clock::{Clock, ManualClock, NANOS_PER_SEC, SystemClock};
use crate::config::GuardConfig;
use crate::error::ConfigError;
use crate::ratelimit::{KeySource, LimitSpec, RateDecision, RatePolicy, UnknownRule};
use crate::reason::{OAuthError, Reason, www_authenticate};
use crate::shared::{OnError, SharedRateStore, SharedTokenStore};
use crate::token::{
    KeyError, OpaqueEntry, OpaqueError, Principal, RevokeError, TokenError, TokenValidator,
    token_fingerprint,
};

use audit::{AuditLog, CounterSet};

/// Audit events kept for [`Guard::drain_audit`] unless the builder says otherwise.
pub const DEFAULT_AUDIT_CAPACITY: usize = 1024;

/// The enforcement point a host embeds: token validation, tag access and
/// rate limiting behind one call per request.
///
/// Built once from a configuration, then shared: `Guard` is `Send + Sync`
/// and cloning it is cheap (an `Arc`). Key rotation ([`Guard::set_jwks`]),
/// revocation ([`Guard::revoke`]) and the audit sink may change while other
/// threads authorize.
///
/// ```
/// use mcpguard::guard::{Guard, Request};
/// let guard = Guard::from_json(r#"{
///     "resource": "https://mcp.example.com/mcp",
///     "auth": { "issuers": [] },
///     "servers": { "web-search": { "tags": ["web"] } }
/// }"#).unwrap();
/// let decision = guard.authorize(&Request::new());
/// assert_eq!(decision.status, 401);
/// assert_eq!(decision.reason.unwrap().code(), "missing_token");
/// assert!(decision.header("WWW-Authenticate").unwrap().contains("resource_metadata="));
/// ```
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

struct Inner {
    resource: String,
    metadata_url: String,
    metadata_path: String,
    metadata: Value,
    validator: TokenValidator,
    access: Arc<AccessPolicy>,
    rate: RatePolicy,
    audit: AuditLog,
    counters: CounterSet,
    clock: Arc<dyn Clock>,
    authorization_server: Option<Arc<crate::oauth::Settings>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("resource", &self.inner.resource)
            .field("validator", &self.inner.validator)
            .finish_non_exhaustive()
    }
}

/// Options for building a [`Guard`] beyond the configuration document.
#[derive(Debug, Clone)]
pub struct GuardOptions {
    /// The clock every engine reads (the system clock by default).
    pub clock: Arc<dyn Clock>,
    /// How many audit events the ring keeps for [`Guard::drain_audit`].
    pub audit_capacity: usize,
    /// A rate-limit store shared by replicas (built from `store` by a
    /// backend crate such as `mcpguard-redis`); required when the
    /// configuration has a `store.redis`.
    pub rate_store: Option<Arc<dyn SharedRateStore>>,
    /// Revocations and opaque tokens shared by replicas (from the same
    /// backend crate as `rate_store`).
    pub token_store: Option<Arc<dyn SharedTokenStore>>,
}

impl Default for GuardOptions {
    fn default() -> Self {
        GuardOptions {
            clock: Arc::new(SystemClock),
            audit_capacity: DEFAULT_AUDIT_CAPACITY,
            rate_store: None,
            token_store: None,
        }
    }
}

impl GuardOptions {
    /// Options with a manual clock, for tests and conformance vectors.
    pub fn with_clock(clock: ManualClock) -> Self {
        GuardOptions {
            clock: Arc::new(clock),
            ..GuardOptions::default()
        }
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The `Retry-After` of a store refusal under `fail_closed` when nothing
/// says better (the token store's always; the rate store's when its
/// decision names no wait): the circuit breaker asks the store again at
/// most once a second.
const STORE_RETRY_SECONDS: u64 = 1;

impl Guard {
    /// Builds a Guard from configuration text (`spec/config.md`), on the
    /// system clock. The environment is not read (see
    /// [`Guard::from_json_with_env`]).
    pub fn from_json(text: &str) -> Result<Guard, ConfigError> {
        Self::from_config(GuardConfig::from_json(text)?, GuardOptions::default())
    }

    /// As [`Guard::from_json`], then applies the environment overrides of
    /// `config.md` from the process environment.
    pub fn from_json_with_env(text: &str) -> Result<Guard, ConfigError> {
        let mut config = GuardConfig::from_json(text)?;
        config.apply_env(&process_env)?;
        Self::from_config(config, GuardOptions::default())
    }

    /// As [`Guard::from_json`], on a manual clock the caller keeps a clone of
    /// and moves with [`ManualClock::advance`].
    pub fn from_json_with_clock(text: &str, clock: ManualClock) -> Result<Guard, ConfigError> {
        Self::from_config(
            GuardConfig::from_json(text)?,
            GuardOptions::with_clock(clock),
        )
    }

    /// Reads the configuration file at `path` (relative `jwks_file` paths
    /// resolve against its folder) and applies the environment overrides.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Guard, ConfigError> {
        Self::from_file_with_options(path, GuardOptions::default())
    }

    /// As [`Guard::from_file`] (the environment overrides included), with
    /// `options` (a manual clock, an audit capacity): one path from a file
    /// to a Guard for every binding, so none of them can skip the overrides.
    pub fn from_file_with_options(
        path: impl AsRef<Path>,
        options: GuardOptions,
    ) -> Result<Guard, ConfigError> {
        let mut config = GuardConfig::from_file(path)?;
        config.apply_env(&process_env)?;
        Self::from_config(config, options)
    }

    /// Builds a Guard from a parsed configuration: every value is checked
    /// (errors name their JSON path) and every engine built once.
    pub fn from_config(config: GuardConfig, options: GuardOptions) -> Result<Guard, ConfigError> {
        let clock = options.clock;
        config.store.validate().map_err(|e| e.within("store"))?;
        if config.store.redis.is_some()
            && (options.rate_store.is_none() || options.token_store.is_none())
        {
            return Err(ConfigError::new(
                "store.redis",
                "store.redis needs the mcpguard-redis crate: build the Guard with \
                 mcpguard_redis::guard_from_config (the Python, Node and C packages do), \
                 or remove the section to keep state per process",
            ));
        }
        let resource =
            ResourceUri::parse(&config.resource).map_err(|e| ConfigError::new("resource", e))?;
        let metadata_url = match &config.resource_metadata_url {
            Some(url) => {
                ResourceUri::parse(url)
                    .map_err(|e| ConfigError::new("resource_metadata_url", e))?;
                url.clone()
            }
            None => resource.default_metadata_url(),
        };
        let metadata_path = ResourceUri::parse(&metadata_url)
            .map_err(|e| ConfigError::new("resource_metadata_url", e))?
            .path_and_query()
            .to_string();

        let access = Arc::new(AccessPolicy::build(&AccessSettings {
            servers: config.servers,
            mcp_servers: config.mcp_servers,
            untagged_servers: config.untagged_servers,
            server_match: config.server_match,
            presets: config.presets,
            roles: config
                .roles
                .iter()
                .map(|(name, role)| (name.to_string(), role.scopes.clone()))
                .collect(),
        })?);
        let role_limits: Vec<(String, LimitSpec)> = config
            .roles
            .iter()
            .filter_map(|(name, role)| role.rate_limit.clone().map(|l| (name.to_string(), l)))
            .collect();
        let rate = RatePolicy::build_shared(
            &config.rate_limit,
            &role_limits,
            clock.clone(),
            options.rate_store,
        )?;

        let grants = access.clone();
        let key_source = rate.key_source();
        let mut builder =
            TokenValidator::builder_from_config(config.auth.clone(), &config.resource)
                .clock(clock.clone())
                .fingerprints(true);
        let authorization_server = match &config.authorization_server {
            None => None,
            Some(section) => {
                let settings = section.build(&config.resource, config.base_dir.as_deref())?;
                builder = builder.issuer(own_issuer(&config.auth, &settings)?);
                Some(Arc::new(settings))
            }
        };
        if let Some(dir) = &config.base_dir {
            builder = builder.base_dir(dir);
        }
        if let Some(store) = options.token_store {
            builder = builder.shared_tokens(store);
        }
        let validator = builder
            .grants(Arc::new(move |p: &mut Principal| {
                let grant = grants.grant(&p.scopes, &p.roles);
                p.granted = Some(Arc::new(grants.granted_from(&grant)));
                p.rate_key = identity_key(key_source, p).map(Arc::from);
                p.tags = grant.tags;
                p.rejected_scopes = grant.rejected_scopes;
            }))
            .build()
            .map_err(|e| e.within("auth"))?;

        let authorization_servers = match config.authorization_servers {
            Some(mut servers) => {
                if let Some(s) = &authorization_server
                    && !servers.contains(&s.issuer)
                {
                    servers.push(s.issuer.clone());
                }
                servers
            }
            None => validator
                .issuers()
                .into_iter()
                .map(str::to_string)
                .collect(),
        };
        let metadata = json!({
            "resource": config.resource,
            "authorization_servers": authorization_servers,
            "scopes_supported": crate::access::tags_to_scopes(&access.all_tags()),
            "bearer_methods_supported": ["header"],
        });
        Ok(Guard {
            inner: Arc::new(Inner {
                resource: config.resource,
                metadata_url,
                metadata_path,
                metadata,
                validator,
                access,
                rate,
                audit: AuditLog::new(options.audit_capacity),
                counters: CounterSet::new(),
                clock,
                authorization_server,
            }),
        })
    }

    /// Decides one request (see the [module doc](self) for the order of
    /// checks). Never fails: a refusal is a [`Decision`] with its status,
    /// reason and headers.
    pub fn authorize(&self, request: &Request<'_>) -> Decision {
        self.decide(request, request.tool.as_slice()).0
    }

    /// [`authorize`](Self::authorize) for a request that calls `tools` on
    /// `request.server` (a JSON-RPC batch calls several; `request.tool` is
    /// ignored): access is decided for every tool before anything is
    /// charged, and the rate limits of all of them are checked and charged
    /// `request.cost` once, together. Also returns the filter the request
    /// resolved to (for filtering listings the same way).
    pub(crate) fn decide(&self, request: &Request<'_>, tools: &[&str]) -> Decided {
        let request = Request {
            tool: tools.first().copied(),
            ..*request
        };
        match self.decide_until_rate(&request, tools, false) {
            Step::Done(decided) => decided,
            Step::Rate(step) => {
                let rate = step.check_in_place();
                step.finish(rate)
            }
            Step::Waits => unreachable!("a decision that may wait never stops for it"),
        }
    }

    /// [`decide`](Self::decide), the shared store's answer awaited rather
    /// than waited for (see [`SharedRateStore::check_later`]): the same
    /// steps and the same decision, without holding a thread while a store
    /// that answers later works.
    ///
    /// [`SharedRateStore::check_later`]: crate::shared::SharedRateStore::check_later
    pub(crate) async fn decide_later(&self, request: &Request<'_>, tools: &[&str]) -> Decided {
        let request = Request {
            tool: tools.first().copied(),
            ..*request
        };
        match self.decide_in(&request, tools, false).await {
            Some(decided) => decided,
            None => unreachable!("a decision that may wait never stops for it"),
        }
    }

    /// [`decide_later`](Self::decide_later) when the steps before the
    /// shared store can be taken from memory alone: no token, or one the
    /// verified-token cache holds with no read of the revocation epoch due
    /// (what a host's event loop may run itself). `None`, with nothing
    /// recorded or counted, when they would wait on something (a signature
    /// check, a fetch, a store, an introspection endpoint): decide with
    /// `decide_later` then, where waiting is allowed.
    pub(crate) async fn decide_in_memory_later(
        &self,
        request: &Request<'_>,
        tools: &[&str],
    ) -> Option<Decided> {
        let request = Request {
            tool: tools.first().copied(),
            ..*request
        };
        self.decide_in(&request, tools, true).await
    }

    /// The decision, the store's answer awaited; `None` only `in_memory`.
    async fn decide_in(
        &self,
        request: &Request<'_>,
        tools: &[&str],
        in_memory: bool,
    ) -> Option<Decided> {
        match self.decide_until_rate(request, tools, in_memory) {
            Step::Done(decided) => Some(decided),
            Step::Rate(step) => {
                let rate = step.check_later().await;
                Some(step.finish(rate))
            }
            Step::Waits => None,
        }
    }

    /// Steps 1 to 4 of a decision (shape, token, filter, access): a
    /// refusal, or what the rate limit is checked with.
    /// `request.tool` is the first of `tools`. `in_memory`: stop
    /// (`Step::Waits`) rather than wait for the token check.
    fn decide_until_rate<'a>(
        &'a self,
        request: &'a Request<'a>,
        tools: &'a [&'a str],
        in_memory: bool,
    ) -> Step<'a> {
        let s = &*self.inner;
        // From memory alone, the rate-limit check must not wait in place
        // either (a store that only answers in place: a Redis Cluster).
        if in_memory && !s.rate.answers_later() {
            return Step::Waits;
        }
        // 1. The request's own shape.
        if request.cost < 1 {
            return Step::Done((self.invalid_request("cost must be at least 1"), None));
        }
        if request.tool.is_some() && request.server.is_none() {
            return Step::Done((
                self.invalid_request("a tool was named without its server"),
                None,
            ));
        }
        // One reading of the clock for the whole request: every engine
        // decides at the same instant, and the clock is read once, not four
        // times.
        let now = s.clock.now_nanos();
        // 2. Credentials and token.
        let credentials =
            match parse_authorization(request.authorization, s.validator.max_token_bytes()) {
                Ok(c) => c,
                Err(reason) => {
                    let fingerprint = request
                        .authorization
                        .map(|h| Arc::from(token_fingerprint(h)));
                    let d =
                        self.token_refused(&TokenError::from_reason(reason), fingerprint, request);
                    return Step::Done((d, None));
                }
            };
        let principal = match credentials {
            Credentials::None if s.validator.required() => {
                let d = self.token_refused(
                    &TokenError::from_reason(Reason::MissingToken),
                    None,
                    request,
                );
                return Step::Done((d, None));
            }
            Credentials::None => None,
            Credentials::Bearer(token) => match self.validate_for(token, now, in_memory) {
                None => return Step::Waits,
                Some(Ok(p)) => Some(p),
                Some(Err(e)) => {
                    let fingerprint = Some(Arc::from(token_fingerprint(token)));
                    return Step::Done((self.token_refused(&e, fingerprint, request), None));
                }
            },
        };
        let token_fingerprint = principal
            .as_deref()
            .and_then(|p| p.token_fingerprint.clone());
        // The authentication's event is recorded once access is decided
        // (with the configuration's shared server name, not a copy), and
        // always before the event of a refusal.
        let authenticated = |server: Option<Arc<str>>| {
            self.record_success(
                principal.clone(),
                request,
                server,
                token_fingerprint.clone(),
                now,
            )
        };

        // 3. The client's filter.
        let filter = match request.filter {
            None => None,
            Some(f) => match s.access.resolve_filter(filter_request(f)) {
                Ok(f) => Some(f),
                Err(e) => {
                    authenticated(request.server.map(Arc::from));
                    let d = self.filter_refused(&e, principal, request, token_fingerprint);
                    return Step::Done((d, None));
                }
            },
        };

        // 4. Access.
        let computed;
        let granted: &Granted = match principal.as_deref() {
            Some(Principal {
                granted: Some(g), ..
            }) => g,
            Some(p) => {
                computed = s.access.granted(&p.tags);
                &computed
            }
            None => &Granted::All,
        };
        let decide = |tool: Option<&str>| {
            s.access
                .decide(granted, filter.as_deref(), request.server, tool)
        };
        let mut tool = tools.first().copied();
        let mut outcome = decide(tool);
        for next in tools.iter().skip(1) {
            if outcome.is_err() {
                break;
            }
            tool = Some(*next);
            outcome = decide(tool);
        }
        let access = match outcome {
            Ok(a) => {
                // An allowed server is among the visible ones.
                let server = request.server.map(|name| {
                    a.visible_servers
                        .iter()
                        .find(|s| ***s == *name)
                        .cloned()
                        .unwrap_or_else(|| Arc::from(name))
                });
                authenticated(server);
                a
            }
            Err(denial) => {
                authenticated(request.server.map(Arc::from));
                let request = &Request { tool, ..*request };
                let d = self.access_refused(denial, principal, request, token_fingerprint);
                return Step::Done((d, None));
            }
        };

        // 5. Rate limiting: the caller checks, in place or later.
        Step::Rate(RateStep {
            guard: self,
            request,
            tools,
            principal,
            visible_servers: access.visible_servers,
            token_fingerprint,
            filter,
            now,
        })
    }

    /// Validates a bare token (no `Bearer ` prefix) as `authorize` would,
    /// through the verified-token cache; the principal's `tags` are filled.
    /// Records no audit event.
    pub fn validate(&self, token: &str) -> Result<Arc<Principal>, TokenError> {
        self.validate_counted(token, self.inner.clock.now_nanos())
    }

    /// [`validate`](Self::validate) when it can answer from memory alone,
    /// and so without waiting on anything: the token is in the
    /// verified-token cache and no read of the shared revocation epoch is
    /// due. `None` otherwise (a signature to check, a key set to fetch, a
    /// store or an introspection endpoint to ask, the epoch to read):
    /// nothing was done or counted then, and `validate` answers. An event
    /// loop may call it itself, and hand only the `None` cases to a
    /// thread.
    pub fn validate_in_memory(&self, token: &str) -> Option<Result<Arc<Principal>, TokenError>> {
        self.validate_for(token, self.inner.clock.now_nanos(), true)
    }

    /// Whether [`authorize`](Self::authorize) with this `Authorization`
    /// header would verify a token: true for a well-formed bearer token the
    /// verified-token cache does not hold (a signature check, microseconds),
    /// false when the answer is a cache hit or needs no token check at all
    /// (nanoseconds). Bindings use it to release their interpreter lock only
    /// around real work. Counts nothing and records no audit event; the
    /// answer may be stale by the time `authorize` runs, which only moves
    /// the work, never the decision.
    pub fn would_verify(&self, authorization: Option<&str>) -> bool {
        match parse_authorization(authorization, usize::MAX) {
            Ok(Credentials::Bearer(token)) => self.would_verify_token(token),
            _ => false,
        }
    }

    /// [`would_verify`](Self::would_verify) for
    /// [`authorize_http`](Self::authorize_http): the request's bearer token
    /// read by the header rules that call applies
    /// ([`HttpRequest::bearer_token`]: one `Authorization` header, no
    /// more), so that a binding never reads the header itself.
    pub fn would_verify_http(&self, request: &HttpRequest<'_>) -> bool {
        request
            .bearer_token()
            .is_some_and(|token| self.would_verify_token(token))
    }

    /// Whether validating `token` would check a signature: it is within
    /// the size limit (a larger one is refused unread) and not cached.
    fn would_verify_token(&self, token: &str) -> bool {
        token.len() <= self.inner.validator.max_token_bytes()
            && !self.inner.validator.is_cached(token)
    }

    /// The 400 `invalid_request` decision for a request the host could not
    /// build (for example one [`Request::from_json`] refused), so that a
    /// badly shaped request is answered like any other refusal instead of
    /// failing. No audit event: nothing about the client is known.
    pub fn refuse_request(&self, error: &RequestError) -> Decision {
        self.refusal(Reason::InvalidRequest, error.0.clone(), None)
    }

    /// The token check for a decision: `None` when `in_memory` and it
    /// would have to wait (nothing counted then).
    fn validate_for(
        &self,
        token: &str,
        now_nanos: u64,
        in_memory: bool,
    ) -> Option<Result<Arc<Principal>, TokenError>> {
        if !in_memory {
            return Some(self.validate_counted(token, now_nanos));
        }
        let s = &*self.inner;
        let result = s.validator.validate_in_memory_at(token, now_nanos)?;
        if result.is_ok() {
            s.counters.cache(true);
        }
        Some(result)
    }

    fn validate_counted(&self, token: &str, now_nanos: u64) -> Result<Arc<Principal>, TokenError> {
        let s = &*self.inner;
        let (result, hit) = s.validator.validate_traced_at(token, now_nanos);
        s.counters.cache(hit);
        result
    }

    /// Revokes a token: a JWT by its `jti` (or, without one, the whole
    /// token) until it would have expired anyway; an opaque token is removed
    /// from the store. Cached validations of it are dropped at once.
    pub fn revoke(&self, token: &str) -> Result<(), RevokeError> {
        self.inner.validator.revoke(token)
    }

    /// Adds an opaque token the host issued to the Guard's store (when
    /// `auth.opaque_tokens` is on); requests presenting it are then
    /// authorized like a JWT with these claims. The store keeps the token's
    /// SHA-256, never the token.
    pub fn insert_opaque(&self, token: &str, entry: OpaqueEntry) -> Result<(), OpaqueError> {
        self.inner.validator.insert_opaque(token, entry)
    }

    /// Turns an RFC 7662 introspection response the host fetched for a
    /// token into a principal (tags filled, like [`Guard::validate`]); see
    /// [`TokenValidator::validate_introspection`] for the rules.
    pub fn validate_introspection(&self, response_json: &str) -> Result<Principal, TokenError> {
        self.inner.validator.validate_introspection(response_json)
    }

    /// Replaces an issuer's JWK Set atomically (key rotation); a bad set
    /// leaves the old one in place. Validations already cached for that
    /// issuer are dropped.
    pub fn set_jwks(&self, issuer: &str, jwks_json: &str) -> Result<(), KeyError> {
        self.inner.validator.set_jwks(issuer, jwks_json)
    }

    /// The RFC 9728 protected-resource metadata document.
    pub fn metadata_document(&self) -> Value {
        self.inner.metadata.clone()
    }

    /// The path the metadata document is served at, e.g.
    /// `/.well-known/oauth-protected-resource/mcp`.
    pub fn metadata_path(&self) -> &str {
        &self.inner.metadata_path
    }

    /// The full URL of the metadata document (the challenge's `resource_metadata`).
    pub fn metadata_url(&self) -> &str {
        &self.inner.metadata_url
    }

    /// This server's canonical resource URI.
    pub fn resource(&self) -> &str {
        &self.inner.resource
    }

    /// Registers the audit sink (replacing any earlier one); `None` removes it.
    /// The sink runs on the authorizing thread: keep it short. A sink that
    /// panics is counted in [`Counters::audit_sink_panics`], never propagated.
    pub fn on_audit(&self, sink: Option<AuditSink>) {
        self.inner.audit.set_sink(sink);
    }

    /// Takes the audit events kept in the ring, oldest first.
    pub fn drain_audit(&self) -> Vec<AuditEvent> {
        self.inner.audit.drain()
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        let mut counters = self.inner.counters.snapshot(&self.inner.audit);
        counters.remote = self.token_validator().remote_counts();
        counters
    }

    /// Every counter in the Prometheus text format, for a scrape endpoint:
    /// [`Guard::counters`] and, with a shared store, its round trips,
    /// errors, latency and circuit-breaker state.
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        self.counters().prometheus_text(&mut out);
        self.inner.rate.store_metrics_text(&mut out);
        out
    }

    /// Checks and counts one rate limit for a raw key, without
    /// authentication: the rule named `rule`, or the default limit for
    /// `None` (the conformance op `rate_limit`).
    pub fn check_rate_limit(
        &self,
        rule: Option<&str>,
        key: &str,
        cost: u64,
    ) -> Result<RateDecision, UnknownRule> {
        self.inner.rate.check_rule(rule, key, cost)
    }

    /// The checked `authorization_server` section, when the configuration
    /// has one (what [`AuthorizationServer::new`](crate::oauth::AuthorizationServer::new) runs on).
    pub fn authorization_server_settings(&self) -> Option<&Arc<crate::oauth::Settings>> {
        self.inner.authorization_server.as_ref()
    }

    /// Records an audit event from another engine of the host (the
    /// embedded authorization server) through the sink and ring.
    pub(crate) fn record_event(&self, event: AuditEvent) {
        self.inner.audit.record(event);
    }

    /// The token engine, for hosts that need more than the Guard offers
    /// (opaque-token store, introspection responses).
    pub fn token_validator(&self) -> &TokenValidator {
        &self.inner.validator
    }

    /// The access engine (filters, listings, scopes that would grant a server).
    pub fn access_policy(&self) -> &AccessPolicy {
        &self.inner.access
    }

    /// The rate-limit engine.
    pub fn rate_policy(&self) -> &RatePolicy {
        &self.inner.rate
    }

    /// Whether a decision may wait on the network: rate limits, revocations
    /// or opaque tokens in a shared store (Redis), or an introspection
    /// endpoint called for unknown opaque tokens. Such a decision holds its
    /// thread for a round trip (up to the store's or fetcher's timeout), so
    /// a drop-in on an event loop (ASGI, Node, tokio) decides off the loop
    /// when this is true; with everything in process a decision takes
    /// microseconds and is best made where the request is.
    pub fn waits_on_network(&self) -> bool {
        self.inner.rate.waits_on_network() || self.inner.validator.waits_on_network()
    }

    // ----- refusals -----

    fn now(&self) -> f64 {
        self.inner.clock.now_nanos() as f64 / NANOS_PER_SEC as f64
    }

    fn record(
        &self,
        kind: AuditKind,
        reason: Option<Reason>,
        principal: Option<Arc<Principal>>,
        request: &Request<'_>,
        missing_scopes: Vec<String>,
        token_fingerprint: Option<Arc<str>>,
    ) {
        let server = request.server.map(Arc::from);
        let now = self.inner.clock.now_nanos();
        self.inner.audit.record(AuditEvent {
            reason,
            missing_scopes,
            ..audit_event(kind, principal, request, server, token_fingerprint, now)
        });
    }

    /// The `AuthSuccess` event of a request decided at `now_nanos`, naming
    /// `server`.
    fn record_success(
        &self,
        principal: Option<Arc<Principal>>,
        request: &Request<'_>,
        server: Option<Arc<str>>,
        token_fingerprint: Option<Arc<str>>,
        now_nanos: u64,
    ) {
        let kind = AuditKind::AuthSuccess;
        let event = audit_event(
            kind,
            principal,
            request,
            server,
            token_fingerprint,
            now_nanos,
        );
        self.inner.audit.record(event);
    }

    fn refusal(&self, reason: Reason, description: String, scope: Option<&str>) -> Decision {
        self.inner.counters.denied(reason);
        let mut headers = Vec::with_capacity(1);
        if let Some(challenge) = www_authenticate(
            reason,
            Some(&description),
            scope,
            Some(&self.inner.metadata_url),
        ) {
            headers.push(("WWW-Authenticate", challenge));
        }
        if reason == Reason::StoreUnavailable {
            // The token store's `fail_closed` (the rate store's 503 is built
            // in `store_unavailable`, from its decision's wait).
            headers.push(("Retry-After", STORE_RETRY_SECONDS.to_string()));
        }
        Decision {
            allowed: false,
            status: reason.status(),
            error: Some(reason.oauth_error()),
            error_description: Some(description),
            reason: Some(reason),
            headers,
            principal: None,
            visible_servers: Vec::new(),
            rate_limit: None,
            missing_scopes: Vec::new(),
        }
    }

    fn invalid_request(&self, description: &str) -> Decision {
        // No audit event: nothing about the client is known yet, and a
        // malformed call is the host's bug more often than an attack.
        self.refusal(Reason::InvalidRequest, description.to_string(), None)
    }

    fn token_refused(
        &self,
        e: &TokenError,
        fingerprint: Option<Arc<str>>,
        request: &Request<'_>,
    ) -> Decision {
        self.record(
            AuditKind::AuthFailure,
            Some(e.reason),
            None,
            request,
            Vec::new(),
            fingerprint,
        );
        self.refusal(e.reason, e.description.to_string(), e.scope.as_deref())
    }

    fn filter_refused(
        &self,
        e: &FilterError,
        principal: Option<Arc<Principal>>,
        request: &Request<'_>,
        fingerprint: Option<Arc<str>>,
    ) -> Decision {
        let reason = e.reason();
        self.record(
            AuditKind::AccessDenied,
            Some(reason),
            principal.clone(),
            request,
            Vec::new(),
            fingerprint,
        );
        let mut d = self.refusal(reason, e.to_string(), None);
        d.principal = principal;
        d
    }

    fn access_refused(
        &self,
        denial: Denial,
        principal: Option<Arc<Principal>>,
        request: &Request<'_>,
        fingerprint: Option<Arc<str>>,
    ) -> Decision {
        self.record(
            AuditKind::AccessDenied,
            Some(denial.reason),
            principal.clone(),
            request,
            denial.missing_scopes.clone(),
            fingerprint,
        );
        let mut d = self.refusal(denial.reason, denial.description, None);
        d.principal = principal;
        d.missing_scopes = denial.missing_scopes;
        d
    }

    /// Audits a request the shared store could not answer for (`on_error`
    /// decided it); a `fail_closed` refusal is counted as a denial.
    fn store_failed(
        &self,
        policy: OnError,
        principal: Option<Arc<Principal>>,
        request: &Request<'_>,
        fingerprint: Option<Arc<str>>,
    ) {
        self.record(
            AuditKind::StoreError,
            Some(Reason::StoreUnavailable),
            principal,
            request,
            Vec::new(),
            fingerprint,
        );
        if policy == OnError::FailClosed {
            self.inner.counters.denied(Reason::StoreUnavailable);
        }
    }

    /// The 503 of `on_error: fail_closed`.
    fn store_unavailable(
        &self,
        d: RateDecision,
        mut headers: Vec<(&'static str, String)>,
        principal: Option<Arc<Principal>>,
        visible_servers: Vec<Arc<str>>,
    ) -> Decision {
        let wait = d
            .retry_after
            .map_or(STORE_RETRY_SECONDS, |w| w.ceil().max(1.0) as u64);
        headers.push(("Retry-After", wait.to_string()));
        Decision {
            allowed: false,
            status: Reason::StoreUnavailable.status(),
            error: Some(OAuthError::TemporarilyUnavailable),
            error_description: Some(format!(
                "The shared rate-limit store is unavailable; retry after {wait} s"
            )),
            reason: Some(Reason::StoreUnavailable),
            headers,
            principal,
            visible_servers,
            rate_limit: Some(d),
            missing_scopes: Vec::new(),
        }
    }

    fn rate_limited(
        &self,
        d: RateDecision,
        mut headers: Vec<(&'static str, String)>,
        principal: Option<Arc<Principal>>,
        visible_servers: Vec<Arc<str>>,
        request: &Request<'_>,
        fingerprint: Option<Arc<str>>,
    ) -> Decision {
        if d.store_fallback == Some(OnError::FailClosed) {
            return self.store_unavailable(d, headers, principal, visible_servers);
        }
        self.record(
            AuditKind::RateLimited,
            Some(Reason::RateLimited),
            principal.clone(),
            request,
            Vec::new(),
            fingerprint,
        );
        self.inner.counters.denied(Reason::RateLimited);
        let description = match d.retry_after {
            _ if d.never => format!(
                "The request's cost exceeds what the rate limit '{}' can ever admit",
                d.policy
            ),
            Some(wait) => format!(
                "Rate limit '{}' exceeded; retry after {} s",
                d.policy,
                wait.ceil().max(1.0) as u64
            ),
            None => format!("Rate limit '{}' exceeded", d.policy),
        };
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("Retry-After"))
            && let Some(wait) = d.retry_after
        {
            headers.push(("Retry-After", (wait.ceil().max(1.0) as u64).to_string()));
        }
        Decision {
            allowed: false,
            status: 429,
            error: Some(OAuthError::RateLimited),
            error_description: Some(description),
            reason: Some(Reason::RateLimited),
            headers,
            principal,
            visible_servers,
            rate_limit: Some(d),
            missing_scopes: Vec::new(),
        }
    }
}

/// The audit event of `kind` about `request` (naming `server`) at
/// `now_nanos`, without a reason or missing scopes.
fn audit_event(
    kind: AuditKind,
    principal: Option<Arc<Principal>>,
    request: &Request<'_>,
    server: Option<Arc<str>>,
    token_fingerprint: Option<Arc<str>>,
    now_nanos: u64,
) -> AuditEvent {
    AuditEvent {
        time: now_nanos as f64 / NANOS_PER_SEC as f64,
        kind,
        reason: None,
        rejected_scopes: principal
            .as_deref()
            .map(|p| p.rejected_scopes.clone())
            .unwrap_or_default(),
        principal,
        server,
        tool: request.tool.map(Arc::from),
        missing_scopes: Vec::new(),
        token_fingerprint,
    }
}

/// The embedded authorization server as a trusted issuer: its own JWK Set,
/// ES256 only, audience the Guard's resource. Listing the same issuer under
/// `auth.issuers` too is refused (one key, configured once).
fn own_issuer(
    auth: &crate::token::AuthConfig,
    settings: &crate::oauth::Settings,
) -> Result<crate::token::IssuerBuilder, ConfigError> {
    if auth.issuers.iter().any(|i| i.issuer == settings.issuer) {
        return Err(ConfigError::new(
            "authorization_server.issuer",
            "this issuer is also listed under auth.issuers; the embedded server's keys are trusted without it",
        ));
    }
    Ok(crate::token::IssuerBuilder::new(settings.issuer.clone())
        .jwks_json(&settings.keys.jwks().to_string())
        .algorithms(&[crate::token::Algorithm::ES256]))
}

fn filter_request(f: RequestFilter<'_>) -> FilterRequest<'_> {
    match f {
        RequestFilter::Tags(t) => FilterRequest::Tags(t),
        RequestFilter::TagFilter(t) => FilterRequest::TagFilter(t),
        RequestFilter::Preset(p) => FilterRequest::Preset(p),
    }
}

/// The rate-limit key: the configured identity namespaced by issuer (so one
/// `client_id` at two issuers has two budgets), falling back to the other
/// identity, then the request's key, then one shared anonymous budget. An
/// anonymous request uses the request's key when it has one. The prefixes
/// keep the spaces apart: a client id can never collide with an IP address.
fn rate_key<'a>(
    source: KeySource,
    principal: Option<&'a Principal>,
    request_key: Option<&str>,
) -> Cow<'a, str> {
    let by_request = || request_key.map(|k| Cow::Owned(format!("k\u{0}{k}")));
    let anonymous = || Cow::Borrowed("anonymous");
    let Some(p) = principal else {
        return by_request().unwrap_or_else(anonymous);
    };
    if source == KeySource::RequestKey
        && let Some(key) = by_request()
    {
        return key;
    }
    // Cached by the grants hook; computed here for a principal that was not.
    let identity = match &p.rate_key {
        Some(k) => Some(Cow::Borrowed(&**k)),
        None => identity_key(source, p).map(Cow::Owned),
    };
    identity.or_else(by_request).unwrap_or_else(anonymous)
}

/// The principal's own part of the rate-limit key: the configured identity
/// first (`client_id` for `client_id` and `request_key`, the subject for
/// `subject`), then the other.
fn identity_key(source: KeySource, p: &Principal) -> Option<String> {
    // `<kind>\0<issuer>\0<id>`, built by hand: `format!` costs several
    // times more, once per validated token.
    let key = |kind: char, id: &str| {
        let mut k = String::with_capacity(p.issuer.len() + id.len() + 3);
        k.push(kind);
        k.push('\0');
        k.push_str(&p.issuer);
        k.push('\0');
        k.push_str(id);
        k
    };
    let client = || p.client_id.as_deref().map(|c| key('c', c));
    let subject = || p.subject.as_deref().map(|s| key('s', s));
    match source {
        KeySource::Subject => subject().or_else(client),
        KeySource::ClientId | KeySource::RequestKey => client().or_else(subject),
    }
}

/// An `http(s)` URI split into the parts the metadata URL is built from.
struct ResourceUri<'a> {
    scheme: &'a str,
    authority: &'a str,
    path_and_query: &'a str,
}

impl<'a> ResourceUri<'a> {
    /// An absolute `https` (or `http`) URI with a host and no fragment
    /// (RFC 8707 §2).
    fn parse(uri: &'a str) -> Result<ResourceUri<'a>, String> {
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| format!("{uri:?} is not an absolute URI"))?;
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return Err(format!("{uri:?} must be an https (or http) URI"));
        }
        if uri.contains('#') {
            return Err(format!("{uri:?} must not have a fragment"));
        }
        if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{uri:?} must not contain whitespace"));
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(end);
        if authority.is_empty() || authority.ends_with('@') {
            return Err(format!("{uri:?} has no host"));
        }
        Ok(ResourceUri {
            scheme,
            authority,
            path_and_query,
        })
    }

    fn path_and_query(&self) -> &'a str {
        self.path_and_query
    }

    /// RFC 9728 §3.1: the well-known segment goes between the host and the
    /// resource's path, with a terminating slash after the host removed.
    fn default_metadata_url(&self) -> String {
        let tail = if self.path_and_query == "/" {
            ""
        } else {
            self.path_and_query
        };
        format!(
            "{}://{}/.well-known/oauth-protected-resource{tail}",
            self.scheme.to_ascii_lowercase(),
            self.authority
        )
    }
}
