//! Runs the access conformance vectors (`conformance/access_*.json`) through
//! the access API directly, until the Guard-level runner covers them.
//! Ops: `parse_filter`, `match_filter`, `validate_scopes`, `scopes_to_tags`;
//! any other op in these files, or an `expect` key an op does not know, is
//! a failure.

use std::path::PathBuf;

use mcpguard::access::{
    AccessPolicy, AccessSettings, Filter, FilterError, scopes_to_tags, validate_scopes,
};
use serde_json::{Value, json};

fn conformance_dir() -> PathBuf {
    std::env::var_os("MCPGUARD_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance"))
}

fn strings(value: Option<&Value>, key: &str) -> Result<Vec<String>, String> {
    value
        .and_then(Value::as_array)
        .ok_or_else(|| format!("`{key}` must be a list"))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(String::from)
                .ok_or_else(|| format!("`{key}` must hold strings"))
        })
        .collect()
}

fn filter_of(case: &Value) -> Result<Result<Filter, FilterError>, String> {
    let given: Vec<&str> = ["tags", "tag_filter", "tag_query"]
        .into_iter()
        .filter(|k| case.get(*k).is_some())
        .collect();
    match given.as_slice() {
        ["tags"] => Ok(Filter::parse_tags(
            case["tags"].as_str().ok_or("`tags` must be a string")?,
        )),
        ["tag_filter"] => Ok(Filter::parse_expression(
            case["tag_filter"]
                .as_str()
                .ok_or("`tag_filter` must be a string")?,
        )),
        ["tag_query"] => Ok(Filter::from_query(&case["tag_query"])),
        _ => Err(format!(
            "exactly one of tags, tag_filter, tag_query expected, got {given:?}"
        )),
    }
}

/// What the op produced, as the keys `expect` may name.
fn run(case: &Value) -> Result<serde_json::Map<String, Value>, String> {
    let op = case["op"].as_str().ok_or("case without `op`")?;
    let out = match op {
        "parse_filter" => match filter_of(case)? {
            Ok(f) => json!({ "ok": true, "tags": f.tags() }),
            Err(e) => json!({ "ok": false, "error": e.to_string() }),
        },
        "match_filter" => {
            let f = filter_of(case)?.map_err(|e| format!("filter does not parse: {e}"))?;
            let tags = strings(case.get("server_tags"), "server_tags")?;
            json!({ "match": f.matches_tags(&tags) })
        }
        "validate_scopes" => {
            let requested = strings(case.get("requested"), "requested")?;
            let available = strings(case.get("available_tags"), "available_tags")?;
            match validate_scopes(&requested, &available) {
                Ok(scopes) => json!({ "ok": true, "scopes": scopes }),
                Err(errors) => json!({ "ok": false, "errors": errors }),
            }
        }
        "scopes_to_tags" => {
            let scopes = strings(case.get("scopes"), "scopes")?;
            json!({ "tags": scopes_to_tags(&scopes) })
        }
        other => return Err(format!("unknown op `{other}`")),
    };
    match out {
        Value::Object(map) => Ok(map),
        _ => Err("internal: op output is not an object".into()),
    }
}

fn check(case: &Value) -> Result<(), String> {
    let got = run(case)?;
    let expect = case["expect"]
        .as_object()
        .ok_or("case without an `expect` object")?;
    if expect.is_empty() {
        return Err("`expect` lists nothing: the case could not fail".into());
    }
    for (key, want) in expect {
        if key == "error_contains" {
            let error = got
                .get("error")
                .and_then(Value::as_str)
                .ok_or("expected an error, got none")?;
            let needle = want.as_str().ok_or("`error_contains` must be a string")?;
            if !error.contains(needle) {
                return Err(format!("error {error:?} does not contain {needle:?}"));
            }
            continue;
        }
        let Some(have) = got.get(key) else {
            return Err(format!(
                "expect key `{key}` is not produced by this op: {got:?}"
            ));
        };
        if have != want {
            return Err(format!("`{key}`: expected {want}, got {have}"));
        }
    }
    Ok(())
}

#[test]
fn access_conformance_vectors_pass() {
    let dir = conformance_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("access_") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no access_*.json in {}", dir.display());

    let mut failures = Vec::new();
    let mut count = 0;
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let text = std::fs::read_to_string(path).expect("readable vector file");
        let file: Value = serde_json::from_str(&text).expect("vector file is JSON");
        assert!(
            file.get("clock").is_some_and(Value::is_number),
            "{name}: `clock`"
        );
        let config = file.get("config").expect("vector file has a `config`");
        let settings =
            AccessSettings::from_config(config).unwrap_or_else(|e| panic!("{name}: config: {e}"));
        AccessPolicy::build(&settings).unwrap_or_else(|e| panic!("{name}: config: {e}"));
        for case in file["cases"].as_array().expect("`cases` list") {
            count += 1;
            let case_name = case["name"].as_str().unwrap_or("?");
            if let Err(why) = check(case) {
                failures.push(format!("{name}: {case_name}: {why}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
