//! The verified-token cache: a token that passed validation once is not
//! verified again until it expires or a bound runs out.
//!
//! Decides how long a verified principal may be reused (until the earlier of
//! the token's `exp` and `max_ttl_secs` after insertion, so a revocation a
//! host misses is bounded too) and which entry leaves when the cache is full.
//! Deciding *whether* a token is valid, and invalidating entries when the
//! host revokes a token or rotates keys, is left to the validator and the
//! host: they call [`TokenCache::remove`], [`TokenCache::invalidate_jti`] or
//! [`TokenCache::invalidate_issuer`].
//!
//! # Layout and eviction policy
//! Entries are keyed by a keyed 128-bit xxh3 hash (a secret drawn from the
//! system RNG per cache) of the token's *slot*: for a JWT, its signing input
//! `header.payload` (everything before the last dot), for an opaque token
//! the whole token. They are spread over up to [`MAX_SHARDS`] shards, each
//! behind its own `parking_lot::RwLock`, so threads on different tokens
//! rarely meet on one lock. A hit finds the last dot (`memrchr`), takes a
//! read lock, hashes, compares and clones an `Arc`: no allocation.
//!
//! Each entry also stores the token text, compared in full on every hit in
//! constant time: a hit needs the exact bytes that were verified, so neither
//! a hash collision nor a token that shares a cached token's signing input
//! with another (bad) signature can be handed the cached principal.
//!
//! # Why the slot is the signing input
//! One JWT's claims may come with several valid signatures: from an ECDSA
//! signature `(r, s)` its holder can compute `(r, n − s)`, which verifies
//! too. The revocation list therefore names a `jti`-less JWT by its signing
//! input ([`RevocationList`](super::RevocationList)), and a revocation must
//! also drop every cached token with that signing input, whichever
//! signature it carries. Filing tokens under their signing input puts all
//! of them in one slot (the newest verified one is kept), so
//! [`TokenCache::invalidate_signing_input`] drops them with one lookup, and
//! the hit path stays one hash and one comparison: it never consults the
//! revocation list.
//!
//! Each shard holds a fixed share of `capacity` (the shares sum to exactly
//! `capacity`, so `len() <= capacity()` always) and evicts with CLOCK
//! (second chance) over an insertion-order queue: a hit sets the entry's
//! `referenced` bit; eviction takes the oldest entry, evicting it at once if
//! it has expired or was not referenced since it was last passed over, else
//! clearing the bit and moving it to the back. One eviction grants at most
//! [`SWEEP_LIMIT`] second chances, so no request can be made to scan a
//! shard. Removed and replaced entries leave stale queue slots that are
//! skipped when reached and compacted away once the queue holds twice the
//! shard's share (amortised O(1) per insert).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use memchr::memrchr;
use xxhash_rust::xxh3::{Xxh3, xxh3_128_with_secret};

use crate::sync::{AtomicBool, Ordering, RwLock};
use crate::token::Principal;

/// Default bound on how long a verified token is reused, in seconds.
pub const DEFAULT_MAX_TTL_SECS: u64 = 300;

/// The most shards a cache is split into (fewer when `capacity` is smaller).
pub const MAX_SHARDS: usize = 16;

/// The most second chances one eviction grants before it evicts regardless.
pub const SWEEP_LIMIT: usize = 8;

/// Size of the xxh3 secret (the crate's default secret size).
const SECRET_LEN: usize = 192;

/// A keyed 128-bit xxh3 hash with a random per-instance secret.
///
/// Not a MAC: it makes collisions impractical to aim for without the secret,
/// which is all the stores need, and each store double-checks or tolerates
/// collisions on its own.
pub(crate) struct KeyedHasher {
    secret: [u8; SECRET_LEN],
}

