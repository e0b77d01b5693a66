//! Writes the sample key set and tokens the examples share
//! (`examples/jwks.json`, `examples/tokens.json`).
//!
//! Run `cargo run -p mcpguard-testkit --bin generate-examples` from the
//! repository. The tokens are RS256 (deterministic signatures), issued at
//! 2026-01-01T00:00:00Z, the instant the quick starts pin their clock to, so
//! a re-run writes the same files.

use std::path::PathBuf;

use mcpguard_testkit as kit;
use serde_json::{Value, json};

const T: i64 = 1_767_225_600;
const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";
const KID: &str = "demo-2026";

fn token(claims: Value) -> String {
    let header = json!({"alg": "RS256", "kid": KID, "typ": "at+jwt"});
    kit::sign("RS256", "rsa", &header.to_string(), &claims.to_string())
}

fn person(sub: &str, client: &str, role: &str, jti: &str) -> Value {
    json!({"iss": ISS, "sub": sub, "client_id": client, "aud": RES,
           "iat": T, "exp": T + 3600, "jti": jti, "scope": "openid", "roles": [role]})
}

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let jwks = kit::jwks(&[("rsa", Some(KID), Some("RS256"))]);
    std::fs::write(dir.join("jwks.json"), format!("{:#}\n", jwks))?;

    let mut expired = person("dev-alice", "ide-plugin", "developer", "tok-expired");
    expired["iat"] = json!(T - 7200);
    expired["exp"] = json!(T - 3600);
    let mut wrong_audience = person("dev-alice", "ide-plugin", "developer", "tok-elsewhere");
    wrong_audience["aud"] = json!("https://other.example.com/mcp");
    let tokens = json!({
        "developer": token(person("dev-alice", "ide-plugin", "developer", "tok-developer")),
        "analyst": token(person("ana-bob", "notebook", "analyst", "tok-analyst")),
        "demo": token(person("demo-carol", "playground", "demo", "tok-demo")),
        "expired": token(expired),
        "wrong_audience": token(wrong_audience),
    });
    std::fs::write(dir.join("tokens.json"), format!("{:#}\n", tokens))?;
    eprintln!("wrote examples/jwks.json and examples/tokens.json");
    Ok(())
}
