//! The validator's stateful side working together: the verified-token
//! cache, revocation, key rotation, opaque tokens and introspection.

use std::sync::Arc;
use std::time::Duration;

use mcpguard::token::{OpaqueEntry, OpaqueError, RevokeError, TokenKind, TokenValidator};
use mcpguard::{ManualClock, Reason};
use mcpguard_testkit as kit;
use serde_json::json;

const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";
const NOW: u64 = 1_767_225_600;

fn token(kid: &str, jti: Option<&str>, exp: u64) -> String {
    let mut claims = json!({"iss": ISS, "sub": "alice", "client_id": "app", "aud": RES,
        "exp": exp, "scope": "tag:web"});
    if let Some(jti) = jti {
        claims["jti"] = json!(jti);
    }
    kit::sign(
        "ES256",
        "ec256",
        &json!({"alg": "ES256", "kid": kid}).to_string(),
        &claims.to_string(),
    )
}

fn validator(clock: &ManualClock, opaque: bool) -> TokenValidator {
    let jwks = kit::jwks(&[("ec256", Some("k1"), None)]).to_string();
    let mut config: mcpguard::token::AuthConfig = serde_json::from_value(json!({
        "issuers": [{"issuer": ISS, "jwks": serde_json::from_str::<serde_json::Value>(&jwks).unwrap()}],
        "opaque_tokens": opaque,
    }))
    .unwrap();
    config.cache_entries = 100;
    TokenValidator::builder_from_config(config, RES)
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("config")
}

#[test]
fn a_second_validation_is_a_cache_hit_sharing_the_principal() {
    let clock = ManualClock::new(NOW);
    let v = validator(&clock, false);
    let t = token("k1", Some("j1"), NOW + 600);
    let (first, hit) = v.validate_traced(&t);
    assert!(!hit);
    let (second, hit) = v.validate_traced(&t);
    assert!(hit);
    assert!(Arc::ptr_eq(&first.unwrap(), &second.unwrap()));
}

#[test]
fn a_cached_token_expires_with_its_exp() {
    let clock = ManualClock::new(NOW);
    let v = validator(&clock, false);
    let t = token("k1", None, NOW + 60);
    assert!(v.validate(&t).is_ok());
    clock.advance(Duration::from_secs(60 + 30));
    let (r, hit) = v.validate_traced(&t);
    assert!(!hit, "an expired entry is not served from the cache");
    assert_eq!(r.unwrap_err().reason, Reason::Expired);
}

#[test]
fn revoking_by_jti_takes_effect_at_once_even_for_a_cached_token() {
    let clock = ManualClock::new(NOW);
    let v = validator(&clock, false);
    let t = token("k1", Some("j-revoke"), NOW + 600);
    assert!(v.validate(&t).is_ok());
    v.revoke(&t).unwrap();
    assert_eq!(v.validate(&t).unwrap_err().reason, Reason::Revoked);
    // Another token with the same jti from the same issuer is revoked too.
    let twin = token("k1", Some("j-revoke"), NOW + 500);
    assert_eq!(v.validate(&twin).unwrap_err().reason, Reason::Revoked);
    // Revoking again is fine.
    v.revoke(&t).unwrap();
}

#[test]
fn a_token_without_jti_is_revoked_as_a_whole() {
    let clock = ManualClock::new(NOW);
    let v = validator(&clock, false);
    let t = token("k1", None, NOW + 600);
    let other = token("k1", None, NOW + 601);
    assert!(v.validate(&t).is_ok());
    v.revoke(&t).unwrap();
    assert_eq!(v.validate(&t).unwrap_err().reason, Reason::Revoked);
    assert!(v.validate(&other).is_ok());
}

#[test]
fn a_forged_token_cannot_revoke_anything() {
    let clock = ManualClock::new(NOW);
    let v = validator(&clock, false);
    let real = token("k1", Some("victim"), NOW + 600);
    // Mallory's genuine token with its claims swapped for ones naming the
    // victim's jti: the signature no longer matches.
    let (header, _, signature) = kit::split(&token("k1", Some("mallory"), NOW + 600));
    let claims =
        json!({"iss": ISS, "sub": "mallory", "aud": RES, "exp": NOW + 600, "jti": "victim"});
    let forged = kit::join(
        &header,
        &kit::b64url(claims.to_string().as_bytes()),
        &signature,
    );
    let err = v.revoke(&forged).unwrap_err();
    assert!(
        matches!(err, RevokeError::InvalidToken(ref e) if e.reason == Reason::BadSignature),
        "{err:?}"
    );
    assert!(v.validate(&real).is_ok());
}

