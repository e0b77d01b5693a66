//! Where the authorization server keeps its state: the [`OAuthStore`]
//! trait and [`MemoryOAuthStore`], the in-process implementation.
//!
//! The engine decides; the store only keeps records and makes each write
//! that issues or rotates a credential atomic, so two requests racing on one
//! code or one refresh token can never both win. Every credential is stored
//! as its hash (`sha256:<hex>`, see [`credential_hash`](super::credential_hash)),
//! never in clear. Times are Unix seconds.
//!
//! A file-backed store lives in its own crate (`mcpguard-sqlite`), a
//! shared one in `mcpguard-redis`; a backend only has to keep the promises
//! written on each method, which `mcpguard_testkit::oauth_store` checks.

use std::collections::HashMap;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// A registered client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The client id the server assigned.
    pub client_id: String,
    /// The hash of the client secret; `None` for a public client.
    pub secret_hash: Option<String>,
    /// Registered redirect URIs, as registered.
    pub redirect_uris: Vec<String>,
    /// Grant types the client may use.
    pub grant_types: Vec<String>,
    /// `none`, `client_secret_basic` or `client_secret_post`.
    pub token_endpoint_auth_method: String,
    /// The client's display name, if it gave one.
    pub client_name: Option<String>,
    /// The `tag:` scopes the client may ever get; empty: every tag.
    pub scopes: Vec<String>,
    /// When it registered.
    pub issued_at: i64,
    /// The registration response without the secret (RFC 7591 §3.2.1), for
    /// hosts that show or return it again.
    pub metadata: serde_json::Value,
}

/// An authorization request waiting for the user's consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// Hash of the request id the consent page carries.
    pub id_hash: String,
    /// The client asking.
    pub client_id: String,
    /// The redirect URI exactly as the client sent it.
    pub redirect_uri: String,
    /// The client's `state`, returned unchanged.
    pub state: Option<String>,
    /// The PKCE `S256` challenge.
    pub code_challenge: String,
    /// The resource (RFC 8707) the token will be for.
    pub resource: String,
    /// The scopes asked for, checked and normalised.
    pub scopes: Vec<String>,
    /// When the request is forgotten.
    pub expires_at: i64,
}

/// An authorization code, issued after consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationCode {
    /// Hash of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// The PKCE `S256` challenge.
    pub code_challenge: String,
    /// The resource bound into the code.
    pub resource: String,
    /// The scopes the user granted.
    pub scopes: Vec<String>,
    /// The user who consented.
    pub subject: String,
    /// When the code expires.
    pub expires_at: i64,
    /// The refresh family the exchange creates, chosen in advance so that a
    /// second use of the code can revoke what the first produced.
    pub family_id: String,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeRedemption {
    /// First use: the code is now spent.
    Redeemed(AuthorizationCode),
    /// The code was spent before.
    Reused(AuthorizationCode),
    /// No such code.
    Unknown,
}

/// A chain of refresh tokens descending from one grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshFamily {
    /// Family id.
    pub id: String,
    /// The client the grant belongs to.
    pub client_id: String,
    /// The user (or, for a machine client, the client).
    pub subject: String,
    /// The resource every token of the family is for.
    pub resource: String,
    /// The most any token of the family may carry.
    pub scope_ceiling: Vec<String>,
    /// Absolute end of the family, whatever the rotations.
    pub expires_at: i64,
    /// Whether the family was revoked.
    pub revoked: bool,
}

/// One refresh token of a family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// Hash of the token.
    pub token_hash: String,
    /// The family it belongs to.
    pub family_id: String,
    /// When this token expires (never after its family).
    pub expires_at: i64,
}

/// An access token the server issued, remembered so it can be revoked
/// with its family (or alone) and the revocation replayed after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedAccess {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp`.
    pub expires_at: i64,
    /// The family it came from (`None` for the client credentials grant).
    pub family_id: Option<String>,
}

