//! The endpoints at the HTTP level: the whole flow as bytes, and the rules
//! the HTTP layer applies before the engine.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};

use super::http::{Endpoint, HttpRequest, HttpResponse};
use super::*;
use crate::ManualClock;
use crate::guard::Guard;

const R: &str = "https://mcp.example.com/mcp";
const CB: &str = "http://127.0.0.1:8765/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn server_with(section: Value) -> AuthorizationServer {
    let config = json!({
        "resource": R,
        "servers": {"web-search": {"tags": ["web"]}, "postgres": {"tags": ["db"]}},
        "authorization_server": section,
    });
    let guard =
        Guard::from_json_with_clock(&config.to_string(), ManualClock::new(1_767_225_600)).unwrap();
    AuthorizationServer::new(&guard, Arc::new(MemoryOAuthStore::new())).unwrap()
}

fn server() -> AuthorizationServer {
    server_with(json!({"issuer": "https://auth.example.com"}))
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn send(
    s: &AuthorizationServer,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    subject: Option<&str>,
) -> HttpResponse {
    s.handle_http(
        &HttpRequest {
            method,
            path,
            query,
            headers,
            body,
        },
        "10.0.0.1",
        subject,
    )
    .unwrap_or_else(|| panic!("{path} is not an endpoint"))
}

fn json_body(r: &HttpResponse) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

/// The value of a hidden input of the consent page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

fn register(s: &AuthorizationServer, meta: Value) -> Value {
    let r = send(
        s,
        "POST",
        "/register",
        "",
        &[("Content-Type", "application/json")],
        meta.to_string().as_bytes(),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    json_body(&r)
}

/// Registration, the consent page and its form: the code.
fn code_for(s: &AuthorizationServer, client_id: &str, kept: Option<&[&str]>) -> String {
    let q = String::from_utf8(form(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CB),
        ("state", "xyz"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("resource", R),
    ]))
    .unwrap();
    let page = send(s, "GET", "/authorize", &q, &[], b"", Some("alice"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("X-Frame-Options"), Some("DENY"));
    let set_cookie = page.header("Set-Cookie").unwrap();
    let cookie_pair = set_cookie.split(';').next().unwrap().to_string();
    let mut fields = vec![
        ("request_id", hidden(&page.body, "request_id")),
        ("csrf_token", hidden(&page.body, "csrf_token")),
        ("decision", "approve".to_string()),
    ];
    if let Some(kept) = kept {
        fields.push(("scope_choice", "1".into()));
        fields.extend(kept.iter().map(|k| ("scope", k.to_string())));
    }
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = send(
        s,
        "POST",
        "/authorize",
        "",
        &[FORM, ("Cookie", &cookie_pair)],
        &form(&pairs),
        Some("alice"),
    );
    assert_eq!(r.status, 302, "{}", r.body);
    let location = url::Url::parse(r.header("Location").unwrap()).unwrap();
    let q = |n: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(q("state").as_deref(), Some("xyz"));
    assert_eq!(q("iss").as_deref(), Some("https://auth.example.com"));
    q("code").unwrap()
}

fn token(
    s: &AuthorizationServer,
    headers: &[(&str, &str)],
    pairs: &[(&str, &str)],
) -> HttpResponse {
    let mut all = vec![FORM];
    all.extend_from_slice(headers);
    send(s, "POST", "/token", "", &all, &form(pairs), None)
}

#[test]
fn the_whole_flow_runs_over_http() {
    let s = server();
    let meta = json_body(&send(
        &s,
        "GET",
        "/.well-known/oauth-authorization-server",
        "",
        &[],
        b"",
        None,
    ));
    assert_eq!(
        meta["registration_endpoint"],
        "https://auth.example.com/register"
    );
    let client = register(&s, json!({"redirect_uris": ["http://127.0.0.1/callback"]}));
    let id = client["client_id"].as_str().unwrap();
    assert!(client.get("client_secret").is_none());
    let code = code_for(&s, id, None);
    let r = token(
        &s,
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
            ("client_id", id),
            ("resource", R),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let t = json_body(&r);
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "tag:web tag:db");
    let refresh = t["refresh_token"].as_str().unwrap();
    let r = token(
        &s,
        &[],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", id),
            ("scope", "tag:web"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let t2 = json_body(&r);
    assert_eq!(t2["scope"], "tag:web");
    let r = send(
        &s,
        "POST",
        "/revoke",
        "",
        &[FORM],
        &form(&[
            ("token", t2["access_token"].as_str().unwrap()),
            ("client_id", id),
        ]),
        None,
    );
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    let d = s.guard().validate(t2["access_token"].as_str().unwrap());
    assert_eq!(d.unwrap_err().reason, crate::reason::Reason::Revoked);
}

#[test]
fn unticking_every_tag_on_the_consent_page_grants_none() {
    let s = server();
    let client = register(&s, json!({"redirect_uris": [CB]}));
    let id = client["client_id"].as_str().unwrap();
    let code = code_for(&s, id, Some(&[]));
    let t = json_body(&token(
        &s,
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
            ("client_id", id),
        ],
    ));
    assert_eq!(t["scope"], "");
}

#[test]
fn the_consent_form_needs_the_cookie_and_a_signed_in_user() {
    let s = server();
    let id = register(&s, json!({"redirect_uris": [CB]}))["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let q = String::from_utf8(form(&[
        ("response_type", "code"),
        ("client_id", &id),
        ("redirect_uri", CB),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]))
    .unwrap();
    let page = send(&s, "GET", "/authorize", &q, &[], b"", None);
    let body = form(&[
        ("request_id", &hidden(&page.body, "request_id")),
        ("csrf_token", &hidden(&page.body, "csrf_token")),
        ("decision", "approve"),
    ]);
    let r = send(&s, "POST", "/authorize", "", &[FORM], &body, Some("alice"));
    assert_eq!(r.status, 403, "no cookie: {}", r.body);
    let r = send(&s, "POST", "/authorize", "", &[FORM], &body, None);
    assert_eq!(r.status, 401);
    let cookie = format!("mcpguard_consent={}", hidden(&page.body, "csrf_token"));
    let r = send(
        &s,
        "POST",
        "/authorize",
        "",
        &[FORM, ("Cookie", &cookie)],
        &body,
        Some("alice"),
    );
    assert_eq!(r.status, 302);
    assert!(r.header("Set-Cookie").unwrap().contains("Max-Age=0"));
}

#[test]
fn a_repeated_parameter_is_refused() {
    let s = server();
    let r = token(
        &s,
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("grant_type", "refresh_token"),
        ],
    );
    assert_eq!(r.status, 400);
    assert_eq!(json_body(&r)["error"], "invalid_request");
    let r = send(
        &s,
        "GET",
        "/authorize",
        "client_id=a&client_id=b",
        &[],
        b"",
        None,
    );
    assert_eq!(r.status, 400);
    assert!(r.body.starts_with("invalid_request"), "{}", r.body);
}

