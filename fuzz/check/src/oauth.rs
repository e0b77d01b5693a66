//! The `oauth` check: the authorization server's HTTP endpoints
//! (`AuthorizationServer::handle_http`) driven through whole sessions.
//!
//! An input is a sequence of requests, each
//!
//! ```text
//! METHOD /path?query
//! Header: value
//!
//! body
//! ```
//!
//! separated by lines of `---`. A header `X-Subject: alice` is not sent:
//! it names the signed-in user the host would pass. Every part of a
//! request may use the session's values, replaced before it is sent:
//! `$CLIENT` and `$SECRET` (the last client registered), `$BASIC` (their
//! HTTP Basic credentials), `$CODE` (the last authorization code),
//! `$REQUEST_ID`, `$CSRF` and `$COOKIE` (the last consent page's),
//! `$ACCESS` and `$REFRESH` (the last tokens issued), `$VERIFIER` and
//! `$CHALLENGE` (one PKCE pair). So the fuzzer can reach the token endpoint
//! with codes and tokens it could never guess.
//!
//! What must hold for every response:
//! - a status the server documents (never a 500 with the memory store),
//!   no line break in any header, a JSON body wherever `Content-Type` says
//!   JSON;
//! - a redirect goes only to a redirect URI registered in this session (a
//!   loopback URI with any port, RFC 8252 §7.3): never an open redirect;
//! - an issued access token is valid for the Guard, names a client
//!   registered in this session, carries only `tag:` scopes of tags the
//!   configuration has, and was sent `Cache-Control: no-store`; one from
//!   the code grant names a user who approved a consent page here.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mcpguard::ManualClock;
use mcpguard::guard::Guard;
use mcpguard::oauth::http::{HttpRequest, HttpResponse};
use mcpguard::oauth::{AuthorizationServer, MemoryOAuthStore};
use serde_json::{Value, json};

/// The issuer of the fuzzed server.
pub const ISSUER: &str = "https://auth.fuzz.example.com";
/// The resource its tokens are for.
pub const RESOURCE: &str = "https://mcp.fuzz.example.com/mcp";
/// The tags its configuration has.
const TAGS: [&str; 3] = ["web", "db", "files"];
/// One PKCE pair (RFC 7636 appendix B).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// Requests read from one input, at most: a session longer than this
/// explores nothing new and only slows the fuzzer.
const MAX_REQUESTS: usize = 16;

/// What the session has seen so far.
#[derive(Default)]
struct Session {
    client: String,
    secret: String,
    code: String,
    request_id: String,
    csrf: String,
    cookie: String,
    access: String,
    refresh: String,
    /// Every client registered, and the redirect URIs of each.
    clients: Vec<(String, Vec<String>)>,
    /// Users who approved a consent page.
    approvers: Vec<String>,
}

impl Session {
    fn fill(&self, text: &str) -> String {
        if !text.contains('$') {
            return text.to_string();
        }
        let basic = STANDARD.encode(format!("{}:{}", self.client, self.secret));
        text.replace("$CLIENT", &self.client)
            .replace("$SECRET", &self.secret)
            .replace("$BASIC", &basic)
            .replace("$CODE", &self.code)
            .replace("$REQUEST_ID", &self.request_id)
            .replace("$CSRF", &self.csrf)
            .replace("$COOKIE", &self.cookie)
            .replace("$ACCESS", &self.access)
            .replace("$REFRESH", &self.refresh)
            .replace("$VERIFIER", VERIFIER)
            .replace("$CHALLENGE", CHALLENGE)
    }
}

/// A fresh server (its own store, keys and clock) for one input.
fn server() -> AuthorizationServer {
    let config = json!({
        "resource": RESOURCE,
        "servers": {
            "web-search": {"tags": ["web"]},
            "postgres": {"tags": ["db"]},
            "filesystem": {"tags": ["files"]}
        },
        "authorization_server": {
            "issuer": ISSUER,
            // Generous limits: a session must not run into them by design.
            "rate_limit": {
                "register": {"limit": 1000, "window_seconds": 60},
                "token": {"limit": 1000, "window_seconds": 60}
            }
        }
    });
    let clock = ManualClock::new(crate::CLOCK);
    let guard = Guard::from_json_with_clock(&config.to_string(), clock)
        .expect("the oauth fixture's configuration");
    AuthorizationServer::new(&guard, Arc::new(MemoryOAuthStore::new()))
        .expect("the oauth fixture's server")
}

