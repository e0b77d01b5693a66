//! The atomics, locks and yields the concurrent stores are built on: std's
//! and parking_lot's, or, with the `shuttle` feature (model checking only,
//! `make modelcheck`), shuttle's, so that its scheduler decides at every
//! access which thread runs next and can explore the interleavings.
//!
//! Only the rate table (`ratelimit::table`) and the verified-token cache
//! (`token::cache`) take their primitives from here; the rest of the crate
//! is not model-checked and uses std directly.

#[cfg(not(feature = "shuttle"))]
pub(crate) use parking_lot::RwLock;
#[cfg(not(feature = "shuttle"))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

#[cfg(feature = "shuttle")]
pub(crate) use shuttle::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Gives the processor (or, under the model checker, the schedule) to
/// another thread.
#[inline]
pub(crate) fn yield_now() {
    #[cfg(not(feature = "shuttle"))]
    std::thread::yield_now();
    #[cfg(feature = "shuttle")]
    shuttle::thread::yield_now();
}

/// Whether a waiter should yield on every round (under the model checker,
/// where spinning without yielding would never let the holder run).
pub(crate) const ALWAYS_YIELD: bool = cfg!(feature = "shuttle");

/// `len` atomics, all zero: one zeroed allocation (the system backs only
/// the pages touched), or one by one under the model checker, whose
/// atomics are not plain words.
pub(crate) fn zeroed_atomics(len: usize) -> Box<[AtomicU64]> {
    #[cfg(not(feature = "shuttle"))]
    return bytemuck::allocation::zeroed_slice_box(len);
    #[cfg(feature = "shuttle")]
    return (0..len).map(|_| AtomicU64::new(0)).collect();
}

/// parking_lot's `RwLock` surface (guards without poisoning) over
/// shuttle's lock.
#[cfg(feature = "shuttle")]
#[derive(Debug, Default)]
pub(crate) struct RwLock<T>(shuttle::sync::RwLock<T>);

#[cfg(feature = "shuttle")]
impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        RwLock(shuttle::sync::RwLock::new(value))
    }

    pub(crate) fn read(&self) -> shuttle::sync::RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> shuttle::sync::RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}
