//! The authorization server through the C functions: the whole code flow a
//! C host runs (register, authorize, consent, token, the guard accepting
//! the token, refresh, revocation, reuse detection), the operational calls
//! (metadata, JWKS, key rotation, purge), and a C caller's mistakes, each a
//! result code and a message, never a crash.

#[macro_use]
mod common;

use std::ffi::{CStr, c_char};
use std::ptr::{null, null_mut};

use common::{arg, last_error, no_str, take, text};
use mcpguard_c::*;
use serde_json::{Value, json};

const NOW: f64 = 1_767_225_600.0;
const R: &str = "https://mcp.example.com/mcp";
const CB: &str = "http://127.0.0.1:8765/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A guard with an authorization server, its server, and HTTP options for
/// the protected endpoint; all freed through the C API.
struct Host {
    clock: *mut mcpguard_manual_clock,
    guard: *mut mcpguard_guard,
    server: *mut mcpguard_oauth_server,
    options: *mut mcpguard_http_options,
}

fn config(section: Value) -> String {
    json!({
        "resource": R,
        "servers": {"web-search": {"tags": ["web"]}, "postgres": {"tags": ["db"]}},
        "authorization_server": section,
    })
    .to_string()
}

fn ok(r: mcpguard_result, what: &str) {
    assert_eq!(r, mcpguard_result::Ok, "{what}: {}", last_error());
}

impl Host {
    fn new() -> Host {
        Host::with(json!({"issuer": "https://auth.example.com"}))
    }

    fn with(section: Value) -> Host {
        let mut h = Host {
            clock: null_mut(),
            guard: null_mut(),
            server: null_mut(),
            options: null_mut(),
        };
        let config = config(section);
        let (cp, cn) = arg(&config);
        let (op, on) = arg(r#"{"server": "web-search"}"#);
        // SAFETY: every argument is live for the call and every out writable.
        unsafe {
            ok(mcpguard_manual_clock_new(NOW, &mut h.clock), "clock");
            ok(
                mcpguard_guard_new_with_clock(cp, cn, h.clock, &mut h.guard),
                "guard",
            );
            ok(mcpguard_oauth_server_new(h.guard, &mut h.server), "server");
            ok(mcpguard_http_options_new(op, on, &mut h.options), "options");
        }
        h
    }

    /// One request to the authorization server, answered.
    fn send(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        self.send_as(method, target, headers, body, None)
            .unwrap_or_else(|| panic!("{target} is not an endpoint"))
    }

    fn send_as(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        subject: Option<&str>,
    ) -> Option<Answer> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let c_headers: Vec<mcpguard_http_header> = headers
            .iter()
            .map(|(n, v)| mcpguard_http_header {
                name: n.as_ptr(),
                name_len: n.len(),
                value: v.as_ptr(),
                value_len: v.len(),
            })
            .collect();
        let (mp, mn) = arg(method);
        let (pp, pn) = arg(path);
        let (qp, qn) = arg(query);
        let (sp, sn) = subject.map_or((null(), 0), arg);
        let (peer, peer_len) = arg("10.0.0.1");
        let request = mcpguard_oauth_request {
            method: mp,
            method_len: mn,
            path: pp,
            path_len: pn,
            query: qp,
            query_len: qn,
            headers: c_headers.as_ptr(),
            header_count: c_headers.len(),
            body: body.as_ptr(),
            body_len: body.len(),
            peer,
            peer_len,
            subject: sp,
            subject_len: sn,
        };
        let mut out = null_mut();
        // SAFETY: the request borrows live Rust values; `out` is writable.
        ok(
            unsafe { mcpguard_oauth_server_handle_http(self.server, &request, &mut out) },
            "handle_http",
        );
        (!out.is_null()).then(|| Answer::take(out))
    }

