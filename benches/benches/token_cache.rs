//! The verified-token cache and the revocation checks: the per-request cost
//! of a token seen before (target: a cache hit on an 800-byte token in at
//! most 150 ns).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use criterion::{Criterion, criterion_group, criterion_main};
use mcpguard::token::cache::TokenCache;
use mcpguard::token::revocation::RevocationList;
use mcpguard::token::{Principal, TokenKind};

const NOW: i64 = 1_767_225_600;

fn principal(i: usize) -> Arc<Principal> {
    Arc::new(Principal {
        kind: TokenKind::Jwt,
        subject: Some(format!("user-{i}")),
        client_id: Some("client".into()),
        issuer: "https://auth.example.com".into(),
        audience: vec!["https://mcp.example.com/mcp".into()],
        scopes: vec!["tag:web".into()],
        roles: vec![],
        tags: vec!["web".into()],
        rejected_scopes: vec![],
        expires_at: Some(NOW + 3_600),
        jwt_id: Some(format!("jti-{i}")),
        claims_json: Arc::from("{}"),
        token_fingerprint: None,
        granted: None,
        rate_key: None,
    })
}

/// An 800-byte JWT-shaped token, distinct per `i`.
fn token(i: usize) -> String {
    let mut t = format!("eyJhbGciOiJSUzI1NiJ9.{i:08}.");
    while t.len() < 800 {
        t.push('A');
    }
    t
}

/// An 800-byte token shaped like an RS256 JWT: a 36-byte header, a
/// 421-byte payload and a 342-byte signature, distinct per `i` in its
/// payload (what the cache files a token under is all but the signature).
fn jwt_shaped_token(i: usize) -> String {
    let mut payload = format!("{i:08}");
    while payload.len() < 421 {
        payload.push('B');
    }
    format!(
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.{payload}.{}",
        "C".repeat(342)
    )
}

fn cache(c: &mut Criterion) {
    let cache = TokenCache::new(10_000, 300);
    for i in 0..10_000 {
        cache.insert(&token(i), principal(i), NOW);
    }
    let hit = token(4_321);
    let miss = token(99_999);
    assert!(cache.get(&hit, NOW).is_some());
    assert!(cache.get(&miss, NOW).is_none());

    let mut group = c.benchmark_group("token_cache");
    group.bench_function("hit_800_bytes_of_10000", |b| {
        b.iter(|| cache.get(black_box(&hit), black_box(NOW)))
    });
    let shaped = TokenCache::new(10_000, 300);
    for i in 0..10_000 {
        shaped.insert(&jwt_shaped_token(i), principal(i), NOW);
    }
    let shaped_hit = jwt_shaped_token(4_321);
    assert_eq!(shaped_hit.len(), 800);
    assert!(shaped.get(&shaped_hit, NOW).is_some());
    group.bench_function("hit_jwt_shaped_800_bytes_of_10000", |b| {
        b.iter(|| shaped.get(black_box(&shaped_hit), black_box(NOW)))
    });
    group.bench_function("miss_800_bytes_of_10000", |b| {
        b.iter(|| cache.get(black_box(&miss), black_box(NOW)))
    });
    // A disabled cache (capacity 0) answers before hashing.
    let disabled = TokenCache::new(0, 300);
    group.bench_function("disabled_cache_get", |b| {
        b.iter(|| disabled.get(black_box(&hit), black_box(NOW)))
    });
    // Baseline: the work a hit saves, one ES256 signature check over the
    // same 800 bytes (the cheapest common JWT algorithm to verify after RS256).
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let signature = pair.sign(&rng, hit.as_bytes()).unwrap();
    let public = UnparsedPublicKey::new(
        &ECDSA_P256_SHA256_FIXED,
        pair.public_key().as_ref().to_vec(),
    );
    assert!(public.verify(hit.as_bytes(), signature.as_ref()).is_ok());
    group.bench_function("baseline_es256_verify_800_bytes", |b| {
        b.iter(|| public.verify(black_box(hit.as_bytes()), black_box(signature.as_ref())))
    });
    group.finish();
}

fn revocation(c: &mut Criterion) {
    let empty = RevocationList::new(100_000);
    let full = RevocationList::new(100_000);
    for i in 0..100_000 {
        full.revoke_jti(
            "https://auth.example.com",
            &format!("jti-{i}"),
            NOW + 3_600,
            NOW,
        )
        .unwrap();
    }
    let tok = token(1);
    let mut group = c.benchmark_group("revocation");
    group.bench_function("jti_check_empty_list", |b| {
        b.iter(|| {
            empty.is_jti_revoked(
                black_box("https://auth.example.com"),
                black_box("jti-x"),
                NOW,
            )
        })
    });
    group.bench_function("token_check_empty_list", |b| {
        b.iter(|| empty.is_token_revoked(black_box(&tok), NOW))
    });
    group.bench_function("jti_check_list_of_100000_hit", |b| {
        b.iter(|| {
            full.is_jti_revoked(
                black_box("https://auth.example.com"),
                black_box("jti-777"),
                NOW,
            )
        })
    });
    group.bench_function("jti_check_list_of_100000_miss", |b| {
        b.iter(|| {
            full.is_jti_revoked(
                black_box("https://auth.example.com"),
                black_box("jti-x"),
                NOW,
            )
        })
    });
    group.bench_function("token_check_800_bytes_list_of_100000", |b| {
        b.iter(|| full.is_token_revoked(black_box(&tok), NOW))
    });
    group.finish();
}

fn flood(c: &mut Criterion) {
    // Throughput of inserting distinct tokens into a full cache (eviction path).
    let cache = TokenCache::new(10_000, 300);
    let tokens: Vec<String> = (0..20_000).map(token).collect();
    let p = principal(0);
    let mut i = 0usize;
    c.bench_function("token_cache/insert_evicting_800_bytes", |b| {
        b.iter(|| {
            i = (i + 1) % tokens.len();
            cache.insert(black_box(&tokens[i]), Arc::clone(&p), NOW);
        })
    });
    assert!(cache.len() <= cache.capacity());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = cache, revocation, flood
}
criterion_main!(benches);
