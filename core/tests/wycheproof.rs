//! Wycheproof vectors through mcpguard's JWS layer (`token::jws`,
//! `token::keys`): every `valid` case of a supported algorithm is accepted,
//! every `invalid` case rejected. Where our policy gives another answer than
//! Wycheproof's label, or the case does not apply (unsupported algorithm,
//! truncated MAC, weak-key detection), the case is named below with the
//! reason, and its actual outcome under our policy is still asserted:
//! nothing is skipped.
//!
//! The vector files are in `core/tests/data/wycheproof/` (copied from the
//! Wycheproof project with its licence; see the README there), so the
//! repository tests itself with nothing from outside.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mcpguard::token::KeySet;
use mcpguard::token::jws::{self, Algorithm};
use serde_json::{Value, json};

/// `MCPGUARD_WYCHEPROOF_DIR` (to run a newer Wycheproof checkout), else the
/// copies under `tests/data/wycheproof`. A missing file fails the test.
fn dir() -> PathBuf {
    match std::env::var_os("MCPGUARD_WYCHEPROOF_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/wycheproof"),
    }
}

fn load(name: &str) -> Value {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("Wycheproof file is JSON")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// What we require of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Accept,
    Reject,
}

/// Cases where our answer differs from Wycheproof's label or the case does
/// not apply as labelled; the outcome we assert instead, and why.
fn deviation(file: &str, tc_id: u64) -> Option<(Want, &'static str)> {
    match (file, tc_id) {
        ("json_web_signature_test.json", 347 | 351) => Some((
            Want::Reject,
            "RFC 7520 Figure 27 is ES512: P-521 is not supported, the key is skipped and the token refused",
        )),
        ("json_web_signature_test.json", 346 | 350) => Some((
            Want::Reject,
            "RFC 7520 Figure 20 is PS384 but this file's JWK says alg PS256: a JWK with alg verifies that alg only (conformance.md pinned detail)",
        )),
        ("json_web_signature_test.json", 367 | 370) => Some((
            Want::Accept,
            "labelled invalidBase64Padding, but the token is byte-identical to the valid tcId 357 (no padding present), so it verifies",
        )),
        ("json_web_signature_test.json", 372 | 373) => Some((
            Want::Reject,
            "a '?' inside a segment is not base64url: mcpguard refuses non-canonical base64url (conformance.md pinned detail) where Wycheproof tolerates lenient decoders",
        )),
        ("json_web_key_test.json", 7) => Some((
            Want::Accept,
            "ROCA weak-key detection is not implemented: a key with the ROCA fingerprint verifies its own valid signature",
        )),
        _ => None,
    }
}

/// Runs one case, returning whether it was accepted.
fn check(
    file: &str,
    tc_id: u64,
    label: &str,
    accepted: bool,
    failures: &mut Vec<String>,
    notes: &mut BTreeMap<String, Vec<u64>>,
) {
    let want = match deviation(file, tc_id) {
        Some((want, why)) => {
            notes.entry(why.to_string()).or_default().push(tc_id);
            want
        }
        None => match label {
            "valid" => Want::Accept,
            "invalid" => Want::Reject,
            other => panic!("{file} tcId {tc_id}: label {other:?} needs an explicit decision"),
        },
    };
    if (want == Want::Accept) != accepted {
        failures.push(format!(
            "{file} tcId {tc_id}: expected {want:?}, accepted = {accepted}"
        ));
    }
}

fn key_set(jwk_or_set: &Value) -> Result<KeySet, String> {
    let set = if jwk_or_set.get("keys").is_some() {
        jwk_or_set.clone()
    } else {
        json!({"keys": [jwk_or_set]})
    };
    KeySet::from_jwks_json(&set.to_string(), None).map_err(|e| e.to_string())
}

