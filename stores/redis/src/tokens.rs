//! Revocations and opaque tokens in Redis, for every replica.
//!
//! Keys (all in the `{tok}` hash slot): `<prefix>{tok}:rev:<sha256 hex>`
//! for a revocation (held for the token's remaining life), `<prefix>{tok}:op:<sha256 hex>`
//! for an opaque token's entry (expiring with the token), and
//! `<prefix>{tok}:epoch`, which every revocation and opaque removal moves
//! in the same transaction. Validators poll the epoch at most once a second
//! and drop their verified-token cache when it moved: the bound on how long
//! a revoked token stays usable elsewhere.

use mcpguard::shared::{OnError, SharedId, SharedStoreError, SharedTokenStore};

use crate::store::RedisStore;

impl SharedTokenStore for RedisStore {
    fn revoke(&self, id: &SharedId, ttl_secs: Option<u64>) -> Result<(), SharedStoreError> {
        let key = self.token_key("rev", id);
        let epoch = self.epoch_key();
        self.call(|c| {
            let mut p = redis::pipe();
            p.atomic();
            match ttl_secs {
                Some(ttl) => p.set_ex(&key, 1, ttl.max(1)).ignore(),
                None => p.set(&key, 1).ignore(),
            };
            p.incr(&epoch, 1).ignore().query::<()>(c)
        })
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
        self.call(|c| {
            redis::pipe()
                .atomic()
                .del(&key)
                .ignore()
                .incr(&epoch, 1)
                .ignore()
                .query::<()>(c)
        })
    }

    fn on_error(&self) -> OnError {
        self.on_error
    }
}
