//! Access-control speed targets:
//! - a compiled filter of ten mentions against a server with five tags: ≤ 50 ns;
//! - visible servers among 10,000 servers: ≤ 1 ms, linear (1k and 10k);
//! - parsing an expression: linear in its length (1 KiB and 4 KiB);
//! - filtering a 100-tool `tools/list` result (1MCP names, ten servers,
//!   some tools with tags of their own): ≤ 20 µs. `filter_listing_in_place`
//!   is the one that can meet it: `filter_listing` returns a copy, and
//!   copying the kept items costs more than deciding them.
//!
//! Each group has a `baseline` measured in the same run: the way 1MCP does
//! the same work (a tree of string tags, server tags normalised on every
//! comparison) and, for parsing, serde_json reading the same filter written
//! as a JSON tag query. The machine is shared, so compare ratios within a
//! run rather than absolute figures across runs.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcpguard::access::{AccessPolicy, AccessSettings, Filter, ItemServer, ListingItems};
use serde_json::json;

/// 1MCP's evaluator, reimplemented for comparison: string tags, server
/// tags normalised at each tag node.
enum Naive {
    Tag(String),
    Not(Box<Naive>),
    And(Vec<Naive>),
    Or(Vec<Naive>),
}

impl Naive {
    fn eval(&self, server_tags: &[&str]) -> bool {
        match self {
            Naive::Tag(t) => server_tags
                .iter()
                .map(|s| s.trim().to_lowercase())
                .any(|s| s == *t),
            Naive::Not(n) => !n.eval(server_tags),
            Naive::And(v) => v.iter().all(|n| n.eval(server_tags)),
            Naive::Or(v) => v.iter().any(|n| n.eval(server_tags)),
        }
    }
}

fn tag(t: &str) -> Naive {
    Naive::Tag(t.to_string())
}

/// TEN_MENTIONS as a naive tree.
fn naive_ten() -> Naive {
    Naive::And(vec![
        Naive::Or(vec![tag("t0"), tag("t1")]),
        Naive::Or(vec![tag("t2"), tag("t3")]),
        Naive::Not(Box::new(tag("t4"))),
        Naive::Or(vec![tag("t5"), tag("t6"), tag("t7")]),
        Naive::Not(Box::new(Naive::And(vec![tag("t8"), tag("t9")]))),
    ])
}

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
    let naive = naive_ten();
    assert!(naive.eval(&server_names));
    group.bench_function("baseline_1mcp_style", |b| {
        b.iter(|| black_box(naive.eval(black_box(&server_names))))
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
        // 1MCP's way: string tags per server, the granted list scanned, the
        // filter tree evaluated on strings.
        let servers: Vec<(String, Vec<String>)> = (0..n)
            .map(|i| {
                let tags = (0..4)
                    .map(|k| format!("g{}", (i * 7 + k * 13) % 200))
                    .collect();
                (format!("server-{i}"), tags)
            })
            .collect();
        let naive = Naive::And(vec![
            Naive::Or(vec![tag("g0"), tag("g5"), tag("g10"), tag("g15")]),
            Naive::Not(Box::new(tag("g20"))),
        ]);
        group.bench_with_input(
            BenchmarkId::new("baseline_1mcp_style_filter_5", n),
            &n,
            |b, _| {
                b.iter(|| {
                    let visible: Vec<&str> = servers
                        .iter()
                        .filter(|(_, server_tags)| {
                            server_tags.iter().any(|t| tags.contains(t))
                                && naive.eval(
                                    &server_tags.iter().map(String::as_str).collect::<Vec<_>>(),
                                )
                        })
                        .map(|(name, _)| name.as_str())
                        .collect();
                    black_box(visible)
                })
            },
        );
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

/// A JSON tag query with the filter's mentions (`{"$or": [{"tag": ..}, ..]}`),
/// text for the serde_json baseline.
fn json_query(filter: &Filter) -> String {
    let tags: Vec<String> = filter
        .mentions()
        .iter()
        .map(|t| format!("{{\"tag\":\"{t}\"}}"))
        .collect();
    format!("{{\"$or\":[{}]}}", tags.join(","))
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("access/parse_expression");
    for kib in [1usize, 4] {
        let text = expression(kib * 1024);
        let filter = match Filter::parse_expression(&text) {
            Ok(f) => f,
            Err(e) => panic!("{} bytes: {e}", text.len()),
        };
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("expression", format!("{kib}KiB")),
            &text,
            |b, t| b.iter(|| black_box(Filter::parse_expression(black_box(t)))),
        );
        // Compare throughput (bytes per second), not time: the JSON text
        // has a different length.
        let json = json_query(&filter);
        group.throughput(Throughput::Bytes(json.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("baseline_serde_json_value", format!("{kib}KiB")),
            &json,
            |b, t| b.iter(|| black_box(serde_json::from_str::<serde_json::Value>(black_box(t)))),
        );
    }
    group.finish();
}

fn listing(c: &mut Criterion) {
    let mut servers = serde_json::Map::new();
    for i in 0..10 {
        servers.insert(
            format!("server{i}"),
            json!({"tags": [format!("t{i}")], "tools": {"admin": {"tags": [format!("admin{i}")]}}}),
        );
    }
    let settings = AccessSettings::from_config(&json!({ "servers": servers })).expect("settings");
    let policy = AccessPolicy::build(&settings).expect("policy");
    // A tools/list result as 1MCP aggregates it: 100 tools, ten per server,
    // one of each server's the `admin` tool with tags of its own.
    let tools: Vec<_> = (0..100)
        .map(|i| {
            let tool = if i % 10 == 0 {
                "admin".to_string()
            } else {
                format!("tool{i}")
            };
            json!({
                "name": format!("server{}_1mcp_{tool}", i / 10),
                "description": "Reads a thing and returns it.",
                "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}},
                                "required": ["path"]}
            })
        })
        .collect();
    let result = json!({ "tools": tools, "nextCursor": "page-2" });
    let granted = policy.granted(&["t0", "t1", "t2", "t3", "t4", "admin0"]);
    let items = ListingItems::Mapped(ItemServer::one_mcp());
    let kept = policy.filter_listing(&result, &granted, None, &items)["tools"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(
        kept, 46,
        "five servers' nine plain tools, and one admin tool"
    );
    let mut group = c.benchmark_group("access/listing");
    group.bench_function("filter_100_tools_10_servers", |b| {
        b.iter(|| black_box(policy.filter_listing(black_box(&result), &granted, None, &items)))
    });
    // The same decisions over items that are only a name: what deciding
    // costs apart from copying or dropping JSON.
    let names_only = json!({ "tools": result["tools"].as_array().map(|tools| {
        tools.iter().map(|t| json!({"name": t["name"].clone()})).collect::<Vec<_>>()
    }) });
    group.bench_function("filter_100_name_only_tools_10_servers", |b| {
        b.iter(|| black_box(policy.filter_listing(black_box(&names_only), &granted, None, &items)))
    });
    group.bench_function("in_place_100_tools_10_servers", |b| {
        b.iter_batched_ref(
            || result.clone(),
            |r| policy.filter_listing_in_place(r, &granted, None, &items),
            criterion::BatchSize::SmallInput,
        )
    });
    // The floor of the copying variant: copying the whole result, which
    // `filter_listing` cannot avoid for the items it keeps.
    group.bench_function("baseline_clone_100_tools", |b| {
        b.iter(|| black_box(black_box(&result).clone()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = filter_eval, visible_servers, parse, listing
}
criterion_main!(benches);
