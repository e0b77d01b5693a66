//! The authorization server's rules, each pinned by a test that fails when
//! the rule is broken.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::ManualClock;
use crate::guard::{AuditKind, Guard, Request};
use crate::reason::Reason;

const R: &str = "https://mcp.example.com/mcp";
const OTHER: &str = "https://other.example.com/mcp";
const ISS: &str = "https://auth.example.com";
const CB: &str = "https://app.example.com/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct Fixture {
    server: AuthorizationServer,
    guard: Guard,
    clock: ManualClock,
}

fn config(extra: Value) -> String {
    let mut section = json!({"issuer": ISS, "resources": [R, OTHER]});
    mcpguard_testkit::merge(&mut section, extra);
    json!({
        "resource": R,
        "auth": {"issuers": []},
        "servers": {
            "web-search": {"tags": ["web"]},
            "postgres": {"tags": ["db"]},
            "files": {"tags": ["files"]}
        },
        "authorization_server": section,
    })
    .to_string()
}

fn fixture_with(extra: Value, store: Arc<dyn OAuthStore>) -> Fixture {
    let clock = ManualClock::new(1_767_225_600);
    let guard = Guard::from_json_with_clock(&config(extra), clock.clone()).unwrap();
    let server = AuthorizationServer::new(&guard, store).unwrap();
    Fixture {
        server,
        guard,
        clock,
    }
}

fn fixture() -> Fixture {
    fixture_with(json!({}), Arc::new(MemoryOAuthStore::new()))
}

impl Fixture {
    fn register(&self, metadata: Value) -> Result<RegisteredClient, OAuthServerError> {
        self.server.register(&RegistrationRequest {
            metadata: &metadata,
            initial_access_token: None,
            rate_key: "10.0.0.1",
        })
    }

    fn public_client(&self) -> String {
        self.register(json!({"redirect_uris": [CB], "client_name": "Test"}))
            .unwrap()
            .client
            .client_id
    }

    fn authorize(&self, client_id: &str, scope: Option<&str>) -> AuthorizeOutcome {
        self.server.authorize(&AuthorizeParams {
            response_type: Some("code"),
            client_id: Some(client_id),
            redirect_uri: Some(CB),
            state: Some("st-1"),
            scope,
            code_challenge: Some(CHALLENGE),
            code_challenge_method: Some("S256"),
            resource: Some(R),
        })
    }

    fn consent_for(&self, client_id: &str, scope: Option<&str>) -> ConsentRequest {
        match self.authorize(client_id, scope) {
            AuthorizeOutcome::Consent(c) => c,
            other => panic!("expected consent, got {other:?}"),
        }
    }

    /// Alice answers `consent` (with its CSRF token in form and cookie);
    /// returns the redirect URL.
    fn answer(&self, consent: &ConsentRequest, approve: bool, scopes: Option<&[String]>) -> String {
        self.server
            .consent(&ConsentAnswer {
                request_id: &consent.request_id,
                csrf_form: Some(&consent.csrf_token),
                csrf_cookie: Some(&consent.csrf_token),
                subject: "alice",
                approve,
                scopes,
            })
            .unwrap()
    }

    fn approve(&self, consent: &ConsentRequest, scopes: Option<&[String]>) -> String {
        let url = self.answer(consent, true, scopes);
        query(&url, "code").expect("a code in the redirect")
    }

    fn code(&self, client_id: &str, scope: Option<&str>) -> String {
        let c = self.consent_for(client_id, scope);
        self.approve(&c, None)
    }

    fn exchange(
        &self,
        client_id: &str,
        code: &str,
        verifier: &str,
    ) -> Result<TokenResponse, OAuthServerError> {
        self.server.token(&TokenRequest {
            grant_type: Some("authorization_code"),
            code: Some(code),
            redirect_uri: Some(CB),
            code_verifier: Some(verifier),
            client: ClientAuth {
                client_id: Some(client_id),
                client_secret: None,
            },
            ..TokenRequest::default()
        })
    }

