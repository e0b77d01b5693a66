//! A C caller's mistakes get a result code and a message, never a crash:
//! NULL for every pointer argument, invalid UTF-8, bad enum values, indexes
//! past the end, a NULL callback; every `*_free` accepts NULL; a failed
//! constructor leaves `*out` NULL so that freeing it is harmless. Also the
//! audit callback, drain and counters, and the opaque-token store and
//! introspection responses (a result code for each refusal), as a C host
//! uses them.

#[macro_use]
mod common;

use std::ffi::{c_char, c_void};
use std::ptr::{null, null_mut};
use std::sync::Mutex;

use common::{arg, last_error, no_str, take, take_list, text};
use mcpguard_c::*;

const DEMO_TIME: f64 = 1_767_225_600.0;

fn examples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn developer_token() -> String {
    let tokens: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(examples().join("tokens.json")).expect("tokens.json"),
    )
    .expect("tokens.json is JSON");
    tokens["developer"]
        .as_str()
        .expect("developer token")
        .to_string()
}

/// Live objects of every kind, freed through the C API.
struct Objects {
    clock: *mut mcpguard_manual_clock,
    guard: *mut mcpguard_guard,
    decision: *mut mcpguard_decision,
    principal: *mut mcpguard_principal,
    filter: *mut mcpguard_tag_filter,
    limiter: *mut mcpguard_rate_limiter,
    list: *mut mcpguard_string_list,
}

impl Objects {
    fn new() -> Objects {
        let mut o = Objects {
            clock: null_mut(),
            guard: null_mut(),
            decision: null_mut(),
            principal: null_mut(),
            filter: null_mut(),
            limiter: null_mut(),
            list: null_mut(),
        };
        let path = examples().join("guard.json").to_string_lossy().into_owned();
        let (pp, pn) = arg(&path);
        let token = developer_token();
        let bearer = format!("Bearer {token}");
        let mut request = empty_request();
        (request.authorization, request.authorization_len) = arg(&bearer);
        let (tp, tn) = arg(&token);
        let (fp, fnl) = arg("web,files");
        let (ap, an) = arg("fixed_window");
        let scope = ["tag:web".to_string()];
        let scopes = common::str_array(&scope);
        // SAFETY: every argument is live for the call and every out writable.
        unsafe {
            assert_eq!(
                mcpguard_manual_clock_new(DEMO_TIME, &mut o.clock),
                mcpguard_result::Ok
            );
            assert_eq!(
                mcpguard_guard_from_file_with_clock(pp, pn, o.clock, &mut o.guard),
                mcpguard_result::Ok,
                "{}",
                last_error()
            );
            assert_eq!(
                mcpguard_guard_authorize(o.guard, &request, &mut o.decision),
                mcpguard_result::Ok
            );
            assert_eq!(
                mcpguard_guard_validate(o.guard, tp, tn, &mut o.principal, null_mut()),
                mcpguard_result::Ok
            );
            assert_eq!(
                mcpguard_tag_filter_parse(
                    mcpguard_filter_syntax::Tags as u32,
                    fp,
                    fnl,
                    &mut o.filter
                ),
                mcpguard_result::Ok
            );
            assert_eq!(
                mcpguard_rate_limiter_new(ap, an, 2, 60.0, 0, 100, o.clock, &mut o.limiter),
                mcpguard_result::Ok
            );
            assert_eq!(
                mcpguard_scopes_to_tags(scopes.as_ptr(), 1, &mut o.list),
                mcpguard_result::Ok
            );
        }
        o
    }
}

impl Drop for Objects {
    fn drop(&mut self) {
        // SAFETY: each object came from its constructor and is freed once, here.
        unsafe {
            mcpguard_string_list_free(self.list);
            mcpguard_rate_limiter_free(self.limiter);
            mcpguard_tag_filter_free(self.filter);
            mcpguard_principal_free(self.principal);
            mcpguard_decision_free(self.decision);
            mcpguard_guard_free(self.guard);
            mcpguard_manual_clock_free(self.clock);
        }
    }
}

fn empty_request() -> mcpguard_request {
    mcpguard_request {
        authorization: null(),
        authorization_len: 0,
        server: null(),
        server_len: 0,
        tool: null(),
        tool_len: 0,
        filter_kind: mcpguard_filter_kind::None as u32,
        filter: null(),
        filter_len: 0,
        key: null(),
        key_len: 0,
        cost: 1,
    }
}

