//! Signals held off a thread while it waits on Redis.
//!
//! Every connection has a read timeout, and Linux does not restart a socket
//! read that has one when a signal handler runs, even under `SA_RESTART`
//! (signal(7), "Interruption of system calls"). redis-rs hands that `EINTR`
//! back as an I/O error with the reply still on the wire, so the round trip
//! fails: the store counts an error, drops the connection and opens its
//! breaker, and under `fail_closed` the next second of requests is refused.
//! Hosts take signals all the time: Node's libuv catches `SIGCHLD` when a
//! child process exits, Python installs its handlers without `SA_RESTART`
//! on purpose (PEP 475), profilers deliver `SIGPROF` to running threads.
//!
//! So a thread blocks the asynchronous signals for the round trip and
//! restores its mask afterwards, as libpq does with `SIGPIPE` around its
//! writes. A signal sent meanwhile to the process goes to another thread,
//! or waits until the mask is restored (at most the store's timeout); one
//! sent to this thread waits likewise. The faults a thread raises itself
//! (`SIGSEGV`, `SIGBUS`, `SIGFPE`, `SIGILL`, `SIGTRAP`, `SIGSYS`) stay
//! unblocked: blocking them is undefined when they are raised. Threads the
//! store owns block the same set for their whole life ([`block_for_thread`]).

#[cfg(unix)]
mod unix {
    use std::sync::LazyLock;

    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

    /// Every signal but the synchronous faults (`SIGKILL` and `SIGSTOP`
    /// cannot be blocked; the kernel ignores them in a mask).
    static HELD: LazyLock<SigSet> = LazyLock::new(|| {
        let mut set = SigSet::all();
        for fault in [
            Signal::SIGSEGV,
            Signal::SIGBUS,
            Signal::SIGFPE,
            Signal::SIGILL,
            Signal::SIGTRAP,
            Signal::SIGSYS,
        ] {
            set.remove(fault);
        }
        set
    });

    /// Restores the thread's previous mask when dropped (on unwind too).
    pub(crate) struct Held {
        previous: Option<SigSet>,
    }

    impl Drop for Held {
        fn drop(&mut self) {
            if let Some(previous) = self.previous.take() {
                // Cannot fail with a valid `how`; a failure would leave
                // signals held, which delays them and loses none.
                let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
            }
        }
    }

    /// Holds the asynchronous signals off this thread until dropped.
    pub(crate) fn hold() -> Held {
        let mut previous = SigSet::empty();
        let previous = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&HELD), Some(&mut previous))
            .ok()
            .map(|()| previous);
        Held { previous }
    }

    /// Holds them off this thread for good (a thread the store owns).
    pub(crate) fn block_for_thread() {
        let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&HELD), None);
    }
}

#[cfg(unix)]
pub(crate) use unix::{block_for_thread, hold};

/// Elsewhere no signal interrupts a socket read: nothing to hold.
#[cfg(not(unix))]
pub(crate) fn hold() {}

/// Elsewhere no signal interrupts a socket read: nothing to hold.
#[cfg(not(unix))]
pub(crate) fn block_for_thread() {}

#[cfg(all(test, unix))]
mod tests {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

    use super::*;

    fn mask() -> SigSet {
        let mut m = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, None, Some(&mut m)).unwrap();
        m
    }

    #[test]
    fn holding_blocks_the_asynchronous_signals_and_restores_the_mask() {
        let before = mask();
        {
            let _held = hold();
            let during = mask();
            for s in [
                Signal::SIGCHLD,
                Signal::SIGINT,
                Signal::SIGUSR1,
                Signal::SIGPROF,
            ] {
                assert!(during.contains(s), "{s:?} held");
            }
            for s in [Signal::SIGSEGV, Signal::SIGBUS, Signal::SIGFPE] {
                assert!(!during.contains(s), "{s:?} never held");
            }
        }
        assert_eq!(mask(), before);
    }

    #[test]
    fn a_signal_blocked_before_stays_blocked_after() {
        let mut usr2 = SigSet::empty();
        usr2.add(Signal::SIGUSR2);
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&usr2), None).unwrap();
        drop(hold());
        assert!(mask().contains(Signal::SIGUSR2));
        pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&usr2), None).unwrap();
    }
}
