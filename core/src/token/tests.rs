//! Behaviour of the whole validator, with tokens from mcpguard-testkit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mcpguard_testkit as kit;
use serde_json::{Value, json};

use super::*;
use crate::clock::ManualClock;
use crate::error::ConfigError;
use crate::reason::Reason;

const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";
const NOW: i64 = 1_767_225_600;

fn keys() -> Value {
    kit::jwks(&[
        ("rsa", Some("rsa-1"), Some("RS256")),
        ("rsa2", Some("rsa-2"), None),
        ("ec256", Some("ec-1"), None),
        ("ec384", Some("ec384-1"), Some("ES384")),
        ("ed25519", Some("ed-1"), None),
    ])
}

fn builder(jwks: &Value) -> (TokenValidatorBuilder, ManualClock) {
    let clock = ManualClock::new(NOW as u64);
    let b = TokenValidator::builder(RES)
        .issuer(
            IssuerBuilder::new(ISS)
                .jwks_json(&jwks.to_string())
                .hmac_secret(Some("hs-1"), Algorithm::HS256, &kit::hmac_secret()),
        )
        .clock(Arc::new(clock.clone()));
    (b, clock)
}

fn validator() -> (TokenValidator, ManualClock) {
    let (b, c) = builder(&keys());
    (b.build().unwrap(), c)
}

fn claims(extra: Value) -> String {
    let mut c = json!({"iss": ISS, "sub": "alice", "aud": RES, "exp": NOW + 600, "iat": NOW});
    kit::merge(&mut c, extra);
    c.to_string()
}

fn hdr(alg: &str, kid: &str) -> String {
    json!({"alg": alg, "kid": kid, "typ": "at+jwt"}).to_string()
}

fn token(alg: &str, key: &str, kid: &str, extra: Value) -> String {
    kit::sign(alg, key, &hdr(alg, kid), &claims(extra))
}

fn reason(v: &TokenValidator, token: &str) -> Reason {
    match v.verify_jwt(token) {
        Ok(_) => panic!("token was accepted"),
        Err(e) => e.reason,
    }
}

#[test]
fn every_supported_algorithm_verifies_with_its_key() {
    let set = kit::jwks(&[
        ("rsa", Some("r"), None),
        ("ec256", Some("e256"), None),
        ("ec384", Some("e384"), None),
        ("ed25519", Some("ed"), None),
    ]);
    let clock = ManualClock::new(NOW as u64);
    let v = TokenValidator::builder(RES)
        .issuer(
            IssuerBuilder::new(ISS)
                .jwks_json(&set.to_string())
                .hmac_secret(Some("h256"), Algorithm::HS256, &kit::hmac_secret())
                .hmac_secret(Some("h384"), Algorithm::HS384, &kit::hmac_secret())
                .hmac_secret(Some("h512"), Algorithm::HS512, &kit::hmac_secret())
                .algorithms(&Algorithm::ALL),
        )
        .clock(Arc::new(clock))
        .build()
        .unwrap();
    for (alg, key, kid) in [
        ("HS256", "hmac", "h256"),
        ("HS384", "hmac", "h384"),
        ("HS512", "hmac", "h512"),
        ("RS256", "rsa", "r"),
        ("RS384", "rsa", "r"),
        ("RS512", "rsa", "r"),
        ("PS256", "rsa", "r"),
        ("PS384", "rsa", "r"),
        ("PS512", "rsa", "r"),
        ("ES256", "ec256", "e256"),
        ("ES384", "ec384", "e384"),
        ("EdDSA", "ed25519", "ed"),
    ] {
        let p = v
            .verify_jwt(&token(alg, key, kid, json!({})))
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(p.subject.as_deref(), Some("alice"), "{alg}");
    }
}

#[test]
fn the_principal_carries_the_token_claims() {
    let (b, _) = builder(&keys());
    let v = b.role_claim("roles").build().unwrap();
    let c = claims(
        json!({"client_id": "app", "azp": "azp", "cid": "cid", "scope": "tag:web  mcp:read",
        "roles": ["dev", "ops"], "jti": "j-1", "aud": [RES, "other"]}),
    );
    let t = kit::sign("ES256", "ec256", &hdr("ES256", "ec-1"), &c);
    let p = v.verify_jwt(&t).unwrap();
    assert_eq!(p.kind, TokenKind::Jwt);
    assert_eq!(p.subject.as_deref(), Some("alice"));
    assert_eq!(p.client_id.as_deref(), Some("app"));
    assert_eq!(p.issuer, ISS);
    assert_eq!(p.audience, [RES, "other"]);
    assert_eq!(p.scopes, ["tag:web", "mcp:read"]);
    assert_eq!(p.roles, ["dev", "ops"]);
    assert_eq!(p.expires_at, Some(NOW + 600));
    assert_eq!(p.jwt_id.as_deref(), Some("j-1"));
    assert_eq!(&*p.claims_json, c);
    assert!(p.tags.is_empty() && p.rejected_scopes.is_empty());
}

