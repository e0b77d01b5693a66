//! The Rust conformance runner: every file in `$MCPGUARD_CONFORMANCE_DIR`
//! (default: the repository's `conformance/`) through the public API, with
//! every op of `docs/conformance.md` and the two `conformance/README.md`
//! adds (`insert_opaque`, `introspect`). Each failing case is reported by file
//! and name; an unknown op is a failure, never a skip.

use mcpguard::ManualClock;
use mcpguard::access::{self, Filter};
use std::sync::Arc;

use mcpguard::guard::{
    Guard, HttpAction, HttpBody, HttpOptions, HttpRequest, Request, dropped_when_filtered,
    principal_json,
};
use mcpguard::task;
use mcpguard::token::opaque::OpaqueEntry;
use mcpguard::token::{Principal, TokenError};
use mcpguard_testkit::http_vectors;
use mcpguard_testkit::vectors::{self, check_headers, partial_match};
use serde_json::{Value, json};

#[test]
fn every_conformance_vector_passes_through_the_rust_api() {
    vectors::run_all("Rust API", run_file);
}

/// How a case reaches the HTTP entry point.
#[derive(Clone, Copy)]
enum Entry<'a> {
    /// `authorize_http`.
    InPlace,
    /// `authorize_http_later`, run to completion.
    Later,
    /// `authorize_http_later_in_memory`, else `authorize_http` (counting
    /// the cases answered from memory).
    InMemory(&'a std::cell::Cell<usize>),
}

