//! Rate limiting: mcpguard's keyed limiter against governor's keyed limiter
//! (DashMap store) on the same keys, in the same run.
//!
//! - `hot_key`: one key checked over and over (never denied);
//! - `keys_100k`: round-robin over 100,000 pre-warmed keys;
//! - `threads`: aggregate time per check with 1 and 2 threads on distinct keys
//!   (criterion's time is wall time / (checks per thread x threads), so the
//!   1-thread / 2-thread time ratio is the throughput speed-up); the
//!   `own_limiter` rows give each thread a limiter of its own, so they share
//!   nothing: the speed-up this machine allows in the same run;
//! - before criterion runs, bytes per tracked key: allocated (a counting
//!   global allocator around filling a limiter) and resident (the process's
//!   resident set, from `/proc/self/statm`); and the two-thread speed-ups of
//!   the `threads` setups as the best of 15 interleaved runs, which this
//!   machine's occasional slow phases cannot skew the way they skew a mean.
//!
//! Both limiters read their default clocks (mcpguard: `SystemClock`, a TSC
//! reading anchored to the wall clock; governor: quanta's TSC clock), as a user would
//! get them; `*_manual_clock` puts both on a clock that is one atomic read,
//! and `*_tsc_clock` puts mcpguard on the same TSC source as governor, to
//! separate the engines from their clocks.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use governor::{Quota as GQuota, RateLimiter};
use mcpguard::ratelimit::{Algorithm, Limiter, Quota};
use mcpguard::{Clock, ManualClock, SystemClock};

/// Counts live heap bytes so the memory report is a measurement, not an estimate.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: defers every call to the system allocator unchanged and only
// counts the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's. Forwarded, not
        // zeroed here, so that large zeroed blocks stay unbacked until used
        // (the resident figures depend on it).
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: ptr came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const KEYS: usize = 100_000;

/// Unix time from quanta's TSC clock (governor's clock source), anchored to
/// the system clock once.
#[derive(Debug)]
struct TscClock {
    clock: quanta::Clock,
    base: quanta::Instant,
    base_unix_nanos: u64,
}

impl TscClock {
    fn new() -> Self {
        let clock = quanta::Clock::new();
        let base = clock.now();
        Self {
            clock,
            base,
            base_unix_nanos: SystemClock.now_nanos(),
        }
    }
}

impl Clock for TscClock {
    fn now_nanos(&self) -> u64 {
        let elapsed = self.clock.now().duration_since(self.base).as_nanos();
        self.base_unix_nanos
            .saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }
}
/// Never denies in the benches (a billion per second, burst a billion): the
/// allowed path is measured.
const FAST: u64 = 1_000_000_000;

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-client-{i:08}")).collect()
}

fn ours_with(
    algorithm: Algorithm,
    limit: u64,
    window: f64,
    max_keys: usize,
    clock: Arc<dyn Clock>,
) -> Limiter {
    let quota = Quota::new(algorithm, limit, window, None).unwrap_or_else(|e| panic!("{e}"));
    Limiter::new(algorithm, quota, max_keys, clock).unwrap_or_else(|e| panic!("{e}"))
}

fn ours(algorithm: Algorithm, max_keys: usize) -> Limiter {
    ours_with(algorithm, FAST, 1.0, max_keys, Arc::new(SystemClock))
}

/// For many keys: states that stay live (not back to a fresh quota) between
/// visits, so the table keeps every key, yet never deny within a run. Token
/// bucket: 10,000 per 900 s (one per 90 ms: a round over 100,000 keys stays
/// shorter than that up to 900 ns a check), burst 1,000,000; fixed window:
/// a billion per 900 s.
fn ours_many(algorithm: Algorithm, max_keys: usize) -> Limiter {
    ours_many_on(algorithm, max_keys, Arc::new(SystemClock))
}

