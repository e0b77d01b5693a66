//! Revocations and opaque tokens in Redis, for every replica.
//!
//! Keys (all in the `{tok}` hash slot): `<prefix>{tok}:rev:<sha256 hex>`
//! for a revocation (held for the token's remaining life), `<prefix>{tok}:op:<sha256 hex>`
//! for an opaque token's entry (expiring with the token), and
//! `<prefix>{tok}:epoch`, which every revocation and opaque removal moves
//! in the same script (atomic, one round trip, on a cluster too). Validators poll the epoch at most once a second
//! and drop their verified-token cache when it moved: the bound on how long
//! a revoked token stays usable elsewhere.

use std::sync::LazyLock;

use mcpguard::shared::{OnError, SharedId, SharedStoreError, SharedTokenStore};
use redis::Script;

/// Holds a revocation (`ARGV[1]` seconds, 0: until withdrawn) and moves the
/// epoch, in one step. A script rather than a MULTI pipeline: a cluster
/// connection sends scripts (to the slot's node) but not transactions.
static REVOKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if ARGV[1] == '0' then redis.call('SET', KEYS[1], 1) \
         else redis.call('SET', KEYS[1], 1, 'EX', ARGV[1]) end \
         redis.call('INCR', KEYS[2])",
    )
});

/// Removes an opaque token's entry and moves the epoch, in one step.
static REMOVE: LazyLock<Script> =
    LazyLock::new(|| Script::new("redis.call('DEL', KEYS[1]) redis.call('INCR', KEYS[2])"));

use crate::store::RedisStore;

impl SharedTokenStore for RedisStore {
    fn revoke(&self, id: &SharedId, ttl_secs: Option<u64>) -> Result<(), SharedStoreError> {
        let key = self.token_key("rev", id);
        let epoch = self.epoch_key();
        let mut call = REVOKE.key(&key);
        call.key(&epoch).arg(ttl_secs.map_or(0, |t| t.max(1)));
        self.call(|c| call.invoke::<()>(c))
    }

    fn any_revoked(&self, ids: &[SharedId]) -> Result<bool, SharedStoreError> {
        let keys: Vec<String> = ids.iter().map(|id| self.token_key("rev", id)).collect();
        self.call(|c| redis::cmd("EXISTS").arg(&keys).query::<u64>(c))
            .map(|n| n > 0)
    }

    fn epoch(&self) -> Result<u64, SharedStoreError> {
        let key = self.epoch_key();
        self.call(|c| redis::cmd("GET").arg(&key).query::<Option<u64>>(c))
            .map(|e| e.unwrap_or(0))
    }

    fn insert_opaque(
        &self,
        digest: &SharedId,
        entry_json: &str,
        ttl_secs: Option<u64>,
    ) -> Result<(), SharedStoreError> {
        let key = self.token_key("op", digest);
        self.call(|c| {
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key).arg(entry_json);
            if let Some(ttl) = ttl_secs {
                cmd.arg("EX").arg(ttl.max(1));
            }
            cmd.query::<()>(c)
        })
    }

    fn lookup_opaque(&self, digest: &SharedId) -> Result<Option<String>, SharedStoreError> {
        let key = self.token_key("op", digest);
        self.call(|c| redis::cmd("GET").arg(&key).query::<Option<String>>(c))
    }

    fn remove_opaque(&self, digest: &SharedId) -> Result<(), SharedStoreError> {
        let key = self.token_key("op", digest);
        let epoch = self.epoch_key();
        let mut call = REMOVE.key(&key);
        call.key(&epoch);
        self.call(|c| call.invoke::<()>(c))
    }

    fn on_error(&self) -> OnError {
        self.on_error
    }
}
