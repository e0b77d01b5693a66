//! The `oauth` check: its seeds walk the whole flow (so the fuzzer starts
//! deep in it), and the properties it checks fail when broken.

use mcpguard_fuzzcheck::{oauth, oauth_seeds, oauth_session};

#[test]
fn the_code_flow_seed_reaches_tokens_refresh_and_revocation() {
    let seeds = oauth_seeds();
    // Metadata, registration, the consent page, its approval (a redirect
    // with the code), the code exchange, two refreshes (the second with
    // the rotated token) and the revocation.
    assert_eq!(
        oauth_session(&seeds[0]),
        [200, 201, 200, 302, 200, 200, 200, 200]
    );
}

#[test]
fn the_confidential_client_seed_is_refused_where_it_must_be() {
    let seeds = oauth_seeds();
    // Registration, the client credentials grant, a redirect URI never
    // registered (an error page, not a redirect), `response_type=token`
    // (an error redirect to the registered URI), the consent page, its
    // approval, the code exchange, and the same code again (refused).
    assert_eq!(
        oauth_session(&seeds[1]),
        [201, 200, 400, 302, 200, 302, 200, 400]
    );
}

#[test]
fn input_that_is_not_a_session_sends_nothing_and_passes() {
    for data in [&b""[..], b"\xff\xfe", b"GET /nowhere", b"---\n---\n---"] {
        oauth(data);
        assert!(oauth_session(data).is_empty());
    }
}