impl KeyedHasher {
    /// A hasher with a secret from the system RNG.
    pub(crate) fn random() -> KeyedHasher {
        let mut secret = [0u8; SECRET_LEN];
        if aws_lc_rs::rand::fill(&mut secret).is_err() {
            // The RNG failing is not an input error, and the library must not
            // panic: fall back to std's per-process random SipHash keys.
            for (i, chunk) in secret.chunks_mut(8).enumerate() {
                let word = RandomState::new().hash_one(i).to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
        }
        KeyedHasher { secret }
    }

    /// A hasher with a fixed secret, so tests can reproduce a hash.
    #[cfg(test)]
    pub(crate) fn fixed(byte: u8) -> KeyedHasher {
        KeyedHasher {
            secret: [byte; SECRET_LEN],
        }
    }

    /// The keyed hash of `bytes`.
    pub(crate) fn hash(&self, bytes: &[u8]) -> u128 {
        xxh3_128_with_secret(bytes, &self.secret)
    }

    /// A streaming hasher with the same secret, for keys made of parts.
    pub(crate) fn streaming(&self) -> Xxh3 {
        Xxh3::with_secret(self.secret)
    }
}

impl fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.write_str("KeyedHasher { .. }")
    }
}

/// A `BuildHasher` for maps keyed by a [`KeyedHasher`] output: the key is
/// already a keyed uniform hash, so hashing it again (SipHash) would only
/// cost time.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThrough;

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;

    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

/// The hasher of [`PassThrough`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, i: u128) {
        // The low half: the shard index uses the high half, so the two
        // choices stay independent.
        self.0 = i as u64;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u128 keys are ever hashed; fold anything else rather than
        // ignore it, so a misuse still spreads keys.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

/// The part of `token` its entry is filed under: everything before the last
/// dot (a JWT's signing input), or the whole token when it has no dot. See
/// the module doc.
#[inline]
fn slot(token: &str) -> &[u8] {
    let bytes = token.as_bytes();
    match memrchr(b'.', bytes) {
        Some(dot) => &bytes[..dot],
        None => bytes,
    }
}

/// One cached principal.
struct Entry {
    /// The token itself, compared on every hit.
    token: Box<str>,
    principal: Arc<Principal>,
    /// Unix seconds from which the entry is no longer served.
    expires_at: i64,
    /// Insertion sequence number; a queue slot with another number is stale.
    seq: u64,
    /// CLOCK bit: set by a hit, cleared when eviction passes the entry over.
    referenced: AtomicBool,
}

/// One shard: its entries and their CLOCK queue.
struct Shard {
    map: HashMap<u128, Entry, PassThrough>,
    queue: VecDeque<(u128, u64)>,
    next_seq: u64,
    capacity: usize,
}

impl Shard {
    fn new(capacity: usize) -> Shard {
        Shard {
            map: HashMap::with_hasher(PassThrough),
            queue: VecDeque::new(),
            next_seq: 0,
            capacity,
        }
    }

    fn insert(
        &mut self,
        key: u128,
        token: &str,
        principal: Arc<Principal>,
        expires_at: i64,
        now: i64,
    ) {
        if self.capacity == 0 {
            return;
        }
        // 2^64 inserts into one shard cannot happen; wrapping only documents
        // that the counter has no overflow path that could panic.
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if let Some(entry) = self.map.get_mut(&key) {
            // Same token re-validated, or (practically never) another token
            // under the same hash: either way the newest one is kept.
            entry.token = token.into();
            entry.principal = principal;
            entry.expires_at = expires_at;
            entry.seq = seq;
            entry.referenced = AtomicBool::new(false);
        } else {
            while self.map.len() >= self.capacity {
                if !self.evict_one(now) {
                    // The queue lists every live entry, so this cannot be
                    // reached; refusing the insert keeps the bound anyway.
                    return;
                }
            }
            self.map.insert(
                key,
                Entry {
                    token: token.into(),
                    principal,
                    expires_at,
                    seq,
                    referenced: AtomicBool::new(false),
                },
            );
        }
        self.queue.push_back((key, seq));
        self.compact_queue_if_needed();
    }

    /// Evicts one entry by CLOCK; false only when the queue is empty.
    fn evict_one(&mut self, now: i64) -> bool {
        let mut chances = 0;
        while let Some((key, seq)) = self.queue.pop_front() {
            let Some(entry) = self.map.get(&key) else {
                continue;
            };
            if entry.seq != seq {
                continue;
            }
            let live = now < entry.expires_at;
            if live && chances < SWEEP_LIMIT && entry.referenced.swap(false, Ordering::Relaxed) {
                chances += 1;
                self.queue.push_back((key, seq));
                continue;
            }
            self.map.remove(&key);
            return true;
        }
        false
    }

