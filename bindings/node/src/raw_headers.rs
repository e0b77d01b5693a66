//! Node's raw header list (`req.rawHeaders`) read into one buffer.
//!
//! Every string of the list is a header name or value whose characters
//! are the bytes it arrived as (Node reads header bytes as Latin-1). Read
//! through napi-rs as `Vec<Utf16String>`, each string cost a length query,
//! a zeroed heap buffer, a second copy and the buffer's release, and the
//! bytes were then copied once more: about 135 ns a string with the
//! caches warm (release build, Node 20), and a real client sends twenty
//! or more. Here each string is read in one Node-API call onto the stack
//! (V8 copies UTF-16 without encoding) and narrowed straight into the one
//! buffer the core reads; only a string longer than the stack buffer costs
//! a length query and a heap buffer.
//!
//! Every `unsafe` block is a Node-API call made on the JavaScript thread
//! during the `#[napi]` call that received `env`, or the reading of memory
//! such a call initialised; each says why it is sound.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::ptr;

use napi::bindgen_prelude::Unknown;
use napi::{Env, Error, JsValue, Status, sys};

use crate::utf16::{self, check};

/// Strings up to this many UTF-16 code units, less one, are read in one
/// call onto the stack (a bearer token of a few kilobytes fits).
const STACK_UNITS: usize = 4096;

/// The header strings' bytes, one after the other, and where each ends.
/// Dropped, its buffers are kept for the next request read on the same
/// thread: a request's headers with a bearer token are over a kilobyte,
/// and fresh buffers cost a malloc, a realloc and a free each time (glibc
/// also sweeps its free lists on every request of a kilobyte or more).
#[derive(Debug)]
pub(crate) struct RawHeaders {
    /// Every string's bytes, in order.
    bytes: Vec<u8>,
    /// Where each string ends in `bytes`.
    ends: Vec<usize>,
}

/// Buffers larger than this (a request with huge headers) are not kept.
const SPARE_LIMIT: usize = 64 * 1024;

/// The first buffer's capacity: the headers of a usual request fit.
const FIRST_CAPACITY: usize = 2048;

thread_local! {
    /// The buffers of the last request's headers read on this thread (plain
    /// vectors: replacing them runs no `Drop` of ours).
    static SPARE: Cell<(Vec<u8>, Vec<usize>)> = const { Cell::new((Vec::new(), Vec::new())) };
}

impl RawHeaders {
    /// Whether the strings alternate names and values (an even count).
    pub(crate) fn is_paired(&self) -> bool {
        self.ends.len().is_multiple_of(2)
    }

    /// The (name, value) pairs, as slices of the one buffer (a last name
    /// without a value is left out: see [`is_paired`](Self::is_paired)).
    pub(crate) fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        let mut start = 0;
        let mut slices = self.ends.iter().map(|&end| {
            let slice = &self.bytes[start..end];
            start = end;
            slice
        });
        let mut pairs = Vec::with_capacity(self.ends.len() / 2);
        while let (Some(name), Some(value)) = (slices.next(), slices.next()) {
            pairs.push((name, value));
        }
        pairs
    }

    /// Empty buffers, the last request's when this thread kept them.
    fn spare() -> RawHeaders {
        let (mut bytes, mut ends) = SPARE.try_with(Cell::take).unwrap_or_default();
        bytes.clear();
        ends.clear();
        if bytes.capacity() == 0 {
            bytes.reserve(FIRST_CAPACITY);
        }
        RawHeaders { bytes, ends }
    }
}

impl Drop for RawHeaders {
    fn drop(&mut self) {
        if self.bytes.capacity() == 0 || self.bytes.capacity() > SPARE_LIMIT {
            return;
        }
        let kept = (
            std::mem::take(&mut self.bytes),
            std::mem::take(&mut self.ends),
        );
        // Kept for the next request on this thread (freed instead while the
        // thread is shutting down).
        let _ = SPARE.try_with(|spare| spare.set(kept));
    }
}

