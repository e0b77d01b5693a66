//! Access-control speed targets:
//! - a compiled filter of ten mentions against a server with five tags: ≤ 50 ns;
//! - visible servers among 10,000 servers: ≤ 1 ms, linear (1k and 10k);
//! - parsing an expression: linear in its length (1 KiB and 4 KiB).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcpguard::access::{AccessPolicy, AccessSettings, Filter};

const TEN_MENTIONS: &str =
    "(t0 or t1) and (t2 or t3) and !t4 and (t5 or t6 or t7) and !(t8 and t9)";

fn filter_eval(c: &mut Criterion) {
    let filter = Filter::parse_expression(TEN_MENTIONS).expect("filter");
    assert_eq!(filter.mentions().len(), 10);
    // The policy's path: mentions mapped to interned ids once per request,
    // a server's tags as ids.
    let mention_ids: Vec<Option<u32>> = (0..10).map(Some).collect();
    let server: [u32; 5] = [0, 2, 5, 11, 12];
    let server_names = ["t0", "t2", "t5", "x", "y"];
    assert!(filter.matches_tags(&server_names));

    let mut group = c.benchmark_group("access/filter_eval");
    group.bench_function("10_mentions_vs_5_interned_tags", |b| {
        b.iter(|| {
            let server = black_box(&server);
            let ids = black_box(&mention_ids);
            black_box(filter.matches_with(|i| {
                ids.get(i)
                    .copied()
                    .flatten()
                    .is_some_and(|id| server.contains(&id))
            }))
        })
    });
    group.bench_function("10_mentions_vs_5_string_tags", |b| {
        b.iter(|| black_box(filter.matches_tags(black_box(&server_names))))
    });
    group.finish();
}

/// `n` servers, each with 4 tags out of 200; returns the configuration text.
fn config(n: usize) -> String {
    let mut servers = Vec::with_capacity(n);
    for i in 0..n {
        let tags: Vec<String> = (0..4)
            .map(|k| format!("\"g{}\"", (i * 7 + k * 13) % 200))
            .collect();
        servers.push(format!(
            "\"server-{i}\": {{\"tags\": [{}]}}",
            tags.join(",")
        ));
    }
    format!("{{\"servers\": {{{}}}}}", servers.join(","))
}

fn visible_servers(c: &mut Criterion) {
    let mut group = c.benchmark_group("access/visible_servers");
    for n in [1_000usize, 10_000] {
        let settings = AccessSettings::from_config_str(&config(n)).expect("settings");
        let policy = AccessPolicy::build(&settings).expect("policy");
        let tags: Vec<String> = (0..40).map(|i| format!("g{}", i * 5)).collect();
        let granted = policy.granted(&tags);
        let filter = Filter::parse_expression("(g0 or g5 or g10 or g15) and !g20").expect("filter");
        let visible = policy.visible_servers(&granted, Some(&filter)).len();
        assert!(visible > 0 && visible < n, "{visible}");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("granted_40_no_filter", n), &n, |b, _| {
            b.iter(|| black_box(policy.visible_servers(black_box(&granted), None)))
        });
        group.bench_with_input(BenchmarkId::new("granted_40_filter_5", n), &n, |b, _| {
            b.iter(|| black_box(policy.visible_servers(black_box(&granted), Some(&filter))))
        });
        group.bench_with_input(BenchmarkId::new("decide_filter_5", n), &n, |b, _| {
            b.iter(|| black_box(policy.decide(black_box(&granted), Some(&filter), None, None)))
        });
    }
    group.finish();
}

/// An expression of about `bytes` bytes (≤ 256 mentions).
fn expression(bytes: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while out.len() + 40 < bytes {
        let part = match i % 3 {
            0 => format!("service-tag-{i:04}"),
            1 => format!("(service-tag-{i:04} or !excluded-tag-{i:04})"),
            _ => format!("another-tag-{i:04}"),
        };
        if !out.is_empty() {
            out.push_str(if i % 2 == 0 { " and " } else { " or " });
        }
        out.push_str(&part);
        i += 1;
    }
    out
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("access/parse_expression");
    for kib in [1usize, 4] {
        let text = expression(kib * 1024);
        if let Err(e) = Filter::parse_expression(&text) {
            panic!("{} bytes: {e}", text.len());
        }
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{kib}KiB")),
            &text,
            |b, t| b.iter(|| black_box(Filter::parse_expression(black_box(t)))),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = filter_eval, visible_servers, parse
}
criterion_main!(benches);
