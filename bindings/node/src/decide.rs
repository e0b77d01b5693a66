//! Threads of mcpguard's own for the decisions `guardAuthorizeHttpAsync`
//! makes off the event loop.
//!
//! libuv's thread pool (4 threads by default) also reads files, resolves
//! names and runs zlib and crypto for the whole process: decisions waiting
//! on a slow Redis there would queue all of those behind them. So these
//! decisions run on [`THREADS`] threads of their own, started on first use
//! and shared by every Guard (and every worker thread) of the process; the
//! promise of each is settled on its event loop through
//! [`crate::settle`].
//!
//! The threads take jobs from one queue under a parking_lot lock held only
//! to push or pop, and a job wakes one idle thread. An earlier queue was a
//! std channel whose receiver the threads shared behind a mutex, held
//! across the wait: every job woke the thread waiting in `recv` and then
//! the next one queued on the mutex, and with 8 decisions in flight a
//! profile put 12% of the process's time in that mutex and the channel's
//! waker (`benches/node/bench_async.js`).

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};
use std::thread;

use parking_lot::{Condvar, Mutex};

use napi::Env;
use napi::bindgen_prelude::{Object, ToNapiValue};

use crate::settle;

/// How many decisions may wait on the network at once, per process: the
/// Redis store's default connection pool (`store.redis.pool_size`, 8)
/// twice over, so that two Guards, or a pool of 16, are never short of a
/// thread. More wait in order.
pub const THREADS: usize = 16;

/// One decision, settling its own promise.
pub type Job = Box<dyn FnOnce() + Send>;

/// The jobs waiting for a thread, and the signal that one arrived.
struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    arrived: Condvar,
}

impl Queue {
    /// The next job, waiting for one as long as it takes.
    fn take(&self) -> Job {
        let mut jobs = self.jobs.lock();
        loop {
            if let Some(job) = jobs.pop_front() {
                return job;
            }
            self.arrived.wait(&mut jobs);
        }
    }
}

static POOL: OnceLock<Option<Arc<Queue>>> = OnceLock::new();

/// Runs `job` on a decision thread; when no thread could be started (the
/// process is at its thread limit), runs it here instead.
pub fn submit(job: Job) {
    match POOL.get_or_init(start) {
        Some(queue) => {
            queue.jobs.lock().push_back(job);
            queue.arrived.notify_one();
        }
        None => job(),
    }
}

/// A promise of `decide()`'s answer, made on a decision thread; a panic
/// rejects it.
pub fn settle<'env, T, F>(env: &'env Env, decide: F) -> napi::Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    try_settle(env, move || Ok(decide()))
}

/// [`settle()`](fn@settle) for a call that may refuse: its error rejects the promise,
/// as the synchronous call would have thrown it.
pub fn try_settle<'env, T, F>(env: &'env Env, decide: F) -> napi::Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    F: FnOnce() -> napi::Result<T> + Send + 'static,
{
    let (pending, promise) = settle::promise(env)?;
    submit(Box::new(move || {
        match catch_unwind(AssertUnwindSafe(decide)) {
            Ok(Ok(answer)) => pending.resolve(answer),
            Ok(Err(refused)) => pending.reject(refused),
            Err(_) => pending.reject(failed()),
        }
    }));
    Ok(promise)
}

/// A promise of a decision that awaits the shared store's answer instead
/// of holding a thread for it. `from_memory` is polled now, on this thread
/// (the event loop), and where it is woken; it must never wait on anything
/// but the store's answer (the core's `authorize_http_later_in_memory`): a
/// request whose token is cached costs no hop to another thread, its check
/// is sent from the event loop and the store's I/O thread settles it.
/// When it cannot decide without waiting (a signature to check, a store or
/// an introspection endpoint to ask) it hands back `later`, whose first
/// poll runs on a decision thread, free once the check is sent. A panic
/// in any poll rejects the promise.
pub fn settle_from_memory<'env, T, M, L, LF>(
    env: &'env Env,
    from_memory: M,
) -> napi::Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    M: Future<Output = Result<T, L>> + Send + 'static,
    L: FnOnce() -> LF + Send + 'static,
    LF: Future<Output = T> + Send + 'static,
{
    let (pending, promise) = settle::promise(env)?;
    mcpguard::task::spawn(async move {
        match mcpguard::task::catch_unwind(from_memory).await {
            Ok(Ok(answer)) => pending.resolve(answer),
            Ok(Err(later)) => submit(Box::new(move || {
                mcpguard::task::spawn(async move {
                    match mcpguard::task::catch_unwind(later()).await {
                        Ok(answer) => pending.resolve(answer),
                        Err(_) => pending.reject(failed()),
                    }
                });
            })),
            Err(_) => pending.reject(failed()),
        }
    });
    Ok(promise)
}

/// The rejection of a decision that panicked.
fn failed() -> napi::Error {
    napi::Error::new(
        napi::Status::GenericFailure,
        "mcpguard: a decision failed unexpectedly".to_string(),
    )
}

/// The threads' queue, or `None` when not one thread could be started.
/// The threads live as long as the process.
fn start() -> Option<Arc<Queue>> {
    let queue = Arc::new(Queue {
        jobs: Mutex::new(VecDeque::new()),
        arrived: Condvar::new(),
    });
    let started = (0..THREADS)
        .filter(|i| {
            let queue = Arc::clone(&queue);
            thread::Builder::new()
                .name(format!("mcpguard-decide-{i}"))
                .spawn(move || {
                    loop {
                        // A job settles its own promise, panics included;
                        // this only keeps the thread alive.
                        drop(catch_unwind(AssertUnwindSafe(queue.take())));
                    }
                })
                .is_ok()
        })
        .count();
    (started > 0).then_some(queue)
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
}
