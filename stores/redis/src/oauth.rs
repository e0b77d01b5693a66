//! [`RedisOAuthStore`]: the embedded authorization server's state in the
//! Redis of `store.redis`, so every replica of a host issues, rotates and
//! revokes the same credentials.
//!
//! Decides the key layout and the atomicity of each write. Every key is
//! `<prefix>{oauth}:<kind>:<id>`: one hash slot, so each Lua script may
//! touch all the keys of one step. Ids are the hashes the engine computes
//! (`sha256:<hex>`) or random ids, never a credential in clear.
//!
//! - `client:<id>`: the client's JSON; kept until deleted by hand.
//! - `pending:<hash>`: a pending authorization's JSON; taken with `GETDEL`.
//! - `code:<hash>`, `refresh:<hash>`: a hash of the record (`r`) and
//!   whether it was spent (`s`).
//! - `family:<id>`: a hash of the family (`r`) and whether it was revoked
//!   (`v`); a family revoked before it existed is a tombstone.
//! - `access:<jti>`: an issued access token's record; `family_access:<id>`:
//!   a sorted set of the family's `jti`s by expiry; `revoked`: a sorted set
//!   of revoked `jti`s by expiry, for the Guard's deny-list after a restart.
//! - `expiry`: a sorted set of the keys above by the record's expiry, which
//!   [`OAuthStore::purge_expired`] reads. Issuing and rotating trim both
//!   index sets of entries whose records Redis has already dropped by TTL,
//!   so they stay bounded even when nobody purges.
//!
//! Every write that issues, spends, rotates or revokes a credential is one
//! Lua script (sent by `EVALSHA`), so two replicas racing on one code or one
//! refresh token have exactly one winner. Records carry a TTL from their
//! expiry by the engine's clock plus a minute of grace, so Redis holds only
//! live state even when nobody purges; the engine still checks every
//! expiry itself. A Redis that does not answer is a store error (the
//! engine answers 500): credentials never fall back to a process's memory.

use std::sync::Arc;
use std::time::Duration;

use mcpguard::Clock;
use mcpguard::oauth::{
    AuthorizationCode, ClientRecord, CodeRedemption, IssuedAccess, OAuthStore,
    PendingAuthorization, RefreshFamily, RefreshToken, Rotation, StoreError, TOMBSTONE_SECONDS,
};
use mcpguard::shared::RedisConfig;
use redis::{Script, Value};

use crate::pool::{Connector, Pool};
use crate::store::BuildError;

/// Seconds a record outlives its expiry in Redis: an expired credential is
/// refused as expired (the engine's check), not as unknown.
const GRACE_SECONDS: i64 = 60;

/// Stores a record if its key is free: `SET` (`ARGV[4]` = `s`) or a hash
/// with the record unspent (`h`), with a TTL and an expiry-index entry when
/// `ARGV[2]` > 0. Returns 0 when the key is taken.
const PUT_NEW: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[4] == 'h' then
  redis.call('HSET', KEYS[1], 'r', ARGV[1], 's', '0')
else
  redis.call('SET', KEYS[1], ARGV[1])
end
if tonumber(ARGV[2]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
end
return 1
";

/// Spends a code: its record and whether it was spent before, or nil.
const REDEEM: &str = r"
local r = redis.call('HGET', KEYS[1], 'r')
if not r then return false end
local s = redis.call('HGET', KEYS[1], 's')
redis.call('HSET', KEYS[1], 's', '1')
return {r, s}
";

/// Records an access token: its record, its family's index (when it has a
/// family key) and the expiry index; and trims both index sets of entries
/// whose records Redis has dropped by TTL already (expired more than the
/// grace before `bound`), so the sets stay bounded without a purge. Shared
/// by the writes that issue one.
const RECORD_ACCESS: &str = r"
local function trim(expiry, revoked, bound)
  redis.call('ZREMRANGEBYSCORE', expiry, '-inf', '(' .. bound)
  redis.call('ZREMRANGEBYSCORE', revoked, '-inf', '(' .. bound)
end
local function record_access(key, json, ttl, exp, jti, family_access, expiry)
  redis.call('SET', key, json, 'EX', ttl)
  redis.call('ZADD', expiry, exp, key)
  if family_access ~= '' then
    redis.call('ZADD', family_access, exp, jti)
    if redis.call('TTL', family_access) < tonumber(ttl) then
      redis.call('EXPIRE', family_access, ttl)
    end
  end
end
";

/// Creates a family, its first refresh token and the access record:
/// 1 done, 0 the family was revoked already (nothing written), -1 the
/// family exists, -2 the refresh token exists.
const ISSUE_FAMILY: &str = r"
-- KEYS: family, refresh, access, family_access, expiry, revoked
-- ARGV: family json, ttl, exp; refresh json ('' for none), ttl, exp;
--       access json, ttl, exp, jti; trim bound
trim(KEYS[5], KEYS[6], ARGV[11])
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'v') == '1' then return 0 end
  return -1
