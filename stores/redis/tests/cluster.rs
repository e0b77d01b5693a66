//! The Redis store on a real Redis Cluster (three primaries, no replicas,
//! started and joined by the harness): two Guards with their own
//! connection pools share one budget exactly, for every algorithm and for
//! client keys on different nodes; a revocation and an opaque token made
//! through one are seen by the other; a slot moved to another node in
//! the middle of a run (a `MOVED` for every pooled connection) keeps its
//! budget; and on a cluster with a replica per primary, a primary killed
//! mid-run fails over to its replica and the Guard recovers by itself,
//! every request in between answered (503, `fail_closed`) within its
//! timeout.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mcpguard::guard::{Guard, GuardOptions, Request};
use mcpguard::token::OpaqueEntry;
use serde_json::json;

const LIMIT: u64 = 120;
const PER_THREAD: usize = 40;

fn guard(cluster: &support::Cluster, prefix: &str, rate: serde_json::Value) -> Guard {
    let urls = cluster.urls();
    let config = json!({
        "resource": "https://mcp.example.com/mcp",
        "auth": {
            "required": false,
            "opaque_tokens": true,
            "issuers": [{
                "issuer": "https://auth.example.com",
                "jwks": mcpguard_testkit::hmac_jwks()
            }]
        },
        "rate_limit": rate,
        // The first node and the others as a list: a cluster.
        "store": { "redis": {
            "url": urls[0], "urls": urls[1..], "prefix": prefix,
            "timeout_ms": 500, "pool_size": 8
        } }
    });
    mcpguard_redis::guard_from_json(&config.to_string(), GuardOptions::default()).unwrap()
}

fn request(key: &str) -> Request<'_> {
    let mut r = Request::new();
    r.key = Some(key);
    r
}

/// Every key under `prefix`, with the node that holds it.
fn keys<'a>(cluster: &'a support::Cluster, prefix: &str) -> Vec<(&'a support::Server, String)> {
    let mut out = vec![];
    for n in &cluster.nodes {
        if let redis::Value::Array(names) = n.cmd(&["KEYS", &format!("{prefix}*")]) {
            for k in names {
                if let redis::Value::BulkString(b) = k {
                    out.push((n, String::from_utf8(b).unwrap()));
                }
            }
        }
    }
    out
}

#[test]
fn two_guards_on_a_cluster_admit_exactly_the_limit_together_for_every_algorithm() {
    let cluster = support::Cluster::start();
    // Six clients: their hash slots fall on every node of three.
    let clients = [
        "client-1", "client-2", "client-3", "client-4", "client-5", "client-6",
    ];
    for algorithm in ["fixed_window", "sliding_window", "token_bucket"] {
        let prefix = format!("x-{algorithm}:");
        // An hour's window: no refill adds a request while the test runs.
        let rate = json!({ "limit": LIMIT, "window_seconds": 3600, "algorithm": algorithm });
        let guards = [
            guard(&cluster, &prefix, rate.clone()),
            guard(&cluster, &prefix, rate),
        ];
        for client in clients {
            // Four threads on each Guard, 320 requests for 120 places.
            let allowed: u64 = std::thread::scope(|s| {
                let threads: Vec<_> = (0..8)
                    .map(|t| {
                        let g = &guards[t % 2];
                        s.spawn(move || {
                            let mut allowed = 0;
                            for _ in 0..PER_THREAD {
                                let d = g.authorize(&request(client));
                                assert!(
                                    d.status == 200 || d.status == 429,
                                    "unexpected {} {:?}",
                                    d.status,
                                    d.reason
                                );
                                allowed += u64::from(d.allowed);
                            }
                            allowed
                        })
                    })
                    .collect();
                threads.into_iter().map(|t| t.join().unwrap()).sum()
            });
            assert_eq!(allowed, LIMIT, "{algorithm}, client {client}");
        }
        let held = keys(&cluster, &prefix);
        assert_eq!(held.len(), clients.len(), "one key per client: {held:?}");
        let nodes: std::collections::HashSet<u16> = held.iter().map(|(n, _)| n.port).collect();
        assert!(
            nodes.len() == 3,
            "six clients' state sat on {} node(s) of three: {held:?}",
            nodes.len()
        );
    }
}