    fn refresh(
        &self,
        client_id: &str,
        token: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthServerError> {
        self.server.token(&TokenRequest {
            grant_type: Some("refresh_token"),
            refresh_token: Some(token),
            scope,
            client: ClientAuth {
                client_id: Some(client_id),
                client_secret: None,
            },
            ..TokenRequest::default()
        })
    }

    fn tokens(&self, scope: Option<&str>) -> (String, TokenResponse) {
        let client = self.public_client();
        let code = self.code(&client, scope);
        let t = self.exchange(&client, &code, VERIFIER).unwrap();
        (client, t)
    }

    fn call(&self, token: &str, server: &str) -> crate::guard::Decision {
        let header = format!("Bearer {token}");
        let mut req = Request::new();
        req.authorization = Some(&header);
        req.server = Some(server);
        self.guard.authorize(&req)
    }
}

fn query(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn claims(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    let dec = |s: &str| -> Value {
        serde_json::from_slice(&base64_simd::URL_SAFE_NO_PAD.decode_to_vec(s).unwrap()).unwrap()
    };
    (dec(parts[0]), dec(parts[1]))
}

// ----- the whole flow -----

#[test]
fn a_token_from_the_code_flow_is_an_at_jwt_the_guard_accepts_with_its_tags() {
    let f = fixture();
    let (client, t) = f.tokens(Some("tag:web tag:db"));
    let (header, c) = claims(&t.access_token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(c["iss"], ISS);
    assert_eq!(c["aud"], R);
    assert_eq!(c["scope"], "tag:web tag:db");
    assert_eq!(c["client_id"], client.as_str());
    assert_eq!(c["sub"], "alice");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    assert!(c["jti"].as_str().is_some());
    assert_eq!(t.expires_in, 3600);
    assert!(t.refresh_token.is_some());
    let d = f.call(&t.access_token, "web-search");
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.principal.unwrap().tags, ["web", "db"]);
    let d = f.call(&t.access_token, "files");
    assert_eq!(d.status, 403, "files is not granted");
}

#[test]
fn the_redirect_carries_state_and_the_issuer() {
    let f = fixture();
    let client = f.public_client();
    let c = f.consent_for(&client, None);
    let url = f.answer(&c, true, None);
    assert!(url.starts_with(CB));
    assert_eq!(query(&url, "state").as_deref(), Some("st-1"));
    assert_eq!(query(&url, "iss").as_deref(), Some(ISS));
}

#[test]
fn the_guard_metadata_names_this_authorization_server() {
    let f = fixture();
    let doc = f.guard.metadata_document();
    assert_eq!(doc["authorization_servers"], json!([ISS]));
    let m = f.server.metadata();
    assert_eq!(m["issuer"], ISS);
    assert_eq!(m["token_endpoint"], format!("{ISS}/token"));
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        m["scopes_supported"],
        json!(["tag:web", "tag:db", "tag:files"])
    );
}

#[test]
fn the_issuer_listed_under_auth_too_is_a_configuration_error() {
    let text = json!({
        "resource": R,
        "auth": {"issuers": [{"issuer": ISS, "jwks": {"keys": []}}]},
        "authorization_server": {"issuer": ISS},
    })
    .to_string();
    let e = Guard::from_json(&text).unwrap_err();
    assert_eq!(e.path, "authorization_server.issuer");
}

// ----- PKCE, redirect, code -----

#[test]
fn a_wrong_code_verifier_is_refused() {
    let f = fixture();
    let client = f.public_client();
    let code = f.code(&client, None);
    let wrong = "x".repeat(43);
    assert_eq!(
        f.exchange(&client, &code, &wrong).unwrap_err(),
        OAuthServerError::WrongCodeVerifier
    );
}

#[test]
fn plain_pkce_and_a_missing_method_are_refused_by_redirect() {
    let f = fixture();
    let client = f.public_client();
    for method in [Some("plain"), None] {
        let out = f.server.authorize(&AuthorizeParams {
            response_type: Some("code"),
            client_id: Some(&client),
            redirect_uri: Some(CB),
            state: Some("s"),
            code_challenge: Some(CHALLENGE),
            code_challenge_method: method,
            ..AuthorizeParams::default()
        });
        let AuthorizeOutcome::Redirect(url) = out else {
            panic!("expected an error redirect, got {out:?}");
        };
        assert_eq!(query(&url, "error").as_deref(), Some("invalid_request"));
        assert!(query(&url, "error_description").unwrap().contains("S256"));
        assert_eq!(query(&url, "state").as_deref(), Some("s"));
    }
    let out = f.server.authorize(&AuthorizeParams {
        response_type: Some("code"),
        client_id: Some(&client),
        redirect_uri: Some(CB),
        ..AuthorizeParams::default()
    });
    assert!(matches!(out, AuthorizeOutcome::Redirect(u) if u.contains("code_challenge")));
}

#[test]
fn a_redirect_uri_mismatch_is_shown_to_the_user_not_redirected() {
    let f = fixture();
    let client = f.public_client();
    let out = f.server.authorize(&AuthorizeParams {
        response_type: Some("code"),
        client_id: Some(&client),
        redirect_uri: Some("https://evil.example/cb"),
        code_challenge: Some(CHALLENGE),
        code_challenge_method: Some("S256"),
        ..AuthorizeParams::default()
    });
    assert_eq!(
        out,
        AuthorizeOutcome::Error(OAuthServerError::RedirectUriMismatch)
    );
    let out = f.server.authorize(&AuthorizeParams {
        response_type: Some("code"),
        client_id: Some(&client),
        code_challenge: Some(CHALLENGE),
        code_challenge_method: Some("S256"),
        ..AuthorizeParams::default()
    });
    assert_eq!(
        out,
        AuthorizeOutcome::Error(OAuthServerError::MissingParameter("redirect_uri"))
    );
    let out = f.server.authorize(&AuthorizeParams {
        client_id: Some("nobody"),
        ..AuthorizeParams::default()
    });
    assert_eq!(
        out,
        AuthorizeOutcome::Error(OAuthServerError::UnknownClient)
    );
}

#[test]
fn a_loopback_redirect_matches_on_any_port() {
    let f = fixture();
    let client = f
        .register(json!({"redirect_uris": ["http://127.0.0.1/callback"]}))
        .unwrap()
        .client
        .client_id;
    let out = f.server.authorize(&AuthorizeParams {
        response_type: Some("code"),
        client_id: Some(&client),
        redirect_uri: Some("http://127.0.0.1:49152/callback"),
        code_challenge: Some(CHALLENGE),
        code_challenge_method: Some("S256"),
        ..AuthorizeParams::default()
    });
    assert!(matches!(out, AuthorizeOutcome::Consent(_)), "{out:?}");
}

#[test]
fn the_token_request_must_repeat_the_redirect_uri_of_the_authorization() {
    let f = fixture();
    let client = f.public_client();
    let code = f.code(&client, None);
    let e = f
        .server
        .token(&TokenRequest {
            grant_type: Some("authorization_code"),
            code: Some(&code),
            redirect_uri: Some("https://app.example.com/other"),
            code_verifier: Some(VERIFIER),
            client: ClientAuth {
                client_id: Some(&client),
                client_secret: None,
            },
            ..TokenRequest::default()
        })
        .unwrap_err();
    assert_eq!(e, OAuthServerError::CodeRedirectMismatch);
}

#[test]
fn a_reused_code_is_refused_and_revokes_what_the_first_use_produced() {
    let f = fixture();
    let client = f.public_client();
    let code = f.code(&client, None);
    let first = f.exchange(&client, &code, VERIFIER).unwrap();
    assert!(f.call(&first.access_token, "web-search").allowed);
    assert_eq!(
        f.exchange(&client, &code, VERIFIER).unwrap_err(),
        OAuthServerError::CodeReused
    );
    let d = f.call(&first.access_token, "web-search");
    assert_eq!(d.reason, Some(Reason::Revoked), "{d:?}");
    let refresh = first.refresh_token.unwrap();
    assert_eq!(
        f.refresh(&client, &refresh, None).unwrap_err(),
        OAuthServerError::RefreshRevoked
    );
    assert!(
        f.guard
            .drain_audit()
            .iter()
            .any(|e| e.kind == AuditKind::TokenReuse)
    );
}

#[test]
fn a_code_expires_after_sixty_seconds() {
    let f = fixture();
    let client = f.public_client();
    let code = f.code(&client, None);
    f.clock.advance(Duration::from_secs(61));
    assert_eq!(
        f.exchange(&client, &code, VERIFIER).unwrap_err(),
        OAuthServerError::CodeExpired
    );
    let code = f.code(&client, None);
    f.clock.advance(Duration::from_secs(60));
    assert!(f.exchange(&client, &code, VERIFIER).is_ok());
}

#[test]
fn a_code_is_bound_to_its_client() {
    let f = fixture();
    let alice = f.public_client();
    let mallory = f.public_client();
    let code = f.code(&alice, None);
    assert_eq!(
        f.exchange(&mallory, &code, VERIFIER).unwrap_err(),
        OAuthServerError::CodeClientMismatch
    );
}

// ----- scopes and resources -----

#[test]
fn requested_scopes_are_checked_with_1mcp_texts() {
    let f = fixture();
    let client = f.public_client();
    let AuthorizeOutcome::Redirect(url) = f.authorize(&client, Some("tag:web tag:nope admin"))
    else {
        panic!("expected a redirect");
    };
    assert_eq!(query(&url, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(
        query(&url, "error_description").as_deref(),
        Some("Invalid scope format: admin")
    );
    let AuthorizeOutcome::Redirect(url) = f.authorize(&client, Some("tag:nope")) else {
        panic!("expected a redirect");
    };
    assert_eq!(
        query(&url, "error_description").as_deref(),
        Some("Scope not available: tag:nope (tag: nope)")
    );
}

#[test]
fn no_scope_asked_means_every_tag_the_client_may_have() {
    let f = fixture();
    let client = f.public_client();
    let c = f.consent_for(&client, None);
    assert_eq!(c.tags, ["web", "db", "files"]);
    let limited = f
        .register(json!({"redirect_uris": [CB], "scope": "tag:db"}))
        .unwrap()
        .client
        .client_id;
    assert_eq!(f.consent_for(&limited, None).scopes, ["tag:db"]);
    assert!(matches!(
        f.authorize(&limited, Some("tag:web")),
        AuthorizeOutcome::Redirect(u) if u.contains("invalid_scope")
    ));
}

#[test]
fn consent_may_narrow_the_scopes_but_not_widen_them() {
    let f = fixture();
    let client = f.public_client();
    let c = f.consent_for(&client, Some("tag:web tag:db"));
    let code = f.approve(&c, Some(&["tag:db".to_string()]));
    let t = f.exchange(&client, &code, VERIFIER).unwrap();
    assert_eq!(t.scope, "tag:db");
    let c = f.consent_for(&client, Some("tag:web"));
    let e = f
        .server
        .consent(&ConsentAnswer {
            request_id: &c.request_id,
            csrf_form: Some(&c.csrf_token),
            csrf_cookie: Some(&c.csrf_token),
            subject: "alice",
            approve: true,
            scopes: Some(&["tag:files".to_string()]),
        })
        .unwrap_err();
    assert!(matches!(e, OAuthServerError::ScopeEscalation(_)), "{e}");
}

#[test]
fn a_token_for_another_resource_is_refused_by_the_guard() {
    let f = fixture();
    let client = f.public_client();
    let out = f.server.authorize(&AuthorizeParams {
        response_type: Some("code"),
        client_id: Some(&client),
        redirect_uri: Some(CB),
        code_challenge: Some(CHALLENGE),
        code_challenge_method: Some("S256"),
        resource: Some(OTHER),
        ..AuthorizeParams::default()
    });
    let AuthorizeOutcome::Consent(c) = out else {
        panic!("{out:?}")
    };
    let code = f.approve(&c, None);
    let t = f.exchange(&client, &code, VERIFIER).unwrap();
    assert_eq!(claims(&t.access_token).1["aud"], OTHER);
    let d = f.call(&t.access_token, "web-search");
    assert_eq!(d.reason, Some(Reason::WrongAudience), "{d:?}");
}

#[test]
fn an_unknown_resource_or_a_changed_one_is_invalid_target() {
    let f = fixture();
    let client = f.public_client();
    let out = f.server.authorize(&AuthorizeParams {
        response_type: Some("code"),
        client_id: Some(&client),
        redirect_uri: Some(CB),
        code_challenge: Some(CHALLENGE),
        code_challenge_method: Some("S256"),
        resource: Some("https://elsewhere.example/"),
        ..AuthorizeParams::default()
    });
    assert!(matches!(out, AuthorizeOutcome::Redirect(u) if u.contains("invalid_target")));
    let code = f.code(&client, None);
    let e = f
        .server
        .token(&TokenRequest {
            grant_type: Some("authorization_code"),
            code: Some(&code),
            redirect_uri: Some(CB),
            code_verifier: Some(VERIFIER),
            resource: Some(OTHER),
            client: ClientAuth {
                client_id: Some(&client),
                client_secret: None,
            },
            ..TokenRequest::default()
        })
        .unwrap_err();
    assert!(matches!(e, OAuthServerError::InvalidTarget(_)), "{e}");
}

// ----- consent CSRF -----

#[test]
fn consent_needs_the_csrf_token_in_both_form_and_cookie() {
    let f = fixture();
    let client = f.public_client();
    let c = f.consent_for(&client, None);
    let other = f.consent_for(&client, None);
    let answer = |form: Option<&str>, cookie: Option<&str>| {
        f.server.consent(&ConsentAnswer {
            request_id: &c.request_id,
            csrf_form: form,
            csrf_cookie: cookie,
            subject: "alice",
            approve: true,
            scopes: None,
        })
    };
    assert_eq!(
        answer(Some(&c.csrf_token), None),
        Err(OAuthServerError::CsrfMismatch)
    );
    assert_eq!(
        answer(Some(&c.csrf_token), Some(&other.csrf_token)),
        Err(OAuthServerError::CsrfMismatch)
    );
    assert_eq!(
        answer(Some(&other.csrf_token), Some(&other.csrf_token)),
        Err(OAuthServerError::CsrfMismatch)
    );
    assert!(answer(Some(&c.csrf_token), Some(&c.csrf_token)).is_ok());
    assert_eq!(
        answer(Some(&c.csrf_token), Some(&c.csrf_token)),
        Err(OAuthServerError::UnknownAuthorizationRequest),
        "a consent answers its request once"
    );
}

#[test]
fn a_denied_consent_redirects_with_access_denied() {
    let f = fixture();
    let client = f.public_client();
    let c = f.consent_for(&client, None);
    let url = f.answer(&c, false, None);
    assert_eq!(query(&url, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&url, "state").as_deref(), Some("st-1"));
    assert_eq!(query(&url, "code"), None);
}

// ----- refresh -----

#[test]
fn a_refresh_rotates_the_token_and_may_narrow_the_scopes() {
    let f = fixture();
    let (client, t) = f.tokens(Some("tag:web tag:db"));
    let r1 = t.refresh_token.unwrap();
    let t2 = f.refresh(&client, &r1, Some("tag:web")).unwrap();
    assert_eq!(t2.scope, "tag:web");
    assert_eq!(claims(&t2.access_token).1["scope"], "tag:web");
    let r2 = t2.refresh_token.unwrap();
    assert_ne!(r1, r2);
    // The family's ceiling is kept: the next refresh may ask for db again.
    let t3 = f.refresh(&client, &r2, None).unwrap();
    assert_eq!(t3.scope, "tag:web tag:db");
}

#[test]
fn scope_escalation_on_refresh_is_refused() {
    let f = fixture();
    let (client, t) = f.tokens(Some("tag:web"));
    let r = t.refresh_token.unwrap();
    assert_eq!(
        f.refresh(&client, &r, Some("tag:web tag:db")).unwrap_err(),
        OAuthServerError::ScopeEscalation("tag:db".into())
    );
    // The refused refresh did not spend the token.
    assert!(f.refresh(&client, &r, None).is_ok());
}

#[test]
fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let f = fixture();
    let (client, t) = f.tokens(None);
    let r1 = t.refresh_token.unwrap();
    let t2 = f.refresh(&client, &r1, None).unwrap();
    assert!(f.call(&t2.access_token, "web-search").allowed);
    assert_eq!(
        f.refresh(&client, &r1, None).unwrap_err(),
        OAuthServerError::RefreshReused
    );
    for access in [&t.access_token, &t2.access_token] {
        assert_eq!(f.call(access, "web-search").reason, Some(Reason::Revoked));
    }
    assert_eq!(
        f.refresh(&client, &t2.refresh_token.unwrap(), None)
            .unwrap_err(),
        OAuthServerError::RefreshRevoked
    );
    let kinds: Vec<AuditKind> = f.guard.drain_audit().iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&AuditKind::TokenReuse), "{kinds:?}");
}

