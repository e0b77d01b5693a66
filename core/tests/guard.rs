//! The Guard end to end: the order of `authorize`'s steps, what each
//! refusal carries, audit events and counters, configuration errors, and
//! concurrent use while keys rotate and tokens are revoked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mcpguard::config::GuardConfig;
use mcpguard::guard::{AuditEvent, AuditKind, Guard, GuardOptions, Request, RequestFilter};
use mcpguard::{ManualClock, Reason};
use mcpguard_testkit as kit;
use serde_json::{Value, json};

const T: u64 = 1_767_225_600;
const ISS: &str = "https://auth.example.com";
const ISS2: &str = "https://other-auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";

fn config(extra: Value) -> Value {
    let mut c = json!({
        "resource": RES,
        "auth": {
            "issuers": [
                {"issuer": ISS, "jwks": kit::jwks(&[("rsa", Some("k1"), Some("RS256"))])},
                {"issuer": ISS2, "jwks": kit::jwks(&[("ec256", Some("k2"), Some("ES256"))])}
            ],
            "role_claim": "roles"
        },
        "servers": {
            "filesystem": {"tags": ["files"], "tools": {"write_file": {"tags": ["files-write"]}}},
            "web-search": {"tags": ["web"]},
            "database": {"tags": ["database"]}
        },
        "presets": {"webonly": {"tag_filter": "web"}},
        "roles": {
            "analyst": {"scopes": "tag:database", "rate_limit": {"limit": 5, "window_seconds": 60}}
        },
        "rate_limit": {"limit": 3, "window_seconds": 60}
    });
    merge(&mut c, extra);
    c
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn guard_with(extra: Value) -> (Guard, ManualClock) {
    let clock = ManualClock::new(T);
    let g = Guard::from_json_with_clock(&config(extra).to_string(), clock.clone()).expect("config");
    (g, clock)
}

fn token(claims: Value) -> String {
    let mut c = json!({"iss": ISS, "sub": "alice", "client_id": "app", "aud": RES, "exp": T + 3600,
        "scope": "tag:web tag:files"});
    merge(&mut c, claims);
    let iss = c["iss"].as_str().unwrap_or_default().to_string();
    if iss == ISS2 {
        kit::sign(
            "ES256",
            "ec256",
            &json!({"alg": "ES256", "kid": "k2"}).to_string(),
            &c.to_string(),
        )
    } else {
        kit::sign(
            "RS256",
            "rsa",
            &json!({"alg": "RS256", "kid": "k1"}).to_string(),
            &c.to_string(),
        )
    }
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[test]
fn an_allowed_request_carries_principal_visible_servers_and_rate_limit_headers() {
    let (g, _) = guard_with(json!({}));
    let auth = bearer(&token(json!({})));
    let d = g.authorize(&Request::new().authorization(&auth));
    assert!(d.allowed, "{:?}", d.to_json());
    assert_eq!(d.status, 200);
    let visible: Vec<&str> = d.visible_servers.iter().map(|s| &**s).collect();
    assert_eq!(visible, ["filesystem", "web-search"]);
    assert_eq!(d.principal.as_ref().unwrap().tags, ["web", "files"]);
    assert_eq!(
        d.header("RateLimit").unwrap(),
        "limit=3, remaining=2, reset=60"
    );
    let rl = d.rate_limit.unwrap();
    assert_eq!((rl.limit, rl.remaining), (3, 2));
}

#[test]
fn invalid_requests_are_refused_before_the_token_is_looked_at() {
    let (g, _) = guard_with(json!({}));
    let d = g.authorize(&Request::new().cost(0));
    assert_eq!((d.status, d.reason), (400, Some(Reason::InvalidRequest)));
    let d = g.authorize(&Request::new().tool("write_file"));
    assert_eq!((d.status, d.reason), (400, Some(Reason::InvalidRequest)));
    assert!(
        d.header("WWW-Authenticate")
            .unwrap()
            .contains("error=\"invalid_request\"")
    );
}

#[test]
fn a_missing_token_challenge_names_only_the_metadata_document() {
    let (g, _) = guard_with(json!({}));
    let d = g.authorize(&Request::new());
    assert_eq!((d.status, d.reason), (401, Some(Reason::MissingToken)));
    assert_eq!(
        d.header("WWW-Authenticate").unwrap(),
        "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\""
    );
    let d = g.authorize(&Request::new().authorization("Basic dXNlcjpwYXNz"));
    assert_eq!((d.status, d.reason), (401, Some(Reason::Malformed)));
}

#[test]
fn text_after_the_token_and_characters_outside_the_token_alphabet_are_malformed() {
    let (g, _) = guard_with(json!({"auth": {"opaque_tokens": true}}));
    let good = token(json!({}));
    for h in [
        format!("Bearer {good} extra"),
        format!("Bearer {good}, Bearer {good}"),
        format!("Bearer {good}\tx"),
        "Bearer opaque-token two".to_string(),
        format!("Bearer {good},x"),
        format!("Bearer \"{good}\""),
        "Bearer ab=c".to_string(),
        "Bearer ===".to_string(),
        "Bearer abc,def".to_string(),
        "Bearer caf\u{e9}".to_string(),
    ] {
        let d = g.authorize(&Request::new().authorization(&h));
        assert_eq!((d.status, d.reason), (401, Some(Reason::Malformed)), "{h}");
    }
}

#[test]
fn refusals_for_authentication_or_access_consume_no_rate_limit_quota() {
    let (g, _) = guard_with(json!({}));
    let expired = bearer(&token(json!({"exp": T - 3600})));
    let good = bearer(&token(json!({})));
    for _ in 0..10 {
        assert_eq!(
            g.authorize(&Request::new().authorization(&expired)).status,
            401
        );
        assert_eq!(
            g.authorize(&Request::new().authorization(&good).server("database"))
                .status,
            403
        );
        let bad_filter = Request::new()
            .authorization(&good)
            .filter(RequestFilter::TagFilter("web api"));
        assert_eq!(g.authorize(&bad_filter).status, 400);
    }
    let d = g.authorize(&Request::new().authorization(&good));
    assert_eq!(
        d.rate_limit.unwrap().remaining,
        2,
        "only this request was counted"
    );
}

#[test]
fn a_rate_limited_request_is_a_429_with_retry_after_and_consumes_nothing() {
    let (g, clock) = guard_with(json!({}));
    let auth = bearer(&token(json!({})));
    for _ in 0..3 {
        assert!(g.authorize(&Request::new().authorization(&auth)).allowed);
    }
    let d = g.authorize(&Request::new().authorization(&auth));
    assert_eq!((d.status, d.reason), (429, Some(Reason::RateLimited)));
    assert_eq!(d.header("Retry-After"), Some("60"));
    assert!(d.header("WWW-Authenticate").is_none());
    assert_eq!(d.rate_limit.as_ref().unwrap().retry_after, Some(60.0));
    clock.advance(std::time::Duration::from_secs(60));
    assert!(g.authorize(&Request::new().authorization(&auth)).allowed);
}

#[test]
fn a_cost_no_limit_can_admit_is_a_429_without_retry_after() {
    let (g, _) = guard_with(json!({}));
    let auth = bearer(&token(json!({})));
    let d = g.authorize(&Request::new().authorization(&auth).cost(4));
    assert_eq!(d.status, 429);
    assert_eq!(d.rate_limit.as_ref().unwrap().retry_after, None);
    assert!(d.header("Retry-After").is_none());
    assert!(
        g.authorize(&Request::new().authorization(&auth).cost(3))
            .allowed
    );
}

#[test]
fn filters_and_presets_narrow_what_is_visible_and_bad_ones_are_400() {
    let (g, _) = guard_with(json!({}));
    let auth = bearer(&token(json!({})));
    let d = g.authorize(
        &Request::new()
            .authorization(&auth)
            .filter(RequestFilter::Preset("webonly")),
    );
    assert_eq!(d.visible_servers.len(), 1);
    let d = g.authorize(
        &Request::new()
            .authorization(&auth)
            .filter(RequestFilter::Preset("nope")),
    );
    assert_eq!((d.status, d.reason), (400, Some(Reason::UnknownPreset)));
    let d = g.authorize(
        &Request::new()
            .authorization(&auth)
            .filter(RequestFilter::Tags(" , ")),
    );
    assert_eq!((d.status, d.reason), (400, Some(Reason::InvalidFilter)));
    let d = g.authorize(
        &Request::new()
            .authorization(&auth)
            .filter(RequestFilter::Tags("web,database")),
    );
    assert_eq!(d.status, 403);
    assert_eq!(
        d.error_description.as_deref(),
        Some("Insufficient scopes. Required: web, database, Granted: web, files")
    );
    assert_eq!(d.missing_scopes, ["tag:database"]);
}

#[test]
fn an_unlisted_server_and_a_forbidden_one_get_the_same_answer() {
    let (g, _) = guard_with(json!({}));
    let auth = bearer(&token(json!({})));
    let hidden = g.authorize(&Request::new().authorization(&auth).server("database"));
    let absent = g.authorize(&Request::new().authorization(&auth).server("nonexistent"));
    assert_eq!(hidden.status, 403);
    assert_eq!(
        hidden
            .error_description
            .as_deref()
            .map(|d| d.replace("database", "X")),
        absent
            .error_description
            .as_deref()
            .map(|d| d.replace("nonexistent", "X"))
    );
    let no_scope =
        |d: &mcpguard::guard::Decision| !d.header("WWW-Authenticate").unwrap().contains("scope=");
    assert!(
        no_scope(&hidden) && no_scope(&absent),
        "the challenge names no scope"
    );
    assert_eq!(
        hidden.missing_scopes,
        ["tag:database"],
        "the host still learns it"
    );
    assert!(absent.missing_scopes.is_empty());
}

#[test]
fn a_tool_with_its_own_tags_needs_one_of_them() {
    let (g, _) = guard_with(json!({}));
    let plain = bearer(&token(json!({})));
    let writer = bearer(&token(json!({"scope": "tag:files tag:files-write"})));
    let call = |a: &str| {
        g.authorize(
            &Request::new()
                .authorization(a)
                .server("filesystem")
                .tool("write_file"),
        )
    };
    assert_eq!(call(&plain).status, 403);
    assert!(call(&writer).allowed);
}

#[test]
fn roles_grant_scopes_and_replace_the_default_rate_limit() {
    let (g, _) = guard_with(json!({}));
    let auth = bearer(&token(json!({"scope": "", "roles": ["analyst"]})));
    let d = g.authorize(&Request::new().authorization(&auth).server("database"));
    assert!(d.allowed);
    let rl = d.rate_limit.unwrap();
    assert_eq!((rl.limit, rl.remaining, &*rl.policy), (5, 4, "analyst"));
}

#[test]
fn one_client_id_at_two_issuers_has_two_budgets() {
    let (g, _) = guard_with(json!({}));
    let a = bearer(&token(json!({})));
    let b = bearer(&token(json!({"iss": ISS2})));
    for _ in 0..3 {
        assert!(g.authorize(&Request::new().authorization(&a)).allowed);
    }
    assert_eq!(g.authorize(&Request::new().authorization(&a)).status, 429);
    assert!(g.authorize(&Request::new().authorization(&b)).allowed);
}

#[test]
fn the_subject_keys_the_limit_when_configured() {
    let (g, _) = guard_with(json!({"rate_limit": {"key": "subject"}}));
    let app1 = bearer(&token(json!({"client_id": "app1"})));
    let app2 = bearer(&token(json!({"client_id": "app2"})));
    for i in 0..3 {
        let t = if i % 2 == 0 { &app1 } else { &app2 };
        assert!(g.authorize(&Request::new().authorization(t)).allowed);
    }
    assert_eq!(
        g.authorize(&Request::new().authorization(&app2)).status,
        429,
        "same subject, one budget"
    );
}

#[test]
fn anonymous_requests_see_every_permitted_server_and_are_limited_by_the_host_key() {
    let (g, _) = guard_with(json!({"auth": {"required": false}}));
    let d = g.authorize(&Request::new().key("203.0.113.7"));
    assert!(d.allowed);
    assert_eq!(d.visible_servers.len(), 3);
    assert!(d.principal.is_none());
    for _ in 0..2 {
        assert!(g.authorize(&Request::new().key("203.0.113.7")).allowed);
    }
    assert_eq!(g.authorize(&Request::new().key("203.0.113.7")).status, 429);
    assert!(
        g.authorize(&Request::new().key("198.51.100.1")).allowed,
        "another address, another budget"
    );
    let bad = g.authorize(&Request::new().authorization("Bearer not-a-jwt"));
    assert_eq!(
        bad.status, 401,
        "a bad token is refused even when tokens are optional"
    );
}

#[test]
fn every_outcome_is_audited_without_the_token() {
    let (g, _) = guard_with(json!({}));
    let seen = Arc::new(Mutex::new(Vec::<AuditEvent>::new()));
    let sink = seen.clone();
    g.on_audit(Some(Arc::new(move |e: &AuditEvent| {
        sink.lock().unwrap().push(e.clone())
    })));
    let t = token(json!({"scope": "tag:web tag:BAD:x"}));
    let auth = bearer(&t);
    g.authorize(&Request::new());
    g.authorize(&Request::new().authorization(&auth).server("database"));
    for _ in 0..4 {
        g.authorize(&Request::new().authorization(&auth));
    }
    let events = g.drain_audit();
    assert_eq!(
        events.len(),
        seen.lock().unwrap().len(),
        "sink and ring saw the same events"
    );
    let kinds: Vec<AuditKind> = events.iter().map(|e| e.kind).collect();
    use AuditKind::*;
    assert_eq!(
        kinds,
        [
            AuthFailure,
            AuthSuccess,
            AccessDenied,
            AuthSuccess,
            AuthSuccess,
            AuthSuccess,
            AuthSuccess,
            RateLimited
        ]
    );
    let denied = &events[2];
    assert_eq!(denied.server.as_deref(), Some("database"));
    assert_eq!(denied.missing_scopes, ["tag:database"]);
    assert_eq!(denied.client_id(), Some("app"));
    assert_eq!(denied.issuer(), Some(ISS));
    assert_eq!(denied.rejected_scopes, ["tag:BAD:x"]);
    let fp = denied.token_fingerprint.as_deref().unwrap();
    assert_eq!(fp.len(), 16);
    for e in &events {
        let text = e.to_json().to_string();
        assert!(
            !text.contains(&t) && !text.contains(t.split('.').nth(2).unwrap()),
            "token leaked: {text}"
        );
    }
    assert_eq!(events[7].reason, Some(Reason::RateLimited));
}

#[test]
fn a_request_is_audited_at_the_guard_clock_with_its_server_and_tool_and_success_before_refusal() {
    let (g, clock) = guard_with(json!({}));
    let auth = bearer(&token(json!({})));
    clock.advance(std::time::Duration::from_millis(1500));
    assert!(
        g.authorize(
            &Request::new()
                .authorization(&auth)
                .server("web-search")
                .tool("search")
        )
        .allowed
    );
    let bad_filter = g.authorize(
        &Request::new()
            .authorization(&auth)
            .server("web-search")
            .filter(RequestFilter::TagFilter("web AND (")),
    );
    assert_eq!(bad_filter.status, 400);
    let events = g.drain_audit();
    let kinds: Vec<AuditKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            AuditKind::AuthSuccess,
            AuditKind::AuthSuccess,
            AuditKind::AccessDenied
        ],
        "the authentication's event comes before the refusal's"
    );
    for e in &events {
        assert_eq!(e.time, T as f64 + 1.5, "one reading of the guard's clock");
        assert_eq!(e.server.as_deref(), Some("web-search"));
    }
    assert_eq!(events[0].tool.as_deref(), Some("search"));
}