    fn compact_queue_if_needed(&mut self) {
        let limit = self.capacity.saturating_mul(2).saturating_add(32);
        if self.queue.len() > limit {
            let map = &self.map;
            self.queue
                .retain(|(key, seq)| map.get(key).is_some_and(|e| e.seq == *seq));
        }
    }
}

/// A bounded, sharded cache of verified principals, keyed by token (filed
/// under its signing input, served only to the exact token).
///
/// ```
/// use std::sync::Arc;
/// use mcpguard::token::{Principal, TokenKind};
/// use mcpguard::token::cache::TokenCache;
///
/// let cache = TokenCache::new(10_000, 300);
/// let principal = Arc::new(Principal {
///     kind: TokenKind::Jwt, subject: Some("alice".into()), client_id: None,
///     issuer: "https://auth.example.com".into(), audience: vec![], scopes: vec![],
///     roles: vec![], tags: vec![], rejected_scopes: vec![],
///     expires_at: Some(2_000), jwt_id: None, claims_json: Arc::from("{}"),
///     token_fingerprint: None, granted: None, rate_key: None,
/// });
/// cache.insert("eyJ.a.b", Arc::clone(&principal), 1_000);
/// assert!(Arc::ptr_eq(&cache.get("eyJ.a.b", 1_001).unwrap(), &principal));
/// assert!(cache.get("eyJ.a.b", 2_000).is_none()); // expired at `exp`
/// ```
pub struct TokenCache {
    shards: Box<[RwLock<Shard>]>,
    hasher: KeyedHasher,
    capacity: usize,
    max_ttl_secs: i64,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens are credentials: show only the shape.
        f.debug_struct("TokenCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .field("shards", &self.shards.len())
            .field("max_ttl_secs", &self.max_ttl_secs)
            .finish()
    }
}

impl TokenCache {
    /// A cache of at most `capacity` principals (0 disables it: every `get`
    /// misses and `insert` does nothing), each reused for at most
    /// `max_ttl_secs` seconds after insertion.
    pub fn new(capacity: usize, max_ttl_secs: u64) -> TokenCache {
        TokenCache::with_hasher(capacity, max_ttl_secs, KeyedHasher::random())
    }

    fn with_hasher(capacity: usize, max_ttl_secs: u64, hasher: KeyedHasher) -> TokenCache {
        let count = capacity.min(MAX_SHARDS);
        // Shares that sum to exactly `capacity`: the first `capacity % count`
        // shards take one more.
        let shards = (0..count)
            .map(|i| {
                let share = capacity / count + usize::from(i < capacity % count);
                RwLock::new(Shard::new(share))
            })
            .collect();
        TokenCache {
            shards,
            hasher,
            capacity,
            max_ttl_secs: i64::try_from(max_ttl_secs).unwrap_or(i64::MAX),
        }
    }

    fn shard(&self, key: u128) -> &RwLock<Shard> {
        // Lemire's multiply-shift range reduction on the high half (the map
        // uses the low half): uniform and cheaper than a division.
        let high = (key >> 64) as u64;
        let index = ((u128::from(high) * self.shards.len() as u128) >> 64) as usize;
        &self.shards[index]
    }

    /// The principal cached for `token`, if there is one that has not
    /// expired at `now_secs` (an entry is served while `now_secs <
    /// expires_at`; a stale one is dropped).
    pub fn get(&self, token: &str, now_secs: i64) -> Option<Arc<Principal>> {
        if self.shards.is_empty() {
            return None;
        }
        let key = self.hasher.hash(slot(token));
        let shard = self.shard(key);
        {
            let guard = shard.read();
            let entry = guard.map.get(&key)?;
            // Only the token itself proves the entry is ours. Constant time,
            // so not even a (practically unreachable) colliding token learns
            // how much of a cached token it matched.
            verify_slices_are_equal(entry.token.as_bytes(), token.as_bytes()).ok()?;
            if now_secs < entry.expires_at {
                // Load first: a hot entry's cache line is not written on every hit.
                if !entry.referenced.load(Ordering::Relaxed) {
                    entry.referenced.store(true, Ordering::Relaxed);
                }
                return Some(Arc::clone(&entry.principal));
            }
        }
        let mut guard = shard.write();
        let stale = guard.map.get(&key).is_some_and(|e| {
            now_secs >= e.expires_at
                && verify_slices_are_equal(e.token.as_bytes(), token.as_bytes()).is_ok()
        });
        if stale {
            guard.map.remove(&key);
        }
        None
    }

