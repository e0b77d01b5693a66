//! The revocation deny-list: tokens revoked by the host, by `jti` or whole.
//!
//! Decides whether a token (or its `jti`, namespaced by issuer) is revoked,
//! and how long a revocation is held: until the revoked token would have
//! expired anyway (`exp` + leeway), after which it is forgotten. Learning of
//! revocations (an admin API, a feed from the authorization server) and
//! dropping the revoked token from the verified-token cache are left to the
//! host and the Guard.
//!
//! # What a revocation names
//! A revocation by `jti` names every token of that issuer with that `jti`.
//! A whole-token revocation ([`RevocationList::revoke_token`]) names, for a
//! token shaped like a compact JWS (`header.payload.signature`), its
//! signing input `header.payload` ([`jws::signing_input`]): what was
//! signed, never the signature bytes. A signature is not unique to what it
//! signs: from an ECDSA signature `(r, s)` anyone holding the token can
//! compute `(r, n − s)`, which verifies as well, and ECDSA and RSA-PSS
//! signers draw fresh randomness for each signature. Keyed by the whole
//! token, a revoked `jti`-less ES256 token would come back to life with its
//! signature's `s` replaced. Any other token (an opaque one) is named by
//! all of its text.
//!
//! # Keys and collisions
//! Entries are keyed by a keyed 128-bit xxh3 hash (random secret per list)
//! of what the revocation names: the issuer and `jti` (length-prefixed, so
//! `("ab", "c")` and `("a", "bc")` differ), a JWS signing input, or a whole
//! token, each under its own domain prefix. Neither the token nor the `jti`
//! is stored, so memory per entry is fixed. A hash collision can only make
//! an innocent token look revoked (a refusal), never un-revoke one: the
//! list answers "revoked" only for keys it holds.
//!
//! # Bound
//! At most `capacity` entries. Every `revoke` first forgets the entries
//! whose time is up, oldest first, from a min-heap of expiry times
//! (amortised O(log n) per forgotten entry, never a scan). If the list is
//! still full of live revocations, `revoke` fails with
//! [`RevocationError::Full`] rather than drop one. A revocation without a
//! known expiry ([`RevocationList::revoke_token`] with `None`) is held until
//! [`RevocationList::unrevoke_token`]; it counts against the capacity.
//!
//! # Time
//! An entry for a token expiring at `exp` is held, and reported revoked,
//! while `now <= exp + leeway`. Past that, the validator refuses the token
//! as expired anyway. The leeway must be at least the validator's
//! (`auth.leeway_seconds`): build the list with
//! [`RevocationList::with_leeway`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;

use crate::token::cache::{KeyedHasher, PassThrough};
use crate::token::jws;

/// The leeway [`RevocationList::new`] assumes: the default of
/// `auth.leeway_seconds`.
pub const DEFAULT_LEEWAY_SECS: i64 = 30;

/// The bytes that identify a revocation by `jti`: the list's keyed hash
/// and [`shared_jti_id`] both cover exactly these.
fn jti_key_bytes(issuer: &str, jti: &str, update: &mut dyn FnMut(&[u8])) {
    update(b"jti\0");
    update(&(issuer.len() as u64).to_le_bytes());
    update(issuer.as_bytes());
    update(jti.as_bytes());
}

/// The bytes that identify a revocation of a whole token: the list's
/// keyed hash and [`shared_token_id`] both cover exactly these.
fn token_key_bytes(token: &str, update: &mut dyn FnMut(&[u8])) {
    // A JWT is identified by what was signed, never by its signature bytes
    // (an ECDSA signature has a second valid encoding).
    match jws::signing_input(token) {
        Some(signed) => {
            update(b"jws\0");
            update(signed.as_bytes());
        }
        None => {
            update(b"tok\0");
            update(token.as_bytes());
        }
    }
}

fn sha256_of(feed: impl FnOnce(&mut dyn FnMut(&[u8]))) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    feed(&mut |b| ctx.update(b));
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The replica-independent identity of a revocation by `jti` (a SHA-256 of
/// the same bytes the in-process list hashes), for a shared store.
pub fn shared_jti_id(issuer: &str, jti: &str) -> [u8; 32] {
    sha256_of(|u| jti_key_bytes(issuer, jti, u))
}

/// The replica-independent identity of a revocation of a whole token.
pub fn shared_token_id(token: &str) -> [u8; 32] {
    sha256_of(|u| token_key_bytes(token, u))
}

/// Time a revocation without a known expiry is held until: never reached.
const NEVER: i64 = i64::MAX;

/// Why a revocation was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    /// Every slot holds a revocation of a token that has not expired yet.
    #[error(
        "the revocation list is full: {capacity} revocations of unexpired tokens are held; \
         raise auth.revocation_entries"
    )]
    Full {
        /// The list's capacity.
        capacity: usize,
    },
}

