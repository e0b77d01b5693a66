//! `mcpguard_decision` and `mcpguard_principal`: what `authorize` and
//! `validate` hand back, and their accessors.
//!
//! Every string an accessor returns borrows from the object it came from
//! (valid until that object is freed); nothing here is computed beyond the
//! core's own `Decision` and `Principal`.

use std::ffi::c_char;
use std::sync::Arc;

use mcpguard::guard::{Decision, principal_json};
use mcpguard::token::Principal;
use mcpguard::{OAuthError, Reason};

use crate::ffi::{
    Failure, Out, arg, arg_str, at, boundary, boxed, free_boxed, mcpguard_result, mcpguard_str,
    owned_string, read_handle,
};

/// The answer to one request: allowed, or refused with the status, OAuth
/// error, reason, description and headers the host sends back. Owned by the
/// caller of `mcpguard_guard_authorize`; not for concurrent use (read it from
/// one thread at a time); free it with `mcpguard_decision_free`.
pub struct mcpguard_decision {
    d: Decision,
}

impl mcpguard_decision {
    pub(crate) fn new(d: Decision) -> Self {
        mcpguard_decision { d }
    }
}

/// Frees a decision. NULL is ignored; the pointer and every string borrowed
/// from it are invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_free(decision: *mut mcpguard_decision) {
    // SAFETY: `decision` is NULL or from `mcpguard_guard_authorize`, freed once.
    unsafe { free_boxed(decision) }
}

/// Runs an accessor: checks the decision and the output pointer.
///
/// # Safety
/// Pointers are NULL or valid (the header's pointer contract).
unsafe fn read<T>(
    decision: *const mcpguard_decision,
    out: *mut T,
    get: impl FnOnce(&Decision) -> Result<T, Failure>,
) -> mcpguard_result {
    // SAFETY: forwarded from the caller's contract above.
    unsafe { read_handle(decision, "decision", out, |h| get(&h.d)) }
}

/// Whether the request may proceed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_allowed(
    decision: *const mcpguard_decision,
    out: *mut bool,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read(decision, out, |d| Ok(d.allowed)) }
}

/// The HTTP status: 200, 400, 401, 403 or 429.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_status(
    decision: *const mcpguard_decision,
    out: *mut u16,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read(decision, out, |d| Ok(d.status)) }
}

/// The OAuth error of a refusal (`invalid_request`, `invalid_token`,
/// `insufficient_scope`, `rate_limited`); zero-length when allowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_error(
    decision: *const mcpguard_decision,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read(decision, out, |d| {
            Ok(mcpguard_str::borrow_opt(d.error.map(OAuthError::as_str)))
        })
    }
}

/// The reason code of a refusal (`spec/conformance.md`, e.g. `expired`);
/// zero-length when allowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_reason(
    decision: *const mcpguard_decision,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read(decision, out, |d| {
            Ok(mcpguard_str::borrow_opt(d.reason.map(Reason::code)))
        })
    }
}

/// The description of a refusal a person can act on; zero-length when allowed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_description(
    decision: *const mcpguard_decision,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read(decision, out, |d| {
            Ok(mcpguard_str::borrow_opt(d.error_description.as_deref()))
        })
    }
}

/// How many headers the host must send.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_header_count(
    decision: *const mcpguard_decision,
    out: *mut usize,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read(decision, out, |d| Ok(d.headers.len())) }
}

/// Header number `index` (from 0): its name and value, in the order to
/// send them. `MCPGUARD_RESULT_OUT_OF_RANGE` past the end.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_header(
    decision: *const mcpguard_decision,
    index: usize,
    name: *mut mcpguard_str,
    value: *mut mcpguard_str,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (decision, name, value) = unsafe {
            (
                arg(decision, "decision")?,
                Out::new(name, "name")?,
                Out::new(value, "value")?,
            )
        };
        let (n, v) = at(&decision.d.headers, index, "header")?;
        name.set(mcpguard_str::borrow(n));
        value.set(mcpguard_str::borrow(v));
        Ok(())
    })
}

/// The value of the first header called `name` (compared case-insensitively),
/// or `MCPGUARD_RESULT_NOT_FOUND`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_header_value(
    decision: *const mcpguard_decision,
    name: *const c_char,
    name_len: usize,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (decision, name, out) = unsafe {
            (
                arg(decision, "decision")?,
                arg_str(name, name_len, "name")?,
                Out::new(out, "out")?,
            )
        };
        let value = decision.d.header(name).ok_or_else(|| {
            Failure::new(
                mcpguard_result::NotFound,
                format!("the decision has no {name} header"),
            )
        })?;
        out.set(mcpguard_str::borrow(value));
        Ok(())
    })
}

/// How many servers this principal may see with this filter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_visible_server_count(
    decision: *const mcpguard_decision,
    out: *mut usize,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read(decision, out, |d| Ok(d.visible_servers.len())) }
}

/// Visible server number `index` (from 0), in configuration order.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_visible_server(
    decision: *const mcpguard_decision,
    index: usize,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read(decision, out, |d| {
            at(&d.visible_servers, index, "visible server").map(|s| mcpguard_str::borrow(s))
        })
    }
}

