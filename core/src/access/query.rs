//! JSON tag queries (`tag_query` and presets), 1MCP's MongoDB-like form.
//!
//! `{"tag": "x"}`, `{"$and": [..]}`, `{"$or": [..]}`, `{"$not": {..}}`,
//! `{"$in": ["a","b"]}`, `{"tag": {"$in": [..]}}`, `{"$advanced": "<expression>"}`.
//! Each query object holds exactly one operator; tags are normalised.
//! The compiler counts depth before it descends, so a query nested a
//! million levels deep is refused at level 33, never overflowing the stack.

use serde_json::Value;

use super::filter::{Builder, FilterError, MAX_DEPTH, MAX_MENTIONS, Node};
use super::tag::{TagSource, normalize_tag};

pub(crate) fn compile(query: &Value, builder: &mut Builder) -> Result<Node, FilterError> {
    let mut path = String::new();
    compile_at(query, builder, &mut path, 1)
}

fn error(path: &str, message: impl Into<String>) -> FilterError {
    FilterError::InvalidQuery {
        path: path.to_string(),
        message: message.into(),
    }
}

/// Runs `f` with `suffix` appended to `path`, restoring it afterwards, so
/// that paths cost one buffer rather than one string per level.
fn with_path<T>(path: &mut String, suffix: &str, f: impl FnOnce(&mut String) -> T) -> T {
    let len = path.len();
    if !path.is_empty() && !suffix.starts_with('[') {
        path.push('.');
    }
    path.push_str(suffix);
    let out = f(path);
    path.truncate(len);
    out
}

fn tag_node(value: &Value, builder: &mut Builder, path: &str) -> Result<Node, FilterError> {
    let Some(raw) = value.as_str() else {
        return Err(error(path, "expected a tag (a string)"));
    };
    if builder.full() {
        return Err(error(
            path,
            format!("more than {MAX_MENTIONS} tag mentions"),
        ));
    }
    let tag = normalize_tag(raw, TagSource::Filter).map_err(|e| error(path, e.to_string()))?;
    Ok(builder.tag(tag))
}

/// An OR of the tags in `list` (`$in`).
fn in_list(list: &Value, builder: &mut Builder, path: &mut String) -> Result<Node, FilterError> {
    let Some(items) = list.as_array() else {
        return Err(error(path, "$in expects an array of tags"));
    };
    let mut operands = Vec::with_capacity(items.len().min(MAX_MENTIONS));
    for (i, item) in items.iter().enumerate() {
        let node = with_path(path, &format!("[{i}]"), |p| tag_node(item, builder, p))?;
        operands.push(node);
    }
    Ok(Node::or(operands))
}

fn compile_at(
    query: &Value,
    builder: &mut Builder,
    path: &mut String,
    depth: usize,
) -> Result<Node, FilterError> {
    if depth > MAX_DEPTH {
        return Err(error(
            path,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let Some(object) = query.as_object() else {
        return Err(error(path, "expected a query object"));
    };
    let mut entries = object.iter();
    let (key, value) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        (None, _) => return Err(error(path, "empty query object; expected one operator")),
        (Some(_), Some(_)) => {
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            return Err(error(
                path,
                format!(
                    "a query object holds exactly one operator, found {}",
                    keys.join(", ")
                ),
            ));
        }
    };
    with_path(path, key, |path| match key.as_str() {
        "tag" => match value {
            Value::Object(inner) => {
                let mut inner_entries = inner.iter();
                match (inner_entries.next(), inner_entries.next()) {
                    (Some((op, list)), None) if op == "$in" => {
                        with_path(path, "$in", |p| in_list(list, builder, p))
                    }
                    _ => Err(error(path, "expected a tag or {\"$in\": [tags]}")),
                }
            }
            other => tag_node(other, builder, path),
        },
        "$in" => in_list(value, builder, path),
        "$and" | "$or" => {
            let Some(items) = value.as_array() else {
                return Err(error(path, format!("{key} expects an array of queries")));
            };
            let mut operands = Vec::with_capacity(items.len().min(MAX_MENTIONS));
            for (i, item) in items.iter().enumerate() {
                let node = with_path(path, &format!("[{i}]"), |p| {
                    compile_at(item, builder, p, depth + 1)
                })?;
                operands.push(node);
            }
            Ok(if key == "$and" {
                Node::and(operands)
            } else {
                Node::or(operands)
            })
        }
        "$not" => Ok(Node::not(compile_at(value, builder, path, depth + 1)?)),
        "$advanced" => {
            let Some(expression) = value.as_str() else {
                return Err(error(path, "$advanced expects an expression (a string)"));
            };
            super::expression::parse(expression, builder, depth)
                .map_err(|e| error(path, e.to_string()))
        }
        other => Err(error(path, format!("unknown operator '{other}'"))),
    })
}