end
if ARGV[4] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then return -2 end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'v', '0')
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[5], ARGV[3], KEYS[1])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], 'r', ARGV[4], 's', '0')
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  redis.call('ZADD', KEYS[5], ARGV[6], KEYS[2])
end
record_access(KEYS[3], ARGV[7], ARGV[8], ARGV[9], ARGV[10], KEYS[4], KEYS[5])
return 1
";

/// Marks every access record of a family revoked and returns them (those
/// whose expiry is after `after`).
const REVOKE_FAMILY_ACCESS: &str = r"
local function revoke_family_access(family_access, revoked, access_prefix, after)
  local out = {}
  local jtis = redis.call('ZRANGEBYSCORE', family_access, after, '+inf', 'WITHSCORES')
  for i = 1, #jtis, 2 do
    local rec = redis.call('GET', access_prefix .. jtis[i])
    if rec then
      redis.call('ZADD', revoked, jtis[i + 1], jtis[i])
      table.insert(out, rec)
    end
  end
  return out
end
";

/// Rotates a refresh token; see [`OAuthStore::rotate_refresh`].
const ROTATE: &str = r"
-- KEYS: old, new, family, family_access, access, expiry, revoked
-- ARGV: family id, new json, ttl, exp; access json, ttl, exp, jti; access key prefix;
--       trim bound
trim(KEYS[6], KEYS[7], ARGV[10])
local old = redis.call('HGET', KEYS[1], 'r')
if not old then return {'unknown'} end
if cjson.decode(old)['family_id'] ~= ARGV[1] then
  return redis.error_reply('the new refresh token names another family than the old one')
end
local fam = redis.call('HGET', KEYS[3], 'r')
if not fam then return {'unknown'} end
if redis.call('HGET', KEYS[3], 'v') == '1' then return {'revoked', fam} end
if redis.call('HGET', KEYS[1], 's') == '1' then
  redis.call('HSET', KEYS[3], 'v', '1')
  local out = revoke_family_access(KEYS[4], KEYS[7], ARGV[9], '-inf')
  table.insert(out, 1, fam)
  table.insert(out, 1, 'reused')
  return out
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'duplicate'} end
redis.call('HSET', KEYS[1], 's', '1')
redis.call('HSET', KEYS[2], 'r', ARGV[2], 's', '0')
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[6], ARGV[4], KEYS[2])
record_access(KEYS[5], ARGV[5], ARGV[6], ARGV[7], ARGV[8], KEYS[4], KEYS[6])
return {'rotated', fam}
";

/// Revokes a family (a tombstone when it does not exist) and returns its
/// access records that expire after `now`.
const REVOKE_FAMILY: &str = r"
-- KEYS: family, family_access, revoked, expiry
-- ARGV: tombstone json, ttl, exp; now; access key prefix
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'v', '1')
else
  redis.call('HSET', KEYS[1], 'r', ARGV[1], 'v', '1')
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('ZADD', KEYS[4], ARGV[3], KEYS[1])
end
return revoke_family_access(KEYS[2], KEYS[3], ARGV[5], '(' .. ARGV[4])
";

/// Revokes one access token, recording it if it was not.
const REVOKE_ACCESS: &str = r"
-- KEYS: access, revoked, expiry; ARGV: json, ttl, exp, jti
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  redis.call('ZADD', KEYS[3], ARGV[3], KEYS[1])
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
";

/// The revoked access records that expire after `now`.
const REVOKED: &str = r"
-- KEYS: revoked; ARGV: now, access key prefix
local out = {}
for _, jti in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')) do
  local rec = redis.call('GET', ARGV[2] .. jti)
  if rec then table.insert(out, rec) end
end
return out
";

/// Deletes the records that expired before `now`; returns how many.
const PURGE: &str = r"
-- KEYS: expiry, revoked; ARGV: now
local bound = '(' .. ARGV[1]
local n = 0
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', bound)) do
  n = n + redis.call('DEL', key)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', bound)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', bound)
return n
";

