//! Audit events and counters: what the Guard decided, for the host's logs
//! and monitoring.
//!
//! Every authentication success and failure, access denial and rate-limit
//! denial produces one [`AuditEvent`], and so does every step of the
//! embedded authorization server that creates or ends a credential
//! (registration, consent, issuance, refresh, reuse, revocation). Events go to the sink the host
//! registers (a callback, called on the authorizing thread) and into a
//! bounded ring the host drains. Tokens never appear in events: only a short
//! fingerprint (the first 8 bytes of the token's SHA-256, in hex), enough to
//! correlate log lines, useless for replay.
//!
//! What a fetcher (an I/O crate such as `mcpguard-fetch`) did for the Guard
//! is audited the same way: each JWK Set fetch, failed fetch, key rotation
//! and introspection call is one event, recorded through a [`RemoteAudit`]
//! handle, naming the configured issuer it concerns.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};
use serde_json::{Value, json};

use crate::reason::Reason;
use crate::token::{Principal, RemoteCounts};

/// What kind of event this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// A token was validated (or an anonymous request admitted without one).
    AuthSuccess,
    /// A request was refused before or during token validation (400, 401).
    AuthFailure,
    /// A valid principal was refused access (403) or sent an invalid filter (400).
    AccessDenied,
    /// A rate limit refused the request (429).
    RateLimited,
    /// The shared store could not answer and `on_error` decided the
    /// request (a 503 for `fail_closed`, else allowed or decided locally).
    StoreError,
    /// The authorization server registered a client.
    ClientRegistered,
    /// A user consented to an authorization request.
    ConsentGranted,
    /// The authorization server issued tokens (code exchange, client credentials).
    TokenIssued,
    /// A refresh token was rotated.
    TokenRefreshed,
    /// A spent code or rotated refresh token came back: what it produced was revoked.
    TokenReuse,
    /// A client revoked a token (RFC 7009).
    TokenRevoked,
    /// A fetcher fetched an issuer's JWK Set (or metadata) and it was accepted.
    JwksFetched,
    /// A fetch failed or its set was refused; the keys in force stayed.
    JwksFailed,
    /// A fetched JWK Set differed from the one in force and replaced it.
    KeysRotated,
    /// The introspection endpoint answered for an opaque token.
    IntrospectionCalled,
    /// The introspection endpoint gave no usable answer (the token was
    /// refused with the configured `on_error`).
    IntrospectionFailed,
}

impl AuditKind {
    /// The wire name, e.g. `auth_failure`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditKind::AuthSuccess => "auth_success",
            AuditKind::AuthFailure => "auth_failure",
            AuditKind::AccessDenied => "access_denied",
            AuditKind::RateLimited => "rate_limited",
            AuditKind::StoreError => "store_error",
            AuditKind::ClientRegistered => "client_registered",
            AuditKind::ConsentGranted => "consent_granted",
            AuditKind::TokenIssued => "token_issued",
            AuditKind::TokenRefreshed => "token_refreshed",
            AuditKind::TokenReuse => "token_reuse",
            AuditKind::TokenRevoked => "token_revoked",
            AuditKind::JwksFetched => "jwks_fetched",
            AuditKind::JwksFailed => "jwks_failed",
            AuditKind::KeysRotated => "keys_rotated",
            AuditKind::IntrospectionCalled => "introspection_called",
            AuditKind::IntrospectionFailed => "introspection_failed",
        }
    }

    /// Whether this kind reports what a fetcher did (a JWK Set fetch, a
    /// failure, a rotation, an introspection call), the kinds a
    /// [`RemoteAudit`] records.
    pub const fn is_remote(self) -> bool {
        matches!(
            self,
            AuditKind::JwksFetched
                | AuditKind::JwksFailed
                | AuditKind::KeysRotated
                | AuditKind::IntrospectionCalled
                | AuditKind::IntrospectionFailed
        )
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audited decision. Cheap to clone: the principal is shared.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// When it happened, in Unix seconds (fractional) by the Guard's clock.
    pub time: f64,
    /// What happened.
    pub kind: AuditKind,
    /// Why, for refusals.
    pub reason: Option<Reason>,
    /// The validated principal, when the token was valid.
    pub principal: Option<Arc<Principal>>,
    /// The target server of the request (shared with the configuration's
    /// name when the server is configured).
    pub server: Option<Arc<str>>,
    /// The target tool of the request.
    pub tool: Option<Arc<str>>,
    /// The `tag:` scopes that would have granted what was refused.
    pub missing_scopes: Vec<String>,
    /// Invalid `tag:` scopes the token carried (they granted nothing).
    pub rejected_scopes: Vec<String>,
    /// A short, non-reversible fingerprint of the token, if one was presented.
    pub token_fingerprint: Option<Arc<str>>,
}