#[test]
fn a_revoked_family_s_tokens_stay_refused_through_the_guard_s_leeway() {
    // The Guard admits a token until exp + leeway (30 s): a family revoked
    // after its access token's exp but within that leeway must still put
    // the token on the deny-list, on every path that revokes a family and
    // in the replay after a restart.
    // One signing key for both "processes".
    let pem = SigningKey::generate().unwrap().to_pem().unwrap();
    let section = json!({"access_token_seconds": 1, "signing_keys": [{"pem": pem}]});
    let f = fixture_with(section.clone(), Arc::new(MemoryOAuthStore::new()));
    let (client, t) = f.tokens(None);
    let r1 = t.refresh_token.unwrap();
    let t2 = f.refresh(&client, &r1, None).unwrap();
    f.clock.advance(Duration::from_secs(5));
    assert!(
        f.call(&t2.access_token, "web-search").allowed,
        "within the leeway"
    );
    assert_eq!(
        f.refresh(&client, &r1, None).unwrap_err(),
        OAuthServerError::RefreshReused
    );
    assert_eq!(
        f.call(&t2.access_token, "web-search").reason,
        Some(Reason::Revoked)
    );
    // A restart (a new Guard and engine on the same store) replays it
    // (before a purge: purging forgets access records at their exp).
    let guard = Guard::from_json_with_clock(&config(section), f.clock.clone()).unwrap();
    let _server = AuthorizationServer::new(&guard, f.server.store().clone()).unwrap();
    let header = format!("Bearer {}", t2.access_token);
    let mut req = Request::new();
    req.authorization = Some(&header);
    req.server = Some("web-search");
    assert_eq!(guard.authorize(&req).reason, Some(Reason::Revoked));
}

