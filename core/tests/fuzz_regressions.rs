//! Inputs fuzzing found mishandled, pinned by name (their raw inputs are
//! also replayed from `fuzz/regressions/`).

use mcpguard::token::KeySet;

#[test]
fn a_jwk_set_followed_by_more_text_is_refused() {
    let set = mcpguard_testkit::jwks(&[("rsa", Some("rsa-1"), Some("RS256"))]).to_string();
    let set = set.as_str();
    assert!(KeySet::from_jwks_json(set, None).is_ok());
    for tail in ["\n9U88", " {}", "]", "\n}\n"] {
        let e = KeySet::from_jwks_json(&format!("{set}{tail}"), None).unwrap_err();
        assert!(e.to_string().contains("trailing"), "{tail:?}: {e}");
    }
    assert!(KeySet::from_jwks_json(&format!("{set} \n\t"), None).is_ok());
}
