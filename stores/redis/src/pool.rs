//! Connections to one Redis server: opened with the configured timeout for
//! connect, read and write, and kept for reuse.
//!
//! Decides how many idle connections are kept (`pool_size`); a thread that
//! finds none idle opens its own instead of waiting, so a burst of threads
//! never queues behind the pool (the extra connections are closed when they
//! come back to a full pool). A connection that failed is never reused.
//! A small pool of our own on parking_lot rather than r2d2: r2d2's manager
//! for `redis::Client` connects without a timeout, and a pool must never be
//! the place a request hangs.

use std::time::Duration;

use parking_lot::Mutex;
use redis::{Client, Connection, RedisResult};

/// The pool.
pub(crate) struct Pool {
    client: Client,
    idle: Mutex<Vec<Connection>>,
    size: usize,
    timeout: Duration,
}

impl Pool {
    /// A pool for `client`; connects nothing yet.
    pub fn new(client: Client, size: usize, timeout: Duration) -> Self {
        Self {
            client,
            idle: Mutex::new(Vec::with_capacity(size)),
            size,
            timeout,
        }
    }

    /// An idle connection, or a new one.
    pub fn get(&self) -> RedisResult<Connection> {
        if let Some(c) = self.idle.lock().pop() {
            return Ok(c);
        }
        let c = self.client.get_connection_with_timeout(self.timeout)?;
        c.set_read_timeout(Some(self.timeout))?;
        c.set_write_timeout(Some(self.timeout))?;
        Ok(c)
    }

    /// Returns a connection that worked.
    pub fn put(&self, c: Connection) {
        let mut idle = self.idle.lock();
        if idle.len() < self.size {
            idle.push(c);
        }
    }

    /// Closes every idle connection (after a failure: they may all be dead).
    pub fn clear(&self) {
        self.idle.lock().clear();
    }
}