#[test]
fn client_id_falls_back_to_azp_then_cid_and_scp_is_read_as_list_or_string() {
    let (v, _) = validator();
    let p = v
        .verify_jwt(&token(
            "HS256",
            "hmac",
            "hs-1",
            json!({"azp": "a", "cid": "c", "scp": ["x", "y"]}),
        ))
        .unwrap();
    assert_eq!(
        (p.client_id.as_deref(), p.scopes.clone()),
        (Some("a"), vec!["x".into(), "y".into()])
    );
    let p = v
        .verify_jwt(&token(
            "HS256",
            "hmac",
            "hs-1",
            json!({"cid": "c", "scp": "x y"}),
        ))
        .unwrap();
    assert_eq!(
        (p.client_id.as_deref(), p.scopes.clone()),
        (Some("c"), vec!["x".into(), "y".into()])
    );
    let p = v
        .verify_jwt(&token("HS256", "hmac", "hs-1", json!({})))
        .unwrap();
    assert!(p.client_id.is_none() && p.scopes.is_empty() && p.roles.is_empty());
}

#[test]
fn a_token_longer_than_the_maximum_is_too_large_before_any_decoding() {
    let (b, _) = builder(&keys());
    let v = b.max_token_bytes(100).build().unwrap();
    assert_eq!(reason(&v, &"!".repeat(101)), Reason::TooLarge);
    assert_eq!(reason(&v, &"!".repeat(100)), Reason::Malformed);
}

#[test]
fn structural_and_encoding_faults_are_malformed() {
    let (v, _) = validator();
    let good = token("HS256", "hmac", "hs-1", json!({}));
    let (h, p, s) = kit::split(&good);
    let cases = [
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.x"),
        format!("{h}.{p}.{s}.x.y"),
        format!("{{\"payload\":\"{p}\",\"signature\":\"{s}\"}}"),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}=.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/") + "+/"),
        format!(" {h}.{p}.{s}"),
        format!("{h}.{p}.{s}\n"),
        format!("{h}.{p} .{s}"),
        String::new(),
        "..".to_string(),
    ];
    for t in &cases {
        assert_eq!(reason(&v, t), Reason::Malformed, "{t:?}");
    }
    // Non-zero trailing bits: "YR" decodes to "a" only if the spare bits are ignored.
    let hs = kit::b64url(hdr("HS256", "hs-1").as_bytes());
    let payload = kit::b64url(claims(json!({})).as_bytes());
    assert_ne!(
        payload.len() % 4,
        0,
        "the payload needs spare bits for this test"
    );
    {
        let mut bytes = payload.into_bytes();
        let last = bytes.len() - 1;
        // Flip the lowest bit of the last character: a non-canonical encoding of the same bytes.
        bytes[last] = match bytes[last] {
            b'A' => b'B',
            b'Q' => b'R',
            b'g' => b'h',
            b'w' => b'x',
            other => other ^ 1,
        };
        let t = kit::sign_raw_segments("HS256", "hmac", &hs, std::str::from_utf8(&bytes).unwrap());
        assert_eq!(reason(&v, &t), Reason::Malformed);
    }
}

