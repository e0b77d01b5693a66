//! Decisions an asyncio loop awaits without a thread: `Completions`, and
//! the start of one awaited decision ([`begin`]).
//!
//! The core's `Guard::authorize_http_later_in_memory` is polled first on
//! the loop's own thread. It decides there outright when nothing waits
//! (an in-process limit, a refusal), or sends its Redis check down the
//! store's pipelined connection and returns; the store's I/O thread then
//! finishes the decision when the answer arrives. That thread never takes
//! the GIL: it queues the finished decision in `Completions` and writes
//! one byte to a socket the loop watches (`loop.add_reader`), and the loop
//! converts and settles every queued decision in one callback
//! (`mcpguard/_loop.py`). A decision that needs more than memory before
//! the store (a signature to check, a key set to fetch, the revocation
//! epoch to read) goes on to one of mcpguard's own decision threads
//! (`mcpguard_host::awaited`), as Node's do: that thread is free again
//! once the check is sent, and its answer reaches the loop the same way.
//! asyncio's default executor, which the host shares, is never held by a
//! decision waiting on Redis.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mcpguard::guard as core;
use parking_lot::Mutex;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::errors;
use crate::guard::Principal as PyPrincipal;
use crate::http::HttpDecision;
use mcpguard::token::{Principal, TokenError};

/// Where finished decisions wait for one event loop: a queue, and a
/// socket whose read end the loop watches. Made by ``mcpguard._loop``,
/// one per loop; not for direct use.
#[pyclass(module = "mcpguard._native", frozen)]
pub struct Completions {
    inbox: Arc<Inbox>,
    next: AtomicU64,
}

/// The side the deciding threads write to. It holds the read end too, so
/// that both ends close only when the last pending decision is done: a
/// write never meets a closed peer (which would raise `SIGPIPE` in a host
/// that does not ignore it).
struct Inbox {
    queue: Mutex<Queue>,
    writer: UnixStream,
    reader: UnixStream,
}

#[derive(Default)]
struct Queue {
    done: Vec<(u64, Finished)>,
    /// A wake-up was written since the last drain took the queue: the
    /// next one need not write another. Kept under the same lock as the
    /// queue, so that no decision is queued after a drain without a
    /// wake-up the loop has yet to read.
    signalled: bool,
}

/// How an awaited decision ended.
enum Finished {
    Decided(Box<core::HttpDecision>),
    /// A token validated on a decision thread ([`begin_validate`]): its
    /// principal, or the refusal with the guard's metadata URL (for the
    /// challenge the exception carries).
    Validated(Result<Arc<Principal>, (TokenError, String)>),
    /// A poll panicked: the awaiting coroutine gets a `RuntimeError`.
    Panicked,
}

impl Inbox {
    /// Queues `finished` and wakes the loop, unless a wake-up is already
    /// on its way. Never blocks: a full socket already holds a wake-up.
    fn push(&self, id: u64, finished: Finished) {
        let wake = {
            let mut q = self.queue.lock();
            q.done.push((id, finished));
            !std::mem::replace(&mut q.signalled, true)
        };
        if wake {
            loop {
                match (&self.writer).write(&[1]) {
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    // Written, or the buffer is full of wake-ups already
                    // (the read end lives as long as this inbox).
                    _ => break,
                }
            }
        }
    }
}