/// The scripts, each loaded once per connection's server (`EVALSHA`, with
/// `EVAL` when Redis does not know it yet).
struct Scripts {
    put_new: Script,
    redeem: Script,
    issue_family: Script,
    rotate: Script,
    revoke_family: Script,
    revoke_access: Script,
    revoked: Script,
    purge: Script,
}

impl Scripts {
    fn new() -> Scripts {
        let with_access = |body: &str| Script::new(&format!("{RECORD_ACCESS}{body}"));
        let with_revoke =
            |body: &str| Script::new(&format!("{RECORD_ACCESS}{REVOKE_FAMILY_ACCESS}{body}"));
        Scripts {
            put_new: Script::new(PUT_NEW),
            redeem: Script::new(REDEEM),
            issue_family: with_access(ISSUE_FAMILY),
            rotate: with_revoke(ROTATE),
            revoke_family: with_revoke(REVOKE_FAMILY),
            revoke_access: Script::new(REVOKE_ACCESS),
            revoked: Script::new(REVOKED),
            purge: Script::new(PURGE),
        }
    }
}

/// The authorization server's state in Redis (see the module docs). Cheap
/// to share in an `Arc`; connections are pooled.
pub struct RedisOAuthStore {
    pool: Pool,
    prefix: String,
    clock: Arc<dyn Clock>,
    scripts: Scripts,
}

impl std::fmt::Debug for RedisOAuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOAuthStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn backend(e: redis::RedisError) -> StoreError {
    StoreError::Backend(format!("redis: {e}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(what, e.to_string()))
}

/// A script's reply as text, or a corrupt-record error.
fn text(what: &'static str, v: &Value) -> Result<String, StoreError> {
    redis::from_redis_value_ref::<String>(v).map_err(|e| StoreError::Corrupt(what, e.to_string()))
}

impl RedisOAuthStore {
    /// A store on the Redis of `config` (the configuration's `store.redis`:
    /// its URL, prefix, timeout and pool size), computing TTLs with `clock`
    /// (the Guard's). Connects nothing yet.
    pub fn new(config: &RedisConfig, clock: Arc<dyn Clock>) -> Result<Self, BuildError> {
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        let connector = Connector::for_config(config, timeout).map_err(BuildError::Url)?;
        Ok(RedisOAuthStore {
            pool: Pool::new(connector, config.pool_size.max(1) as usize, timeout),
            prefix: config.prefix.clone(),
            clock,
            scripts: Scripts::new(),
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{{oauth}}:{kind}:{id}", self.prefix)
    }

    fn access_prefix(&self) -> String {
        self.key("access", "")
    }

    /// Seconds from now (the engine's clock) until `expires_at`, plus the
    /// grace; at least 1.
    fn ttl(&self, expires_at: i64) -> i64 {
        expires_at
            .saturating_sub(self.clock.now_secs())
            .saturating_add(GRACE_SECONDS)
            .max(1)
    }

    /// Index entries below this (the engine's now, less twice the grace)
    /// name records Redis has dropped by TTL: the writes trim them.
    fn trim_bound(&self) -> i64 {
        self.clock.now_secs().saturating_sub(2 * GRACE_SECONDS)
    }

    /// One round trip on a pooled connection; a failed connection is dropped.
    fn call<T>(
        &self,
        f: impl FnMut(&mut dyn redis::ConnectionLike) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let _held = crate::signals::hold();
        crate::pool::round_trip(&self.pool, f, || ()).map_err(|e| {
            if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                self.pool.clear();
            }
            backend(e)
        })
    }

    fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.call(|c| redis::cmd("GET").arg(key).query(c))
    }

    fn hget(&self, key: &str, field: &str) -> Result<Option<String>, StoreError> {
        self.call(|c| redis::cmd("HGET").arg(key).arg(field).query(c))
    }

    /// `PUT_NEW`; `false` when the key is taken.
    fn put_new(
        &self,
        key: &str,
        json: &str,
        expires_at: Option<i64>,
        hash: bool,
    ) -> Result<bool, StoreError> {
        let expiry = self.key("expiry", "index");
        let (ttl, exp) = expires_at.map_or((0, 0), |e| (self.ttl(e), e));
        let put: i64 = self.call(|c| {
            self.scripts
                .put_new
                .key(key)
                .key(&expiry)
                .arg(json)
                .arg(ttl)
                .arg(exp)
                .arg(if hash { "h" } else { "s" })
                .invoke(c)
        })?;
        Ok(put == 1)
    }

    fn access_records(&self, replies: &[Value]) -> Result<Vec<IssuedAccess>, StoreError> {
        replies
            .iter()
            .map(|v| from_json("access record", &text("access record", v)?))
            .collect()
    }

    fn family(
        &self,
        fields: Option<(String, String)>,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        fields
            .map(|(r, v)| {
                let mut family: RefreshFamily = from_json("refresh family", &r)?;
                family.revoked = v == "1";
                Ok(family)
            })
            .transpose()
    }
}

impl OAuthStore for RedisOAuthStore {
    fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let key = self.key("client", &client.client_id);
        if self.put_new(&key, &to_json(client)?, None, false)? {
            Ok(())
        } else {
            Err(StoreError::Duplicate("client"))
        }
    }

    fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.get(&self.key("client", client_id))?
            .map(|j| from_json("client", &j))
            .transpose()
    }