#[test]
fn a_panicking_audit_sink_is_counted_and_authorization_goes_on() {
    let (g, _) = guard_with(json!({}));
    g.on_audit(Some(Arc::new(|_: &AuditEvent| panic!("sink failure"))));
    let auth = bearer(&token(json!({})));
    assert!(g.authorize(&Request::new().authorization(&auth)).allowed);
    assert_eq!(g.counters().audit_sink_panics, 1);
    g.on_audit(None);
}

#[test]
fn counters_count_outcomes_by_reason_and_cache_hits() {
    let (g, _) = guard_with(json!({}));
    let auth = bearer(&token(json!({})));
    g.authorize(&Request::new());
    g.authorize(&Request::new().authorization(&auth));
    g.authorize(&Request::new().authorization(&auth));
    g.authorize(&Request::new().authorization(&auth).server("database"));
    let c = g.counters();
    assert_eq!(c.allowed, 2);
    assert_eq!(c.denied_for(Reason::MissingToken), 1);
    assert_eq!(c.denied_for(Reason::InsufficientScope), 1);
    assert_eq!((c.cache_misses, c.cache_hits), (1, 2));
    assert_eq!(c.to_json()["denied"]["missing_token"], 1);
}

#[test]
fn the_metadata_document_follows_rfc_9728() {
    let (g, _) = guard_with(json!({}));
    assert_eq!(
        g.metadata_path(),
        "/.well-known/oauth-protected-resource/mcp"
    );
    assert_eq!(
        g.metadata_document(),
        json!({"resource": RES, "authorization_servers": [ISS, ISS2],
               "scopes_supported": ["tag:files", "tag:files-write", "tag:web", "tag:database"],
               "bearer_methods_supported": ["header"]})
    );
    let (g, _) = guard_with(json!({"resource": "https://mcp.example.com/",
        "authorization_servers": ["https://login.example.com"]}));
    assert_eq!(
        g.metadata_url(),
        "https://mcp.example.com/.well-known/oauth-protected-resource"
    );
    assert_eq!(
        g.metadata_document()["authorization_servers"],
        json!(["https://login.example.com"])
    );
}

