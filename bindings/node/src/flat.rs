//! Decisions and principals as one compact string, for the hot path.
//!
//! Every value crossing Node-API costs a call (about 0.1 µs here): a
//! decision with its principal as an object costs dozens (one property
//! lookup per key, one call per string), as a flat array still one per
//! element. One string costs one, and `index.js` reads it back into the
//! plain objects of `config.md` (`decodeDecision`, `decodePrincipal`).
//!
//! Each value is one tagged item: `t` / `f` (booleans), `z` (null),
//! `n<number>;` (an f64 in Rust's shortest round-trip form, which
//! JavaScript's `Number` reads back exactly) or `s<length>:<text>` (the
//! length in UTF-16 code units, as JavaScript counts, so any text, `:` and
//! `;` included, needs no escaping).
//!
//! Decision: `allowed, status, error, errorDescription, reason,
//! headerCount, (name, value)…, visibleCount, server…, hasRateLimit,
//! [limit, remaining, reset, retryAfter, policy], principal…`.
//! Principal: `0` (none) or `2, kind, subject, clientId, issuer,
//! expiresAt, jwtId, audienceCount, …, scopeCount, …, tagCount, …,
//! roleCount, …`.
//! HTTP decision ([`FlatBuilder::http`]): `action, status, headerCount,
//! (name, value)…, filtersResponse, acceptedUntil, token, scopeCount,
//! scope…, hasDecision, [decision]` (`token` and the scopes only for an
//! admitted principal).

use std::cell::Cell;
use std::fmt::Write as _;

use mcpguard::guard::{Decision, HttpAction, HttpDecision};
use mcpguard::token::Principal;
use napi::bindgen_prelude::{ToNapiValue, TypeName, ValueType};
use napi::sys;

/// The string being built.
pub struct FlatBuilder(String);

thread_local! {
    /// The buffer of the last flat string this thread sent to JavaScript,
    /// kept for the next one: a decision with its bearer token is over a
    /// kilobyte, and a fresh buffer of that size cost a malloc, a realloc
    /// or two and a free on every call (glibc also sweeps its free lists on
    /// every request of a kilobyte or more, which slows the host's own
    /// allocations after it).
    static SPARE: Cell<String> = const { Cell::new(String::new()) };
}

/// A buffer larger than this (a decision with a huge token) is not kept.
const SPARE_LIMIT: usize = 16 * 1024;

/// The first buffer's capacity: a decision with its token fits.
const FIRST_CAPACITY: usize = 2048;

impl Default for FlatBuilder {
    fn default() -> Self {
        let mut text = SPARE.try_with(Cell::take).unwrap_or_default();
        text.clear();
        if text.capacity() == 0 {
            text.reserve(FIRST_CAPACITY);
        }
        FlatBuilder(text)
    }
}

/// Whole numbers below this magnitude are exact in an f64 and written as
/// integers.
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0; // 2^53

impl FlatBuilder {
    fn integer(&mut self, n: u64) {
        self.0.push_str(itoa::Buffer::new().format(n));
    }

    fn bool(&mut self, b: bool) {
        self.0.push(if b { 't' } else { 'f' });
    }

    fn null(&mut self) {
        self.0.push('z');
    }

    fn num(&mut self, n: f64) {
        self.0.push('n');
        if n.fract() == 0.0 && n.abs() < EXACT_INTEGER {
            // Counts, statuses and Unix times: the integer form is the same
            // text as the shortest float form, without float formatting.
            if n < 0.0 {
                self.0.push('-');
            }
            self.integer(n.abs() as u64);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(self.0, "{n}");
        }
        self.0.push(';');
    }

    fn count(&mut self, n: usize) {
        // Lists here are a few entries long; f64 holds any count exactly up
        // to 2^53, far beyond what fits in memory.
        self.num(n as f64);
    }