fn ours_many_on(algorithm: Algorithm, max_keys: usize, clock: Arc<dyn Clock>) -> Limiter {
    let quota = match algorithm {
        Algorithm::TokenBucket => Quota::new(algorithm, 10_000, 900.0, Some(1_000_000)),
        _ => Quota::new(algorithm, FAST, 900.0, None),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    Limiter::new(algorithm, quota, max_keys, clock).unwrap_or_else(|e| panic!("{e}"))
}

fn theirs_many() -> Governor {
    RateLimiter::dashmap(
        GQuota::with_period(Duration::from_millis(90))
            .unwrap_or_else(|| panic!())
            .allow_burst(nz(1_000_000)),
    )
}

type Governor = RateLimiter<
    String,
    governor::state::keyed::DashMapStateStore<String>,
    governor::clock::DefaultClock,
    governor::middleware::NoOpMiddleware<
        <governor::clock::DefaultClock as governor::clock::Clock>::Instant,
    >,
>;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn theirs() -> Governor {
    RateLimiter::dashmap(GQuota::per_second(nz(FAST as u32)))
}

/// Resident bytes of this process (Linux), if known.
fn resident() -> Option<i64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The environment variable that makes this binary measure one limiter's
/// resident memory and exit (see [`resident_per_key`]).
const RESIDENT_RUN: &str = "MCPGUARD_BENCH_RESIDENT";

/// In a fresh process (so that no freed block of an earlier limiter is
/// reused), the resident bytes per tracked key of a limiter filled with
/// `n` keys: this binary run again with [`RESIDENT_RUN`] set.
fn resident_per_key(algorithm: Algorithm, max_keys: usize, n: usize) -> String {
    let run = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .env(
                RESIDENT_RUN,
                format!("{} {max_keys} {n}", algorithm.as_str()),
            )
            .output()
    });
    match run {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => "n/a".into(),
    }
}

/// The child's side of [`resident_per_key`].
fn resident_child(spec: &str) {
    let parts: Vec<&str> = spec.split(' ').collect();
    let (Some(algorithm), Some(Ok(max_keys)), Some(Ok(n))) = (
        parts.first().and_then(|a| Algorithm::from_name(a)),
        parts.get(1).map(|m| m.parse::<usize>()),
        parts.get(2).map(|m| m.parse::<usize>()),
    ) else {
        std::process::exit(2);
    };
    let ks = keys("mem", n);
    let before = resident();
    let l = ours_with(algorithm, 100, 900.0, max_keys, Arc::new(SystemClock));
    for k in &ks {
        black_box(l.check(k, 1));
    }
    match (before, resident()) {
        (Some(a), Some(b)) => println!("{:.1}", (b - a) as f64 / l.tracked_keys() as f64),
        _ => std::process::exit(1),
    }
}

fn memory_report() {
    let ks = keys("mem", KEYS);
    // 1MCP's default quota; max_keys = the key count, then twice it (no
    // eviction); then 5,000 keys in a table for 100,000. Allocated: what the
    // table asked for (its slots are reserved up front); resident: what the
    // system backs, measured in a fresh process.
    for (max_keys, n) in [(KEYS, KEYS), (2 * KEYS, KEYS), (KEYS, 5_000)] {
        for algorithm in [
            Algorithm::FixedWindow,
            Algorithm::SlidingWindow,
            Algorithm::TokenBucket,
        ] {
            let before = LIVE.load(Ordering::Relaxed);
            let l = ours_with(algorithm, 100, 900.0, max_keys, Arc::new(SystemClock));
            for k in &ks[..n] {
                black_box(l.check(k, 1));
            }
            let bytes = LIVE.load(Ordering::Relaxed) - before;
            let tracked = l.tracked_keys() as f64;
            println!(
                "memory: mcpguard {algorithm:?} max_keys={max_keys}: {tracked} keys tracked, {bytes} bytes allocated, {:.1} bytes/key allocated, {} bytes/key resident",
                bytes as f64 / tracked,
                resident_per_key(algorithm, max_keys, n)
            );
        }
    }
    let before = LIVE.load(Ordering::Relaxed);
    let g: Governor = RateLimiter::dashmap(
        GQuota::with_period(Duration::from_secs(9))
            .unwrap_or_else(|| panic!())
            .allow_burst(nz(100)),
    );
    for k in &ks {
        let _ = black_box(g.check_key(k));
    }
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "memory: governor dashmap: {} keys, {bytes} bytes, {:.1} bytes/key (incl. the key Strings it owns)",
        g.len(),
        bytes as f64 / g.len() as f64
    );
}

