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
//! is not a string, a `tools/call` without a string `params.name`, and a
//! key that serde_json's own `Value` reads as something else
//! (`$serde_json::private::RawValue`: see [`SERDE_JSON_TOKENS`]).
//!
//! [`SERDE_JSON_TOKENS`]: crate::json::SERDE_JSON_TOKENS

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::json::{ObjectKey, finite, scalars_give};

/// The JSON-RPC methods whose results are listings the guard filters.
pub(crate) const LISTING_METHODS: [&str; 4] = [
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
];

/// What one request body asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RpcBody<'b> {
    /// The `params.name` of every `tools/call`, in order (repeats kept);
    /// borrowed from the body unless the name was written with escapes.
    pub tools: Vec<Cow<'b, str>>,
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
///
/// One pass of serde_json over the bytes, building nothing but the tool
/// names and listing ids: every value is still read (so the whole document
/// is checked), but none is kept. A JSON error anywhere wins over a shape
/// error, which is the first one in document order.
pub(crate) fn read_rpc_body(bytes: &[u8]) -> Result<RpcBody<'_>, BodyError> {
    let mut body = Reading::default();
    // UTF-8 is checked once for the whole body (fast for ASCII) rather than
    // string by string; a body that is not UTF-8 is read from its bytes, so
    // its error is serde_json's own, at the same line and column.
    match std::str::from_utf8(bytes) {
        Ok(text) => read(serde_json::Deserializer::from_str(text), &mut body),
        Err(_) => read(serde_json::Deserializer::from_slice(bytes), &mut body),
    }
    .map_err(|e| BodyError::Json(e.to_string()))?;
    match body.shape {
        Some(problem) => Err(BodyError::Shape(problem)),
        None => Ok(body.rpc),
    }
}

/// One pass of `de` over the document into `body`.
fn read<'b, R: serde_json::de::Read<'b>>(
    mut de: serde_json::Deserializer<R>,
    body: &mut Reading<'b>,
) -> Result<(), serde_json::Error> {
    de.deserialize_any(TopVisitor(body))?;
    de.end()
}

/// The body read so far: what it asks for, and its first shape problem.
#[derive(Default)]
struct Reading<'b> {
    rpc: RpcBody<'b>,
    shape: Option<&'static str>,
}

impl<'b> Reading<'b> {
    fn problem(&mut self, problem: &'static str) {
        self.shape.get_or_insert(problem);
    }

    /// Records one message once it has been read in full, checking its
    /// parts in the order a reader of the message would.
    fn message(&mut self, message: Message<'b>) {
        if self.shape.is_some() {
            return;
        }
        let Message::Object { method, name, id } = message else {
            return self.problem("a message that is not a JSON object");
        };
        let method = match method {
            None => return, // a response or an error the client sends back
            Some(Text::Str(m)) => m,
            Some(Text::Other) => return self.problem("a method that is not a string"),
        };
        if method == "tools/call" {
            match name {
                Some(Text::Str(name)) => self.rpc.tools.push(name),
                _ => self.problem("a tools/call without a string params.name"),
            }
        } else if LISTING_METHODS.contains(&&*method)
            && let Some(id) = id
        {
            self.rpc.listing_ids.push(id);
        }
    }
}

/// A string member, or a member of another type (read and checked, not kept).
enum Text<'b> {
    Str(Cow<'b, str>),
    Other,
}

/// What one message holds of interest.
enum Message<'b> {
    Object {
        method: Option<Text<'b>>,
        /// `params.name`, when `params` is an object that has it.
        name: Option<Text<'b>>,
        id: Option<Value>,
    },
    NotObject,
}

/// The document: one message, or a batch of them.
struct TopVisitor<'r, 'b>(&'r mut Reading<'b>);

impl<'de, 'r> Visitor<'de> for TopVisitor<'r, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message or batch")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut count = 0usize;
        while let Some(message) = seq.next_element_seed(MessageSeed)? {
            self.0.message(message);
            count += 1;
        }
        if count == 0 {
            self.0.problem("an empty batch");
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let message = MessageVisitor.visit_map(map)?;
        self.0.message(message);
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.0.problem("a message that is not a JSON object");
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.visit_bool(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.visit_bool(false)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        finite(v)?;
        self.visit_bool(false)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.visit_bool(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.visit_bool(false)
    }
}

struct MessageSeed;

impl<'de> DeserializeSeed<'de> for MessageSeed {
    type Value = Message<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Message<'de>, D::Error> {
        d.deserialize_any(MessageVisitor)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Message<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message<'de>, A::Error> {
        let (mut method, mut name, mut id) = (None, None, None);
        let mut keys = Keys::default();
        while let Some(ObjectKey(key)) = map.next_key::<ObjectKey<'de>>()? {
            keys.insert::<A::Error>(key.clone())?;
            match &*key {
                "method" => method = Some(map.next_value_seed(TextSeed)?),
                "params" => name = map.next_value_seed(ParamsSeed)?,
                "id" => id = Some(map.next_value_seed(StrictVisitor)?),
                _ => map.next_value_seed(Ignore)?,
            }
        }
        Ok(Message::Object { method, name, id })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Message<'de>, A::Error> {
        Ignore.visit_seq(seq).map(|()| Message::NotObject)
    }
    scalars_give!(strict Message::NotObject);
}