struct Inner {
    /// Key to the last second the entry is held.
    map: HashMap<u128, i64, PassThrough>,
    /// (last second held, key) for every entry that can be forgotten; may
    /// hold stale pairs (unrevoked or extended entries), skipped on pop.
    heap: BinaryHeap<Reverse<(i64, u128)>>,
}

impl Inner {
    /// Forgets every entry held only until before `now`.
    fn forget_expired(&mut self, now: i64) -> usize {
        let mut forgotten = 0;
        while let Some(&Reverse((until, key))) = self.heap.peek() {
            if now <= until {
                break;
            }
            self.heap.pop();
            if self.map.get(&key) == Some(&until) {
                self.map.remove(&key);
                forgotten += 1;
            }
        }
        forgotten
    }

    /// Rebuilds the heap from the map once stale pairs dominate it
    /// (amortised: at least `capacity` pushes happen between two rebuilds).
    fn compact_heap_if_needed(&mut self, capacity: usize) {
        if self.heap.len() > capacity.saturating_mul(2).saturating_add(32) {
            self.heap = self
                .map
                .iter()
                .filter(|&(_, &until)| until != NEVER)
                .map(|(&key, &until)| Reverse((until, key)))
                .collect();
        }
    }
}

/// A bounded deny-list of revoked tokens and `jti`s.
///
/// ```
/// use mcpguard::token::revocation::RevocationList;
/// let list = RevocationList::with_leeway(100_000, 30);
/// let now = 1_767_225_600;
/// list.revoke_jti("https://auth.example.com", "abc", now + 600, now).unwrap();
/// assert!(list.is_jti_revoked("https://auth.example.com", "abc", now));
/// assert!(!list.is_jti_revoked("https://other.example.com", "abc", now));
/// ```
pub struct RevocationList {
    inner: RwLock<Inner>,
    /// Mirror of `inner.map.len()`, read without the lock so that checks
    /// against an empty list cost one atomic load.
    len: AtomicUsize,
    hasher: KeyedHasher,
    capacity: usize,
    leeway_secs: i64,
}

impl fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationList")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

impl RevocationList {
    /// A list of at most `capacity` revocations, assuming the default leeway
    /// of [`DEFAULT_LEEWAY_SECS`]. With `capacity` 0 every revocation of a
    /// live token fails with [`RevocationError::Full`].
    pub fn new(capacity: usize) -> RevocationList {
        RevocationList::with_leeway(capacity, DEFAULT_LEEWAY_SECS)
    }

    /// A list of at most `capacity` revocations that holds each one until
    /// `leeway_secs` after the revoked token's expiry (pass the validator's
    /// `auth.leeway_seconds`; a negative value counts as 0).
    pub fn with_leeway(capacity: usize, leeway_secs: i64) -> RevocationList {
        RevocationList {
            inner: RwLock::new(Inner {
                map: HashMap::with_hasher(PassThrough),
                heap: BinaryHeap::new(),
            }),
            len: AtomicUsize::new(0),
            hasher: KeyedHasher::random(),
            capacity,
            leeway_secs: leeway_secs.max(0),
        }
    }

    fn jti_key(&self, issuer: &str, jti: &str) -> u128 {
        let mut h = self.hasher.streaming();
        jti_key_bytes(issuer, jti, &mut |b| h.update(b));
        h.digest128()
    }

    /// The key of a whole-token revocation: a JWS by its signing input,
    /// anything else by its text (see the module doc).
    fn token_key(&self, token: &str) -> u128 {
        let mut h = self.hasher.streaming();
        token_key_bytes(token, &mut |b| h.update(b));
        h.digest128()
    }

    /// Revokes the token `jti` of `issuer`, which expires at `expires_at`
    /// (Unix seconds). A token already past `expires_at` + leeway at
    /// `now_secs` needs no entry: `Ok` without storing anything.
    pub fn revoke_jti(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: i64,
        now_secs: i64,
    ) -> Result<(), RevocationError> {
        let until = expires_at.saturating_add(self.leeway_secs);
        if now_secs > until {
            return Ok(());
        }
        self.hold(self.jti_key(issuer, jti), until, now_secs)
    }

