//! The SQLite store under the real engine: restarts lose nothing, and
//! racing writers (threads, or separate connections as separate processes
//! would have) never both win.

use std::path::Path;
use std::sync::Arc;

use mcpguard::ManualClock;
use mcpguard::guard::{Guard, Request};
use mcpguard::oauth::{
    AuthorizationServer, AuthorizeOutcome, AuthorizeParams, ClientAuth, CodeRedemption,
    ConsentAnswer, OAuthServerError, OAuthStore, RegistrationRequest, SigningKey, StorageConfig,
    TokenRequest, TokenResponse,
};
use mcpguard::reason::Reason;
use mcpguard_sqlite::{SqliteOAuthStore, open_configured};
use serde_json::json;

const R: &str = "https://mcp.example.com/mcp";
const CB: &str = "https://app.example.com/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const START: u64 = 1_767_225_600;

/// One "process": a Guard and a server over the database at `db`.
struct Host {
    guard: Guard,
    server: AuthorizationServer,
}

fn host(db: &Path, pem: &str, clock: &ManualClock) -> Host {
    let config = json!({
        "resource": R,
        "servers": {"web-search": {"tags": ["web"]}, "postgres": {"tags": ["db"]}},
        "authorization_server": {
            "issuer": "https://auth.example.com",
            "signing_keys": [{"kid": "k1", "pem": pem}],
            "storage": {"sqlite": {"path": db.to_str().unwrap()}}
        }
    });
    let guard = Guard::from_json_with_clock(&config.to_string(), clock.clone()).unwrap();
    let storage = &guard.authorization_server_settings().unwrap().storage;
    let store = open_configured(storage, None).unwrap();
    let server = AuthorizationServer::new(&guard, store).unwrap();
    Host { guard, server }
}

impl Host {
    fn register(&self) -> String {
        self.server
            .register(&RegistrationRequest {
                metadata: &json!({"redirect_uris": [CB]}),
                initial_access_token: None,
                rate_key: "k",
            })
            .unwrap()
            .client
            .client_id
    }

    fn code(&self, client: &str) -> String {
        let AuthorizeOutcome::Consent(c) = self.server.authorize(&AuthorizeParams {
            response_type: Some("code"),
            client_id: Some(client),
            redirect_uri: Some(CB),
            code_challenge: Some(CHALLENGE),
            code_challenge_method: Some("S256"),
            ..AuthorizeParams::default()
        }) else {
            panic!("expected consent");
        };
        let url = self
            .server
            .consent(&ConsentAnswer {
                request_id: &c.request_id,
                csrf_form: Some(&c.csrf_token),
                csrf_cookie: Some(&c.csrf_token),
                subject: "alice",
                approve: true,
                scopes: None,
            })
            .unwrap();
        url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    }

    fn exchange(&self, client: &str, code: &str) -> Result<TokenResponse, OAuthServerError> {
        self.server.token(&TokenRequest {
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
    }

    fn refresh(&self, client: &str, token: &str) -> Result<TokenResponse, OAuthServerError> {
        self.server.token(&TokenRequest {
            grant_type: Some("refresh_token"),
            refresh_token: Some(token),
            client: ClientAuth {
                client_id: Some(client),
                client_secret: None,
            },
            ..TokenRequest::default()
        })
    }

    fn call(&self, token: &str) -> Option<Reason> {
        let header = format!("Bearer {token}");
        let mut req = Request::new();
        req.authorization = Some(&header);
        req.server = Some("web-search");
        self.guard.authorize(&req).reason
    }
}

fn pem() -> String {
    SigningKey::generate().unwrap().to_pem().unwrap()
}

#[test]
fn a_restart_between_registration_and_refresh_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("oauth.db");
    let pem = pem();
    let clock = ManualClock::new(START);

    let client = host(&db, &pem, &clock).register();
    // Restart: the client is still registered.
    let h = host(&db, &pem, &clock);
    let code = h.code(&client);
    drop(h);
    // Restart between consent and exchange: the code survived.
    let h = host(&db, &pem, &clock);
    let first = h.exchange(&client, &code).unwrap();
    drop(h);
    // Restart before the refresh: the refresh token survived, and so did
    // the access token's key.
    let h = host(&db, &pem, &clock);
    assert_eq!(h.call(&first.access_token), None);
    let second = h
        .refresh(&client, first.refresh_token.as_deref().unwrap())
        .unwrap();
    drop(h);
    // Restart: the rotation was recorded, so the old token is a reuse.
    let h = host(&db, &pem, &clock);
    assert_eq!(
        h.refresh(&client, first.refresh_token.as_deref().unwrap()),
        Err(OAuthServerError::RefreshReused)
    );
    assert_eq!(h.call(&second.access_token), Some(Reason::Revoked));
    drop(h);
    // Restart: the family's revocation is replayed into the new Guard.
    let h = host(&db, &pem, &clock);
    assert_eq!(h.call(&first.access_token), Some(Reason::Revoked));
    assert_eq!(h.call(&second.access_token), Some(Reason::Revoked));
    assert_eq!(
        h.refresh(&client, second.refresh_token.as_deref().unwrap()),
        Err(OAuthServerError::RefreshRevoked)
    );
}

#[test]
fn a_reused_code_after_a_restart_still_revokes_what_it_produced() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("oauth.db");
    let (pem, clock) = (pem(), ManualClock::new(START));
    let h = host(&db, &pem, &clock);
    let client = h.register();
    let code = h.code(&client);
    let t = h.exchange(&client, &code).unwrap();
    drop(h);
    let h = host(&db, &pem, &clock);
    assert_eq!(
        h.exchange(&client, &code),
        Err(OAuthServerError::CodeReused)
    );
    assert_eq!(h.call(&t.access_token), Some(Reason::Revoked));
}