/// What rotating a refresh token found.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The old token is spent, the new one stored, the access token recorded.
    Rotated(RefreshFamily),
    /// The old token had been rotated before: the family is now revoked, and
    /// these are its access tokens that have not expired.
    Reused(RefreshFamily, Vec<IssuedAccess>),
    /// The family was revoked earlier; nothing was written.
    Revoked(RefreshFamily),
    /// No such token; nothing was written.
    Unknown,
}

/// A store failed (I/O, corruption, a broken invariant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A record with this key exists already.
    #[error("a {0} with this id exists already")]
    Duplicate(&'static str),
    /// The backend failed.
    #[error("{0}")]
    Backend(String),
    /// A stored record does not decode.
    #[error("a stored {0} record is corrupt: {1}")]
    Corrupt(&'static str, String),
}

/// The authorization server's storage. Every method is one atomic step:
/// when two calls race, the outcome is that of some order of the two.
pub trait OAuthStore: Send + Sync {
    /// Stores a new client; [`StoreError::Duplicate`] if the id is taken.
    fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;

    /// The client with this id.
    fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;

    /// Stores a pending authorization request.
    fn insert_pending(&self, pending: &PendingAuthorization) -> Result<(), StoreError>;

    /// The pending request with this id hash, left in place.
    fn pending(&self, id_hash: &str) -> Result<Option<PendingAuthorization>, StoreError>;

    /// Removes and returns the pending request: a consent answers it once.
    fn take_pending(&self, id_hash: &str) -> Result<Option<PendingAuthorization>, StoreError>;

    /// Stores a new authorization code.
    fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError>;

    /// The code with this hash, spent or not, left in place: for adapters
    /// whose framework looks a code up before it is exchanged (a spent code
    /// is returned so that its second use still reaches
    /// [`OAuthStore::redeem_code`] and revokes what the first produced).
    fn code(&self, code_hash: &str) -> Result<Option<AuthorizationCode>, StoreError>;

    /// Spends a code: the first call for a hash gets
    /// [`CodeRedemption::Redeemed`], every later one [`CodeRedemption::Reused`].
    /// A spent code is remembered until [`OAuthStore::purge_expired`] removes
    /// it after its expiry.
    fn redeem_code(&self, code_hash: &str) -> Result<CodeRedemption, StoreError>;

    /// In one step: creates `family` with its first refresh token (if any)
    /// and records `access`. Returns `false` and writes nothing when the
    /// family id was revoked already (a reused code got there first).
    fn issue_family(
        &self,
        family: &RefreshFamily,
        refresh: Option<&RefreshToken>,
        access: &IssuedAccess,
    ) -> Result<bool, StoreError>;

    /// The refresh token with this hash and its family.
    fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(RefreshToken, RefreshFamily)>, StoreError>;

    /// In one step: spends the refresh token `old_hash`, stores `new` in the
    /// same family and records `access` — or, when `old_hash` was spent
    /// before, revokes the family and returns [`Rotation::Reused`].
    fn rotate_refresh(
        &self,
        old_hash: &str,
        new: &RefreshToken,
        access: &IssuedAccess,
    ) -> Result<Rotation, StoreError>;

    /// Revokes a family (remembering the id even if it does not exist yet)
    /// and returns its access tokens that expire after `now`.
    fn revoke_family(&self, family_id: &str, now: i64) -> Result<Vec<IssuedAccess>, StoreError>;

    /// Records that one access token was revoked (RFC 7009).
    fn revoke_access(&self, access: &IssuedAccess) -> Result<(), StoreError>;

    /// Every revoked access token that expires after `now` (revoked alone or
    /// with its family), for the Guard's deny-list after a restart.
    fn revoked_access(&self, now: i64) -> Result<Vec<IssuedAccess>, StoreError>;

    /// Forgets what expired before `now` (pending requests, codes, refresh
    /// tokens, families, access records); returns how many records went.
    fn purge_expired(&self, now: i64) -> Result<usize, StoreError>;
}

#[derive(Default)]
struct State {
    clients: HashMap<String, ClientRecord>,
    pending: HashMap<String, PendingAuthorization>,
    /// Code hash to (code, spent).
    codes: HashMap<String, (AuthorizationCode, bool)>,
    families: HashMap<String, RefreshFamily>,
    /// Token hash to (token, spent).
    refresh: HashMap<String, (RefreshToken, bool)>,
    /// jti to (record, revoked).
    access: HashMap<String, (IssuedAccess, bool)>,
}

/// The in-memory store: everything in one map set behind one lock, so each
/// method is trivially atomic. Lost when the process exits.
#[derive(Default)]
pub struct MemoryOAuthStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryOAuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("MemoryOAuthStore")
            .field("clients", &s.clients.len())
            .field("families", &s.families.len())
            .finish_non_exhaustive()
    }
}

