use mcpguard::guard::Guard;
use mcpguard_testkit as kit;
use serde_json::json;
use std::time::Instant;
fn main() {
    let n = 200000;
    let iss = "https://auth.example.com";
    let res = "https://mcp.example.com/mcp";
    let k = kit::jwks(&[("hmac", Some("hs"), Some("HS256"))]);
    let cfg = json!({"resource": res, "auth": {"issuers": [{"issuer": iss, "jwks": k}], "cache_entries": 0, "role_claim": "roles"},
        "servers": {"web-search": {"tags": ["web"]}, "filesystem": {"tags": ["files"]}}, "rate_limit": {"limit": 4294967295u64, "window_seconds": 900}});
    let g = Guard::from_json(&cfg.to_string()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": iss, "aud": res, "sub": "alice", "client_id": "bench", "iat": now, "exp": now + 3600, "scope": "tag:web tag:files", "roles": ["dev"]}).to_string();
    let token = kit::sign(
        "HS256",
        "hmac",
        &json!({"alg":"HS256","typ":"JWT","kid":"hs"}).to_string(),
        &claims,
    );
    g.validate(&token).unwrap();
    let v = g.token_validator();
    let mut best = [f64::MAX; 2];
    for _ in 0..10 {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(g.validate(std::hint::black_box(&token)).unwrap());
        }
        best[0] = best[0].min(t.elapsed().as_nanos() as f64 / n as f64);
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(v.verify_jwt(std::hint::black_box(&token)).unwrap());
        }
        best[1] = best[1].min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    println!(
        "Guard::validate uncached {:.0} ns; verify_jwt {:.0} ns",
        best[0], best[1]
    );
}
