//! `mcpguard_guard`: building a Guard, authorizing requests, and the
//! Guard's other duties (validate, introspection responses, the opaque-token
//! store, revoke, key rotation, metadata, audit, counters), plus the manual
//! clock tests drive it with.
//!
//! Decides how a C request struct maps onto the core's `Request`; every
//! decision itself is the core's.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use mcpguard::classify::Classify;
use mcpguard::guard::{AuditEvent, Guard, GuardOptions, Request, RequestFilter};
use mcpguard::token::opaque::{OpaqueEntry, OpaqueError};
use mcpguard::token::{Principal, TokenError};
use mcpguard::{ConfigError, ManualClock};
use mcpguard_host::HostedGuard;

use crate::decision::{mcpguard_decision, mcpguard_principal};
use crate::engines::mcpguard_rate_decision;
use crate::ffi::{
    Failure, Out, arg, arg_opt, arg_opt_str, arg_str, boundary, boxed, free_boxed, mcpguard_result,
    mcpguard_str, owned_string,
};

/// A clock that moves only when told to, for tests: a guard built with
/// `mcpguard_guard_new_with_clock` reads its time from it, and
/// `mcpguard_manual_clock_advance` moves every guard sharing it. Freeing the
/// clock object does not stop guards built with it from using its time.
pub struct mcpguard_manual_clock {
    clock: ManualClock,
}

/// Creates a manual clock at `unix_seconds` (fractions allowed). Free it
/// with `mcpguard_manual_clock_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_manual_clock_new(
    unix_seconds: f64,
    out: *mut *mut mcpguard_manual_clock,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: `out` is NULL or writable (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        let clock = ManualClock::from_secs_f64(unix_seconds)
            .map_err(|e| Failure::new(mcpguard_result::InvalidArgument, e.to_string()))?;
        out.set(boxed(mcpguard_manual_clock { clock }));
        Ok(())
    })
}

/// Moves the clock by `seconds` (negative moves it back).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_manual_clock_advance(
    clock: *const mcpguard_manual_clock,
    seconds: f64,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: `clock` is NULL or a live clock (the header's pointer contract).
        let clock = unsafe { arg(clock, "clock") }?;
        clock
            .clock
            .advance_secs_f64(seconds)
            .map_err(|e| Failure::new(mcpguard_result::InvalidArgument, e.to_string()))
    })
}

/// The clock's time in Unix seconds.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_manual_clock_now(
    clock: *const mcpguard_manual_clock,
    out: *mut f64,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (clock, out) = unsafe { (arg(clock, "clock")?, Out::new(out, "out")?) };
        out.set(clock.clock.secs_f64());
        Ok(())
    })
}

/// Frees a clock. NULL is ignored; the pointer is invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_manual_clock_free(clock: *mut mcpguard_manual_clock) {
    // SAFETY: `clock` is NULL or from `mcpguard_manual_clock_new`, freed once.
    unsafe { free_boxed(clock) }
}

/// The enforcement point: token validation, tag access and rate limiting
/// behind one call per request. Built once, then shared: every function
/// taking a `const mcpguard_guard *` may be called from many threads at once.
pub struct mcpguard_guard {
    pub(crate) guard: Guard,
    /// The I/O its configuration asks for (fetches, the Redis store), kept
    /// alive with the guard; it also builds the authorization server.
    pub(crate) hosted: HostedGuard,
}

fn config_failure(e: ConfigError) -> Failure {
    Failure::classified(mcpguard_result::ConfigError, &e, None)
}

/// Runs a constructor: clears `*out` first, so it is NULL on any failure.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn build_guard(
    out: *mut *mut mcpguard_guard,
    make: impl FnOnce() -> Result<HostedGuard, Failure>,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: forwarded from the caller's contract above.
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        let hosted = make()?;
        out.set(boxed(mcpguard_guard {
            guard: hosted.guard().clone(),
            hosted,
        }));
        Ok(())
    })
}