impl MemoryOAuthStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn family_access(state: &State, family_id: &str, now: i64) -> Vec<IssuedAccess> {
    state
        .access
        .values()
        .filter(|(a, _)| a.family_id.as_deref() == Some(family_id) && a.expires_at > now)
        .map(|(a, _)| a.clone())
        .collect()
}

impl OAuthStore for MemoryOAuthStore {
    fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        if s.clients.contains_key(&client.client_id) {
            return Err(StoreError::Duplicate("client"));
        }
        s.clients.insert(client.client_id.clone(), client.clone());
        Ok(())
    }

    fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.state.lock().clients.get(client_id).cloned())
    }

    fn insert_pending(&self, pending: &PendingAuthorization) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        if s.pending.contains_key(&pending.id_hash) {
            return Err(StoreError::Duplicate("pending authorization"));
        }
        s.pending.insert(pending.id_hash.clone(), pending.clone());
        Ok(())
    }

    fn pending(&self, id_hash: &str) -> Result<Option<PendingAuthorization>, StoreError> {
        Ok(self.state.lock().pending.get(id_hash).cloned())
    }

    fn take_pending(&self, id_hash: &str) -> Result<Option<PendingAuthorization>, StoreError> {
        Ok(self.state.lock().pending.remove(id_hash))
    }

    fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        if s.codes.contains_key(&code.code_hash) {
            return Err(StoreError::Duplicate("authorization code"));
        }
        s.codes
            .insert(code.code_hash.clone(), (code.clone(), false));
        Ok(())
    }

    fn code(&self, code_hash: &str) -> Result<Option<AuthorizationCode>, StoreError> {
        Ok(self
            .state
            .lock()
            .codes
            .get(code_hash)
            .map(|(c, _)| c.clone()))
    }

    fn redeem_code(&self, code_hash: &str) -> Result<CodeRedemption, StoreError> {
        let mut s = self.state.lock();
        Ok(match s.codes.get_mut(code_hash) {
            None => CodeRedemption::Unknown,
            Some((code, spent)) if *spent => CodeRedemption::Reused(code.clone()),
            Some((code, spent)) => {
                *spent = true;
                CodeRedemption::Redeemed(code.clone())
            }
        })
    }

    fn issue_family(
        &self,
        family: &RefreshFamily,
        refresh: Option<&RefreshToken>,
        access: &IssuedAccess,
    ) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        if let Some(existing) = s.families.get(&family.id) {
            if existing.revoked {
                return Ok(false);
            }
            return Err(StoreError::Duplicate("refresh family"));
        }
        if let Some(r) = refresh
            && s.refresh.contains_key(&r.token_hash)
        {
            return Err(StoreError::Duplicate("refresh token"));
        }
        s.families.insert(family.id.clone(), family.clone());
        if let Some(r) = refresh {
            s.refresh.insert(r.token_hash.clone(), (r.clone(), false));
        }
        s.access.insert(access.jti.clone(), (access.clone(), false));
        Ok(true)
    }

    fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(RefreshToken, RefreshFamily)>, StoreError> {
        let s = self.state.lock();
        Ok(s.refresh
            .get(token_hash)
            .and_then(|(t, _)| s.families.get(&t.family_id).map(|f| (t.clone(), f.clone()))))
    }

    fn rotate_refresh(
        &self,
        old_hash: &str,
        new: &RefreshToken,
        access: &IssuedAccess,
    ) -> Result<Rotation, StoreError> {
        let mut s = self.state.lock();
        let Some((old, spent)) = s.refresh.get(old_hash).cloned() else {
            return Ok(Rotation::Unknown);
        };
        let Some(family) = s.families.get(&old.family_id).cloned() else {
            return Ok(Rotation::Unknown);
        };
        if family.revoked {
            return Ok(Rotation::Revoked(family));
        }
        if spent {
            let mut family = family;
            family.revoked = true;
            s.families.insert(family.id.clone(), family.clone());
            // The store has no clock: every recorded token is returned and
            // the engine drops those already expired.
            let tokens = family_access(&s, &family.id, i64::MIN);
            for t in &tokens {
                if let Some(entry) = s.access.get_mut(&t.jti) {
                    entry.1 = true;
                }
            }
            return Ok(Rotation::Reused(family, tokens));
        }
        if s.refresh.contains_key(&new.token_hash) {
            return Err(StoreError::Duplicate("refresh token"));
        }
        if let Some(entry) = s.refresh.get_mut(old_hash) {
            entry.1 = true;
        }
        s.refresh
            .insert(new.token_hash.clone(), (new.clone(), false));
        s.access.insert(access.jti.clone(), (access.clone(), false));
        Ok(Rotation::Rotated(family))
    }

    fn revoke_family(&self, family_id: &str, now: i64) -> Result<Vec<IssuedAccess>, StoreError> {
        let mut s = self.state.lock();
        match s.families.get_mut(family_id) {
            Some(f) => f.revoked = true,
            None => {
                // A tombstone: the family a reused code would have produced
                // can no longer be created.
                s.families.insert(
                    family_id.to_string(),
                    RefreshFamily {
                        id: family_id.to_string(),
                        client_id: String::new(),
                        subject: String::new(),
                        resource: String::new(),
                        scope_ceiling: Vec::new(),
                        expires_at: now.saturating_add(TOMBSTONE_SECONDS),
                        revoked: true,
                    },
                );
            }
        }
        let tokens = family_access(&s, family_id, now);
        for t in &tokens {
            if let Some(entry) = s.access.get_mut(&t.jti) {
                entry.1 = true;
            }
        }
        Ok(tokens)
    }

    fn revoke_access(&self, access: &IssuedAccess) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        s.access
            .entry(access.jti.clone())
            .or_insert_with(|| (access.clone(), true))
            .1 = true;
        Ok(())
    }

    fn revoked_access(&self, now: i64) -> Result<Vec<IssuedAccess>, StoreError> {
        let s = self.state.lock();
        Ok(s.access
            .values()
            .filter(|(a, revoked)| {
                a.expires_at > now
                    && (*revoked
                        || a.family_id
                            .as_ref()
                            .and_then(|f| s.families.get(f))
                            .is_some_and(|f| f.revoked))
            })
            .map(|(a, _)| a.clone())
            .collect())
    }

    fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let mut s = self.state.lock();
        let before = s.pending.len() + s.codes.len() + s.refresh.len() + s.families.len();
        let before = before + s.access.len();
        s.pending.retain(|_, p| p.expires_at >= now);
        s.codes.retain(|_, (c, _)| c.expires_at >= now);
        s.refresh.retain(|_, (r, _)| r.expires_at >= now);
        s.families.retain(|_, f| f.expires_at >= now);
        s.access.retain(|_, (a, _)| a.expires_at >= now);
        let after = s.pending.len() + s.codes.len() + s.refresh.len() + s.families.len();
        Ok(before - after - s.access.len())
    }
}

/// How long a family tombstone (a family revoked before it existed) is
/// kept: longer than any authorization code lives.
pub const TOMBSTONE_SECONDS: i64 = 3600;