/// Runs the session `data` describes and checks every response.
pub fn oauth(data: &[u8]) {
    session(data);
}

/// [`oauth`], returning the status of each request sent (a path that is no
/// endpoint sends nothing).
pub fn session(data: &[u8]) -> Vec<u16> {
    let mut statuses = Vec::new();
    let Ok(text) = std::str::from_utf8(data) else {
        return statuses;
    };
    let server = server();
    let mut session = Session::default();
    for raw in text.split("\n---\n").take(MAX_REQUESTS) {
        let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
        let mut lines = head.lines();
        let first = session.fill(lines.next().unwrap_or_default());
        let (method, target) = first.split_once(' ').unwrap_or((first.as_str(), "/"));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut subject = None;
        let mut headers = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = session.fill(value.strip_prefix(' ').unwrap_or(value));
            if name.eq_ignore_ascii_case("x-subject") {
                subject = Some(value);
            } else {
                headers.push((name.to_string(), value));
            }
        }
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let body = session.fill(body);
        let request = HttpRequest {
            method,
            path,
            query,
            headers: &headers,
            body: body.as_bytes(),
        };
        let Some(response) = server.handle_http(&request, "198.51.100.7", subject.as_deref())
        else {
            continue;
        };
        let endpoint = path.rsplit('/').next().unwrap_or_default();
        check_response(&response, &first);
        learn(&mut session, &server, endpoint, method, subject, &response);
        statuses.push(response.status);
    }
    statuses
}

/// What holds for any response.
fn check_response(r: &HttpResponse, first: &str) {
    assert!(
        matches!(
            r.status,
            200 | 201 | 204 | 302 | 400 | 401 | 403 | 405 | 429
        ),
        "status {} for {first:?}: {}",
        r.status,
        r.body
    );
    for (name, value) in &r.headers {
        assert!(
            !value.contains(['\r', '\n']),
            "header {name} carries a line break: {value:?}"
        );
    }
    if r.header("Content-Type")
        .is_some_and(|t| t.starts_with("application/json"))
        && !r.body.is_empty()
    {
        serde_json::from_str::<Value>(&r.body)
            .unwrap_or_else(|e| panic!("a JSON response that is not JSON ({e}): {}", r.body));
    }
}

