//! Writes the HTTP-edge corpus (conformance/http_edge.json): several hundred
//! raw HTTP requests — odd and repeated headers, query strings, JSON-RPC
//! single and batch bodies, unreadable bodies, every refusal kind, listing
//! responses as JSON and as server-sent events — that every surface (the
//! Rust entry point, the ASGI and Express middlewares, the C API) runs and
//! must answer byte for byte alike.
//!
//! This writes the requests and what the application behind the guard
//! answers; the expected responses are filled in from the Rust core by
//! `MCPGUARD_BLESS=1 cargo test -p mcpguard --test conformance`, and every
//! surface is then held to them.
//!
//! Run `cargo run -p mcpguard-testkit --bin generate-http-vectors`. A fixed
//! seed makes the corpus the same on every run.

use std::path::PathBuf;

use mcpguard_testkit as kit;
use serde_json::{Value, json};

const T: i64 = 1_767_225_600;
const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";
const CASES: usize = 560;

fn config() -> Value {
    json!({
        "resource": RES,
        "auth": {
            "issuers": [{"issuer": ISS, "jwks": kit::jwks(&[("rsa", Some("k1"), Some("RS256"))])}],
            "role_claim": "roles",
            "leeway_seconds": 30
        },
        "servers": {
            "filesystem": {"tags": ["files", "sensitive"], "tools": {"write_file": {"tags": ["files-write"]}}},
            "database": {"tags": ["database", "sensitive"]},
            "web-search": {"tags": ["web", "safe"]},
            "memory": {"tags": ["memory", "safe"]}
        },
        "presets": {"data": {"tag_query": {"$or": [{"tag": "database"}, {"tag": "web"}]}}},
        "roles": {
            "developer": {"scopes": "tag:files tag:database tag:web tag:memory tag:files-write"},
            "analyst": {"scopes": "tag:database tag:web", "rate_limit": {"limit": 14, "window_seconds": 60}},
            "demo": {"scopes": "tag:web"}
        },
        "rate_limit": {"limit": 10, "window_seconds": 60, "headers": "draft-7",
            "rules": [{"name": "fs-write", "server": "filesystem", "tool": "write_file",
                       "limit": 3, "window_seconds": 60}]}
    })
}

fn token(claims: Value) -> String {
    let mut c =
        json!({"iss": ISS, "sub": "alice", "client_id": "app", "aud": RES, "exp": T + 3600});
    kit::merge(&mut c, claims);
    kit::sign(
        "RS256",
        "rsa",
        &json!({"alg": "RS256", "kid": "k1"}).to_string(),
        &c.to_string(),
    )
}

/// A small deterministic generator (xorshift64*): the corpus must not
/// change between runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
    /// Mostly (7 in 10) one of the first `common` items, else any: the
    /// corpus should hold many allowed requests as well as every refusal.
    fn pick_mostly<'a, T>(&mut self, items: &'a [T], common: usize) -> &'a T {
        if self.next() % 10 < 7 {
            self.pick(&items[..common])
        } else {
            self.pick(items)
        }
    }
}

fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn listing_result(id: &Value) -> Value {
    let tools: Vec<Value> = ["read_file", "write_file", "list_directory", "search_files"]
        .iter()
        .map(|t| json!({"name": t, "description": format!("{t} on the files"), "inputSchema": {"type": "object"}}))
        .collect();
    json!({"jsonrpc": "2.0", "id": id, "result": {"tools": tools, "prompts": [{"name": "summarise"}], "nextCursor": "page-2"}})
}

