//! The opaque-token store: tokens the host issued itself, looked up instead
//! of verified.
//!
//! Decides whether a string may be an opaque token at all
//! ([`is_opaque_candidate`]: no dot, RFC 6750 token characters), and for a
//! stored one whether it is current and meant for this resource, yielding a
//! [`Principal`] of kind [`TokenKind::Opaque`]. Issuing tokens, persisting
//! them across restarts and deciding the audience (`audience_ok`) are left to
//! the host.
//!
//! The store never holds a token: entries are keyed by the token's SHA-256
//! digest (map key: its first 16 bytes), and a hit compares the full stored
//! digest in constant time. At most `capacity` entries; when full, an
//! insert first purges entries past their `expires_at` (a scan, done only
//! when full and only when something may have expired since the last scan,
//! so it is amortised over the entries it frees) and otherwise fails with
//! [`OpaqueError::Full`], never dropping a live entry.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, SHA256_OUTPUT_LEN, digest};
use parking_lot::RwLock;
use serde_json::{Map, Value};

use crate::reason::Reason;
use crate::token::{Principal, TokenKind};

/// The longest opaque token accepted, in bytes.
pub const MAX_OPAQUE_TOKEN_BYTES: usize = 4096;

/// Whether `token` has the shape of an opaque token: non-empty, no dot, and
/// RFC 6750 `b64token` characters (`ALPHA DIGIT - _ ~ + /`, then optional
/// trailing `=`), i.e. the `b64token` alphabet without `.`, which marks a
/// JWT. Length is not checked here ([`MAX_OPAQUE_TOKEN_BYTES`] applies to
/// the store).
///
/// ```
/// use mcpguard::token::opaque::is_opaque_candidate;
/// assert!(is_opaque_candidate("mF_9B5f-41JqM"));
/// assert!(is_opaque_candidate("abc+/~=="));
/// assert!(!is_opaque_candidate("eyJ.eyJ.sig"));
/// assert!(!is_opaque_candidate("=="));
/// assert!(!is_opaque_candidate("a=b"));
/// ```
pub fn is_opaque_candidate(token: &str) -> bool {
    let bytes = token.as_bytes();
    let body_len = bytes.len() - bytes.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &bytes[..body_len];
    !body.is_empty()
        && body
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b'+' | b'/'))
}

/// What the store knows about one opaque token.
///
/// Bindings and hosts that hold the entry as JSON read it with
/// [`OpaqueEntry::from_json`]: an object with the optional members
/// `client_id`, `subject`, `scopes`, `roles`, `resource` and `expires_at`
/// (whole Unix seconds); an unknown or repeated member is an error.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpaqueEntry {
    /// The client the token was issued to.
    pub client_id: Option<String>,
    /// The subject (user) the token speaks for.
    pub subject: Option<String>,
    /// Granted scopes, in order (`tag:` scopes grant tags).
    pub scopes: Vec<String>,
    /// Role names.
    pub roles: Vec<String>,
    /// The resource (audience) the token is for; `None`: any.
    pub resource: Option<String>,
    /// Expiry in Unix seconds; `None`: valid until revoked.
    pub expires_at: Option<i64>,
}

impl OpaqueEntry {
    /// Reads an entry from JSON text (see the type's documentation for the
    /// members). Errors name the member at fault (`scopes[1]`).
    ///
    /// ```
    /// use mcpguard::token::opaque::OpaqueEntry;
    /// let e = OpaqueEntry::from_json(r#"{"client_id": "cli", "scopes": ["tag:web"]}"#).unwrap();
    /// assert_eq!(e.scopes, ["tag:web"]);
    /// assert!(OpaqueEntry::from_json(r#"{"scope": "tag:web"}"#).is_err());
    /// ```
    pub fn from_json(text: &str) -> Result<OpaqueEntry, crate::ConfigError> {
        // serde would also read a struct from an array; an entry is an object.
        if !text.trim_start().starts_with('{') {
            return Err(not_an_object());
        }
        crate::error::from_str(text)
    }

