//! Threads of mcpguard's own for the decisions a binding's event loop
//! awaits but cannot make in place: a signature to check, a key set or an
//! introspection answer to fetch, before the check goes to the store.
//!
//! The runtime's own pools serve the whole process: libuv's (4 threads by
//! default) also reads files, resolves names and runs zlib and crypto, and
//! asyncio's default executor (a few threads per core) runs whatever the
//! host hands it. Decisions waiting on a slow Redis there would queue all
//! of that behind them. So they run on [`THREADS`] threads of their own,
//! started on first use and shared by every Guard of the process (Node's
//! worker threads, every asyncio loop). A job settles its own promise or
//! future, panics included.
//!
//! The threads take jobs from one queue under a lock held only to push or
//! pop, and a job wakes one idle thread, only when one is idle (a wake-up
//! is a system call whether anybody waits or not). The lock and the
//! condition variable are the standard library's: fork copies neither a
//! thread nor parking_lot's process-wide table of waiters, and a process
//! forked after the threads started (a pre-forking server) starts its own
//! on its first job.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

/// How many decisions may wait on the network at once, per process: the
/// Redis store's default connection pool (`store.redis.pool_size`, 8)
/// twice over, so that two Guards, or a pool of 16, are never short of a
/// thread. More wait in order.
pub const THREADS: usize = 16;

/// One decision, settling its own promise or future.
pub type Job = Box<dyn FnOnce() + Send>;

/// The jobs waiting for a thread.
struct Queue {
    jobs: VecDeque<Job>,
    /// The process whose threads these are (0: none started yet).
    pid: u32,
    /// Threads started in this process.
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    jobs: VecDeque::new(),
    pid: 0,
    threads: 0,
    idle: 0,
});
static ARRIVED: Condvar = Condvar::new();

/// The queue, locked (a panic never leaves it half-changed).
fn lock() -> MutexGuard<'static, Queue> {
    QUEUE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `job` on a decision thread; when not one thread could be started
/// (the process is at its thread limit), runs it here instead.
pub fn submit(job: Job) {
    let mut q = lock();
    let me = std::process::id();
    if q.pid != me {
        // A child forked since the threads started: it has none of them.
        // The jobs queued belong to the parent's loops; running or even
        // dropping them here would touch the parent's promises, so they
        // are forgotten.
        for job in q.jobs.drain(..) {
            std::mem::forget(job);
        }
        q.pid = me;
        q.threads = 0;
        q.idle = 0;
    }
    if q.threads == 0 {
        q.threads = (0..THREADS)
            .filter(|i| {
                thread::Builder::new()
                    .name(format!("mcpguard-decide-{i}"))
                    .spawn(work)
                    .is_ok()
            })
            .count();
        if q.threads == 0 {
            drop(q);
            job();
            return;
        }
    }
    q.jobs.push_back(job);
    let wake = q.idle > 0;
    drop(q);
    if wake {
        ARRIVED.notify_one();
    }
}

/// A decision thread: jobs, one after the other, for the process's life.
fn work() {
    loop {
        let job = {
            let mut q = lock();
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                q.idle += 1;
                q = ARRIVED.wait(q).unwrap_or_else(PoisonError::into_inner);
                q.idle -= 1;
            }
        };
        // A job settles its own promise, panics included; this only
        // keeps the thread alive.
        drop(catch_unwind(AssertUnwindSafe(job)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    #[test]
    fn jobs_run_at_once_each_on_a_decision_thread() {
        // THREADS jobs that each report their thread, then hold it for
        // 300 ms: every report arrives long before any job lets go only if
        // they all run at the same time, each on a thread of its own.
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        for _ in 0..THREADS {
            let tx = tx.clone();
            submit(Box::new(move || {
                let name = thread::current().name().map(str::to_owned);
                tx.send(name).unwrap();
                thread::sleep(Duration::from_millis(300));
            }));
        }
        let names: HashSet<String> = (0..THREADS)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap())
            .collect();
        assert!(
            start.elapsed() < Duration::from_millis(250),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(names.len(), THREADS);
        assert!(
            names.iter().all(|n| n.starts_with("mcpguard-decide-")),
            "{names:?}"
        );
    }

    #[test]
    fn every_job_from_many_submitters_runs_exactly_once() {
        // Four threads submit 5,000 tiny jobs each while the decision
        // threads go idle and wake in between: a wake-up lost between a
        // thread going idle and a job arriving would leave a job queued
        // with every thread asleep, and this would time out.
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        const EACH: usize = 5_000;
        let ran = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let submitters: Vec<_> = (0..4)
            .map(|_| {
                let (ran, tx) = (Arc::clone(&ran), tx.clone());
                thread::spawn(move || {
                    for i in 0..EACH {
                        let (ran, tx) = (Arc::clone(&ran), tx.clone());
                        submit(Box::new(move || {
                            ran.fetch_add(1, Ordering::Relaxed);
                            tx.send(()).unwrap();
                        }));
                        if i % 500 == 0 {
                            // Let the threads run dry and go idle.
                            thread::sleep(Duration::from_millis(1));
                        }
                    }
                })
            })
            .collect();
        for s in submitters {
            s.join().unwrap();
        }
        for _ in 0..4 * EACH {
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert_eq!(ran.load(Ordering::Relaxed), 4 * EACH);
    }

    #[test]
    fn a_job_that_panics_leaves_its_thread_serving() {
        // More panicking jobs than threads, then one that reports: it runs
        // only if every thread survived its panic.
        for _ in 0..THREADS * 2 {
            submit(Box::new(|| panic!("a decision failed")));
        }
        let (tx, rx) = mpsc::channel();
        submit(Box::new(move || tx.send(()).unwrap()));
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}
