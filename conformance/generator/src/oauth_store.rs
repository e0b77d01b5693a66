//! The conformance suite every `OAuthStore` backend runs under the real
//! engine (feature `oauth-store`): restarts lose nothing, a reused code or
//! refresh token revokes what it produced even across engines, racing
//! writers have exactly one winner, purging forgets only what expired.
//!
//! A backend hands in [`Open`]: each call opens the *same* backing state
//! anew (a new connection to the file, a new pool to the Redis), as a
//! restarted or second process would. Each function panics with what broke.

use std::sync::Arc;

use mcpguard::ManualClock;
use mcpguard::guard::{Guard, Request};
use mcpguard::oauth::{
    AuthorizationServer, AuthorizeOutcome, AuthorizeParams, ClientAuth, ClientRecord,
    CodeRedemption, ConsentAnswer, IssuedAccess, OAuthServerError, OAuthStore,
    PendingAuthorization, RefreshFamily, RefreshToken, RegistrationRequest, Rotation, SigningKey,
    StoreError, TokenRequest, TokenResponse, credential_hash,
};
use mcpguard::reason::Reason;
use serde_json::json;

/// Opens the backend's shared state once more (a new process's store), for
/// an engine on `clock` (a store that sets TTLs reads its time there).
pub type Open<'a> = &'a (dyn Fn(&ManualClock) -> Arc<dyn OAuthStore> + Sync);

const R: &str = "https://mcp.example.com/mcp";
const CB: &str = "https://app.example.com/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The suite's start time (Unix seconds).
pub const START: u64 = 1_767_225_600;

/// One "process": a Guard and the engine over a freshly opened store.
pub struct Host {
    /// The Guard the engine issues for.
    pub guard: Guard,
    /// The engine.
    pub server: AuthorizationServer,
}

/// A host on a newly opened store, signing with `pem`, on `clock`.
pub fn host(open: Open<'_>, pem: &str, clock: &ManualClock) -> Host {
    let config = json!({
        "resource": R,
        "servers": {"web-search": {"tags": ["web"]}, "postgres": {"tags": ["db"]}},
        "authorization_server": {
            "issuer": "https://auth.example.com",
            "signing_keys": [{"kid": "k1", "pem": pem}],
        }
    });
    let guard = Guard::from_json_with_clock(&config.to_string(), clock.clone())
        .expect("the suite's configuration");
    let server = AuthorizationServer::new(&guard, open(clock)).expect("the engine starts");
    Host { guard, server }
}

/// A fresh signing key in PEM, shared by the hosts of one test.
pub fn pem() -> String {
    SigningKey::generate()
        .and_then(|k| k.to_pem())
        .expect("a P-256 key")
}

impl Host {
    /// Registers a public client; its id.
    pub fn register(&self) -> String {
        self.server
            .register(&RegistrationRequest {
                metadata: &json!({"redirect_uris": [CB]}),
                initial_access_token: None,
                rate_key: "k",
            })
            .expect("registration")
            .client
            .client_id
    }

    /// Authorization and alice's consent: the code.
    pub fn code(&self, client: &str) -> String {
        let AuthorizeOutcome::Consent(c) = self.server.authorize(&AuthorizeParams {
            response_type: Some("code"),
            client_id: Some(client),
            redirect_uri: Some(CB),
            code_challenge: Some(CHALLENGE),
            code_challenge_method: Some("S256"),
            ..AuthorizeParams::default()
        }) else {
            panic!("expected a consent request");
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
            .expect("consent");
        let query = url.split_once('?').map_or("", |(_, q)| q);
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "code")
            .expect("a code in the redirect")
            .1
            .into_owned()
    }