/// Builds a guard from configuration text (`spec/config.md`) on the system
/// clock. The environment is not read. On failure `*out` is NULL and
/// `mcpguard_last_error()` names the JSON path at fault.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_new(
    json: *const c_char,
    json_len: usize,
    out: *mut *mut mcpguard_guard,
) -> mcpguard_result {
    let make = || {
        // SAFETY: `json` is NULL or `json_len` readable bytes (header contract).
        let text = unsafe { arg_str(json, json_len, "json") }?;
        HostedGuard::from_json(text, GuardOptions::default()).map_err(config_failure)
    };
    // SAFETY: `out` is NULL or writable (the header's pointer contract).
    unsafe { build_guard(out, make) }
}

/// As `mcpguard_guard_new`, then applies the environment overrides of
/// `config.md` (`ONE_MCP_RATE_LIMIT_WINDOW`, `ONE_MCP_RATE_LIMIT_MAX`,
/// `MCPGUARD_RATE_LIMIT_WINDOW_SECONDS`, `MCPGUARD_RATE_LIMIT_MAX`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_new_with_env(
    json: *const c_char,
    json_len: usize,
    out: *mut *mut mcpguard_guard,
) -> mcpguard_result {
    let make = || {
        // SAFETY: `json` is NULL or `json_len` readable bytes (header contract).
        let text = unsafe { arg_str(json, json_len, "json") }?;
        HostedGuard::from_json_with_env(text, GuardOptions::default()).map_err(config_failure)
    };
    // SAFETY: `out` is NULL or writable (the header's pointer contract).
    unsafe { build_guard(out, make) }
}

/// As `mcpguard_guard_new`, on a manual clock (for tests). The guard shares
/// the clock's time: advancing `clock` moves the guard's time too.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_new_with_clock(
    json: *const c_char,
    json_len: usize,
    clock: *const mcpguard_manual_clock,
    out: *mut *mut mcpguard_guard,
) -> mcpguard_result {
    let make = || {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (text, clock) = unsafe { (arg_str(json, json_len, "json")?, arg(clock, "clock")?) };
        HostedGuard::from_json(text, GuardOptions::with_clock(clock.clock.clone()))
            .map_err(config_failure)
    };
    // SAFETY: `out` is NULL or writable (the header's pointer contract).
    unsafe { build_guard(out, make) }
}

/// Reads the configuration file at `path` (UTF-8, not NUL-terminated; a
/// relative `jwks_file` resolves against the file's folder) and applies the
/// environment overrides, on the system clock: what a host calls at start-up.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_from_file(
    path: *const c_char,
    path_len: usize,
    out: *mut *mut mcpguard_guard,
) -> mcpguard_result {
    let make = || {
        // SAFETY: `path` is NULL or `path_len` readable bytes (header contract).
        let path = unsafe { arg_str(path, path_len, "path") }?;
        HostedGuard::from_file(path, GuardOptions::default()).map_err(config_failure)
    };
    // SAFETY: `out` is NULL or writable (the header's pointer contract).
    unsafe { build_guard(out, make) }
}

/// Reads the configuration file at `path` exactly as
/// `mcpguard_guard_from_file` does, the environment overrides included (as
/// in every other binding), on a manual clock: for tests and demos that
/// must not depend on the time of day.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_from_file_with_clock(
    path: *const c_char,
    path_len: usize,
    clock: *const mcpguard_manual_clock,
    out: *mut *mut mcpguard_guard,
) -> mcpguard_result {
    let make = || {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (path, clock) = unsafe { (arg_str(path, path_len, "path")?, arg(clock, "clock")?) };
        HostedGuard::from_file(path, GuardOptions::with_clock(clock.clock.clone()))
            .map_err(config_failure)
    };
    // SAFETY: `out` is NULL or writable (the header's pointer contract).
    unsafe { build_guard(out, make) }
}

