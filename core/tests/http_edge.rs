//! The HTTP-level entry point, as a host's middleware drives it: what a raw
//! request means (headers, query, body, batches), the responses the core
//! builds, and listing responses filtered by what the principal may call.

use mcpguard::guard::{Guard, HttpAction, HttpBody, HttpDecision, HttpOptions, HttpRequest};
use mcpguard::{ManualClock, Reason};
use mcpguard_testkit as kit;
use serde_json::{Value, json};

const T: u64 = 1_767_225_600;
const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";

fn guard() -> (Guard, ManualClock) {
    let config = json!({
        "resource": RES,
        "auth": {"issuers": [{"issuer": ISS, "jwks": kit::jwks(&[("rsa", Some("k1"), Some("RS256"))])}]},
        "servers": {
            "filesystem": {"tags": ["files"], "tools": {"write_file": {"tags": ["files-write"]}}},
            "web": {"tags": ["web"]},
            "web_1mcp_admin": {"tags": ["admin"]}
        },
        "rate_limit": {"limit": 5, "window_seconds": 60,
            "rules": [{"name": "fs-write", "server": "filesystem", "tool": "write_file", "limit": 2, "window_seconds": 60}]}
    });
    let clock = ManualClock::new(T);
    let g = Guard::from_json_with_clock(&config.to_string(), clock.clone()).unwrap();
    (g, clock)
}

fn token(scope: &str) -> String {
    let claims = json!({"iss": ISS, "sub": "alice", "client_id": "app", "aud": RES,
        "exp": T + 3600, "scope": scope});
    kit::sign(
        "RS256",
        "rsa",
        &json!({"alg": "RS256", "kid": "k1"}).to_string(),
        &claims.to_string(),
    )
}

fn post<'a>(headers: &'a [(&'a [u8], &'a [u8])], body: &'a str) -> HttpRequest<'a> {
    HttpRequest {
        headers,
        body: HttpBody::Bytes(body.as_bytes()),
        peer: Some("203.0.113.7"),
        ..HttpRequest::new("POST", "/mcp")
    }
}

fn status(d: &HttpDecision) -> u16 {
    match &d.action {
        HttpAction::Respond(r) => r.status,
        HttpAction::Forward { .. } => 200,
        HttpAction::Pass => 0,
    }
}

fn body_json(d: &HttpDecision) -> Value {
    match &d.action {
        HttpAction::Respond(r) => serde_json::from_slice(&r.body).unwrap(),
        other => panic!("not a response: {other:?}"),
    }
}

fn call(tool: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}}).to_string()
}

fn remaining(g: &Guard, auth: &str) -> u64 {
    // A peek at the default limit through a cheap request.
    let headers: [(&[u8], &[u8]); 1] = [(b"authorization", auth.as_bytes())];
    let d = g.authorize_http(
        &post(
            &headers,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        ),
        &HttpOptions::new(Some("filesystem")),
    );
    d.decision.unwrap().rate_limit.unwrap().remaining
}

#[test]
fn a_tool_call_whose_body_cannot_be_read_is_refused_not_let_through() {
    let (g, _) = guard();
    let auth = format!("Bearer {}", token("tag:files"));
    let headers: [(&[u8], &[u8]); 1] = [(b"Authorization", auth.as_bytes())];
    let opts = HttpOptions::new(Some("filesystem"));
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"write_file"}},"_meta":{{"x":{}1{}}}}}"#,
        "[".repeat(150),
        "]".repeat(150)
    );
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"write_file"},"_meta":{"x":NaN}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"write_file"},"_meta":{"x":1e999}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"write_file"},"_meta":{"x":-Infinity}}"#,
        deep.as_str(),
    ] {
        let d = g.authorize_http(&post(&headers, body), &opts);
        assert_eq!(status(&d), 400, "{body}");
        assert_eq!(body_json(&d)["error"], "invalid_request");
    }
    // The same call, readable, is refused for the tool: the body was read.
    let d = g.authorize_http(&post(&headers, &call("write_file")), &opts);
    assert_eq!(status(&d), 403);
    assert!(
        body_json(&d)["error_description"]
            .as_str()
            .unwrap()
            .contains("write_file")
    );
}