    /// Reads an entry from an already parsed JSON value, as
    /// [`OpaqueEntry::from_json`] does.
    pub fn from_value(value: &Value) -> Result<OpaqueEntry, crate::ConfigError> {
        if !value.is_object() {
            return Err(not_an_object());
        }
        crate::error::from_value(value)
    }
}

fn not_an_object() -> crate::ConfigError {
    crate::ConfigError::new("", "an opaque-token entry must be a JSON object")
}

/// Why an opaque token was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpaqueError {
    /// The store holds `capacity` unexpired tokens.
    #[error("the opaque-token store is full: {capacity} unexpired tokens are held")]
    Full {
        /// The store's capacity.
        capacity: usize,
    },
    /// The token is empty, longer than 4096 bytes, contains a dot, or holds
    /// a character outside RFC 6750's token characters.
    #[error(
        "an opaque token must be 1 to 4096 RFC 6750 token characters \
         (A-Z a-z 0-9 - _ ~ + / then optional trailing =) without a dot"
    )]
    InvalidToken,
    /// The entry's `expires_at` is not after the current time.
    #[error("the opaque token has already expired")]
    Expired,
    /// `auth.opaque_tokens` is off, so there is no store to insert into.
    #[error("opaque tokens are not enabled (auth.opaque_tokens is false)")]
    Disabled,
    /// The shared store did not take the token (`on_error: fail_closed`);
    /// this process holds it, other replicas do not. Retry.
    #[error("the shared store is unavailable: the opaque token reached this process only; retry")]
    StoreUnavailable,
}

impl OpaqueError {
    /// A stable snake_case code for bindings and conformance vectors:
    /// `full`, `invalid_token`, `expired` or `disabled`.
    pub fn code(&self) -> &'static str {
        match self {
            OpaqueError::Full { .. } => "full",
            OpaqueError::InvalidToken => "invalid_token",
            OpaqueError::Expired => "expired",
            OpaqueError::Disabled => "disabled",
            OpaqueError::StoreUnavailable => "store_unavailable",
        }
    }
}

struct Stored {
    digest: [u8; SHA256_OUTPUT_LEN],
    entry: OpaqueEntry,
}

struct Inner {
    map: HashMap<u128, Stored>,
    /// No entry expires before this (a lower bound: revoked entries may have
    /// set it); a purge before it could free nothing.
    earliest_expiry: i64,
}

/// An in-memory store of opaque tokens, keyed by SHA-256 of the token.
///
/// ```
/// use mcpguard::token::opaque::{OpaqueEntry, OpaqueStore};
/// let store = OpaqueStore::new(1_000);
/// let now = 1_767_225_600;
/// let entry = OpaqueEntry { client_id: Some("cli".into()),
///     scopes: vec!["tag:web".into()], expires_at: Some(now + 3600), ..Default::default() };
/// store.insert("s3cr3tOpaqueToken", entry, now).unwrap();
/// let p = store.lookup("s3cr3tOpaqueToken", now, 30, &|_| true).unwrap();
/// assert_eq!(p.scopes, ["tag:web"]);
/// ```
pub struct OpaqueStore {
    inner: RwLock<Inner>,
    capacity: usize,
}

impl fmt::Debug for OpaqueStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpaqueStore")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

pub(crate) fn sha256(token: &str) -> ([u8; SHA256_OUTPUT_LEN], u128) {
    let mut out = [0u8; SHA256_OUTPUT_LEN];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    let mut prefix = [0u8; 16];
    prefix.copy_from_slice(&out[..16]);
    (out, u128::from_le_bytes(prefix))
}

impl OpaqueStore {
    /// A store of at most `capacity` tokens.
    pub fn new(capacity: usize) -> OpaqueStore {
        OpaqueStore {
            inner: RwLock::new(Inner {
                map: HashMap::new(),
                earliest_expiry: i64::MAX,
            }),
            capacity,
        }
    }

