//! The rate-limit script as a Redis function (Redis 7.0 and later).
//!
//! `EVALSHA` runs the whole script on every call, so the script's helper
//! functions are created again each time (a closure each: about a
//! microsecond of the server's time per call in all). Loaded once as a
//! function library (`FUNCTION LOAD`), the helpers are made at load time
//! and each `FCALL` runs only the request part of the same text, split at
//! its `--[[ request ]]` line.
//!
//! The library and function names carry the SHA-1 of the library text, so
//! replicas running different versions never call each other's code, and a
//! rolling upgrade needs nothing removed. A server that lost its functions
//! (restarted without persistence, flushed) answers "Function not found":
//! the library is loaded (`REPLACE`: on a cluster it goes to every primary,
//! some of which may have it) and the call sent again. A server without
//! `FCALL` (Redis 6, or the command renamed away) answers "unknown
//! command" (and a user the ACL does not let call or load functions,
//! "NOPERM"): the store then uses `EVALSHA` for good.

use std::sync::atomic::{AtomicBool, Ordering};

use redis::{ConnectionLike, RedisError, RedisResult};

/// The line that ends the definitions and starts the request part.
const REQUEST_MARK: &str = "--[[ request ]]";

/// The script's library and the name of its function.
#[derive(Debug)]
pub(crate) struct Function {
    /// `#!lua name=…` and the definitions, then the request part wrapped
    /// as the registered function.
    library: String,
    /// What `FCALL` names.
    pub(crate) name: String,
    /// Whether the server takes `FCALL` (until it says it does not).
    supported: AtomicBool,
}

impl Function {
    /// The library for `script` (the whole `EVALSHA` text).
    pub(crate) fn new(script: &str) -> Self {
        let (definitions, request) = script
            .split_once(REQUEST_MARK)
            .expect("script.lua has its request mark");
        // The SHA-1 of the text, as redis computes a script's.
        let version = redis::Script::new(script).get_hash()[..16].to_owned();
        let name = format!("mcpguard_check_{version}");
        let library = format!(
            "#!lua name=mcpguard_{version}\n{definitions}\n\
             local function check(KEYS, ARGV)\n{request}\nend\n\
             redis.register_function('{name}', check)\n"
        );
        Self {
            library,
            name,
            supported: AtomicBool::new(true),
        }
    }

    /// Whether calls go through `FCALL` (else `EVALSHA`).
    pub(crate) fn supported(&self) -> bool {
        self.supported.load(Ordering::Relaxed)
    }

    /// Loads the library on `conn`'s server (every primary of a cluster).
    /// A server that refuses it (no functions, or a user the ACL does not
    /// let load them) is remembered, and is not an error: the store uses
    /// `EVALSHA`. Only a failed round trip is an error.
    pub(crate) fn load(&self, conn: &mut dyn ConnectionLike) -> RedisResult<()> {
        match redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg("REPLACE")
            .arg(&self.library)
            .query::<redis::Value>(conn)
        {
            Err(e) if !round_trip_failed(&e) => {
                self.unsupported();
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// `cmd` (an `FCALL` of this function) on `conn`, loading the library
    /// first when the server lacks it. `None` when the server has no
    /// `FCALL`: the caller sends the `EVALSHA` instead.
    pub(crate) fn call(
        &self,
        conn: &mut dyn ConnectionLike,
        cmd: &redis::Cmd,
    ) -> Option<RedisResult<Vec<u8>>> {
        match cmd.query::<Vec<u8>>(conn) {
            Err(e) if unknown_command(&e) || e.to_string().contains("NOPERM") => {
                self.unsupported();
                None
            }
            Err(e) if not_found(&e) => match self.load(conn) {
                Err(e) => Some(Err(e)),
                // The server would not take the library: `EVALSHA` now.
                Ok(()) if !self.supported() => None,
                Ok(()) => Some(cmd.query::<Vec<u8>>(conn)),
            },
            other => Some(other),
        }
    }

    /// Whether `e`, a server's answer to a check sent down the pipeline
    /// (`pipeline.rs`), means the check may go again once the library and
    /// the script are loaded: the server lacks them (restarted or flushed:
    /// "Function not found", `NOSCRIPT`), or has no functions (then
    /// remembered: the check goes again as `EVALSHA`).
    pub(crate) fn lacks_library(&self, e: &RedisError) -> bool {
        if unknown_command(e) || e.to_string().contains("NOPERM") {
            if self.supported() {
                self.unsupported();
                return true;
            }
            return false;
        }
        not_found(e) || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
    }

    fn unsupported(&self) {
        self.supported.store(false, Ordering::Relaxed);
    }
}

/// The error is the connection's (I/O, timeout, dropped, refused), not the
/// server's answer.
fn round_trip_failed(e: &RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

/// "ERR unknown command 'FCALL'" (Redis 6, or the command renamed away).
fn unknown_command(e: &RedisError) -> bool {
    e.to_string().contains("unknown command")
}

/// "ERR Function not found": this server lacks the library.
fn not_found(e: &RedisError) -> bool {
    e.to_string().contains("Function not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_defines_once_and_wraps_the_request_part_under_a_versioned_name() {
        let f = Function::new(include_str!("script.lua"));
        assert!(f.name.starts_with("mcpguard_check_") && f.name.len() == 15 + 16);
        assert!(f.library.starts_with("#!lua name=mcpguard_"));
        let body = f
            .library
            .split("local function check(KEYS, ARGV)")
            .nth(1)
            .unwrap();
        assert!(
            body.contains("redis.call('TIME')"),
            "the request part is the body"
        );
        assert!(
            !body.contains("local function gcra"),
            "definitions stay outside"
        );
        assert!(
            f.library
                .ends_with(&format!("redis.register_function('{}', check)\n", f.name))
        );
        let other = Function::new(
            &include_str!("script.lua").replace("--[[ request ]]", "--[[ request ]]\n"),
        );
        assert_ne!(f.name, other.name, "another text, another name");
    }
}