#[test]
fn basic_client_authentication_is_parsed_and_a_failure_is_challenged() {
    let s = server();
    let client = register(
        &s,
        json!({"token_endpoint_auth_method": "client_secret_basic",
               "grant_types": ["client_credentials"]}),
    );
    let id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    let basic = |secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    };
    let ok = basic(secret);
    let r = token(
        &s,
        &[("Authorization", &ok)],
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let bad = basic("nope");
    let r = token(
        &s,
        &[("Authorization", &bad)],
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.header("WWW-Authenticate"), Some("Basic realm=\"oauth\""));
    let r = token(
        &s,
        &[("Authorization", &ok)],
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", secret),
        ],
    );
    assert_eq!(r.status, 400, "two methods at once");
    let r = token(
        &s,
        &[],
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
    );
    assert_eq!(r.status, 200, "client_secret_post: {}", r.body);
}

#[test]
fn methods_and_content_types_are_checked() {
    let s = server();
    let r = send(&s, "GET", "/token", "", &[], b"", None);
    assert_eq!((r.status, r.header("Allow")), (405, Some("POST, OPTIONS")));
    let r = send(
        &s,
        "POST",
        "/token",
        "",
        &[("Content-Type", "application/json")],
        b"{}",
        None,
    );
    assert_eq!(r.status, 400);
    let r = send(&s, "POST", "/register", "", &[FORM], b"a=b", None);
    assert_eq!(json_body(&r)["error"], "invalid_client_metadata");
    let r = send(&s, "OPTIONS", "/register", "", &[], b"", None);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    let charset = [(
        "Content-Type",
        "application/x-www-form-urlencoded; charset=UTF-8",
    )];
    let r = send(
        &s,
        "POST",
        "/token",
        "",
        &charset,
        b"grant_type=password",
        None,
    );
    assert_eq!(json_body(&r)["error"], "unsupported_grant_type");
}

#[test]
fn a_rate_limited_registration_says_when_to_retry() {
    let s = server_with(json!({
        "issuer": "https://auth.example.com",
        "rate_limit": {"register": {"limit": 1, "window_seconds": 60}}
    }));
    register(&s, json!({"redirect_uris": [CB]}));
    let r = send(
        &s,
        "POST",
        "/register",
        "",
        &[("Content-Type", "application/json")],
        json!({"redirect_uris": [CB]}).to_string().as_bytes(),
        None,
    );
    assert_eq!(r.status, 429);
    // Sliding window: the one registration weighs on the next window too.
    let wait: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((60..=120).contains(&wait), "{wait}");
}

#[test]
fn a_gated_registration_reads_the_bearer_initial_access_token() {
    let hash = credential_hash("iat-1");
    let s = server_with(json!({
        "issuer": "https://auth.example.com",
        "registration": {"initial_access_token_sha256": [&hash[7..]]}
    }));
    let body = json!({"redirect_uris": [CB]}).to_string();
    let json_ct = ("Content-Type", "application/json");
    let r = send(
        &s,
        "POST",
        "/register",
        "",
        &[json_ct],
        body.as_bytes(),
        None,
    );
    assert_eq!(r.status, 401);
    assert!(
        r.header("WWW-Authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    let auth = ("Authorization", "Bearer iat-1");
    let r = send(
        &s,
        "POST",
        "/register",
        "",
        &[json_ct, auth],
        body.as_bytes(),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn an_issuer_with_a_path_puts_its_endpoints_under_it() {
    let s = server_with(json!({"issuer": "https://example.com/oauth"}));
    assert_eq!(
        s.endpoint_path(Endpoint::Metadata),
        "/.well-known/oauth-authorization-server/oauth"
    );
    assert_eq!(s.endpoint_path(Endpoint::Token), "/oauth/token");
    assert_eq!(s.endpoint_for("/oauth/revoke"), Some(Endpoint::Revoke));
    assert_eq!(s.endpoint_for("/token"), None);
    assert_eq!(
        s.metadata()["token_endpoint"],
        "https://example.com/oauth/token"
    );
    let jwks = send(&s, "GET", "/oauth/jwks.json", "", &[], b"", None);
    assert_eq!(json_body(&jwks)["keys"][0]["alg"], "ES256");
}