impl AuditEvent {
    /// The principal's client id, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.principal
            .as_deref()
            .and_then(|p| p.client_id.as_deref())
    }

    /// The principal's subject, if any.
    pub fn subject(&self) -> Option<&str> {
        self.principal.as_deref().and_then(|p| p.subject.as_deref())
    }

    /// The principal's issuer, if any.
    pub fn issuer(&self) -> Option<&str> {
        self.principal
            .as_deref()
            .map(|p| p.issuer.as_str())
            .filter(|i| !i.is_empty())
    }

    /// The event as a JSON object (snake_case keys, as the bindings expose it).
    pub fn to_json(&self) -> Value {
        json!({
            "time": self.time,
            "kind": self.kind.as_str(),
            "reason": self.reason.map(Reason::code),
            "client_id": self.client_id(),
            "subject": self.subject(),
            "issuer": self.issuer(),
            "server": self.server.as_deref(),
            "tool": self.tool.as_deref(),
            "missing_scopes": self.missing_scopes,
            "rejected_scopes": self.rejected_scopes,
            "token_fingerprint": self.token_fingerprint.as_deref(),
        })
    }
}

/// A callback that receives every audit event on the authorizing thread.
pub type AuditSink = Arc<dyn Fn(&AuditEvent) + Send + Sync>;

/// Records what a fetcher did into a Guard's audit (its sink and ring),
/// without keeping the Guard alive: the fetcher's thread and hooks hold
/// this handle, and the Guard holds them.
///
/// Each event names the configured issuer (as the event's `issuer`, with no
/// subject or client), never a token, URL or credential: those details stay
/// in the fetcher's own log.
#[derive(Clone)]
pub struct RemoteAudit {
    guard: Weak<super::Inner>,
}

impl fmt::Debug for RemoteAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteAudit")
            .field("guard_alive", &(self.guard.strong_count() > 0))
            .finish()
    }
}

impl super::Guard {
    /// A handle through which a fetcher records its fetches, failures,
    /// rotations and introspection calls into this Guard's audit.
    pub fn remote_audit(&self) -> RemoteAudit {
        RemoteAudit {
            guard: Arc::downgrade(&self.inner),
        }
    }
}

impl RemoteAudit {
    /// Records one event of a remote kind ([`AuditKind::is_remote`]) about
    /// `issuer`, timed by the Guard's clock. Returns false, recording
    /// nothing, when the kind is not a remote one or the Guard is gone.
    pub fn record(&self, kind: AuditKind, issuer: &str) -> bool {
        if !kind.is_remote() {
            return false;
        }
        let Some(inner) = self.guard.upgrade() else {
            return false;
        };
        let guard = super::Guard { inner };
        let principal = Principal {
            kind: crate::token::TokenKind::Jwt,
            subject: None,
            client_id: None,
            issuer: issuer.to_owned(),
            audience: Vec::new(),
            scopes: Vec::new(),
            roles: Vec::new(),
            tags: Vec::new(),
            rejected_scopes: Vec::new(),
            expires_at: None,
            jwt_id: None,
            claims_json: Arc::from("{}"),
            token_fingerprint: None,
            granted: None,
            rate_key: None,
        };
        guard.inner.audit.record(AuditEvent {
            time: guard.now(),
            kind,
            reason: None,
            principal: Some(Arc::new(principal)),
            server: None,
            tool: None,
            missing_scopes: Vec::new(),
            rejected_scopes: Vec::new(),
            token_fingerprint: None,
        });
        true
    }
}