    /// Revokes one whole token: for a compact JWS, every token with its
    /// signing input, whatever the signature (see the module doc). With
    /// `expires_at` it is held like
    /// [`revoke_jti`](Self::revoke_jti); with `None` (an opaque token, or
    /// one whose expiry the host does not know) it is held until
    /// [`unrevoke_token`](Self::unrevoke_token), counting against the
    /// capacity.
    pub fn revoke_token(
        &self,
        token: &str,
        expires_at: Option<i64>,
        now_secs: i64,
    ) -> Result<(), RevocationError> {
        let until = match expires_at {
            Some(exp) => exp.saturating_add(self.leeway_secs),
            None => NEVER,
        };
        if now_secs > until {
            return Ok(());
        }
        self.hold(self.token_key(token), until, now_secs)
    }

    fn hold(&self, key: u128, until: i64, now: i64) -> Result<(), RevocationError> {
        let mut guard = self.inner.write();
        // Borrow the fields apart, not the guard as a whole.
        let inner = &mut *guard;
        inner.forget_expired(now);
        let full = inner.map.len() >= self.capacity;
        let result = match inner.map.get_mut(&key) {
            Some(held) => {
                // Revoked again: keep the longer of the two holds.
                if until > *held {
                    *held = until;
                    if until != NEVER {
                        inner.heap.push(Reverse((until, key)));
                    }
                }
                Ok(())
            }
            None if full => Err(RevocationError::Full {
                capacity: self.capacity,
            }),
            None => {
                inner.map.insert(key, until);
                if until != NEVER {
                    inner.heap.push(Reverse((until, key)));
                }
                Ok(())
            }
        };
        inner.compact_heap_if_needed(self.capacity);
        self.len.store(inner.map.len(), Ordering::Release);
        result
    }

    fn is_held(&self, key: impl FnOnce() -> u128, now: i64) -> bool {
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        let key = key();
        self.inner
            .read()
            .map
            .get(&key)
            .is_some_and(|&until| now <= until)
    }

    /// Whether the token `jti` of `issuer` is revoked at `now_secs`. One
    /// atomic load when the list is empty; O(1) otherwise.
    pub fn is_jti_revoked(&self, issuer: &str, jti: &str, now_secs: i64) -> bool {
        self.is_held(|| self.jti_key(issuer, jti), now_secs)
    }

    /// Whether `token` itself is revoked at `now_secs`: for a compact JWS,
    /// whether a token with its signing input was revoked. One atomic load
    /// when the list is empty; O(1) otherwise.
    pub fn is_token_revoked(&self, token: &str, now_secs: i64) -> bool {
        self.is_held(|| self.token_key(token), now_secs)
    }

    fn release(&self, key: u128) -> bool {
        let mut inner = self.inner.write();
        let removed = inner.map.remove(&key).is_some();
        self.len.store(inner.map.len(), Ordering::Release);
        removed
    }

    /// Withdraws a revocation by `jti` (an operator's mistake); true if one
    /// was held.
    pub fn unrevoke_jti(&self, issuer: &str, jti: &str) -> bool {
        self.release(self.jti_key(issuer, jti))
    }

    /// Withdraws a revocation of a whole token (for a JWS, of its signing
    /// input); true if one was held.
    pub fn unrevoke_token(&self, token: &str) -> bool {
        self.release(self.token_key(token))
    }

    /// Forgets every revocation whose token has expired (plus leeway) at
    /// `now_secs` and returns how many. `revoke_*` does this on its own; a
    /// host may call it on a timer to give memory back sooner.
    pub fn purge_expired(&self, now_secs: i64) -> usize {
        let mut inner = self.inner.write();
        let forgotten = inner.forget_expired(now_secs);
        self.len.store(inner.map.len(), Ordering::Release);
        forgotten
    }

