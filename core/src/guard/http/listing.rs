//! Filtering the application's response to a listing request: JSON-RPC
//! responses as JSON, or as `data:` events of a server-sent event stream
//! (MCP's streamable HTTP answers a `POST` either way).
//!
//! Only responses whose `id` is one of the listing requests' ids are
//! touched, and in them only the item arrays: the response is read once
//! without being built (serde_json `RawValue`s borrowed from the body),
//! each item is decided from the one member the decision needs, and the
//! items refused are cut out of the original text. Everything else passes
//! byte for byte, in JSON and in an event stream alike.

use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::ListingScope;
use crate::json::{MaybeStr, scalars_give};

/// The members of a listing result that hold items, and whether they are tools.
const LIST_KEYS: [(&str, bool); 4] = [
    ("tools", true),
    ("prompts", false),
    ("resources", false),
    ("resourceTemplates", false),
];

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
            let text =
                std::str::from_utf8(body).map_err(|e| format!("invalid JSON (not UTF-8: {e})"))?;
            match filter_text(scope, text).map_err(|e| format!("invalid JSON ({e})"))? {
                Some(filtered) => Ok(filtered.into_bytes()),
                None => Ok(body.to_vec()),
            }
        }
        Some("text/event-stream") => filter_events(scope, body),
        other => Err(format!(
            "a listing response of type {} cannot be read",
            other.unwrap_or("(none)")
        )),
    }
}

/// Filters the listing results in one JSON-RPC response or a batch of them:
/// `None` when nothing is cut, else the new text.
fn filter_text(scope: &ListingScope, text: &str) -> Result<Option<String>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut responses = Vec::new();
    de.deserialize_any(Responses(&mut responses))?;
    de.end()?;
    let base = text.as_ptr() as usize;
    let mut cuts: Vec<(Range<usize>, String)> = Vec::new();
    for (id, lists) in responses {
        let id: Value = serde_json::from_str(id.get())?;
        if !scope.ids.contains(&id) {
            continue;
        }
        for (is_tool, items) in lists {
            let (Some(first), Some(last)) = (items.first(), items.last()) else {
                continue;
            };
            let kept = match &scope.items {
                Some(mapping) => {
                    let checker = scope
                        .policy
                        .checker(&scope.granted, scope.filter.as_deref());
                    kept_items(&items, |item| checker.keeps_text(item, mapping, is_tool))
                }
                None => Some(String::new()),
            };
            let Some(kept) = kept else { continue };
            // The span from the first item's start to the last one's end,
            // as offsets into `text` (every item borrows from it).
            let from = first.get().as_ptr() as usize - base;
            let to = last.get().as_ptr() as usize + last.get().len() - base;
            cuts.push((from..to, kept));
        }
    }
    if cuts.is_empty() {
        return Ok(None);
    }
    cuts.sort_by_key(|(range, _)| range.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, replacement) in cuts {
        out.push_str(&text[at..range.start]);
        out.push_str(&replacement);
        at = range.end;
    }
    out.push_str(&text[at..]);
    Ok(Some(out))
}

/// The items `keep` keeps, joined by commas; `None` when it keeps them all
/// (the common case, which then copies nothing).
fn kept_items(items: &[&RawValue], keep: impl Fn(&str) -> bool) -> Option<String> {
    let mut kept: Option<String> = None;
    for (i, item) in items.iter().map(|item| item.get()).enumerate() {
        match (&mut kept, keep(item)) {
            (None, true) => {}
            (None, false) => {
                let before: Vec<&str> = items[..i].iter().map(|item| item.get()).collect();
                kept = Some(before.join(","));
            }
            (Some(out), true) => {
                if !out.is_empty() {
                    out.push(',');
                }
                out.push_str(item);
            }
            (Some(_), false) => {}
        }
    }
    kept
}

/// The item arrays of a result, each with whether it lists tools.
type ListsOf<'t> = Vec<(bool, Vec<&'t RawValue>)>;