    fn str(&mut self, s: &str) {
        // ASCII text has as many UTF-16 units as bytes.
        let units = if s.is_ascii() {
            s.len()
        } else {
            s.encode_utf16().count()
        };
        self.0.push('s');
        self.integer(units as u64);
        self.0.push(':');
        self.0.push_str(s);
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    fn opt_num(&mut self, n: Option<f64>) {
        match n {
            Some(n) => self.num(n),
            None => self.null(),
        }
    }

    fn list<S: AsRef<str>>(&mut self, items: &[S]) {
        self.count(items.len());
        for item in items {
            self.str(item.as_ref());
        }
    }

    /// Appends a principal with all its fields (or the marker of none).
    pub fn principal(&mut self, p: Option<&Principal>) {
        match p {
            None => self.num(0.0),
            Some(p) => {
                self.num(2.0);
                self.str(p.kind.as_str());
                self.opt_str(p.subject.as_deref());
                self.opt_str(p.client_id.as_deref());
                self.str(&p.issuer);
                // Unix seconds: exact in an f64 for any date within ±285
                // million years.
                self.opt_num(p.expires_at.map(|e| e as f64));
                self.opt_str(p.jwt_id.as_deref());
                self.list(&p.audience);
                self.list(&p.scopes);
                self.list(&p.tags);
                self.list(&p.roles);
            }
        }
    }

    /// Appends a decision, its principal in full.
    pub fn decision(&mut self, d: &Decision) {
        self.bool(d.allowed);
        self.num(f64::from(d.status));
        self.opt_str(d.error.map(|e| e.as_str()));
        self.opt_str(d.error_description.as_deref());
        self.opt_str(d.reason.map(|r| r.code()));
        self.count(d.headers.len());
        for (name, value) in &d.headers {
            self.str(name);
            self.str(value);
        }
        self.list(&d.visible_servers);
        match &d.rate_limit {
            None => self.bool(false),
            Some(r) => {
                self.bool(true);
                self.num(r.limit as f64);
                self.num(r.remaining as f64);
                self.num(r.reset);
                self.opt_num(r.retry_after);
                self.str(&r.policy);
            }
        }
        self.principal(d.principal.as_deref());
    }

    /// Appends the time until which a token is accepted (Unix seconds, or
    /// null for a token without expiry).
    pub fn accepted_until(&mut self, until: Option<i64>) {
        // Unix seconds: exact in an f64 for any date within ±285 million years.
        self.opt_num(until.map(|t| t as f64));
    }

    /// Appends an HTTP decision without its response body (which crosses
    /// as a `Buffer`): the action, the response status (null unless
    /// `respond`), the response's or the forwarded headers, whether the
    /// application's response must be filtered, the principal's
    /// `accepted_until`, and the Guard's decision when one was made.
    pub fn http(&mut self, d: &HttpDecision, accepted_until: Option<i64>, token: Option<&str>) {
        let (action, status, headers): (&str, Option<u16>, &[(String, String)]) = match &d.action {
            HttpAction::Respond(r) => ("respond", Some(r.status), &r.headers),
            HttpAction::Forward { headers } => ("forward", None, headers),
            HttpAction::Pass => ("pass", None, &[]),
        };
        self.str(action);
        self.opt_num(status.map(f64::from));
        self.count(headers.len());
        for (name, value) in headers {
            self.str(name);
            self.str(value);
        }
        self.bool(d.filters_response());
        self.accepted_until(accepted_until);
        // What the SDK's `AuthInfo` holds for an admitted principal (the
        // binding passes `token` only then): the token and the scopes it
        // grants (the token's own, then the `tag:` scopes of its roles);
        // null and none otherwise.
        let principal = d.decision.as_ref().and_then(|d| d.principal.as_deref());
        match token.zip(principal) {
            Some((token, principal)) => {
                self.str(token);
                let scopes = principal.effective_scopes();
                self.count(scopes.len());
                for scope in &scopes {
                    self.str(scope);
                }
            }
            None => {
                self.null();
                self.count(0);
            }
        }
        match &d.decision {
            None => self.bool(false),
            Some(decision) => {
                self.bool(true);
                self.decision(decision);
            }
        }
    }

    /// The finished string.
    pub fn finish(self) -> FlatText {
        FlatText(self.0)
    }

    /// One principal with all its fields, as `validate` returns it.
    pub fn principal_text(p: &Principal) -> FlatText {
        let mut out = FlatBuilder::default();
        out.principal(Some(p));
        out.finish()
    }
}

/// A finished flat string on its way to JavaScript.
///
/// Almost every one is ASCII (names, numbers, scopes), and V8 makes an
/// ASCII string from Latin-1 bytes by copying them, where from UTF-8 it
/// decodes them first: measured on the `authorizeHttp` path (a 1 KB
/// decision), the decoding was about 4 % of the call. Text with any other
/// character goes as UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatText(pub String);

impl FlatText {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TypeName for FlatText {
    fn type_name() -> &'static str {
        "String"
    }

    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ToNapiValue for FlatText {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let text = val.0;
        let mut value = std::ptr::null_mut();
        // A String is never longer than isize::MAX bytes.
        let len = text.len() as isize;
        // SAFETY: called by napi-rs on the JavaScript thread with the
        // callback's `env`; the pointer and length are the String's own
        // bytes, which V8 copies before the call returns. ASCII bytes are
        // the same text in Latin-1; any other text is valid UTF-8.
        let status = unsafe {
            if text.is_ascii() {
                sys::napi_create_string_latin1(env, text.as_ptr().cast(), len, &mut value)
            } else {
                sys::napi_create_string_utf8(env, text.as_ptr().cast(), len, &mut value)
            }
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(
                napi::Status::from(status),
                "could not make the decision's string".to_string(),
            ));
        }
        if text.capacity() <= SPARE_LIMIT {
            // Kept for the next builder on this thread (none, while the
            // thread is shutting down).
            let _ = SPARE.try_with(|spare| spare.set(text));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> Decision {
        Decision {
            allowed: false,
            status: 401,
            error: Some(mcpguard::OAuthError::InvalidToken),
            error_description: Some("No bearer token was presented".into()),
            reason: Some(mcpguard::Reason::MissingToken),
            headers: vec![("WWW-Authenticate", "Bearer".into())],
            principal: None,
            visible_servers: vec![],
            rate_limit: None,
            missing_scopes: vec![],
        }
    }

    #[test]
    fn a_refusal_lays_out_scalars_headers_and_no_principal() {
        let mut b = FlatBuilder::default();
        b.decision(&denied());
        assert_eq!(
            b.finish().as_str(),
            "fn401;s13:invalid_tokens29:No bearer token was presenteds13:missing_token\
             n1;s16:WWW-Authenticates6:Bearern0;fn0;"
        );
    }

    #[test]
    fn string_lengths_count_utf16_units_so_any_text_needs_no_escaping() {
        let mut b = FlatBuilder::default();
        b.str("é;:s9:😀");
        assert_eq!(b.finish().as_str(), "s8:é;:s9:😀");
    }

    #[test]
    fn numbers_use_the_shortest_round_trip_form() {
        let mut b = FlatBuilder::default();
        b.num(900.0);
        b.num(0.1);
        b.num(4_294_967_295.0);
        assert_eq!(b.finish().as_str(), "n900;n0.1;n4294967295;");
    }

    #[test]
    fn whole_numbers_read_the_same_as_the_float_form_at_every_edge() {
        for n in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            1_767_225_600.0,
            -1_767_225_600.0,
            9_007_199_254_740_991.0,
            9_007_199_254_740_992.0,
            1e21,
            -2.5,
            f64::NAN,
            f64::INFINITY,
        ] {
            let mut b = FlatBuilder::default();
            b.num(n);
            // The reference: Rust's shortest round-trip float form, except
            // that -0 reads as 0 (JavaScript's Number("-0") is -0 either way
            // and no value the binding sends is negative zero).
            let expected = if n == 0.0 {
                "n0;".to_string()
            } else {
                format!("n{n};")
            };
            assert_eq!(b.finish().as_str(), expected, "{n}");
        }
    }
}