#[test]
fn a_refresh_family_ends_at_its_absolute_lifetime() {
    let f = fixture_with(
        json!({"refresh_family_seconds": 100, "refresh_token_seconds": 80}),
        Arc::new(MemoryOAuthStore::new()),
    );
    let (client, t) = f.tokens(None);
    f.clock.advance(Duration::from_secs(70));
    let t2 = f.refresh(&client, &t.refresh_token.unwrap(), None).unwrap();
    f.clock.advance(Duration::from_secs(40));
    assert_eq!(
        f.refresh(&client, &t2.refresh_token.unwrap(), None)
            .unwrap_err(),
        OAuthServerError::RefreshExpired
    );
}

#[test]
fn a_refresh_token_is_bound_to_its_client() {
    let f = fixture();
    let (_, t) = f.tokens(None);
    let mallory = f.public_client();
    assert_eq!(
        f.refresh(&mallory, &t.refresh_token.unwrap(), None)
            .unwrap_err(),
        OAuthServerError::RefreshClientMismatch
    );
}

// ----- clients -----

#[test]
fn a_confidential_client_gets_its_secret_once_and_must_present_it() {
    let f = fixture();
    let reg = f
        .register(json!({
            "redirect_uris": [CB],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        }))
        .unwrap();
    let secret = reg.client_secret.clone().unwrap();
    assert_eq!(reg.response["client_secret"], secret.as_str());
    let stored = f
        .server
        .store()
        .client(&reg.client.client_id)
        .unwrap()
        .unwrap();
    assert_ne!(stored.secret_hash.as_deref(), Some(secret.as_str()));
    assert!(credential_matches(
        &secret,
        stored.secret_hash.as_deref().unwrap()
    ));
    assert!(stored.metadata.get("client_secret").is_none());
    let cc = |secret: Option<&str>| {
        f.server.token(&TokenRequest {
            grant_type: Some("client_credentials"),
            scope: Some("tag:db"),
            client: ClientAuth {
                client_id: Some(&reg.client.client_id),
                client_secret: secret,
            },
            ..TokenRequest::default()
        })
    };
    assert_eq!(
        cc(None).unwrap_err(),
        OAuthServerError::ClientAuthenticationFailed
    );
    assert_eq!(
        cc(Some("wrong")).unwrap_err(),
        OAuthServerError::ClientAuthenticationFailed
    );
    let t = cc(Some(&secret)).unwrap();
    assert!(t.refresh_token.is_none());
    let (_, c) = claims(&t.access_token);
    assert_eq!(c["sub"], reg.client.client_id.as_str());
    assert!(f.call(&t.access_token, "postgres").allowed);
}

