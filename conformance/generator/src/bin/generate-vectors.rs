//! Writes the token conformance vectors (conformance/token_*.json).
//!
//! Run `cargo run -p mcpguard-testkit --bin generate-vectors` from the
//! repository. Tokens are signed relative to each file's `clock`; ECDSA and
//! RSA-PSS signatures are randomised, so a re-run changes those tokens but
//! not what the cases expect.

use std::path::PathBuf;

use mcpguard_testkit as kit;
use serde_json::{Value, json};

const T: i64 = 1_767_225_600;
const ISS: &str = "https://auth.example.com";
const OTHER: &str = "https://other-auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";

fn claims(extra: Value) -> String {
    let mut c = json!({"iss": ISS, "sub": "alice", "aud": RES, "exp": T + 3600, "iat": T});
    kit::merge(&mut c, extra);
    c.to_string()
}

fn hdr(alg: &str, kid: &str) -> String {
    json!({"alg": alg, "kid": kid, "typ": "at+jwt"}).to_string()
}

fn tok(alg: &str, key: &str, kid: &str, extra: Value) -> String {
    kit::sign(alg, key, &hdr(alg, kid), &claims(extra))
}

fn ok(name: &str, token: String, expect: Value) -> Value {
    let mut e = json!({"ok": true});
    if let (Some(e), Some(x)) = (e.as_object_mut(), expect.as_object()) {
        e.extend(x.clone());
    }
    json!({"name": name, "op": "validate", "token": token, "expect": e})
}

fn fail(name: &str, token: String, reason: &str) -> Value {
    let (status, error) = if reason == "insufficient_scope" {
        (403, "insufficient_scope")
    } else {
        (401, "invalid_token")
    };
    json!({"name": name, "op": "validate", "token": token,
           "expect": {"ok": false, "status": status, "error": error, "reason": reason}})
}

fn advance(seconds: i64) -> Value {
    json!({"name": format!("advance {seconds} s"), "op": "advance", "seconds": seconds})
}

fn file(description: &str, auth: Value, cases: Vec<Value>) -> Value {
    json!({"description": description, "config": {"resource": RES, "auth": auth}, "clock": T, "cases": cases})
}

