//! The engines on their own, for hosts that need one piece without a
//! Guard: tag filters (`mcpguard_tag_filter`), scope validation, and a
//! keyed rate limiter (`mcpguard_rate_limiter`); plus `mcpguard_string_list`,
//! the list type their answers come in.

use std::ffi::c_char;

use mcpguard::access::{self, Filter, FilterError};
use mcpguard::ratelimit::{Algorithm, Limiter, Quota, RateDecision};

use crate::ffi::{
    Failure, Out, arg, arg_str, arg_str_array, at, boundary, boxed, free_boxed, mcpguard_result,
    mcpguard_str, owned_string,
};
use crate::guard::{clock_or_system, mcpguard_manual_clock};

/// A list of strings returned by this library. Free it with
/// `mcpguard_string_list_free`.
pub struct mcpguard_string_list {
    items: Vec<String>,
}

/// How many strings the list holds.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_string_list_len(
    list: *const mcpguard_string_list,
    out: *mut usize,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (list, out) = unsafe { (arg(list, "list")?, Out::new(out, "out")?) };
        out.set(list.items.len());
        Ok(())
    })
}

/// String number `index` (from 0); the bytes belong to the list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_string_list_get(
    list: *const mcpguard_string_list,
    index: usize,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (list, out) = unsafe { (arg(list, "list")?, Out::new(out, "out")?) };
        out.set(mcpguard_str::borrow(at(&list.items, index, "list")?));
        Ok(())
    })
}

/// Frees a list. NULL is ignored; the pointer and its strings are invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_string_list_free(list: *mut mcpguard_string_list) {
    // SAFETY: `list` is NULL or from this library, freed once.
    unsafe { free_boxed(list) }
}

/// The syntax of a tag filter's text (`mcpguard_tag_filter_parse`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mcpguard_filter_syntax {
    /// A comma list of tags meaning OR (1MCP's `tags` parameter).
    Tags = 0,
    /// A boolean expression: `web AND (api OR db)` (1MCP's `tag-filter`).
    Expression = 1,
    /// A JSON tag query: `{"$or": [{"tag": "web"}, …]}` (1MCP's `tag_query`).
    Query = 2,
}

/// A parsed tag filter. Immutable: may be used from many threads at once.
pub struct mcpguard_tag_filter {
    filter: Filter,
    tags: Vec<String>,
}

/// Parses a tag filter written in `syntax` (an `mcpguard_filter_syntax`).
/// `MCPGUARD_RESULT_INVALID_FILTER` with 1MCP's message when it does not parse.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_tag_filter_parse(
    syntax: u32,
    text: *const c_char,
    text_len: usize,
    out: *mut *mut mcpguard_tag_filter,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        // SAFETY: as above.
        let text = unsafe { arg_str(text, text_len, "text") }?;
        let invalid =
            |e: FilterError| Failure::classified(mcpguard_result::InvalidFilter, &e, None);
        let filter = match syntax {
            s if s == mcpguard_filter_syntax::Tags as u32 => Filter::parse_tags(text),
            s if s == mcpguard_filter_syntax::Expression as u32 => Filter::parse_expression(text),
            s if s == mcpguard_filter_syntax::Query as u32 => {
                let query: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                    invalid(FilterError::InvalidQuery {
                        path: String::new(),
                        message: format!("not JSON: {e}"),
                    })
                })?;
                Filter::from_query(&query)
            }
            other => {
                return Err(Failure::new(
                    mcpguard_result::InvalidArgument,
                    format!("syntax {other} is not an mcpguard_filter_syntax"),
                ));
            }
        }
        .map_err(invalid)?;
        let tags = filter.tags();
        out.set(boxed(mcpguard_tag_filter { filter, tags }));
        Ok(())
    })
}

/// Whether a server with these `tags` (an array of `count` strings; NULL
/// when `count` is 0) matches the filter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_tag_filter_matches(
    filter: *const mcpguard_tag_filter,
    tags: *const mcpguard_str,
    count: usize,
    out: *mut bool,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (filter, tags, out) = unsafe {
            (
                arg(filter, "filter")?,
                arg_str_array(tags, count, "tags")?,
                Out::new(out, "out")?,
            )
        };
        out.set(filter.filter.matches_tags(&tags));
        Ok(())
    })
}