fn main() {
    let mut rng = Rng(0x6d63_7067_7561_7264);
    let developer = token(json!({"sub": "dev", "client_id": "dev-app", "roles": ["developer"]}));
    let analyst = token(json!({"sub": "ana", "client_id": "analytics", "roles": ["analyst"]}));
    let demo = token(json!({"sub": "demo", "client_id": "demo-app", "roles": ["demo"]}));
    let files = token(json!({"sub": "bob", "client_id": "files-app", "scope": "tag:files"}));
    let in_leeway =
        token(json!({"sub": "late", "client_id": "late-app", "scope": "tag:files", "exp": T - 10}));
    let expired =
        token(json!({"sub": "old", "client_id": "old-app", "scope": "tag:files", "exp": T - 100}));
    let wrong_aud = token(json!({"aud": "https://other.example.com/mcp", "scope": "tag:files"}));
    let fragment_aud = token(json!({"aud": format!("{RES}#frag"), "scope": "tag:files"}));
    let required_scope_less = token(json!({"client_id": "none", "scope": ""}));

    let bearer = |t: &str| format!("Bearer {t}");
    let auth_headers: Vec<(&str, Vec<(String, String)>)> = vec![
        (
            "developer",
            vec![("Authorization".into(), bearer(&developer))],
        ),
        ("analyst", vec![("authorization".into(), bearer(&analyst))]),
        (
            "demo",
            vec![("AUTHORIZATION".into(), format!("bearer   {demo}"))],
        ),
        ("files", vec![("Authorization".into(), bearer(&files))]),
        (
            "within leeway",
            vec![("Authorization".into(), bearer(&in_leeway))],
        ),
        ("expired", vec![("Authorization".into(), bearer(&expired))]),
        (
            "wrong audience",
            vec![("Authorization".into(), bearer(&wrong_aud))],
        ),
        (
            "fragment audience",
            vec![("Authorization".into(), bearer(&fragment_aud))],
        ),
        (
            "no tags",
            vec![("Authorization".into(), bearer(&required_scope_less))],
        ),
        ("no token", vec![]),
        ("empty header", vec![("Authorization".into(), "".into())]),
        (
            "basic",
            vec![("Authorization".into(), "Basic dXNlcjpwYXNz".into())],
        ),
        (
            "bare bearer",
            vec![("Authorization".into(), "Bearer".into())],
        ),
        (
            "two tokens in one",
            vec![(
                "Authorization".into(),
                format!("Bearer {files}, Bearer {developer}"),
            )],
        ),
        (
            "two headers",
            vec![
                ("Authorization".into(), bearer(&files)),
                ("Authorization".into(), bearer(&developer)),
            ],
        ),
        (
            "garbage token",
            vec![("Authorization".into(), "Bearer not-a-jwt".into())],
        ),
        (
            "tampered",
            vec![(
                "Authorization".into(),
                bearer(&format!("{}x", &files[..files.len() - 1])),
            )],
        ),
        (
            "obs-text",
            vec![("Authorization".into(), "Bearer abc\u{e9}".into())],
        ),
        (
            "tab after scheme",
            vec![("Authorization".into(), format!("Bearer\t{files}"))],
        ),
    ];
    let extra_headers: Vec<Vec<(String, String)>> = vec![
        vec![],
        vec![
            ("Content-Type".into(), "application/json".into()),
            (
                "Accept".into(),
                "application/json, text/event-stream".into(),
            ),
        ],
        vec![("X-Forwarded-For".into(), "198.51.100.1".into())],
        vec![
            ("MCP-Protocol-Version".into(), "2025-06-18".into()),
            ("Mcp-Session-Id".into(), "s-1".into()),
        ],
        vec![
            ("X-Custom".into(), "a".into()),
            ("x-custom".into(), "b".into()),
        ],
    ];
    let queries = [
        "",
        "",
        "",
        "tags=web",
        "tags=files%2Cweb",
        "tag-filter=web+and+safe",
        "tag-filter=web%20or%20database",
        "preset=data",
        "preset=nope",
        "tags=web&preset=data",
        "tags=web&tags=files",
        "access_token=abc",
        "tags=%FF",
        "session=1&tags=files",
        "tags=",
        "tag-filter=web+api",
        "tags=internal",
    ];
    let bodies: Vec<(&str, Option<String>, bool)> = vec![
        ("call read_file", Some(rpc(1, "tools/call", json!({"name": "read_file", "arguments": {"path": "/a"}})).to_string()), false),
        ("call write_file", Some(rpc(2, "tools/call", json!({"name": "write_file", "arguments": {"path": "/a"}})).to_string()), false),
        ("tools/list", Some(rpc(3, "tools/list", json!({})).to_string()), true),
        ("prompts/list", Some(rpc(4, "prompts/list", json!({})).to_string()), true),
        ("batch read+write", Some(json!([rpc(5, "tools/call", json!({"name": "read_file"})), rpc(6, "tools/call", json!({"name": "write_file"}))]).to_string()), false),
        ("batch reads", Some(json!([rpc(7, "tools/call", json!({"name": "read_file"})), rpc(8, "tools/call", json!({"name": "list_directory"}))]).to_string()), false),
        ("batch list+call", Some(json!([rpc(9, "tools/list", json!({})), rpc(10, "tools/call", json!({"name": "read_file"}))]).to_string()), true),
        ("notification", Some(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()), false),
        ("initialize", Some(rpc(11, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}})).to_string()), false),
        ("NaN in meta", Some(r#"{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"write_file","_meta":{"x":NaN}}}"#.into()), false),
        ("1e999", Some(r#"{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"write_file"},"x":1e999}"#.into()), false),
        ("-Infinity", Some(r#"{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"read_file"},"x":-Infinity}"#.into()), false),
        ("nested 150", Some(format!(r#"{{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{{"name":"write_file"}},"x":{}0{}}}"#, "[".repeat(150), "]".repeat(150))), false),
        ("duplicate method", Some(r#"{"jsonrpc":"2.0","id":16,"method":"tools/list","method":"tools/call","params":{"name":"write_file"}}"#.into()), false),
        ("not json", Some("{\"jsonrpc\":".into()), false),
        ("empty body", Some(String::new()), false),
        ("empty batch", Some("[]".into()), false),
        ("nameless call", Some(rpc(17, "tools/call", json!({})).to_string()), false),
        ("numeric name", Some(rpc(18, "tools/call", json!({"name": 5})).to_string()), false),
        ("unicode tool", Some(rpc(19, "tools/call", json!({"name": "wr\u{ef}te_file"})).to_string()), false),
        // serde_json's `Value` (with its `raw_value` feature) reads this
        // as the tools/call it wraps; mcpguard refuses it.
        ("serde_json token", Some(json!({"$serde_json::private::RawValue": rpc(20, "tools/call", json!({"name": "write_file"})).to_string()}).to_string()), false),
        ("no body", None, false),
    ];
    let methods = ["POST", "POST", "POST", "POST", "GET", "DELETE"];

    let mut cases = Vec::new();
    let mut clock_moves = 0;
    // Fixed cases first: the metadata route and preflight.
    for (method, query) in [
        ("GET", ""),
        ("HEAD", ""),
        ("GET", "x=1"),
        ("OPTIONS", ""),
        ("POST", ""),
    ] {
        cases.push(json!({
            "name": format!("metadata {method} {query}"),
            "op": "http",
            "request": {"method": method, "path": "/.well-known/oauth-protected-resource/mcp", "query": query,
                        "headers": [], "peer": "203.0.113.1"},
            "app": {"status": 200, "content_type": "application/json", "body": "{}"}
        }));
    }
    cases.push(json!({
        "name": "CORS preflight",
        "op": "http",
        "request": {"method": "OPTIONS", "path": "/mcp", "query": "",
                    "headers": [["Origin", "https://app.example"], ["Access-Control-Request-Method", "POST"]],
                    "peer": "203.0.113.1"},
        "app": {"status": 204, "content_type": "text/plain", "body": ""}
    }));
    while cases.len() < CASES {
        let (auth_name, auth) = rng.pick_mostly(&auth_headers, 5);
        let extra = rng.pick(&extra_headers);
        let query = *rng.pick_mostly(&queries, 5);
        let method = *rng.pick(&methods);
        let (body_name, body, listing) = rng.pick_mostly(&bodies, 9);
        let server = match rng.next() % 10 {
            0 => Some("web-search"),
            1 => Some("unknown-server"),
            _ => None,
        };
        let peer = *rng.pick(&["203.0.113.7", "203.0.113.8", "2001:db8::1"]);
        let mut headers: Vec<Value> = auth.iter().map(|(n, v)| json!([n, v])).collect();
        headers.extend(extra.iter().map(|(n, v)| json!([n, v])));
        let mut request = json!({"method": method, "path": "/mcp", "query": query, "headers": headers, "peer": peer});
        if method == "POST" {
            if let Some(b) = body {
                request["body"] = json!(b);
            }
            if body_name == &"unicode tool" && rng.next().is_multiple_of(2) {
                // Bytes that are not UTF-8 at all.
                request["body_base64url"] = json!(kit::b64url(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"\xff\"}}"));
                request.as_object_mut().map(|o| o.remove("body"));
            }
        }
        if let Some(s) = server {
            request["server"] = json!(s);
        }
        let app = if *listing && method == "POST" {
            let id = serde_json::from_str::<Value>(body.as_deref().unwrap_or("null"))
                .ok()
                .and_then(|v| match v {
                    Value::Array(a) => a.first().and_then(|m| m.get("id").cloned()),
                    m => m.get("id").cloned(),
                })
                .unwrap_or(Value::Null);
            let result = listing_result(&id);
            match rng.next() % 9 {
                0..=2 => {
                    json!({"status": 200, "content_type": "application/json", "body": result.to_string()})
                }
                3..=5 => json!({"status": 200, "content_type": "text/event-stream",
                       "body": format!("id: e-0\ndata: \n\nevent: message\nid: e-1\ndata: {result}\n\n")}),
                // An event the guard cannot read ahead of the listing: the
                // whole stream is a 502, never passed unread.
                6 => json!({"status": 200, "content_type": "text/event-stream",
                       "body": format!("event: message\ndata: {{\"jsonrpc\":\"2.0\",\"id\":\ndata: \n\nevent: message\nid: e-1\ndata: {result}\n\n")}),
                // A result serde_json's `Value` would read as the listing
                // it wraps (its private token as the key): a 502.
                7 => {
                    let wrapped = json!({"jsonrpc": "2.0", "id": id,
                        "result": {"$serde_json::private::RawValue": result["result"].to_string()}});
                    json!({"status": 200, "content_type": "application/json", "body": wrapped.to_string()})
                }
                // An item naming itself twice: parsers disagree on which
                // name a client sees, so it is a 502 too.
                _ => {
                    let text = result.to_string();
                    let twice =
                        text.replacen("{\"name\":", "{\"name\":\"write_file\",\"name\":", 1);
                    json!({"status": 200, "content_type": "application/json", "body": twice})
                }
            }
        } else {
            json!({"status": 200, "content_type": "application/json",
                   "body": json!({"jsonrpc": "2.0", "id": 1, "result": {}}).to_string()})
        };
        // Headers of the application's own, every other case: an entity
        // tag and a digest describe its body, so they go when the guard
        // filters a listing; Cache-Control stays.
        let mut app = app;
        if cases.len() % 2 == 0 {
            app["headers"] = json!([
                ["ETag", format!("\"app-{}\"", cases.len())],
                [
                    "Repr-Digest",
                    "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
                ],
                ["Cache-Control", "no-cache"]
            ]);
        }
        let mut case = json!({
            "name": format!("{} {method} {auth_name} / {body_name} / ?{query} / {}", cases.len(), server.unwrap_or("-")),
            "op": "http",
            "request": request,
            "app": app
        });
        // Now and then the window rolls over, so limits refill.
        if rng.next().is_multiple_of(40) {
            case["advance"] = json!(61);
            clock_moves += 1;
        }
        cases.push(case);
    }
    let doc = json!({
        "description": "The HTTP edge: raw requests through every surface's middleware, answered byte for byte alike",
        "config": config(),
        "clock": T,
        "options": {"server": "filesystem"},
        "cases": cases,
    });
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../http_edge.json");
    let mut text = serde_json::to_string_pretty(&doc).expect("serialisable");
    text.push('\n');
    std::fs::write(&path, text).expect("write http_edge.json");
    eprintln!(
        "wrote {} cases ({clock_moves} clock moves) to {}",
        CASES,
        path.display()
    );
}