#[test]
fn null_for_every_pointer_argument_is_a_null_parameter_error() {
    let o = Objects::new();
    let (g, d, p, f, l, c) = (
        o.guard,
        o.decision,
        o.principal,
        o.filter,
        o.limiter,
        o.clock,
    );
    let (jp, jn) = arg("{}");
    let (kp, kn) = arg("key");
    let mut s = no_str();
    let (mut b, mut n, mut x, mut u16v) = (false, 0usize, 0f64, 0u16);
    let mut owned: *mut c_char = null_mut();
    let request = empty_request();
    let mut rd = mcpguard_rate_decision::default();
    let mut counters = mcpguard_counters::default();
    let mut rl = mcpguard_rate_limit {
        present: false,
        limit: 0,
        remaining: 0,
        reset: 0.0,
        has_retry_after: false,
        retry_after: 0.0,
        policy: no_str(),
    };
    let (mut gout, mut dout, mut pout) = (null_mut(), null_mut(), null_mut());
    let (mut fout, mut lout, mut sout) = (null_mut(), null_mut(), null_mut());

    refused!(NullParameter, "out", mcpguard_version(null_mut()));
    // Clock.
    refused!(
        NullParameter,
        "out",
        mcpguard_manual_clock_new(1.0, null_mut())
    );
    refused!(
        NullParameter,
        "clock",
        mcpguard_manual_clock_advance(null(), 1.0)
    );
    refused!(
        NullParameter,
        "clock",
        mcpguard_manual_clock_now(null(), &mut x)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_manual_clock_now(c, null_mut())
    );
    // Constructors.
    refused!(
        NullParameter,
        "json",
        mcpguard_guard_new(null(), 2, &mut gout)
    );
    refused!(NullParameter, "out", mcpguard_guard_new(jp, jn, null_mut()));
    refused!(
        NullParameter,
        "json",
        mcpguard_guard_new_with_env(null(), 2, &mut gout)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_new_with_env(jp, jn, null_mut())
    );
    refused!(
        NullParameter,
        "json",
        mcpguard_guard_new_with_clock(null(), 2, c, &mut gout)
    );
    refused!(
        NullParameter,
        "clock",
        mcpguard_guard_new_with_clock(jp, jn, null(), &mut gout)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_new_with_clock(jp, jn, c, null_mut())
    );
    refused!(
        NullParameter,
        "path",
        mcpguard_guard_from_file(null(), 2, &mut gout)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_from_file(jp, jn, null_mut())
    );
    refused!(
        NullParameter,
        "path",
        mcpguard_guard_from_file_with_clock(null(), 2, c, &mut gout)
    );
    refused!(
        NullParameter,
        "clock",
        mcpguard_guard_from_file_with_clock(jp, jn, null(), &mut gout)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_from_file_with_clock(jp, jn, c, null_mut())
    );
    assert!(gout.is_null(), "a failed constructor leaves *out NULL");
    // Guard.
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_authorize(null(), &request, &mut dout)
    );
    refused!(
        NullParameter,
        "request",
        mcpguard_guard_authorize(g, null(), &mut dout)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_authorize(g, &request, null_mut())
    );
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_validate(null(), kp, kn, &mut pout, null_mut())
    );
    refused!(
        NullParameter,
        "token",
        mcpguard_guard_validate(g, null(), 3, &mut pout, null_mut())
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_validate(g, kp, kn, null_mut(), null_mut())
    );
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_validate_introspection(null(), jp, jn, &mut pout, null_mut())
    );
    refused!(
        NullParameter,
        "json",
        mcpguard_guard_validate_introspection(g, null(), 2, &mut pout, null_mut())
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_validate_introspection(g, jp, jn, null_mut(), null_mut())
    );
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_insert_opaque(null(), kp, kn, jp, jn)
    );
    refused!(
        NullParameter,
        "token",
        mcpguard_guard_insert_opaque(g, null(), 3, jp, jn)
    );
    refused!(
        NullParameter,
        "entry_json",
        mcpguard_guard_insert_opaque(g, kp, kn, null(), 2)
    );
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_revoke(null(), kp, kn)
    );
    refused!(NullParameter, "token", mcpguard_guard_revoke(g, null(), 3));
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_set_jwks(null(), kp, kn, jp, jn)
    );
    refused!(
        NullParameter,
        "issuer",
        mcpguard_guard_set_jwks(g, null(), 3, jp, jn)
    );
    refused!(
        NullParameter,
        "jwks",
        mcpguard_guard_set_jwks(g, kp, kn, null(), 2)
    );
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_metadata_document(null(), &mut owned)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_metadata_document(g, null_mut())
    );
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_metadata_path(null(), &mut s)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_metadata_path(g, null_mut())
    );
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_metadata_url(null(), &mut s)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_metadata_url(g, null_mut())
    );
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_check_rate_limit(null(), null(), 0, kp, kn, 1, &mut rd)
    );
    refused!(
        NullParameter,
        "key",
        mcpguard_guard_check_rate_limit(g, null(), 0, null(), 3, 1, &mut rd)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_check_rate_limit(g, null(), 0, kp, kn, 1, null_mut())
    );
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_set_audit_callback(null(), Some(record_event), null_mut())
    );
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_clear_audit_callback(null())
    );
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_drain_audit(null(), &mut owned)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_drain_audit(g, null_mut())
    );
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_counters(null(), &mut counters)
    );
    refused!(NullParameter, "out", mcpguard_guard_counters(g, null_mut()));
    refused!(
        NullParameter,
        "guard",
        mcpguard_guard_counters_json(null(), &mut owned)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_guard_counters_json(g, null_mut())
    );
    refused!(
        NullParameter,
        "event",
        mcpguard_audit_event_kind(null(), &mut s)
    );
    refused!(
        NullParameter,
        "event",
        mcpguard_audit_event_reason(null(), &mut s)
    );
    refused!(
        NullParameter,
        "event",
        mcpguard_audit_event_to_json(null(), &mut owned)
    );
    // Decision.
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_allowed(null(), &mut b)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_decision_allowed(d, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_status(null(), &mut u16v)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_decision_status(d, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_error(null(), &mut s)
    );
    refused!(NullParameter, "out", mcpguard_decision_error(d, null_mut()));
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_reason(null(), &mut s)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_decision_reason(d, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_description(null(), &mut s)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_decision_description(d, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_header_count(null(), &mut n)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_decision_header_count(d, null_mut())
    );
    let mut s2 = no_str();
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_header(null(), 0, &mut s, &mut s2)
    );
    refused!(
        NullParameter,
        "name",
        mcpguard_decision_header(d, 0, null_mut(), &mut s2)
    );
    refused!(
        NullParameter,
        "value",
        mcpguard_decision_header(d, 0, &mut s, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_header_value(null(), kp, kn, &mut s)
    );
    refused!(
        NullParameter,
        "name",
        mcpguard_decision_header_value(d, null(), 3, &mut s)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_decision_header_value(d, kp, kn, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_visible_server_count(null(), &mut n)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_decision_visible_server_count(d, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_visible_server(null(), 0, &mut s)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_decision_visible_server(d, 0, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_rate_limit(null(), &mut rl)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_decision_rate_limit(d, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_principal(null(), &mut pout)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_decision_principal(d, null_mut())
    );
    refused!(
        NullParameter,
        "decision",
        mcpguard_decision_to_json(null(), &mut owned)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_decision_to_json(d, null_mut())
    );
    // Principal.
    refused!(
        NullParameter,
        "principal",
        mcpguard_principal_subject(null(), &mut s)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_principal_subject(p, null_mut())
    );
    refused!(
        NullParameter,
        "principal",
        mcpguard_principal_client_id(null(), &mut s)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_principal_client_id(p, null_mut())
    );
    refused!(
        NullParameter,
        "principal",
        mcpguard_principal_issuer(null(), &mut s)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_principal_issuer(p, null_mut())
    );
    refused!(
        NullParameter,
        "principal",
        mcpguard_principal_tag_count(null(), &mut n)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_principal_tag_count(p, null_mut())
    );
    refused!(
        NullParameter,
        "principal",
        mcpguard_principal_tag(null(), 0, &mut s)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_principal_tag(p, 0, null_mut())
    );
    refused!(
        NullParameter,
        "principal",
        mcpguard_principal_to_json(null(), &mut owned)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_principal_to_json(p, null_mut())
    );
    // Lists.
    refused!(
        NullParameter,
        "list",
        mcpguard_string_list_len(null(), &mut n)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_string_list_len(o.list, null_mut())
    );
    refused!(
        NullParameter,
        "list",
        mcpguard_string_list_get(null(), 0, &mut s)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_string_list_get(o.list, 0, null_mut())
    );
    // Tag filters and scopes.
    let syntax = mcpguard_filter_syntax::Expression as u32;
    refused!(
        NullParameter,
        "text",
        mcpguard_tag_filter_parse(syntax, null(), 3, &mut fout)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_tag_filter_parse(syntax, kp, kn, null_mut())
    );
    refused!(
        NullParameter,
        "filter",
        mcpguard_tag_filter_matches(null(), null(), 0, &mut b)
    );
    refused!(
        NullParameter,
        "tags",
        mcpguard_tag_filter_matches(f, null(), 2, &mut b)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_tag_filter_matches(f, null(), 0, null_mut())
    );
    refused!(
        NullParameter,
        "filter",
        mcpguard_tag_filter_tag_count(null(), &mut n)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_tag_filter_tag_count(f, null_mut())
    );
    refused!(
        NullParameter,
        "filter",
        mcpguard_tag_filter_tag(null(), 0, &mut s)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_tag_filter_tag(f, 0, null_mut())
    );
    refused!(
        NullParameter,
        "filter",
        mcpguard_tag_filter_to_string(null(), &mut owned)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_tag_filter_to_string(f, null_mut())
    );
    refused!(
        NullParameter,
        "requested",
        mcpguard_validate_scopes(null(), 1, null(), 0, &mut b, &mut sout)
    );
    refused!(
        NullParameter,
        "available_tags",
        mcpguard_validate_scopes(null(), 0, null(), 1, &mut b, &mut sout)
    );
    refused!(
        NullParameter,
        "ok",
        mcpguard_validate_scopes(null(), 0, null(), 0, null_mut(), &mut sout)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_validate_scopes(null(), 0, null(), 0, &mut b, null_mut())
    );
    refused!(
        NullParameter,
        "scopes",
        mcpguard_scopes_to_tags(null(), 1, &mut sout)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_scopes_to_tags(null(), 0, null_mut())
    );
    // Rate limiter.
    let (ap, an) = arg("token_bucket");
    refused!(
        NullParameter,
        "algorithm",
        mcpguard_rate_limiter_new(null(), 3, 1, 1.0, 0, 1, null(), &mut lout)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_rate_limiter_new(ap, an, 1, 1.0, 0, 1, null(), null_mut())
    );
    refused!(
        NullParameter,
        "limiter",
        mcpguard_rate_limiter_check(null(), kp, kn, 1, &mut rd)
    );
    refused!(
        NullParameter,
        "key",
        mcpguard_rate_limiter_check(l, null(), 3, 1, &mut rd)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_rate_limiter_check(l, kp, kn, 1, null_mut())
    );
    refused!(
        NullParameter,
        "limiter",
        mcpguard_rate_limiter_peek(null(), kp, kn, &mut rd)
    );
    refused!(
        NullParameter,
        "key",
        mcpguard_rate_limiter_peek(l, null(), 3, &mut rd)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_rate_limiter_peek(l, kp, kn, null_mut())
    );
    refused!(
        NullParameter,
        "limiter",
        mcpguard_rate_limiter_reset(null(), kp, kn)
    );
    refused!(
        NullParameter,
        "key",
        mcpguard_rate_limiter_reset(l, null(), 3)
    );
    assert!(dout.is_null() && pout.is_null() && fout.is_null());
    assert!(lout.is_null() && sout.is_null());
}

#[test]
fn every_free_accepts_null() {
    // SAFETY: NULL is documented as ignored by every free function.
    unsafe {
        mcpguard_string_free(null_mut());
        mcpguard_manual_clock_free(null_mut());
        mcpguard_guard_free(null_mut());
        mcpguard_decision_free(null_mut());
        mcpguard_principal_free(null_mut());
        mcpguard_string_list_free(null_mut());
        mcpguard_tag_filter_free(null_mut());
        mcpguard_rate_limiter_free(null_mut());
    }
}

#[test]
fn a_null_string_with_a_length_is_refused_but_an_absent_one_is_not() {
    let o = Objects::new();
    let mut request = empty_request();
    request.server_len = 5;
    let mut d = null_mut();
    refused!(
        NullParameter,
        "request.server",
        mcpguard_guard_authorize(o.guard, &request, &mut d)
    );
    assert!(d.is_null());
    request.filter_kind = mcpguard_filter_kind::Tags as u32;
    request.server_len = 0;
    refused!(
        NullParameter,
        "request.filter",
        mcpguard_guard_authorize(o.guard, &request, &mut d)
    );
    // Every field absent (NULL, length 0) is an ordinary request: no token.
    let mut status = 0;
    // SAFETY: the request has no strings; outs are writable.
    unsafe {
        assert_eq!(
            mcpguard_guard_authorize(o.guard, &empty_request(), &mut d),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_decision_status(d, &mut status),
            mcpguard_result::Ok
        );
        mcpguard_decision_free(d);
    }
    assert_eq!(status, 401);
}

#[test]
fn invalid_utf8_is_refused_with_its_position() {
    let o = Objects::new();
    let bad = b"{\"a\xff\": 1}";
    let bad_ptr = bad.as_ptr().cast::<c_char>();
    let mut g = null_mut();
    refused!(
        InvalidUtf8,
        "json is not valid UTF-8 (at byte 3)",
        mcpguard_guard_new(bad_ptr, bad.len(), &mut g)
    );
    assert!(g.is_null());
    let mut request = empty_request();
    (request.authorization, request.authorization_len) = (bad_ptr, bad.len());
    let mut d = null_mut();
    refused!(
        InvalidUtf8,
        "request.authorization",
        mcpguard_guard_authorize(o.guard, &request, &mut d)
    );
    assert!(d.is_null());
    let mut p = null_mut();
    refused!(
        InvalidUtf8,
        "json is not valid UTF-8 (at byte 3)",
        mcpguard_guard_validate_introspection(o.guard, bad_ptr, bad.len(), &mut p, null_mut())
    );
    assert!(p.is_null());
    let (tp, tn) = arg("opq-token");
    refused!(
        InvalidUtf8,
        "entry_json is not valid UTF-8 (at byte 3)",
        mcpguard_guard_insert_opaque(o.guard, tp, tn, bad_ptr, bad.len())
    );
    refused!(
        InvalidUtf8,
        "token is not valid UTF-8 (at byte 3)",
        mcpguard_guard_insert_opaque(o.guard, bad_ptr, bad.len(), tp, tn)
    );
    let mut f = null_mut();
    refused!(
        InvalidUtf8,
        "text",
        mcpguard_tag_filter_parse(0, bad_ptr, bad.len(), &mut f)
    );
    let tags = [
        mcpguard_str {
            data: c"web".as_ptr(),
            len: 3,
        },
        mcpguard_str {
            data: bad_ptr,
            len: bad.len(),
        },
    ];
    let mut list = null_mut();
    refused!(
        InvalidUtf8,
        "scopes[1]",
        mcpguard_scopes_to_tags(tags.as_ptr(), 2, &mut list)
    );
    assert!(list.is_null());
}

#[test]
fn bad_values_get_their_own_codes() {
    let o = Objects::new();
    let mut request = empty_request();
    request.filter_kind = 9;
    (request.filter, request.filter_len) = arg("web");
    let mut d = null_mut();
    refused!(
        InvalidArgument,
        "filter_kind 9",
        mcpguard_guard_authorize(o.guard, &request, &mut d)
    );
    let mut f = null_mut();
    let (wp, wn) = arg("web");
    refused!(
        InvalidArgument,
        "syntax 7",
        mcpguard_tag_filter_parse(7, wp, wn, &mut f)
    );
    let (ep, en) = arg("web and (");
    refused!(
        InvalidFilter,
        "",
        mcpguard_tag_filter_parse(1, ep, en, &mut f)
    );
    let (qp, qn) = arg("{not json");
    refused!(
        InvalidFilter,
        "not JSON",
        mcpguard_tag_filter_parse(2, qp, qn, &mut f)
    );
    assert!(f.is_null());

    let mut c = null_mut();
    refused!(
        InvalidArgument,
        "finite",
        mcpguard_manual_clock_new(f64::NAN, &mut c)
    );
    refused!(
        InvalidArgument,
        "finite",
        mcpguard_manual_clock_advance(o.clock, f64::INFINITY)
    );
    let mut l = null_mut();
    let (ap, an) = arg("leaky_bucket");
    refused!(
        InvalidArgument,
        "leaky_bucket",
        mcpguard_rate_limiter_new(ap, an, 1, 1.0, 0, 1, null(), &mut l)
    );
    let (ap, an) = arg("fixed_window");
    refused!(
        InvalidQuota,
        "window_seconds",
        mcpguard_rate_limiter_new(ap, an, 1, 0.0, 0, 1, null(), &mut l)
    );
    refused!(
        InvalidQuota,
        "burst",
        mcpguard_rate_limiter_new(ap, an, 1, 1.0, 5, 1, null(), &mut l)
    );
    assert!(l.is_null());

    let mut s = no_str();
    refused!(
        OutOfRange,
        "header index 99",
        mcpguard_decision_header(o.decision, 99, &mut s, &mut no_str())
    );
    refused!(
        OutOfRange,
        "visible server index 99",
        mcpguard_decision_visible_server(o.decision, 99, &mut s)
    );
    refused!(
        OutOfRange,
        "list index 1",
        mcpguard_string_list_get(o.list, 1, &mut s)
    );
    let (hp, hn) = arg("X-Nope");
    refused!(
        NotFound,
        "X-Nope",
        mcpguard_decision_header_value(o.decision, hp, hn, &mut s)
    );

    let (rp, rn) = arg("no-such-rule");
    let (kp, kn) = arg("k");
    let mut rd = mcpguard_rate_decision::default();
    refused!(
        UnknownRule,
        "no-such-rule",
        mcpguard_guard_check_rate_limit(o.guard, rp, rn, kp, kn, 1, &mut rd)
    );
    let (ip, iname) = arg("https://auth.example.com");
    let (jp, jn) = arg("{\"keys\": 3}");
    refused!(
        KeyError,
        "",
        mcpguard_guard_set_jwks(o.guard, ip, iname, jp, jn)
    );
    let mut g = null_mut();
    let (cp, cn) = arg(
        "{\"resource\": \"https://x.example/mcp\", \"auth\": {\"issuers\": []}, \"rate_limit\": {\"limt\": 3}}",
    );
    refused!(
        ConfigError,
        "rate_limit",
        mcpguard_guard_new(cp, cn, &mut g)
    );
    assert!(g.is_null());
    let (pp, pn) = arg("/nonexistent/guard.json");
    refused!(
        ConfigError,
        "cannot read",
        mcpguard_guard_from_file(pp, pn, &mut g)
    );

    let (tp, tn) = arg("not-a-jwt");
    let mut p = null_mut();
    let mut failure = mcpguard_token_failure {
        status: 0,
        error: no_str(),
        reason: no_str(),
    };
    refused!(
        TokenRejected,
        "",
        mcpguard_guard_validate(o.guard, tp, tn, &mut p, &mut failure)
    );
    assert!(p.is_null());
    assert_eq!(
        (failure.status, text(failure.reason), text(failure.error)),
        (401, "malformed".into(), "invalid_token".into())
    );
    // The failure out-parameter is optional.
    refused!(
        TokenRejected,
        "",
        mcpguard_guard_validate(o.guard, tp, tn, &mut p, null_mut())
    );
}

#[test]
fn a_null_audit_callback_is_refused() {
    let o = Objects::new();
    refused!(
        NullParameter,
        "callback",
        mcpguard_guard_set_audit_callback(o.guard, None, null_mut())
    );
}

#[test]
fn last_error_is_per_thread() {
    let mut c = null_mut();
    refused!(
        InvalidArgument,
        "finite",
        mcpguard_manual_clock_new(f64::NAN, &mut c)
    );
    std::thread::spawn(|| {
        refused!(NullParameter, "out", mcpguard_version(null_mut()));
    })
    .join()
    .expect("thread");
    assert!(last_error().contains("finite"), "{}", last_error());
}

/// What the test callback saw: (kind, reason, user_data tag, accessor-with-NULL result).
static EVENTS: Mutex<Vec<(String, String, usize, mcpguard_result)>> = Mutex::new(Vec::new());

unsafe extern "C" fn record_event(event: *const mcpguard_audit_event, user_data: *mut c_void) {
    let (mut kind, mut reason) = (no_str(), no_str());
    // SAFETY: the library lends `event` for the duration of this call.
    let null_out = unsafe {
        mcpguard_audit_event_kind(event, &mut kind);
        mcpguard_audit_event_reason(event, &mut reason);
        mcpguard_audit_event_to_json(event, null_mut())
    };
    EVENTS
        .lock()
        .expect("events")
        .push((text(kind), text(reason), user_data as usize, null_out));
}

#[test]
fn audit_callback_drain_and_counters_report_what_happened() {
    let o = Objects::new();
    let tag = 0xC0FFEE_usize as *mut c_void;
    // SAFETY: the guard is live; `record_event` has the callback's signature.
    assert_eq!(
        unsafe { mcpguard_guard_set_audit_callback(o.guard, Some(record_event), tag) },
        mcpguard_result::Ok
    );
    EVENTS.lock().expect("events").clear();
    let mut request = empty_request();
    let (ap, an) = arg("Bearer not-a-jwt");
    (request.authorization, request.authorization_len) = (ap, an);
    let mut d = null_mut();
    // SAFETY: the request's strings outlive the call; out is writable.
    unsafe {
        assert_eq!(
            mcpguard_guard_authorize(o.guard, &request, &mut d),
            mcpguard_result::Ok
        );
        mcpguard_decision_free(d);
        assert_eq!(
            mcpguard_guard_clear_audit_callback(o.guard),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_guard_authorize(o.guard, &request, &mut d),
            mcpguard_result::Ok
        );
        mcpguard_decision_free(d);
    }
    let events = EVENTS.lock().expect("events").clone();
    assert_eq!(
        events,
        vec![(
            "auth_failure".to_string(),
            "malformed".to_string(),
            0xC0FFEE,
            mcpguard_result::NullParameter
        )],
        "one event before the callback was cleared, none after"
    );

    let mut json = null_mut();
    // SAFETY: out is writable.
    assert_eq!(
        unsafe { mcpguard_guard_drain_audit(o.guard, &mut json) },
        mcpguard_result::Ok
    );
    let drained: serde_json::Value = serde_json::from_str(&take(json)).expect("JSON");
    let kinds: Vec<&str> = drained
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    // Objects::new authorized the developer once; then two malformed tokens.
    assert_eq!(kinds, ["auth_success", "auth_failure", "auth_failure"]);

    let mut counters = mcpguard_counters::default();
    // SAFETY: out is writable.
    assert_eq!(
        unsafe { mcpguard_guard_counters(o.guard, &mut counters) },
        mcpguard_result::Ok
    );
    assert_eq!((counters.allowed, counters.denied), (1, 2));
    // SAFETY: out is writable.
    assert_eq!(
        unsafe { mcpguard_guard_counters_json(o.guard, &mut json) },
        mcpguard_result::Ok
    );
    let v: serde_json::Value = serde_json::from_str(&take(json)).expect("JSON");
    assert_eq!(v["denied"]["malformed"], 2);
}

#[test]
fn engines_work_on_their_own() {
    let o = Objects::new();
    let (kp, kn) = arg("alice");
    let mut d = mcpguard_rate_decision::default();
    // SAFETY: live objects, strings outlive the calls, outs writable.
    unsafe {
        for remaining in [1, 0] {
            assert_eq!(
                mcpguard_rate_limiter_check(o.limiter, kp, kn, 1, &mut d),
                mcpguard_result::Ok
            );
            assert!(d.allowed && d.remaining == remaining);
        }
        assert_eq!(
            mcpguard_rate_limiter_check(o.limiter, kp, kn, 1, &mut d),
            mcpguard_result::Ok
        );
        assert!(!d.allowed && d.has_retry_after && d.retry_after == 60.0);
        assert_eq!(
            mcpguard_rate_limiter_peek(o.limiter, kp, kn, &mut d),
            mcpguard_result::Ok
        );
        assert!(!d.allowed);
        assert_eq!(
            mcpguard_manual_clock_advance(o.clock, 60.0),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_rate_limiter_peek(o.limiter, kp, kn, &mut d),
            mcpguard_result::Ok
        );
        assert!(d.allowed);
        assert_eq!(
            mcpguard_rate_limiter_check(o.limiter, kp, kn, 2, &mut d),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_rate_limiter_reset(o.limiter, kp, kn),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_rate_limiter_peek(o.limiter, kp, kn, &mut d),
            mcpguard_result::Ok
        );
        assert_eq!(d.remaining, 2);

        let tags = ["files".to_string()];
        let slices = common::str_array(&tags);
        let mut matched = false;
        assert_eq!(
            mcpguard_tag_filter_matches(o.filter, slices.as_ptr(), 1, &mut matched),
            mcpguard_result::Ok
        );
        assert!(matched);
        let mut s = null_mut();
        assert_eq!(
            mcpguard_tag_filter_to_string(o.filter, &mut s),
            mcpguard_result::Ok
        );
        assert_eq!(take(s), "web,files");

        let requested = ["tag:web".to_string(), "tag:web".to_string()];
        let available = ["web".to_string()];
        let (rq, av) = (common::str_array(&requested), common::str_array(&available));
        let (mut valid, mut list) = (true, null_mut());
        assert_eq!(
            mcpguard_validate_scopes(rq.as_ptr(), 2, av.as_ptr(), 1, &mut valid, &mut list),
            mcpguard_result::Ok
        );
        assert!(!valid);
        assert_eq!(take_list(list), ["Duplicate scope: tag:web"]);

        let mut p = null_mut();
        assert_eq!(
            mcpguard_decision_principal(o.decision, &mut p),
            mcpguard_result::Ok
        );
        let mut subject = no_str();
        assert_eq!(
            mcpguard_principal_subject(p, &mut subject),
            mcpguard_result::Ok
        );
        assert_eq!(text(subject), "dev-alice");
        mcpguard_principal_free(p);
    }
}

/// A guard with `auth.opaque_tokens` on, on its own manual clock.
struct OpaqueGuard {
    clock: *mut mcpguard_manual_clock,
    guard: *mut mcpguard_guard,
}

const OPAQUE_CONFIG: &str = r#"{"resource": "https://mcp.example.com/mcp",
    "auth": {"issuers": [{"issuer": "https://auth.example.com", "jwks": {"keys": []}}],
             "opaque_tokens": true},
    "servers": {"files": {"tags": ["files"]}, "web": {"tags": ["web"]}},
    "rate_limit": {"enabled": false}}"#;

/// The store's capacity (the core's `DEFAULT_OPAQUE_CAPACITY`).
const OPAQUE_CAPACITY: usize = 100_000;

impl OpaqueGuard {
    fn new() -> OpaqueGuard {
        let mut o = OpaqueGuard {
            clock: null_mut(),
            guard: null_mut(),
        };
        let (cp, cn) = arg(OPAQUE_CONFIG);
        // SAFETY: the config outlives the call; outs are writable.
        unsafe {
            assert_eq!(
                mcpguard_manual_clock_new(DEMO_TIME, &mut o.clock),
                mcpguard_result::Ok
            );
            assert_eq!(
                mcpguard_guard_new_with_clock(cp, cn, o.clock, &mut o.guard),
                mcpguard_result::Ok,
                "{}",
                last_error()
            );
        }
        o
    }

    fn insert(&self, token: &str, entry: &str) -> mcpguard_result {
        let ((tp, tn), (ep, en)) = (arg(token), arg(entry));
        // SAFETY: the guard is live; both strings outlive the call.
        unsafe { mcpguard_guard_insert_opaque(self.guard, tp, tn, ep, en) }
    }

    /// `mcpguard_guard_validate`: the principal's JSON, or the failure's reason.
    fn validate(&self, token: &str) -> Result<serde_json::Value, String> {
        let (tp, tn) = arg(token);
        let (mut p, mut failure) = (null_mut(), empty_failure());
        // SAFETY: the guard is live; the token outlives the call; outs are writable.
        let r = unsafe { mcpguard_guard_validate(self.guard, tp, tn, &mut p, &mut failure) };
        principal_or_reason(r, p, &failure)
    }

    /// `mcpguard_guard_validate_introspection`, as `validate`.
    fn introspect(&self, response: &str) -> Result<serde_json::Value, String> {
        let (rp, rn) = arg(response);
        let (mut p, mut failure) = (null_mut(), empty_failure());
        // SAFETY: the guard is live; the response outlives the call; outs are writable.
        let r = unsafe {
            mcpguard_guard_validate_introspection(self.guard, rp, rn, &mut p, &mut failure)
        };
        principal_or_reason(r, p, &failure)
    }
}

impl Drop for OpaqueGuard {
    fn drop(&mut self) {
        // SAFETY: both came from their constructors and are freed once, here.
        unsafe {
            mcpguard_guard_free(self.guard);
            mcpguard_manual_clock_free(self.clock);
        }
    }
}

fn empty_failure() -> mcpguard_token_failure {
    mcpguard_token_failure {
        status: 0,
        error: no_str(),
        reason: no_str(),
    }
}

fn principal_or_reason(
    r: mcpguard_result,
    p: *mut mcpguard_principal,
    failure: &mcpguard_token_failure,
) -> Result<serde_json::Value, String> {
    if r != mcpguard_result::Ok {
        assert_eq!(r, mcpguard_result::TokenRejected, "{}", last_error());
        assert!(p.is_null(), "a refusal leaves *out NULL");
        assert_eq!(
            (failure.status, text(failure.error)),
            (401, "invalid_token".into())
        );
        return Err(text(failure.reason));
    }
    let mut json = null_mut();
    // SAFETY: `p` is a live principal, freed once, here; out is writable.
    unsafe {
        assert_eq!(
            mcpguard_principal_to_json(p, &mut json),
            mcpguard_result::Ok
        );
        mcpguard_principal_free(p);
    }
    Ok(serde_json::from_str(&take(json)).expect("principal JSON"))
}

#[test]
fn an_inserted_opaque_token_validates_and_is_authorized() {
    let o = OpaqueGuard::new();
    let entry = format!(
        r#"{{"client_id": "app", "subject": "alice", "scopes": ["tag:web"],
            "resource": "https://mcp.example.com/mcp", "expires_at": {}}}"#,
        DEMO_TIME as i64 + 600
    );
    assert_eq!(o.validate("opq-alice-7Hd93kQ"), Err("inactive".into()));
    assert_eq!(o.insert("opq-alice-7Hd93kQ", &entry), mcpguard_result::Ok);
    let p = o
        .validate("opq-alice-7Hd93kQ")
        .expect("stored token validates");
    assert_eq!(
        p,
        serde_json::json!({"kind": "opaque", "subject": "alice", "client_id": "app", "issuer": "",
            "audience": ["https://mcp.example.com/mcp"], "scopes": ["tag:web"],
            "tags": ["web"], "roles": [], "expires_at": DEMO_TIME as i64 + 600,
            "jwt_id": null})
    );

    let bearer = "Bearer opq-alice-7Hd93kQ";
    let mut request = empty_request();
    (request.authorization, request.authorization_len) = arg(bearer);
    let (mut d, mut allowed, mut servers) = (null_mut(), false, 0);
    // SAFETY: the request's strings outlive the call; outs are writable.
    unsafe {
        assert_eq!(
            mcpguard_guard_authorize(o.guard, &request, &mut d),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_decision_allowed(d, &mut allowed),
            mcpguard_result::Ok
        );
        assert_eq!(
            mcpguard_decision_visible_server_count(d, &mut servers),
            mcpguard_result::Ok
        );
        mcpguard_decision_free(d);
    }
    assert!(allowed && servers == 1);

    // Storing it again replaces the entry (and the cached principal).
    assert_eq!(
        o.insert("opq-alice-7Hd93kQ", r#"{"scopes": ["tag:files"]}"#),
        mcpguard_result::Ok
    );
    assert_eq!(
        o.validate("opq-alice-7Hd93kQ").expect("replaced")["tags"],
        serde_json::json!(["files"])
    );
    let (tp, tn) = arg("opq-alice-7Hd93kQ");
    // SAFETY: the guard is live; the token outlives the call.
    assert_eq!(
        unsafe { mcpguard_guard_revoke(o.guard, tp, tn) },
        mcpguard_result::Ok
    );
    assert_eq!(o.validate("opq-alice-7Hd93kQ"), Err("inactive".into()));
}

#[test]
fn each_refused_insert_has_its_own_result_code_and_stores_nothing() {
    let o = OpaqueGuard::new();
    for token in ["abc.def", "abc def", "", "==", "é", &"a".repeat(4097)] {
        refused!(OpaqueInvalidToken, "RFC 6750", {
            let ((tp, tn), (ep, en)) = (arg(token), arg("{}"));
            mcpguard_guard_insert_opaque(o.guard, tp, tn, ep, en)
        });
    }
    assert_eq!(o.insert(&"a".repeat(4096), "{}"), mcpguard_result::Ok);
    for expires_at in [DEMO_TIME as i64, DEMO_TIME as i64 - 1] {
        let entry = format!(r#"{{"expires_at": {expires_at}}}"#);
        refused!(OpaqueExpired, "expired", {
            let ((tp, tn), (ep, en)) = (arg("opq-stale"), arg(&entry));
            mcpguard_guard_insert_opaque(o.guard, tp, tn, ep, en)
        });
    }
    assert_eq!(o.validate("opq-stale"), Err("inactive".into()));

    // examples/guard.json has no `auth.opaque_tokens`.
    let disabled = Objects::new();
    refused!(OpaqueDisabled, "opaque_tokens", {
        let ((tp, tn), (ep, en)) = (arg("opq-nowhere"), arg("{}"));
        mcpguard_guard_insert_opaque(disabled.guard, tp, tn, ep, en)
    });
}

#[test]
fn a_full_opaque_store_refuses_with_its_capacity_and_keeps_every_token() {
    let o = OpaqueGuard::new();
    // The store holds its capacity of other tokens (no expiry, so none can
    // be purged to make room).
    for i in 1..OPAQUE_CAPACITY {
        assert_eq!(o.insert(&format!("t{i}"), "{}"), mcpguard_result::Ok);
    }
    assert_eq!(o.insert("t0", "{}"), mcpguard_result::Ok);
    refused!(OpaqueStoreFull, &OPAQUE_CAPACITY.to_string(), {
        let ((tp, tn), (ep, en)) = (arg("one-too-many"), arg("{}"));
        mcpguard_guard_insert_opaque(o.guard, tp, tn, ep, en)
    });
    assert!(o.validate("t0").is_ok());
    // Replacing a stored token needs no room.
    assert_eq!(
        o.insert("t0", r#"{"scopes": ["tag:web"]}"#),
        mcpguard_result::Ok
    );
}

#[test]
fn a_bad_opaque_entry_is_a_config_error_naming_the_member() {
    let o = OpaqueGuard::new();
    for (entry, needle) in [
        ("{not json", "invalid opaque-token entry"),
        ("[]", "must be a JSON object"),
        ("null", "must be a JSON object"),
        (r#"{"scope": "tag:web"}"#, "scope"),
        (r#"{"scopes": ["tag:web", 1]}"#, "at scopes[1]"),
        (r#"{"scopes": "tag:web"}"#, "at scopes"),
        (r#"{"expires_at": 1.5}"#, "at expires_at"),
        (
            r#"{"client_id": "a", "client_id": "b"}"#,
            "duplicate field `client_id`",
        ),
    ] {
        refused!(ConfigError, needle, {
            let ((tp, tn), (ep, en)) = (arg("opq-token"), arg(entry));
            mcpguard_guard_insert_opaque(o.guard, tp, tn, ep, en)
        });
        assert!(
            last_error().starts_with("invalid opaque-token entry"),
            "{}",
            last_error()
        );
    }
    assert_eq!(o.validate("opq-token"), Err("inactive".into()));
}

#[test]
fn an_introspection_response_gives_a_principal_or_a_failure_like_validate() {
    let o = OpaqueGuard::new();
    let now = DEMO_TIME as i64;
    let active = format!(
        r#"{{"active": true, "iss": "https://auth.example.com", "client_id": "svc",
            "sub": "bob", "aud": "https://mcp.example.com/mcp",
            "scope": "tag:files mcp:read", "exp": {}, "iat": {now}}}"#,
        now + 3600
    );
    let p = o
        .introspect(&active)
        .expect("an active response is a principal");
    assert_eq!(
        p,
        serde_json::json!({"kind": "introspected", "subject": "bob", "client_id": "svc",
            "issuer": "https://auth.example.com", "audience": ["https://mcp.example.com/mcp"],
            "scopes": ["tag:files", "mcp:read"], "tags": ["files"], "roles": [],
            "expires_at": now + 3600, "jwt_id": null})
    );
    for (response, reason) in [
        (r#"{"active": false}"#.to_string(), "inactive"),
        (
            active.replace("mcp.example.com/mcp", "other.example.com"),
            "wrong_audience",
        ),
        (
            active.replace("auth.example.com", "evil.example.com"),
            "wrong_issuer",
        ),
        (
            r#"{"active": true, "sub": "a", "sub": "b"}"#.to_string(),
            "malformed",
        ),
        ("not json".to_string(), "malformed"),
        (String::new(), "malformed"),
    ] {
        assert_eq!(
            o.introspect(&response),
            Err(reason.to_string()),
            "{response}"
        );
    }
    // The failure out-parameter is optional; the description is the last error.
    let (rp, rn) = arg(r#"{"active": false}"#);
    let mut p = null_mut();
    refused!(
        TokenRejected,
        "not active",
        mcpguard_guard_validate_introspection(o.guard, rp, rn, &mut p, null_mut())
    );
    assert!(p.is_null());
}