fn single(c: &mut Criterion) {
    let hot = "hot-client".to_string();

    let mut g = c.benchmark_group("ratelimit/hot_key");
    let gov = theirs();
    g.bench_function("governor_keyed", |b| {
        b.iter(|| black_box(gov.check_key(black_box(&hot)).is_ok()))
    });
    for algorithm in [
        Algorithm::TokenBucket,
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
    ] {
        let l = ours(algorithm, KEYS);
        g.bench_function(format!("mcpguard_{algorithm:?}"), |b| {
            b.iter(|| black_box(l.check(black_box(&hot), 1)).remaining)
        });
    }
    g.finish();

    // The engines alone: both on a clock that is one atomic read.
    let mut g = c.benchmark_group("ratelimit/hot_key_manual_clock");
    let gov = RateLimiter::dashmap_with_clock(
        GQuota::per_second(nz(FAST as u32)),
        governor::clock::FakeRelativeClock::default(),
    );
    g.bench_function("governor_keyed", |b| {
        b.iter(|| black_box(gov.check_key(black_box(&hot)).is_ok()))
    });
    for algorithm in [Algorithm::TokenBucket, Algorithm::FixedWindow] {
        let l = ours_with(
            algorithm,
            FAST,
            1.0,
            KEYS,
            Arc::new(ManualClock::new(1_767_225_600)),
        );
        g.bench_function(format!("mcpguard_{algorithm:?}"), |b| {
            b.iter(|| black_box(l.check(black_box(&hot), 1)).remaining)
        });
    }
    g.finish();

    // A throttled hot key (1MCP's 100 per 15 minutes): the denied path.
    let mut g = c.benchmark_group("ratelimit/hot_key_denied");
    let gov: Governor = RateLimiter::dashmap(
        GQuota::with_period(Duration::from_secs(9))
            .unwrap_or_else(|| panic!())
            .allow_burst(nz(100)),
    );
    g.bench_function("governor_keyed", |b| {
        b.iter(|| black_box(gov.check_key(black_box(&hot)).is_ok()))
    });
    for algorithm in [Algorithm::TokenBucket, Algorithm::FixedWindow] {
        let l = ours_with(algorithm, 100, 900.0, KEYS, Arc::new(SystemClock));
        g.bench_function(format!("mcpguard_{algorithm:?}"), |b| {
            b.iter(|| black_box(l.check(black_box(&hot), 1)).retry_after)
        });
    }
    g.finish();

    // One of 100,000 tracked keys, round robin (max_keys leaves room for all).
    let mut g = c.benchmark_group("ratelimit/keys_100k");
    let ks = keys("many", KEYS);
    let gov = theirs_many();
    for k in &ks {
        let _ = gov.check_key(k);
    }
    let mut i = 0;
    g.bench_function("governor_keyed", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(gov.check_key(&ks[i]).is_ok())
        })
    });
    for algorithm in [Algorithm::TokenBucket, Algorithm::FixedWindow] {
        let l = ours_many(algorithm, 2 * KEYS);
        for k in &ks {
            l.check(k, 1);
        }
        let mut i = 0;
        g.bench_function(format!("mcpguard_{algorithm:?}"), |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(l.check(&ks[i], 1)).remaining
            })
        });
    }
    g.finish();

    // mcpguard on governor's clock source (governor's numbers: the groups above).
    let mut g = c.benchmark_group("ratelimit/tsc_clock");
    for algorithm in [Algorithm::TokenBucket, Algorithm::FixedWindow] {
        let l = ours_with(algorithm, FAST, 1.0, KEYS, Arc::new(TscClock::new()));
        g.bench_function(format!("hot_key/mcpguard_{algorithm:?}"), |b| {
            b.iter(|| black_box(l.check(black_box(&hot), 1)).remaining)
        });
        let l = ours_many_on(algorithm, 2 * KEYS, Arc::new(TscClock::new()));
        for k in &ks {
            l.check(k, 1);
        }
        let mut i = 0;
        g.bench_function(format!("keys_100k/mcpguard_{algorithm:?}"), |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(l.check(&ks[i], 1)).remaining
            })
        });
    }
    g.finish();
}

/// One check, given the thread's index and a key.
type Check<'a> = dyn Fn(usize, &String) + Sync + 'a;

