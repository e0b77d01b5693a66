//! One awaited HTTP decision, made the way every binding's awaited call
//! makes it (Python's `authorize_http_async`, Node's
//! `authorizeHttpAsync`, C's `mcpguard_guard_authorize_http_async`).
//!
//! The core's `Guard::authorize_http_later_in_memory` is polled first, on
//! the calling thread (an event loop's): it decides there outright when
//! nothing waits, or sends its Redis check down the store's pipelined
//! connection and finishes when the store's I/O thread hands the answer
//! back. A request it cannot take from memory before the store (a
//! signature to check, keys or an introspection answer to fetch, the
//! revocation epoch to read) goes whole to one of mcpguard's decision
//! threads ([`crate::threads`]), where `authorize_http_later` runs, free
//! again once its check is sent. No thread waits for the round trip.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mcpguard::guard::{Guard, HttpDecision, HttpOptions, HttpRequest, OwnedHttpRequest};

use crate::threads;

/// A request a binding owns, as the core reads it: each binding keeps
/// its copy in its own layout.
pub trait Request: Send + Sync + 'static {
    /// The headers as [`HttpRequest::headers`] borrows them.
    fn header_pairs(&self) -> Vec<(&[u8], &[u8])>;
    /// The core's request over this copy, with `pairs` from
    /// [`header_pairs`](Self::header_pairs).
    fn request<'a>(&'a self, pairs: &'a [(&'a [u8], &'a [u8])]) -> HttpRequest<'a>;
}

impl Request for OwnedHttpRequest {
    fn header_pairs(&self) -> Vec<(&[u8], &[u8])> {
        OwnedHttpRequest::header_pairs(self)
    }
    fn request<'a>(&'a self, pairs: &'a [(&'a [u8], &'a [u8])]) -> HttpRequest<'a> {
        OwnedHttpRequest::request(self, pairs)
    }
}

/// Decides `request` as described in the module docs and hands the
/// request back with its decision to `deliver`, exactly once: on the
/// calling thread before this returns when nothing had to wait, else later
/// on the thread that finished it (a decision thread or the store's I/O
/// thread). The decision is `None` when it panicked. A panic in `deliver`
/// stays there: the thread that ran it goes on serving.
pub fn authorize_http<Q: Request>(
    guard: Guard,
    options: HttpOptions,
    request: Q,
    deliver: impl FnOnce(Q, Option<HttpDecision>) + Send + 'static,
) {
    let deliver = move |request: Q, decision: Option<HttpDecision>| {
        drop(catch_unwind(AssertUnwindSafe(|| {
            deliver(request, decision)
        })));
    };
    mcpguard::task::spawn(async move {
        let first = mcpguard::task::catch_unwind(async {
            let pairs = request.header_pairs();
            let r = request.request(&pairs);
            guard.authorize_http_later_in_memory(&r, &options).await
        })
        .await;
        match first {
            Ok(Some(decision)) => deliver(request, Some(decision)),
            Err(_) => deliver(request, None),
            // Nothing was recorded or counted: the whole decision goes to
            // a decision thread.
            Ok(None) => threads::submit(Box::new(move || {
                mcpguard::task::spawn(async move {
                    let decided = mcpguard::task::catch_unwind(async {
                        let pairs = request.header_pairs();
                        let r = request.request(&pairs);
                        guard.authorize_http_later(&r, &options).await
                    })
                    .await;
                    deliver(request, decided.ok());
                });
            })),
        }
    });
}