#[test]
fn concurrent_refreshes_of_one_token_let_exactly_one_through() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("oauth.db");
    let (pem, clock) = (pem(), ManualClock::new(START));
    let setup = host(&db, &pem, &clock);
    let client = setup.register();
    let code = setup.code(&client);
    let refresh = setup
        .exchange(&client, &code)
        .unwrap()
        .refresh_token
        .unwrap();
    // Four hosts, each with its own connection to the file (as four
    // processes would be), two threads each.
    let hosts: Vec<Host> = (0..4).map(|_| host(&db, &pem, &clock)).collect();
    let outcomes: Vec<Result<TokenResponse, OAuthServerError>> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .flat_map(|h| [h, h])
            .map(|h| s.spawn(|| h.refresh(&client, &refresh)))
            .collect();
        handles.into_iter().map(|j| j.join().unwrap()).collect()
    });
    let wins = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(wins, 1, "{outcomes:?}");
    for o in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert!(
            matches!(
                o,
                OAuthServerError::RefreshReused | OAuthServerError::RefreshRevoked
            ),
            "{o}"
        );
    }
}

#[test]
fn one_code_redeemed_on_two_connections_is_redeemed_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("oauth.db");
    let (pem, clock) = (pem(), ManualClock::new(START));
    let h = host(&db, &pem, &clock);
    let client = h.register();
    let code = h.code(&client);
    let hash = mcpguard::oauth::credential_hash(&code);
    let stores: Vec<SqliteOAuthStore> = (0..4)
        .map(|_| SqliteOAuthStore::open(&db).unwrap())
        .collect();
    let outcomes: Vec<CodeRedemption> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .map(|st| s.spawn(|| st.redeem_code(&hash).unwrap()))
            .collect();
        handles.into_iter().map(|j| j.join().unwrap()).collect()
    });
    let redeemed = outcomes
        .iter()
        .filter(|o| matches!(o, CodeRedemption::Redeemed(_)))
        .count();
    assert_eq!(redeemed, 1);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, CodeRedemption::Reused(_)))
            .count(),
        3
    );
}

#[test]
fn purging_forgets_only_what_expired() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("oauth.db");
    let (pem, clock) = (pem(), ManualClock::new(START));
    let h = host(&db, &pem, &clock);
    let client = h.register();
    let code = h.code(&client);
    let t = h.exchange(&client, &code).unwrap();
    assert_eq!(h.server.purge_expired().unwrap(), 0);
    clock.advance(std::time::Duration::from_secs(3601));
    // The code (60 s) and the access record (3600 s) are gone; the client
    // and the refresh token stay.
    assert_eq!(h.server.purge_expired().unwrap(), 2);
    assert!(
        h.refresh(&client, t.refresh_token.as_deref().unwrap())
            .is_ok()
    );
}

#[test]
fn the_configured_storage_opens_memory_or_a_file_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_configured(
        &StorageConfig::Sqlite {
            path: "nested.db".into(),
        },
        Some(dir.path()),
    )
    .unwrap();
    assert!(store.client("x").unwrap().is_none());
    assert!(dir.path().join("nested.db").exists());
    let memory: Arc<dyn OAuthStore> = open_configured(&StorageConfig::Memory {}, None).unwrap();
    assert!(memory.client("x").unwrap().is_none());
    let e = SqliteOAuthStore::open(dir.path().join("no/such/dir/x.db")).unwrap_err();
    assert!(e.to_string().contains("cannot open"), "{e}");
}

#[test]
fn a_code_is_shown_spent_or_not_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("oauth.db");
    let (pem, clock) = (pem(), ManualClock::new(START));
    let h = host(&db, &pem, &clock);
    let client = h.register();
    let code = h.code(&client);
    let shown = h.server.authorization_code(&code).unwrap().unwrap();
    assert_eq!(shown.client_id, client);
    h.exchange(&client, &code).unwrap();
    drop(h);
    let h = host(&db, &pem, &clock);
    assert_eq!(h.server.authorization_code(&code).unwrap(), Some(shown));
    assert_eq!(h.server.authorization_code("unknown").unwrap(), None);
}