    /// The code exchange.
    pub fn exchange(&self, client: &str, code: &str) -> Result<TokenResponse, OAuthServerError> {
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

    /// A refresh.
    pub fn refresh(&self, client: &str, token: &str) -> Result<TokenResponse, OAuthServerError> {
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

    /// The Guard's refusal reason for a call with `token` (None: allowed).
    pub fn call(&self, token: &str) -> Option<Reason> {
        let header = format!("Bearer {token}");
        let mut req = Request::new();
        req.authorization = Some(&header);
        req.server = Some("web-search");
        self.guard.authorize(&req).reason
    }

    /// Register, consent, exchange: the client and its first tokens.
    pub fn grant(&self) -> (String, TokenResponse) {
        let client = self.register();
        let code = self.code(&client);
        let t = self.exchange(&client, &code).expect("the exchange");
        (client, t)
    }
}

fn refresh_of(t: &TokenResponse) -> &str {
    t.refresh_token.as_deref().expect("a refresh token")
}

/// Restarts between every step of the flow lose nothing, and a family
/// revoked before a restart stays revoked after it.
pub fn a_restart_between_registration_and_refresh_loses_nothing(open: Open<'_>) {
    let (pem, clock) = (pem(), ManualClock::new(START));
    let client = host(open, &pem, &clock).register();
    let h = host(open, &pem, &clock);
    let code = h.code(&client);
    drop(h);
    let h = host(open, &pem, &clock);
    let first = h.exchange(&client, &code).unwrap();
    drop(h);
    let h = host(open, &pem, &clock);
    assert_eq!(h.call(&first.access_token), None);
    let second = h.refresh(&client, refresh_of(&first)).unwrap();
    drop(h);
    let h = host(open, &pem, &clock);
    assert_eq!(
        h.refresh(&client, refresh_of(&first)),
        Err(OAuthServerError::RefreshReused)
    );
    assert_eq!(h.call(&second.access_token), Some(Reason::Revoked));
    drop(h);
    // The family's revocation is replayed into the new Guard.
    let h = host(open, &pem, &clock);
    assert_eq!(h.call(&first.access_token), Some(Reason::Revoked));
    assert_eq!(h.call(&second.access_token), Some(Reason::Revoked));
    assert_eq!(
        h.refresh(&client, refresh_of(&second)),
        Err(OAuthServerError::RefreshRevoked)
    );
}

/// A code used a second time, after a restart, revokes what the first use
/// produced.
pub fn a_reused_code_after_a_restart_still_revokes_what_it_produced(open: Open<'_>) {
    let (pem, clock) = (pem(), ManualClock::new(START));
    let h = host(open, &pem, &clock);
    let client = h.register();
    let code = h.code(&client);
    let t = h.exchange(&client, &code).unwrap();
    drop(h);
    let h = host(open, &pem, &clock);
    assert_eq!(
        h.exchange(&client, &code),
        Err(OAuthServerError::CodeReused)
    );
    assert_eq!(h.call(&t.access_token), Some(Reason::Revoked));
}

/// A refresh token rotated on one engine and then presented to another
/// A code is shown (for a framework that checks PKCE itself before the
/// exchange) before and after it was spent, and after a restart.
pub fn a_code_is_shown_spent_or_not_after_a_restart(open: Open<'_>) {
    let (pem, clock) = (pem(), ManualClock::new(START));
    let h = host(open, &pem, &clock);
    let client = h.register();
    let code = h.code(&client);
    let shown = h.server.authorization_code(&code).unwrap().unwrap();
    assert_eq!(shown.client_id, client);
    h.exchange(&client, &code).unwrap();
    drop(h);
    let h = host(open, &pem, &clock);
    assert_eq!(h.server.authorization_code(&code).unwrap(), Some(shown));
    assert_eq!(h.server.authorization_code("unknown").unwrap(), None);
}

/// engine on the same store is a reuse: the family is revoked for both.
pub fn a_token_rotated_on_one_engine_and_reused_on_another_revokes_the_family(open: Open<'_>) {
    let (pem, clock) = (pem(), ManualClock::new(START));
    let (a, b) = (host(open, &pem, &clock), host(open, &pem, &clock));
    let (client, first) = a.grant();
    let second = a.refresh(&client, refresh_of(&first)).unwrap();
    assert_eq!(
        b.refresh(&client, refresh_of(&first)),
        Err(OAuthServerError::RefreshReused)
    );
    // Engine b revoked the family's access tokens in its Guard ...
    assert_eq!(b.call(&second.access_token), Some(Reason::Revoked));
    // ... and engine a finds the family revoked in the store.
    assert_eq!(
        a.refresh(&client, refresh_of(&second)),
        Err(OAuthServerError::RefreshRevoked)
    );
}

/// Eight threads, each on its own engine and store connection, refresh
/// one token at once: exactly one gets tokens.
pub fn concurrent_refreshes_of_one_token_let_exactly_one_through(open: Open<'_>) {
    let (pem, clock) = (pem(), ManualClock::new(START));
    let (client, t) = host(open, &pem, &clock).grant();
    let refresh = refresh_of(&t).to_string();
    let hosts: Vec<Host> = (0..8).map(|_| host(open, &pem, &clock)).collect();
    let outcomes: Vec<Result<TokenResponse, OAuthServerError>> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|h| s.spawn(|| h.refresh(&client, &refresh)))
            .collect();
        handles.into_iter().map(|j| j.join().unwrap()).collect()
    });
    let wins = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(wins, 1, "{outcomes:?}");
    for e in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert!(
            matches!(
                e,
                OAuthServerError::RefreshReused | OAuthServerError::RefreshRevoked
            ),
            "{e}"
        );
    }
}