    /// Caches `principal` for `token` until the earlier of
    /// `principal.expires_at` and `now_secs + max_ttl_secs`. Does nothing
    /// when that is not after `now_secs` or the capacity is 0. Replaces an
    /// entry for the same token; evicts one (see the module doc) when the
    /// token's shard is full.
    pub fn insert(&self, token: &str, principal: Arc<Principal>, now_secs: i64) {
        self.insert_if(token, principal, now_secs, || true);
    }

    /// As [`insert`](Self::insert), but only if `still_valid()` holds when
    /// checked under the shard's write lock. A validator passes "no key
    /// rotation or revocation happened since I started": an invalidation
    /// that bumps its epoch before scanning the shards then either sees the
    /// new entry (and drops it) or makes `still_valid` false, so a token
    /// revoked mid-validation is never cached.
    pub fn insert_if(
        &self,
        token: &str,
        principal: Arc<Principal>,
        now_secs: i64,
        still_valid: impl FnOnce() -> bool,
    ) {
        if self.shards.is_empty() {
            return;
        }
        let ttl_end = now_secs.saturating_add(self.max_ttl_secs);
        let expires_at = principal.expires_at.map_or(ttl_end, |exp| exp.min(ttl_end));
        if expires_at <= now_secs {
            return;
        }
        let key = self.hasher.hash(slot(token));
        let mut shard = self.shard(key).write();
        if still_valid() {
            shard.insert(key, token, principal, expires_at, now_secs);
        }
    }

    /// Drops the entry for `token`; true if there was one.
    pub fn remove(&self, token: &str) -> bool {
        if self.shards.is_empty() {
            return false;
        }
        let key = self.hasher.hash(slot(token));
        let mut guard = self.shard(key).write();
        let ours = guard
            .map
            .get(&key)
            .is_some_and(|e| verify_slices_are_equal(e.token.as_bytes(), token.as_bytes()).is_ok());
        ours && guard.map.remove(&key).is_some()
    }

    /// Drops the entry of every token whose JWS signing input
    /// (`header.payload`) is `signing_input`, whatever its signature, and
    /// returns how many (0 or 1: they share one slot). One lookup, no scan:
    /// what revoking a `jti`-less JWT needs (see the module doc).
    pub fn invalidate_signing_input(&self, signing_input: &str) -> usize {
        if self.shards.is_empty() {
            return 0;
        }
        let key = self.hasher.hash(signing_input.as_bytes());
        let mut guard = self.shard(key).write();
        let ours = guard.map.get(&key).is_some_and(|e| {
            slot(&e.token) == signing_input.as_bytes() && e.token.len() > signing_input.len()
        });
        usize::from(ours && guard.map.remove(&key).is_some())
    }

    /// Drops every entry whose principal came from `issuer` (after a key
    /// rotation or an issuer's removal) and returns how many. Scans every
    /// shard: meant for rare administrative events, not per request.
    pub fn invalidate_issuer(&self, issuer: &str) -> usize {
        self.retain(|p| p.issuer != issuer)
    }

    /// Drops every entry for the token `jti` of `issuer` (a revocation by
    /// `jti`) and returns how many. Scans every shard, like
    /// [`invalidate_issuer`](Self::invalidate_issuer).
    pub fn invalidate_jti(&self, issuer: &str, jti: &str) -> usize {
        self.retain(|p| !(p.issuer == issuer && p.jwt_id.as_deref() == Some(jti)))
    }

