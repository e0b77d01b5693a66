//! `Guard::authorize_http_later`: the same decision as `authorize_http`,
//! with a shared store's answer awaited instead of waited for.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mcpguard::ManualClock;
use mcpguard::config::GuardConfig;
use mcpguard::guard::{Guard, GuardOptions, HttpAction, HttpDecision, HttpOptions, HttpRequest};
use mcpguard::ratelimit::Limit;
use mcpguard::shared::{
    OnError, SharedAnswer, SharedFuture, SharedLimit, SharedRateStore, SharedStoreError,
};
use mcpguard::task;
use mcpguard_testkit as kit;
use serde_json::json;

/// A store with no state: every check finds every limit fresh and counts
/// the request. With `later`, it answers from another thread after a
/// while; with `fails`, it answers that it is unavailable.
#[derive(Debug, Default)]
struct Fresh {
    later: bool,
    fails: bool,
    in_place: AtomicUsize,
    answered_later: AtomicUsize,
}

impl Fresh {
    fn answer(
        &self,
        n: usize,
        now: Option<u64>,
        cost: u64,
    ) -> Result<SharedAnswer, SharedStoreError> {
        if self.fails {
            return Err(SharedStoreError::Unavailable {
                detail: "down".into(),
                retry_after_ms: 250,
            });
        }
        Ok(SharedAnswer {
            now_nanos: now.unwrap_or(1_767_225_600_000_000_000),
            states: vec![None; n],
            committed: cost > 0,
        })
    }
}

/// The answer, once in, and the waker of the task awaiting it.
type Slot = Arc<
    Mutex<(
        Option<Result<SharedAnswer, SharedStoreError>>,
        Option<Waker>,
    )>,
>;

/// A future completed by another thread.
struct Later {
    slot: Slot,
}

impl Future for Later {
    type Output = Result<SharedAnswer, SharedStoreError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.slot.lock().unwrap();
        match slot.0.take() {
            Some(answer) => Poll::Ready(answer),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl SharedRateStore for Fresh {
    fn check(
        &self,
        limits: &[SharedLimit<'_>],
        _key: &str,
        now_nanos: Option<u64>,
        cost: u64,
    ) -> Result<SharedAnswer, SharedStoreError> {
        self.in_place.fetch_add(1, Ordering::SeqCst);
        self.answer(limits.len(), now_nanos, cost)
    }

    fn check_later(
        &self,
        limits: &[SharedLimit<'_>],
        _key: &str,
        now_nanos: Option<u64>,
        cost: u64,
    ) -> Option<SharedFuture> {
        if !self.later {
            return None;
        }
        self.answered_later.fetch_add(1, Ordering::SeqCst);
        let answer = self.answer(limits.len(), now_nanos, cost);
        let slot: Slot = Arc::new(Mutex::new((None, None)));
        let theirs = Arc::clone(&slot);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let waker = {
                let mut s = theirs.lock().unwrap();
                s.0 = Some(answer);
                s.1.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        });
        Some(Box::pin(Later { slot }))
    }

    fn answers_later(&self) -> bool {
        self.later
    }

    fn supports(&self, _limit: &Limit) -> Result<(), String> {
        Ok(())
    }

    fn on_error(&self) -> OnError {
        OnError::FailClosed
    }

    fn metrics_text(&self, _out: &mut String) {}
}

/// An anonymous Guard on `store`.
fn guard(store: Arc<Fresh>) -> Guard {
    guard_with(json!({"issuers": [], "required": false}), store)
}

/// A Guard with the `auth` section `auth`, five requests a minute on
/// `store`, at a fixed time.
fn guard_with(auth: serde_json::Value, store: Arc<Fresh>) -> Guard {
    let config = json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": auth,
        "servers": {"filesystem": {"tags": ["files"]}},
        "rate_limit": {"limit": 5, "window_seconds": 60}
    });
    let config: GuardConfig = serde_json::from_value(config).unwrap();
    let options = GuardOptions {
        rate_store: Some(store),
        ..GuardOptions::with_clock(ManualClock::new(1_767_225_600))
    };
    Guard::from_config(config, options).unwrap()
}

const BODY: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file"}}"#;

fn request() -> HttpRequest<'static> {
    HttpRequest {
        peer: Some("203.0.113.9"),
        body: mcpguard::guard::HttpBody::Bytes(BODY.as_bytes()),
        ..HttpRequest::new("POST", "/mcp")
    }
}

