//! Each thread's own copies of a policy's server names.
//!
//! An allowed decision hands back the visible servers' names as
//! `Arc<str>`s. Cloning one `Arc` on two cores at once makes both write its
//! count: one cache line that then moves between the cores on every
//! request, which was what kept a second thread from adding throughput. So
//! each thread clones from copies of its own, made once per thread and
//! policy: the names a decision carries share a count with nothing another
//! thread is touching.
//!
//! A thread keeps the copies of its [`SLOTS`] most recent policies (a
//! replaced Guard's copies are freed when a newer policy takes the slot or
//! the thread ends). A policy of more than [`MAX_COPIED`] servers is not
//! copied: the caller clones the shared names instead.

use std::cell::RefCell;
use std::sync::Arc;

/// Policies remembered per thread.
const SLOTS: usize = 4;

/// The most servers a policy may have for its names to be copied per
/// thread; past this, a decision's cost is in listing the servers, not in
/// the shared counts.
pub(super) const MAX_COPIED: usize = 1024;

type Slot = Option<(u64, Box<[Arc<str>]>)>;

thread_local! {
    static COPIES: RefCell<([Slot; SLOTS], usize)> =
        const { RefCell::new(([const { None }; SLOTS], 0)) };
}

/// Calls `f` with this thread's copies of the names of policy `id`, made by
/// `copy` the first time. `None` (and `f` not called) when the policy has
/// more than [`MAX_COPIED`] servers or the thread is ending.
pub(super) fn with<R>(
    id: u64,
    count: usize,
    copy: impl FnOnce() -> Box<[Arc<str>]>,
    f: impl FnOnce(&[Arc<str>]) -> R,
) -> Option<R> {
    if count > MAX_COPIED {
        return None;
    }
    COPIES
        .try_with(|cell| {
            let mut copies = cell.try_borrow_mut().ok()?;
            let (slots, next) = &mut *copies;
            if let Some((_, names)) = slots.iter().flatten().find(|(i, _)| *i == id) {
                return Some(f(names));
            }
            let slot = *next;
            *next = (slot + 1) % SLOTS;
            let names = &slots[slot].insert((id, copy())).1;
            Some(f(names))
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Box<[Arc<str>]> {
        list.iter().map(|n| Arc::from(*n)).collect()
    }

    #[test]
    fn a_thread_copies_a_policys_names_once_and_clones_its_own_copies() {
        let shared = names(&["a", "b"]);
        let first = with(u64::MAX - 1, 2, || shared.clone(), |n| n[0].clone()).unwrap();
        let again = with(u64::MAX - 1, 2, || panic!("copied twice"), |n| n[0].clone()).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the thread's own copy");
        let other = std::thread::spawn(move || {
            with(u64::MAX - 1, 2, || names(&["a", "b"]), |n| n[0].clone()).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(first, other);
        assert!(!Arc::ptr_eq(&first, &other), "another thread, another copy");
    }

    #[test]
    fn a_large_policy_is_not_copied_and_old_policies_make_room() {
        assert!(with(7, MAX_COPIED + 1, || panic!("copied"), |_| ()).is_none());
        for id in 0..(SLOTS as u64 + 2) {
            let got = with(1000 + id, 1, || names(&["s"]), |n| n.len());
            assert_eq!(got, Some(1));
        }
        // The oldest slot was reused: its policy is copied again.
        let mut copied = false;
        with(
            1000,
            1,
            || {
                copied = true;
                names(&["s"])
            },
            |_| (),
        );
        assert!(copied);
    }
}
