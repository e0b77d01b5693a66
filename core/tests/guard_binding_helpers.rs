//! The Guard calls that exist for the language bindings: `would_verify`
//! and `would_verify_http` (release the interpreter lock only around
//! signature checks) and
//! `refuse_request` (a badly shaped request is a 400 decision, not a failure).

use std::path::Path;

use mcpguard::ManualClock;
use mcpguard::config::GuardConfig;
use mcpguard::guard::{Guard, GuardOptions, HttpRequest, Request};
use serde_json::{Value, json};

const DEMO_TIME: u64 = 1_767_225_600;

fn example_guard() -> (Guard, Value) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let config = GuardConfig::from_file(examples.join("guard.json")).expect("guard.json");
    let guard = Guard::from_config(
        config,
        GuardOptions::with_clock(ManualClock::new(DEMO_TIME)),
    )
    .expect("guard");
    let tokens = std::fs::read_to_string(examples.join("tokens.json")).expect("tokens.json");
    (guard, serde_json::from_str(&tokens).expect("tokens JSON"))
}

#[test]
fn a_bearer_token_needs_verification_until_the_cache_holds_it() {
    let (guard, tokens) = example_guard();
    let header = format!("Bearer {}", tokens["developer"].as_str().unwrap());
    assert!(guard.would_verify(Some(&header)));
    assert!(
        guard
            .authorize(&Request::new().authorization(&header))
            .allowed
    );
    assert!(!guard.would_verify(Some(&header)));
    assert!(
        guard
            .token_validator()
            .is_cached(tokens["developer"].as_str().unwrap())
    );
}

#[test]
fn no_header_or_another_scheme_needs_no_verification() {
    let (guard, _) = example_guard();
    for header in [
        None,
        Some(""),
        Some("  "),
        Some("Basic abc"),
        Some("Bearer"),
        Some("Bearer  "),
    ] {
        assert!(!guard.would_verify(header), "{header:?}");
    }
}

#[test]
fn an_http_request_needs_verification_by_the_header_rules_of_authorize_http() {
    let (guard, tokens) = example_guard();
    let header = format!("Bearer {}", tokens["developer"].as_str().unwrap());
    let one: [(&[u8], &[u8]); 1] = [(b"Authorization", header.as_bytes())];
    let request = HttpRequest {
        headers: &one,
        ..HttpRequest::new("POST", "/mcp")
    };
    assert!(guard.would_verify_http(&request));
    // Two Authorization headers are a 400 before any token is read.
    let two: [(&[u8], &[u8]); 2] = [
        (b"authorization", header.as_bytes()),
        (b"AUTHORIZATION", header.as_bytes()),
    ];
    let twice = HttpRequest {
        headers: &two,
        ..HttpRequest::new("POST", "/mcp")
    };
    assert!(!guard.would_verify_http(&twice));
    assert!(!guard.would_verify_http(&HttpRequest::new("POST", "/mcp")));
    assert!(
        guard
            .validate(tokens["developer"].as_str().unwrap())
            .is_ok()
    );
    assert!(!guard.would_verify_http(&request));
}

#[test]
fn a_revoked_token_leaves_the_cache_and_needs_verification_again() {
    let (guard, tokens) = example_guard();
    let token = tokens["analyst"].as_str().unwrap();
    let header = format!("Bearer {token}");
    assert!(guard.validate(token).is_ok());
    assert!(!guard.would_verify(Some(&header)));
    guard.revoke(token).expect("revoke");
    assert!(guard.would_verify(Some(&header)));
}

#[test]
fn a_request_with_two_filter_kinds_is_a_400_decision() {
    let (guard, _) = example_guard();
    let request = json!({"filter": {"tags": "web", "preset": "local"}});
    let error = Request::from_json(&request).unwrap_err();
    let d = guard.refuse_request(&error);
    assert!(!d.allowed);
    assert_eq!(d.status, 400);
    assert_eq!(d.reason.map(|r| r.code()), Some("invalid_request"));
    assert!(
        d.error_description
            .as_deref()
            .unwrap()
            .contains("only one filter")
    );
    assert!(
        d.header("WWW-Authenticate")
            .unwrap()
            .contains("invalid_request")
    );
}

#[test]
fn the_audit_fingerprint_is_the_hex_of_the_first_8_bytes_of_sha_256() {
    // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223...
    assert_eq!(
        mcpguard::token::token_fingerprint("abc"),
        "ba7816bf8f01cfea"
    );
}