/// `params`: its `name` member when it is an object that has one.
struct ParamsSeed;

impl<'de> DeserializeSeed<'de> for ParamsSeed {
    type Value = Option<Text<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ParamsSeed {
    type Value = Option<Text<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON-RPC params")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut name = None;
        let mut keys = Keys::default();
        while let Some(ObjectKey(key)) = map.next_key::<ObjectKey<'de>>()? {
            keys.insert::<A::Error>(key.clone())?;
            if key == "name" {
                name = Some(map.next_value_seed(TextSeed)?);
            } else {
                map.next_value_seed(Ignore)?;
            }
        }
        Ok(name)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ignore.visit_seq(seq).map(|()| None)
    }
    scalars_give!(strict None);
}

/// A member that matters only when it is a string.
struct TextSeed;

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = Text<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Text<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextSeed {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Owned(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text<'de>, A::Error> {
        Ignore.visit_map(map).map(|()| Text::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text<'de>, A::Error> {
        Ignore.visit_seq(seq).map(|()| Text::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text<'de>, E> {
        finite(v).map(|()| Text::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }
}

/// The keys of one object so far, to refuse a repeat: a short list on the
/// stack scanned while the object is small, a hash set once it is not (a
/// hostile body with thousands of keys costs one hash per key, not a scan
/// per key). Keys borrowed from the body (written without escapes, nearly
/// all) are kept as they are: the list needs no drop and no copy; keys
/// written with escapes are decoded into a list of their own.
struct Keys<'k> {
    few: [&'k str; FEW_KEYS],
    len: usize,
    decoded: Vec<String>,
    many: Option<HashSet<Cow<'k, str>>>,
}

/// Objects up to this many keys are checked by a scan.
const FEW_KEYS: usize = 16;

impl Default for Keys<'_> {
    fn default() -> Self {
        Keys {
            few: [""; FEW_KEYS],
            len: 0,
            decoded: Vec::new(),
            many: None,
        }
    }
}

impl<'k> Keys<'k> {
    fn insert<E: de::Error>(&mut self, key: Cow<'k, str>) -> Result<(), E> {
        let repeated = match &self.many {
            Some(set) => set.contains(&key),
            None => {
                self.few[..self.len].contains(&&*key) || self.decoded.iter().any(|k| **k == *key)
            }
        };
        if repeated {
            return Err(E::custom(format_args!(
                "the key {:?} is given twice in one object",
                &*key
            )));
        }
        if let Some(set) = &mut self.many {
            set.insert(key);
            return Ok(());
        }
        if self.len + self.decoded.len() < FEW_KEYS {
            match key {
                Cow::Borrowed(k) => {
                    self.few[self.len] = k;
                    self.len += 1;
                }
                Cow::Owned(k) => self.decoded.push(k),
            }
            return Ok(());
        }
        let mut set: HashSet<Cow<'k, str>> = self.few[..self.len]
            .iter()
            .map(|k| Cow::Borrowed(*k))
            .chain(self.decoded.drain(..).map(Cow::Owned))
            .collect();
        set.insert(key);
        self.many = Some(set);
        Ok(())
    }
}

/// Reads a value strictly (finite numbers, no repeated keys) and keeps
/// nothing of it.
struct Ignore;

impl<'de> DeserializeSeed<'de> for Ignore {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(Ignore)
    }
}

impl<'de> Visitor<'de> for Ignore {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        finite(v)
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Ignore)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = Keys::default();
        while let Some(ObjectKey(key)) = map.next_key::<ObjectKey<'de>>()? {
            keys.insert::<A::Error>(key.clone())?;
            map.next_value_seed(Ignore)?;
        }
        Ok(())
    }
}