/// Frees a guard. NULL is ignored; the pointer is invalid afterwards. No
/// other thread may be using the guard. Decisions and principals obtained
/// from it stay valid (they own their data). An audit callback registered
/// on it is not called again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_free(guard: *mut mcpguard_guard) {
    // SAFETY: `guard` is NULL or from a guard constructor, freed once.
    unsafe { free_boxed(guard) }
}

/// The kind of filter a request carries (`mcpguard_request.filter_kind`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mcpguard_filter_kind {
    /// No filter; `filter` is ignored.
    None = 0,
    /// 1MCP's `tags` query parameter: a comma list meaning OR.
    Tags = 1,
    /// 1MCP's `tag-filter` query parameter: a boolean expression.
    TagFilter = 2,
    /// 1MCP's `preset` query parameter: a configured preset's name.
    Preset = 3,
}

/// One request to authorize. Every string is pointer + length (UTF-8, not
/// NUL-terminated); a NULL pointer (with length 0) means the field is
/// absent. Start from `MCPGUARD_REQUEST_INIT` (an empty request of cost 1):
/// a cost of 0 is refused with a 400 decision, as in every other binding.
/// The guard reads the strings only during `mcpguard_guard_authorize`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mcpguard_request {
    /// The raw `Authorization` header value, e.g. `Bearer eyJ…`.
    pub authorization: *const c_char,
    /// Length of `authorization` in bytes.
    pub authorization_len: usize,
    /// The target server, if the request targets one.
    pub server: *const c_char,
    /// Length of `server` in bytes.
    pub server_len: usize,
    /// The target tool on that server (needs `server`).
    pub tool: *const c_char,
    /// Length of `tool` in bytes.
    pub tool_len: usize,
    /// One of `mcpguard_filter_kind` (a plain integer so that a bad value
    /// is an error, not undefined behaviour).
    pub filter_kind: u32,
    /// The filter's text when `filter_kind` is not `MCPGUARD_FILTER_KIND_NONE`.
    pub filter: *const c_char,
    /// Length of `filter` in bytes.
    pub filter_len: usize,
    /// The host's fallback rate-limit key (e.g. the client's IP address).
    pub key: *const c_char,
    /// Length of `key` in bytes.
    pub key_len: usize,
    /// Rate-limit cost; at least 1.
    pub cost: u64,
}

/// Reads a C request into the core's borrowed request.
///
/// # Safety
/// Every pointer in `r` is NULL or valid for its length, for `'a`.
unsafe fn request_from_c<'a>(r: &'a mcpguard_request) -> Result<Request<'a>, Failure> {
    // SAFETY: forwarded from the caller's contract above.
    let (authorization, server, tool, key) = unsafe {
        (
            arg_opt_str(
                r.authorization,
                r.authorization_len,
                "request.authorization",
            )?,
            arg_opt_str(r.server, r.server_len, "request.server")?,
            arg_opt_str(r.tool, r.tool_len, "request.tool")?,
            arg_opt_str(r.key, r.key_len, "request.key")?,
        )
    };
    let filter = if r.filter_kind == mcpguard_filter_kind::None as u32 {
        None
    } else {
        // SAFETY: forwarded from the caller's contract above.
        let text = unsafe { arg_str(r.filter, r.filter_len, "request.filter") }?;
        Some(match r.filter_kind {
            k if k == mcpguard_filter_kind::Tags as u32 => RequestFilter::Tags(text),
            k if k == mcpguard_filter_kind::TagFilter as u32 => RequestFilter::TagFilter(text),
            k if k == mcpguard_filter_kind::Preset as u32 => RequestFilter::Preset(text),
            other => {
                return Err(Failure::new(
                    mcpguard_result::InvalidArgument,
                    format!("request.filter_kind {other} is not an mcpguard_filter_kind"),
                ));
            }
        })
    };
    Ok(Request {
        authorization,
        server,
        tool,
        filter,
        key,
        cost: r.cost,
    })
}