#[test]
fn a_body_over_the_limit_is_a_400_and_an_unread_body_a_500() {
    let (g, _) = guard();
    let auth = format!("Bearer {}", token("tag:files"));
    let headers: [(&[u8], &[u8]); 1] = [(b"authorization", auth.as_bytes())];
    let opts = HttpOptions {
        max_body_bytes: 10,
        ..HttpOptions::new(Some("filesystem"))
    };
    assert_eq!(
        status(&g.authorize_http(&post(&headers, &call("read")), &opts)),
        400
    );
    let too_large = HttpRequest {
        body: HttpBody::TooLarge,
        ..post(&headers, "")
    };
    assert_eq!(status(&g.authorize_http(&too_large, &opts)), 400);
    let unread = HttpRequest {
        body: HttpBody::Unavailable,
        ..post(&headers, "")
    };
    let d = g.authorize_http(&unread, &opts);
    assert_eq!(status(&d), 500);
    assert!(
        body_json(&d)["error_description"]
            .as_str()
            .unwrap()
            .contains("express.json()")
    );
}

#[test]
fn a_batch_is_one_decision_charged_once_and_all_or_nothing() {
    let (g, _) = guard();
    let auth = format!("Bearer {}", token("tag:files tag:files-write"));
    let headers: [(&[u8], &[u8]); 1] = [(b"authorization", auth.as_bytes())];
    let opts = HttpOptions::new(Some("filesystem"));
    let batch = |tools: &[&str]| {
        Value::Array(
            tools
                .iter()
                .enumerate()
                .map(|(i, t)| json!({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": t}}))
                .collect(),
        )
        .to_string()
    };
    let before = remaining(&g, &auth);
    // Three calls of write_file: the fs-write rule admits two: the batch is
    // refused as a whole and charges nothing anywhere.
    let d = g.authorize_http(
        &post(
            &headers,
            &batch(&["read", "write_file", "write_file", "write_file"]),
        ),
        &opts,
    );
    assert_eq!(status(&d), 429);
    assert_eq!(
        remaining(&g, &auth),
        before - 1,
        "only the peek was charged"
    );
    // Two calls are admitted together, charged once for the pair.
    let d = g.authorize_http(&post(&headers, &batch(&["write_file", "read"])), &opts);
    assert_eq!(status(&d), 200);
    assert_eq!(remaining(&g, &auth), before - 1 - 2 - 1);
}

#[test]
fn a_batch_refused_at_one_tool_charges_none_of_the_others() {
    let (g, _) = guard();
    let auth = format!("Bearer {}", token("tag:files"));
    let headers: [(&[u8], &[u8]); 1] = [(b"authorization", auth.as_bytes())];
    let opts = HttpOptions::new(Some("filesystem"));
    let before = remaining(&g, &auth);
    let body = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read"}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "write_file"}}
    ])
    .to_string();
    let d = g.authorize_http(&post(&headers, &body), &opts);
    assert_eq!(status(&d), 403);
    assert_eq!(d.decision.unwrap().reason, Some(Reason::InsufficientScope));
    assert_eq!(remaining(&g, &auth), before - 1);
}

#[test]
fn two_authorization_headers_are_an_invalid_request() {
    let (g, _) = guard();
    let auth = format!("Bearer {}", token("tag:files"));
    let headers: [(&[u8], &[u8]); 2] = [
        (b"Authorization", auth.as_bytes()),
        (b"authorization", auth.as_bytes()),
    ];
    let d = g.authorize_http(
        &post(&headers, &call("read")),
        &HttpOptions::new(Some("filesystem")),
    );
    assert_eq!(status(&d), 400);
    assert!(
        body_json(&d)["error_description"]
            .as_str()
            .unwrap()
            .contains("more than one")
    );
}

#[test]
fn the_bearer_token_is_read_by_the_rules_the_decision_used() {
    let (g, _) = guard();
    let auth = format!("bearer   {}", token("tag:files"));
    let one: [(&[u8], &[u8]); 2] = [(b"Host", b"x"), (b"AUTHORIZATION", auth.as_bytes())];
    let body = call("read");
    let req = post(&one, &body);
    assert_eq!(req.bearer_token(), Some(&auth["bearer   ".len()..]));
    let d = g.authorize_http(&req, &HttpOptions::new(Some("filesystem")));
    assert!(matches!(d.action, HttpAction::Forward { .. }));
    // Whatever the decision refuses as unreadable names no token either.
    let two: [(&[u8], &[u8]); 2] = [
        (b"Authorization", auth.as_bytes()),
        (b"authorization", auth.as_bytes()),
    ];
    assert_eq!(post(&two, "").bearer_token(), None);
    let unreadable: [(&[u8], &[u8]); 1] = [(b"authorization", b"Bearer abc\xff")];
    assert_eq!(post(&unreadable, "").bearer_token(), None);
    let basic: [(&[u8], &[u8]); 1] = [(b"authorization", b"Basic YTpi")];
    assert_eq!(post(&basic, "").bearer_token(), None);
    assert_eq!(post(&[], "").bearer_token(), None);
}

#[test]
fn a_header_that_is_not_visible_ascii_is_a_malformed_token() {
    let (g, _) = guard();
    let headers: [(&[u8], &[u8]); 1] = [(b"authorization", b"Bearer abc\xff")];
    let d = g.authorize_http(
        &post(&headers, &call("read")),
        &HttpOptions::new(Some("filesystem")),
    );
    assert_eq!(status(&d), 401);
    assert_eq!(d.decision.unwrap().reason, Some(Reason::Malformed));
}

#[test]
fn the_metadata_route_ignores_the_query_and_needs_no_token() {
    let (g, _) = guard();
    let opts = HttpOptions::new(Some("filesystem"));
    let req = HttpRequest {
        query: "x=1",
        ..HttpRequest::new("GET", "/.well-known/oauth-protected-resource/mcp")
    };
    let d = g.authorize_http(&req, &opts);
    assert_eq!(status(&d), 200);
    assert_eq!(body_json(&d)["resource"], RES);
    let d = g.authorize_http(
        &HttpRequest::new("POST", "/.well-known/oauth-protected-resource/mcp"),
        &opts,
    );
    assert_eq!(status(&d), 405);
}

#[test]
fn query_filters_decode_and_two_kinds_are_refused() {
    let (g, _) = guard();
    let auth = format!("Bearer {}", token("tag:files tag:web"));
    let headers: [(&[u8], &[u8]); 1] = [(b"authorization", auth.as_bytes())];
    let opts = HttpOptions::new(None);
    let get = |query: &'static str| HttpRequest {
        query,
        headers: &headers,
        ..HttpRequest::new("GET", "/mcp")
    };
    let d = g.authorize_http(&get("tags=web%2Cfiles"), &opts);
    assert_eq!(status(&d), 200);
    assert_eq!(d.decision.unwrap().visible_servers.len(), 2);
    assert_eq!(
        status(&g.authorize_http(&get("tags=web&preset=x"), &opts)),
        400
    );
    assert_eq!(
        status(&g.authorize_http(&get("access_token=abc"), &opts)),
        400
    );
    assert_eq!(status(&g.authorize_http(&get("tags=%FF"), &opts)), 400);
}