#[pymethods]
impl Completions {
    /// A new queue and socket pair (both ends non-blocking); raises
    /// ``OSError`` when the sockets cannot be made.
    #[new]
    fn new() -> PyResult<Self> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(Completions {
            inbox: Arc::new(Inbox {
                queue: Mutex::new(Queue::default()),
                writer,
                reader,
            }),
            next: AtomicU64::new(1),
        })
    }

    /// The descriptor the loop watches for reading.
    fn fileno(&self) -> i32 {
        self.inbox.reader.as_raw_fd()
    }

    /// Empties the socket and the queue: a list of ``(id, result)``, where
    /// result is the ``HttpDecision``, the ``Principal`` of a validated
    /// token, the ``GuardError`` of a refused one, or the ``RuntimeError``
    /// of a decision that failed unexpectedly.
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        // The wake-ups first, then the queue: a decision queued after the
        // queue is taken writes a wake-up of its own, left for the loop.
        let mut buf = [0u8; 64];
        loop {
            match (&self.inbox.reader).read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        let done = {
            let mut q = self.inbox.queue.lock();
            q.signalled = false;
            std::mem::take(&mut q.done)
        };
        let list = PyList::empty(py);
        for (id, finished) in done {
            let result = match finished {
                Finished::Decided(inner) => Bound::new(py, HttpDecision::from(*inner))?.into_any(),
                Finished::Validated(Ok(inner)) => Bound::new(py, PyPrincipal { inner })?.into_any(),
                Finished::Validated(Err((e, metadata_url))) => {
                    errors::token_error(py, &e, Some(&metadata_url))
                        .into_value(py)
                        .into_bound(py)
                        .into_any()
                }
                Finished::Panicked => failed().into_value(py).into_bound(py).into_any(),
            };
            list.append(PyTuple::new(
                py,
                [id.into_pyobject(py)?.into_any(), result],
            )?)?;
        }
        Ok(list)
    }
}

/// The error of a decision that panicked.
fn failed() -> PyErr {
    PyRuntimeError::new_err("mcpguard: a decision failed unexpectedly")
}

/// What [`begin`] did.
pub enum Begun {
    /// Decided on the spot.
    Decided(Box<core::HttpDecision>),
    /// Waiting on the store (or on a decision thread): the decision
    /// arrives in the `Completions` under this id.
    Waiting(u64),
}

/// Begins one awaited decision on the calling (loop) thread: see the
/// module docs. A panic in the first poll is raised here; in a later one
/// it reaches the awaiting coroutine.
pub fn begin(
    guard: core::Guard,
    options: core::HttpOptions,
    parts: core::OwnedHttpRequest,
    completions: &Completions,
) -> PyResult<Begun> {
    let id = completions.next.fetch_add(1, Ordering::Relaxed);
    let inbox = Arc::clone(&completions.inbox);
    // Where the first poll leaves an answer it finished itself.
    let here: Arc<Mutex<Slot>> = Arc::new(Mutex::new(Slot::Polling));
    let slot = Arc::clone(&here);
    mcpguard_host::awaited::authorize_http(guard, options, parts, move |_, decided| {
        let decided = decided.map(Box::new);
        let mut s = slot.lock();
        if matches!(*s, Slot::Polling) {
            *s = Slot::Done(decided);
            return;
        }
        drop(s);
        inbox.push(id, decided.map_or(Finished::Panicked, Finished::Decided));
    });
    let mut s = here.lock();
    match std::mem::replace(&mut *s, Slot::Returned) {
        Slot::Done(Some(d)) => Ok(Begun::Decided(d)),
        Slot::Done(None) => Err(failed()),
        Slot::Polling | Slot::Returned => Ok(Begun::Waiting(id)),
    }
}

/// Validates `token` on one of mcpguard's decision threads (a signature
/// to check, a revocation epoch or an opaque token to read in Redis, an
/// introspection endpoint to ask): its principal or refusal arrives in
/// `completions` under the id returned. For a token the guard could not
/// take from memory (`Guard._validate_in_memory` gave `None`).
pub fn begin_validate(guard: core::Guard, token: String, completions: &Completions) -> u64 {
    let id = completions.next.fetch_add(1, Ordering::Relaxed);
    let inbox = Arc::clone(&completions.inbox);
    mcpguard_host::threads::submit(Box::new(move || {
        let validated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            guard
                .validate(&token)
                .map_err(|e| (e, guard.metadata_url().to_owned()))
        }));
        inbox.push(
            id,
            match validated {
                Ok(result) => Finished::Validated(result),
                Err(_) => Finished::Panicked,
            },
        );
    }));
    id
}

/// Between [`begin`] and its task: who delivers the answer.
enum Slot {
    /// `begin` has not returned: the task leaves its answer here.
    Polling,
    /// The task's answer, for `begin` to return (`None`: it panicked).
    Done(Option<Box<core::HttpDecision>>),
    /// `begin` returned waiting: the task sends its answer to the inbox.
    Returned,
}
