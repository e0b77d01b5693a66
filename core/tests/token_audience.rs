//! Audience fragments through the public API: an `aud` value with a
//! fragment names no resource (RFC 8707 §2), so it never matches, even when
//! the value without its fragment would.

use std::sync::Arc;

use mcpguard::guard::Guard;
use mcpguard::token::{Algorithm, IssuerBuilder, TokenValidator};
use mcpguard::{ManualClock, Reason};
use mcpguard_testkit as kit;
use serde_json::{Value, json};

const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";
const NOW: u64 = 1_767_225_600;

fn validator() -> TokenValidator {
    TokenValidator::builder(RES)
        .issuer(IssuerBuilder::new(ISS).hmac_secret(
            Some("k1"),
            Algorithm::HS256,
            &kit::hmac_secret(),
        ))
        .clock(Arc::new(ManualClock::new(NOW)))
        .build()
        .expect("validator")
}

fn token(aud: Value) -> String {
    kit::sign(
        "HS256",
        "hmac",
        &json!({"alg": "HS256", "kid": "k1"}).to_string(),
        &json!({"iss": ISS, "sub": "alice", "aud": aud, "exp": NOW + 600}).to_string(),
    )
}

fn reason(v: &TokenValidator, aud: Value) -> Option<Reason> {
    v.validate(&token(aud)).err().map(|e| e.reason)
}

#[test]
fn an_aud_with_a_fragment_is_wrong_audience_even_when_it_would_match() {
    let v = validator();
    assert_eq!(
        reason(&v, json!(RES)),
        None,
        "the plain resource is accepted"
    );
    for aud in [
        "https://mcp.example.com/mcp#frag",
        "https://mcp.example.com/mcp#",
        "https://mcp.example.com/mcp/#frag",
        "HTTPS://MCP.EXAMPLE.COM/mcp#frag",
    ] {
        assert_eq!(reason(&v, json!(aud)), Some(Reason::WrongAudience), "{aud}");
        assert_eq!(
            reason(&v, json!([aud])),
            Some(Reason::WrongAudience),
            "[{aud}]"
        );
    }
}

#[test]
fn an_aud_array_is_accepted_only_through_an_entry_without_a_fragment() {
    let v = validator();
    let with_match = json!(["https://mcp.example.com/mcp#frag", RES]);
    let p = v
        .validate(&token(with_match))
        .expect("the second entry names us");
    assert_eq!(p.audience, ["https://mcp.example.com/mcp#frag", RES]);
    let only_fragments = json!([
        "https://mcp.example.com/mcp#a",
        "https://mcp.example.com/mcp#b"
    ]);
    assert_eq!(reason(&v, only_fragments), Some(Reason::WrongAudience));
}

#[test]
fn a_configured_audience_with_a_fragment_is_a_configuration_error() {
    let err = TokenValidator::builder(RES)
        .issuer(
            IssuerBuilder::new(ISS)
                .hmac_secret(Some("k1"), Algorithm::HS256, &kit::hmac_secret())
                .audience(RES)
                .audience("https://mcp.example.com/mcp#x"),
        )
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("issuers[0].audiences[1]") && text.contains("fragment"),
        "{text}"
    );
}

#[test]
fn the_guard_refuses_an_aud_with_a_fragment_with_wrong_audience() {
    let config = json!({
        "resource": RES,
        "auth": {"issuers": [{"issuer": ISS, "jwks": kit::jwks(&[("hmac", Some("k1"), Some("HS256"))])}]},
        "servers": {"web": {"tags": ["web"]}}
    });
    let guard =
        Guard::from_json_with_clock(&config.to_string(), ManualClock::new(NOW)).expect("guard");
    assert!(guard.validate(&token(json!(RES))).is_ok());
    let err = guard
        .validate(&token(json!("https://mcp.example.com/mcp#frag")))
        .unwrap_err();
    assert_eq!(err.reason, Reason::WrongAudience);
    assert!(
        guard
            .validate(&token(json!(["https://mcp.example.com/mcp#frag", RES])))
            .is_ok()
    );
}