#[test]
fn configuration_errors_name_the_json_path() {
    let cases = [
        (json!({"resuorce": 1}), "resuorce"),
        (json!({"resource": "mcp.example.com"}), "resource"),
        (
            json!({"resource": "https://mcp.example.com/mcp#frag"}),
            "resource",
        ),
        (json!({"auth": {"leeway": 3}}), "auth.leeway"),
        (
            json!({"auth": {"issuers": [{"issuer": ISS, "algorithms": ["none"]}]}}),
            "auth.issuers[0].algorithms[0]",
        ),
        (
            json!({"servers": {"web-search": {"tags": ["no spaces allowed"]}}}),
            "servers.web-search.tags[0]",
        ),
        (json!({"rate_limit": {"limit": -1}}), "rate_limit.limit"),
        (
            json!({"rate_limit": {"window_seconds": 0}}),
            "rate_limit.window_seconds",
        ),
        (
            json!({"roles": {"analyst": {"rate_limit": {"limit": 5, "window_seconds": -1}}}}),
            "roles.analyst.rate_limit.window_seconds",
        ),
        (
            json!({"presets": {"webonly": {"tag_filter": "web api"}}}),
            "presets.webonly.tag_filter",
        ),
        (json!({"untagged_servers": "maybe"}), "untagged_servers"),
    ];
    for (extra, path) in cases {
        let err = Guard::from_json(&config(extra.clone()).to_string()).unwrap_err();
        assert_eq!(err.path, path, "{extra}: {err}");
        assert!(err.to_string().contains(path), "{err}");
    }
    let dup = r#"{"resource": "https://a.example/mcp", "servers": {"x": {}, "x": {}}}"#;
    assert!(
        Guard::from_json(dup)
            .unwrap_err()
            .to_string()
            .contains("duplicate key `x`")
    );
}