fn summary(d: &HttpDecision) -> serde_json::Value {
    let (status, headers) = match &d.action {
        HttpAction::Respond(r) => (r.status, r.headers.clone()),
        HttpAction::Forward { headers } => (200, headers.clone()),
        HttpAction::Pass => (0, Vec::new()),
    };
    json!({"status": status, "headers": headers,
           "decision": d.decision.as_ref().map(|d| d.to_json())})
}

#[test]
fn the_future_is_send_and_decides_as_the_synchronous_call() {
    fn send<T: Send>(_: &T) {}
    let options = HttpOptions::new(Some("filesystem"));
    let later = Arc::new(Fresh {
        later: true,
        ..Fresh::default()
    });
    let in_place = Arc::new(Fresh::default());
    let (g_later, g_in_place) = (guard(later.clone()), guard(in_place.clone()));
    let req = request();
    let future = g_later.authorize_http_later(&req, &options);
    send(&future);
    let a = task::block_on(future);
    let b = g_in_place.authorize_http(&request(), &options);
    assert_eq!(summary(&a), summary(&b));
    assert!(
        matches!(a.action, HttpAction::Forward { .. }),
        "{:?}",
        summary(&a)
    );
    assert_eq!(later.answered_later.load(Ordering::SeqCst), 1);
    assert_eq!(later.in_place.load(Ordering::SeqCst), 0, "no thread waited");
    assert_eq!(in_place.in_place.load(Ordering::SeqCst), 1);
}

#[test]
fn a_store_that_cannot_answer_later_is_called_in_place() {
    let store = Arc::new(Fresh::default());
    let g = guard(store.clone());
    let d =
        task::block_on(g.authorize_http_later(&request(), &HttpOptions::new(Some("filesystem"))));
    assert!(matches!(d.action, HttpAction::Forward { .. }));
    assert_eq!(store.in_place.load(Ordering::SeqCst), 1);
}

#[test]
fn a_failure_answered_later_is_decided_by_on_error_as_in_place() {
    let options = HttpOptions::new(Some("filesystem"));
    let later = guard(Arc::new(Fresh {
        later: true,
        fails: true,
        ..Fresh::default()
    }));
    let in_place = guard(Arc::new(Fresh {
        fails: true,
        ..Fresh::default()
    }));
    let a = task::block_on(later.authorize_http_later(&request(), &options));
    let b = in_place.authorize_http(&request(), &options);
    assert_eq!(summary(&a), summary(&b));
    let HttpAction::Respond(r) = &a.action else {
        panic!("fail_closed refuses: {:?}", summary(&a));
    };
    assert_eq!(r.status, 503);
}

#[test]
fn a_spawned_decision_finishes_on_the_thread_the_store_answers_from() {
    let store = Arc::new(Fresh {
        later: true,
        ..Fresh::default()
    });
    let g = guard(store);
    let (tx, rx) = mpsc::channel();
    let here = std::thread::current().id();
    task::spawn(async move {
        let req = request();
        let d = g
            .authorize_http_later(&req, &HttpOptions::new(Some("filesystem")))
            .await;
        tx.send((summary(&d), std::thread::current().id())).unwrap();
    });
    let (d, on) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(d["status"], 200);
    assert_ne!(on, here, "the first poll returned; the answer finished it");
}