#[test]
fn a_public_client_cannot_use_client_credentials() {
    let f = fixture();
    let e = f
        .register(json!({"redirect_uris": [CB], "grant_types": ["client_credentials"]}))
        .unwrap_err();
    assert!(
        matches!(e, OAuthServerError::InvalidClientMetadata(_)),
        "{e}"
    );
    let client = f.public_client();
    let e = f
        .server
        .token(&TokenRequest {
            grant_type: Some("client_credentials"),
            client: ClientAuth {
                client_id: Some(&client),
                client_secret: None,
            },
            ..TokenRequest::default()
        })
        .unwrap_err();
    assert_eq!(
        e,
        OAuthServerError::UnauthorizedClient("client_credentials".into())
    );
}

#[test]
fn registration_refuses_bad_redirects_and_scopes() {
    let f = fixture();
    assert!(matches!(
        f.register(json!({"redirect_uris": ["http://app.example.com/cb"]})),
        Err(OAuthServerError::InvalidRedirectUri(_))
    ));
    assert!(matches!(
        f.register(json!({"redirect_uris": []})),
        Err(OAuthServerError::InvalidRedirectUri(_))
    ));
    assert_eq!(
        f.register(json!({"redirect_uris": [CB], "scope": "tag:web tag:WEB"})),
        Err(OAuthServerError::InvalidScope(vec![
            "Duplicate scope: tag:WEB".into()
        ]))
    );
    assert!(matches!(
        f.register(json!({"redirect_uris": [CB], "token_endpoint_auth_method": "private_key_jwt"})),
        Err(OAuthServerError::InvalidClientMetadata(_))
    ));
}

