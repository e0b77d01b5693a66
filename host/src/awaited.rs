//! One awaited HTTP decision, made the way every binding's awaited call
//! makes it (Python's `authorize_http_async`, C's
//! `mcpguard_guard_authorize_http_async`).
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

use mcpguard::guard::{Guard, HttpDecision, HttpOptions, OwnedHttpRequest};

use crate::threads;

/// Decides `request` as described in the module docs and hands the
/// decision to `deliver`, exactly once: on the calling thread before this
/// returns when nothing had to wait, else later on the thread that
/// finished it (a decision thread or the store's I/O thread). `None` when
/// the decision panicked.
pub fn authorize_http(
    guard: Guard,
    options: HttpOptions,
    request: OwnedHttpRequest,
    deliver: impl FnOnce(Option<HttpDecision>) + Send + 'static,
) {
    mcpguard::task::spawn(async move {
        let first = mcpguard::task::catch_unwind(async {
            let pairs = request.header_pairs();
            let r = request.request(&pairs);
            guard.authorize_http_later_in_memory(&r, &options).await
        })
        .await;
        match first {
            Ok(Some(decision)) => deliver(Some(decision)),
            Err(_) => deliver(None),
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
                    deliver(decided.ok());
                });
            })),
        }
    });
}