/// Decides one request. A refusal is not a failure: the call returns
/// `MCPGUARD_RESULT_OK` and `*out` holds a decision with its status, reason
/// and headers. Failures are the caller's mistakes only (NULL, bad UTF-8, a
/// bad `filter_kind`), and then `*out` is NULL. The decision belongs to the
/// caller: read it from one thread, free it with `mcpguard_decision_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_authorize(
    guard: *const mcpguard_guard,
    request: *const mcpguard_request,
    out: *mut *mut mcpguard_decision,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        // SAFETY: as above.
        let (guard, request) = unsafe { (arg(guard, "guard")?, arg(request, "request")?) };
        // SAFETY: the request's strings are valid for their lengths (header contract).
        let request = unsafe { request_from_c(request) }?;
        out.set(boxed(mcpguard_decision::new(
            guard.guard.authorize(&request),
        )));
        Ok(())
    })
}

/// Why `mcpguard_guard_validate` refused a token. The strings are static.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mcpguard_token_failure {
    /// The HTTP status (401, or 403 for `insufficient_scope`).
    pub status: u16,
    /// The OAuth error, e.g. `invalid_token`.
    pub error: mcpguard_str,
    /// The reason code of `conformance.md`, e.g. `expired`.
    pub reason: mcpguard_str,
}

/// Validates a bare token (no `Bearer ` prefix) as authorize would, through
/// the verified-token cache. On success `*out` is a principal the caller
/// frees. On refusal the result is `MCPGUARD_RESULT_TOKEN_REJECTED`, `*out`
/// is NULL, `*failure` (when `failure` is not NULL) says why and
/// `mcpguard_last_error()` holds the description.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_validate(
    guard: *const mcpguard_guard,
    token: *const c_char,
    token_len: usize,
    out: *mut *mut mcpguard_principal,
    failure: *mut mcpguard_token_failure,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        // SAFETY: as above.
        let (guard, token, failure) = unsafe {
            (
                arg(guard, "guard")?,
                arg_str(token, token_len, "token")?,
                Out::optional(failure),
            )
        };
        principal_out(&guard.guard, guard.guard.validate(token), &out, failure)
    })
}

/// Hands a validation's result to C: the principal into `out`, or the
/// refusal (as the core classifies it) into `failure` (when wanted) and
/// `TOKEN_REJECTED`.
fn principal_out(
    guard: &Guard,
    result: Result<Arc<Principal>, TokenError>,
    out: &Out<*mut mcpguard_principal>,
    failure: Option<Out<mcpguard_token_failure>>,
) -> Result<(), Failure> {
    match result {
        Ok(p) => {
            out.set(boxed(mcpguard_principal::new(p)));
            Ok(())
        }
        Err(e) => {
            let info = e.classify(Some(guard.metadata_url()));
            if let Some(failure) = failure {
                failure.set(mcpguard_token_failure {
                    status: info.status.unwrap_or_default(),
                    error: mcpguard_str::borrow(info.code),
                    reason: mcpguard_str::borrow_opt(info.reason.map(|r| r.code())),
                });
            }
            Err(Failure::from_info(mcpguard_result::TokenRejected, info))
        }
    }
}