#[test]
fn json_faults_in_header_or_claims_are_malformed() {
    let (v, _) = validator();
    let c = claims(json!({}));
    let h = hdr("HS256", "hs-1");
    for (header, body) in [
        (
            r#"{"alg":"HS256","kid":"hs-1","alg":"HS256"}"#.to_string(),
            c.clone(),
        ),
        (h.clone(), c.replacen('{', r#"{"sub":"mallory","#, 1)),
        (h.clone(), c.replacen('{', r#"{"x":{"a":1,"a":2},"#, 1)),
        (h.clone(), "[1]".to_string()),
        (h.clone(), "not json".to_string()),
        (h.clone(), claims(json!({"exp": "1767229200"}))),
        (h.clone(), claims(json!({"exp": 1e30}))),
        (h.clone(), claims(json!({"iss": [ISS]}))),
        (h.clone(), claims(json!({"aud": 7}))),
        (h.clone(), claims(json!({"nbf": "0"}))),
        ("{\"alg\":\"HS256\"".to_string(), c.clone()),
        (r#"{"kid":"hs-1"}"#.to_string(), c.clone()),
    ] {
        let t = kit::sign("HS256", "hmac", &header, &body);
        assert_eq!(reason(&v, &t), Reason::Malformed, "{header} {body}");
    }
    // Not UTF-8.
    let t = kit::sign_raw_segments(
        "HS256",
        "hmac",
        &kit::b64url(h.as_bytes()),
        &kit::b64url(b"{\"sub\":\"\xff\"}"),
    );
    assert_eq!(reason(&v, &t), Reason::Malformed);
}

#[test]
fn alg_none_unknown_or_not_allowed_is_refused() {
    let (v, _) = validator();
    let c = kit::b64url(claims(json!({})).as_bytes());
    for alg in ["none", "None", "NONE"] {
        let h = kit::b64url(json!({"alg": alg}).to_string().as_bytes());
        assert_eq!(
            reason(&v, &format!("{h}.{c}.")),
            Reason::AlgorithmNotAllowed
        );
    }
    let h = kit::b64url(br#"{"alg":"HS1024","kid":"hs-1"}"#);
    assert_eq!(
        reason(&v, &format!("{h}.{c}.AAAA")),
        Reason::AlgorithmNotAllowed
    );
    // rsa-1 has alg RS256: it never verifies PS256 or RS384.
    assert_eq!(
        reason(&v, &token("PS256", "rsa", "rsa-1", json!({}))),
        Reason::AlgorithmNotAllowed
    );
    assert_eq!(
        reason(&v, &token("RS384", "rsa", "rsa-1", json!({}))),
        Reason::AlgorithmNotAllowed
    );
    // An issuer restricted to ES256 refuses HS256 before looking at keys.
    let (b, _) = builder(&keys());
    let mut cfg = AuthConfig::default();
    cfg.issuers.push(IssuerConfig {
        issuer: ISS.into(),
        jwks: Some(serde_json::from_value(keys()).unwrap()),
        jwks_file: None,
        pem_keys: vec![],
        algorithms: Some(vec!["ES256".into()]),
        audiences: None,
        jwks_uri: None,
        discovery: false,
        introspection: None,
    });
    drop(b);
    let v2 = TokenValidator::from_config(&cfg, RES, None, Arc::new(ManualClock::new(NOW as u64)))
        .unwrap();
    assert_eq!(
        reason(&v2, &token("HS256", "hmac", "hs-1", json!({}))),
        Reason::AlgorithmNotAllowed
    );
    assert_eq!(
        reason(&v2, &token("HS256", "hmac", "nope", json!({}))),
        Reason::AlgorithmNotAllowed
    );
    assert!(
        v2.verify_jwt(&token("ES256", "ec256", "ec-1", json!({})))
            .is_ok()
    );
}

#[test]
fn an_hmac_token_keyed_with_a_public_key_never_verifies() {
    let (v, _) = validator();
    let c = claims(json!({}));
    for (kid, pem) in [
        ("rsa-1", kit::public_pem("rsa")),
        ("ec-1", kit::public_pem("ec256")),
    ] {
        let t = kit::sign_hmac_with("HS256", pem.as_bytes(), &hdr("HS256", kid), &c);
        assert_eq!(reason(&v, &t), Reason::AlgorithmNotAllowed, "{kid}");
    }
    // Without kid the only HS256 key is the real oct key: the forged tag fails.
    let t = kit::sign_hmac_with(
        "HS256",
        kit::public_pem("rsa").as_bytes(),
        r#"{"alg":"HS256"}"#,
        &c,
    );
    assert_eq!(reason(&v, &t), Reason::BadSignature);
}

#[test]
fn an_unknown_kid_is_unknown_key_with_a_rate_limited_refresh_hint() {
    let (b, clock) = builder(&keys());
    let v = b.refresh_cooldown(Duration::from_secs(60)).build().unwrap();
    let t = token("RS256", "rsa", "rotated-away", json!({}));
    let e = v.verify_jwt(&t).unwrap_err();
    assert_eq!(
        (e.reason, e.refresh_jwks.as_deref()),
        (Reason::UnknownKey, Some(ISS))
    );
    let e = v.verify_jwt(&t).unwrap_err();
    assert_eq!((e.reason, e.refresh_jwks), (Reason::UnknownKey, None));
    clock.advance(Duration::from_secs(59));
    assert_eq!(v.verify_jwt(&t).unwrap_err().refresh_jwks, None);
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        v.verify_jwt(&t).unwrap_err().refresh_jwks.as_deref(),
        Some(ISS)
    );
}

#[test]
fn keys_are_looked_up_only_among_the_issuers_own_keys() {
    let other = "https://other.example.com";
    let v = TokenValidator::builder(RES)
        .issuer(
            IssuerBuilder::new(ISS).jwks_json(&kit::jwks(&[("rsa", Some("a"), None)]).to_string()),
        )
        .issuer(
            IssuerBuilder::new(other)
                .jwks_json(&kit::jwks(&[("rsa2", Some("b"), None)]).to_string()),
        )
        .clock(Arc::new(ManualClock::new(NOW as u64)))
        .build()
        .unwrap();
    assert!(v.verify_jwt(&token("RS256", "rsa", "a", json!({}))).is_ok());
    assert!(
        v.verify_jwt(&token("RS256", "rsa2", "b", json!({"iss": other})))
            .is_ok()
    );
    assert_eq!(
        reason(&v, &token("RS256", "rsa2", "b", json!({}))),
        Reason::UnknownKey
    );
}

#[test]
fn without_kid_exactly_one_candidate_key_is_required() {
    let (v, _) = validator();
    let c = claims(json!({}));
    // One EdDSA key: found without kid.
    assert!(
        v.verify_jwt(&kit::sign("EdDSA", "ed25519", r#"{"alg":"EdDSA"}"#, &c))
            .is_ok()
    );
    // Two RS256 keys (rsa-1, rsa-2): ambiguous.
    let t = kit::sign("RS256", "rsa", r#"{"alg":"RS256"}"#, &c);
    assert_eq!(reason(&v, &t), Reason::UnknownKey);
}

#[test]
fn signature_faults_are_bad_signature() {
    let (v, _) = validator();
    let good = token("ES256", "ec256", "ec-1", json!({}));
    let (h, p, s) = kit::split(&good);
    let input = format!("{h}.{p}");
    let der = kit::sign_ecdsa_der("ES256", "ec256", input.as_bytes());
    // P-256 group order n.
    let n = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    let n: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&n[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let raw = kit::sign_input("ES256", "ec256", input.as_bytes());
    let mut r_is_n = n.clone();
    r_is_n.extend_from_slice(&raw[32..]);
    let mut s_is_n = raw[..32].to_vec();
    s_is_n.extend_from_slice(&n);
    let mut flipped = raw.clone();
    flipped[10] ^= 1;
    for sig in [
        vec![],
        der,
        vec![0; 64],
        r_is_n,
        s_is_n,
        flipped,
        raw[..63].to_vec(),
        [raw.clone(), vec![0]].concat(),
    ] {
        let t = kit::join(&h, &p, &kit::b64url(&sig));
        assert_eq!(reason(&v, &t), Reason::BadSignature, "{}", sig.len());
    }
    assert!(v.verify_jwt(&kit::join(&h, &p, &s)).is_ok());
    // A signature from the right algorithm but another key.
    let t = kit::sign("RS256", "rsa2", &hdr("RS256", "rsa-1"), &claims(json!({})));
    assert_eq!(reason(&v, &t), Reason::BadSignature);
}

#[test]
fn claims_are_trusted_only_after_the_signature_verifies() {
    let (v, _) = validator();
    let t = kit::sign(
        "RS256",
        "rsa2",
        &hdr("RS256", "rsa-1"),
        &claims(json!({"exp": NOW - 3600, "aud": "x"})),
    );
    assert_eq!(reason(&v, &t), Reason::BadSignature);
}

#[test]
fn expiry_and_not_before_honour_the_leeway() {
    let (v, _) = validator();
    let t = |extra| token("HS256", "hmac", "hs-1", extra);
    assert_eq!(reason(&v, &t(json!({"exp": NOW - 31}))), Reason::Expired);
    assert_eq!(reason(&v, &t(json!({"exp": NOW - 30}))), Reason::Expired);
    assert!(v.verify_jwt(&t(json!({"exp": NOW - 29}))).is_ok());
    assert!(v.verify_jwt(&t(json!({"exp": NOW as f64 - 29.5}))).is_err());
    assert_eq!(
        reason(&v, &t(json!({"nbf": NOW + 31}))),
        Reason::NotYetValid
    );
    assert!(v.verify_jwt(&t(json!({"nbf": NOW + 30}))).is_ok());
    assert_eq!(
        reason(&v, &t(json!({"iat": NOW + 31}))),
        Reason::NotYetValid
    );
    assert!(v.verify_jwt(&t(json!({"iat": NOW + 30}))).is_ok());
    assert_eq!(reason(&v, &t(json!({"exp": null}))), Reason::MissingClaim);
    // Adding the leeway never overflows.
    assert!(
        v.verify_jwt(&t(
            json!({"exp": i64::MAX, "nbf": i64::MIN, "iat": i64::MIN})
        ))
        .is_ok()
    );
    assert!(v.verify_jwt(&t(json!({"exp": 9.2e18}))).is_ok());
}

#[test]
fn time_moves_on_the_injected_clock() {
    let (v, clock) = validator();
    let t = token("HS256", "hmac", "hs-1", json!({"exp": NOW + 100}));
    assert!(v.verify_jwt(&t).is_ok());
    clock.advance(Duration::from_secs(129));
    assert!(v.verify_jwt(&t).is_ok());
    clock.advance(Duration::from_secs(1));
    assert_eq!(reason(&v, &t), Reason::Expired);
}

#[test]
fn issuer_and_audience_must_match_the_configuration() {
    let (v, _) = validator();
    let t = |extra| token("HS256", "hmac", "hs-1", extra);
    assert_eq!(
        reason(&v, &t(json!({"iss": "https://evil.example.com"}))),
        Reason::WrongIssuer
    );
    assert_eq!(
        reason(&v, &t(json!({"iss": "https://AUTH.example.com"}))),
        Reason::WrongIssuer
    );
    assert_eq!(reason(&v, &t(json!({"iss": null}))), Reason::MissingClaim);
    assert_eq!(
        reason(&v, &t(json!({"aud": "https://other.example.com/mcp"}))),
        Reason::WrongAudience
    );
    assert_eq!(reason(&v, &t(json!({"aud": []}))), Reason::WrongAudience);
    assert_eq!(reason(&v, &t(json!({"aud": null}))), Reason::MissingClaim);
    assert!(
        v.verify_jwt(&t(json!({"aud": "HTTPS://MCP.example.com/mcp/"})))
            .is_ok()
    );
    assert!(v.verify_jwt(&t(json!({"aud": ["x", RES]}))).is_ok());
}

#[test]
fn configured_audiences_replace_the_resource() {
    let (b, _) = builder(&keys());
    drop(b);
    let v = TokenValidator::builder(RES)
        .issuer(
            IssuerBuilder::new(ISS)
                .jwks_json(&keys().to_string())
                .audience("api://mcp"),
        )
        .clock(Arc::new(ManualClock::new(NOW as u64)))
        .build()
        .unwrap();
    assert!(
        v.verify_jwt(&token(
            "ES256",
            "ec256",
            "ec-1",
            json!({"aud": "api://mcp"})
        ))
        .is_ok()
    );
    assert_eq!(
        reason(&v, &token("ES256", "ec256", "ec-1", json!({}))),
        Reason::WrongAudience
    );
}

#[test]
fn typ_is_checked_when_required() {
    let (b, _) = builder(&keys());
    let v = b.require_typ("application/at+jwt").build().unwrap();
    let c = claims(json!({}));
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+JWT",
    ] {
        let t = kit::sign(
            "HS256",
            "hmac",
            &json!({"alg":"HS256","kid":"hs-1","typ":typ}).to_string(),
            &c,
        );
        assert!(v.verify_jwt(&t).is_ok(), "{typ}");
    }
    for h in [
        r#"{"alg":"HS256","kid":"hs-1","typ":"JWT"}"#,
        r#"{"alg":"HS256","kid":"hs-1"}"#,
    ] {
        assert_eq!(
            reason(&v, &kit::sign("HS256", "hmac", h, &c)),
            Reason::WrongType
        );
    }
}

#[test]
fn critical_extensions_are_unsupported() {
    let (v, _) = validator();
    let c = claims(json!({}));
    for h in [
        r#"{"alg":"HS256","kid":"hs-1","crit":["exp"],"exp":1}"#,
        r#"{"alg":"HS256","kid":"hs-1","b64":false,"crit":["b64"]}"#,
    ] {
        assert_eq!(
            reason(&v, &kit::sign("HS256", "hmac", h, &c)),
            Reason::UnsupportedCriticalHeader
        );
    }
}

#[test]
fn embedded_keys_in_the_header_are_never_used() {
    let (v, _) = validator();
    let header = json!({"alg": "RS256", "kid": "rsa-1", "jwk": kit::public_jwk("rsa2", None, None),
        "jku": "https://evil.example/jwks", "x5u": "https://evil.example/cert", "x5c": ["AAAA"]});
    let t = kit::sign("RS256", "rsa2", &header.to_string(), &claims(json!({})));
    assert_eq!(reason(&v, &t), Reason::BadSignature);
}

#[test]
fn required_scopes_are_enforced_with_a_403() {
    let (b, _) = builder(&keys());
    let v = b
        .required_scope("mcp:read")
        .required_scope("mcp:write")
        .build()
        .unwrap();
    let e = v
        .verify_jwt(&token(
            "HS256",
            "hmac",
            "hs-1",
            json!({"scope": "mcp:read MCP:WRITE"}),
        ))
        .unwrap_err();
    assert_eq!((e.reason, e.status()), (Reason::InsufficientScope, 403));
    assert_eq!(e.scope.as_deref(), Some("mcp:read mcp:write"));
    let h = e.www_authenticate(Some("https://m")).unwrap();
    assert!(
        h.contains("error=\"insufficient_scope\"") && h.contains("scope=\"mcp:read mcp:write\""),
        "{h}"
    );
    assert!(
        v.verify_jwt(&token(
            "HS256",
            "hmac",
            "hs-1",
            json!({"scp": ["mcp:write", "mcp:read"]})
        ))
        .is_ok()
    );
}

#[test]
fn the_grants_hook_runs_on_every_verified_principal() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let (b, _) = builder(&keys());
    let v = b
        .grants(Arc::new(move |p: &mut Principal| {
            seen.fetch_add(1, Ordering::SeqCst);
            p.tags = p
                .scopes
                .iter()
                .filter_map(|s| s.strip_prefix("tag:"))
                .map(str::to_owned)
                .collect();
        }))
        .build()
        .unwrap();
    let p = v
        .validate(&token(
            "HS256",
            "hmac",
            "hs-1",
            json!({"scope": "tag:web x"}),
        ))
        .unwrap();
    assert_eq!(p.tags, ["web"]);
    assert!(
        v.verify_jwt(&token("HS256", "hmac", "hs-1", json!({"exp": 0})))
            .is_err()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn errors_display_reason_and_description_without_token_bytes() {
    let (v, _) = validator();
    let e = v
        .verify_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiI8c2NyaXB0PiJ9.")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "algorithm_not_allowed: unsigned tokens (alg none) are never accepted"
    );
    let e = v
        .verify_jwt(&token("HS256", "hmac", "<script>", json!({})))
        .unwrap_err();
    assert!(!e.to_string().contains("script"));
}

#[test]
fn set_jwks_rotates_keys_atomically_and_keeps_the_old_set_on_error() {
    let (v, _) = validator();
    let old = token("RS256", "rsa", "rsa-1", json!({}));
    let new = token("RS256", "rsa2", "next", json!({}));
    assert!(v.verify_jwt(&old).is_ok());
    assert_eq!(reason(&v, &new), Reason::UnknownKey);
    assert_eq!((v.generation(), v.issuer_generation(ISS)), (0, Some(0)));
    v.set_jwks(ISS, &kit::jwks(&[("rsa2", Some("next"), None)]).to_string())
        .unwrap();
    assert!(v.verify_jwt(&new).is_ok());
    assert_eq!(reason(&v, &old), Reason::UnknownKey);
    assert_eq!((v.generation(), v.issuer_generation(ISS)), (1, Some(1)));
    let e = v
        .set_jwks(ISS, r#"{"keys":[{"kty":"EC","x":"AA","y":"AA"}]}"#)
        .unwrap_err();
    assert_eq!(e.path(), "keys[0].crv");
    let e = v
        .set_jwks(ISS, r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#)
        .unwrap_err();
    assert_eq!(e.path(), "keys[0].n");
    assert!(matches!(
        v.set_jwks(ISS, "{"),
        Err(KeyError::InvalidJwkSet { .. })
    ));
    assert!(matches!(
        v.set_jwks("https://nobody", "{\"keys\":[]}"),
        Err(KeyError::UnknownIssuer(_))
    ));
    assert!(v.verify_jwt(&new).is_ok());
    assert_eq!(v.generation(), 1);
}

#[test]
fn pem_keys_and_hmac_secrets_survive_rotation() {
    let v = TokenValidator::builder(RES)
        .issuer(
            IssuerBuilder::new(ISS)
                .pem_key("pem-1", "PS256", kit::public_pem("rsa2"))
                .pem_key("pem-ed", "EdDSA", kit::public_pem("ed25519"))
                .pem_key("pem-ec", "ES384", kit::public_pem("ec384"))
                .hmac_secret(Some("secret"), Algorithm::HS512, &kit::hmac_secret()),
        )
        .clock(Arc::new(ManualClock::new(NOW as u64)))
        .build()
        .unwrap();
    let ts = [
        token("PS256", "rsa2", "pem-1", json!({})),
        token("EdDSA", "ed25519", "pem-ed", json!({})),
        token("ES384", "ec384", "pem-ec", json!({})),
        token("HS512", "hmac", "secret", json!({})),
    ];
    for t in &ts {
        assert!(v.verify_jwt(t).is_ok());
    }
    v.set_jwks(ISS, &kit::jwks(&[("ec256", Some("j"), None)]).to_string())
        .unwrap();
    for t in &ts {
        assert!(v.verify_jwt(t).is_ok());
    }
    assert_eq!(v.key_count(ISS), Some(5));
    // A JWK whose kid collides with a PEM key is refused.
    let e = v
        .set_jwks(
            ISS,
            &kit::jwks(&[("ec256", Some("pem-1"), None)]).to_string(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("duplicate kid"), "{e}");
}

fn config_error(auth: Value) -> ConfigError {
    let cfg: AuthConfig = crate::error::from_value(&auth).unwrap();
    TokenValidator::from_config(&cfg, RES, None, Arc::new(ManualClock::new(0))).unwrap_err()
}

#[test]
fn configuration_errors_name_their_json_path() {
    let jwk = |k: Value| json!({"issuers": [{"issuer": ISS, "jwks": {"keys": [kit::public_jwk("rsa", Some("a"), None), k]}}]});
    let cases = [
        (
            jwk(json!({"kty": "EC", "x": "AA", "y": "AA"})),
            "issuers[0].jwks.keys[1].crv",
        ),
        (
            jwk(json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"})),
            "issuers[0].jwks.keys[1].x",
        ),
        (jwk(json!({"crv": "P-256"})), "issuers[0].jwks.keys[1].kty"),
        (
            jwk(json!({"kty": "oct", "k": kit::b64url(&[1; 16])})),
            "issuers[0].jwks.keys[1].k",
        ),
        (
            jwk(json!({"kty": "oct", "alg": "HS512", "k": kit::b64url(&[1; 32])})),
            "issuers[0].jwks.keys[1].k",
        ),
        (
            jwk(json!({"kty": "oct", "k": ""})),
            "issuers[0].jwks.keys[1].k",
        ),
        (
            jwk(kit::public_jwk("ec256", None, Some("ES384"))),
            "issuers[0].jwks.keys[1].alg",
        ),
        (
            jwk(kit::public_jwk("rsa2", None, Some("none"))),
            "issuers[0].jwks.keys[1].alg",
        ),
        (
            jwk(kit::public_jwk("rsa2", Some("a"), None)),
            "issuers[0].jwks.keys[1].kid",
        ),
        (
            jwk(json!({"kty": "RSA", "n": kit::public_jwk("rsa2", None, None)["n"], "e": "AQ"})),
            "issuers[0].jwks.keys[1].e",
        ),
        (
            jwk(
                json!({"kty": "EC", "crv": "P-256", "x": kit::public_jwk("ec256", None, None)["x"], "y": kit::public_jwk("ec256", None, None)["x"]}),
            ),
            "issuers[0].jwks.keys[1].x",
        ),
        (
            jwk({
                let mut k = kit::public_jwk("ec256", None, None);
                k["d"] = json!("AAAA");
                k
            }),
            "issuers[0].jwks.keys[1].d",
        ),
        (
            json!({"issuers": [{"issuer": ISS, "algorithms": ["none"]}]}),
            "issuers[0].algorithms[0]",
        ),
        (
            json!({"issuers": [{"issuer": ISS, "algorithms": ["RS256", "HS1024"]}]}),
            "issuers[0].algorithms[1]",
        ),
        (
            json!({"issuers": [{"issuer": ISS, "algorithms": []}]}),
            "issuers[0].algorithms",
        ),
        (
            json!({"issuers": [{"issuer": ISS, "jwks": {"keys": []}, "jwks_file": "x.json"}]}),
            "issuers[0].jwks_file",
        ),
        (
            json!({"issuers": [{"issuer": ISS, "jwks_file": "/nonexistent/jwks.json"}]}),
            "issuers[0].jwks_file",
        ),
        (
            json!({"issuers": [{"issuer": ISS, "pem_keys": [{"kid": "k", "alg": "HS256", "pem": "x"}]}]}),
            "issuers[0].pem_keys[0].alg",
        ),
        (
            json!({"issuers": [{"issuer": ISS, "pem_keys": [{"kid": "k", "alg": "RS256", "pem": "x"}]}]}),
            "issuers[0].pem_keys[0].pem",
        ),
        (
            json!({"issuers": [{"issuer": ISS, "pem_keys": [{"kid": "k", "alg": "RS256", "pem": kit::public_pem("ec256")}]}]}),
            "issuers[0].pem_keys[0].pem",
        ),
        (
            json!({"issuers": [{"issuer": ISS, "pem_keys": [{"kid": "k", "alg": "ES384", "pem": kit::public_pem("ec256")}]}]}),
            "issuers[0].pem_keys[0].pem",
        ),
        (
            json!({"issuers": [{"issuer": ISS, "pem_keys": [{"kid": "k", "alg": "RS256", "pem": kit::private_pem("rsa")}]}]}),
            "issuers[0].pem_keys[0].pem",
        ),
        (
            json!({"issuers": [{"issuer": ISS}, {"issuer": ISS}]}),
            "issuers[1].issuer",
        ),
        (json!({"issuers": [{"issuer": ""}]}), "issuers[0].issuer"),
        (
            json!({"issuers": [{"issuer": ISS, "audiences": []}]}),
            "issuers[0].audiences",
        ),
        (
            json!({"issuers": [{"issuer": ISS, "audiences": [""]}]}),
            "issuers[0].audiences[0]",
        ),
        (json!({"max_token_bytes": 0}), "max_token_bytes"),
        (json!({"require_typ": "application/"}), "require_typ"),
        (json!({"required_scopes": ["a b"]}), "required_scopes[0]"),
        (json!({"role_claim": "scope"}), "role_claim"),
    ];
    for (auth, path) in cases {
        let e = config_error(auth.clone());
        assert_eq!(e.path, path, "{auth}: {e}");
    }
}

#[test]
fn a_jwk_set_mixing_secrets_and_public_keys_is_refused() {
    let set = kit::jwks(&[("ec256", Some("e"), None), ("hmac", Some("h"), None)]);
    let e = KeySet::from_jwks_json(&set.to_string(), None).unwrap_err();
    assert_eq!(e.path(), "keys[1].kty");
    let only_secrets = json!({"keys": [kit::public_jwk("hmac", Some("a"), None), kit::public_jwk("hmac", Some("b"), Some("HS512"))]});
    assert_eq!(
        KeySet::from_jwks_json(&only_secrets.to_string(), None)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn keys_for_encryption_or_unsupported_curves_are_skipped() {
    let set = json!({"keys": [
        kit::public_jwk("rsa", Some("enc"), None).as_object().cloned().map(|mut k| { k.insert("use".into(), json!("enc")); k }),
        kit::public_jwk("rsa2", Some("ops"), None).as_object().cloned().map(|mut k| { k.insert("key_ops".into(), json!(["encrypt"])); k }),
        {"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"},
        {"kty": "OKP", "crv": "X25519", "kid": "x", "x": "AA"},
        {"kty": "RSA", "kid": "oaep", "alg": "RSA-OAEP", "n": "AA", "e": "AQAB"},
        {"kty": "AKP", "kid": "pq"},
        kit::public_jwk("ec256", Some("sig"), None).as_object().cloned().map(|mut k| { k.insert("use".into(), json!("sig")); k.insert("key_ops".into(), json!(["verify"])); k }),
    ]});
    let v = TokenValidator::builder(RES)
        .issuer(IssuerBuilder::new(ISS).jwks_json(&set.to_string()))
        .clock(Arc::new(ManualClock::new(NOW as u64)))
        .build()
        .unwrap();
    assert_eq!(v.key_count(ISS), Some(1));
    assert!(
        v.verify_jwt(&token("ES256", "ec256", "sig", json!({})))
            .is_ok()
    );
    assert_eq!(
        reason(&v, &token("RS256", "rsa", "enc", json!({}))),
        Reason::AlgorithmNotAllowed
    );
}

#[test]
fn an_issuer_may_start_without_keys_and_receive_them_later() {
    let v = TokenValidator::builder(RES)
        .issuer(IssuerBuilder::new(ISS))
        .clock(Arc::new(ManualClock::new(NOW as u64)))
        .build()
        .unwrap();
    assert_eq!(v.key_count(ISS), Some(0));
    let t = token("RS256", "rsa", "rsa-1", json!({}));
    // No `algorithms` configured: the allowed set comes from the (stale)
    // keys, so the refusal carries a refresh hint.
    let e = v.verify_jwt(&t).unwrap_err();
    assert_eq!(
        (e.reason, e.refresh_jwks.as_deref()),
        (Reason::AlgorithmNotAllowed, Some(ISS))
    );
    v.set_jwks(ISS, &keys().to_string()).unwrap();
    assert!(v.verify_jwt(&t).is_ok());
}

#[test]
fn jwks_file_is_read_relative_to_the_base_directory() {
    let dir = std::env::temp_dir().join(format!("mcpguard-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("jwks.json"), keys().to_string()).unwrap();
    let cfg: AuthConfig =
        crate::error::from_value(&json!({"issuers": [{"issuer": ISS, "jwks_file": "jwks.json"}]}))
            .unwrap();
    let v = TokenValidator::from_config(
        &cfg,
        RES,
        Some(&dir),
        Arc::new(ManualClock::new(NOW as u64)),
    )
    .unwrap();
    assert!(
        v.verify_jwt(&token("ES256", "ec256", "ec-1", json!({})))
            .is_ok()
    );
    std::fs::write(dir.join("bad.json"), "{\"keys\":[{\"kty\":\"EC\"}]}").unwrap();
    let cfg: AuthConfig =
        crate::error::from_value(&json!({"issuers": [{"issuer": ISS, "jwks_file": "bad.json"}]}))
            .unwrap();
    let e = TokenValidator::from_config(&cfg, RES, Some(&dir), Arc::new(ManualClock::new(0)))
        .unwrap_err();
    assert_eq!(e.path, "issuers[0].jwks_file");
    assert!(e.message.contains("keys[0].crv"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn settings_are_exposed_for_the_guard() {
    let cfg: AuthConfig = crate::error::from_value(&json!({"required": false, "cache_entries": 5,
        "revocation_entries": 6, "opaque_tokens": true, "leeway_seconds": 7, "issuers": [{"issuer": ISS}]}))
    .unwrap();
    let v = TokenValidator::from_config(&cfg, RES, None, Arc::new(ManualClock::new(0))).unwrap();
    assert!(!v.required() && v.opaque_tokens());
    assert_eq!(
        (
            v.cache_entries(),
            v.revocation_entries(),
            v.leeway_seconds()
        ),
        (5, 6, 7)
    );
    assert_eq!(v.audiences(ISS), Some(&[RES.to_string()][..]));
    assert_eq!(v.refresh_cooldown(), DEFAULT_REFRESH_COOLDOWN);
    assert_eq!(v.max_token_bytes(), 8192);
}

mod no_panic {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_is_refused_without_panicking(s in "\\PC{0,300}") {
            let (v, _) = validator();
            prop_assert!(v.verify_jwt(&s).is_err());
        }

        #[test]
        fn a_mutated_token_never_panics_and_never_verifies(pos in 0usize..400, byte in 0u8..128) {
            let (v, _) = validator();
            let good = token("ES256", "ec256", "ec-1", json!({"scope": "a b"}));
            let mut bytes = good.clone().into_bytes();
            let at = pos % bytes.len();
            bytes[at] = byte;
            let mutated = String::from_utf8_lossy(&bytes).into_owned();
            let result = v.verify_jwt(&mutated);
            if mutated != good {
                // A change may only keep the token valid if it decodes to the same bytes,
                // which canonical base64url rules out.
                prop_assert!(result.is_err(), "{mutated}");
            }
        }
    }
}

#[test]
fn a_jwk_set_or_a_jwk_written_as_an_array_is_refused() {
    // serde's derived readers take a struct written as an array: `[[]]`
    // was read as a set with no keys (found by fuzzing).
    for (text, path) in [
        ("[[]]", "."),
        ("[]", "."),
        (r#"{"keys": [["RSA", null, "AQAB"]]}"#, "keys[0]"),
        (
            r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}, []]}"#,
            "keys[1]",
        ),
    ] {
        match KeySet::from_jwks_json(text, None) {
            Err(KeyError::InvalidJwkSet { path: p, .. }) => assert_eq!(p, path, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    assert!(KeySet::from_jwks_json(r#"{"keys": []}"#, None).is_ok());
}