#[test]
fn registration_can_be_closed_or_gated_by_an_initial_access_token() {
    let closed = fixture_with(
        json!({"registration": {"enabled": false}}),
        Arc::new(MemoryOAuthStore::new()),
    );
    assert_eq!(
        closed.register(json!({"redirect_uris": [CB]})),
        Err(OAuthServerError::RegistrationClosed)
    );
    assert!(
        closed
            .server
            .metadata()
            .get("registration_endpoint")
            .is_none()
    );
    let hash = credential_hash("let-me-in");
    let gated = fixture_with(
        json!({"registration": {"initial_access_token_sha256": [&hash["sha256:".len()..]]}}),
        Arc::new(MemoryOAuthStore::new()),
    );
    let meta = json!({"redirect_uris": [CB]});
    let with = |t: Option<&str>| {
        gated.server.register(&RegistrationRequest {
            metadata: &meta,
            initial_access_token: t,
            rate_key: "k",
        })
    };
    assert_eq!(with(None), Err(OAuthServerError::InitialAccessTokenInvalid));
    assert_eq!(
        with(Some("wrong")),
        Err(OAuthServerError::InitialAccessTokenInvalid)
    );
    assert!(with(Some("let-me-in")).is_ok());
}

#[test]
fn registration_and_token_requests_are_rate_limited() {
    let f = fixture_with(
        json!({"rate_limit": {
            "register": {"limit": 2, "window_seconds": 60},
            "token": {"limit": 1, "window_seconds": 60}
        }}),
        Arc::new(MemoryOAuthStore::new()),
    );
    let client = f.public_client();
    f.public_client();
    let e = f.register(json!({"redirect_uris": [CB]})).unwrap_err();
    assert!(matches!(e, OAuthServerError::RateLimited { retry_after } if retry_after > 0));
    assert_eq!(e.status(), 429);
    let code = f.code(&client, None);
    f.exchange(&client, &code, VERIFIER).unwrap();
    let e = f.exchange(&client, &code, VERIFIER).unwrap_err();
    assert!(matches!(e, OAuthServerError::RateLimited { .. }), "{e}");
}

