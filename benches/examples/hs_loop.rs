use jsonwebtoken::{DecodingKey, Validation};
use mcpguard::ManualClock;
use mcpguard::token::{Algorithm, IssuerBuilder, TokenValidator};
use mcpguard_testkit as kit;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    client_id: String,
    scope: String,
    jti: String,
}
fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100000);
    let iss = "https://auth.example.com";
    let res = "https://mcp.example.com/mcp";
    let claims = json!({"iss": iss, "sub": "user-1234", "aud": res, "exp": 4000000000i64, "iat": 1_767_225_600,
           "client_id": "client-abc", "scope": "tag:web tag:files mcp:read", "jti": "9f0c1d2e"}).to_string();
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "k1"}).to_string();
    let token = kit::sign("HS256", "hmac", &header, &claims);
    let v = TokenValidator::builder(res)
        .issuer(IssuerBuilder::new(iss).hmac_secret(
            Some("k1"),
            Algorithm::HS256,
            &kit::hmac_secret(),
        ))
        .leeway_seconds(30)
        .clock(Arc::new(ManualClock::new(1_767_225_600)))
        .build()
        .unwrap();
    let dkey = DecodingKey::from_secret(&kit::hmac_secret());
    let mut val = Validation::new(jsonwebtoken::Algorithm::HS256);
    val.set_issuer(&[iss]);
    val.set_audience(&[res]);
    val.leeway = 30;
    if which == "mine" {
        for _ in 0..n {
            std::hint::black_box(v.verify_jwt(std::hint::black_box(&token)).unwrap());
        }
        return;
    }
    let (mut a, mut b) = (f64::MAX, f64::MAX);
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(v.verify_jwt(std::hint::black_box(&token)).unwrap());
        }
        a = a.min(t.elapsed().as_nanos() as f64 / n as f64);
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(
                jsonwebtoken::decode::<Claims>(std::hint::black_box(&token), &dkey, &val).unwrap(),
            );
        }
        b = b.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    println!("mine {a:.0} ns, jsonwebtoken {b:.0} ns, ratio {:.3}", a / b);
}