/// The Guard's audit trail: an optional sink and bounded rings.
///
/// Every authorizing thread records into the ring of its stripe (threads
/// are spread over [`STRIPES`] stripes), so two threads deciding at once do
/// not take one lock: a single ring's lock, taken on every request, was the
/// largest cost of scaling to a second core. Each ring keeps at most
/// `capacity` events; draining merges them by time.
pub(crate) struct AuditLog {
    has_sink: AtomicBool,
    sink: RwLock<Option<AuditSink>>,
    rings: [Padded<Mutex<VecDeque<AuditEvent>>>; STRIPES],
    capacity: usize,
    dropped: Striped,
    sink_panics: AtomicU64,
}

impl AuditLog {
    pub(crate) fn new(capacity: usize) -> Self {
        AuditLog {
            has_sink: AtomicBool::new(false),
            sink: RwLock::new(None),
            rings: std::array::from_fn(|_| Padded(Mutex::new(VecDeque::new()))),
            capacity,
            dropped: Striped::new(),
            sink_panics: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_sink(&self, sink: Option<AuditSink>) {
        let mut slot = self.sink.write();
        self.has_sink.store(sink.is_some(), Ordering::Release);
        *slot = sink;
    }

    /// Records an event: the sink first (a panicking sink is counted, never
    /// propagated), then the ring, which drops its oldest event when full.
    pub(crate) fn record(&self, event: AuditEvent) {
        // Without a sink, no lock is read at all: the reader count of the
        // sink's lock is one more line two threads would share.
        if self.has_sink.load(Ordering::Acquire) {
            let sink = self.sink.read().clone();
            if let Some(sink) = sink
                && catch_unwind(AssertUnwindSafe(|| sink(&event))).is_err()
            {
                self.sink_panics.fetch_add(1, Ordering::Relaxed);
            }
        }
        if self.capacity == 0 {
            self.dropped.add(1);
            return;
        }
        let mut ring = self.rings[stripe()].0.lock();
        let oldest = if ring.len() >= self.capacity {
            ring.pop_front()
        } else {
            None
        };
        ring.push_back(event);
        drop(ring);
        // The event pushed out is freed after the lock is released.
        if oldest.is_some() {
            self.dropped.add(1);
        }
        drop(oldest);
    }

    /// Takes every event in the rings, oldest first (events of one time
    /// keep their ring's order).
    pub(crate) fn drain(&self) -> Vec<AuditEvent> {
        let mut events: Vec<AuditEvent> = self
            .rings
            .iter()
            .flat_map(|r| r.0.lock().drain(..).collect::<Vec<_>>())
            .collect();
        events.sort_by(|a, b| a.time.total_cmp(&b.time));
        events
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.sum()
    }

    pub(crate) fn sink_panics(&self) -> u64 {
        self.sink_panics.load(Ordering::Relaxed)
    }
}

/// Monotonic counters the Guard keeps for monitoring. The ones every
/// request touches are striped, so threads do not share their lines.
pub(crate) struct CounterSet {
    allowed: Striped,
    denied: [AtomicU64; Reason::ALL.len()],
    cache_hits: Striped,
    cache_misses: AtomicU64,
}

impl CounterSet {
    pub(crate) fn new() -> Self {
        CounterSet {
            allowed: Striped::new(),
            denied: std::array::from_fn(|_| AtomicU64::new(0)),
            cache_hits: Striped::new(),
            cache_misses: AtomicU64::new(0),
        }
    }

    pub(crate) fn allowed(&self) {
        self.allowed.add(1);
    }

    pub(crate) fn denied(&self, reason: Reason) {
        if let Some(i) = Reason::ALL.iter().position(|r| *r == reason) {
            self.denied[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn cache(&self, hit: bool) {
        if hit {
            self.cache_hits.add(1);
        } else {
            self.cache_misses.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self, audit: &AuditLog) -> Counters {
        Counters {
            allowed: self.allowed.sum(),
            denied: Reason::ALL
                .iter()
                .zip(&self.denied)
                .map(|(r, c)| (*r, c.load(Ordering::Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            cache_hits: self.cache_hits.sum(),
            cache_misses: self.cache_misses.load(Ordering::Relaxed),
            audit_dropped: audit.dropped(),
            audit_sink_panics: audit.sink_panics(),
            remote: RemoteCounts::default(),
        }
    }
}

/// A snapshot of the Guard's counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counters {
    /// Requests allowed.
    pub allowed: u64,
    /// Requests denied, by reason (reasons never seen are left out).
    pub denied: Vec<(Reason, u64)>,
    /// Token validations answered from the verified-token cache.
    pub cache_hits: u64,
    /// Token validations that had to verify the token.
    pub cache_misses: u64,
    /// Audit events pushed out of the full ring before the host drained them.
    pub audit_dropped: u64,
    /// Audit sink calls that panicked (or, in a binding, raised).
    pub audit_sink_panics: u64,
    /// JWKS fetches, failures and updates and introspection calls (a
    /// fetcher such as `mcpguard-fetch` reports its fetches).
    pub remote: RemoteCounts,
}

impl Counters {
    /// Denials for one reason.
    pub fn denied_for(&self, reason: Reason) -> u64 {
        self.denied
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// All denials.
    pub fn denied_total(&self) -> u64 {
        self.denied.iter().map(|(_, n)| n).sum()
    }

    /// The counters as JSON: `{"allowed", "denied": {"<reason>": n}, "cache_hits", …}`.
    pub fn to_json(&self) -> Value {
        let denied: serde_json::Map<String, Value> = self
            .denied
            .iter()
            .map(|(r, n)| (r.code().to_string(), Value::from(*n)))
            .collect();
        json!({
            "allowed": self.allowed,
            "denied": denied,
            "denied_total": self.denied_total(),
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
            "audit_dropped": self.audit_dropped,
            "audit_sink_panics": self.audit_sink_panics,
            "jwks_fetches": self.remote.jwks_fetches,
            "jwks_fetch_failures": self.remote.jwks_fetch_failures,
            "jwks_updates": self.remote.jwks_updates,
            "introspection_calls": self.remote.introspection_calls,
            "introspection_failures": self.remote.introspection_failures,
        })
    }

    /// Appends the counters in the Prometheus text format (version 0.0.4):
    /// `mcpguard_requests_allowed_total`, `mcpguard_requests_denied_total`
    /// by `reason` (every reason, zeros included), the cache and audit
    /// counters, and the fetcher's (`mcpguard_jwks_*`,
    /// `mcpguard_introspection_*`).
    pub fn prometheus_text(&self, out: &mut String) {
        use std::fmt::Write as _;
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "mcpguard_requests_allowed_total",
            "Requests allowed.",
            self.allowed,
        );
        counter(
            "mcpguard_token_cache_hits_total",
            "Token validations answered from the verified-token cache.",
            self.cache_hits,
        );
        counter(
            "mcpguard_token_cache_misses_total",
            "Token validations that verified a token.",
            self.cache_misses,
        );
        counter(
            "mcpguard_audit_dropped_total",
            "Audit events dropped from a full ring.",
            self.audit_dropped,
        );
        counter(
            "mcpguard_audit_sink_panics_total",
            "Audit sink calls that panicked.",
            self.audit_sink_panics,
        );
        let r = &self.remote;
        counter(
            "mcpguard_jwks_fetches_total",
            "JWK Sets a fetcher fetched and had accepted.",
            r.jwks_fetches,
        );
        counter(
            "mcpguard_jwks_fetch_failures_total",
            "JWK Set fetches that failed or were refused (the keys in force stayed).",
            r.jwks_fetch_failures,
        );
        counter(
            "mcpguard_jwks_updates_total",
            "Key sets applied (each rotation, the first load included).",
            r.jwks_updates,
        );
        counter(
            "mcpguard_introspection_calls_total",
            "Calls to the introspection endpoint.",
            r.introspection_calls,
        );
        counter(
            "mcpguard_introspection_failures_total",
            "Introspection calls that gave no usable answer.",
            r.introspection_failures,
        );
        counter(
            "mcpguard_shared_writes_replayed_total",
            "Waiting shared-store writes the store took once it answered again.",
            r.shared_writes_replayed,
        );
        counter(
            "mcpguard_shared_store_resets_total",
            "Times the shared store had lost its state and this process's revocations and opaque tokens were sent again.",
            r.shared_store_resets,
        );
        counter(
            "mcpguard_shared_writes_dropped_total",
            "Shared-store writes that found the waiting queue full (they hold in this process only).",
            r.shared_writes_dropped,
        );
        let _ = writeln!(
            out,
            "# HELP mcpguard_shared_writes_waiting Revocations and opaque-token writes waiting for the shared store.\n\
             # TYPE mcpguard_shared_writes_waiting gauge\nmcpguard_shared_writes_waiting {}",
            r.shared_writes_waiting
        );
        let _ = writeln!(
            out,
            "# HELP mcpguard_requests_denied_total Requests denied, by reason.\n\
             # TYPE mcpguard_requests_denied_total counter"
        );
        for r in Reason::ALL {
            let _ = writeln!(
                out,
                "mcpguard_requests_denied_total{{reason=\"{}\"}} {}",
                r.code(),
                self.denied_for(r)
            );
        }
    }
}

/// How many stripes counters and audit rings are spread over.
const STRIPES: usize = 8;

/// A value on a line of its own (two 64-byte lines: adjacent-line
/// prefetching pairs them).
#[repr(align(128))]
struct Padded<T>(T);

/// This thread's stripe: threads take stripes in turn as they first record.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

/// A counter spread over stripes: adding touches this thread's line only.
struct Striped([Padded<AtomicU64>; STRIPES]);

impl Striped {
    fn new() -> Self {
        Striped(std::array::from_fn(|_| Padded(AtomicU64::new(0))))
    }

    fn add(&self, n: u64) {
        self.0[stripe()].0.fetch_add(n, Ordering::Relaxed);
    }

    fn sum(&self) -> u64 {
        self.0.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: AuditKind) -> AuditEvent {
        AuditEvent {
            time: 1.0,
            kind,
            reason: None,
            principal: None,
            server: None,
            tool: None,
            missing_scopes: vec![],
            rejected_scopes: vec![],
            token_fingerprint: None,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_events_and_counts_what_it_dropped() {
        let log = AuditLog::new(2);
        log.record(event(AuditKind::AuthSuccess));
        log.record(event(AuditKind::AuthFailure));
        log.record(event(AuditKind::RateLimited));
        let kinds: Vec<_> = log.drain().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [AuditKind::AuthFailure, AuditKind::RateLimited]);
        assert_eq!(log.dropped(), 1);
        assert!(log.drain().is_empty());
    }

    #[test]
    fn a_panicking_sink_is_counted_and_the_event_still_reaches_the_ring() {
        let log = AuditLog::new(4);
        log.set_sink(Some(Arc::new(|_: &AuditEvent| panic!("sink broke"))));
        log.record(event(AuditKind::AccessDenied));
        assert_eq!(log.sink_panics(), 1);
        assert_eq!(log.drain().len(), 1);
    }

    #[test]
    fn a_remote_audit_records_only_remote_kinds_and_only_while_the_guard_lives() {
        let guard = crate::guard::Guard::from_json(
            r#"{"resource": "https://mcp.example.com/mcp", "auth": {"issuers": []}}"#,
        )
        .unwrap();
        let audit = guard.remote_audit();
        assert!(audit.record(AuditKind::KeysRotated, "https://as.example"));
        assert!(!audit.record(AuditKind::AuthSuccess, "https://as.example"));
        let events = guard.drain_audit();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, AuditKind::KeysRotated);
        assert_eq!(events[0].issuer(), Some("https://as.example"));
        assert_eq!(events[0].subject(), None);
        drop(guard);
        assert!(!audit.record(AuditKind::JwksFailed, "https://as.example"));
    }

    #[test]
    fn counters_report_denials_by_reason() {
        let c = CounterSet::new();
        c.allowed();
        c.denied(Reason::Expired);
        c.denied(Reason::Expired);
        c.denied(Reason::RateLimited);
        c.cache(true);
        let s = c.snapshot(&AuditLog::new(1));
        assert_eq!(s.allowed, 1);
        assert_eq!(s.denied_for(Reason::Expired), 2);
        assert_eq!(s.denied_total(), 3);
        assert_eq!(s.to_json()["denied"]["rate_limited"], 1);
        assert_eq!(s.cache_hits, 1);
    }
}