    /// Stores `entry` for `token` (replacing an entry for the same token).
    ///
    /// Fails with [`OpaqueError::InvalidToken`] unless `token` passes
    /// [`is_opaque_candidate`] and is at most [`MAX_OPAQUE_TOKEN_BYTES`]
    /// long, with [`OpaqueError::Expired`] when `entry.expires_at <=
    /// now_secs`, and with [`OpaqueError::Full`] when the store is full of
    /// unexpired entries.
    pub fn insert(
        &self,
        token: &str,
        entry: OpaqueEntry,
        now_secs: i64,
    ) -> Result<(), OpaqueError> {
        if token.len() > MAX_OPAQUE_TOKEN_BYTES || !is_opaque_candidate(token) {
            return Err(OpaqueError::InvalidToken);
        }
        if entry.expires_at.is_some_and(|exp| exp <= now_secs) {
            return Err(OpaqueError::Expired);
        }
        let (digest, key) = sha256(token);
        let expiry = entry.expires_at.unwrap_or(i64::MAX);
        let mut inner = self.inner.write();
        if !inner.map.contains_key(&key) && inner.map.len() >= self.capacity {
            if now_secs >= inner.earliest_expiry {
                inner
                    .map
                    .retain(|_, s| s.entry.expires_at.is_none_or(|exp| exp > now_secs));
                inner.earliest_expiry = inner
                    .map
                    .values()
                    .filter_map(|s| s.entry.expires_at)
                    .min()
                    .unwrap_or(i64::MAX);
            }
            if inner.map.len() >= self.capacity {
                return Err(OpaqueError::Full {
                    capacity: self.capacity,
                });
            }
        }
        // A 128-bit SHA-256 prefix shared by two tokens is not a practical
        // event; the later token would replace the earlier one.
        inner.map.insert(key, Stored { digest, entry });
        inner.earliest_expiry = inner.earliest_expiry.min(expiry);
        Ok(())
    }

    /// Removes `token`; true if it was stored.
    pub fn revoke(&self, token: &str) -> bool {
        let (digest, key) = sha256(token);
        let mut inner = self.inner.write();
        let ours = inner
            .map
            .get(&key)
            .is_some_and(|s| verify_slices_are_equal(&s.digest, &digest).is_ok());
        ours && inner.map.remove(&key).is_some()
    }

    /// Looks `token` up at `now_secs`.
    ///
    /// An unknown token is [`Reason::Inactive`]; one with `now_secs >=
    /// expires_at + leeway` is [`Reason::Expired`]; one whose `resource`
    /// fails `audience_ok` is [`Reason::WrongAudience`]. A match gives a
    /// principal of kind [`TokenKind::Opaque`] with issuer `""`, audience
    /// `[resource]` (or `[]`), and as claims a JSON object in the shape of an
    /// RFC 7662 response: `active`, then `client_id`, `sub`, `scope`
    /// (space-joined), `roles`, `aud`, `exp` when set (never the token).
    pub fn lookup(
        &self,
        token: &str,
        now_secs: i64,
        leeway: i64,
        audience_ok: &dyn Fn(&str) -> bool,
    ) -> Result<Principal, (Reason, &'static str)> {
        let inactive = (Reason::Inactive, Reason::Inactive.description());
        if token.len() > MAX_OPAQUE_TOKEN_BYTES {
            // Never stored, so unknown; spares hashing a huge input.
            return Err(inactive);
        }
        let (digest, key) = sha256(token);
        let entry = {
            let inner = self.inner.read();
            let stored = inner.map.get(&key).ok_or(inactive)?;
            verify_slices_are_equal(&stored.digest, &digest).map_err(|_| inactive)?;
            stored.entry.clone()
        };
        if entry
            .expires_at
            .is_some_and(|exp| now_secs >= exp.saturating_add(leeway.max(0)))
        {
            return Err((Reason::Expired, Reason::Expired.description()));
        }
        if let Some(resource) = &entry.resource
            && !audience_ok(resource)
        {
            return Err((Reason::WrongAudience, Reason::WrongAudience.description()));
        }
        Ok(principal_of(entry))
    }

