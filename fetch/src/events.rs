//! What the fetcher did: counters and events for the host's logs.
//!
//! Every fetch, failure, key rotation and introspection call is counted and
//! handed, as an [`Event`], to the host's sink when one is set. Events name
//! issuers and URLs, never tokens or credentials.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
}

impl Events {
    pub(crate) fn new(sink: Option<EventSink>) -> Self {
        Self {
            counts: Default::default(),
            sink,
        }
    }

    pub(crate) fn record(&self, kind: EventKind, issuer: &str, detail: &str) {
        self.counts[kind as usize].fetch_add(1, Ordering::Relaxed);
        if let Some(sink) = &self.sink {
            sink(&Event {
                kind,
                issuer: issuer.to_owned(),
                detail: detail.to_owned(),
            });
        }
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
