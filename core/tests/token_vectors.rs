//! Runs the `validate` and `advance` cases of conformance/token_*.json
//! straight through `TokenValidator` (the Guard-level runner comes later).
//! Every case of every file must pass; an unknown op or expect key fails.

use std::path::PathBuf;
use std::sync::Arc;

use mcpguard::ManualClock;
use mcpguard::token::{AuthConfig, TokenValidator};
use serde_json::{Value, json};

fn conformance_dir() -> PathBuf {
    std::env::var_os("MCPGUARD_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance"))
}

fn run_file(path: &std::path::Path) -> Vec<String> {
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("readable vector file"))
            .expect("vector file is JSON");
    let mut failures = Vec::new();
    let config = &doc["config"];
    let auth: AuthConfig = mcpguard::error::from_value(&config["auth"]).expect("auth parses");
    let resource = config["resource"].as_str().expect("resource");
    let clock =
        ManualClock::from_secs_f64(doc["clock"].as_f64().expect("clock")).expect("clock in range");
    let validator = TokenValidator::from_config(&auth, resource, None, Arc::new(clock.clone()))
        .unwrap_or_else(|e| panic!("{name}: config refused: {e}"));
    for case in doc["cases"].as_array().expect("cases") {
        let case_name = case["name"].as_str().unwrap_or("?");
        let fail = |msg: String| format!("{name} / {case_name}: {msg}");
        match case["op"].as_str() {
            Some("advance") => {
                let secs = case["seconds"].as_f64().expect("seconds");
                clock.advance_secs_f64(secs).expect("advance");
            }
            Some("validate") => {
                let token = case["token"].as_str().expect("token");
                let got = match validator.validate(token) {
                    Ok(p) => json!({"ok": true, "subject": p.subject, "client_id": p.client_id,
                        "issuer": p.issuer, "scopes": p.scopes, "roles": p.roles, "expires_at": p.expires_at}),
                    Err(e) => json!({"ok": false, "status": e.status(),
                        "error": e.reason.oauth_error().as_str(), "reason": e.reason.code()}),
                };
                for (key, want) in case["expect"].as_object().expect("expect") {
                    match got.get(key) {
                        Some(have) if have == want => {}
                        Some(have) => {
                            failures.push(fail(format!("{key}: expected {want}, got {have}")))
                        }
                        None => failures.push(fail(format!(
                            "expect key {key:?} not checkable here (got {got})"
                        ))),
                    }
                }
            }
            other => failures.push(fail(format!("unknown op {other:?}"))),
        }
    }
    failures
}

#[test]
fn every_token_vector_file_passes() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(conformance_dir())
        .expect("conformance dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("token_") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 3, "token vector files missing: {files:?}");
    let failures: Vec<String> = files.iter().flat_map(|f| run_file(f)).collect();
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
