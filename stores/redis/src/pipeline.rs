//! One connection that carries the checks of every request waiting on
//! Redis, for decisions that await the store instead of holding a thread
//! ([`SharedRateStore::check_later`](mcpguard::shared::SharedRateStore::check_later)).
//!
//! Callers queue their check and get a future; one I/O thread of the store
//! takes every check queued, writes them in one write, reads the replies
//! in order (Redis answers a pipeline in order) and completes each future,
//! then takes what queued meanwhile. Under load a round trip carries many
//! checks, so Redis reads and writes once for all of them and the host
//! wakes one thread per round trip, not one per request. With a single
//! check waiting it is an ordinary round trip.
//!
//! Timeouts hold per check, as on the pooled path: a check is failed once
//! its deadline (queued + `timeout_ms`) passes, whether it is still queued
//! or its round trip is late, and the connection of a late round trip is
//! closed (its replies could only arrive out of step). A failed round trip
//! fails the checks it carried; the next one opens a new connection.
//!
//! A server that lost the script (restarted, flushed: `NOSCRIPT`, "Function
//! not found") gets the library loaded on this connection, and the checks
//! it refused go out again first, once. A server without functions gets
//! `EVALSHA` from then on.
//!
//! One server only: a cluster's checks go to the node holding their slot,
//! which the `redis` crate's cluster connection decides per command; they
//! use the pooled path.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use std::sync::atomic::Ordering;

use redis::{Connection, RedisError, RedisResult, Value};

use crate::function::Function;
use crate::store::Health;

/// Checks one round trip carries at most: enough to amortise a round trip
/// many times over, few enough that one reply never takes long to read.
const MAX_BATCH: usize = 256;

/// What the I/O thread needs besides the queue.
pub(crate) struct Io {
    /// The one server.
    pub client: redis::Client,
    pub function: Arc<Function>,
    pub script: redis::Script,
    /// The store's counters (a round trip is counted once, whatever it
    /// carries).
    pub health: Arc<Health>,
}

/// The queue and the I/O thread.
pub(crate) struct Pipeline {
    shared: Arc<Shared>,
    io: Arc<Io>,
}

/// The queue and its condition variable are the standard library's, not
/// parking_lot's: parking_lot keeps its waiters in a process-wide table
/// that fork copies, so in a forked child the parent's I/O thread would
/// still be listed as waiting here and could take the wake-up meant for
/// the child's own. The standard library's wait on a futex, whose waiters
/// the kernel keeps per process.
struct Shared {
    queue: std::sync::Mutex<Queue>,
    arrived: std::sync::Condvar,
}

impl Shared {
    /// The queue, locked (a panic while it was held leaves it usable:
    /// nothing in it is left half-changed).
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// The I/O thread runs.
    running: bool,
    /// The store is gone: the thread sends what is queued, then ends.
    closed: bool,
    /// The I/O thread waits for a check. Only then does a new one need
    /// to wake it: a busy thread takes what was queued meanwhile with its
    /// next round trip, and a wake-up is a system call whether anybody
    /// waits or not (with 8 checks in flight, one per check was the
    /// largest cost of queueing one).
    idle: bool,
    /// The process whose I/O thread runs (0: none started yet).
    pid: u32,
}

/// One queued check.
struct Job {
    /// The check as `FCALL` and as `EVALSHA`, packed.
    fcall: Vec<u8>,
    evalsha: Vec<u8>,
    deadline: Instant,
    reply: Arc<Reply>,
    /// Sent again after the library was loaded.
    retried: bool,
}

/// A check's reply, once in, and the waker of its future.
#[derive(Default)]
struct Reply {
    state: Mutex<ReplyState>,
}

#[derive(Default)]
struct ReplyState {
    value: Option<RedisResult<Vec<u8>>>,
    waker: Option<Waker>,
}