/// Turns an RFC 7662 introspection response the host fetched for a token
/// (`json`: the response body, UTF-8 JSON text) into a principal, with its
/// tags, as `mcpguard_guard_validate` does for a JWT: `active` must be true,
/// times are checked with the leeway, `iss` (when present) must be a
/// configured issuer and `aud` (when present) this resource. Nothing is
/// cached. Results as `mcpguard_guard_validate`: on success `*out` is a
/// principal the caller frees; a refused response (inactive, expired, wrong
/// issuer or audience, not JSON: reason `malformed`) is
/// `MCPGUARD_RESULT_TOKEN_REJECTED` with `*out` NULL and `*failure` (when
/// `failure` is not NULL) saying why.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_validate_introspection(
    guard: *const mcpguard_guard,
    json: *const c_char,
    json_len: usize,
    out: *mut *mut mcpguard_principal,
    failure: *mut mcpguard_token_failure,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        // SAFETY: as above.
        let (guard, json, failure) = unsafe {
            (
                arg(guard, "guard")?,
                arg_str(json, json_len, "json")?,
                Out::optional(failure),
            )
        };
        let result = guard.guard.validate_introspection(json).map(Arc::new);
        principal_out(&guard.guard, result, &out, failure)
    })
}

/// Stores an opaque token the host issued (bare, no `Bearer `), when the
/// configuration has `auth.opaque_tokens`: requests presenting it are then
/// authorized like a JWT with the entry's claims. `entry_json` is a JSON
/// object with the optional members `client_id`, `subject`, `scopes` (array
/// of strings), `roles` (array), `resource` (the audience; absent: any) and
/// `expires_at` (whole Unix seconds; absent: until revoked), e.g.
/// `{"client_id": "app", "scopes": ["tag:web"], "expires_at": 1767226200}`.
/// Storing a token again replaces its entry; `mcpguard_guard_revoke` removes
/// it. The store keeps the token's SHA-256, never the token.
///
/// An entry that is not such an object (not JSON, an unknown or repeated
/// member, a wrong type) is `MCPGUARD_RESULT_CONFIG_ERROR`, the message
/// naming the member (`scopes[1]`). A refused insert is
/// `MCPGUARD_RESULT_OPAQUE_STORE_FULL`, `MCPGUARD_RESULT_OPAQUE_INVALID_TOKEN`,
/// `MCPGUARD_RESULT_OPAQUE_EXPIRED` or `MCPGUARD_RESULT_OPAQUE_DISABLED`.
/// On any failure nothing was stored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_insert_opaque(
    guard: *const mcpguard_guard,
    token: *const c_char,
    token_len: usize,
    entry_json: *const c_char,
    entry_json_len: usize,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, token, entry_json) = unsafe {
            (
                arg(guard, "guard")?,
                arg_str(token, token_len, "token")?,
                arg_str(entry_json, entry_json_len, "entry_json")?,
            )
        };
        let entry = OpaqueEntry::from_json(entry_json).map_err(|e| {
            let mut info = e.classify(None);
            // The message names the entry, not "the configuration"; the
            // classification (kind, code, path) is the core's. "" and "."
            // are the entry itself, as the core renders a ConfigError.
            info.message = if e.path.is_empty() || e.path == "." {
                format!("invalid opaque-token entry: {}", e.message)
            } else {
                format!("invalid opaque-token entry at {}: {}", e.path, e.message)
            };
            Failure::from_info(mcpguard_result::ConfigError, info)
        })?;
        guard.guard.insert_opaque(token, entry).map_err(|e| {
            // One result code per cause (stable since 0.1); the kind, code
            // and status are the core's (mcpguard_last_error_info).
            let code = match e {
                OpaqueError::Full { .. } => mcpguard_result::OpaqueStoreFull,
                OpaqueError::InvalidToken => mcpguard_result::OpaqueInvalidToken,
                OpaqueError::Expired => mcpguard_result::OpaqueExpired,
                OpaqueError::Disabled => mcpguard_result::OpaqueDisabled,
                OpaqueError::StoreUnavailable => mcpguard_result::StoreUnavailable,
            };
            Failure::classified(code, &e, None)
        })
    })
}

/// Revokes a token (bare, no `Bearer `): a JWT by its `jti` until it would
/// have expired anyway, an opaque token by removing it from the store;
/// cached validations of it are dropped at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_revoke(
    guard: *const mcpguard_guard,
    token: *const c_char,
    token_len: usize,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, token) = unsafe { (arg(guard, "guard")?, arg_str(token, token_len, "token")?) };
        guard.guard.revoke(token).map_err(|e| {
            Failure::classified(
                mcpguard_result::RevokeFailed,
                &e,
                Some(guard.guard.metadata_url()),
            )
        })
    })
}