    /// The number of revocations held.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether no revocation is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most revocations held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Seconds past a token's expiry that its revocation is held.
    pub fn leeway_secs(&self) -> i64 {
        self.leeway_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const NOW: i64 = 1_767_225_600;

    #[test]
    fn a_revoked_jti_is_revoked_at_its_issuer_only() {
        let list = RevocationList::new(10);
        list.revoke_jti("iss-a", "j1", NOW + 600, NOW).unwrap();
        assert!(list.is_jti_revoked("iss-a", "j1", NOW));
        assert!(!list.is_jti_revoked("iss-b", "j1", NOW));
        assert!(!list.is_jti_revoked("iss-a", "j2", NOW));
    }

    #[test]
    fn issuer_and_jti_boundaries_cannot_be_shifted() {
        let list = RevocationList::new(10);
        list.revoke_jti("ab", "c", NOW + 600, NOW).unwrap();
        assert!(!list.is_jti_revoked("a", "bc", NOW));
        assert!(!list.is_token_revoked("c", NOW));
    }

    #[test]
    fn a_revoked_token_is_revoked_and_others_are_not() {
        let list = RevocationList::new(10);
        list.revoke_token("tok-1", Some(NOW + 600), NOW).unwrap();
        assert!(list.is_token_revoked("tok-1", NOW));
        assert!(!list.is_token_revoked("tok-2", NOW));
        assert!(!list.is_jti_revoked("", "tok-1", NOW));
    }

    #[test]
    fn a_revoked_jws_is_revoked_whatever_its_signature() {
        let list = RevocationList::new(10);
        list.revoke_token("aGVhZA.Y2xhaW1z.c2ln", Some(NOW + 600), NOW)
            .unwrap();
        assert!(list.is_token_revoked("aGVhZA.Y2xhaW1z.c2ln", NOW));
        assert!(list.is_token_revoked("aGVhZA.Y2xhaW1z.b3RoZXI", NOW));
        assert!(list.is_token_revoked("aGVhZA.Y2xhaW1z.", NOW));
        assert!(!list.is_token_revoked("aGVhZA.b3RoZXI.c2ln", NOW));
        // Not a JWS: named by the whole text, and apart from signing inputs.
        assert!(!list.is_token_revoked("aGVhZA.Y2xhaW1z", NOW));
        assert!(list.unrevoke_token("aGVhZA.Y2xhaW1z.b3RoZXI"));
        assert!(!list.is_token_revoked("aGVhZA.Y2xhaW1z.c2ln", NOW));
    }

    #[test]
    fn an_empty_list_revokes_nothing() {
        let list = RevocationList::new(10);
        assert!(list.is_empty());
        assert!(!list.is_token_revoked("tok", NOW));
        assert!(!list.is_jti_revoked("iss", "j", NOW));
    }

    #[test]
    fn a_revocation_is_held_through_exp_plus_leeway_then_forgotten() {
        let list = RevocationList::with_leeway(10, 30);
        list.revoke_jti("iss", "j", NOW + 100, NOW).unwrap();
        assert!(list.is_jti_revoked("iss", "j", NOW + 130));
        assert!(!list.is_jti_revoked("iss", "j", NOW + 131));
        assert_eq!(list.purge_expired(NOW + 130), 0);
        assert_eq!(list.purge_expired(NOW + 131), 1);
        assert!(list.is_empty());
    }

    #[test]
    fn revoking_an_already_expired_token_succeeds_and_stores_nothing() {
        let list = RevocationList::with_leeway(1, 30);
        list.revoke_jti("iss", "j", NOW - 31, NOW).unwrap();
        list.revoke_token("tok", Some(NOW - 100), NOW).unwrap();
        assert_eq!(list.len(), 0);
        // Within the leeway it is still stored: the validator may accept it.
        list.revoke_jti("iss", "j", NOW - 30, NOW).unwrap();
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn a_full_list_of_live_revocations_refuses_more() {
        let list = RevocationList::new(3);
        for j in ["a", "b", "c"] {
            list.revoke_jti("iss", j, NOW + 600, NOW).unwrap();
        }
        assert_eq!(
            list.revoke_jti("iss", "d", NOW + 600, NOW),
            Err(RevocationError::Full { capacity: 3 })
        );
        assert_eq!(
            list.revoke_token("t", None, NOW),
            Err(RevocationError::Full { capacity: 3 })
        );
        assert!(!list.is_jti_revoked("iss", "d", NOW));
        // The live ones are all still there, and re-revoking one is fine.
        for j in ["a", "b", "c"] {
            assert!(list.is_jti_revoked("iss", j, NOW));
        }
        list.revoke_jti("iss", "a", NOW + 900, NOW).unwrap();
        assert_eq!(list.len(), 3);
    }

    #[test]
    fn the_full_error_names_the_setting_to_raise() {
        let text = RevocationError::Full { capacity: 7 }.to_string();
        assert!(
            text.contains("7") && text.contains("auth.revocation_entries"),
            "{text}"
        );
    }

    #[test]
    fn expired_revocations_are_forgotten_to_make_room() {
        let list = RevocationList::with_leeway(2, 0);
        list.revoke_jti("iss", "short", NOW + 10, NOW).unwrap();
        list.revoke_jti("iss", "long", NOW + 1000, NOW).unwrap();
        assert!(list.revoke_jti("iss", "new", NOW + 1000, NOW + 10).is_err());
        list.revoke_jti("iss", "new", NOW + 1000, NOW + 11).unwrap();
        assert!(list.is_jti_revoked("iss", "long", NOW + 11));
        assert!(list.is_jti_revoked("iss", "new", NOW + 11));
        assert!(
            !list.is_jti_revoked("iss", "short", NOW + 5),
            "forgotten, not just hidden"
        );
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn re_revoking_keeps_the_longer_hold() {
        let list = RevocationList::with_leeway(10, 0);
        list.revoke_token("t", Some(NOW + 100), NOW).unwrap();
        list.revoke_token("t", Some(NOW + 50), NOW).unwrap();
        assert!(list.is_token_revoked("t", NOW + 100));
        list.revoke_token("t", Some(NOW + 500), NOW).unwrap();
        list.purge_expired(NOW + 200);
        assert!(list.is_token_revoked("t", NOW + 200));
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn a_revocation_without_expiry_is_held_until_unrevoked() {
        let list = RevocationList::new(10);
        list.revoke_token("opaque", None, NOW).unwrap();
        list.purge_expired(i64::MAX);
        assert!(list.is_token_revoked("opaque", i64::MAX));
        assert!(list.unrevoke_token("opaque"));
        assert!(!list.unrevoke_token("opaque"));
        assert!(!list.is_token_revoked("opaque", NOW));
    }

    #[test]
    fn unrevoking_a_jti_frees_its_slot() {
        let list = RevocationList::new(1);
        list.revoke_jti("iss", "a", NOW + 100, NOW).unwrap();
        assert!(list.unrevoke_jti("iss", "a"));
        list.revoke_jti("iss", "b", NOW + 100, NOW).unwrap();
        assert!(list.is_jti_revoked("iss", "b", NOW));
    }

    #[test]
    fn capacity_zero_refuses_every_live_revocation() {
        let list = RevocationList::new(0);
        assert_eq!(
            list.revoke_jti("iss", "a", NOW + 100, NOW),
            Err(RevocationError::Full { capacity: 0 })
        );
        list.revoke_jti("iss", "a", NOW - 100, NOW).unwrap();
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let list = RevocationList::with_leeway(10, i64::MAX);
        list.revoke_jti("iss", "a", i64::MAX, i64::MAX).unwrap();
        list.revoke_jti("iss", "b", i64::MIN, i64::MIN).unwrap();
        assert!(list.is_jti_revoked("iss", "a", i64::MAX));
        let negative = RevocationList::with_leeway(10, -5);
        assert_eq!(negative.leeway_secs(), 0);
    }

    #[test]
    fn a_flood_of_distinct_revocations_stays_within_capacity() {
        let cap = 10_000;
        let list = RevocationList::with_leeway(cap, 0);
        let mut refused = 0;
        for i in 0..200_000i64 {
            // Each second, 100 new revocations of tokens living 50 seconds.
            let now = NOW + i / 100;
            match list.revoke_jti("iss", &format!("j{i}"), now + 50, now) {
                Ok(()) => {}
                Err(RevocationError::Full { capacity }) => {
                    assert_eq!(capacity, cap);
                    refused += 1;
                }
            }
            assert!(list.len() <= cap);
        }
        // 51 seconds of live revocations (5,100) always fit: nothing refused.
        assert_eq!(refused, 0);
        let inner = list.inner.read();
        assert!(inner.heap.len() <= cap * 2 + 33);
        drop(inner);
        // A flood of long-lived ones fills it, then is refused.
        let full = RevocationList::new(1_000);
        let results: Vec<_> = (0..5_000)
            .map(|i| full.revoke_token(&format!("t{i}"), None, NOW))
            .collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1_000);
        assert_eq!(full.len(), 1_000);
    }

    #[test]
    fn stale_heap_pairs_do_not_grow_without_bound() {
        let list = RevocationList::new(4);
        for i in 0..10_000 {
            list.revoke_token("t", Some(NOW + 100 + i), NOW).unwrap();
            if i % 2 == 0 {
                list.unrevoke_token("t");
            }
        }
        assert!(list.inner.read().heap.len() <= 4 * 2 + 33);
    }

    #[test]
    fn concurrent_revocations_and_checks_keep_the_bound() {
        let list = Arc::new(RevocationList::new(300));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let list = Arc::clone(&list);
                std::thread::spawn(move || {
                    for i in 0..5_000i64 {
                        let jti = format!("{t}-{i}");
                        let now = NOW + i / 50;
                        let _ = list.revoke_jti("iss", &jti, now + 5, now);
                        let _ = list.is_jti_revoked("iss", &jti, now);
                        assert!(list.len() <= 300);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(list.len() <= 300);
    }
}