/// How many distinct tags the filter mentions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_tag_filter_tag_count(
    filter: *const mcpguard_tag_filter,
    out: *mut usize,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (filter, out) = unsafe { (arg(filter, "filter")?, Out::new(out, "out")?) };
        out.set(filter.tags.len());
        Ok(())
    })
}

/// Mentioned tag number `index` (from 0), normalised, in first-seen order;
/// the bytes belong to the filter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_tag_filter_tag(
    filter: *const mcpguard_tag_filter,
    index: usize,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (filter, out) = unsafe { (arg(filter, "filter")?, Out::new(out, "out")?) };
        out.set(mcpguard_str::borrow(at(&filter.tags, index, "tag")?));
        Ok(())
    })
}

/// The filter in the advanced-expression syntax; free it with `mcpguard_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_tag_filter_to_string(
    filter: *const mcpguard_tag_filter,
    out: *mut *mut c_char,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (filter, out) = unsafe { (arg(filter, "filter")?, Out::new(out, "out")?) };
        out.set(owned_string(filter.filter.to_string())?);
        Ok(())
    })
}

/// Frees a filter. NULL is ignored; the pointer and its strings are invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_tag_filter_free(filter: *mut mcpguard_tag_filter) {
    // SAFETY: `filter` is NULL or from `mcpguard_tag_filter_parse`, freed once.
    unsafe { free_boxed(filter) }
}

/// Validates requested `tag:` scopes against the available tags (1MCP's
/// rules). `*ok` says whether all are valid; `*out` is then the normalised
/// scopes, else the error messages. Either array may be NULL when its count
/// is 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_validate_scopes(
    requested: *const mcpguard_str,
    requested_count: usize,
    available_tags: *const mcpguard_str,
    available_count: usize,
    ok: *mut bool,
    out: *mut *mut mcpguard_string_list,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (ok, out) = unsafe { (Out::new(ok, "ok")?, Out::new(out, "out")?) };
        out.set(std::ptr::null_mut());
        // SAFETY: as above.
        let (requested, available) = unsafe {
            (
                arg_str_array(requested, requested_count, "requested")?,
                arg_str_array(available_tags, available_count, "available_tags")?,
            )
        };
        let (valid, items) = match access::validate_scopes(&requested, &available) {
            Ok(scopes) => (true, scopes),
            Err(errors) => (false, errors),
        };
        ok.set(valid);
        out.set(boxed(mcpguard_string_list { items }));
        Ok(())
    })
}

/// The tags named by the `tag:` scopes among `scopes` (others are skipped).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_scopes_to_tags(
    scopes: *const mcpguard_str,
    count: usize,
    out: *mut *mut mcpguard_string_list,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        // SAFETY: as above.
        let scopes = unsafe { arg_str_array(scopes, count, "scopes") }?;
        out.set(boxed(mcpguard_string_list {
            items: access::scopes_to_tags(&scopes),
        }));
        Ok(())
    })
}

/// The answer to one rate-limit check.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mcpguard_rate_decision {
    /// The request may proceed (and was counted).
    pub allowed: bool,
    /// The limit's capacity (`limit`, or `burst` for the token bucket).
    pub limit: u64,
    /// Requests left now.
    pub remaining: u64,
    /// Seconds until the full quota is back.
    pub reset: f64,
    /// Whether `retry_after` is set: denied, and waiting helps.
    pub has_retry_after: bool,
    /// Seconds until this request would pass.
    pub retry_after: f64,
    /// Denied because the cost is more than the limit could ever admit.
    pub never: bool,
}

impl mcpguard_rate_decision {
    pub(crate) fn from_core(d: &RateDecision) -> Self {
        mcpguard_rate_decision {
            allowed: d.allowed,
            limit: d.limit,
            remaining: d.remaining,
            reset: d.reset,
            has_retry_after: d.retry_after.is_some(),
            retry_after: d.retry_after.unwrap_or(0.0),
            never: d.never,
        }
    }
}