/// Replaces `issuer`'s JWK Set (key rotation) with the JSON text `jwks`,
/// atomically; a refused set leaves the old one in place. The host fetches
/// JWKS documents itself.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_set_jwks(
    guard: *const mcpguard_guard,
    issuer: *const c_char,
    issuer_len: usize,
    jwks: *const c_char,
    jwks_len: usize,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, issuer, jwks) = unsafe {
            (
                arg(guard, "guard")?,
                arg_str(issuer, issuer_len, "issuer")?,
                arg_str(jwks, jwks_len, "jwks")?,
            )
        };
        guard
            .guard
            .set_jwks(issuer, jwks)
            .map_err(|e| Failure::classified(mcpguard_result::KeyError, &e, None))
    })
}

/// The RFC 9728 protected-resource metadata document as JSON text; free it
/// with `mcpguard_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_metadata_document(
    guard: *const mcpguard_guard,
    out: *mut *mut c_char,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, out) = unsafe { (arg(guard, "guard")?, Out::new(out, "out")?) };
        out.set(owned_string(guard.guard.metadata_document().to_string())?);
        Ok(())
    })
}

/// The path the metadata document is served at, e.g.
/// `/.well-known/oauth-protected-resource/mcp`. The bytes belong to the guard.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_metadata_path(
    guard: *const mcpguard_guard,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, out) = unsafe { (arg(guard, "guard")?, Out::new(out, "out")?) };
        out.set(mcpguard_str::borrow(guard.guard.metadata_path()));
        Ok(())
    })
}

/// The full URL of the metadata document (the `resource_metadata` of every
/// challenge). The bytes belong to the guard.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_metadata_url(
    guard: *const mcpguard_guard,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, out) = unsafe { (arg(guard, "guard")?, Out::new(out, "out")?) };
        out.set(mcpguard_str::borrow(guard.guard.metadata_url()));
        Ok(())
    })
}

/// Checks and counts one rate limit for a raw key, without authentication:
/// the rule named `rule`, or the default limit when `rule` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_check_rate_limit(
    guard: *const mcpguard_guard,
    rule: *const c_char,
    rule_len: usize,
    key: *const c_char,
    key_len: usize,
    cost: u64,
    out: *mut mcpguard_rate_decision,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, rule, key, out) = unsafe {
            (
                arg(guard, "guard")?,
                arg_opt_str(rule, rule_len, "rule")?,
                arg_str(key, key_len, "key")?,
                Out::new(out, "out")?,
            )
        };
        let d = guard
            .guard
            .check_rate_limit(rule, key, cost)
            .map_err(|e| Failure::new(mcpguard_result::UnknownRule, e.to_string()))?;
        out.set(mcpguard_rate_decision::from_core(&d));
        Ok(())
    })
}

/// One audit event, lent to the audit callback for the duration of the call.
/// Read it with the `mcpguard_audit_event_*` functions; it must not be kept.
pub struct mcpguard_audit_event {
    event: *const AuditEvent,
}

impl mcpguard_audit_event {
    fn event(&self) -> &AuditEvent {
        // SAFETY: an `mcpguard_audit_event` exists only on the stack of the
        // audit sink below, pointing at the event the core lends it for that
        // call; C may read it only during the callback (header contract).
        unsafe { &*self.event }
    }
}

/// The audit callback: receives every audit event, with the `user_data`
/// given at registration.
pub type mcpguard_audit_callback =
    Option<unsafe extern "C" fn(event: *const mcpguard_audit_event, user_data: *mut c_void)>;

/// The host's `user_data`, carried to whichever thread authorizes.
struct UserData(*mut c_void);