#[test]
fn a_revocation_and_an_opaque_token_cross_between_guards_on_a_cluster() {
    let cluster = support::Cluster::start();
    let rate = json!({ "limit": 1000, "window_seconds": 60 });
    let a = guard(&cluster, "tok:", rate.clone());
    let b = guard(&cluster, "tok:", rate);
    let token = support::token(json!({ "sub": "alice", "jti": "cluster-1" }));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        b.validate(&token).is_ok(),
        "now in b's verified-token cache"
    );
    a.revoke(&token).unwrap();
    let entry = OpaqueEntry {
        subject: Some("bob".into()),
        expires_at: Some(now as i64 + 600),
        ..OpaqueEntry::default()
    };
    a.insert_opaque("opaque-on-a-cluster-0123", entry).unwrap();
    assert!(
        b.validate("opaque-on-a-cluster-0123").is_ok(),
        "an opaque token inserted through a is valid through b at once"
    );
    // The stated bound is one second; allow the poll that claims it.
    let deadline = Instant::now() + Duration::from_millis(1500);
    loop {
        match b.validate(&token) {
            Err(e) if e.reason.code() == "revoked" => break,
            other => assert!(Instant::now() < deadline, "still {other:?} after the bound"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_slot_moved_to_another_node_mid_run_keeps_its_budget() {
    let cluster = support::Cluster::start();
    let rate = json!({ "limit": 10, "window_seconds": 3600 });
    let g = guard(&cluster, "move:", rate);
    for _ in 0..4 {
        assert!(g.authorize(&request("203.0.113.9")).allowed);
    }
    let held = keys(&cluster, "move:");
    assert_eq!(held.len(), 1, "{held:?}");
    let (source, name) = (held[0].0, held[0].1.clone());
    let slot = match source.cmd(&["CLUSTER", "KEYSLOT", &name]) {
        redis::Value::Int(s) => s.to_string(),
        other => panic!("CLUSTER KEYSLOT: {other:?}"),
    };
    let target = cluster
        .nodes
        .iter()
        .find(|n| n.port != source.port)
        .unwrap();
    let (source_id, target_id) = (source.node_id(), target.node_id());
    target.cmd(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &source_id]);
    source.cmd(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &target_id]);
    source.cmd(&[
        "MIGRATE",
        "127.0.0.1",
        &target.port.to_string(),
        "",
        "0",
        "5000",
        "KEYS",
        &name,
    ]);
    for n in &cluster.nodes {
        n.cmd(&["CLUSTER", "SETSLOT", &slot, "NODE", &target_id]);
    }
    // Every pooled connection still maps the slot to the source: the next
    // request is answered MOVED, followed, and counted on the target.
    let allowed = (0..10)
        .filter(|_| {
            let d = g.authorize(&request("203.0.113.9"));
            assert!(d.status == 200 || d.status == 429, "{:?}", d.reason);
            d.allowed
        })
        .count();
    assert_eq!(allowed, 6, "the 4 already spent carried over with the key");
    let held = keys(&cluster, "move:");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        held[0].0.port, target.port,
        "the state lives on the target now"
    );
}

#[test]
fn a_primary_killed_mid_run_fails_over_to_its_replica_and_the_guard_recovers_by_itself() {
    let mut cluster = support::Cluster::start_with_replicas(1);
    let rate = json!({ "limit": 10, "window_seconds": 3600 });
    let g = guard(&cluster, "failover:", rate);
    for _ in 0..4 {
        assert!(g.authorize(&request("203.0.113.77")).allowed);
    }
    let held = keys(&cluster, "failover:");
    let primary = held
        .iter()
        .find(|(n, _)| {
            matches!(n.cmd(&["ROLE"]), redis::Value::Array(r)
                if matches!(r.first(), Some(redis::Value::BulkString(b)) if b == b"master"))
        })
        .map(|(n, _)| n.port)
        .expect("a primary holds the key");
    // The replica has the spent budget before its primary dies (it may
    // still be making its first sync).
    let node = cluster.nodes.iter().find(|n| n.port == primary).unwrap();
    let synced = Instant::now();
    while !matches!(node.cmd(&["WAIT", "1", "500"]), redis::Value::Int(1)) {
        assert!(
            synced.elapsed() < Duration::from_secs(20),
            "the replica never caught up"
        );
    }
    cluster
        .nodes
        .iter_mut()
        .find(|n| n.port == primary)
        .unwrap()
        .stop();

    // Until the replica is promoted, each request fails closed within the
    // timeout (never hangs); then the budget goes on where it was.
    let start = Instant::now();
    let mut refused = 0;
    let allowed = loop {
        let t = Instant::now();
        let d = g.authorize(&request("203.0.113.77"));
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "a request took {:?}",
            t.elapsed()
        );
        if d.allowed {
            eprintln!(
                "failover: recovered after {:?}, {refused} requests refused",
                start.elapsed()
            );
            break 1;
        }
        assert_eq!(d.status, 503, "{:?}", d.reason);
        refused += 1;
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no recovery after the failover"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let allowed = allowed
        + (0..10)
            .filter(|_| g.authorize(&request("203.0.113.77")).allowed)
            .count();
    assert_eq!(
        allowed, 6,
        "the 4 spent before the failover stay spent (refused {refused} during it)"
    );
}
