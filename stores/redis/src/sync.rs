//! The lock and condition variable the connection pool waits on: the
//! standard library's behind parking_lot's surface, or, with the `shuttle` feature (model checking only,
//! `make modelcheck`), shuttle's behind parking_lot's surface, so that
//! shuttle's scheduler decides at every lock, wait and notification which
//! thread runs next and explores the pool's interleavings (the tests at the
//! end of `pool.rs`).
//!
//! Under the model checker a wait never ends by itself: a waiter nobody
//! notifies is a deadlock, which shuttle reports, so a lost wakeup cannot
//! hide behind a timeout. A wait may instead time out at once, chosen by
//! shuttle's own random source, so the path taken when the deadline passes
//! is explored too; [`timeouts`] counts them.

/// parking_lot's `Mutex` and `Condvar` surface over `$m`'s (`std` or
/// `shuttle`): a guard without poisoning (nothing the pool keeps under the lock is
/// left half-changed by a panic), held in an option so that a wait can
/// hand it to the condition variable by value and take it back; and the
/// result of a timed wait.
macro_rules! lock_surface {
    ($m:ident) => {
        use std::ops::{Deref, DerefMut};
        use std::sync::PoisonError;

        /// The lock.
        #[derive(Debug, Default)]
        pub(crate) struct Mutex<T>($m::sync::Mutex<T>);

        impl<T> Mutex<T> {
            pub(crate) fn new(value: T) -> Self {
                Mutex($m::sync::Mutex::new(value))
            }

            pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
                MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
            }
        }

        /// The guard.
        pub(crate) struct MutexGuard<'a, T>(Option<$m::sync::MutexGuard<'a, T>>);

        impl<T> Deref for MutexGuard<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                self.0.as_deref().expect("the guard is held outside a wait")
            }
        }

        impl<T> DerefMut for MutexGuard<'_, T> {
            fn deref_mut(&mut self) -> &mut T {
                self.0
                    .as_deref_mut()
                    .expect("the guard is held outside a wait")
            }
        }

        /// Whether a wait ended by its deadline.
        pub(crate) struct WaitTimeoutResult(bool);

        impl WaitTimeoutResult {
            pub(crate) fn timed_out(&self) -> bool {
                self.0
            }
        }

        /// The condition variable (each module adds its `wait_until`).
        #[derive(Debug, Default)]
        pub(crate) struct Condvar($m::sync::Condvar);

        impl Condvar {
            pub(crate) fn new() -> Self {
                Condvar($m::sync::Condvar::new())
            }

            pub(crate) fn notify_one(&self) {
                self.0.notify_one();
            }

            pub(crate) fn notify_all(&self) {
                self.0.notify_all();
            }
        }
    };
}

#[cfg(not(feature = "shuttle"))]
pub(crate) use real::{Condvar, Mutex, MutexGuard};

#[cfg(all(test, feature = "shuttle"))]
pub(crate) use model::timeouts;
#[cfg(feature = "shuttle")]
pub(crate) use model::{Condvar, Mutex, MutexGuard};

/// The standard library's lock and condition variable behind parking_lot's
/// surface. Not parking_lot's own: it keeps its waiters in a process-wide
/// table that fork copies, so in a forked child (a pre-forking server's
/// worker) a thread of the parent's, gone there, could still be listed as
/// waiting for a connection and take a wake-up meant for the child's own.
/// The standard library's wait on a futex, whose waiters the kernel keeps
/// per process.
#[cfg(not(feature = "shuttle"))]
mod real {
    use std::time::Instant;

    lock_surface!(std);

    impl Condvar {
        /// Waits for a notification or until `deadline`.
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            deadline: Instant,
        ) -> WaitTimeoutResult {
            let held = guard.0.take().expect("the guard is held outside a wait");
            let left = deadline.saturating_duration_since(Instant::now());
            let (held, result) = self
                .0
                .wait_timeout(held, left)
                .unwrap_or_else(PoisonError::into_inner);
            guard.0 = Some(held);
            WaitTimeoutResult(result.timed_out())
        }
    }
}

#[cfg(feature = "shuttle")]
mod model {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use shuttle::rand::Rng;

    /// Waits that timed out since the process started.
    static TIMEOUTS: AtomicUsize = AtomicUsize::new(0);

    /// How many waits have timed out so far (a test reads it before and
    /// after a run).
    #[cfg(test)]
    pub(crate) fn timeouts() -> usize {
        TIMEOUTS.load(Ordering::SeqCst)
    }

    lock_surface!(shuttle);

    impl Condvar {
        /// Either times out at once (one wait in four, by shuttle's
        /// random source, whatever `_deadline` says) or waits for a
        /// notification, however long that takes.
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _deadline: Instant,
        ) -> WaitTimeoutResult {
            if shuttle::rand::thread_rng().gen_range(0..4) == 0 {
                TIMEOUTS.fetch_add(1, Ordering::SeqCst);
                return WaitTimeoutResult(true);
            }
            let held = guard.0.take().expect("the guard is held outside a wait");
            let held = self.0.wait(held).unwrap_or_else(PoisonError::into_inner);
            guard.0 = Some(held);
            WaitTimeoutResult(false)
        }
    }
}