impl UserData {
    /// A method (not the field) so the closure captures the whole `Send` wrapper.
    fn get(&self) -> *mut c_void {
        self.0
    }
}
// SAFETY: the header's threading contract makes the host responsible for
// `user_data` being usable from any thread that calls authorize; the library
// only passes the pointer back, never dereferences it.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

/// Registers the audit callback, replacing any earlier one. It is called on
/// the thread that calls `mcpguard_guard_authorize`, possibly on several
/// threads at once, so it and `user_data` must be thread-safe; keep it
/// short. The event pointer is valid only during the call. The callback must
/// return normally (no C++ exception or `longjmp` out of it), and `user_data`
/// must stay valid until the callback is replaced or cleared or the guard is
/// freed. A NULL callback is `MCPGUARD_RESULT_NULL_PARAMETER` (remove one
/// with `mcpguard_guard_clear_audit_callback`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_set_audit_callback(
    guard: *const mcpguard_guard,
    callback: mcpguard_audit_callback,
    user_data: *mut c_void,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: `guard` is NULL or a live guard (the header's pointer contract).
        let guard = unsafe { arg(guard, "guard") }?;
        let callback = callback.ok_or_else(|| Failure::null("callback"))?;
        let user_data = UserData(user_data);
        guard
            .guard
            .on_audit(Some(Arc::new(move |event: &AuditEvent| {
                let lent = mcpguard_audit_event { event };
                // SAFETY: the host registered a function of this signature; the
                // event outlives the call and `user_data` is the host's own.
                unsafe { callback(&lent, user_data.get()) }
            })));
        Ok(())
    })
}

/// Removes the audit callback; events still go to the ring that
/// `mcpguard_guard_drain_audit` empties.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_clear_audit_callback(
    guard: *const mcpguard_guard,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: `guard` is NULL or a live guard (the header's pointer contract).
        let guard = unsafe { arg(guard, "guard") }?;
        guard.guard.on_audit(None);
        Ok(())
    })
}

/// Takes the audit events the guard kept (oldest first) as a JSON array of
/// event objects; free it with `mcpguard_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_drain_audit(
    guard: *const mcpguard_guard,
    out: *mut *mut c_char,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, out) = unsafe { (arg(guard, "guard")?, Out::new(out, "out")?) };
        let events: Vec<serde_json::Value> = guard
            .guard
            .drain_audit()
            .iter()
            .map(AuditEvent::to_json)
            .collect();
        out.set(owned_string(serde_json::Value::Array(events).to_string())?);
        Ok(())
    })
}

/// The event's kind: `auth_success`, `auth_failure`, `access_denied` or
/// `rate_limited` (static bytes).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_audit_event_kind(
    event: *const mcpguard_audit_event,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (event, out) = unsafe { (arg(event, "event")?, Out::new(out, "out")?) };
        out.set(mcpguard_str::borrow(event.event().kind.as_str()));
        Ok(())
    })
}

/// The event's reason code (static bytes; zero-length for a success).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_audit_event_reason(
    event: *const mcpguard_audit_event,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (event, out) = unsafe { (arg(event, "event")?, Out::new(out, "out")?) };
        out.set(mcpguard_str::borrow_opt(
            event.event().reason.map(|r| r.code()),
        ));
        Ok(())
    })
}

/// The event as a JSON object (time, kind, reason, client_id, subject,
/// issuer, server, tool, missing_scopes, rejected_scopes,
/// token_fingerprint); free it with `mcpguard_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_audit_event_to_json(
    event: *const mcpguard_audit_event,
    out: *mut *mut c_char,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (event, out) = unsafe { (arg(event, "event")?, Out::new(out, "out")?) };
        out.set(owned_string(event.event().to_json().to_string())?);
        Ok(())
    })
}