fn hs256_file() -> Value {
    let hs = |extra| tok("HS256", "hmac", "hs-1", extra);
    let good = hs(json!({}));
    let (h, p, s) = kit::split(&good);
    let b = |v: &str| kit::b64url(v.as_bytes());
    // The same payload re-encoded with non-zero trailing bits.
    let payload_bytes = claims(json!({}));
    assert_ne!(payload_bytes.len() % 3, 0, "payload must leave spare bits");
    let mut trailing = p.clone().into_bytes();
    let last = trailing.len() - 1;
    trailing[last] = match trailing[last] {
        b'A' => b'B',
        b'Q' => b'R',
        b'g' => b'h',
        b'w' => b'x',
        c => c ^ 1,
    };
    let trailing = String::from_utf8(trailing).expect("ascii");
    let mut cases = vec![
        ok(
            "valid HS256 token carries its principal",
            hs(
                json!({"client_id": "app-1", "scope": "tag:web mcp:read", "roles": ["developer", "ops"], "jti": "t-1"}),
            ),
            json!({"subject": "alice", "client_id": "app-1", "issuer": ISS,
                   "scopes": ["tag:web", "mcp:read"], "roles": ["developer", "ops"], "expires_at": T + 3600}),
        ),
        ok(
            "client_id falls back to azp, scp array gives scopes, no role claim gives []",
            hs(json!({"azp": "app-azp", "cid": "app-cid", "scp": ["a", "b"]})),
            json!({"client_id": "app-azp", "scopes": ["a", "b"], "roles": []}),
        ),
        ok(
            "client_id falls back to cid; scp string is split on spaces",
            hs(json!({"cid": "app-cid", "scp": "a b"})),
            json!({"client_id": "app-cid", "scopes": ["a", "b"]}),
        ),
        ok(
            "no scope claim gives no scopes",
            hs(json!({})),
            json!({"scopes": [], "client_id": null}),
        ),
        ok(
            "a role claim given as a string is one role",
            hs(json!({"roles": "developer"})),
            json!({"roles": ["developer"]}),
        ),
        fail(
            "expired by 31 s (leeway 30)",
            hs(json!({"exp": T - 31})),
            "expired",
        ),
        fail(
            "expired exactly at exp + leeway",
            hs(json!({"exp": T - 30})),
            "expired",
        ),
        ok(
            "expired 29 s ago is within the leeway",
            hs(json!({"exp": T - 29})),
            json!({"expires_at": T - 29}),
        ),
        ok(
            "fractional exp is accepted",
            hs(json!({"exp": T as f64 + 100.75})),
            json!({"expires_at": T + 100}),
        ),
        fail(
            "nbf 31 s in the future",
            hs(json!({"nbf": T + 31})),
            "not_yet_valid",
        ),
        ok(
            "nbf 30 s in the future is within the leeway",
            hs(json!({"nbf": T + 30})),
            json!({}),
        ),
        fail(
            "iat 31 s in the future",
            hs(json!({"iat": T + 31})),
            "not_yet_valid",
        ),
        fail("no exp", hs(json!({"exp": null})), "missing_claim"),
        fail("no iss", hs(json!({"iss": null})), "missing_claim"),
        fail("no aud", hs(json!({"aud": null})), "missing_claim"),
        fail(
            "iss of an unknown issuer",
            hs(json!({"iss": "https://evil.example.com"})),
            "wrong_issuer",
        ),
        fail(
            "iss differing in case",
            hs(json!({"iss": "https://AUTH.example.com"})),
            "wrong_issuer",
        ),
        fail(
            "aud of another resource",
            hs(json!({"aud": "https://other.example.com/mcp"})),
            "wrong_audience",
        ),
        fail("aud []", hs(json!({"aud": []})), "wrong_audience"),
        ok(
            "aud array naming the resource",
            hs(json!({"aud": ["https://x.example", RES]})),
            json!({}),
        ),
        ok(
            "aud with upper-case host and a trailing slash names the resource",
            hs(json!({"aud": "HTTPS://MCP.EXAMPLE.COM/mcp/"})),
            json!({}),
        ),
        fail(
            "aud with a fragment names no resource, even this one's URI plus a fragment",
            hs(json!({"aud": format!("{RES}#frag")})),
            "wrong_audience",
        ),
        ok(
            "aud array: an entry with a fragment never matches, another entry does",
            hs(json!({"aud": [format!("{RES}#frag"), RES]})),
            json!({}),
        ),
        fail(
            "aud array whose only entry naming the resource has a fragment",
            hs(json!({"aud": ["https://x.example", format!("{RES}#")]})),
            "wrong_audience",
        ),
        fail(
            "exp as a string",
            hs(json!({"exp": (T + 3600).to_string()})),
            "malformed",
        ),
        fail(
            "exp beyond a signed 64-bit count",
            hs(json!({"exp": 1e19})),
            "malformed",
        ),
        fail("iss as an array", hs(json!({"iss": [ISS]})), "malformed"),
        fail("aud as a number", hs(json!({"aud": 1})), "malformed"),
        fail(
            "a claim repeated",
            kit::sign(
                "HS256",
                "hmac",
                &hdr("HS256", "hs-1"),
                &claims(json!({})).replacen('{', "{\"sub\":\"mallory\",", 1),
            ),
            "malformed",
        ),
        fail(
            "a header member repeated",
            kit::sign(
                "HS256",
                "hmac",
                r#"{"alg":"HS256","kid":"hs-1","alg":"none"}"#,
                &claims(json!({})),
            ),
            "malformed",
        ),
        fail(
            "claims not an object",
            kit::sign("HS256", "hmac", &hdr("HS256", "hs-1"), "[]"),
            "malformed",
        ),
        fail(
            "header not JSON",
            kit::sign_raw_segments("HS256", "hmac", &b("alg HS256"), &p),
            "malformed",
        ),
        fail(
            "header without alg",
            kit::sign("HS256", "hmac", r#"{"kid":"hs-1"}"#, &claims(json!({}))),
            "malformed",
        ),
        fail("two segments", format!("{h}.{p}"), "malformed"),
        fail("four segments", format!("{h}.{p}.{s}.{s}"), "malformed"),
        fail(
            "five segments (JWE)",
            format!("{h}.{p}.{s}.{s}.{s}"),
            "malformed",
        ),
        fail(
            "JWS JSON serialization",
            json!({"payload": p, "protected": h, "signature": s}).to_string(),
            "malformed",
        ),
        fail(
            "padding in the header",
            format!("{h}=.{p}.{s}"),
            "malformed",
        ),
        fail(
            "padding in the signature",
            format!("{h}.{p}.{s}="),
            "malformed",
        ),
        fail(
            "+ and / in the signature",
            format!("{h}.{p}.{}", s.replace(['-', '_'], "+") + "/A"),
            "malformed",
        ),
        fail(
            "whitespace inside the payload",
            format!("{h}.{} {}.{s}", &p[..4], &p[4..]),
            "malformed",
        ),
        fail(
            "non-zero trailing bits in the payload",
            kit::sign_raw_segments("HS256", "hmac", &h, &trailing),
            "malformed",
        ),
        fail(
            "longer than max_token_bytes",
            format!("{h}.{}.{s}", "A".repeat(8192)),
            "too_large",
        ),
        fail(
            "alg none",
            format!("{}.{p}.", b(r#"{"alg":"none"}"#)),
            "algorithm_not_allowed",
        ),
        fail(
            "alg NONE",
            format!("{}.{p}.", b(r#"{"alg":"NONE","kid":"hs-1"}"#)),
            "algorithm_not_allowed",
        ),
        fail(
            "alg HS1024",
            format!("{}.{p}.{s}", b(r#"{"alg":"HS1024","kid":"hs-1"}"#)),
            "algorithm_not_allowed",
        ),
        fail(
            "alg RS256 for an issuer with only an HS256 key",
            tok("RS256", "rsa", "hs-1", json!({})),
            "algorithm_not_allowed",
        ),
        fail(
            "unknown kid",
            tok("HS256", "hmac", "hs-2", json!({})),
            "unknown_key",
        ),
        fail(
            "modified signature",
            format!(
                "{h}.{p}.{}{}",
                if s.starts_with('A') { "B" } else { "A" },
                &s[1..]
            ),
            "bad_signature",
        ),
        fail("empty signature", format!("{h}.{p}."), "bad_signature"),
        fail(
            "HS256 with another secret",
            kit::sign_hmac_with(
                "HS256",
                &[7u8; 64],
                &hdr("HS256", "hs-1"),
                &claims(json!({})),
            ),
            "bad_signature",
        ),
        fail(
            "crit header names an extension",
            kit::sign(
                "HS256",
                "hmac",
                r#"{"alg":"HS256","kid":"hs-1","crit":["exp"],"exp":1}"#,
                &claims(json!({})),
            ),
            "unsupported_critical_header",
        ),
        fail(
            "b64 false (unencoded payload)",
            kit::sign(
                "HS256",
                "hmac",
                r#"{"alg":"HS256","kid":"hs-1","b64":false,"crit":["b64"]}"#,
                &claims(json!({})),
            ),
            "unsupported_critical_header",
        ),
    ];
    let short = hs(json!({"exp": T + 60}));
    cases.push(ok(
        "a token valid for 60 s",
        short.clone(),
        json!({"expires_at": T + 60}),
    ));
    cases.push(advance(89));
    cases.push(ok(
        "still valid 89 s later (leeway 30)",
        short.clone(),
        json!({}),
    ));
    cases.push(advance(1));
    cases.push(fail("expired 90 s later", short, "expired"));
    file(
        "HS256 tokens: principal, expiry and leeway, issuer, audience, malformations",
        json!({"role_claim": "roles", "issuers": [{"issuer": ISS,
            "jwks": kit::jwks(&[("hmac", Some("hs-1"), Some("HS256"))])}]}),
        cases,
    )
}

fn asymmetric_file() -> Value {
    let good = tok("ES256", "ec256", "ec-1", json!({}));
    let (h, p, _) = kit::split(&good);
    let input = format!("{h}.{p}");
    let der = kit::sign_ecdsa_der("ES256", "ec256", input.as_bytes());
    let raw = kit::sign_input("ES256", "ec256", input.as_bytes());
    let n = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51u8,
    ];
    let r_is_n = [&n[..], &raw[32..]].concat();
    let cases = vec![
        ok("RS256", tok("RS256", "rsa", "rsa-1", json!({})), json!({"subject": "alice", "issuer": ISS})),
        ok("PS256", tok("PS256", "rsa2", "ps-1", json!({})), json!({"subject": "alice"})),
        ok("ES256", good.clone(), json!({"subject": "alice"})),
        ok("ES384", tok("ES384", "ec384", "ec384-1", json!({})), json!({"subject": "alice"})),
        ok("EdDSA with a PEM key", tok("EdDSA", "ed25519", "ed-pem", json!({})), json!({"subject": "alice"})),
        ok(
            "a second issuer's token with its own key",
            tok("RS256", "rsa2", "other-1", json!({"iss": OTHER})),
            json!({"issuer": OTHER}),
        ),
        fail("PS256 with a key whose alg is RS256", tok("PS256", "rsa", "rsa-1", json!({})), "algorithm_not_allowed"),
        fail("RS384 with a key whose alg is RS256", tok("RS384", "rsa", "rsa-1", json!({})), "algorithm_not_allowed"),
        fail("ES512 is not supported", format!("{}.{p}.AAAA", kit::b64url(br#"{"alg":"ES512","kid":"ec-1"}"#)), "algorithm_not_allowed"),
        fail(
            "HS256 keyed with the RSA public key PEM (key confusion)",
            kit::sign_hmac_with("HS256", kit::public_pem("rsa").as_bytes(), &hdr("HS256", "rsa-1"), &claims(json!({}))),
            "algorithm_not_allowed",
        ),
        fail("a kid known only to another issuer", tok("RS256", "rsa2", "other-1", json!({})), "unknown_key"),
        fail("ECDSA signature in DER form", kit::join(&h, &p, &kit::b64url(&der)), "bad_signature"),
        fail("ECDSA r = s = 0", kit::join(&h, &p, &kit::b64url(&[0u8; 64])), "bad_signature"),
        fail("ECDSA r = n", kit::join(&h, &p, &kit::b64url(&r_is_n)), "bad_signature"),
        fail("RS256 signed by another key", tok("RS256", "rsa2", "rsa-1", json!({})), "bad_signature"),
        fail(
            "an embedded jwk header is never used",
            kit::sign(
                "RS256",
                "rsa2",
                &json!({"alg": "RS256", "kid": "rsa-1", "jwk": kit::public_jwk("rsa2", None, None)}).to_string(),
                &claims(json!({})),
            ),
            "bad_signature",
        ),
        fail(
            "badly signed and expired is bad_signature (claims are trusted only after the signature)",
            tok("RS256", "rsa2", "rsa-1", json!({"exp": T - 3600})),
            "bad_signature",
        ),
        fail("expired ES384", tok("ES384", "ec384", "ec384-1", json!({"exp": T - 100})), "expired"),
    ];
    file(
        "RSA, RSA-PSS, ECDSA and EdDSA tokens: keys bound to algorithms and issuers, signature faults",
        json!({"issuers": [
            {"issuer": ISS,
             "jwks": kit::jwks(&[("rsa", Some("rsa-1"), Some("RS256")), ("rsa2", Some("ps-1"), Some("PS256")),
                                 ("ec256", Some("ec-1"), None), ("ec384", Some("ec384-1"), Some("ES384"))]),
             "pem_keys": [{"kid": "ed-pem", "alg": "EdDSA", "pem": kit::public_pem("ed25519")}]},
            {"issuer": OTHER, "jwks": kit::jwks(&[("rsa2", Some("other-1"), Some("RS256"))])}
        ]}),
        cases,
    )
}

fn policy_file() -> Value {
    let es = |kid: &str, typ: Option<&str>, mut extra: Value| {
        // This issuer's tokens name the configured audience unless a case says otherwise.
        if extra.get("aud").is_none() {
            extra["aud"] = json!("api://mcp");
        }
        let mut h = json!({"alg": "ES256", "kid": kid});
        if let Some(t) = typ {
            h["typ"] = json!(t);
        }
        kit::sign("ES256", "ec256", &h.to_string(), &claims(extra))
    };
    let read = json!({"scope": "mcp:read tag:web"});
    let cases = vec![
        ok(
            "typ at+jwt with the required scope; roles from the configured claim",
            es(
                "ec-1",
                Some("at+jwt"),
                json!({"scope": "mcp:read tag:web", "groups": "analyst"}),
            ),
            json!({"scopes": ["mcp:read", "tag:web"], "roles": ["analyst"]}),
        ),
        ok(
            "typ application/at+jwt",
            es("ec-1", Some("application/at+jwt"), read.clone()),
            json!({}),
        ),
        ok(
            "typ AT+JWT (case-insensitive)",
            es("ec-1", Some("AT+JWT"), read.clone()),
            json!({}),
        ),
        fail(
            "typ JWT",
            es("ec-1", Some("JWT"), read.clone()),
            "wrong_type",
        ),
        fail("no typ", es("ec-1", None, read.clone()), "wrong_type"),
        fail(
            "without the required scope",
            es("ec-1", Some("at+jwt"), json!({"scope": "tag:web"})),
            "insufficient_scope",
        ),
        fail(
            "required scope in another case",
            es("ec-1", Some("at+jwt"), json!({"scope": "MCP:READ"})),
            "insufficient_scope",
        ),
        ok(
            "a configured extra audience",
            es(
                "ec-1",
                Some("at+jwt"),
                json!({"scope": "mcp:read", "aud": "api://mcp"}),
            ),
            json!({}),
        ),
        fail(
            "the resource is not an audience once audiences are configured",
            es(
                "ec-1",
                Some("at+jwt"),
                json!({"scope": "mcp:read", "aud": RES}),
            ),
            "wrong_audience",
        ),
        fail(
            "HS256 is not among the issuer's algorithms",
            kit::sign(
                "HS256",
                "hmac",
                &hdr("HS256", "hs-1"),
                &claims(json!({"scope": "mcp:read"})),
            ),
            "algorithm_not_allowed",
        ),
        fail(
            "unknown kid",
            es("ec-9", Some("at+jwt"), read.clone()),
            "unknown_key",
        ),
        fail(
            "a non-string role claim",
            es(
                "ec-1",
                Some("at+jwt"),
                json!({"scope": "mcp:read", "aud": "api://mcp", "groups": 7}),
            ),
            "malformed",
        ),
    ];
    file(
        "Token policy: require_typ, required_scopes, role_claim, algorithms and audiences",
        json!({"require_typ": "at+jwt", "required_scopes": ["mcp:read"], "role_claim": "groups",
               "issuers": [{"issuer": ISS, "algorithms": ["ES256"], "audiences": ["api://mcp"],
                            "jwks": kit::jwks(&[("ec256", Some("ec-1"), None)])}]}),
        cases,
    )
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."));
    for (name, doc) in [
        ("token_hs256.json", hs256_file()),
        ("token_asymmetric.json", asymmetric_file()),
        ("token_policy.json", policy_file()),
    ] {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?;
        std::fs::write(&path, text + "\n")?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