/// The `id` and the result's item arrays of every response of a message or
/// batch that has both (read in one pass: an `id` may follow its `result`).
type Found<'t> = Vec<(&'t RawValue, ListsOf<'t>)>;

struct Responses<'r, 't>(&'r mut Found<'t>);

impl<'de> Visitor<'de> for Responses<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC response or batch")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(found) = seq.next_element_seed(OneResponse)? {
            self.0.extend(found);
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.0.extend(OneResponse.visit_map(map)?);
        Ok(())
    }
    scalars_give!(());
}

/// One response: its `id` and its result's item arrays, the last `id` and
/// `result` when repeated (as a `Value` would keep them).
struct OneResponse;

impl<'de> DeserializeSeed<'de> for OneResponse {
    type Value = Option<(&'de RawValue, ListsOf<'de>)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for OneResponse {
    type Value = Option<(&'de RawValue, ListsOf<'de>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC response")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut id, mut result) = (None, None);
        while let Some(MaybeStr(key)) = map.next_key::<MaybeStr<'de>>()? {
            match key.as_deref() {
                Some("id") => id = Some(map.next_value::<&'de RawValue>()?),
                Some("result") => result = Some(map.next_value_seed(Lists)?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(id.zip(result))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    scalars_give!(None);
}

/// The item arrays of a result object (none for a result of another type).
struct Lists;

impl<'de> DeserializeSeed<'de> for Lists {
    type Value = ListsOf<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Lists {
    type Value = ListsOf<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a listing result")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut lists = Vec::new();
        while let Some(MaybeStr(key)) = map.next_key::<MaybeStr<'de>>()? {
            let list = LIST_KEYS
                .iter()
                .find(|(name, _)| key.as_deref() == Some(*name));
            match list {
                Some(&(_, is_tool)) => {
                    if let Some(items) = map.next_value_seed(Items)? {
                        lists.push((is_tool, items));
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(lists)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Vec::new())
    }
    scalars_give!(Vec::new());
}

/// An array's items, unread; `None` for a value that is not an array.
struct Items;

impl<'de> DeserializeSeed<'de> for Items {
    type Value = Option<Vec<&'de RawValue>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items {
    type Value = Option<Vec<&'de RawValue>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(Some(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    scalars_give!(None);
}

/// Rewrites the `data:` of every event that holds a listing response with
/// items cut; other events and lines are kept as they are. Lines end in
/// `\n`, `\r\n` or `\r` (the SSE grammar); rewritten events use `\n`, one
/// `data:` line per line of the new text.
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
        // Data that is not JSON holds no JSON-RPC response: nothing to filter.
        let rewritten = if data.is_empty() {
            None
        } else {
            filter_text(scope, &data.join("\n")).ok().flatten()
        };
        match rewritten {
            None => out.push_str(event.raw),
            Some(json) => {
                let mut wrote_data = false;
                for line in &event.lines {
                    if line.starts_with("data:") {
                        if !wrote_data {
                            for data_line in json.split('\n') {
                                out.push_str("data: ");
                                out.push_str(data_line);
                                out.push('\n');
                            }
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
    fn kept_items_copy_nothing_when_all_are_kept_and_join_the_rest_otherwise() {
        let items: Vec<&RawValue> = serde_json::from_str("[1, {\"a\": 2}, \"x\", 4]").unwrap();
        let kept = |drop: &[&str]| kept_items(&items, |item| !drop.contains(&item));
        assert_eq!(kept(&[]), None);
        assert_eq!(kept(&["1"]).as_deref(), Some("{\"a\": 2},\"x\",4"));
        assert_eq!(kept(&["\"x\""]).as_deref(), Some("1,{\"a\": 2},4"));
        assert_eq!(kept(&["4"]).as_deref(), Some("1,{\"a\": 2},\"x\""));
        assert_eq!(kept(&["1", "4"]).as_deref(), Some("{\"a\": 2},\"x\""));
        assert_eq!(
            kept(&["1", "{\"a\": 2}", "\"x\"", "4"]).as_deref(),
            Some("")
        );
    }

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