/// Builds a `Value` like serde_json's own, refusing repeated keys (for a
/// listing request's `id`, kept to find its response by, and a listing item
/// read whole).
pub(super) struct StrictVisitor;

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
        while let Some(ObjectKey(key)) = map.next_key::<ObjectKey<'de>>()? {
            let key = key.into_owned();
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

    fn read(text: &str) -> Result<RpcBody<'_>, BodyError> {
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
    fn a_key_serde_json_reads_as_the_text_it_wraps_is_refused_wherever_it_stands() {
        let call =
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"write_file"}}"#;
        let wrapped = json!({"$serde_json::private::RawValue": call}).to_string();
        // What is at stake: a host reading this body into serde_json's own
        // `Value` (with `raw_value`, which mcpguard turns on for the whole
        // build of a Rust host) sees a tools/call, where mcpguard would
        // otherwise read an object with one unknown key and no tools.
        let host: Value = serde_json::from_str(&wrapped).unwrap();
        assert_eq!(host["params"]["name"], "write_file");
        let name = serde_json::to_string(r#"{"name":"write_file"}"#).unwrap();
        for bad in [
            wrapped.clone(),
            format!(
                r#"{{"id":1,"method":"tools/call","params":{{"$serde_json::private::RawValue":{name}}}}}"#
            ),
            r#"{"id":1,"method":"tools/call","params":{"name":"read","arguments":{"a":{"x":1,"$serde_json::private::RawValue":"2"}}}}"#.to_string(),
            r#"{"id":{"$serde_json::private::RawValue":"1"},"method":"tools/list"}"#.to_string(),
            format!(
                r#"[{{"\u0024serde_json::private::RawValue":{}}}]"#,
                serde_json::to_string(call).unwrap()
            ),
            r#"{"id":1,"method":"ping","params":{"$serde_json::private::Number":"1e400"}}"#
                .to_string(),
        ] {
            match read(&bad) {
                Err(BodyError::Json(e)) => assert!(e.contains("private token"), "{bad}: {e}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
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
    fn members_are_found_in_any_order_and_through_escapes() {
        let b = read(
            r#"{"params":{"arguments":{"name":"x"},"name":"t"},"id":1,"method":"tools/call"}"#,
        )
        .unwrap();
        assert_eq!(b.tools, ["t"]);
        let b =
            read(r#"{"m\u0065thod":"tools/call","params":{"n\u0061me":"w\u0072ite"}}"#).unwrap();
        assert_eq!(b.tools, ["write"]);
        let b = read(r#"{"id":"a","method":"tools/list","params":{"cursor":"c"}}"#).unwrap();
        assert_eq!(b.listing_ids, [json!("a")]);
    }

    #[test]
    fn a_repeated_key_is_refused_however_it_is_spelled_and_however_big_the_object() {
        let escaped = r#"{"method":"tools/call","params":{"name":"r","n\u0061me":"w"}}"#;
        assert!(matches!(read(escaped), Err(BodyError::Json(m)) if m.contains("given twice")));
        let many: Vec<String> = (0..40).map(|i| format!(r#""k{i}":{i}"#)).collect();
        let big = format!(r#"{{"method":"ping","x":{{{},"k33":0}}}}"#, many.join(","));
        assert!(
            matches!(read(&big), Err(BodyError::Json(m)) if m.contains("\"k33\" is given twice"))
        );
        let fine = format!(r#"{{"method":"ping","x":{{{}}}}}"#, many.join(","));
        assert!(read(&fine).is_ok());
        // Escaped first and plain second, and both kinds past the scanned
        // list: a repeat is a repeat however each one was written.
        let escaped_first = r#"{"method":"ping","x":{"\u006b":1,"k":2}}"#;
        assert!(
            matches!(read(escaped_first), Err(BodyError::Json(m)) if m.contains("given twice"))
        );
        let mixed: Vec<String> = (0..40)
            .map(|i| match i % 2 {
                0 => format!(r#""k{i}":{i}"#),
                _ => format!(r#""\u006b{i}":{i}"#),
            })
            .collect();
        for repeat in ["k33", "\\u006b20"] {
            let big = format!(
                r#"{{"method":"ping","x":{{{},"{repeat}":0}}}}"#,
                mixed.join(",")
            );
            assert!(
                matches!(read(&big), Err(BodyError::Json(m)) if m.contains("given twice")),
                "{repeat}"
            );
        }
        let fine = format!(r#"{{"method":"ping","x":{{{}}}}}"#, mixed.join(","));
        assert!(read(&fine).is_ok());
    }

    #[test]
    fn a_json_error_anywhere_wins_over_a_shape_error_before_it() {
        assert!(matches!(
            read(r#"[7, {"x": 1e999}]"#),
            Err(BodyError::Json(_))
        ));
        assert!(matches!(read(r#"{"method":7} x"#), Err(BodyError::Json(_))));
        assert_eq!(
            read(r#"[{"method":"tools/call","params":[]}, 7]"#).unwrap_err(),
            BodyError::Shape("a tools/call without a string params.name")
        );
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
