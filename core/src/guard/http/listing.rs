//! Filtering the application's response to a listing request: JSON-RPC
//! responses as JSON, or as `data:` events of a server-sent event stream
//! (MCP's streamable HTTP answers a `POST` either way).
//!
//! Only responses whose `id` is one of the listing requests' ids are
//! touched; everything else passes byte for byte in an event stream and
//! value for value in JSON.

use serde_json::Value;

use super::ListingScope;

/// The members of a listing result that hold items.
const LIST_KEYS: [&str; 4] = ["tools", "prompts", "resources", "resourceTemplates"];

/// The filtered body, or why it could not be read.
pub(super) fn filter_body(
    scope: &ListingScope,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, String> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("application/json") => {
            let mut value: Value =
                serde_json::from_slice(body).map_err(|e| format!("invalid JSON ({e})"))?;
            filter_value(scope, &mut value);
            serde_json::to_vec(&value).map_err(|e| e.to_string())
        }
        Some("text/event-stream") => filter_events(scope, body),
        other => Err(format!(
            "a listing response of type {} cannot be read",
            other.unwrap_or("(none)")
        )),
    }
}

/// Filters the listing results in one JSON-RPC response or a batch of them.
fn filter_value(scope: &ListingScope, value: &mut Value) {
    match value {
        Value::Array(batch) => batch.iter_mut().for_each(|v| filter_one(scope, v)),
        single => filter_one(scope, single),
    }
}

fn filter_one(scope: &ListingScope, response: &mut Value) {
    let Value::Object(object) = response else {
        return;
    };
    let ours = object.get("id").is_some_and(|id| scope.ids.contains(id));
    if !ours {
        return;
    }
    let Some(result) = object.get_mut("result") else {
        return;
    };
    match &scope.items {
        Some(items) => {
            *result =
                scope
                    .policy
                    .filter_listing(result, &scope.granted, scope.filter.as_deref(), items);
        }
        None => {
            if let Value::Object(members) = result {
                for (key, value) in members.iter_mut() {
                    if LIST_KEYS.contains(&key.as_str()) && value.is_array() {
                        *value = Value::Array(Vec::new());
                    }
                }
            }
        }
    }
}

/// Rewrites the `data:` of every event that holds a listing response; other
/// events and lines are kept as they are. Lines end in `\n`, `\r\n` or `\r`
/// (the SSE grammar); rewritten events use `\n`.
fn filter_events(scope: &ListingScope, body: &[u8]) -> Result<Vec<u8>, String> {
    let text =
        std::str::from_utf8(body).map_err(|_| "an event stream that is not UTF-8".to_string())?;
    let mut out = String::with_capacity(text.len());
    for event in split_events(text) {
        let data: Vec<&str> = event
            .lines
            .iter()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        let rewritten = if data.is_empty() {
            None
        } else {
            let joined = data.join("\n");
            match serde_json::from_str::<Value>(&joined) {
                Ok(mut value) => {
                    let before = value.clone();
                    filter_value(scope, &mut value);
                    (value != before).then_some(value)
                }
                // Not JSON: no JSON-RPC response, nothing to filter.
                Err(_) => None,
            }
        };
        match rewritten {
            None => out.push_str(event.raw),
            Some(value) => {
                let json = serde_json::to_string(&value).map_err(|e| e.to_string())?;
                let mut wrote_data = false;
                for line in &event.lines {
                    if line.starts_with("data:") {
                        if !wrote_data {
                            out.push_str("data: ");
                            out.push_str(&json);
                            out.push('\n');
                            wrote_data = true;
                        }
                    } else {
                        out.push_str(line);
                        out.push('\n');
                    }
                }
                out.push_str(event.terminator);
            }
        }
    }
    Ok(out.into_bytes())
}

/// One event of a stream: its lines (without line ends), its raw text and
/// the blank line that ended it (empty at the end of the stream).
struct Event<'t> {
    lines: Vec<&'t str>,
    raw: &'t str,
    terminator: &'t str,
}

fn split_events(text: &str) -> Vec<Event<'_>> {
    let mut events = Vec::new();
    let mut start = 0;
    let mut lines = Vec::new();
    let mut at = 0;
    let bytes = text.as_bytes();
    while at < bytes.len() {
        let line_end = bytes[at..]
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
            .map_or(bytes.len(), |p| at + p);
        let mut next = line_end;
        if next < bytes.len() {
            next += if bytes[next] == b'\r' && bytes.get(next + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
        }
        let line = &text[at..line_end];
        if line.is_empty() {
            events.push(Event {
                lines: std::mem::take(&mut lines),
                raw: &text[start..next],
                terminator: &text[at..next],
            });
            start = next;
        } else {
            lines.push(line);
        }
        at = next;
    }
    if start < text.len() {
        events.push(Event {
            lines,
            raw: &text[start..],
            terminator: "",
        });
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_blank_lines_with_any_line_end() {
        let events = split_events("event: message\ndata: {}\n\ndata: x\r\n\r\ndata: tail");
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].lines, ["event: message", "data: {}"]);
        assert_eq!(events[0].terminator, "\n");
        assert_eq!(events[1].raw, "data: x\r\n\r\n");
        assert_eq!(events[2].terminator, "");
        let joined: String = events.iter().map(|e| e.raw).collect();
        assert_eq!(
            joined,
            "event: message\ndata: {}\n\ndata: x\r\n\r\ndata: tail"
        );
    }
}
