//! What the fetcher did: counters and events for the host's logs.
//!
//! Every fetch, failure, key rotation and introspection call is counted,
//! recorded in the Guard's own audit (its sink, ring and counters, when the
//! fetcher was attached to a Guard) and handed, as an [`Event`] with its URL
//! or error text, to the host's sink when one is set. Events name issuers
//! and URLs, never tokens or credentials.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mcpguard::guard::{AuditKind, RemoteAudit};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A JWK Set (or metadata) was fetched and accepted.
    JwksFetched,
    /// A fetch failed or its set was refused; the old keys stay.
    JwksFailed,
    /// The fetched set differed from the one in force and replaced it.
    KeysRotated,
    /// The introspection endpoint answered.
    IntrospectionCalled,
    /// The introspection endpoint did not answer usably.
    IntrospectionFailed,
}

impl EventKind {
    /// The machine name, e.g. `keys_rotated`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::JwksFetched => "jwks_fetched",
            EventKind::JwksFailed => "jwks_failed",
            EventKind::KeysRotated => "keys_rotated",
            EventKind::IntrospectionCalled => "introspection_called",
            EventKind::IntrospectionFailed => "introspection_failed",
        }
    }

    /// The Guard's audit kind for this event (same machine name).
    pub const fn audit_kind(self) -> AuditKind {
        match self {
            EventKind::JwksFetched => AuditKind::JwksFetched,
            EventKind::JwksFailed => AuditKind::JwksFailed,
            EventKind::KeysRotated => AuditKind::KeysRotated,
            EventKind::IntrospectionCalled => AuditKind::IntrospectionCalled,
            EventKind::IntrospectionFailed => AuditKind::IntrospectionFailed,
        }
    }
}

/// One thing the fetcher did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The configured issuer it concerns.
    pub issuer: String,
    /// The URL, or what went wrong.
    pub detail: String,
}

/// Receives every [`Event`]; called on the thread that did the work (the
/// refresher, or the request's for introspection): keep it short.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// A snapshot of the fetcher's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchStats {
    /// JWK Sets fetched and accepted.
    pub jwks_fetches: u64,
    /// Fetches that failed or whose set was refused.
    pub jwks_failures: u64,
    /// Accepted sets that replaced a different one.
    pub rotations: u64,
    /// Introspection calls answered.
    pub introspection_calls: u64,
    /// Introspection calls that failed.
    pub introspection_failures: u64,
}

#[derive(Default)]
pub(crate) struct Events {
    counts: [AtomicU64; 5],
    sink: Option<EventSink>,
    audit: Option<RemoteAudit>,
}

impl Events {
    pub(crate) fn new(sink: Option<EventSink>, audit: Option<RemoteAudit>) -> Self {
        Self {
            counts: Default::default(),
            sink,
            audit,
        }
    }

    /// Records in the Guard's audit, then the host's sink, then counts:
    /// whoever sees the count has the event too.
    pub(crate) fn record(&self, kind: EventKind, issuer: &str, detail: &str) {
        if let Some(audit) = &self.audit {
            audit.record(kind.audit_kind(), issuer);
        }
        if let Some(sink) = &self.sink {
            sink(&Event {
                kind,
                issuer: issuer.to_owned(),
                detail: detail.to_owned(),
            });
        }
        self.counts[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> FetchStats {
        let n = |k: EventKind| self.counts[k as usize].load(Ordering::Relaxed);
        FetchStats {
            jwks_fetches: n(EventKind::JwksFetched),
            jwks_failures: n(EventKind::JwksFailed),
            rotations: n(EventKind::KeysRotated),
            introspection_calls: n(EventKind::IntrospectionCalled),
            introspection_failures: n(EventKind::IntrospectionFailed),
        }
    }
}