#[test]
fn a_cors_preflight_passes_unguarded() {
    let (g, _) = guard();
    let headers: [(&[u8], &[u8]); 2] = [
        (b"Origin", b"https://app.example"),
        (b"Access-Control-Request-Method", b"POST"),
    ];
    let req = HttpRequest {
        headers: &headers,
        ..HttpRequest::new("OPTIONS", "/mcp")
    };
    let d = g.authorize_http(&req, &HttpOptions::new(Some("filesystem")));
    assert_eq!(d.action, HttpAction::Pass);
}

/// The decision for a `tools/list` (id 7) on `filesystem` by a token
/// holding only `tag:files` (so `write_file` is refused).
/// The event stream `stream` as the filter passes it, as text.
fn filtered_stream(d: &HttpDecision, stream: &str) -> String {
    let out = d
        .filter_response(Some("text/event-stream"), stream.as_bytes())
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// Checks that the JSON listing `body` is refused with a 502 whose body
/// says `why`.
fn refused_as_502(d: &HttpDecision, body: &str, why: &str) {
    let err = d
        .filter_response(Some("application/json"), body.as_bytes())
        .unwrap_err();
    assert_eq!(err.status, 502, "{body}");
    assert!(String::from_utf8_lossy(&err.body).contains(why), "{body}");
}

fn files_listing() -> HttpDecision {
    let (g, _) = guard();
    let auth = format!("Bearer {}", token("tag:files"));
    let headers: [(&[u8], &[u8]); 1] = [(b"authorization", auth.as_bytes())];
    g.authorize_http(
        &post(
            &headers,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#,
        ),
        &HttpOptions::new(Some("filesystem")),
    )
}

fn listing(tools: &[&str]) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "result": {
        "tools": tools.iter().map(|t| json!({"name": t, "inputSchema": {"type": "object"}})).collect::<Vec<_>>(),
        "nextCursor": "c"}})
}

