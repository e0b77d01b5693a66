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
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mcpguard::token::{KeyRefresh, WeakTokenValidator};
use parking_lot::Mutex;

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

/// `state` and `wake` are the standard library's lock and condition
/// variable, not parking_lot's: parking_lot keeps its waiters in a
/// process-wide table that fork copies, so in a forked child the parent's
/// refresher would still be listed as waiting on `wake` and could take the
/// wake-up meant for the child's own. The standard library's wait on a
/// futex, whose waiters the kernel keeps per process.
pub(crate) struct Shared {
    pub(crate) state: std::sync::Mutex<State>,
    pub(crate) wake: std::sync::Condvar,
    pub(crate) events: Arc<Events>,
    pub(crate) min_refresh: Duration,
    pub(crate) max_refresh: Duration,
    /// What a refresher thread is started with.
    pub(crate) client: Client,
    pub(crate) validator: WeakTokenValidator,
    /// The refresher thread, and the process it runs in.
    pub(crate) thread: Mutex<Refresher>,
}

/// The refresher thread of one fetcher.
#[derive(Default)]
pub(crate) struct Refresher {
    handle: Option<JoinHandle<()>>,
    /// The process that started it: a child forked since has no such
    /// thread (fork copies only the forking thread).
    pid: u32,
}

impl Shared {
    /// The state, locked (a panic while it was held leaves it usable: each
    /// change to it is one assignment).
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits on `wake` until notified or, with one, the deadline; whether
    /// the deadline passed.
    pub(crate) fn wait<'a>(
        &self,
        st: std::sync::MutexGuard<'a, State>,
        deadline: Option<Instant>,
    ) -> (std::sync::MutexGuard<'a, State>, bool) {
        match deadline {
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                let (st, r) = self
                    .wake
                    .wait_timeout(st, left)
                    .unwrap_or_else(PoisonError::into_inner);
                (st, r.timed_out())
            }
            None => (
                self.wake.wait(st).unwrap_or_else(PoisonError::into_inner),
                false,
            ),
        }
    }

    pub(crate) fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
    }

    /// Starts the refresher thread unless one runs in this process: at
    /// attach, and in a child forked since (a pre-forking server), which
    /// would otherwise keep the keys it was forked with for good.
    pub(crate) fn ensure_thread(self: &Arc<Self>) -> std::io::Result<()> {
        let mut t = self.thread.lock();
        let me = std::process::id();
        if t.pid == me && t.handle.is_some() {
            return Ok(());
        }
        // The parent's thread: not ours to join or detach.
        std::mem::forget(t.handle.take());
        let (s, client, weak) = (
            Arc::clone(self),
            self.client.clone(),
            self.validator.clone(),
        );
        t.handle = Some(
            std::thread::Builder::new()
                .name("mcpguard-fetch".into())
                .spawn(move || run(s, client, weak))?,
        );
        t.pid = me;
        Ok(())
    }

    /// Stops the thread and waits for it, if it runs in this process.
    pub(crate) fn stop_and_join(&self) {
        self.stop();
        let handle = {
            let mut t = self.thread.lock();
            let handle = t.handle.take();
            if t.pid != std::process::id() {
                // Joining a thread of the parent would wait for ever.
                std::mem::forget(handle);
                return;
            }
            handle
        };
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// The hook the validator holds: a hint wakes the thread; when the
/// validator drops it (the Guard is gone, or the fetcher detached), the
/// thread stops.
pub(crate) struct Wake(pub(crate) Arc<Shared>);

impl KeyRefresh for Wake {
    fn refresh(&self, issuer: &str) {
        // In a child forked since, a hint restarts the thread here (a
        // no-op where it runs). Should it not start, the keys in force
        // stay, as after any failed fetch.
        let _ = self.0.ensure_thread();
        let mut st = self.0.lock();
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
            let mut st = shared.lock();
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
                st = shared.wait(st, next).0;
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
            if let Err(e) = &result {
                // Recorded before the state is locked: the event reaches
                // the Guard's audit sink, host code that may take its time.
                shared
                    .events
                    .record(EventKind::JwksFailed, &job.issuer, &e.to_string());
            }
            let now = Instant::now();
            let mut st = shared.lock();
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
                Err(_) => {
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