/// The rate-limit figures of a decision.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mcpguard_rate_limit {
    /// Whether rate limiting ran (false: the other fields are zero).
    pub present: bool,
    /// The reported limit's quota per window (or the bucket's burst).
    pub limit: u64,
    /// Requests left before this limit denies.
    pub remaining: u64,
    /// Seconds until the full quota is back.
    pub reset: f64,
    /// Whether `retry_after` is set: on a denial that waiting can cure.
    pub has_retry_after: bool,
    /// Seconds until this request would pass.
    pub retry_after: f64,
    /// The limit's name (`default`, a role name or a rule name); the bytes
    /// belong to the decision.
    pub policy: mcpguard_str,
}

/// The rate-limit figures: the limit with the fewest remaining requests, or
/// on a denial the one that denied.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_rate_limit(
    decision: *const mcpguard_decision,
    out: *mut mcpguard_rate_limit,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read(decision, out, |d| {
            Ok(match &d.rate_limit {
                Some(r) => mcpguard_rate_limit {
                    present: true,
                    limit: r.limit,
                    remaining: r.remaining,
                    reset: r.reset,
                    has_retry_after: r.retry_after.is_some(),
                    retry_after: r.retry_after.unwrap_or(0.0),
                    policy: mcpguard_str::borrow(&r.policy),
                },
                None => mcpguard_rate_limit {
                    present: false,
                    limit: 0,
                    remaining: 0,
                    reset: 0.0,
                    has_retry_after: false,
                    retry_after: 0.0,
                    policy: mcpguard_str::empty(),
                },
            })
        })
    }
}

/// Who the token speaks for: a new principal the caller frees, or NULL for
/// an anonymous request or an authentication failure (still `MCPGUARD_RESULT_OK`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_principal(
    decision: *const mcpguard_decision,
    out: *mut *mut mcpguard_principal,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read(decision, out, |d| {
            Ok(d.principal
                .clone()
                .map_or(std::ptr::null_mut(), |p| boxed(mcpguard_principal::new(p))))
        })
    }
}

/// The decision as JSON in the shape of `spec/config.md`; free it with
/// `mcpguard_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_decision_to_json(
    decision: *const mcpguard_decision,
    out: *mut *mut c_char,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read(decision, out, |d| owned_string(d.to_json().to_string())) }
}

/// Who a validated token speaks for. Immutable: may be read from many
/// threads at once. Free it with `mcpguard_principal_free`.
pub struct mcpguard_principal {
    p: Arc<Principal>,
}

impl mcpguard_principal {
    pub(crate) fn new(p: Arc<Principal>) -> Self {
        mcpguard_principal { p }
    }
}

/// Frees a principal. NULL is ignored; the pointer and every string
/// borrowed from it are invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_principal_free(principal: *mut mcpguard_principal) {
    // SAFETY: `principal` is NULL or from this library, freed once.
    unsafe { free_boxed(principal) }
}

/// Runs a principal accessor.
///
/// # Safety
/// Pointers are NULL or valid (the header's pointer contract).
unsafe fn read_principal<T>(
    principal: *const mcpguard_principal,
    out: *mut T,
    get: impl FnOnce(&Principal) -> Result<T, Failure>,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: forwarded from the caller's contract above.
        let (principal, out) = unsafe { (arg(principal, "principal")?, Out::new(out, "out")?) };
        out.set(get(&principal.p)?);
        Ok(())
    })
}

/// The token's `sub` (zero-length when it has none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_principal_subject(
    principal: *const mcpguard_principal,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read_principal(principal, out, |p| {
            Ok(mcpguard_str::borrow_opt(p.subject.as_deref()))
        })
    }
}

/// The token's `client_id` (else `azp`, else `cid`; zero-length when none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_principal_client_id(
    principal: *const mcpguard_principal,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read_principal(principal, out, |p| {
            Ok(mcpguard_str::borrow_opt(p.client_id.as_deref()))
        })
    }
}

/// The issuer the token was checked against.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_principal_issuer(
    principal: *const mcpguard_principal,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read_principal(principal, out, |p| Ok(mcpguard_str::borrow(&p.issuer))) }
}

/// How many tags the principal was granted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_principal_tag_count(
    principal: *const mcpguard_principal,
    out: *mut usize,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { read_principal(principal, out, |p| Ok(p.tags.len())) }
}

/// Granted tag number `index` (from 0): the token's tag scopes in token
/// order, then those its roles add.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_principal_tag(
    principal: *const mcpguard_principal,
    index: usize,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read_principal(principal, out, |p| {
            at(&p.tags, index, "tag").map(|t| mcpguard_str::borrow(t))
        })
    }
}

/// The principal as JSON (`subject`, `client_id`, `issuer`, `audience`,
/// `scopes`, `tags`, `roles`, `expires_at`, `jwt_id`); free it with
/// `mcpguard_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_principal_to_json(
    principal: *const mcpguard_principal,
    out: *mut *mut c_char,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read_principal(principal, out, |p| {
            owned_string(principal_json(p).to_string())
        })
    }
}