#[test]
fn a_tools_list_response_shows_only_tools_the_principal_may_call() {
    let d = files_listing();
    assert!(d.filters_response());
    let app = listing(&["read", "write_file"]).to_string();
    let out = d
        .filter_response(Some("application/json"), app.as_bytes())
        .unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["result"]["tools"].as_array().unwrap().len(), 1);
    assert_eq!(out["result"]["tools"][0]["name"], "read");
    assert_eq!(out["result"]["nextCursor"], "c");

    // The same as a server-sent event.
    let sse = format!("event: message\ndata: {app}\n\n");
    let text = filtered_stream(&d, &sse);
    assert!(text.starts_with("event: message\ndata: {"), "{text}");
    assert!(!text.contains("write_file"), "{text}");
    assert!(text.ends_with("\n\n"));

    // A response the guard cannot read is never passed through.
    let err = d
        .filter_response(Some("application/json"), b"{not json")
        .unwrap_err();
    assert_eq!(err.status, 502);
    let err = d.filter_response(Some("text/html"), b"<p>").unwrap_err();
    assert_eq!(err.status, 502);
}

#[test]
fn a_filtered_listing_keeps_the_rest_of_the_response_byte_for_byte_and_reads_keys_as_a_client_does()
{
    let (g, _) = guard();
    let auth = format!("Bearer {}", token("tag:files"));
    let headers: [(&[u8], &[u8]); 1] = [(b"authorization", auth.as_bytes())];
    let d = g.authorize_http(
        &post(
            &headers,
            r#"[{"jsonrpc":"2.0","id":"l","method":"tools/list"}]"#,
        ),
        &HttpOptions::new(Some("filesystem")),
    );
    // Pretty-printed, with escapes: only the refused item goes.
    let app = "[{ \"jsonrpc\": \"2.0\", \"id\": \"l\",\n  \"result\": { \"tools\": [\n    {\"name\": \"read\", \"description\": \"caf\\u00e9\"},\n    {\"name\": \"write_file\"}\n  ], \"nextCursor\": null } }]";
    let out = d
        .filter_response(Some("application/json"), app.as_bytes())
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "[{ \"jsonrpc\": \"2.0\", \"id\": \"l\",\n  \"result\": { \"tools\": [\n    {\"name\": \"read\", \"description\": \"caf\\u00e9\"}\n  ], \"nextCursor\": null } }]"
    );
    // A member name or item name written with escapes is read as a client
    // reads it: `\u0074ools` is `tools`, `wr\u0069te_file` is `write_file`.
    let escaped =
        r#"{"id":"l","result":{"\u0074ools":[{"name":"wr\u0069te_file"},{"name":"read"}]}}"#;
    let out = d
        .filter_response(Some("application/json"), escaped.as_bytes())
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"id":"l","result":{"\u0074ools":[{"name":"read"}]}}"#
    );
    // Nothing refused: the response is returned as it came.
    let fine = "{\"id\": \"l\", \"result\": {\"tools\": [ {\"name\": \"read\"} ]}}";
    let out = d
        .filter_response(Some("application/json"), fine.as_bytes())
        .unwrap();
    assert_eq!(out, fine.as_bytes());
    // An event whose data spans lines is rewritten one `data:` line per line.
    let sse = "id: 1\ndata: {\"id\": \"l\",\ndata:  \"result\": {\"tools\": [{\"name\": \"write_file\"}]}}\n\n";
    assert_eq!(
        filtered_stream(&d, sse),
        "id: 1\ndata: {\"id\": \"l\",\ndata:  \"result\": {\"tools\": []}}\n\n"
    );
}