/// One code redeemed on four connections at once is redeemed once.
pub fn one_code_redeemed_on_four_connections_is_redeemed_once(open: Open<'_>) {
    let (pem, clock) = (pem(), ManualClock::new(START));
    let h = host(open, &pem, &clock);
    let client = h.register();
    let hash = credential_hash(&h.code(&client));
    let stores: Vec<Arc<dyn OAuthStore>> = (0..4).map(|_| open(&clock)).collect();
    let outcomes: Vec<CodeRedemption> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .map(|st| s.spawn(|| st.redeem_code(&hash).unwrap()))
            .collect();
        handles.into_iter().map(|j| j.join().unwrap()).collect()
    });
    let count = |f: fn(&CodeRedemption) -> bool| outcomes.iter().filter(|o| f(o)).count();
    assert_eq!(count(|o| matches!(o, CodeRedemption::Redeemed(_))), 1);
    assert_eq!(count(|o| matches!(o, CodeRedemption::Reused(_))), 3);
}

/// Purging at a time forgets the records that expired by then, and only
/// those: the code (60 s) and the access record (3600 s) go, the client and
/// the refresh token stay.
pub fn purging_forgets_only_what_expired(open: Open<'_>) {
    let (pem, clock) = (pem(), ManualClock::new(START));
    let h = host(open, &pem, &clock);
    let (client, t) = h.grant();
    assert_eq!(h.server.purge_expired().unwrap(), 0);
    clock.advance(std::time::Duration::from_secs(3601));
    assert_eq!(h.server.purge_expired().unwrap(), 2);
    assert!(h.refresh(&client, refresh_of(&t)).is_ok());
}