impl Reply {
    fn set(&self, value: RedisResult<Vec<u8>>) {
        let waker = {
            let mut state = self.state.lock();
            if state.value.is_some() {
                return;
            }
            state.value = Some(value);
            state.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The future of one check's reply (the script's bytes).
pub(crate) struct Pending {
    reply: Arc<Reply>,
}

impl Future for Pending {
    type Output = RedisResult<Vec<u8>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.reply.state.lock();
        match state.value.take() {
            Some(value) => Poll::Ready(value),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Pipeline {
    /// A pipeline whose I/O thread starts with the first check.
    pub fn new(io: Io) -> Self {
        Pipeline {
            shared: Arc::new(Shared {
                queue: std::sync::Mutex::new(Queue::default()),
                arrived: std::sync::Condvar::new(),
            }),
            io: Arc::new(io),
        }
    }

    /// Queues a check (packed as `FCALL` and as `EVALSHA`); `None` when
    /// the I/O thread cannot be started (the caller checks in place).
    pub fn send(&self, fcall: Vec<u8>, evalsha: Vec<u8>, timeout: Duration) -> Option<Pending> {
        let reply = Arc::new(Reply::default());
        let job = Job {
            fcall,
            evalsha,
            deadline: Instant::now() + timeout,
            reply: Arc::clone(&reply),
            retried: false,
        };
        let mut queue = self.shared.lock();
        let me = std::process::id();
        if queue.pid != me {
            // A child forked since the I/O thread started (a pre-forking
            // server): fork copied neither that thread nor a way to use
            // its connection, a socket the parent still reads. This
            // process starts its own thread, on its own connection; the
            // checks queued are the parent's.
            queue.running = false;
            queue.idle = false;
            queue.jobs.clear();
            queue.pid = me;
        }
        if !queue.running {
            let io = Arc::clone(&self.io);
            let shared = Arc::clone(&self.shared);
            std::thread::Builder::new()
                .name("mcpguard-redis-pipeline".into())
                .spawn(move || run(&io, &shared))
                .ok()?;
            queue.running = true;
        }
        queue.jobs.push_back(job);
        let wake = queue.idle;
        drop(queue);
        if wake {
            self.shared.arrived.notify_one();
        }
        Some(Pending { reply })
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.arrived.notify_one();
    }
}

/// The I/O thread: a round trip for everything queued, until the store is
/// gone and the queue empty.
fn run(io: &Io, shared: &Shared) {
    crate::signals::block_for_thread();
    let mut conn: Option<Connection> = None;
    loop {
        let batch: Vec<Job> = {
            let mut queue = shared.lock();
            while queue.jobs.is_empty() {
                if queue.closed {
                    queue.running = false;
                    return;
                }
                queue.idle = true;
                queue = shared
                    .arrived
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
                queue.idle = false;
            }
            let n = queue.jobs.len().min(MAX_BATCH);
            queue.jobs.drain(..n).collect()
        };
        let again = round_trip(io, &mut conn, batch);
        if !again.is_empty() {
            let mut queue = shared.lock();
            for job in again.into_iter().rev() {
                queue.jobs.push_front(job);
            }
        }
    }
}

/// Sends `batch` on the connection (opening one when there is none) and
/// completes each check; returns the checks to send again (once the
/// library is loaded).
fn round_trip(io: &Io, conn: &mut Option<Connection>, batch: Vec<Job>) -> Vec<Job> {
    let now = Instant::now();
    let (late, batch): (Vec<Job>, Vec<Job>) = batch.into_iter().partition(|j| j.deadline <= now);
    for job in late {
        job.reply.set(Err(timed_out()));
    }
    let Some(earliest) = batch.iter().map(|j| j.deadline).min() else {
        return Vec::new();
    };
    // The whole round trip ends by the earliest deadline it carries.
    let budget = earliest
        .saturating_duration_since(now)
        .max(Duration::from_millis(1));
    // A connection kept from an earlier round trip may have been closed
    // since (Redis's idle timeout, a NAT, a restart): failing at once on
    // it, before any reply, the batch goes out again on a new connection
    // (see `pool::round_trip` for why, and when that can count twice).
    let reused = conn.is_some();
    let dropped = |e: &RedisError| reused && e.is_connection_dropped() && !e.is_timeout();
    let mut c = match conn.take() {
        Some(c) => c,
        None => match io.client.get_connection_with_timeout(budget) {
            Ok(c) => c,
            Err(e) => {
                fail(batch, &e);
                return Vec::new();
            }
        },
    };
    let functions = io.function.supported();
    let mut bytes = Vec::with_capacity(batch.iter().map(|j| j.fcall.len()).sum());
    for job in &batch {
        bytes.extend_from_slice(if functions { &job.fcall } else { &job.evalsha });
    }
    io.health.stats.round_trips.fetch_add(1, Ordering::Relaxed);
    // One write, then the replies in order. A read that times out ends the
    // round trip: the checks still waiting fail, and the connection goes
    // (a late reply could only be taken for another check's). The read
    // timeout is the earliest deadline the round trip carries.
    let sent = c
        .set_write_timeout(Some(budget))
        .and_then(|()| c.set_read_timeout(Some(budget)))
        .and_then(|()| c.send_packed_command(&bytes));
    if let Err(e) = sent {
        if dropped(&e) {
            io.health.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            return batch;
        }
        fail(batch, &e);
        return Vec::new();
    }
    let mut again = Vec::new();
    let mut jobs = batch.into_iter();
    let mut answered = false;
    while let Some(job) = jobs.next() {
        let value = match c.recv_response() {
            Ok(value) => value,
            Err(e) if !answered && dropped(&e) => {
                io.health.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                again.push(job);
                again.extend(jobs);
                return again;
            }
            Err(e) => {
                // The checks answered so far stand; this one and the rest
                // fail, and the connection goes.
                job.reply.set(Err(e.clone()));
                fail(jobs.collect(), &e);
                return again;
            }
        };
        answered = true;
        match value {
            Value::BulkString(bytes) => job.reply.set(Ok(bytes)),
            Value::ServerError(e) => {
                let e = RedisError::from(e);
                if !job.retried && io.function.lacks_library(&e) {
                    again.push(job);
                } else {
                    job.reply.set(Err(e));
                }
            }
            other => job.reply.set(Err(RedisError::from((
                redis::ErrorKind::Client,
                "the script answered something else",
                format!("{other:?}"),
            )))),
        }
    }
    if !again.is_empty() {
        let loaded = io
            .function
            .load(&mut c)
            .and_then(|()| io.script.load(&mut c).map(|_| ()));
        if let Err(e) = loaded {
            fail(again, &e);
            return Vec::new();
        }
        for job in &mut again {
            job.retried = true;
        }
    }
    *conn = Some(c);
    again
}

fn fail(jobs: Vec<Job>, e: &RedisError) {
    for job in jobs {
        job.reply.set(Err(e.clone()));
    }
}

fn timed_out() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the check waited past the store's timeout",
    ))
}