#[test]
fn a_call_that_is_no_listing_leaves_the_response_alone() {
    let (g, _) = guard();
    let auth = format!("Bearer {}", token("tag:files"));
    let headers: [(&[u8], &[u8]); 1] = [(b"authorization", auth.as_bytes())];
    let d = g.authorize_http(
        &post(&headers, &call("read")),
        &HttpOptions::new(Some("filesystem")),
    );
    assert!(!d.filters_response());
    assert!(matches!(d.action, HttpAction::Forward { .. }));
}

#[test]
fn options_from_json_refuse_unknown_keys_and_a_body_without_server() {
    assert!(HttpOptions::from_json(&json!({"server": "x", "nope": 1})).is_err());
    // Bodies may be read without a fixed server: a call then needs the
    // host's per-request server.
    let no_server = HttpOptions::from_json(&json!({"read_body": true})).unwrap();
    let (g, _) = guard();
    let auth = format!("Bearer {}", token("tag:files"));
    let headers: [(&[u8], &[u8]); 1] = [(b"authorization", auth.as_bytes())];
    let read = call("read");
    let d = g.authorize_http(&post(&headers, &read), &no_server);
    assert_eq!(status(&d), 400);
    let routed = HttpRequest {
        server: Some("filesystem"),
        ..post(&headers, &read)
    };
    assert_eq!(status(&g.authorize_http(&routed, &no_server)), 200);
    // A listing no server owns shows nothing.
    let d = g.authorize_http(
        &post(
            &headers,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#,
        ),
        &no_server,
    );
    let out = d
        .filter_response(
            Some("application/json"),
            listing(&["read"]).to_string().as_bytes(),
        )
        .unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["result"]["tools"], json!([]));
    let o = HttpOptions::from_json(&json!({"server": "x", "listing_items": {"one_mcp": true}}))
        .unwrap();
    assert!(o.read_body);
    assert!(HttpOptions::from_json(&json!({"server": "x", "cost": 0})).is_err());
}

