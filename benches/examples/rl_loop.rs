use governor::{Quota as GQuota, RateLimiter};
use mcpguard::SystemClock;
use mcpguard::ratelimit::{Algorithm, Limiter, Quota};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;
fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000000);
    let hot = "hot-client".to_string();
    let gov = RateLimiter::dashmap(GQuota::per_second(NonZeroU32::new(1_000_000_000).unwrap()));
    let mk = |a| {
        let q = Quota::new(a, 1_000_000_000, 1.0, None).unwrap();
        Limiter::new(a, q, 100_000, Arc::new(SystemClock)).unwrap()
    };
    let tb = mk(Algorithm::TokenBucket);
    let fw = mk(Algorithm::FixedWindow);
    let sw = mk(Algorithm::SlidingWindow);
    if which == "mine" {
        for _ in 0..n {
            std::hint::black_box(tb.check(std::hint::black_box(&hot), 1));
        }
        return;
    }
    if which == "contended" {
        for t in [1usize, 2, 3, 4] {
            let mut best = f64::MAX;
            for _ in 0..5 {
                best = best.min(contended(t, n));
            }
            println!("{t} threads on one key: {best:.1} ns per check (aggregate)");
        }
        return;
    }
    if which == "gov" {
        for _ in 0..n {
            std::hint::black_box(gov.check_key(std::hint::black_box(&hot)).is_ok());
        }
        return;
    }
    let mut best = [f64::MAX; 4];
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(gov.check_key(std::hint::black_box(&hot)).is_ok());
        }
        best[0] = best[0].min(t.elapsed().as_nanos() as f64 / n as f64);
        for (i, l) in [&fw, &sw, &tb].iter().enumerate() {
            let t = Instant::now();
            for _ in 0..n {
                std::hint::black_box(l.check(std::hint::black_box(&hot), 1));
            }
            best[i + 1] = best[i + 1].min(t.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    println!(
        "governor {:.1} ns; fixed {:.1} ({:.2}x) sliding {:.1} ({:.2}x) bucket {:.1} ({:.2}x)",
        best[0],
        best[1],
        best[1] / best[0],
        best[2],
        best[2] / best[0],
        best[3],
        best[3] / best[0]
    );
}
#[allow(dead_code)]
pub fn contended(threads: usize, n: usize) -> f64 {
    let q = Quota::new(Algorithm::TokenBucket, 1_000_000_000, 1.0, None).unwrap();
    let l = Limiter::new(Algorithm::TokenBucket, q, 100_000, Arc::new(SystemClock)).unwrap();
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..n {
                    std::hint::black_box(l.check("same-key", 1));
                }
            });
        }
    });
    t.elapsed().as_nanos() as f64 / (n * threads) as f64
}
