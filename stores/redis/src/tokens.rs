//! Revocations and opaque tokens in Redis, for every replica.
//!
//! Keys (all in the `{tok}` hash slot): `<prefix>{tok}:rev:<sha256 hex>`
//! for a revocation (held for the token's remaining life), `<prefix>{tok}:op:<sha256 hex>`
//! for an opaque token's entry (expiring with the token), and
//! `<prefix>{tok}:epoch`, which every revocation and opaque removal moves
//! in the same script (atomic, one round trip, on a cluster too). Validators poll the epoch at most once a second
//! and drop their verified-token cache when it moved: the bound on how long
//! a revoked token stays usable elsewhere.
//!
//! A new epoch starts at a random multiple of 2^32 (`ARGV` of the scripts
//! below): when Redis lost its keys (restarted without persistence,
//! flushed, failed over to a lagging replica), every validator sees the
//! epoch go back or change incarnation, and sends its own revocations and
//! opaque tokens again (`mcpguard::shared::epoch_lost`).

use std::sync::LazyLock;

use mcpguard::shared::{OnError, SharedId, SharedStoreError, SharedTokenStore};
use redis::Script;

/// Holds a revocation (`ARGV[1]` seconds, 0: until withdrawn) and moves the
/// epoch (started at `ARGV[2]` when there is none), in one step; returns
/// the epoch. A script
/// rather than a MULTI pipeline: a cluster connection sends scripts (to the
/// slot's node) but not transactions.
static REVOKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if ARGV[1] == '0' then redis.call('SET', KEYS[1], 1) \
         else redis.call('SET', KEYS[1], 1, 'EX', ARGV[1]) end \
         redis.call('SET', KEYS[2], ARGV[2], 'NX') \
         return redis.call('INCR', KEYS[2])",
    )
});

/// Removes an opaque token's entry and moves the epoch (started at
/// `ARGV[1]` when there is none), in one step; returns the epoch.
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "redis.call('DEL', KEYS[1]) redis.call('SET', KEYS[2], ARGV[1], 'NX') \
         return redis.call('INCR', KEYS[2])",
    )
});

/// Where a new epoch starts: a random incarnation (1 to 2^30 - 1) in the
/// high 32 bits, so that INCR stays far from its 2^63 limit.
fn epoch_start() -> u64 {
    let mut bytes = [0u8; 4];
    // A failure leaves zeros: the lowest incarnation, 1, and a loss is
    // then noticed by the epoch going back alone.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    let incarnation = u64::from(u32::from_le_bytes(bytes) & 0x3fff_ffff).max(1);
    incarnation << 32
}

use crate::store::RedisStore;

impl SharedTokenStore for RedisStore {
    fn revoke(&self, id: &SharedId, ttl_secs: Option<u64>) -> Result<u64, SharedStoreError> {
        let key = self.token_key("rev", id);
        let epoch = self.epoch_key();
        let mut call = REVOKE.key(&key);
        call.key(&epoch)
            .arg(ttl_secs.map_or(0, |t| t.max(1)))
            .arg(epoch_start());
        self.call(|c| call.invoke::<u64>(c))
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

    fn remove_opaque(&self, digest: &SharedId) -> Result<u64, SharedStoreError> {
        let key = self.token_key("op", digest);
        let epoch = self.epoch_key();
        let mut call = REMOVE.key(&key);
        call.key(&epoch).arg(epoch_start());
        self.call(|c| call.invoke::<u64>(c))
    }

    fn on_error(&self) -> OnError {
        self.on_error
    }
}