/// Wall time of `threads` threads each doing `iters` checks on its own keys,
/// divided by the thread count: aggregate time per check. `check` gets the
/// thread's index and a key.
fn parallel(threads: usize, iters: u64, check: &Check<'_>, ks: &[Vec<String>]) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for (t, mine) in ks.iter().take(threads).enumerate() {
            s.spawn(move || {
                for i in 0..iters as usize {
                    check(t, &mine[i % mine.len()]);
                }
            });
        }
    });
    start.elapsed() / threads as u32
}

/// What the two-thread measurements run: two threads' keys (10,000 each),
/// primed into a shared limiter, into a limiter per thread (sharing nothing:
/// the machine's ceiling) and into governor.
struct Setups {
    ks: Vec<Vec<String>>,
    shared: Limiter,
    own: [Limiter; 2],
    gov: Governor,
}

impl Setups {
    fn new(prefix: &str) -> Self {
        let ks: Vec<Vec<String>> = (0..2)
            .map(|t| keys(&format!("{prefix}{t}"), 10_000))
            .collect();
        let shared = ours_many(Algorithm::TokenBucket, KEYS);
        let own = [
            ours_many(Algorithm::TokenBucket, KEYS),
            ours_many(Algorithm::TokenBucket, KEYS),
        ];
        let gov = theirs_many();
        for (t, mine) in ks.iter().enumerate() {
            for k in mine {
                shared.check(k, 1);
                own[t].check(k, 1);
                let _ = gov.check_key(k);
            }
        }
        Self {
            ks,
            shared,
            own,
            gov,
        }
    }
}

/// Two-thread scaling, robust to a noisy machine: the three setups of the
/// `threads` group (a shared limiter, a limiter per thread, governor) run
/// one after another, 15 times over, and each keeps its best time; the
/// speed-up is the best one-thread time over the best two-thread time.
fn scaling_report() {
    let Setups {
        ks,
        shared,
        own,
        gov,
    } = Setups::new("s");
    let checks: [(&str, &Check<'_>); 3] = [
        ("mcpguard TokenBucket, shared limiter", &|_, k| {
            drop(black_box(shared.check(k, 1)))
        }),
        ("mcpguard TokenBucket, a limiter per thread", &|t, k| {
            drop(black_box(own[t].check(k, 1)))
        }),
        ("governor keyed", &|_, k| {
            let _ = black_box(gov.check_key(k));
        }),
    ];
    let mut best = [[Duration::MAX; 2]; 3];
    for _ in 0..15 {
        for (i, (_, check)) in checks.iter().enumerate() {
            for n in [1, 2] {
                let t = parallel(n, 1_000_000, *check, &ks);
                best[i][n - 1] = best[i][n - 1].min(t);
            }
        }
    }
    for (i, (name, _)) in checks.iter().enumerate() {
        let [one, two] = best[i];
        println!(
            "scaling: {name}: 1 thread {:.1} ns, 2 threads {:.1} ns a check, {:.2}x (best of 15)",
            one.as_secs_f64() * 1e9 / 1e6,
            two.as_secs_f64() * 1e9 / 1e6,
            one.as_secs_f64() / two.as_secs_f64()
        );
    }
}

fn threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("ratelimit/threads");
    let Setups {
        ks,
        shared: l,
        own,
        gov,
    } = Setups::new("t");
    for n in [1, 2] {
        g.bench_function(format!("mcpguard_TokenBucket/{n}"), |b| {
            b.iter_custom(|iters| parallel(n, iters, &|_, k| drop(black_box(l.check(k, 1))), &ks))
        });
        g.bench_function(format!("governor_keyed/{n}"), |b| {
            b.iter_custom(|iters| {
                parallel(
                    n,
                    iters,
                    &|_, k| {
                        let _ = black_box(gov.check_key(k));
                    },
                    &ks,
                )
            })
        });
        g.bench_function(format!("mcpguard_TokenBucket_own_limiter/{n}"), |b| {
            b.iter_custom(|iters| {
                parallel(n, iters, &|t, k| drop(black_box(own[t].check(k, 1))), &ks)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = single, threads
}

fn main() {
    if let Ok(spec) = std::env::var(RESIDENT_RUN) {
        return resident_child(&spec);
    }
    memory_report();
    scaling_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
