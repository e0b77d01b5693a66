//! What a JSON-RPC request body asks for: the tools it calls and the
//! listings it requests, read strictly.
//!
//! The body is the same bytes the MCP server will parse after the guard has
//! let it through, so the guard must never read less than the server does.
//! Anything the guard cannot read exactly once and unambiguously is refused
//! (400 `invalid_request`), never taken for "no tools": invalid JSON, `NaN`
//! or an out-of-range number, nesting past serde_json's limit of 128, a key
//! given twice in one object (parsers disagree on which one wins), a batch
//! that is empty or holds something that is not an object, a `method` that
//! is not a string, and a `tools/call` without a string `params.name`.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The JSON-RPC methods whose results are listings the guard filters.
pub(crate) const LISTING_METHODS: [&str; 4] = [
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
];

/// What one request body asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RpcBody {
    /// The `params.name` of every `tools/call`, in order (repeats kept).
    pub tools: Vec<String>,
    /// The `id` of every listing request, to find its response by.
    pub listing_ids: Vec<Value>,
}

/// Why a body cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// The bytes are not one strict JSON document.
    #[error("The request body is not valid JSON: {0}")]
    Json(String),
    /// Valid JSON, but not a JSON-RPC message or batch of them.
    #[error("The request body is not a JSON-RPC message: {0}")]
    Shape(&'static str),
}

/// Reads a JSON-RPC body (a message or a batch) strictly; see the module doc.
pub(crate) fn read_rpc_body(bytes: &[u8]) -> Result<RpcBody, BodyError> {
    let value = parse_strict(bytes)?;
    let messages = match &value {
        Value::Array(batch) if batch.is_empty() => return Err(BodyError::Shape("an empty batch")),
        Value::Array(batch) => batch.as_slice(),
        single => std::slice::from_ref(single),
    };
    let mut body = RpcBody::default();
    for message in messages {
        let Value::Object(message) = message else {
            return Err(BodyError::Shape("a message that is not a JSON object"));
        };
        let method = match message.get("method") {
            None => continue, // a response or an error the client sends back
            Some(Value::String(m)) => m.as_str(),
            Some(_) => return Err(BodyError::Shape("a method that is not a string")),
        };
        if method == "tools/call" {
            let name = message
                .get("params")
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .ok_or(BodyError::Shape(
                    "a tools/call without a string params.name",
                ))?;
            body.tools.push(name.to_string());
        } else if LISTING_METHODS.contains(&method)
            && let Some(id) = message.get("id")
        {
            body.listing_ids.push(id.clone());
        }
    }
    Ok(body)
}

/// One JSON document, as serde_json reads it, with a key given twice in one
/// object refused.
pub(crate) fn parse_strict(bytes: &[u8]) -> Result<Value, BodyError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = de
        .deserialize_any(StrictVisitor)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| BodyError::Json(e.to_string()))?;
    Ok(value)
}

/// Builds a `Value` like serde_json's own, refusing repeated keys.
struct StrictVisitor;

impl<'de> de::DeserializeSeed<'de> for StrictVisitor {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictVisitor)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // The map is hashed: a repeat costs one lookup.
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "the key {key:?} is given twice in one object"
                )));
            }
            let value = map.next_value_seed(StrictVisitor)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Result<RpcBody, BodyError> {
        read_rpc_body(text.as_bytes())
    }

    #[test]
    fn tools_come_from_every_tools_call_single_or_batched() {
        let b = read(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#)
            .unwrap();
        assert_eq!(b.tools, ["t"]);
        let b = read(
            r#"[{"id":1,"method":"tools/call","params":{"name":"a"}},
                {"id":2,"method":"tools/list"},
                {"method":"notifications/initialized"},
                {"id":3,"method":"tools/call","params":{"name":"a"}}]"#,
        )
        .unwrap();
        assert_eq!(b.tools, ["a", "a"]);
        assert_eq!(b.listing_ids, [json!(2)]);
    }

    #[test]
    fn a_body_the_server_might_read_differently_is_refused() {
        for bad in [
            r#"{"method":"tools/call","params":{"name":"w"},"_meta":{"x":NaN}}"#,
            r#"{"method":"tools/call","params":{"name":"w"},"x":1e999}"#,
            r#"{"method":"tools/call","params":{"name":"w"},"x":-Infinity}"#,
            r#"{"method":"tools/list","method":"tools/call","params":{"name":"w"}}"#,
            r#"{"method":"tools/call","params":{"name":"w","name":"r"}}"#,
            r#"{"method":"tools/call","params":{"name":"w"}} {}"#,
            r#"{"method":"tools/call","params":{}}"#,
            r#"{"method":"tools/call","params":{"name":7}}"#,
            r#"{"method":7}"#,
            r#"[]"#,
            r#"[1]"#,
            "",
            "\u{feff}{}",
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        let deep = format!("{}{}", "[".repeat(150), "]".repeat(150));
        assert!(read(&deep).is_err());
        let deep_meta = format!(
            r#"{{"method":"tools/call","params":{{"name":"w"}},"_meta":{}1{}}}"#,
            "[".repeat(150),
            "]".repeat(150)
        );
        assert!(read(&deep_meta).is_err());
    }

    #[test]
    fn responses_and_notifications_call_nothing() {
        assert_eq!(
            read(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#).unwrap(),
            RpcBody::default()
        );
        assert_eq!(read(r#"{"method":"ping"}"#).unwrap(), RpcBody::default());
        assert_eq!(
            read(r#""text""#).unwrap_err(),
            BodyError::Shape("a message that is not a JSON object")
        );
    }
}
