//! The `listing` check: its principal, its reference, and its seeds and
//! edge cases run through it (the corpus replay runs the committed ones).

use mcpguard_fuzzcheck::{expected_listing, fixture_seeds, listing, listing_principal_tags};
use serde_json::{Value, json};

fn seeds() -> Vec<Vec<u8>> {
    fixture_seeds()
        .into_iter()
        .filter(|(target, _)| *target == "listing")
        .map(|(_, data)| data)
        .collect()
}

#[test]
fn the_listing_principal_has_files_but_not_files_write() {
    let tags = listing_principal_tags();
    assert!(tags.iter().any(|t| t == "files"), "{tags:?}");
    assert!(!tags.iter().any(|t| t == "files-write"), "{tags:?}");
}

#[test]
fn the_reference_cuts_write_file_only_from_the_response_with_the_listing_id() {
    let batch = json!([
        {"jsonrpc": "2.0", "id": 2, "result": {"tools": [{"name": "write_file"}]}},
        {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "write_file"}, {"name": "read_file"}], "nextCursor": "2"}},
        {"jsonrpc": "2.0", "id": 1, "result": [{"name": "write_file"}]}
    ]);
    assert_eq!(
        expected_listing(&batch),
        json!([
            {"jsonrpc": "2.0", "id": 2, "result": {"tools": [{"name": "write_file"}]}},
            {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "read_file"}], "nextCursor": "2"}},
            {"jsonrpc": "2.0", "id": 1, "result": [{"name": "write_file"}]}
        ])
    );
}

#[test]
fn every_listing_seed_passes_the_check_and_some_lose_an_item() {
    let seeds = seeds();
    assert!(seeds.len() >= 5);
    let mut cut = 0;
    for data in &seeds {
        listing(data);
        let body: Value = serde_json::from_slice(data).expect("a listing seed is JSON");
        if expected_listing(&body) != body {
            cut += 1;
        }
    }
    // The filter's second pass (cutting items out of the text) only runs
    // when an item is refused: most seeds must take it.
    assert!(
        cut >= seeds.len() / 2,
        "{cut} of {} seeds lose an item",
        seeds.len()
    );
}

#[test]
fn bodies_that_are_not_json_pass_the_check_as_refusals() {
    for data in [
        &b"{"[..],
        b" ",
        b"\xff",
        br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"write_file"}]}} x"#,
        br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"write_file"}]}"#,
        br#"{"id":1,"result":{"tools":[{"name":"write_file"},]}}"#,
    ] {
        listing(data);
    }
}

#[test]
fn the_empty_body_passes_the_check_as_it_is() {
    listing(b"");
}

#[test]
fn json_that_no_value_holds_passes_the_check_where_the_filter_does_not_read_it() {
    // JSON by the grammar that serde_json's `Value` refuses: the core passes
    // it where the filter does not read it and refuses it where it does
    // (see fuzz/README.md, findings); the check takes either.
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
    for data in [
        &br#"{"a":"\ud800"}"#[..],
        br#"{"a":1e400}"#,
        br#"{"id":1,"result":{"tools":[{"name":"write_file","d":"\udc00"},{"name":"read_file"}]}}"#,
        br#"{"id":1,"result":{"tools":[{"name":"write_file"},{"name":"\ud800"}]}}"#,
        br#"{"id":1,"result":{"tools":[{"name":"write_file"},{"name":1e400}]}}"#,
        br#"["\udc00"]"#,
        deep.as_bytes(),
    ] {
        listing(data);
    }
}

#[test]
fn a_listing_that_repeats_a_key_the_filter_reads_passes_the_check_as_a_refusal() {
    // The reference would keep the last `id` (1) and the last `name` of
    // each item; the filter refuses instead of guessing which one a client
    // reads, and the check takes that.
    let data = br#"{"id":2,"result":{"tools":[{"name":"read_file","name":"write_file"}],"tools":[{"name":"write_file","name":"read_file"}]},"id":1}"#;
    assert!(mcpguard_fuzzcheck::repeats_a_key(data));
    listing(data);
    // A repeat the filter does not read changes nothing.
    let elsewhere =
        br#"{"id":1,"result":{"tools":[{"name":"write_file","x":1,"x":2},{"name":"read_file"}]}}"#;
    assert!(mcpguard_fuzzcheck::repeats_a_key(elsewhere));
    listing(elsewhere);
    assert!(!mcpguard_fuzzcheck::repeats_a_key(
        br#"{"a":{"b":1},"b":{"a":1}}"#
    ));
    assert!(mcpguard_fuzzcheck::repeats_a_key(
        br#"[{"t":1,"\u0074":2}]"#
    ));
}

#[test]
fn a_listing_with_serde_json_s_private_token_as_a_key_is_refused_or_passed_as_json() {
    use mcpguard_fuzzcheck::uses_serde_json_token;
    let wrapped = json!({"jsonrpc": "2.0", "id": 1,
        "result": {"$serde_json::private::RawValue": r#"{"tools":[{"name":"write_file"}]}"#}})
    .to_string();
    assert!(uses_serde_json_token(wrapped.as_bytes()));
    // The reference reads the wrapped listing; the filter refuses it.
    let reference: Value = serde_json::from_str(&wrapped).unwrap();
    assert_eq!(reference["result"]["tools"][0]["name"], "write_file");
    listing(wrapped.as_bytes());
    // Where the filter skips (an item's schema), it passes as it is.
    let skipped = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"read_file","inputSchema":{"$serde_json::private::RawValue":""}}]}}"#;
    assert!(uses_serde_json_token(skipped.as_bytes()));
    listing(skipped.as_bytes());
    assert!(!uses_serde_json_token(br#"{"serde_json":1}"#));
}