/// Checks a response against the session, then records what it gave.
fn learn(
    session: &mut Session,
    server: &AuthorizationServer,
    endpoint: &str,
    method: &str,
    subject: Option<String>,
    r: &HttpResponse,
) {
    if r.status == 302 {
        let location = r.header("Location").expect("a redirect has a Location");
        let url = url::Url::parse(location)
            .unwrap_or_else(|e| panic!("a redirect to {location:?} ({e})"));
        assert!(
            session
                .clients
                .iter()
                .any(|(_, uris)| uris.iter().any(|u| same_target(u, &url))),
            "a redirect to {location:?}, no redirect URI of this session"
        );
        if let Some((_, code)) = url.query_pairs().find(|(k, _)| k == "code") {
            session.code = code.into_owned();
            if let Some(user) = subject {
                session.approvers.push(user);
            }
        }
        return;
    }
    let json = || serde_json::from_str::<Value>(&r.body).ok();
    match (endpoint, r.status) {
        ("register", 201) => {
            let Some(client) = json() else { return };
            let id = client["client_id"].as_str().unwrap_or_default().to_string();
            let uris = client["redirect_uris"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            session.clients.push((id.clone(), uris));
            session.client = id;
            session.secret = client["client_secret"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        ("authorize", 200) if method != "POST" || !r.body.contains("request_id") => {
            // The consent page: its hidden inputs and its cookie.
            session.request_id = hidden(&r.body, "request_id");
            session.csrf = hidden(&r.body, "csrf_token");
            if let Some(cookie) = r.header("Set-Cookie") {
                session.cookie = cookie.split(';').next().unwrap_or_default().to_string();
            }
        }
        ("token", 200) => {
            let t = json().expect("a token response is JSON");
            assert_eq!(
                r.header("Cache-Control"),
                Some("no-store"),
                "a token response must not be cached"
            );
            let access = t["access_token"]
                .as_str()
                .expect("a token response has an access token");
            check_access_token(session, server, access);
            session.access = access.to_string();
            if let Some(refresh) = t["refresh_token"].as_str() {
                session.refresh = refresh.to_string();
            }
        }
        _ => {}
    }
}

/// An issued access token: valid, for a client of this session, with
/// scopes the configuration has, and for a user who approved (code grant).
fn check_access_token(session: &Session, server: &AuthorizationServer, token: &str) {
    let principal = server
        .guard()
        .validate(token)
        .unwrap_or_else(|e| panic!("the server issued a token its Guard refuses: {e}"));
    let client = principal.client_id.as_deref().unwrap_or_default();
    assert!(
        session.clients.iter().any(|(id, _)| id == client),
        "a token for {client:?}, no client of this session"
    );
    for scope in &principal.scopes {
        let tag = scope
            .strip_prefix("tag:")
            .unwrap_or_else(|| panic!("a token with the scope {scope:?}"));
        assert!(TAGS.contains(&tag), "a token with the unknown tag {tag:?}");
    }
    let subject = principal.subject.as_deref().unwrap_or_default();
    assert!(
        subject == client || session.approvers.iter().any(|a| a == subject),
        "a token for {subject:?}, who approved nothing here"
    );
}

/// Whether `url` goes to the registered redirect URI `registered`: the
/// same scheme, host and path, and the same port unless the host is a
/// loopback address (a native client's port changes, RFC 8252 §7.3).
fn same_target(registered: &str, url: &url::Url) -> bool {
    let Ok(r) = url::Url::parse(registered) else {
        return false;
    };
    let loopback = matches!(
        r.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(r.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    r.scheme() == url.scheme()
        && r.host() == url.host()
        && r.path() == url.path()
        && (loopback || r.port_or_known_default() == url.port_or_known_default())
}

/// The value of a hidden input of an HTML page (empty when absent).
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let Some(start) = html.find(&marker).map(|at| at + marker.len()) else {
        return String::new();
    };
    let len = html[start..].find('"').unwrap_or(0);
    html[start..start + len].to_string()
}

/// Whole sessions the fuzzer starts from: the code flow with PKCE, refresh
/// and revocation, for a public client; the client credentials grant and
/// Basic authentication for a confidential one.
pub fn seeds() -> Vec<Vec<u8>> {
    let authorize = format!(
        "GET /authorize?response_type=code&client_id=$CLIENT&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&state=xyz&code_challenge=$CHALLENGE&code_challenge_method=S256&resource={}\nX-Subject: alice",
        url::form_urlencoded::byte_serialize(RESOURCE.as_bytes()).collect::<String>()
    );
    let consent = "POST /authorize\nContent-Type: application/x-www-form-urlencoded\nCookie: $COOKIE\nX-Subject: alice\n\nrequest_id=$REQUEST_ID&csrf_token=$CSRF&decision=approve";
    let code_flow = [
        "GET /.well-known/oauth-authorization-server".to_string(),
        "POST /register\nContent-Type: application/json\n\n{\"redirect_uris\": [\"http://127.0.0.1/callback\"]}".to_string(),
        authorize.clone(),
        consent.to_string(),
        "POST /token\nContent-Type: application/x-www-form-urlencoded\n\ngrant_type=authorization_code&code=$CODE&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&code_verifier=$VERIFIER&client_id=$CLIENT".to_string(),
        "POST /token\nContent-Type: application/x-www-form-urlencoded\n\ngrant_type=refresh_token&refresh_token=$REFRESH&client_id=$CLIENT&scope=tag%3Aweb".to_string(),
        "POST /token\nContent-Type: application/x-www-form-urlencoded\n\ngrant_type=refresh_token&refresh_token=$REFRESH&client_id=$CLIENT".to_string(),
        "POST /revoke\nContent-Type: application/x-www-form-urlencoded\n\ntoken=$ACCESS&client_id=$CLIENT".to_string(),
    ];
    let confidential = [
        "POST /register\nContent-Type: application/json\n\n{\"redirect_uris\": [\"https://app.example.com/cb\"], \"token_endpoint_auth_method\": \"client_secret_basic\", \"grant_types\": [\"authorization_code\", \"refresh_token\", \"client_credentials\"], \"scope\": \"tag:web tag:db\"}".to_string(),
        "POST /token\nContent-Type: application/x-www-form-urlencoded\nAuthorization: Basic $BASIC\n\ngrant_type=client_credentials&scope=tag%3Adb".to_string(),
        "GET /authorize?response_type=code&client_id=$CLIENT&redirect_uri=https%3A%2F%2Fevil.example.com%2Fcb&code_challenge=$CHALLENGE&code_challenge_method=S256\nX-Subject: bob".to_string(),
        "GET /authorize?response_type=token&client_id=$CLIENT&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_challenge=$CHALLENGE&code_challenge_method=S256\nX-Subject: bob".to_string(),
        "GET /authorize?response_type=code&client_id=$CLIENT&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_challenge=$CHALLENGE&code_challenge_method=S256&state=s\nX-Subject: bob".to_string(),
        consent.replace("alice", "bob"),
        "POST /token\nContent-Type: application/x-www-form-urlencoded\nAuthorization: Basic $BASIC\n\ngrant_type=authorization_code&code=$CODE&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_verifier=$VERIFIER".to_string(),
        "POST /token\nContent-Type: application/x-www-form-urlencoded\nAuthorization: Basic $BASIC\n\ngrant_type=authorization_code&code=$CODE&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_verifier=$VERIFIER".to_string(),
    ];
    vec![
        code_flow.join("\n---\n").into_bytes(),
        confidential.join("\n---\n").into_bytes(),
        authorize.into_bytes(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_with_client(uri: &str) -> Session {
        Session {
            clients: vec![("c1".into(), vec![uri.into()])],
            ..Session::default()
        }
    }

    fn redirect(location: &str) -> HttpResponse {
        HttpResponse {
            status: 302,
            headers: vec![("Location", location.into())],
            body: String::new(),
        }
    }

    #[test]
    fn a_redirect_target_matches_scheme_host_path_and_port_except_on_loopback() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        let cb = "http://127.0.0.1/callback";
        assert!(same_target(
            cb,
            &url("http://127.0.0.1:8765/callback?code=x")
        ));
        assert!(!same_target(cb, &url("http://127.0.0.1:8765/callback/x")));
        assert!(!same_target(cb, &url("https://127.0.0.1/callback")));
        let app = "https://app.example.com/cb";
        assert!(same_target(app, &url("https://app.example.com:443/cb?x=1")));
        assert!(!same_target(app, &url("https://app.example.com:8443/cb")));
        assert!(!same_target(
            app,
            &url("https://app.example.com.evil.io/cb")
        ));
    }

    #[test]
    #[should_panic(expected = "no redirect URI of this session")]
    fn a_redirect_to_a_uri_nobody_registered_fails_the_check() {
        let mut s = session_with_client("https://app.example.com/cb");
        let r = redirect("https://evil.example.com/cb?code=x");
        learn(&mut s, &server(), "authorize", "POST", None, &r);
    }

    #[test]
    fn a_redirect_to_the_registered_uri_records_the_code_and_the_approver() {
        let mut s = session_with_client("https://app.example.com/cb");
        let r = redirect("https://app.example.com/cb?code=abc&state=s");
        learn(
            &mut s,
            &server(),
            "authorize",
            "POST",
            Some("bob".into()),
            &r,
        );
        assert_eq!(
            (s.code.as_str(), s.approvers.as_slice()),
            ("abc", &["bob".to_string()][..])
        );
    }

    #[test]
    #[should_panic(expected = "its Guard refuses")]
    fn a_token_the_guard_refuses_fails_the_check() {
        let s = session_with_client("https://app.example.com/cb");
        check_access_token(&s, &server(), "not-a-token");
    }

    #[test]
    #[should_panic(expected = "status 500")]
    fn a_server_error_fails_the_check() {
        let r = HttpResponse {
            status: 500,
            headers: Vec::new(),
            body: String::new(),
        };
        check_response(&r, "POST /token");
    }
}