#[test]
fn the_environment_overrides_the_default_rate_limit_only_when_asked() {
    let mut cfg = GuardConfig::from_json(&config(json!({})).to_string()).unwrap();
    let env = |k: &str| match k {
        "ONE_MCP_RATE_LIMIT_WINDOW" => Some("2".to_string()),
        "ONE_MCP_RATE_LIMIT_MAX" => Some("7".to_string()),
        _ => None,
    };
    cfg.apply_env(&env).unwrap();
    let g = Guard::from_config(cfg, GuardOptions::with_clock(ManualClock::new(T))).unwrap();
    let d = g.check_rate_limit(None, "k", 1).unwrap();
    assert_eq!((d.limit, d.reset), (7, 120.0));

    let mut cfg = GuardConfig::from_json(&config(json!({})).to_string()).unwrap();
    let bad = |k: &str| (k == "MCPGUARD_RATE_LIMIT_MAX").then(|| "lots".to_string());
    let err = cfg.apply_env(&bad).unwrap_err();
    assert!(err.to_string().contains("MCPGUARD_RATE_LIMIT_MAX"), "{err}");
}

#[test]
fn from_file_resolves_jwks_file_against_the_config_folder_and_reads_1mcp_server_lists() {
    let dir = std::env::temp_dir().join(format!("mcpguard-guard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("keys.json"),
        kit::jwks(&[("rsa", Some("k1"), Some("RS256"))]).to_string(),
    )
    .unwrap();
    let cfg = json!({"resource": RES,
        "auth": {"issuers": [{"issuer": ISS, "jwks_file": "keys.json"}]},
        "mcpServers": {"web-search": {"command": "npx", "args": ["x"], "tags": ["web"]},
                       "old": {"command": "x", "tags": ["web"], "disabled": true}}});
    std::fs::write(dir.join("guard.json"), cfg.to_string()).unwrap();
    // Guard::from_file reads the same way (and applies the environment); a
    // manual clock keeps the test's tokens current.
    let cfg = GuardConfig::from_file(dir.join("guard.json")).unwrap();
    let g = Guard::from_config(cfg, GuardOptions::with_clock(ManualClock::new(T))).unwrap();
    let auth = bearer(&token(json!({})));
    let d = g.authorize(&Request::new().authorization(&auth));
    assert!(d.allowed, "{:?}", d.to_json());
    assert_eq!(
        d.visible_servers.iter().map(|s| &**s).collect::<Vec<_>>(),
        ["web-search"]
    );
    assert!(Guard::from_file(dir.join("guard.json")).is_ok());
    let missing = Guard::from_file(dir.join("absent.json")).unwrap_err();
    assert!(missing.to_string().contains("absent.json"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn authorizing_on_many_threads_while_keys_rotate_and_tokens_are_revoked() {
    let (g, _) = guard_with(json!({"rate_limit": {"enabled": false}}));
    let stable = bearer(&token(json!({"jti": "stable"})));
    let revoked: Vec<String> = (0..50)
        .map(|i| token(json!({"jti": format!("r{i}")})))
        .collect();
    let set_a = kit::jwks(&[("rsa", Some("k1"), Some("RS256"))]).to_string();
    let set_b = kit::jwks(&[
        ("rsa", Some("k1"), Some("RS256")),
        ("rsa2", Some("k9"), Some("RS256")),
    ])
    .to_string();
    let refused = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for i in 0..300 {
                    let d = g.authorize(&Request::new().authorization(&stable));
                    assert!(d.allowed, "{:?}", d.to_json());
                    let t = bearer(&revoked[i % revoked.len()]);
                    let d = g.authorize(&Request::new().authorization(&t));
                    if !d.allowed {
                        assert_eq!(d.reason, Some(Reason::Revoked));
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        s.spawn(|| {
            for i in 0..100 {
                let set = if i % 2 == 0 { &set_a } else { &set_b };
                g.set_jwks(ISS, set).unwrap();
            }
        });
        s.spawn(|| {
            for t in &revoked {
                g.revoke(t).unwrap();
            }
        });
    });
    for t in &revoked {
        let d = g.authorize(&Request::new().authorization(&bearer(t)));
        assert_eq!(d.reason, Some(Reason::Revoked));
    }
    assert!(g.authorize(&Request::new().authorization(&stable)).allowed);
}

#[test]
fn opaque_tokens_and_introspection_responses_get_tags_like_jwts() {
    let (g, _) = guard_with(json!({"auth": {"opaque_tokens": true}}));
    let entry = mcpguard::token::OpaqueEntry {
        client_id: Some("svc".into()),
        subject: Some("bob".into()),
        scopes: vec!["tag:database".into()],
        resource: Some(RES.into()),
        expires_at: Some(T as i64 + 600),
        ..Default::default()
    };
    g.insert_opaque("svc-token-1", entry).unwrap();
    let d = g.authorize(
        &Request::new()
            .authorization("Bearer svc-token-1")
            .server("database"),
    );
    assert!(d.allowed, "{:?}", d.to_json());
    assert_eq!(d.principal.unwrap().tags, ["database"]);
    let p = g
        .validate_introspection(
            &json!({"active": true, "iss": ISS, "scope": "tag:web", "exp": T + 60}).to_string(),
        )
        .unwrap();
    assert_eq!(p.tags, ["web"]);
}