/// A Guard that needs a token (RS256, key `k1`), on the later store.
fn guard_with_tokens(store: Arc<Fresh>) -> Guard {
    let auth = json!({"issuers": [{"issuer": "https://auth.example.com",
        "jwks": kit::jwks(&[("rsa", Some("k1"), Some("RS256"))])}]});
    guard_with(auth, store)
}

fn bearer() -> String {
    let claims = json!({"iss": "https://auth.example.com", "sub": "alice", "client_id": "app",
        "aud": "https://mcp.example.com/mcp", "exp": 1_767_225_600 + 3600, "scope": "tag:files"});
    let token = kit::sign(
        "RS256",
        "rsa",
        &json!({"alg": "RS256", "kid": "k1"}).to_string(),
        &claims.to_string(),
    );
    format!("Bearer {token}")
}

#[test]
fn from_memory_a_token_to_verify_stops_without_a_trace_and_a_cached_one_decides_alike() {
    let store = Arc::new(Fresh {
        later: true,
        ..Fresh::default()
    });
    let g = guard_with_tokens(store.clone());
    let options = HttpOptions::new(Some("filesystem"));
    let auth = bearer();
    let headers: [(&[u8], &[u8]); 1] = [(b"authorization", auth.as_bytes())];
    let req = HttpRequest {
        headers: &headers,
        ..request()
    };
    // Not verified yet: a signature to check, so nothing from memory.
    let before = g.metrics_text();
    assert!(task::block_on(g.authorize_http_later_in_memory(&req, &options)).is_none());
    assert_eq!(g.metrics_text(), before, "nothing counted");
    assert!(g.drain_audit().is_empty(), "nothing recorded");
    assert_eq!(
        store.answered_later.load(Ordering::SeqCst),
        0,
        "nothing charged"
    );
    // Verified once (and cached), the same request decides from memory,
    // as the synchronous call does.
    let first = g.authorize_http(&req, &options);
    let from_memory = task::block_on(g.authorize_http_later_in_memory(&req, &options))
        .expect("a cached token decides from memory");
    let again = g.authorize_http(&req, &options);
    assert_eq!(summary(&first)["status"], 200);
    assert_eq!(summary(&from_memory)["status"], 200);
    // Same headers but the remaining count, which moved by one each.
    assert_eq!(
        summary(&from_memory)["decision"]["principal"],
        summary(&again)["decision"]["principal"]
    );
    assert_eq!(store.answered_later.load(Ordering::SeqCst), 1);
}

#[test]
fn from_memory_an_anonymous_or_unreadable_request_decides_at_once() {
    let g = guard_with_tokens(Arc::new(Fresh {
        later: true,
        ..Fresh::default()
    }));
    let options = HttpOptions::new(Some("filesystem"));
    // No token, where one is required: the 401, from memory.
    let d = task::block_on(g.authorize_http_later_in_memory(&request(), &options))
        .expect("a missing token needs nothing but memory");
    assert_eq!(summary(&d)["status"], 401);
    // A body that cannot be read: the 400, from memory.
    let bad = HttpRequest {
        body: mcpguard::guard::HttpBody::Bytes(b"{nope"),
        ..request()
    };
    let d = task::block_on(g.authorize_http_later_in_memory(&bad, &options)).unwrap();
    assert_eq!(summary(&d)["status"], 400);
}

#[test]
fn from_memory_nothing_is_decided_when_the_store_only_answers_in_place() {
    // A store that would make the event loop wait for its answer (a Redis
    // Cluster): the decision goes where waiting is allowed.
    let store = Arc::new(Fresh::default());
    let g = guard(store.clone());
    let before = g.metrics_text();
    assert!(
        task::block_on(
            g.authorize_http_later_in_memory(&request(), &HttpOptions::new(Some("filesystem")))
        )
        .is_none()
    );
    assert_eq!(g.metrics_text(), before, "nothing counted");
    assert_eq!(store.in_place.load(Ordering::SeqCst), 0, "nothing charged");
}