fn run_jose(file: &str) -> (Vec<String>, BTreeMap<String, Vec<u64>>, usize) {
    let doc = load(file);
    let (mut failures, mut notes, mut count) = (Vec::new(), BTreeMap::<String, Vec<u64>>::new(), 0);
    for group in doc["testGroups"].as_array().expect("groups") {
        // Verification uses the public key; a group with only a private key
        // holds an `oct` secret (or a deliberately mixed set).
        let key = group.get("public").unwrap_or(&group["private"]);
        let keys = key_set(key);
        for case in group["tests"].as_array().expect("tests") {
            count += 1;
            let tc_id = case["tcId"].as_u64().expect("tcId");
            let token = match &case["jws"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let accepted = match &keys {
                Ok(keys) => jws::verify_compact(&token, keys).is_ok(),
                // A refused key set verifies nothing.
                Err(_) => false,
            };
            check(
                file,
                tc_id,
                case["result"].as_str().unwrap_or(""),
                accepted,
                &mut failures,
                &mut notes,
            );
        }
    }
    (failures, notes, count)
}

fn report(name: &str, (failures, notes, count): (Vec<String>, BTreeMap<String, Vec<u64>>, usize)) {
    for (why, ids) in &notes {
        println!("{name}: tcIds {ids:?}: {why}");
    }
    assert!(count > 0, "{name}: no cases");
    assert!(
        failures.is_empty(),
        "{name}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn json_web_signature_vectors() {
    report("JWS", run_jose("json_web_signature_test.json"));
}

#[test]
fn json_web_key_vectors() {
    report("JWK", run_jose("json_web_key_test.json"));
}

/// Raw-signature files: the key is loaded through our JWK (or PEM) layer and
/// each signature checked with `jws::verify_signature`.
fn run_raw(file: &str, alg: Algorithm) -> (Vec<String>, BTreeMap<String, Vec<u64>>, usize) {
    let doc = load(file);
    let (mut failures, mut notes, mut count) = (Vec::new(), BTreeMap::<String, Vec<u64>>::new(), 0);
    for group in doc["testGroups"].as_array().expect("groups") {
        let jwk = group.get("publicKeyJwk").or_else(|| group.get("keyJwk"));
        let keys = match jwk {
            Some(jwk) => {
                let mut jwk = jwk.clone();
                jwk["alg"] = json!(alg.name());
                key_set(&jwk)
            }
            None => {
                let mut keys = KeySet::new();
                let pem = group["publicKeyPem"].as_str().expect("publicKeyPem");
                keys.add_pem("k", alg.name(), pem)
                    .map(|()| keys)
                    .map_err(|e| e.to_string())
            }
        };
        if let Some(slen) = group.get("sLen") {
            // JWS PS256 fixes the salt at the hash length: only such groups apply.
            let slen = slen
                .as_u64()
                .or_else(|| slen.as_str().and_then(|s| s.parse().ok()));
            assert_eq!(slen, Some(32), "{file}: PS256 uses a 32-byte salt");
        }
        for case in group["tests"].as_array().expect("tests") {
            count += 1;
            let tc_id = case["tcId"].as_u64().expect("tcId");
            let accepted = match &keys {
                Ok(keys) => keys
                    .select(None, alg, None)
                    .and_then(|v| {
                        jws::verify_signature(
                            v,
                            &hex(case["msg"].as_str().unwrap_or("")),
                            &hex(case["sig"].as_str().unwrap_or("")),
                        )
                    })
                    .is_ok(),
                Err(e) => panic!("{file}: key of tcId {tc_id} refused: {e}"),
            };
            let label = match case["result"].as_str() {
                // PKCS#1 v1.5 DigestInfo without the NULL parameter: RFC 8017
                // allows verifiers to refuse it; aws-lc (and so mcpguard) does.
                Some("acceptable")
                    if case["flags"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|x| x == "MissingNull")) =>
                {
                    notes
                        .entry(
                            "acceptable MissingNull: refused (strict DigestInfo encoding)".into(),
                        )
                        .or_default()
                        .push(tc_id);
                    "invalid"
                }
                Some(other) => other,
                None => "",
            };
            check(file, tc_id, label, accepted, &mut failures, &mut notes);
        }
    }
    (failures, notes, count)
}

#[test]
fn ecdsa_p256_sha256_p1363_vectors() {
    report(
        "ES256",
        run_raw("ecdsa_secp256r1_sha256_p1363_test.json", Algorithm::ES256),
    );
}

#[test]
fn ecdsa_p384_sha384_p1363_vectors() {
    report(
        "ES384",
        run_raw("ecdsa_secp384r1_sha384_p1363_test.json", Algorithm::ES384),
    );
}

#[test]
fn ed25519_vectors() {
    report("EdDSA", run_raw("ed25519_test.json", Algorithm::EdDSA));
}

#[test]
fn rsa_pkcs1_2048_sha256_vectors() {
    report(
        "RS256",
        run_raw("rsa_signature_2048_sha256_test.json", Algorithm::RS256),
    );
}

#[test]
fn rsa_pss_2048_sha256_mgf1_32_vectors() {
    report(
        "PS256",
        run_raw("rsa_pss_2048_sha256_mgf1_32_test.json", Algorithm::PS256),
    );
}

/// HMAC-SHA256: HS256 verifies full 32-byte tags with secrets of at least
/// 32 bytes (RFC 7518 §3.2). Wycheproof also labels truncated tags and
/// shorter keys: for those we assert our own answer: a short key is refused
/// when configured, a truncated tag never verifies.
#[test]
fn hmac_sha256_vectors() {
    let doc = load("hmac_sha256_test.json");
    let (mut failures, mut notes, mut count) = (Vec::new(), BTreeMap::<String, Vec<u64>>::new(), 0);
    for group in doc["testGroups"].as_array().expect("groups") {
        let tag_bits = group["tagSize"]
            .as_u64()
            .or_else(|| group["tagSize"].as_str().and_then(|s| s.parse().ok()));
        for case in group["tests"].as_array().expect("tests") {
            count += 1;
            let tc_id = case["tcId"].as_u64().expect("tcId");
            let key = hex(case["key"].as_str().unwrap_or(""));
            let tag = hex(case["tag"].as_str().unwrap_or(""));
            let msg = hex(case["msg"].as_str().unwrap_or(""));
            let mut keys = KeySet::new();
            let loaded = keys.add_hmac_secret(None, Algorithm::HS256, &key);
            let accepted = loaded.is_ok()
                && keys
                    .select(None, Algorithm::HS256, None)
                    .and_then(|v| jws::verify_signature(v, &msg, &tag))
                    .is_ok();
            let mut label = case["result"].as_str().unwrap_or("").to_string();
            if key.len() < 32 {
                assert!(
                    loaded.is_err(),
                    "tcId {tc_id}: a {}-byte HS256 key must be refused",
                    key.len()
                );
                notes
                    .entry(
                        "HMAC key shorter than 32 bytes: refused at configuration (RFC 7518 §3.2)"
                            .to_string(),
                    )
                    .or_default()
                    .push(tc_id);
                label = "invalid".into();
            } else if tag_bits != Some(256) {
                notes.entry("truncated tag: HS256 signatures are the full 32-byte tag, so it never verifies".to_string()).or_default().push(tc_id);
                label = "invalid".into();
            }
            check(
                "hmac_sha256_test.json",
                tc_id,
                &label,
                accepted,
                &mut failures,
                &mut notes,
            );
        }
    }
    report("HS256", (failures, notes, count));
}
