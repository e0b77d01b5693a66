//! Running the futures of the `_later` entry points
//! (`Guard::authorize_http_later` and `…_in_memory`): polled wherever they
//! are woken ([`spawn`]), for a host that must not hold a thread while a
//! shared store answers, or to completion on this thread ([`block_on`]).
//!
//! A decision is split where the shared store is asked: the synchronous
//! entry points call the store in place, and the `_later` ones await it.
//! With a store that pipelines (the Redis store on one server), the first
//! poll runs the decision up to the store's check and sends it; the
//! store's I/O thread wakes the task when the answer is in, and the
//! decision completes there. With any other store the future completes on
//! its first poll.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use parking_lot::Mutex;

/// Runs `future` to completion on this thread: polled once, and should it
/// wait after all, the thread parks until the future is woken.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    // A decision that never waits (every synchronous one) costs no waker.
    if let Poll::Ready(out) = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        return out;
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

/// Wakes a thread parked in [`block_on`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// `future`, with a panic in any of its polls caught and returned as
/// `Err` (with the panic's payload) instead of unwinding into whoever
/// polled it: a binding's task settles its promise or its queue entry
/// either way, and never unwinds across its FFI boundary or a store's
/// I/O thread.
pub fn catch_unwind<F: Future>(future: F) -> CatchUnwind<F> {
    CatchUnwind(Box::pin(future))
}

/// The future of [`catch_unwind`].
pub struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = thread::Result<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.0.as_mut().poll(cx)));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// Polls `future` now, on this thread, and again on whichever thread wakes
/// it, until it completes: what it does when it completes (settling a
/// promise, say) is its own last step. Nothing else runs it, so a future
/// that is never woken is dropped with its last waker.
pub fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) {
    let task = Arc::new(Task {
        future: Mutex::new(Some(Box::pin(future))),
        woken: AtomicBool::new(true),
    });
    task.run();
}

/// A spawned future, polled by whoever wakes it.
struct Task {
    /// `None` once it completed.
    future: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
    /// Woken since its last poll began.
    woken: AtomicBool,
}

impl Task {
    /// Polls the future while it has been woken. A wake that finds another
    /// thread polling (or this one: a future may wake itself) only marks
    /// the task; the poller sees the mark when its poll ends and polls
    /// again, so no wake is lost and no poll waits on another.
    fn run(self: &Arc<Self>) {
        loop {
            let Some(mut slot) = self.future.try_lock() else {
                return;
            };
            if !self.woken.swap(false, Ordering::AcqRel) {
                return;
            }
            let Some(future) = slot.as_mut() else {
                return;
            };
            let waker = Waker::from(Arc::clone(self));
            if future
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
            {
                *slot = None;
                return;
            }
            drop(slot);
            if !self.woken.load(Ordering::Acquire) {
                return;
            }
        }
    }
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.run();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn catch_unwind_returns_a_panic_in_a_later_poll_as_err_and_an_answer_as_ok() {
        assert_eq!(block_on(catch_unwind(async { 7 })).ok(), Some(7));
        let panicked = block_on(catch_unwind(async {
            WokenLater { polls: 0 }.await;
            panic!("in the second poll");
        }));
        let payload = panicked.expect_err("the panic comes back as Err");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"in the second poll"));
    }

    /// A future ready on its second poll, woken from another thread.
    struct WokenLater {
        polls: u32,
    }

    impl Future for WokenLater {
        type Output = u32;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.polls += 1;
            if self.polls >= 3 {
                return Poll::Ready(self.polls);
            }
            let waker = cx.waker().clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(5));
                waker.wake();
            });
            Poll::Pending
        }
    }

    #[test]
    fn block_on_returns_a_ready_future_at_once_and_waits_for_one_woken_later() {
        assert_eq!(block_on(async { 7 }), 7);
        // The first poll's wake goes to the no-op waker; the second poll
        // registers the parking one.
        assert_eq!(block_on(WokenLater { polls: 0 }), 3);
    }

    /// A future that wakes itself while it is polled, twice, then is
    /// ready: a task must not deadlock on its own wake.
    struct WakesItself {
        polls: u32,
    }

    impl Future for WakesItself {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls += 1;
            if self.polls == 3 {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_task_that_wakes_itself_is_polled_again_not_deadlocked() {
        let (tx, rx) = mpsc::channel();
        spawn(async move {
            WakesItself { polls: 0 }.await;
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn a_spawned_future_completes_on_the_thread_that_wakes_it() {
        let (tx, rx) = mpsc::channel();
        spawn(async move {
            let polls = WokenLater { polls: 1 }.await;
            tx.send((polls, thread::current().id())).unwrap();
        });
        let (polls, on) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(polls, 3);
        assert_ne!(on, thread::current().id(), "finished by the waking thread");
    }
}