// ----- revocation -----

#[test]
fn revoking_an_access_token_puts_its_jti_on_the_guards_deny_list() {
    let f = fixture();
    let (client, t) = f.tokens(None);
    f.server
        .revoke(&RevocationRequest {
            token: Some(&t.access_token),
            token_type_hint: Some("access_token"),
            client: ClientAuth {
                client_id: Some(&client),
                client_secret: None,
            },
        })
        .unwrap();
    assert_eq!(
        f.call(&t.access_token, "web-search").reason,
        Some(Reason::Revoked)
    );
    // The refresh token is a separate credential and still works.
    assert!(f.refresh(&client, &t.refresh_token.unwrap(), None).is_ok());
}

#[test]
fn revoking_a_refresh_token_ends_its_family_and_access_tokens() {
    let f = fixture();
    let (client, t) = f.tokens(None);
    let r = t.refresh_token.unwrap();
    let revoke = |who: &str| {
        f.server.revoke(&RevocationRequest {
            token: Some(&r),
            token_type_hint: None,
            client: ClientAuth {
                client_id: Some(who),
                client_secret: None,
            },
        })
    };
    let mallory = f.public_client();
    assert_eq!(
        revoke(&mallory),
        Err(OAuthServerError::TokenOfAnotherClient)
    );
    revoke(&client).unwrap();
    assert_eq!(
        f.call(&t.access_token, "web-search").reason,
        Some(Reason::Revoked)
    );
    assert_eq!(
        f.refresh(&client, &r, None).unwrap_err(),
        OAuthServerError::RefreshRevoked
    );
    // An unknown token needs nothing.
    assert!(
        f.server
            .revoke(&RevocationRequest {
                token: Some("nothing-like-it"),
                token_type_hint: None,
                client: ClientAuth {
                    client_id: Some(&client),
                    client_secret: None,
                },
            })
            .is_ok()
    );
}

#[test]
fn revocations_are_replayed_into_a_new_guard_after_a_restart() {
    let store: Arc<dyn OAuthStore> = Arc::new(MemoryOAuthStore::new());
    let f = fixture_with(
        json!({"signing_keys": [{"kid": "k1", "pem": pem()}]}),
        store.clone(),
    );
    let (client, t) = f.tokens(None);
    f.server
        .revoke(&RevocationRequest {
            token: Some(&t.access_token),
            token_type_hint: None,
            client: ClientAuth {
                client_id: Some(&client),
                client_secret: None,
            },
        })
        .unwrap();
    let again = fixture_with(
        json!({"signing_keys": [{"kid": "k1", "pem": pem()}]}),
        store,
    );
    assert_eq!(
        again.call(&t.access_token, "web-search").reason,
        Some(Reason::Revoked)
    );
    assert!(
        again
            .refresh(&client, &t.refresh_token.unwrap(), None)
            .is_ok()
    );
}

fn pem() -> &'static str {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PEM.get_or_init(|| SigningKey::generate().unwrap().to_pem().unwrap())
}

// ----- keys, audit, store -----

