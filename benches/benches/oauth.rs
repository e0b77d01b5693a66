//! The embedded authorization server: token issuance and refresh in the
//! Rust engine, on the memory store and on the SQLite file store.
//!
//! - `code_exchange`: the token request of the authorization code grant
//!   (code redemption, PKCE check, ES256 signature, family creation); the
//!   authorize and consent steps that make each code are setup, not timed;
//! - `full_code_flow`: authorize, consent and exchange, as one client sees it;
//! - `refresh`: one rotation (lookup, new refresh token, ES256 access token,
//!   the atomic rotate), each iteration refreshing the token the last one got;
//! - `client_credentials`: a machine client's token.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mcpguard::guard::Guard;
use mcpguard::oauth::{
    AuthorizationServer, AuthorizeOutcome, AuthorizeParams, ClientAuth, ConsentAnswer,
    MemoryOAuthStore, OAuthStore, RegistrationRequest, TokenRequest,
};
use serde_json::json;

const CB: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn server(store: Arc<dyn OAuthStore>) -> AuthorizationServer {
    let config = json!({
        "resource": "https://mcp.example.com/mcp",
        "servers": {"web-search": {"tags": ["web"]}, "postgres": {"tags": ["db"]}},
        "authorization_server": {
            "issuer": "https://auth.example.com",
            // Limits no bench run can exhaust.
            "rate_limit": {
                "register": {"limit": u32::MAX, "window_seconds": 1.0},
                "token": {"limit": u32::MAX, "window_seconds": 1.0}
            }
        }
    });
    let guard = Guard::from_json(&config.to_string()).expect("bench config");
    AuthorizationServer::new(&guard, store).expect("server")
}

fn register(s: &AuthorizationServer, meta: serde_json::Value) -> serde_json::Value {
    s.register(&RegistrationRequest {
        metadata: &meta,
        initial_access_token: None,
        rate_key: "bench",
    })
    .expect("registration")
    .response
}

fn code(s: &AuthorizationServer, client: &str) -> String {
    let AuthorizeOutcome::Consent(c) = s.authorize(&AuthorizeParams {
        response_type: Some("code"),
        client_id: Some(client),
        redirect_uri: Some(CB),
        code_challenge: Some(CHALLENGE),
        code_challenge_method: Some("S256"),
        ..AuthorizeParams::default()
    }) else {
        panic!("expected consent")
    };
    let url = s
        .consent(&ConsentAnswer {
            request_id: &c.request_id,
            csrf_form: Some(&c.csrf_token),
            csrf_cookie: Some(&c.csrf_token),
            subject: "alice",
            approve: true,
            scopes: None,
        })
        .expect("consent");
    let start = url.find("code=").expect("a code") + 5;
    url[start..start + 43].to_string()
}

fn exchange(s: &AuthorizationServer, client: &str, code: &str) -> mcpguard::oauth::TokenResponse {
    s.token(&TokenRequest {
        grant_type: Some("authorization_code"),
        code: Some(code),
        redirect_uri: Some(CB),
        code_verifier: Some(VERIFIER),
        client: ClientAuth {
            client_id: Some(client),
            client_secret: None,
        },
        ..TokenRequest::default()
    })
    .expect("exchange")
}

fn bench_store(c: &mut Criterion, name: &str, store: Arc<dyn OAuthStore>) {
    let s = server(store);
    let client = register(&s, json!({"redirect_uris": [CB]}))["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut group = c.benchmark_group(format!("oauth/{name}"));
    group.bench_function("code_exchange", |b| {
        b.iter_batched(
            || code(&s, &client),
            |code| exchange(&s, &client, &code),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("full_code_flow", |b| {
        b.iter(|| exchange(&s, &client, &code(&s, &client)))
    });
    let mut refresh = exchange(&s, &client, &code(&s, &client))
        .refresh_token
        .unwrap();
    group.bench_function("refresh", |b| {
        b.iter(|| {
            let t = s
                .token(&TokenRequest {
                    grant_type: Some("refresh_token"),
                    refresh_token: Some(&refresh),
                    client: ClientAuth {
                        client_id: Some(&client),
                        client_secret: None,
                    },
                    ..TokenRequest::default()
                })
                .expect("refresh");
            refresh = t.refresh_token.unwrap();
        })
    });
    let machine = register(
        &s,
        json!({"token_endpoint_auth_method": "client_secret_post",
               "grant_types": ["client_credentials"]}),
    );
    let (id, secret) = (
        machine["client_id"].as_str().unwrap(),
        machine["client_secret"].as_str().unwrap(),
    );
    group.bench_function("client_credentials", |b| {
        b.iter(|| {
            s.token(&TokenRequest {
                grant_type: Some("client_credentials"),
                client: ClientAuth {
                    client_id: Some(id),
                    client_secret: Some(secret),
                },
                ..TokenRequest::default()
            })
            .expect("client credentials")
        })
    });
    group.finish();
}

fn bench_oauth(c: &mut Criterion) {
    bench_store(c, "memory", Arc::new(MemoryOAuthStore::new()));
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = mcpguard_sqlite::SqliteOAuthStore::open(dir.path().join("bench.db")).expect("db");
    bench_store(c, "sqlite", Arc::new(sqlite));
}

criterion_group!(benches, bench_oauth);
criterion_main!(benches);