    fn register(&self) -> String {
        let meta = json!({"redirect_uris": [CB], "scope": "tag:web tag:db"}).to_string();
        let r = self.send(
            "POST",
            "/register",
            &[("Content-Type", "application/json")],
            meta.as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["client_id"].as_str().unwrap().to_string()
    }

    /// The consent page, then its form posted for alice: the redirect back.
    fn consent(&self, client_id: &str) -> url::Url {
        let query = form(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CB),
            ("state", "xyz"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "tag:web"),
        ]);
        let page = self.send("GET", &format!("/authorize?{query}"), &[], b"");
        assert_eq!(page.status, 200, "{}", page.body);
        let cookie = page.header("Set-Cookie").unwrap();
        let cookie = cookie.split(';').next().unwrap().to_string();
        let body = form(&[
            ("request_id", &hidden(&page.body, "request_id")),
            ("csrf_token", &hidden(&page.body, "csrf_token")),
            ("decision", "approve"),
        ]);
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", cookie.as_str()),
        ];
        let r = self
            .send_as(
                "POST",
                "/authorize",
                &headers,
                body.as_bytes(),
                Some("alice"),
            )
            .unwrap();
        assert_eq!(r.status, 302, "{}", r.body);
        url::Url::parse(r.header("Location").unwrap()).unwrap()
    }

    fn token(&self, pairs: &[(&str, &str)]) -> Answer {
        self.send(
            "POST",
            "/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form(pairs).as_bytes(),
        )
    }

    /// The code flow to its tokens: (client id, access token, refresh token).
    fn tokens(&self) -> (String, String, String) {
        let client = self.register();
        let back = self.consent(&client);
        let code = param(&back, "code");
        let t = self.token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("client_id", &client),
            ("code_verifier", VERIFIER),
        ]);
        assert_eq!(t.status, 200, "{}", t.body);
        let t = t.json();
        (
            client,
            t["access_token"].as_str().unwrap().to_string(),
            t["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    fn refresh(&self, client: &str, refresh_token: &str) -> Answer {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client),
        ])
    }

    /// The guard's answer to a `tools/list` with this bearer token: the
    /// HTTP action and status.
    fn guard_http(&self, token: &str) -> (mcpguard_http_action, u16) {
        let bearer = format!("Bearer {token}");
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let headers = [
            ("Accept", "application/json, text/event-stream"),
            ("Content-Type", "application/json"),
            ("Authorization", bearer.as_str()),
        ]
        .map(|(n, v)| mcpguard_http_header {
            name: n.as_ptr(),
            name_len: n.len(),
            value: v.as_ptr(),
            value_len: v.len(),
        });
        let (mp, mn) = arg("POST");
        let (pp, pn) = arg("/mcp");
        let request = mcpguard_http_request {
            method: mp,
            method_len: mn,
            path: pp,
            path_len: pn,
            query: null(),
            query_len: 0,
            headers: headers.as_ptr(),
            header_count: headers.len(),
            peer: null(),
            peer_len: 0,
            body_state: mcpguard_http_body::Bytes as u32,
            body: body.as_ptr(),
            body_len: body.len(),
            server: null(),
            server_len: 0,
            key: null(),
            key_len: 0,
            cost: 0,
        };
        let mut d = null_mut();
        let (mut action, mut status) = (mcpguard_http_action::Pass, 0);
        // SAFETY: the request borrows live values; the outs are writable;
        // the decision is freed once.
        unsafe {
            ok(
                mcpguard_guard_authorize_http(self.guard, self.options, &request, &mut d),
                "authorize_http",
            );
            ok(mcpguard_http_decision_action(d, &mut action), "action");
            ok(mcpguard_http_decision_status(d, &mut status), "status");
            mcpguard_http_decision_free(d);
        }
        (action, status)
    }

    fn revoke(&self, token: &str, client: &str) -> mcpguard_result {
        let (tp, tn) = arg(token);
        let (cp, cn) = arg(client);
        // SAFETY: the strings are live for the call.
        unsafe { mcpguard_oauth_server_revoke(self.server, tp, tn, null(), 0, cp, cn, null(), 0) }
    }

    fn owned(
        &self,
        f: unsafe extern "C" fn(*const mcpguard_oauth_server, *mut *mut c_char) -> mcpguard_result,
    ) -> Value {
        let mut out = null_mut();
        // SAFETY: the server is live and `out` writable.
        ok(unsafe { f(self.server, &mut out) }, "owned output");
        serde_json::from_str(&take(out)).unwrap()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // SAFETY: each came from its constructor and is freed once, here.
        unsafe {
            mcpguard_http_options_free(self.options);
            mcpguard_oauth_server_free(self.server);
            mcpguard_guard_free(self.guard);
            mcpguard_manual_clock_free(self.clock);
        }
    }
}

