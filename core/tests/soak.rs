//! The soak (`make soak`; ignored by `cargo test`): many threads for
//! minutes over a million rate-limit keys and a churning verified-token
//! cache, with clock jumps, key rotation (issuer invalidation) and
//! revocation. Asserts that no key is admitted past its limit in a window,
//! that the limiter tracks at most its configured keys and the process's
//! memory stays under its bound, that no revoked token is served from the
//! cache once its revocation returned, and that no thread stalls.
//!
//! `SOAK_SECONDS` (default 180) and `SOAK_THREADS` (default 8) tune it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcpguard::ratelimit::{Algorithm, Limiter, Quota};
use mcpguard::token::TokenCache;
use mcpguard::token::introspection::{IntrospectionContext, validate_introspection};
use mcpguard::{Clock, ManualClock};
use parking_lot::RwLock;

const KEYS: usize = 1_000_000;
/// Room for the keys with margin, so no shard fills (a full shard forgets
/// keys with quota left, by design, which would reset their counts).
const MAX_KEYS: usize = 1_250_000;
const LIMIT: u32 = 5;
const WINDOW_SECS: u64 = 60;
const TOKENS: usize = 50_000;
const CACHE: usize = 10_000;
const ISSUER: &str = "https://auth.example.com";
/// The process may grow by this much over the run (the limiter's table is
/// about 43 bytes per `MAX_KEYS`, the per-key counters 4 bytes per key).
const MEMORY_BOUND_BYTES: u64 = 256 << 20;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A cheap per-thread random stream (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn principal(token: usize, now: i64) -> Arc<mcpguard::token::Principal> {
    let ctx = IntrospectionContext {
        now_secs: now,
        leeway_secs: 0,
        issuer_ok: &|_| true,
        audience_ok: &|_| true,
        role_claim: None,
    };
    let text = format!(
        r#"{{"active":true,"sub":"u{token}","jti":"j{token}","exp":{},"iss":"{ISSUER}"}}"#,
        now + 3600
    );
    Arc::new(validate_introspection(&text, &ctx).expect("a valid response"))
}

#[test]
#[ignore = "minutes long: run with make soak"]
fn soak_limits_memory_revocation_and_progress_hold_under_load() {
    let seconds = env("SOAK_SECONDS", 180);
    let threads = env("SOAK_THREADS", 8) as usize;
    let start_rss = resident_bytes();

    let clock = ManualClock::new(1_767_225_600);
    let quota = Quota::new(
        Algorithm::FixedWindow,
        u64::from(LIMIT),
        WINDOW_SECS as f64,
        None,
    )
    .expect("a valid quota");
    let limiter = Limiter::new(
        Algorithm::FixedWindow,
        quota,
        MAX_KEYS,
        Arc::new(clock.clone()),
    )
    .expect("a valid limiter");
    // Admissions per key in the current window; a clock jump takes the
    // write side, so every check falls in exactly one window.
    let window = RwLock::new(());
    let admitted: Vec<AtomicU32> = (0..KEYS).map(|_| AtomicU32::new(0)).collect();
    let over_limit = AtomicU64::new(0);

    let cache = TokenCache::new(CACHE, 300);
    let revoked: Vec<AtomicBool> = (0..TOKENS).map(|_| AtomicBool::new(false)).collect();
    let revocation_done: Vec<AtomicBool> = (0..TOKENS).map(|_| AtomicBool::new(false)).collect();
    let epoch = AtomicU64::new(0);
    let served_revoked = AtomicU64::new(0);

    let heartbeats: Vec<AtomicU64> = (0..threads).map(|_| AtomicU64::new(0)).collect();
    let stop = AtomicBool::new(false);
    let checks = AtomicU64::new(0);
    let (mut jumps, mut rotations, mut revocations) = (0u64, 0u64, 0u64);
    let mut max_stall = Duration::ZERO;
    let mut peak_rss = start_rss;
    let began = Instant::now();

    std::thread::scope(|s| {
        for (t, heartbeat) in heartbeats.iter().enumerate() {
            let (limiter, window, admitted, over_limit) =
                (&limiter, &window, &admitted, &over_limit);
            let (cache, revoked, revocation_done, epoch, served_revoked) =
                (&cache, &revoked, &revocation_done, &epoch, &served_revoked);
            let (stop, checks, clock) = (&stop, &checks, &clock);
            s.spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
                let mut names: Vec<String> = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Rate limiting: a key among a million.
                    let key = (rng.next() % KEYS as u64) as usize;
                    names.clear();
                    names.push(format!("k{key}"));
                    {
                        let _w = window.read();
                        if limiter.check(&names[0], 1).allowed
                            && admitted[key].fetch_add(1, Ordering::Relaxed) + 1 > LIMIT
                        {
                            over_limit.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    // The token cache, one request in four.
                    if n.is_multiple_of(4) {
                        let tok = (rng.next() % TOKENS as u64) as usize;
                        let text = format!("token-{tok}");
                        let now = clock.now_secs();
                        let done_before = revocation_done[tok].load(Ordering::SeqCst);
                        match cache.get(&text, now) {
                            Some(_) if done_before => {
                                served_revoked.fetch_add(1, Ordering::Relaxed);
                            }
                            Some(_) => {}
                            None => {
                                // "Validate" (refused once revoked), then
                                // insert unless a revocation or rotation
                                // happened meanwhile.
                                let seen = epoch.load(Ordering::SeqCst);
                                if !revoked[tok].load(Ordering::SeqCst) {
                                    cache.insert_if(&text, principal(tok, now), now, || {
                                        epoch.load(Ordering::SeqCst) == seen
                                    });
                                }
                            }
                        }
                    }
                    n += 1;
                    heartbeat.store(n, Ordering::Relaxed);
                }
                checks.fetch_add(n, Ordering::Relaxed);
            });
        }

        // The conductor: clock jumps, rotations, revocations, stall watch.
        let mut rng = Rng(42);
        let mut last: Vec<u64> = vec![0; threads];
        let mut last_move = vec![Instant::now(); threads];
        let mut next_jump = Instant::now() + Duration::from_secs(5);
        let mut next_revocation = 0usize;
        while began.elapsed() < Duration::from_secs(seconds) {
            std::thread::sleep(Duration::from_millis(100));
            let now = Instant::now();
            for t in 0..threads {
                let beat = heartbeats[t].load(Ordering::Relaxed);
                if beat != last[t] {
                    last[t] = beat;
                    last_move[t] = now;
                }
                max_stall = max_stall.max(now - last_move[t]);
            }
            if now >= next_jump {
                // A new window: jump one to ten windows ahead.
                let _w = window.write();
                let over = admitted
                    .iter()
                    .filter(|a| a.load(Ordering::Relaxed) > LIMIT)
                    .count();
                assert_eq!(over, 0, "keys admitted past the limit in window {jumps}");
                clock.advance(Duration::from_secs(WINDOW_SECS * (1 + rng.next() % 10)));
                for a in &admitted {
                    a.store(0, Ordering::Relaxed);
                }
                jumps += 1;
                next_jump = now + Duration::from_secs(5);
            }
            // A key rotation every 2 s: every cached principal of the issuer goes.
            if rng.next().is_multiple_of(20) {
                epoch.fetch_add(1, Ordering::SeqCst);
                cache.invalidate_issuer(ISSUER);
                rotations += 1;
            }
            // Revoke a few tokens.
            for _ in 0..5 {
                if next_revocation < TOKENS {
                    let tok = next_revocation;
                    next_revocation += 1;
                    revoked[tok].store(true, Ordering::SeqCst);
                    epoch.fetch_add(1, Ordering::SeqCst);
                    cache.invalidate_jti(ISSUER, &format!("j{tok}"));
                    revocation_done[tok].store(true, Ordering::SeqCst);
                    revocations += 1;
                }
            }
            peak_rss = peak_rss.max(resident_bytes());
        }
        stop.store(true, Ordering::Relaxed);
    });

    let elapsed = began.elapsed().as_secs_f64();
    let total = checks.load(Ordering::Relaxed);
    println!(
        "soak: {threads} threads, {elapsed:.0} s, {total} rate checks ({:.0}/s), {} keys tracked (bound {MAX_KEYS}), \
         {jumps} clock jumps, {rotations} rotations, {revocations} revocations, cache {} of {CACHE}, \
         resident {} MiB at start, {} MiB peak, longest stall {} ms",
        total as f64 / elapsed,
        limiter.tracked_keys(),
        cache.len(),
        start_rss >> 20,
        peak_rss >> 20,
        max_stall.as_millis(),
    );
    assert_eq!(
        over_limit.load(Ordering::Relaxed),
        0,
        "admissions past the limit"
    );
    assert_eq!(
        served_revoked.load(Ordering::Relaxed),
        0,
        "revoked tokens served from the cache"
    );
    assert!(limiter.tracked_keys() <= MAX_KEYS);
    assert!(cache.len() <= CACHE);
    assert!(
        peak_rss.saturating_sub(start_rss) <= MEMORY_BOUND_BYTES,
        "grew by {} MiB",
        (peak_rss - start_rss) >> 20
    );
    assert!(
        max_stall < Duration::from_secs(5),
        "a thread stalled {max_stall:?}"
    );
}