/// A snapshot of a guard's counters.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mcpguard_counters {
    /// Requests allowed.
    pub allowed: u64,
    /// Requests denied, all reasons together (per reason: `mcpguard_guard_counters_json`).
    pub denied: u64,
    /// Token validations answered from the verified-token cache.
    pub cache_hits: u64,
    /// Token validations that had to verify the token.
    pub cache_misses: u64,
    /// Audit events pushed out of the full ring before they were drained.
    pub audit_dropped: u64,
    /// Audit callback calls that failed (a panic inside the sink).
    pub audit_sink_panics: u64,
}

/// Reads the guard's counters.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_counters(
    guard: *const mcpguard_guard,
    out: *mut mcpguard_counters,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, out) = unsafe { (arg(guard, "guard")?, Out::new(out, "out")?) };
        let c = guard.guard.counters();
        out.set(mcpguard_counters {
            allowed: c.allowed,
            denied: c.denied_total(),
            cache_hits: c.cache_hits,
            cache_misses: c.cache_misses,
            audit_dropped: c.audit_dropped,
            audit_sink_panics: c.audit_sink_panics,
        });
        Ok(())
    })
}

/// The guard's counters as JSON, with denials per reason code; free it with
/// `mcpguard_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_counters_json(
    guard: *const mcpguard_guard,
    out: *mut *mut c_char,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, out) = unsafe { (arg(guard, "guard")?, Out::new(out, "out")?) };
        out.set(owned_string(guard.guard.counters().to_json().to_string())?);
        Ok(())
    })
}

/// Every counter in the Prometheus text format (the guard's counters and,
/// with a shared store, its round trips, errors, latency and breaker
/// state), for a scrape endpoint; free it with `mcpguard_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_metrics_text(
    guard: *const mcpguard_guard,
    out: *mut *mut c_char,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, out) = unsafe { (arg(guard, "guard")?, Out::new(out, "out")?) };
        out.set(owned_string(guard.guard.metrics_text())?);
        Ok(())
    })
}

/// Whether a decision may wait on the network: rate limits, revocations or
/// opaque tokens in the Redis store, or an introspection endpoint called
/// for unknown opaque tokens. Every call stays synchronous; a host with an
/// event loop makes such decisions on a worker thread, so that a round
/// trip (up to the store's timeout) never holds the loop.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_waits_on_network(
    guard: *const mcpguard_guard,
    out: *mut bool,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (guard, out) = unsafe { (arg(guard, "guard")?, Out::new(out, "out")?) };
        out.set(guard.guard.waits_on_network());
        Ok(())
    })
}

/// Call in a child process after `fork` when the guard was built before it
/// (a pre-forking gateway's workers): starts the child's own key-fetching
/// thread, which fork does not copy. Without the call the child starts it
/// at its first refresh hint (an unknown `kid`), and keeps the keys it was
/// forked with until then. The Redis and SQLite stores need no call: each
/// notices the fork at its next use and opens connections of its own
/// instead of sharing the parent's sockets. Does nothing where the thread
/// already runs, or when the configuration fetches no keys.
/// `MCPGUARD_RESULT_THREAD_UNAVAILABLE` when the system refuses the thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_guard_after_fork(
    guard: *const mcpguard_guard,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let guard = unsafe { arg(guard, "guard")? };
        guard.hosted.after_fork().map_err(|e| {
            Failure::new(
                mcpguard_result::ThreadUnavailable,
                format!("cannot start the key-fetching thread: {e}"),
            )
        })
    })
}

/// The clock of an optional manual-clock argument, as the engines take it.
///
/// # Safety
/// `clock` is NULL or a live clock.
pub(crate) unsafe fn clock_or_system(
    clock: *const mcpguard_manual_clock,
) -> Arc<dyn mcpguard::Clock> {
    // SAFETY: forwarded from the caller's contract above.
    match unsafe { arg_opt(clock) } {
        Some(c) => Arc::new(c.clock.clone()),
        None => Arc::new(mcpguard::SystemClock),
    }
}