/// Reads `list`, which must be an array of strings (`TypeError`
/// otherwise, naming the element), as the bytes each string arrived as.
pub(crate) fn read(env: &Env, list: Unknown<'_>) -> napi::Result<RawHeaders> {
    let env = env.raw();
    let array = list.raw();
    let mut is_array = false;
    // SAFETY: `env` is the live environment of the running #[napi] call and
    // `array` a value of that call.
    check(
        unsafe { sys::napi_is_array(env, array, &mut is_array) },
        "could not read request.headers",
    )?;
    if !is_array {
        return Err(Error::new(
            Status::ArrayExpected,
            "request.headers must be an array of strings (Node's req.rawHeaders)".to_string(),
        ));
    }
    let mut len = 0u32;
    // SAFETY: as above; `array` is an array.
    check(
        unsafe { sys::napi_get_array_length(env, array, &mut len) },
        "could not read request.headers",
    )?;
    let mut out = RawHeaders::spare();
    let mut stack = [MaybeUninit::<u16>::uninit(); STACK_UNITS];
    for index in 0..len {
        let mut value = ptr::null_mut();
        // SAFETY: as above; `index` is below the array's length.
        check(
            unsafe { sys::napi_get_element(env, array, index, &mut value) },
            "could not read request.headers",
        )?;
        // SAFETY: as above; `value` is a value of this call.
        let Some(units) =
            (unsafe { utf16::read(env, value, &mut stack, "could not read request.headers")? })
        else {
            return Err(Error::new(
                Status::StringExpected,
                format!("request.headers[{index}] must be a string"),
            ));
        };
        push_latin1(&units, &mut out.bytes);
        out.ends.push(out.bytes.len());
    }
    Ok(out)
}

/// Appends one header string of Node's raw list to `out` as the bytes it
/// arrived as: Node reads header bytes as Latin-1, one character per byte.
/// A character above U+00FF cannot have come off the wire; it is appended
/// as its UTF-8 bytes (never visible ASCII; a lone surrogate as U+FFFD's),
/// so an `Authorization` header holding one is refused as malformed, like
/// any other unreadable value.
fn push_latin1(units: &[u16], out: &mut Vec<u8>) {
    // The usual case, every character Latin-1: narrowed in one pass over
    // both slices, which the compiler vectorises, noting any unit above
    // 0xFF on the way.
    let start = out.len();
    out.resize(start + units.len(), 0);
    let mut seen = 0u16;
    for (byte, &unit) in out[start..].iter_mut().zip(units) {
        *byte = unit as u8;
        seen |= unit;
    }
    if seen <= 0xFF {
        return;
    }
    out.truncate(start);
    for c in char::decode_utf16(units.iter().copied()) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            Err(_) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::push_latin1;

    fn latin1(text: &str) -> Vec<u8> {
        let units: Vec<u16> = text.encode_utf16().collect();
        let mut out = Vec::new();
        push_latin1(&units, &mut out);
        out
    }

    #[test]
    fn header_characters_up_to_u_ff_are_one_byte_each() {
        assert_eq!(latin1("Bearer abc"), b"Bearer abc");
        assert_eq!(latin1("abc\u{e9}"), b"abc\xe9");
        assert_eq!(latin1("\u{ff}"), b"\xff");
    }

    #[test]
    fn a_character_beyond_latin1_never_reads_as_ascii() {
        for text in ["Bearer \u{20ac}", "Bearer \u{141}", "Bearer \u{1F600}"] {
            let bytes = latin1(text);
            assert_eq!(&bytes[..7], b"Bearer ", "{text}");
            assert!(bytes[7..].iter().all(|b| *b >= 0x80), "{text}");
        }
    }

    #[test]
    fn a_lone_surrogate_is_replaced_never_dropped() {
        let mut out = Vec::new();
        push_latin1(&[u16::from(b'a'), 0xD800, u16::from(b'b')], &mut out);
        assert_eq!(out, "a\u{FFFD}b".as_bytes());
    }
}