    fn retain(&self, keep: impl Fn(&Principal) -> bool) -> usize {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut guard = shard.write();
            let before = guard.map.len();
            guard.map.retain(|_, e| keep(&e.principal));
            removed += before - guard.map.len();
        }
        removed
    }

    /// Drops every entry.
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut guard = shard.write();
            guard.map.clear();
            guard.queue.clear();
        }
    }

    /// The number of entries held (expired ones included until they are
    /// dropped). Never more than [`capacity`](Self::capacity).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().map.len()).sum()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bound on how long an entry is reused, in seconds.
    pub fn max_ttl_secs(&self) -> u64 {
        u64::try_from(self.max_ttl_secs).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenKind;
    use proptest::prelude::*;

    fn principal(issuer: &str, jti: Option<&str>, exp: Option<i64>) -> Arc<Principal> {
        Arc::new(Principal {
            kind: TokenKind::Jwt,
            subject: Some(format!("sub-{}", jti.unwrap_or("none"))),
            client_id: None,
            issuer: issuer.into(),
            audience: vec![],
            scopes: vec![],
            roles: vec![],
            tags: vec![],
            rejected_scopes: vec![],
            expires_at: exp,
            jwt_id: jti.map(Into::into),
            claims_json: Arc::from("{}"),
            token_fingerprint: None,
            granted: None,
            rate_key: None,
        })
    }

    const NOW: i64 = 1_767_225_600;

    #[test]
    fn a_hit_returns_the_same_arc() {
        let cache = TokenCache::new(100, 300);
        let p = principal("iss", Some("a"), Some(NOW + 100));
        cache.insert("tok-a", Arc::clone(&p), NOW);
        let got = cache.get("tok-a", NOW + 1).unwrap();
        assert!(Arc::ptr_eq(&got, &p));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn an_unknown_token_misses() {
        let cache = TokenCache::new(100, 300);
        cache.insert("tok-a", principal("iss", None, Some(NOW + 100)), NOW);
        assert!(cache.get("tok-b", NOW).is_none());
        assert!(cache.get("tok-", NOW).is_none());
    }

    #[test]
    fn an_entry_is_gone_at_the_token_exp() {
        let cache = TokenCache::new(100, 300);
        cache.insert("tok", principal("iss", None, Some(NOW + 10)), NOW);
        assert!(cache.get("tok", NOW + 9).is_some());
        assert!(cache.get("tok", NOW + 10).is_none());
        assert_eq!(cache.len(), 0, "the stale entry is dropped on the miss");
    }

    #[test]
    fn an_entry_is_gone_after_the_max_ttl_even_if_the_token_lives_on() {
        let cache = TokenCache::new(100, 60);
        cache.insert("tok", principal("iss", None, Some(NOW + 3600)), NOW);
        assert!(cache.get("tok", NOW + 59).is_some());
        assert!(cache.get("tok", NOW + 60).is_none());
    }

    #[test]
    fn a_token_without_expiry_is_bounded_by_the_max_ttl() {
        let cache = TokenCache::new(100, 60);
        cache.insert("tok", principal("iss", None, None), NOW);
        assert!(cache.get("tok", NOW + 59).is_some());
        assert!(cache.get("tok", NOW + 60).is_none());
    }

    #[test]
    fn an_already_expired_principal_is_not_cached() {
        let cache = TokenCache::new(100, 300);
        cache.insert("tok", principal("iss", None, Some(NOW)), NOW);
        cache.insert("tok2", principal("iss", None, Some(NOW - 5)), NOW);
        assert_eq!(cache.len(), 0);
        let zero_ttl = TokenCache::new(100, 0);
        zero_ttl.insert("tok", principal("iss", None, Some(NOW + 100)), NOW);
        assert_eq!(zero_ttl.len(), 0);
    }

    #[test]
    fn huge_times_do_not_overflow() {
        let cache = TokenCache::new(10, u64::MAX);
        cache.insert("tok", principal("iss", None, None), i64::MAX - 1);
        assert!(cache.get("tok", i64::MAX - 1).is_some());
        cache.insert("old", principal("iss", None, Some(i64::MIN)), i64::MIN);
        assert!(cache.get("old", i64::MIN).is_none());
    }

    #[test]
    fn capacity_zero_disables_the_cache() {
        let cache = TokenCache::new(0, 300);
        cache.insert("tok", principal("iss", None, Some(NOW + 100)), NOW);
        assert!(cache.get("tok", NOW).is_none());
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.capacity(), 0);
        assert!(!cache.remove("tok"));
        assert_eq!(cache.invalidate_issuer("iss"), 0);
    }

    #[test]
    fn tokens_sharing_a_signing_input_share_one_slot_but_hit_only_with_their_own_bytes() {
        let cache = TokenCache::new(100, 300);
        cache.insert(
            "h.p.sig1",
            principal("iss", Some("1"), Some(NOW + 100)),
            NOW,
        );
        assert!(cache.get("h.p.sig1", NOW).is_some());
        assert!(
            cache.get("h.p.sig2", NOW).is_none(),
            "another signature over the same input is never a hit"
        );
        assert!(cache.get("h.p.", NOW).is_none());
        assert!(cache.get("h.p", NOW).is_none());
        assert!(!cache.remove("h.p.sig2"), "remove needs the exact token");
        cache.insert(
            "h.p.sig2",
            principal("iss", Some("2"), Some(NOW + 100)),
            NOW,
        );
        assert_eq!(
            cache.len(),
            1,
            "the newest verified encoding keeps the slot"
        );
        assert!(cache.get("h.p.sig1", NOW).is_none());
        assert_eq!(
            cache.get("h.p.sig2", NOW).unwrap().jwt_id.as_deref(),
            Some("2")
        );
    }

    #[test]
    fn invalidate_signing_input_drops_that_input_whatever_the_signature() {
        let cache = TokenCache::new(100, 300);
        cache.insert("h.p.sig1", principal("iss", None, Some(NOW + 100)), NOW);
        cache.insert("h.px.sig1", principal("iss", None, Some(NOW + 100)), NOW);
        cache.insert("opaque", principal("iss", None, Some(NOW + 100)), NOW);
        assert_eq!(cache.invalidate_signing_input("h.p"), 1);
        assert!(cache.get("h.p.sig1", NOW).is_none());
        assert!(cache.get("h.px.sig1", NOW).is_some());
        assert_eq!(cache.invalidate_signing_input("h.p"), 0);
        assert_eq!(
            cache.invalidate_signing_input("opaque"),
            0,
            "a dot-free token is not a signing input"
        );
        assert!(cache.get("opaque", NOW).is_some());
        assert_eq!(TokenCache::new(0, 300).invalidate_signing_input("h.p"), 0);
    }

    #[test]
    fn remove_drops_only_that_token() {
        let cache = TokenCache::new(100, 300);
        cache.insert("a", principal("iss", None, Some(NOW + 100)), NOW);
        cache.insert("b", principal("iss", None, Some(NOW + 100)), NOW);
        assert!(cache.remove("a"));
        assert!(!cache.remove("a"));
        assert!(cache.get("a", NOW).is_none());
        assert!(cache.get("b", NOW).is_some());
    }

    #[test]
    fn reinserting_a_token_replaces_its_principal() {
        let cache = TokenCache::new(100, 300);
        cache.insert("a", principal("iss", Some("1"), Some(NOW + 100)), NOW);
        let newer = principal("iss", Some("2"), Some(NOW + 100));
        cache.insert("a", Arc::clone(&newer), NOW);
        assert!(Arc::ptr_eq(&cache.get("a", NOW).unwrap(), &newer));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn invalidate_issuer_drops_that_issuers_entries_only() {
        let cache = TokenCache::new(100, 300);
        cache.insert("a", principal("one", None, Some(NOW + 100)), NOW);
        cache.insert("b", principal("one", None, Some(NOW + 100)), NOW);
        cache.insert("c", principal("two", None, Some(NOW + 100)), NOW);
        assert_eq!(cache.invalidate_issuer("one"), 2);
        assert!(cache.get("a", NOW).is_none());
        assert!(cache.get("b", NOW).is_none());
        assert!(cache.get("c", NOW).is_some());
    }

    #[test]
    fn invalidate_jti_drops_that_jti_at_that_issuer_only() {
        let cache = TokenCache::new(100, 300);
        cache.insert("a", principal("one", Some("j1"), Some(NOW + 100)), NOW);
        cache.insert("b", principal("two", Some("j1"), Some(NOW + 100)), NOW);
        cache.insert("c", principal("one", Some("j2"), Some(NOW + 100)), NOW);
        assert_eq!(cache.invalidate_jti("one", "j1"), 1);
        assert!(cache.get("a", NOW).is_none());
        assert!(cache.get("b", NOW).is_some());
        assert!(cache.get("c", NOW).is_some());
    }

    #[test]
    fn clear_empties_the_cache_and_it_keeps_working() {
        let cache = TokenCache::new(100, 300);
        for i in 0..50 {
            cache.insert(
                &format!("t{i}"),
                principal("iss", None, Some(NOW + 100)),
                NOW,
            );
        }
        cache.clear();
        assert!(cache.is_empty());
        cache.insert("t1", principal("iss", None, Some(NOW + 100)), NOW);
        assert!(cache.get("t1", NOW).is_some());
    }

    #[test]
    fn a_colliding_entry_holding_another_token_is_never_served() {
        // Two tokens with one keyed hash cannot be produced, so rig the map:
        // file an entry for "forged" under the hash of "victim".
        let cache = TokenCache::with_hasher(16, 300, KeyedHasher::fixed(7));
        let key = cache.hasher.hash(b"victim");
        cache.shard(key).write().insert(
            key,
            "forged",
            principal("iss", Some("forged"), Some(NOW + 100)),
            NOW + 100,
            NOW,
        );
        assert!(cache.get("victim", NOW).is_none());
        assert!(
            !cache.remove("victim"),
            "remove must not drop another token's entry"
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_cache_flooded_with_distinct_tokens_stays_within_capacity() {
        let cache = TokenCache::new(10_000, 300);
        let p = principal("iss", None, Some(NOW + 1000));
        let mut token = String::with_capacity(32);
        for i in 0..1_000_000u32 {
            token.clear();
            token.push_str("flood-token-");
            token.push_str(&i.to_string());
            cache.insert(&token, Arc::clone(&p), NOW);
            if i % 997 == 0 {
                assert!(cache.len() <= 10_000, "len {} after {i}", cache.len());
            }
        }
        let len = cache.len();
        assert!(len <= 10_000);
        // Shares sum to the capacity and hashes spread evenly: nearly full.
        assert!(len > 9_000, "len {len}");
        for shard in cache.shards.iter() {
            let guard = shard.read();
            assert!(guard.map.len() <= guard.capacity);
            assert!(guard.queue.len() <= guard.capacity * 2 + 33);
        }
    }

    #[test]
    fn shard_shares_sum_to_the_capacity() {
        for capacity in [1, 2, 15, 16, 17, 100, 10_001] {
            let cache = TokenCache::new(capacity, 300);
            let total: usize = cache.shards.iter().map(|s| s.read().capacity).sum();
            assert_eq!(total, capacity);
        }
    }

    #[test]
    fn eviction_prefers_entries_not_hit_since_last_pass() {
        // A single shard of two, driven directly so the keys are known.
        let mut shard = Shard::new(2);
        let p = principal("iss", None, Some(NOW + 100));
        shard.insert(1, "a", Arc::clone(&p), NOW + 100, NOW);
        shard.insert(2, "b", Arc::clone(&p), NOW + 100, NOW);
        shard.map[&1].referenced.store(true, Ordering::Relaxed);
        shard.insert(3, "c", Arc::clone(&p), NOW + 100, NOW);
        assert!(
            shard.map.contains_key(&1),
            "the hit entry got a second chance"
        );
        assert!(!shard.map.contains_key(&2));
        assert!(shard.map.contains_key(&3));
    }

    #[test]
    fn eviction_takes_an_expired_entry_even_if_it_was_hit() {
        let mut shard = Shard::new(2);
        let p = principal("iss", None, Some(NOW + 100));
        shard.insert(1, "a", Arc::clone(&p), NOW + 1, NOW);
        shard.insert(2, "b", Arc::clone(&p), NOW + 100, NOW);
        shard.map[&1].referenced.store(true, Ordering::Relaxed);
        shard.insert(3, "c", Arc::clone(&p), NOW + 100, NOW + 5);
        assert!(!shard.map.contains_key(&1));
        assert!(shard.map.contains_key(&2));
    }

    #[test]
    fn eviction_cannot_be_made_to_sweep_more_than_the_limit() {
        let cap = 64;
        let mut shard = Shard::new(cap);
        let p = principal("iss", None, Some(NOW + 100));
        for k in 0..cap as u128 {
            shard.insert(k, "t", Arc::clone(&p), NOW + 100, NOW);
            shard.map[&k].referenced.store(true, Ordering::Relaxed);
        }
        shard.insert(1_000, "new", Arc::clone(&p), NOW + 100, NOW);
        // Exactly SWEEP_LIMIT entries were passed over, then the next went.
        let cleared = shard
            .map
            .values()
            .filter(|e| !e.referenced.load(Ordering::Relaxed))
            .count();
        assert_eq!(
            cleared,
            SWEEP_LIMIT + 1,
            "limit passed-over entries plus the new one"
        );
        assert!(!shard.map.contains_key(&(SWEEP_LIMIT as u128)));
        assert_eq!(shard.map.len(), cap);
    }

    #[test]
    fn removals_and_reinserts_do_not_grow_the_queue_without_bound() {
        let mut shard = Shard::new(4);
        let p = principal("iss", None, Some(NOW + 100));
        for _ in 0..10_000 {
            shard.insert(9, "t", Arc::clone(&p), NOW + 100, NOW);
            shard.map.remove(&9);
        }
        assert!(shard.queue.len() <= 4 * 2 + 33);
    }

    #[test]
    fn debug_output_never_shows_a_token() {
        let cache = TokenCache::new(10, 300);
        cache.insert(
            "secret-token-text",
            principal("iss", None, Some(NOW + 100)),
            NOW,
        );
        let text = format!("{cache:?}");
        assert!(!text.contains("secret-token-text"), "{text}");
        assert!(text.contains("capacity: 10"));
    }

    #[test]
    fn concurrent_inserts_gets_and_invalidations_keep_the_bound() {
        let cache = Arc::new(TokenCache::new(500, 300));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    for i in 0..20_000u32 {
                        let token = format!("t{}", i % 2_000);
                        let p = principal(
                            if t % 2 == 0 { "a" } else { "b" },
                            Some(&token),
                            Some(NOW + 100),
                        );
                        match i % 5 {
                            0 | 1 => cache.insert(&token, p, NOW),
                            2 => {
                                if let Some(got) = cache.get(&token, NOW) {
                                    assert_eq!(got.jwt_id.as_deref(), Some(token.as_str()));
                                }
                            }
                            3 => {
                                cache.remove(&token);
                            }
                            _ if i % 1_000 == 4 => {
                                cache.invalidate_issuer("a");
                                cache.invalidate_jti("b", &token);
                            }
                            _ => assert!(cache.len() <= 500),
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(cache.len() <= 500);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, i64),
        Get(u8, i64),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), 0i64..50).prop_map(|(t, e)| Op::Insert(t, e)),
            (any::<u8>(), 0i64..60).prop_map(|(t, n)| Op::Get(t, n)),
            any::<u8>().prop_map(Op::Remove),
        ]
    }

    proptest! {
        #[test]
        fn any_op_sequence_keeps_the_bound_and_never_mixes_up_tokens(
            capacity in 0usize..40,
            ops in proptest::collection::vec(op(), 0..300),
        ) {
            let cache = TokenCache::new(capacity, 30);
            for op in ops {
                match op {
                    Op::Insert(t, exp) => {
                        let token = format!("token-{t}");
                        cache.insert(&token, principal("iss", Some(&token), Some(NOW + exp)), NOW);
                    }
                    Op::Get(t, at) => {
                        let token = format!("token-{t}");
                        if let Some(p) = cache.get(&token, NOW + at) {
                            prop_assert_eq!(p.jwt_id.as_deref(), Some(token.as_str()));
                            prop_assert!(NOW + at < p.expires_at.unwrap_or(i64::MAX));
                            prop_assert!(at < 30);
                        }
                    }
                    Op::Remove(t) => {
                        let token = format!("token-{t}");
                        cache.remove(&token);
                        prop_assert!(cache.get(&token, NOW).is_none());
                    }
                }
                prop_assert!(cache.len() <= capacity);
            }
        }
    }
}
