//! The refresher thread: one per [`Fetcher`](crate::Fetcher), for every
//! issuer whose keys come from `jwks_uri` or discovery.
//!
//! Decides when each issuer's JWK Set is fetched:
//! - at start, then again after the response's `Cache-Control: max-age`
//!   (or `Expires`), kept within `min_refresh_seconds` ..
//!   `max_refresh_seconds` (the maximum when the response says nothing);
//! - at once when the core reports a refresh hint (an unknown `kid`, at most
//!   once per the validator's cooldown per issuer);
//! - after a failure, with a doubling backoff from 1 s up to
//!   `min_refresh_seconds`. A failed fetch or a refused set changes
//!   nothing: the keys in force stay. A discovery issuer looks its metadata
//!   up again after a failure (the server may have moved its keys).
//!
//! A set identical to the one in force is not re-applied (that would drop
//! the issuer's cached validations for nothing). The thread stops when the
//! `Fetcher` is dropped or when the validator it serves is gone.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcpguard::token::{KeyRefresh, WeakTokenValidator};
use parking_lot::{Condvar, Mutex};

use crate::client::Client;
use crate::discovery::discover;
use crate::error::FetchError;
use crate::events::{EventKind, Events};
use crate::introspect::HttpIntrospector;

/// One issuer the thread keeps keys for.
pub(crate) struct Run {
    pub(crate) issuer: String,
    /// Configured, or learnt from discovery.
    pub(crate) jwks_uri: Option<String>,
    pub(crate) discovery: bool,
    /// Set when discovery should also give this introspector its endpoint.
    pub(crate) introspector: Option<Arc<HttpIntrospector>>,
    pub(crate) due: Instant,
    pub(crate) hinted: bool,
    pub(crate) failures: u32,
    pub(crate) tried: bool,
    pub(crate) applied: Option<u64>,
}

pub(crate) struct State {
    pub(crate) stop: bool,
    pub(crate) runs: Vec<Run>,
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) wake: Condvar,
    pub(crate) events: Arc<Events>,
    pub(crate) min_refresh: Duration,
    pub(crate) max_refresh: Duration,
}

impl Shared {
    pub(crate) fn stop(&self) {
        self.state.lock().stop = true;
        self.wake.notify_all();
    }
}

/// The hook the validator holds: a hint wakes the thread; when the
/// validator drops it (the Guard is gone, or the fetcher detached), the
/// thread stops.
pub(crate) struct Wake(pub(crate) Arc<Shared>);

impl KeyRefresh for Wake {
    fn refresh(&self, issuer: &str) {
        let mut st = self.0.state.lock();
        if let Some(run) = st.runs.iter_mut().find(|r| r.issuer == issuer) {
            run.hinted = true;
            drop(st);
            self.0.wake.notify_all();
        }
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        self.0.stop();
    }
}

struct Job {
    index: usize,
    issuer: String,
    jwks_uri: Option<String>,
    discovery: bool,
    introspector: Option<Arc<HttpIntrospector>>,
    applied: Option<u64>,
}

struct Outcome {
    jwks_uri: String,
    fresh_for: Option<Duration>,
    applied: u64,
}

/// The thread's body.
pub(crate) fn run(shared: Arc<Shared>, client: Client, validator: WeakTokenValidator) {
    loop {
        let jobs = {
            let mut st = shared.state.lock();
            loop {
                if st.stop {
                    return;
                }
                let now = Instant::now();
                let jobs: Vec<Job> = st
                    .runs
                    .iter_mut()
                    .enumerate()
                    .filter(|(_, r)| r.hinted || r.due <= now)
                    .map(|(index, r)| {
                        r.hinted = false;
                        Job {
                            index,
                            issuer: r.issuer.clone(),
                            jwks_uri: r.jwks_uri.clone(),
                            discovery: r.discovery,
                            introspector: r.introspector.clone(),
                            applied: r.applied,
                        }
                    })
                    .collect();
                if !jobs.is_empty() {
                    break jobs;
                }
                let next = st.runs.iter().map(|r| r.due).min();
                match next {
                    Some(at) => {
                        shared.wake.wait_until(&mut st, at);
                    }
                    None => shared.wake.wait(&mut st),
                }
            }
        };
        for job in jobs {
            let result = match validator.upgrade() {
                Some(v) => {
                    let result = refresh_one(&client, &v, &job, &shared.events);
                    v.count_fetch(result.is_ok());
                    result
                }
                None => return,
            };
            let now = Instant::now();
            let mut st = shared.state.lock();
            let run = &mut st.runs[job.index];
            run.tried = true;
            match result {
                Ok(o) => {
                    run.failures = 0;
                    run.applied = Some(o.applied);
                    run.jwks_uri = Some(o.jwks_uri);
                    let wait = o
                        .fresh_for
                        .unwrap_or(shared.max_refresh)
                        .clamp(shared.min_refresh, shared.max_refresh);
                    run.due = now + wait;
                }
                Err(e) => {
                    shared
                        .events
                        .record(EventKind::JwksFailed, &job.issuer, &e.to_string());
                    run.failures = run.failures.saturating_add(1);
                    if run.discovery {
                        run.jwks_uri = None;
                    }
                    let backoff = Duration::from_secs(1 << run.failures.min(16).saturating_sub(1));
                    run.due = now + backoff.min(shared.min_refresh);
                }
            }
            drop(st);
            shared.wake.notify_all();
        }
    }
}

fn refresh_one(
    client: &Client,
    validator: &mcpguard::token::TokenValidator,
    job: &Job,
    events: &Events,
) -> Result<Outcome, FetchError> {
    let jwks_uri = match (&job.jwks_uri, job.discovery) {
        (Some(uri), _) => uri.clone(),
        (None, true) => {
            let meta = discover(client, &job.issuer)?;
            if let (Some(ix), Some(endpoint)) = (&job.introspector, &meta.introspection_endpoint) {
                *ix.endpoint.write() = Some(endpoint.clone());
            }
            meta.jwks_uri.ok_or_else(|| {
                FetchError::Invalid(job.issuer.clone(), "the metadata names no jwks_uri".into())
            })?
        }
        (None, false) => {
            return Err(FetchError::Config(format!(
                "issuer {} has neither jwks_uri nor discovery",
                job.issuer
            )));
        }
    };
    let fetched = client.get(&jwks_uri)?;
    let text = std::str::from_utf8(&fetched.body)
        .map_err(|_| FetchError::Invalid(jwks_uri.clone(), "the JWK Set is not UTF-8".into()))?;
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    let digest = h.finish();
    if job.applied != Some(digest) {
        validator
            .set_jwks(&job.issuer, text)
            .map_err(|e| FetchError::Invalid(jwks_uri.clone(), e.to_string()))?;
        if job.applied.is_some() {
            events.record(EventKind::KeysRotated, &job.issuer, &jwks_uri);
        }
    }
    events.record(EventKind::JwksFetched, &job.issuer, &jwks_uri);
    Ok(Outcome {
        jwks_uri,
        fresh_for: fetched.fresh_for,
        applied: digest,
    })
}