    fn insert_pending(&self, pending: &PendingAuthorization) -> Result<(), StoreError> {
        let key = self.key("pending", &pending.id_hash);
        if self.put_new(&key, &to_json(pending)?, Some(pending.expires_at), false)? {
            Ok(())
        } else {
            Err(StoreError::Duplicate("pending authorization"))
        }
    }

    fn pending(&self, id_hash: &str) -> Result<Option<PendingAuthorization>, StoreError> {
        self.get(&self.key("pending", id_hash))?
            .map(|j| from_json("pending authorization", &j))
            .transpose()
    }

    fn take_pending(&self, id_hash: &str) -> Result<Option<PendingAuthorization>, StoreError> {
        let key = self.key("pending", id_hash);
        let taken: Option<String> = self.call(|c| redis::cmd("GETDEL").arg(&key).query(c))?;
        taken
            .map(|j| from_json("pending authorization", &j))
            .transpose()
    }

    fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        let key = self.key("code", &code.code_hash);
        if self.put_new(&key, &to_json(code)?, Some(code.expires_at), true)? {
            Ok(())
        } else {
            Err(StoreError::Duplicate("authorization code"))
        }
    }

    fn code(&self, code_hash: &str) -> Result<Option<AuthorizationCode>, StoreError> {
        // The record field of the code's hash, spent or not.
        self.hget(&self.key("code", code_hash), "r")?
            .map(|j| from_json("authorization code", &j))
            .transpose()
    }

    fn redeem_code(&self, code_hash: &str) -> Result<CodeRedemption, StoreError> {
        let key = self.key("code", code_hash);
        let found: Option<(String, String)> =
            self.call(|c| self.scripts.redeem.key(&key).invoke(c))?;
        Ok(match found {
            None => CodeRedemption::Unknown,
            Some((record, spent)) => {
                let code = from_json("authorization code", &record)?;
                if spent == "1" {
                    CodeRedemption::Reused(code)
                } else {
                    CodeRedemption::Redeemed(code)
                }
            }
        })
    }

    fn issue_family(
        &self,
        family: &RefreshFamily,
        refresh: Option<&RefreshToken>,
        access: &IssuedAccess,
    ) -> Result<bool, StoreError> {
        let refresh_key = refresh.map_or_else(
            || self.key("refresh", "-"),
            |r| self.key("refresh", &r.token_hash),
        );
        let (refresh_json, refresh_exp) = match refresh {
            Some(r) => (to_json(r)?, r.expires_at),
            None => (String::new(), 0),
        };
        let (family_json, access_json) = (to_json(family)?, to_json(access)?);
        let issued: i64 = self.call(|c| {
            self.scripts
                .issue_family
                .key(self.key("family", &family.id))
                .key(&refresh_key)
                .key(self.key("access", &access.jti))
                .key(self.key("family_access", &family.id))
                .key(self.key("expiry", "index"))
                .key(self.key("revoked", "index"))
                .arg(&family_json)
                .arg(self.ttl(family.expires_at))
                .arg(family.expires_at)
                .arg(&refresh_json)
                .arg(self.ttl(refresh_exp))
                .arg(refresh_exp)
                .arg(&access_json)
                .arg(self.ttl(access.expires_at))
                .arg(access.expires_at)
                .arg(&access.jti)
                .arg(self.trim_bound())
                .invoke(c)
        })?;
        match issued {
            1 => Ok(true),
            0 => Ok(false),
            -1 => Err(StoreError::Duplicate("refresh family")),
            _ => Err(StoreError::Duplicate("refresh token")),
        }
    }

    fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(RefreshToken, RefreshFamily)>, StoreError> {
        let Some(record) = self.hget(&self.key("refresh", token_hash), "r")? else {
            return Ok(None);
        };
        let token: RefreshToken = from_json("refresh token", &record)?;
        let key = self.key("family", &token.family_id);
        let fields: (Option<String>, Option<String>) =
            self.call(|c| redis::cmd("HMGET").arg(&key).arg("r").arg("v").query(c))?;
        let family = match fields {
            (Some(r), v) => self.family(Some((r, v.unwrap_or_default())))?,
            (None, _) => None,
        };
        Ok(family.map(|f| (token, f)))
    }

    fn rotate_refresh(
        &self,
        old_hash: &str,
        new: &RefreshToken,
        access: &IssuedAccess,
    ) -> Result<Rotation, StoreError> {
        let fid = &new.family_id;
        let (new_json, access_json) = (to_json(new)?, to_json(access)?);
        let reply: Vec<Value> = self.call(|c| {
            self.scripts
                .rotate
                .key(self.key("refresh", old_hash))
                .key(self.key("refresh", &new.token_hash))
                .key(self.key("family", fid))
                .key(self.key("family_access", fid))
                .key(self.key("access", &access.jti))
                .key(self.key("expiry", "index"))
                .key(self.key("revoked", "index"))
                .arg(fid)
                .arg(&new_json)
                .arg(self.ttl(new.expires_at))
                .arg(new.expires_at)
                .arg(&access_json)
                .arg(self.ttl(access.expires_at))
                .arg(access.expires_at)
                .arg(&access.jti)
                .arg(self.access_prefix())
                .arg(self.trim_bound())
                .invoke(c)
        })?;
        let outcome = reply
            .first()
            .map(|v| text("rotation", v))
            .transpose()?
            .unwrap_or_default();
        let family = |revoked: bool| -> Result<RefreshFamily, StoreError> {
            let record = reply
                .get(1)
                .ok_or_else(|| StoreError::Corrupt("rotation", "no family in the reply".into()))?;
            let mut f: RefreshFamily =
                from_json("refresh family", &text("refresh family", record)?)?;
            f.revoked = revoked;
            Ok(f)
        };
        match outcome.as_str() {
            "unknown" => Ok(Rotation::Unknown),
            "revoked" => Ok(Rotation::Revoked(family(true)?)),
            "reused" => Ok(Rotation::Reused(
                family(true)?,
                self.access_records(&reply[2..])?,
            )),
            "duplicate" => Err(StoreError::Duplicate("refresh token")),
            "rotated" => Ok(Rotation::Rotated(family(false)?)),
            other => Err(StoreError::Corrupt(
                "rotation",
                format!("unexpected reply {other:?}"),
            )),
        }
    }

    fn revoke_family(&self, family_id: &str, now: i64) -> Result<Vec<IssuedAccess>, StoreError> {
        let expires_at = now.saturating_add(TOMBSTONE_SECONDS);
        let tombstone = RefreshFamily {
            id: family_id.to_string(),
            client_id: String::new(),
            subject: String::new(),
            resource: String::new(),
            scope_ceiling: Vec::new(),
            expires_at,
            revoked: true,
        };
        let tombstone = to_json(&tombstone)?;
        let reply: Vec<Value> = self.call(|c| {
            self.scripts
                .revoke_family
                .key(self.key("family", family_id))
                .key(self.key("family_access", family_id))
                .key(self.key("revoked", "index"))
                .key(self.key("expiry", "index"))
                .arg(&tombstone)
                .arg(self.ttl(expires_at))
                .arg(expires_at)
                .arg(now)
                .arg(self.access_prefix())
                .invoke(c)
        })?;
        self.access_records(&reply)
    }

    fn revoke_access(&self, access: &IssuedAccess) -> Result<(), StoreError> {
        let json = to_json(access)?;
        let _: i64 = self.call(|c| {
            self.scripts
                .revoke_access
                .key(self.key("access", &access.jti))
                .key(self.key("revoked", "index"))
                .key(self.key("expiry", "index"))
                .arg(&json)
                .arg(self.ttl(access.expires_at))
                .arg(access.expires_at)
                .arg(&access.jti)
                .invoke(c)
        })?;
        Ok(())
    }

    fn revoked_access(&self, now: i64) -> Result<Vec<IssuedAccess>, StoreError> {
        let reply: Vec<Value> = self.call(|c| {
            self.scripts
                .revoked
                .key(self.key("revoked", "index"))
                .arg(now)
                .arg(self.access_prefix())
                .invoke(c)
        })?;
        self.access_records(&reply)
    }

    fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let n: i64 = self.call(|c| {
            self.scripts
                .purge
                .key(self.key("expiry", "index"))
                .key(self.key("revoked", "index"))
                .arg(now)
                .invoke(c)
        })?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}