/// A response read through the `mcpguard_http_response_*` functions.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn take(r: *mut mcpguard_http_response) -> Answer {
        let (mut status, mut count) = (0, 0);
        let mut body = mcpguard_bytes {
            data: null(),
            len: 0,
        };
        let mut headers = Vec::new();
        // SAFETY: `r` is a live response, freed once at the end; every out
        // is writable and every index in range.
        unsafe {
            ok(mcpguard_http_response_status(r, &mut status), "status");
            ok(mcpguard_http_response_header_count(r, &mut count), "count");
            for i in 0..count {
                let (mut n, mut v) = (no_str(), no_str());
                ok(
                    mcpguard_http_response_header(r, i, &mut n, &mut v),
                    "header",
                );
                headers.push((text(n), text(v)));
            }
            ok(mcpguard_http_response_body(r, &mut body), "body");
            let bytes = std::slice::from_raw_parts(body.data, body.len).to_vec();
            mcpguard_http_response_free(r);
            Answer {
                status,
                headers,
                body: String::from_utf8(bytes).unwrap(),
            }
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

fn param(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{url} has no {name}"))
}

fn error_info() -> Value {
    // SAFETY: a NUL-terminated thread-local string.
    let info = unsafe { CStr::from_ptr(mcpguard_last_error_info()) };
    serde_json::from_str(info.to_str().unwrap()).unwrap()
}

#[test]
fn the_code_flow_issues_tokens_the_guard_accepts_until_revoked_or_reused() {
    let h = Host::new();
    let client = h.register();
    let back = h.consent(&client);
    assert_eq!(param(&back, "state"), "xyz");
    assert_eq!(param(&back, "iss"), "https://auth.example.com");
    let code = param(&back, "code");
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("client_id", client.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let t = h.token(&exchange);
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(t.header("Cache-Control"), Some("no-store"));
    let t = t.json();
    assert_eq!(t["scope"], "tag:web");
    let access1 = t["access_token"].as_str().unwrap().to_string();
    let refresh1 = t["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(h.guard_http(&access1), (mcpguard_http_action::Forward, 0));

    // Refresh: a new pair; the old access token still works.
    let r = h.refresh(&client, &refresh1);
    assert_eq!(r.status, 200, "{}", r.body);
    let access2 = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(h.guard_http(&access2), (mcpguard_http_action::Forward, 0));

    // RFC 7009 revocation of the first access token: the guard refuses it.
    ok(h.revoke(&access1, &client), "revoke");
    assert_eq!(h.guard_http(&access1), (mcpguard_http_action::Respond, 401));
    assert_eq!(h.guard_http(&access2), (mcpguard_http_action::Forward, 0));

    // Reusing the rotated refresh token revokes the family: access2 too.
    let reused = h.refresh(&client, &refresh1);
    assert_eq!(reused.status, 400);
    assert_eq!(reused.json()["error"], "invalid_grant");
    assert_eq!(h.guard_http(&access2), (mcpguard_http_action::Respond, 401));

    // The code was spent: a second exchange is refused.
    let again = h.token(&exchange);
    assert_eq!(again.json()["error"], "invalid_grant", "{}", again.body);
}

#[test]
fn revoking_a_refresh_token_through_the_c_call_ends_its_family() {
    let h = Host::new();
    let (client, access, refresh) = h.tokens();
    ok(h.revoke(&refresh, &client), "revoke refresh");
    assert_eq!(h.guard_http(&access), (mcpguard_http_action::Respond, 401));
    let r = h.refresh(&client, &refresh);
    assert_eq!(r.json()["error"], "invalid_grant", "{}", r.body);
}

#[test]
fn revoking_another_clients_token_is_an_oauth_refusal_with_its_code() {
    let h = Host::new();
    let (_, access, _) = h.tokens();
    let other = h.register();
    assert_eq!(h.revoke(&access, &other), mcpguard_result::OauthRefused);
    let info = error_info();
    assert_eq!(info["code"], "unauthorized_client", "{info}");
    assert_eq!(info["status"], 400);
    assert_eq!(h.guard_http(&access), (mcpguard_http_action::Forward, 0));
    assert_eq!(
        h.revoke(&access, "no-such-client"),
        mcpguard_result::OauthRefused
    );
    assert_eq!(error_info()["code"], "invalid_client");
}

#[test]
fn metadata_jwks_and_issuer_describe_the_server() {
    let h = Host::new();
    let meta = h.owned(mcpguard_oauth_server_metadata);
    assert_eq!(meta["issuer"], "https://auth.example.com");
    assert_eq!(meta["token_endpoint"], "https://auth.example.com/token");
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    let jwks = h.owned(mcpguard_oauth_server_jwks);
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let mut issuer = no_str();
    // SAFETY: the server is live and `issuer` writable.
    ok(
        unsafe { mcpguard_oauth_server_issuer(h.server, &mut issuer) },
        "issuer",
    );
    assert_eq!(text(issuer), "https://auth.example.com");
    let served = h.send("GET", "/.well-known/oauth-authorization-server", &[], b"");
    assert_eq!(served.json(), meta);
}

#[test]
fn a_path_that_is_no_endpoint_is_left_to_the_host() {
    let h = Host::new();
    assert!(h.send_as("POST", "/mcp", &[], b"{}", None).is_none());
}

#[test]
fn a_rotated_key_signs_new_tokens_while_the_old_ones_stay_valid() {
    let h = Host::new();
    let (_, before, _) = h.tokens();
    let (kp, kn) = arg("second");
    // SAFETY: the server is live; pem NULL asks for a generated key.
    ok(
        unsafe { mcpguard_oauth_server_rotate_key(h.server, null(), 0, null(), 0) },
        "rotate",
    );
    let jwks = h.owned(mcpguard_oauth_server_jwks);
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "{jwks}");
    assert_eq!(h.guard_http(&before), (mcpguard_http_action::Forward, 0));
    let (_, after, _) = h.tokens();
    assert_eq!(h.guard_http(&after), (mcpguard_http_action::Forward, 0));

    // A kid without a key, and a key that is not PEM, change nothing.
    refused!(
        InvalidArgument,
        "kid",
        mcpguard_oauth_server_rotate_key(h.server, null(), 0, kp, kn)
    );
    let (pp, pn) = arg("not a key");
    refused!(
        KeyError,
        "signing key",
        mcpguard_oauth_server_rotate_key(h.server, pp, pn, kp, kn)
    );
    assert_eq!(h.owned(mcpguard_oauth_server_jwks), jwks);
}

#[test]
fn purging_forgets_what_expired_by_the_guards_clock() {
    let h = Host::new();
    let client = h.register();
    let _unused_code = h.consent(&client);
    let mut removed = usize::MAX;
    // SAFETY: the server is live and `removed` writable.
    ok(
        unsafe { mcpguard_oauth_server_purge_expired(h.server, &mut removed) },
        "purge",
    );
    assert_eq!(removed, 0);
    // SAFETY: the clock is live.
    ok(
        unsafe { mcpguard_manual_clock_advance(h.clock, 61.0) },
        "advance",
    );
    // SAFETY: as above; NULL means the count is not wanted.
    ok(
        unsafe { mcpguard_oauth_server_purge_expired(h.server, &mut removed) },
        "purge",
    );
    assert_eq!(removed, 1, "the code expired after 60 s");
    // SAFETY: as above.
    ok(
        unsafe { mcpguard_oauth_server_purge_expired(h.server, null_mut()) },
        "purge without a count",
    );
}

#[test]
fn a_guard_without_the_section_has_no_server() {
    let config = json!({"resource": R, "servers": {}}).to_string();
    let (cp, cn) = arg(&config);
    let mut guard = null_mut();
    let mut server = std::ptr::dangling_mut::<mcpguard_oauth_server>();
    // SAFETY: the configuration is live and the outs writable.
    unsafe {
        ok(mcpguard_guard_new(cp, cn, &mut guard), "guard");
        assert_eq!(
            mcpguard_oauth_server_new(guard, &mut server),
            mcpguard_result::ConfigError
        );
        mcpguard_guard_free(guard);
    }
    assert!(server.is_null());
    assert!(
        last_error().contains("authorization_server"),
        "{}",
        last_error()
    );
}

#[test]
fn the_consent_post_without_a_signed_in_user_is_a_401() {
    let h = Host::new();
    let body = form(&[
        ("request_id", "x"),
        ("csrf_token", "y"),
        ("decision", "approve"),
    ]);
    let r = h.send(
        "POST",
        "/authorize",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 401);
    assert!(r.body.contains("login_required"));
}

#[test]
fn a_callers_mistakes_are_result_codes() {
    let h = Host::new();
    let mut out = null_mut();
    refused!(
        NullParameter,
        "guard",
        mcpguard_oauth_server_new(null(), &mut out)
    );
    refused!(
        NullParameter,
        "out",
        mcpguard_oauth_server_new(h.guard, null_mut())
    );
    refused!(
        NullParameter,
        "request",
        mcpguard_oauth_server_handle_http(h.server, null(), &mut null_mut())
    );
    let (mp, mn) = arg("GET");
    let bad = [0xffu8, 0xfe];
    let header = mcpguard_http_header {
        name: bad.as_ptr(),
        name_len: 2,
        value: bad.as_ptr(),
        value_len: 2,
    };
    let mut request = mcpguard_oauth_request {
        method: mp,
        method_len: mn,
        path: null(),
        path_len: 0,
        query: null(),
        query_len: 0,
        headers: null(),
        header_count: 0,
        body: null(),
        body_len: 0,
        peer: null(),
        peer_len: 0,
        subject: null(),
        subject_len: 0,
    };
    let mut response = std::ptr::dangling_mut::<mcpguard_http_response>();
    refused!(
        NullParameter,
        "request.path",
        mcpguard_oauth_server_handle_http(h.server, &request, &mut response)
    );
    assert!(response.is_null());
    let (pp, pn) = arg("/token");
    request.path = pp;
    request.path_len = pn;
    request.header_count = 1;
    refused!(
        NullParameter,
        "request.headers",
        mcpguard_oauth_server_handle_http(h.server, &request, &mut response)
    );
    request.headers = &header;
    refused!(
        InvalidUtf8,
        "request.headers[0].name",
        mcpguard_oauth_server_handle_http(h.server, &request, &mut response)
    );
    request.header_count = 0;
    request.body_len = 3;
    refused!(
        NullParameter,
        "request.body",
        mcpguard_oauth_server_handle_http(h.server, &request, &mut response)
    );
    let (tp, tn) = arg("t");
    refused!(
        NullParameter,
        "client_id",
        mcpguard_oauth_server_revoke(h.server, tp, tn, null(), 0, null(), 0, null(), 0)
    );
    refused!(
        NullParameter,
        "server",
        mcpguard_oauth_server_purge_expired(null(), null_mut())
    );
    // SAFETY: freeing NULL is allowed.
    unsafe { mcpguard_oauth_server_free(null_mut()) };
}
