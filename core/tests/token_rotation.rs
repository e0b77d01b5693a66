//! Key rotation under load: validations on several threads while another
//! thread swaps the issuer's JWK Set back and forth. A token signed by a key
//! present in both sets always verifies; tokens of keys present in only one
//! set verify or are `unknown_key`, nothing else; nothing panics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mcpguard::token::{IssuerBuilder, TokenValidator};
use mcpguard::{ManualClock, Reason};
use mcpguard_testkit as kit;
use serde_json::json;

const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";
const NOW: u64 = 1_767_225_600;

fn token(alg: &str, key: &str, kid: &str) -> String {
    let claims = json!({"iss": ISS, "sub": kid, "aud": RES, "exp": NOW + 600}).to_string();
    kit::sign(
        alg,
        key,
        &json!({"alg": alg, "kid": kid}).to_string(),
        &claims,
    )
}

#[test]
fn validations_see_a_whole_key_set_while_keys_rotate() {
    let set_one = kit::jwks(&[
        ("ec256", Some("both"), None),
        ("ed25519", Some("one"), None),
    ])
    .to_string();
    let set_two =
        kit::jwks(&[("ec256", Some("both"), None), ("rsa", Some("two"), None)]).to_string();
    let v = TokenValidator::builder(RES)
        .issuer(IssuerBuilder::new(ISS).jwks_json(&set_one))
        .clock(Arc::new(ManualClock::new(NOW)))
        .build()
        .expect("config");
    let both = token("ES256", "ec256", "both");
    let one = token("EdDSA", "ed25519", "one");
    let two = token("RS256", "rsa", "two");
    let done = AtomicBool::new(false);
    const SWAPS: u64 = 400;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let mut checks = 0u32;
                    while !done.load(Ordering::Acquire) || checks < 200 {
                        let p = v
                            .verify_jwt(&both)
                            .expect("a key in both sets always verifies");
                        assert_eq!(p.subject.as_deref(), Some("both"));
                        for t in [&one, &two] {
                            match v.verify_jwt(t) {
                                Ok(_) => {}
                                // Present in the other set only: unknown kid, or an
                                // alg no current key verifies. Never a signature failure.
                                Err(e) => assert!(
                                    matches!(
                                        e.reason,
                                        Reason::UnknownKey | Reason::AlgorithmNotAllowed
                                    ),
                                    "{e}"
                                ),
                            }
                        }
                        checks += 1;
                    }
                    checks
                })
            })
            .collect();
        for i in 0..SWAPS {
            let set = if i % 2 == 0 { &set_two } else { &set_one };
            v.set_jwks(ISS, set).expect("valid set");
            // A bad set in between changes nothing.
            assert!(v.set_jwks(ISS, r#"{"keys":[{"kty":"EC"}]}"#).is_err());
        }
        done.store(true, Ordering::Release);
        for w in workers {
            assert!(w.join().expect("worker did not panic") >= 200);
        }
    });
    assert_eq!(v.generation(), SWAPS);
    assert_eq!(v.issuer_generation(ISS), Some(SWAPS));
    // SWAPS is even: the last swap installed set one.
    assert!(v.verify_jwt(&one).is_ok());
}