#[test]
fn revoking_an_expired_token_stores_nothing_and_succeeds() {
    let clock = ManualClock::new(NOW);
    let v = validator(&clock, false);
    let t = token("k1", Some("old"), NOW - 3600);
    v.revoke(&t).unwrap();
}

#[test]
fn key_rotation_drops_cached_validations_of_that_issuer() {
    let clock = ManualClock::new(NOW);
    let v = validator(&clock, false);
    let t = token("k1", None, NOW + 600);
    assert!(v.validate(&t).is_ok());
    let new_set = kit::jwks(&[("ec256", Some("k2"), None)]).to_string();
    v.set_jwks(ISS, &new_set).unwrap();
    let (r, hit) = v.validate_traced(&t);
    assert!(!hit);
    assert_eq!(r.unwrap_err().reason, Reason::UnknownKey);
}

#[test]
fn opaque_tokens_validate_revoke_and_check_the_resource() {
    let clock = ManualClock::new(NOW);
    let v = validator(&clock, true);
    let entry = OpaqueEntry {
        client_id: Some("svc".into()),
        subject: Some("bob".into()),
        scopes: vec!["tag:db".into()],
        roles: vec![],
        resource: Some("https://MCP.example.com/mcp/".into()),
        expires_at: Some(NOW as i64 + 600),
    };
    v.insert_opaque("opaque-token-1", entry.clone()).unwrap();
    let p = v.validate("opaque-token-1").unwrap();
    assert_eq!(p.kind, TokenKind::Opaque);
    assert_eq!(p.client_id.as_deref(), Some("svc"));
    assert_eq!(
        v.validate("opaque-unknown").unwrap_err().reason,
        Reason::Inactive
    );
    v.revoke("opaque-token-1").unwrap();
    assert_eq!(
        v.validate("opaque-token-1").unwrap_err().reason,
        Reason::Inactive
    );

    let elsewhere = OpaqueEntry {
        resource: Some("https://other.example.com/mcp".into()),
        ..entry
    };
    v.insert_opaque("opaque-token-2", elsewhere).unwrap();
    assert_eq!(
        v.validate("opaque-token-2").unwrap_err().reason,
        Reason::WrongAudience
    );
}

#[test]
fn opaque_tokens_are_refused_as_malformed_when_the_store_is_off() {
    let clock = ManualClock::new(NOW);
    let v = validator(&clock, false);
    assert_eq!(
        v.validate("opaque-token-1").unwrap_err().reason,
        Reason::Malformed
    );
    assert_eq!(
        v.insert_opaque("opaque-token-1", OpaqueEntry::default()),
        Err(OpaqueError::Disabled)
    );
}

#[test]
fn introspection_responses_become_principals_with_the_same_rules() {
    let clock = ManualClock::new(NOW);
    let v = validator(&clock, false);
    let ok = json!({"active": true, "iss": ISS, "aud": RES, "client_id": "c", "sub": "s",
        "scope": "tag:web mcp:admin", "exp": NOW + 60});
    let p = v.validate_introspection(&ok.to_string()).unwrap();
    assert_eq!(p.kind, TokenKind::Introspected);
    assert_eq!(p.scopes, ["tag:web", "mcp:admin"]);
    let inactive = json!({"active": false});
    assert_eq!(
        v.validate_introspection(&inactive.to_string())
            .unwrap_err()
            .reason,
        Reason::Inactive
    );
    let foreign = json!({"active": true, "iss": "https://evil.example", "exp": NOW + 60});
    assert_eq!(
        v.validate_introspection(&foreign.to_string())
            .unwrap_err()
            .reason,
        Reason::WrongIssuer
    );
    let wrong_aud = json!({"active": true, "aud": "https://other.example/mcp", "exp": NOW + 60});
    assert_eq!(
        v.validate_introspection(&wrong_aud.to_string())
            .unwrap_err()
            .reason,
        Reason::WrongAudience
    );
}

#[test]
fn revocations_racing_validations_never_leave_a_revoked_token_cached() {
    let clock = ManualClock::new(NOW);
    let v = validator(&clock, false);
    for round in 0..200 {
        let t = token("k1", Some(&format!("race-{round}")), NOW + 600);
        std::thread::scope(|s| {
            s.spawn(|| {
                let _ = v.validate(&t);
            });
            s.spawn(|| v.revoke(&t).unwrap());
        });
        assert_eq!(
            v.validate(&t).unwrap_err().reason,
            Reason::Revoked,
            "round {round}"
        );
    }
}