/// The HTTP corpus through the awaited entry points: `authorize_http_later`
/// answers every case as `authorize_http` does, and so does
/// `authorize_http_later_in_memory` for every case it answers (the others
/// go to `authorize_http`, as a host sends them where waiting is allowed).
#[test]
fn the_http_corpus_answers_alike_through_the_awaited_entry_points() {
    let path = vectors::dir().join("http_edge.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let from_memory = std::cell::Cell::new(0);
    for entry in [Entry::Later, Entry::InMemory(&from_memory)] {
        let clock = ManualClock::from_secs_f64(doc["clock"].as_f64().unwrap()).unwrap();
        let guard = Guard::from_json_with_clock(&doc["config"].to_string(), clock.clone()).unwrap();
        let options = HttpOptions::from_json(&doc["options"]).unwrap();
        let mut failures = Vec::new();
        for case in doc["cases"].as_array().unwrap() {
            let outcome = http_case(&guard, &options, &clock, case, entry)
                .and_then(|actual| http_vectors::compare(&case["expect"], &actual));
            if let Err(why) = outcome {
                failures.push(format!("{}: {why}", case["name"]));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
    // Most requests carry a token verified by an earlier one, or none.
    eprintln!(
        "{} of {} cases answered from memory",
        from_memory.get(),
        doc["cases"].as_array().unwrap().len()
    );
    assert!(
        from_memory.get() > 200,
        "{} answered from memory",
        from_memory.get()
    );
}

fn run_file(file: &str, doc: &Value, failures: &mut Vec<String>) -> usize {
    let clock = match doc["clock"].as_f64().map(ManualClock::from_secs_f64) {
        Some(Ok(c)) => c,
        _ => {
            failures.push(format!("{file}: `clock` must be a number of seconds"));
            return 0;
        }
    };
    let config = doc["config"].to_string();
    let guard = match Guard::from_json_with_clock(&config, clock.clone()) {
        Ok(g) => g,
        Err(e) => {
            failures.push(format!("{file}: config refused: {e}"));
            return 0;
        }
    };
    let Some(cases) = doc["cases"].as_array() else {
        failures.push(format!("{file}: `cases` must be a list"));
        return 0;
    };
    let options = match HttpOptions::from_json(&doc["options"]) {
        Ok(o) => o,
        Err(e) => {
            failures.push(format!("{file}: options refused: {e}"));
            return 0;
        }
    };
    let bless = std::env::var_os("MCPGUARD_BLESS").is_some();
    let mut blessed = doc.clone();
    for (i, case) in cases.iter().enumerate() {
        let name = case["name"]
            .as_str()
            .map_or_else(|| format!("#{i}"), str::to_string);
        let outcome = if case["op"] == "http" {
            http_case(&guard, &options, &clock, case, Entry::InPlace).and_then(|actual| {
                if bless {
                    blessed["cases"][i]["expect"] = actual;
                    return Ok(());
                }
                http_vectors::compare(&case["expect"], &actual)
            })
        } else {
            run_case(&guard, &clock, case)
        };
        if let Err(why) = outcome {
            failures.push(format!("{file} / {name}: {why}"));
        }
    }
    if bless
        && doc["cases"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["op"] == "http"))
    {
        let path = vectors::dir().join(file);
        let mut text = serde_json::to_string_pretty(&blessed).expect("serialisable");
        text.push('\n');
        std::fs::write(&path, text).expect("write blessed vectors");
    }
    cases.len()
}

/// One `http` case through the entry point, as a middleware drives it:
/// the core's response, or the application's (its status, `Content-Type`
/// and body, the body filtered when the request asked for a listing) with
/// the decision's headers added.
fn http_case(
    guard: &Guard,
    options: &HttpOptions,
    clock: &ManualClock,
    case: &Value,
    entry: Entry,
) -> Result<Value, String> {
    if let Some(s) = case.get("advance").and_then(Value::as_f64) {
        clock.advance_secs_f64(s).map_err(|e| e.to_string())?;
    }
    let input = http_vectors::Input::from_case(case)?;
    let headers: Vec<(&[u8], &[u8])> = input
        .headers
        .iter()
        .map(|(n, v)| (n.as_slice(), v.as_slice()))
        .collect();
    let request = HttpRequest {
        method: &input.method,
        path: &input.path,
        query: &input.query,
        headers: &headers,
        peer: input.peer.as_deref(),
        body: input
            .body
            .as_deref()
            .map_or(HttpBody::None, HttpBody::Bytes),
        server: input.server.as_deref(),
        key: None,
        cost: None,
    };
    let decision = match entry {
        Entry::InPlace => guard.authorize_http(&request, options),
        Entry::Later => task::block_on(guard.authorize_http_later(&request, options)),
        Entry::InMemory(from_memory) => {
            match task::block_on(guard.authorize_http_later_in_memory(&request, options)) {
                Some(d) => {
                    from_memory.set(from_memory.get() + 1);
                    d
                }
                None => guard.authorize_http(&request, options),
            }
        }
    };
    let app = &input.app;
    let response = match decision.action {
        HttpAction::Respond(r) => r.to_json(),
        HttpAction::Pass => app.response(Vec::new(), None),
        HttpAction::Forward { ref headers } => {
            let filtered = if decision.filters_response() {
                match decision.filter_response(Some(&app.content_type), &app.body) {
                    Ok(body) => Some(http_vectors::Filtered {
                        body,
                        drops: &dropped_when_filtered,
                    }),
                    Err(r) => return Ok(r.to_json()),
                }
            } else {
                None
            };
            app.response(headers.clone(), filtered)
        }
    };
    Ok(response)
}

fn run_case(guard: &Guard, clock: &ManualClock, case: &Value) -> Result<(), String> {
    let op = case["op"].as_str().ok_or("case has no `op`")?;
    let expect = &case["expect"];
    let actual = match op {
        "validate" => {
            let token = case["token"].as_str().ok_or("validate needs `token`")?;
            principal_result(guard.validate(token))
        }
        "authorize" => {
            // A request the host cannot build (two filter kinds, a bad
            // cost) is answered like any other refusal, as a host would.
            let decision = match Request::from_json(&case["request"]) {
                Ok(request) => guard.authorize(&request),
                Err(e) => guard.refuse_request(&e),
            };
            let v = decision.to_json();
            if let Some(absent) = case.get("headers_not_contain") {
                check_headers(&v, absent, false)?;
            }
            if let Some(present) = expect.get("headers_contain") {
                check_headers(&v, present, true)?;
            }
            v
        }
        "parse_filter" => match parse_filter(case) {
            Ok(f) => json!({"ok": true, "tags": f.tags()}),
            Err(e) => json!({"ok": false, "error": e}),
        },
        "match_filter" => {
            let f = parse_filter(case).map_err(|e| format!("filter does not parse: {e}"))?;
            let tags: Vec<String> = serde_json::from_value(case["server_tags"].clone())
                .map_err(|e| format!("server_tags: {e}"))?;
            json!({"match": f.matches_tags(&tags)})
        }
        "validate_scopes" => {
            let requested: Vec<String> = serde_json::from_value(case["requested"].clone())
                .map_err(|e| format!("requested: {e}"))?;
            let available: Vec<String> = serde_json::from_value(case["available_tags"].clone())
                .map_err(|e| format!("available_tags: {e}"))?;
            match access::validate_scopes(&requested, &available) {
                Ok(scopes) => json!({"ok": true, "scopes": scopes, "errors": []}),
                Err(errors) => json!({"ok": false, "errors": errors}),
            }
        }
        "scopes_to_tags" => {
            let scopes: Vec<String> = serde_json::from_value(case["scopes"].clone())
                .map_err(|e| format!("scopes: {e}"))?;
            json!({"tags": access::scopes_to_tags(&scopes)})
        }
        "rate_limit" => {
            let key = case["key"].as_str().ok_or("rate_limit needs `key`")?;
            let cost = case.get("cost").and_then(Value::as_u64).unwrap_or(1);
            let rule = case.get("rule").and_then(Value::as_str);
            let d = guard
                .check_rate_limit(rule, key, cost)
                .map_err(|e| e.to_string())?;
            d.to_json()
        }
        "advance" => {
            let s = case["seconds"].as_f64().ok_or("advance needs `seconds`")?;
            clock.advance_secs_f64(s).map_err(|e| e.to_string())?;
            Value::Null
        }
        "revoke" => {
            let token = case["token"].as_str().ok_or("revoke needs `token`")?;
            guard
                .revoke(token)
                .map_err(|e| format!("revoke failed: {e}"))?;
            Value::Null
        }
        "metadata" => json!({"document": guard.metadata_document()}),
        "insert_opaque" => {
            let token = case["token"]
                .as_str()
                .ok_or("insert_opaque needs `token`")?;
            let entry =
                OpaqueEntry::from_value(&case["entry"]).map_err(|e| format!("bad entry: {e}"))?;
            match guard.insert_opaque(token, entry) {
                Ok(()) => json!({"ok": true}),
                Err(e) => json!({"ok": false, "error": e.code()}),
            }
        }
        "introspect" => {
            // An object is serialised; a string is the response text as is
            // (so a vector can hold a repeated member).
            let text = match &case["response"] {
                Value::String(s) => s.clone(),
                Value::Object(_) => case["response"].to_string(),
                _ => return Err("introspect needs `response` (object or string)".into()),
            };
            principal_result(guard.validate_introspection(&text).map(Into::into))
        }
        other => return Err(format!("unknown op `{other}`")),
    };
    if expect.is_null() {
        return Ok(());
    }
    partial_match(expect, &actual, "")
}

/// What `validate` and `introspect` compare: the principal with `ok`, or
/// the refusal's status, error and reason.
fn principal_result(result: Result<Arc<Principal>, TokenError>) -> Value {
    match result {
        Ok(p) => {
            let mut v = principal_json(&p);
            v["ok"] = json!(true);
            v
        }
        Err(e) => json!({"ok": false, "status": e.reason.status(),
            "error": e.reason.oauth_error().as_str(), "reason": e.reason.code()}),
    }
}

fn parse_filter(case: &Value) -> Result<Filter, String> {
    let kinds: Vec<&str> = ["tags", "tag_filter", "tag_query"]
        .into_iter()
        .filter(|k| case.get(*k).is_some())
        .collect();
    match kinds.as_slice() {
        ["tags"] => Filter::parse_tags(case["tags"].as_str().ok_or("tags must be a string")?)
            .map_err(|e| e.to_string()),
        ["tag_filter"] => Filter::parse_expression(
            case["tag_filter"]
                .as_str()
                .ok_or("tag_filter must be a string")?,
        )
        .map_err(|e| e.to_string()),
        ["tag_query"] => Filter::from_query(&case["tag_query"]).map_err(|e| e.to_string()),
        _ => Err(format!(
            "a filter case needs exactly one of tags, tag_filter, tag_query; got {kinds:?}"
        )),
    }
}