#[test]
fn a_listing_that_repeats_a_member_the_filter_reads_is_refused_and_depth_elsewhere_passes() {
    let d = files_listing();
    // Parsers disagree on which of two equal keys counts (most keep the
    // last, some the first): a response that repeats one the filter reads
    // is refused, never filtered by a guess.
    for repeated in [
        r#"{"id":7,"result":{"tools":[{"name":"write_file","name":"read"}]}}"#,
        r#"{"id":7,"result":{"tools":[{"name":"read"}]},"result":{"tools":[]}}"#,
        r#"{"id":7,"id":8,"result":{"tools":[{"name":"write_file"}]}}"#,
        r#"{"id":7,"result":{"tools":[{"name":"write_file"}],"\u0074ools":[]}}"#,
    ] {
        refused_as_502(&d, repeated, "twice");
    }
    // Repeats the filter does not read, and nesting deeper than a parser
    // would build, pass as they are.
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    let kept = format!(
        r#"{{"id":7,"result":{{"tools":[{{"name":"read","x":{deep},"x":1}}]}},"jsonrpc":"2.0"}}"#
    );
    let out = d
        .filter_response(Some("application/json"), kept.as_bytes())
        .unwrap();
    assert_eq!(out, kept.as_bytes());
    let cut = format!(
        r#"{{"id":7,"result":{{"tools":[{{"name":"write_file","s":{deep}}},{{"name":"read"}}]}}}}"#
    );
    let out = d
        .filter_response(Some("application/json"), cut.as_bytes())
        .unwrap();
    assert_eq!(out, br#"{"id":7,"result":{"tools":[{"name":"read"}]}}"#);
}

#[test]
fn a_listing_that_serde_json_would_read_as_what_it_wraps_is_refused() {
    let d = files_listing();
    let listing = r#"{"tools":[{"name":"write_file"},{"name":"read"}]}"#;
    // What is at stake: serde_json's own `Value`, with the `raw_value`
    // feature mcpguard turns on for a Rust host's whole build, reads an
    // object whose first key is its private token as the text it wraps.
    let wrapped = serde_json::json!({"id": 7,
        "result": {"$serde_json::private::RawValue": listing}})
    .to_string();
    let client: serde_json::Value = serde_json::from_str(&wrapped).unwrap();
    assert_eq!(client["result"]["tools"][0]["name"], "write_file");
    // Wherever the filter reads keys: the response, the result, a list
    // written as an object, an item; and however the key is spelled.
    let token = "$serde_json::private::RawValue";
    let text = serde_json::to_string(listing).unwrap();
    let item = serde_json::to_string(r#"{"name":"write_file"}"#).unwrap();
    for bad in [
        wrapped.clone(),
        format!(
            r#"{{"{token}":{}}}"#,
            serde_json::to_string(r#"{"id":7,"result":{"tools":[]}}"#).unwrap()
        ),
        format!(
            r#"{{"id":7,"result":{{"tools":{{"{token}":{}}}}}}}"#,
            serde_json::to_string("[]").unwrap()
        ),
        format!(r#"{{"id":7,"result":{{"tools":[{{"{token}":{item}}}]}}}}"#),
        format!(r#"{{"id":7,"result":{{"\u0024serde_json::private::RawValue":{text}}}}}"#),
        r#"{"id":7,"result":{"$serde_json::private::Number":"1"}}"#.to_string(),
    ] {
        refused_as_502(&d, &bad, "private token");
    }
}

#[test]
fn an_event_whose_data_cannot_be_read_is_refused_and_an_empty_one_passes() {
    let d = files_listing();
    // Data a JavaScript client reads (a lone surrogate, a number past f64)
    // or cut short: the filter cannot decide it, so it does not pass it.
    for data in [
        r#"{"id":7,"result":{"tools":[{"name":"write_file"},{"name":"\ud800"}]}}"#,
        r#"{"id":7,"result":{"tools":[{"name":"write_file"},{"name":1e400}]}}"#,
        r#"{"id":7,"result":{"tools":[{"name":"write_file"}]}} trailing"#,
        r#"{"id":7,"result":{"tools":[{"name":"write_file"}"#,
    ] {
        let stream = format!("event: message\ndata: {data}\n\n");
        let err = d
            .filter_response(Some("text/event-stream"), stream.as_bytes())
            .unwrap_err();
        assert_eq!(err.status, 502, "{data}");
    }
    // The SDKs' priming event (an id and empty data) holds no message.
    let priming = "id: 1\ndata: \n\nevent: message\ndata: {\"id\":7,\"result\":{\"tools\":[{\"name\":\"write_file\"}]}}\n\n";
    assert_eq!(
        filtered_stream(&d, priming),
        "id: 1\ndata: \n\nevent: message\ndata: {\"id\":7,\"result\":{\"tools\":[]}}\n\n"
    );
}

#[test]
fn an_item_mapped_by_a_field_is_read_whole_and_refused_when_it_repeats_a_key() {
    let (g, _) = guard();
    let auth = format!("Bearer {}", token("tag:files"));
    let headers: [(&[u8], &[u8]); 1] = [(b"authorization", auth.as_bytes())];
    let options = HttpOptions::from_json(
        &json!({"server": "filesystem", "listing_items": {"field": "/_meta/server"}}),
    )
    .unwrap();
    let d = g.authorize_http(
        &post(
            &headers,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#,
        ),
        &options,
    );
    assert!(d.filters_response());
    let app = r#"{"id":7,"result":{"tools":[{"name":"read","_meta":{"server":"filesystem"}},{"name":"write_file","_meta":{"server":"filesystem"}},{"name":"q","_meta":{"server":"database"}}]}}"#;
    let out = d
        .filter_response(Some("application/json"), app.as_bytes())
        .unwrap();
    assert_eq!(
        out,
        br#"{"id":7,"result":{"tools":[{"name":"read","_meta":{"server":"filesystem"}}]}}"#
    );
    let twice = r#"{"id":7,"result":{"tools":[{"name":"read","_meta":{"server":"database","server":"filesystem"}}]}}"#;
    let err = d
        .filter_response(Some("application/json"), twice.as_bytes())
        .unwrap_err();
    assert_eq!(err.status, 502);
}

#[test]
fn a_filtered_body_drops_the_headers_that_describe_the_original_in_any_case() {
    use mcpguard::guard::{FILTERED_BODY_DROPS, dropped_when_filtered};
    for name in [
        "Content-Length",
        "TRANSFER-ENCODING",
        "ETag",
        "Content-MD5",
        "Digest",
        "content-digest",
        "Repr-Digest",
    ] {
        assert!(dropped_when_filtered(name), "{name}");
    }
    for name in [
        "Content-Type",
        "Cache-Control",
        "Mcp-Session-Id",
        "Set-Cookie",
        "X-Etag-Like",
    ] {
        assert!(!dropped_when_filtered(name), "{name}");
    }
    assert!(
        FILTERED_BODY_DROPS
            .iter()
            .all(|n| *n == n.to_ascii_lowercase())
    );
}

#[test]
fn a_listing_cut_in_one_pass_is_cut_exactly_as_a_second_read_would_cut_it() {
    let d = files_listing();
    let bodies = [
        // Compact, refused first, in the middle, last, and all of them.
        r#"{"id":7,"result":{"tools":[{"name":"write_file"},{"name":"a"},{"name":"b"}]}}"#,
        r#"{"id":7,"result":{"tools":[{"name":"a"},{"name":"write_file"},{"name":"b"}]}}"#,
        r#"{"id":7,"result":{"tools":[{"name":"a"},{"name":"b"},{"name":"write_file"}]}}"#,
        r#"{"id":7,"result":{"tools":[{"name":"write_file"},{"name":"write_file"}]}}"#,
        // Whitespace everywhere JSON allows it, and a name that is not the
        // first key.
        "{ \"id\" : 7 , \"result\" : { \"tools\" : [\n\t{ \"description\" : \"}]\" , \"name\" : \"a\" } ,\r\n { \"name\" : \"write_file\" }\n ] } }",
        // A first key written with an escape: that list is read twice.
        r#"{"id":7,"result":{"tools":[{"n\u0061me":"write_file"},{"name":"a"}]}}"#,
        // An item that is not an object, and an empty one.
        r#"{"id":7,"result":{"tools":[1,{},{"name":"write_file"},{"name":"a"}]}}"#,
        // A batch: one response placed, one read twice, one not a listing.
        r#"[{"id":7,"result":{"tools":[{"name":"write_file"},{"name":"a"}]}},{"id":7,"result":{"tools":[{"\u006eame":"a"},{"name":"write_file"}]}},{"id":8,"result":{"tools":[{"name":"write_file"}]}}]"#,
    ];
    for body in bodies {
        let once = d.filter_response(Some("application/json"), body.as_bytes());
        let twice = mcpguard::fuzzing::filter_response_read_twice(
            &d,
            Some("application/json"),
            body.as_bytes(),
        );
        assert_eq!(once, twice, "{body}");
        // Every `write_file` goes but the one answering another request.
        let out = String::from_utf8(once.unwrap()).unwrap();
        let left = usize::from(body.contains(r#""id":8"#));
        assert_eq!(
            out.matches("\"write_file\"").count(),
            left,
            "{body} -> {out}"
        );
        let event = format!("event: message\ndata: {body}\n\n");
        assert_eq!(
            d.filter_response(Some("text/event-stream"), event.as_bytes()),
            mcpguard::fuzzing::filter_response_read_twice(
                &d,
                Some("text/event-stream"),
                event.as_bytes()
            ),
            "{event}"
        );
    }
}
