//! The lock and condition variable the connection pool waits on:
//! parking_lot's, or, with the `shuttle` feature (model checking only,
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

#[cfg(not(feature = "shuttle"))]
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};

#[cfg(all(test, feature = "shuttle"))]
pub(crate) use model::timeouts;
#[cfg(feature = "shuttle")]
pub(crate) use model::{Condvar, Mutex, MutexGuard};

#[cfg(feature = "shuttle")]
mod model {
    use std::ops::{Deref, DerefMut};
    use std::sync::PoisonError;
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

    /// parking_lot's `Mutex` surface (a guard without poisoning) over
    /// shuttle's.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(shuttle::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(shuttle::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
        }
    }

    /// The guard: shuttle's, held in an option so that a wait can hand it
    /// to shuttle's condition variable by value and take it back.
    pub(crate) struct MutexGuard<'a, T>(Option<shuttle::sync::MutexGuard<'a, T>>);

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

    /// parking_lot's `Condvar` surface over shuttle's.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(shuttle::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(shuttle::sync::Condvar::new())
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }

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