/// A keyed rate limiter on its own. May be used from many threads at once.
pub struct mcpguard_rate_limiter {
    limiter: Limiter,
}

/// Creates a limiter: `algorithm` is `fixed_window`, `sliding_window` or
/// `token_bucket`; `limit` requests per `window_seconds`; `burst` (token
/// bucket only; 0 means `limit`); at most `max_keys` keys tracked; time from
/// `clock`, or the system clock when `clock` is NULL.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the quota's numbers, as plain C arguments
pub unsafe extern "C" fn mcpguard_rate_limiter_new(
    algorithm: *const c_char,
    algorithm_len: usize,
    limit: u64,
    window_seconds: f64,
    burst: u64,
    max_keys: usize,
    clock: *const mcpguard_manual_clock,
    out: *mut *mut mcpguard_rate_limiter,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        // SAFETY: as above.
        let name = unsafe { arg_str(algorithm, algorithm_len, "algorithm") }?;
        let algorithm = Algorithm::from_name(name).ok_or_else(|| {
            Failure::new(
                mcpguard_result::InvalidArgument,
                format!(
                    "unknown algorithm `{name}` (expected fixed_window, sliding_window or token_bucket)"
                ),
            )
        })?;
        let quota_error = |e: mcpguard::ratelimit::QuotaError| {
            Failure::new(mcpguard_result::InvalidQuota, e.to_string())
        };
        let burst = (burst != 0).then_some(burst);
        let quota = Quota::new(algorithm, limit, window_seconds, burst).map_err(quota_error)?;
        // SAFETY: `clock` is NULL or a live clock (the header's pointer contract).
        let clock = unsafe { clock_or_system(clock) };
        let limiter = Limiter::new(algorithm, quota, max_keys, clock).map_err(quota_error)?;
        out.set(boxed(mcpguard_rate_limiter { limiter }));
        Ok(())
    })
}

/// Shared body of check and peek.
///
/// # Safety
/// Pointers are NULL or valid (the header's pointer contract).
unsafe fn limiter_call(
    limiter: *const mcpguard_rate_limiter,
    key: *const c_char,
    key_len: usize,
    out: *mut mcpguard_rate_decision,
    call: impl FnOnce(&Limiter, &str) -> RateDecision,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: forwarded from the caller's contract above.
        let (limiter, key, out) = unsafe {
            (
                arg(limiter, "limiter")?,
                arg_str(key, key_len, "key")?,
                Out::new(out, "out")?,
            )
        };
        out.set(mcpguard_rate_decision::from_core(&call(
            &limiter.limiter,
            key,
        )));
        Ok(())
    })
}

/// Checks a request of `cost` for `key` and counts it when it passes (a
/// denied request counts nothing; cost 0 only looks).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_rate_limiter_check(
    limiter: *const mcpguard_rate_limiter,
    key: *const c_char,
    key_len: usize,
    cost: u64,
    out: *mut mcpguard_rate_decision,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { limiter_call(limiter, key, key_len, out, |l, k| l.check(k, cost)) }
}

/// What a request of cost 1 would get now, counting nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_rate_limiter_peek(
    limiter: *const mcpguard_rate_limiter,
    key: *const c_char,
    key_len: usize,
    out: *mut mcpguard_rate_decision,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe { limiter_call(limiter, key, key_len, out, |l, k| l.peek(k)) }
}

/// Gives `key` its full quota back.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_rate_limiter_reset(
    limiter: *const mcpguard_rate_limiter,
    key: *const c_char,
    key_len: usize,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (limiter, key) = unsafe { (arg(limiter, "limiter")?, arg_str(key, key_len, "key")?) };
        limiter.limiter.reset(key);
        Ok(())
    })
}

/// Frees a limiter. NULL is ignored; the pointer is invalid afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_rate_limiter_free(limiter: *mut mcpguard_rate_limiter) {
    // SAFETY: `limiter` is NULL or from `mcpguard_rate_limiter_new`, freed once.
    unsafe { free_boxed(limiter) }
}