#[test]
fn after_a_key_rotation_old_tokens_stay_valid_and_new_ones_use_the_new_key() {
    let f = fixture();
    let (client, t) = f.tokens(None);
    let old_kid = claims(&t.access_token).0["kid"].clone();
    f.server
        .rotate_signing_key(SigningKey::generate().unwrap())
        .unwrap();
    assert_eq!(f.server.jwks()["keys"].as_array().unwrap().len(), 2);
    assert!(f.call(&t.access_token, "web-search").allowed);
    let t2 = f.refresh(&client, &t.refresh_token.unwrap(), None).unwrap();
    assert_ne!(claims(&t2.access_token).0["kid"], old_kid);
    assert!(f.call(&t2.access_token, "web-search").allowed);
}

#[test]
fn every_credential_step_is_audited_with_client_and_subject() {
    let f = fixture();
    let (client, t) = f.tokens(Some("tag:web"));
    f.refresh(&client, &t.refresh_token.unwrap(), None).unwrap();
    let events = f.guard.drain_audit();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "client_registered",
            "consent_granted",
            "token_issued",
            "token_refreshed"
        ]
    );
    let issued = &events[2];
    assert_eq!(issued.client_id(), Some(client.as_str()));
    assert_eq!(issued.subject(), Some("alice"));
    assert_eq!(issued.issuer(), Some(ISS));
    assert_eq!(issued.to_json()["kind"], "token_issued");
}

#[test]
fn concurrent_refreshes_of_one_token_let_exactly_one_through() {
    let f = fixture();
    let (client, t) = f.tokens(None);
    let r = t.refresh_token.unwrap();
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| f.refresh(&client, &r, None).is_ok()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "{results:?}");
}

#[test]
fn a_server_needs_the_authorization_server_section() {
    let guard = Guard::from_json(&json!({"resource": R}).to_string()).unwrap();
    assert_eq!(
        AuthorizationServer::new(&guard, Arc::new(MemoryOAuthStore::new())).unwrap_err(),
        SetupError::NotConfigured
    );
}

impl Fixture {
    fn exchange_verified(
        &self,
        client_id: &str,
        code: &str,
        challenge: &str,
    ) -> Result<TokenResponse, OAuthServerError> {
        self.server.exchange_verified_code(&VerifiedCodeExchange {
            code,
            redirect_uri: CB,
            verified_challenge: challenge,
            resource: None,
            client: ClientAuth {
                client_id: Some(client_id),
                client_secret: None,
            },
        })
    }
}

#[test]
fn a_verified_exchange_needs_the_challenge_bound_into_the_code() {
    let f = fixture();
    let client = f.public_client();
    let code = f.code(&client, None);
    let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(
        f.exchange_verified(&client, &code, other).unwrap_err(),
        OAuthServerError::WrongCodeVerifier
    );
    let code = f.code(&client, None);
    let t = f.exchange_verified(&client, &code, CHALLENGE).unwrap();
    assert!(f.call(&t.access_token, "web-search").allowed);
}

#[test]
fn a_spent_code_is_still_shown_and_its_verified_reuse_revokes_the_family() {
    let f = fixture();
    let client = f.public_client();
    let code = f.code(&client, None);
    let shown = f.server.authorization_code(&code).unwrap().unwrap();
    assert_eq!(shown.code_challenge, CHALLENGE);
    assert_eq!(shown.redirect_uri, CB);
    let first = f.exchange_verified(&client, &code, CHALLENGE).unwrap();
    assert!(f.server.authorization_code(&code).unwrap().is_some());
    assert_eq!(
        f.exchange_verified(&client, &code, CHALLENGE).unwrap_err(),
        OAuthServerError::CodeReused
    );
    let d = f.call(&first.access_token, "web-search");
    assert_eq!(d.reason, Some(Reason::Revoked), "{d:?}");
    assert!(
        f.server
            .authorization_code("no-such-code")
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_verified_exchange_keeps_the_redirect_client_and_expiry_rules() {
    let f = fixture();
    let client = f.public_client();
    let other_client = f.public_client();
    let code = f.code(&client, None);
    assert_eq!(
        f.exchange_verified(&other_client, &code, CHALLENGE)
            .unwrap_err(),
        OAuthServerError::CodeClientMismatch
    );
    let code = f.code(&client, None);
    let wrong_redirect = f.server.exchange_verified_code(&VerifiedCodeExchange {
        code: &code,
        redirect_uri: "https://app.example.com/other",
        verified_challenge: CHALLENGE,
        resource: None,
        client: ClientAuth {
            client_id: Some(&client),
            client_secret: None,
        },
    });
    assert_eq!(
        wrong_redirect.unwrap_err(),
        OAuthServerError::CodeRedirectMismatch
    );
    let code = f.code(&client, None);
    f.clock.advance(Duration::from_secs(61));
    assert_eq!(
        f.exchange_verified(&client, &code, CHALLENGE).unwrap_err(),
        OAuthServerError::CodeExpired
    );
}