/// The trait's promises one by one, on the store alone: duplicates refused,
/// a pending request answered once, a tombstoned family never created,
/// revocations listed until they expire.
pub fn each_method_keeps_its_promise(open: Open<'_>) {
    let store = open(&ManualClock::new(START));
    let now = START as i64;
    let client = ClientRecord {
        client_id: "c1".into(),
        secret_hash: Some(credential_hash("secret")),
        redirect_uris: vec![CB.into()],
        grant_types: vec!["authorization_code".into()],
        token_endpoint_auth_method: "client_secret_basic".into(),
        client_name: None,
        scopes: vec![],
        issued_at: now,
        metadata: json!({"client_id": "c1"}),
    };
    store.insert_client(&client).unwrap();
    assert_eq!(
        store.insert_client(&client),
        Err(StoreError::Duplicate("client"))
    );
    assert_eq!(store.client("c1").unwrap(), Some(client));
    assert_eq!(store.client("c2").unwrap(), None);

    let pending = PendingAuthorization {
        id_hash: credential_hash("request"),
        client_id: "c1".into(),
        redirect_uri: CB.into(),
        state: Some("s".into()),
        code_challenge: CHALLENGE.into(),
        resource: R.into(),
        scopes: vec!["tag:web".into()],
        expires_at: now + 600,
    };
    store.insert_pending(&pending).unwrap();
    assert!(store.insert_pending(&pending).is_err());
    assert_eq!(
        store.pending(&pending.id_hash).unwrap(),
        Some(pending.clone())
    );
    assert_eq!(
        store.take_pending(&pending.id_hash).unwrap(),
        Some(pending.clone())
    );
    assert_eq!(store.take_pending(&pending.id_hash).unwrap(), None);

    // A family revoked before it exists (a reused code) is never created.
    let access = |jti: &str, family: Option<&str>| IssuedAccess {
        jti: jti.into(),
        expires_at: now + 3600,
        family_id: family.map(str::to_string),
    };
    assert!(store.revoke_family("f-tomb", now).unwrap().is_empty());
    let family = |id: &str| RefreshFamily {
        id: id.into(),
        client_id: "c1".into(),
        subject: "alice".into(),
        resource: R.into(),
        scope_ceiling: vec![],
        expires_at: now + 86_400,
        revoked: false,
    };
    let token = |hash: &str, family: &str| RefreshToken {
        token_hash: credential_hash(hash),
        family_id: family.into(),
        expires_at: now + 86_400,
    };
    assert!(
        !store
            .issue_family(
                &family("f-tomb"),
                Some(&token("r0", "f-tomb")),
                &access("j0", Some("f-tomb"))
            )
            .unwrap()
    );
    assert_eq!(store.refresh_token(&credential_hash("r0")).unwrap(), None);

    // Issue, rotate, reuse: the reuse revokes the family and its tokens.
    assert!(
        store
            .issue_family(
                &family("f1"),
                Some(&token("r1", "f1")),
                &access("j1", Some("f1"))
            )
            .unwrap()
    );
    let (t, f) = store
        .refresh_token(&credential_hash("r1"))
        .unwrap()
        .unwrap();
    assert_eq!((t, f), (token("r1", "f1"), family("f1")));
    assert_eq!(
        store
            .rotate_refresh(
                &credential_hash("r1"),
                &token("r2", "f1"),
                &access("j2", Some("f1"))
            )
            .unwrap(),
        Rotation::Rotated(family("f1"))
    );
    let Rotation::Reused(f, mut tokens) = store
        .rotate_refresh(
            &credential_hash("r1"),
            &token("r3", "f1"),
            &access("j3", Some("f1")),
        )
        .unwrap()
    else {
        panic!("a second rotation of r1 is a reuse");
    };
    assert!(f.revoked);
    tokens.sort_by(|a, b| a.jti.cmp(&b.jti));
    assert_eq!(
        tokens,
        vec![access("j1", Some("f1")), access("j2", Some("f1"))]
    );
    assert!(matches!(
        store
            .rotate_refresh(
                &credential_hash("r2"),
                &token("r4", "f1"),
                &access("j4", Some("f1"))
            )
            .unwrap(),
        Rotation::Revoked(_)
    ));
    assert_eq!(
        store
            .rotate_refresh(
                &credential_hash("nope"),
                &token("r5", "f1"),
                &access("j5", Some("f1"))
            )
            .unwrap(),
        Rotation::Unknown
    );

    // One access token revoked alone; the list holds it and the family's.
    store.revoke_access(&access("j9", None)).unwrap();
    let mut revoked: Vec<String> = store
        .revoked_access(now)
        .unwrap()
        .into_iter()
        .map(|a| a.jti)
        .collect();
    revoked.sort();
    assert_eq!(revoked, ["j1", "j2", "j9"]);
    assert!(store.revoked_access(now + 3600).unwrap().is_empty());
}