    /// The number of tokens held (expired ones included until purged).
    pub fn len(&self) -> usize {
        self.inner.read().map.len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most tokens held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

fn principal_of(entry: OpaqueEntry) -> Principal {
    let mut claims = Map::new();
    claims.insert("active".into(), Value::Bool(true));
    if let Some(client_id) = &entry.client_id {
        claims.insert("client_id".into(), client_id.as_str().into());
    }
    if let Some(subject) = &entry.subject {
        claims.insert("sub".into(), subject.as_str().into());
    }
    claims.insert("scope".into(), entry.scopes.join(" ").into());
    claims.insert("roles".into(), entry.roles.clone().into());
    if let Some(resource) = &entry.resource {
        claims.insert("aud".into(), resource.as_str().into());
    }
    if let Some(exp) = entry.expires_at {
        claims.insert("exp".into(), exp.into());
    }
    let claims_json: Arc<str> = Value::Object(claims).to_string().into();
    Principal {
        kind: TokenKind::Opaque,
        subject: entry.subject,
        client_id: entry.client_id,
        issuer: String::new(),
        audience: entry.resource.into_iter().collect(),
        scopes: entry.scopes,
        roles: entry.roles,
        tags: Vec::new(),
        rejected_scopes: Vec::new(),
        expires_at: entry.expires_at,
        jwt_id: None,
        claims_json,
        token_fingerprint: None,
        granted: None,
        rate_key: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600;
    const RESOURCE: &str = "https://mcp.example.com/mcp";

    fn entry(exp: Option<i64>) -> OpaqueEntry {
        OpaqueEntry {
            client_id: Some("cli".into()),
            subject: Some("alice".into()),
            scopes: vec!["tag:web".into(), "mcp:admin".into()],
            roles: vec!["developer".into()],
            resource: Some(RESOURCE.into()),
            expires_at: exp,
        }
    }

    fn ours(aud: &str) -> bool {
        aud == RESOURCE
    }

    #[test]
    fn an_entry_reads_from_json_with_every_member() {
        let e = OpaqueEntry::from_json(&format!(
            r#"{{"client_id": "cli", "subject": "alice", "scopes": ["tag:web", "mcp:admin"],
                "roles": ["developer"], "resource": "{RESOURCE}", "expires_at": {}}}"#,
            NOW + 60
        ))
        .unwrap();
        assert_eq!(e, entry(Some(NOW + 60)));
        assert_eq!(
            OpaqueEntry::from_json("{}").unwrap(),
            OpaqueEntry::default()
        );
        let value = serde_json::json!({"client_id": "cli"});
        assert_eq!(
            OpaqueEntry::from_value(&value)
                .unwrap()
                .client_id
                .as_deref(),
            Some("cli")
        );
        assert!(OpaqueEntry::from_value(&serde_json::json!([])).is_err());
    }

    #[test]
    fn an_entry_with_a_wrong_unknown_or_repeated_member_is_refused_by_path() {
        let bad = [
            (r#"{"scopes": ["a", 1]}"#, "scopes[1]"),
            (r#"{"expires_at": 1.5}"#, "expires_at"),
            (r#"{"expires_at": "1767225600"}"#, "expires_at"),
            (r#"{"scope": "tag:web"}"#, "scope"),
            (r#"{"subject": "a", "subject": "b"}"#, "subject"),
            ("[]", ""),
            (" [\"cli\"]", ""),
            ("null", ""),
        ];
        for (text, path) in bad {
            let err = OpaqueEntry::from_json(text).unwrap_err();
            assert!(
                err.path == path || err.to_string().contains(path),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn error_codes_are_stable() {
        let codes = [
            OpaqueError::Full { capacity: 1 }.code(),
            OpaqueError::InvalidToken.code(),
            OpaqueError::Expired.code(),
            OpaqueError::Disabled.code(),
        ];
        assert_eq!(codes, ["full", "invalid_token", "expired", "disabled"]);
    }

    #[test]
    fn candidates_are_dot_free_rfc6750_token_characters() {
        for ok in [
            "a",
            "AZaz09-_~+/",
            "abc=",
            "abc==",
            "x".repeat(5000).as_str(),
        ] {
            assert!(is_opaque_candidate(ok), "{ok}");
        }
        for bad in [
            "",
            "=",
            "==",
            "a.b",
            "eyJ.eyJ.sig",
            ".",
            "a=b",
            "a b",
            "a\tb",
            "tok\n",
            "é",
            "a%20",
            "a,b",
            "a\"b",
            "a;b",
            "a\0",
        ] {
            assert!(!is_opaque_candidate(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_inserted_token_looks_up_to_its_principal() {
        let store = OpaqueStore::new(10);
        store.insert("tokA", entry(Some(NOW + 100)), NOW).unwrap();
        let p = store.lookup("tokA", NOW, 30, &ours).unwrap();
        assert_eq!(p.kind, TokenKind::Opaque);
        assert_eq!(p.issuer, "");
        assert_eq!(p.subject.as_deref(), Some("alice"));
        assert_eq!(p.client_id.as_deref(), Some("cli"));
        assert_eq!(p.audience, [RESOURCE]);
        assert_eq!(p.scopes, ["tag:web", "mcp:admin"]);
        assert_eq!(p.roles, ["developer"]);
        assert_eq!(p.expires_at, Some(NOW + 100));
        assert_eq!(p.jwt_id, None);
        assert_eq!(
            p.claims(),
            serde_json::json!({"active": true, "client_id": "cli", "sub": "alice",
                "scope": "tag:web mcp:admin", "roles": ["developer"], "aud": RESOURCE,
                "exp": NOW + 100})
        );
        assert!(!p.claims_json.contains("tokA"));
    }

    #[test]
    fn an_entry_without_resource_has_an_empty_audience_and_accepts_any() {
        let store = OpaqueStore::new(10);
        let e = OpaqueEntry {
            resource: None,
            ..entry(None)
        };
        store.insert("tok", e, NOW).unwrap();
        let p = store.lookup("tok", NOW, 0, &|_| false).unwrap();
        assert!(p.audience.is_empty());
        assert_eq!(p.expires_at, None);
    }

    #[test]
    fn an_unknown_token_is_inactive() {
        let store = OpaqueStore::new(10);
        store.insert("tokA", entry(None), NOW).unwrap();
        let err = store.lookup("tokB", NOW, 0, &ours).unwrap_err();
        assert_eq!(err.0, Reason::Inactive);
        assert_eq!(err.1, "The access token is not active");
        let long = "a".repeat(MAX_OPAQUE_TOKEN_BYTES + 1);
        assert_eq!(
            store.lookup(&long, NOW, 0, &ours).unwrap_err().0,
            Reason::Inactive
        );
    }

    #[test]
    fn a_token_expired_beyond_the_leeway_is_expired() {
        let store = OpaqueStore::new(10);
        store.insert("tok", entry(Some(NOW + 10)), NOW).unwrap();
        assert!(store.lookup("tok", NOW + 39, 30, &ours).is_ok());
        assert_eq!(
            store.lookup("tok", NOW + 40, 30, &ours).unwrap_err().0,
            Reason::Expired
        );
        assert_eq!(
            store.lookup("tok", NOW + 10, 0, &ours).unwrap_err().0,
            Reason::Expired
        );
    }

    #[test]
    fn a_token_for_another_resource_is_wrong_audience() {
        let store = OpaqueStore::new(10);
        let e = OpaqueEntry {
            resource: Some("https://other.example.com".into()),
            ..entry(None)
        };
        store.insert("tok", e, NOW).unwrap();
        assert_eq!(
            store.lookup("tok", NOW, 0, &ours).unwrap_err().0,
            Reason::WrongAudience
        );
    }

    #[test]
    fn a_revoked_token_is_inactive() {
        let store = OpaqueStore::new(10);
        store.insert("tok", entry(None), NOW).unwrap();
        assert!(store.revoke("tok"));
        assert!(!store.revoke("tok"));
        assert_eq!(
            store.lookup("tok", NOW, 0, &ours).unwrap_err().0,
            Reason::Inactive
        );
        assert!(store.is_empty());
    }

    #[test]
    fn invalid_tokens_are_refused_and_nothing_is_stored() {
        let store = OpaqueStore::new(10);
        let long = "a".repeat(MAX_OPAQUE_TOKEN_BYTES + 1);
        for bad in ["", "a.b", "a b", "==", long.as_str()] {
            assert_eq!(
                store.insert(bad, entry(None), NOW),
                Err(OpaqueError::InvalidToken)
            );
        }
        assert!(
            store
                .insert(&"a".repeat(MAX_OPAQUE_TOKEN_BYTES), entry(None), NOW)
                .is_ok()
        );
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn an_already_expired_entry_is_refused() {
        let store = OpaqueStore::new(10);
        assert_eq!(
            store.insert("tok", entry(Some(NOW)), NOW),
            Err(OpaqueError::Expired)
        );
        assert_eq!(
            store.insert("tok", entry(Some(NOW - 1)), NOW),
            Err(OpaqueError::Expired)
        );
        assert!(store.is_empty());
    }

    #[test]
    fn a_full_store_refuses_rather_than_drops_a_live_token() {
        let store = OpaqueStore::new(2);
        store.insert("a", entry(Some(NOW + 100)), NOW).unwrap();
        store.insert("b", entry(None), NOW).unwrap();
        assert_eq!(
            store.insert("c", entry(None), NOW),
            Err(OpaqueError::Full { capacity: 2 })
        );
        assert!(store.lookup("a", NOW, 0, &ours).is_ok());
        assert!(store.lookup("b", NOW, 0, &ours).is_ok());
        // Replacing a stored token needs no room.
        store.insert("a", entry(Some(NOW + 200)), NOW).unwrap();
        assert_eq!(
            store.lookup("a", NOW, 0, &ours).unwrap().expires_at,
            Some(NOW + 200)
        );
    }

    #[test]
    fn a_full_store_purges_expired_entries_to_make_room() {
        let store = OpaqueStore::new(2);
        store.insert("a", entry(Some(NOW + 10)), NOW).unwrap();
        store.insert("b", entry(None), NOW).unwrap();
        assert!(store.insert("c", entry(None), NOW + 9).is_err());
        store.insert("c", entry(None), NOW + 10).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(
            store.lookup("a", NOW + 10, 60, &ours).unwrap_err().0,
            Reason::Inactive
        );
    }

    #[test]
    fn a_purge_after_a_revocation_recomputes_the_earliest_expiry() {
        let store = OpaqueStore::new(2);
        store.insert("a", entry(Some(NOW + 10)), NOW).unwrap();
        store.insert("b", entry(Some(NOW + 50)), NOW).unwrap();
        store.revoke("a");
        store.insert("c", entry(None), NOW).unwrap();
        assert!(store.insert("d", entry(None), NOW + 20).is_err());
        assert_eq!(store.inner.read().earliest_expiry, NOW + 50);
        store.insert("d", entry(None), NOW + 50).unwrap();
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn the_store_never_holds_the_token_text() {
        let store = OpaqueStore::new(10);
        let token = "VerySecretOpaqueTokenValue123";
        store.insert(token, entry(None), NOW).unwrap();
        assert!(!format!("{store:?}").contains(token));
        let inner = store.inner.read();
        for (key, stored) in inner.map.iter() {
            let (digest, prefix) = sha256(token);
            assert_eq!(*key, prefix);
            assert_eq!(stored.digest, digest);
            // Nothing else in an entry is derived from the token.
            assert_eq!(stored.entry, entry(None));
        }
    }

    #[test]
    fn a_colliding_key_with_another_digest_is_not_a_match() {
        let store = OpaqueStore::new(10);
        let (_, key) = sha256("victim");
        let (other, _) = sha256("other");
        store.inner.write().map.insert(
            key,
            Stored {
                digest: other,
                entry: entry(None),
            },
        );
        assert_eq!(
            store.lookup("victim", NOW, 0, &ours).unwrap_err().0,
            Reason::Inactive
        );
        assert!(!store.revoke("victim"));
    }
}
