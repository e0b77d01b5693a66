//! Filtering the application's response to a listing request: JSON-RPC
//! responses as JSON, or as `data:` events of a server-sent event stream
//! (MCP's streamable HTTP answers a `POST` either way).
//!
//! Only responses whose `id` is one of the listing requests' ids are
//! touched, and in them only the item arrays. The response is read without
//! being built: one pass decides each item from the one member the
//! decision needs. When an item is refused, the refused ones are cut out of
//! the original text, each item placed by where its first key sits (a key
//! serde_json borrowed from the text: [`item_ranges`]); a list whose items
//! cannot all be placed that way (an item that is not an object, or whose
//! first key is written with escapes) is read a second time for where each
//! item starts and ends (serde_json `RawValue`s borrowed from the body).
//! Everything else passes byte for byte, in JSON and in an event stream
//! alike. What the filter cannot read, or reads twice over (a repeated
//! `id`, `result`, list or item `name`), or a key serde_json's `Value`
//! reads as something else where the filter reads keys (see
//! [`SERDE_JSON_TOKENS`](crate::json::SERDE_JSON_TOKENS)), is an error:
//! the caller's 502.

use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::ListingScope;
use super::body::StrictVisitor;
use crate::access::{Checker, ItemNeed, ListingItems, Member};
use crate::json::{ObjectKey, scalars_give};

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
    second: Second,
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
            match filter_text(scope, text, second).map_err(|e| format!("invalid JSON ({e})"))? {
                Some(filtered) => Ok(filtered.into_bytes()),
                None => Ok(body.to_vec()),
            }
        }
        Some("text/event-stream") => filter_events(scope, body, second),
        other => Err(format!(
            "a listing response of type {} cannot be read",
            other.unwrap_or("(none)")
        )),
    }
}

/// Filters the listing results in one JSON-RPC response or a batch of them:
/// `None` when nothing is cut, else the new text.
///
/// The text is read once to decide every item, reading of each only the
/// member the decision needs. A listing that keeps everything (the common
/// case) is copied never; one that loses items is cut where the first
/// pass placed them, or, for a list it could not place, after reading the
/// text a second time for where each item starts and ends.
fn filter_text(
    scope: &ListingScope,
    text: &str,
    second: Second,
) -> Result<Option<String>, serde_json::Error> {
    let checker = scope.items.as_ref().map(|items| {
        (
            scope
                .policy
                .checker(&scope.granted, scope.filter.as_deref()),
            items,
        )
    });
    let decide = Decide {
        checker: checker.as_ref().map(|(checker, items)| (checker, *items)),
    };
    let decided = read_responses(text, &decide)?;
    // Which lists of which responses lose an item: (response, list) indices.
    let mut cut: Vec<(usize, usize)> = Vec::new();
    for (r, (id, lists)) in decided.iter().enumerate() {
        // Read as the request's ids were (`StrictVisitor`): serde_json's
        // own `Value` would read a private-token object as what it wraps.
        let id = StrictVisitor.deserialize(&mut serde_json::Deserializer::from_str(id.get()))?;
        if !scope.ids.contains(&id) {
            continue;
        }
        for (l, items) in lists.iter().enumerate() {
            if items.iter().any(|item| !item.keep) {
                cut.push((r, l));
            }
        }
    }
    if cut.is_empty() {
        return Ok(None);
    }
    // Where each item of a list that loses one starts and ends: from the
    // first pass's borrowed keys when every item has one, else from a
    // second pass that borrows every item whole.
    let mut spans: Option<Found<'_, &RawValue>> = None;
    let base = text.as_ptr() as usize;
    let mut cuts: Vec<(Range<usize>, String)> = Vec::with_capacity(cut.len());
    for (r, l) in cut {
        let Some(items) = decided.get(r).and_then(|(_, lists)| lists.get(l)) else {
            return Err(serde::de::Error::custom("a listing read differently twice"));
        };
        let placed = match second {
            Second::AsNeeded => item_ranges(text, items),
            Second::Always => None,
        };
        let ranges = match placed {
            Some(ranges) => ranges,
            None => {
                let spans = match &mut spans {
                    Some(spans) => spans,
                    none => none.insert(read_responses(text, &Spans)?),
                };
                // The same reader over the same text: the two passes see the
                // same responses and lists, in the same order.
                let Some(raw) = spans
                    .get(r)
                    .and_then(|(_, lists)| lists.get(l))
                    .filter(|raw| raw.len() == items.len())
                else {
                    return Err(serde::de::Error::custom("a listing read differently twice"));
                };
                raw.iter()
                    .map(|item| {
                        let at = item.get().as_ptr() as usize - base;
                        at..at + item.get().len()
                    })
                    .collect()
            }
        };
        let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
            continue;
        };
        let kept = items.iter().map(|item| item.keep);
        cuts.push((first.start..last.end, kept_items(text, &ranges, kept)));
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

/// Whether a listing that loses items may be cut from the first pass's
/// borrowed keys ([`item_ranges`]) or is always read a second time (the
/// reference the fuzz check compares with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Second {
    /// Only when the first pass could not place every item.
    AsNeeded,
    /// Always.
    Always,
}

/// Where each item of one list starts and ends in `text`, from the first
/// pass alone, or `None` when some item cannot be placed that way.
///
/// The first pass has already read `text` through serde_json, so it is
/// JSON, and serde_json borrowed each item's first key from it (`first_key`
/// points just past the key's opening quote). By JSON's grammar an object
/// starts with `{`, optional whitespace and its first key; two items are
/// separated by whitespace, one `,` and whitespace; and an object ends
/// with `}`. Each of these is checked, not assumed: any other byte where
/// one is expected (or an item without a borrowed first key: empty, not an
/// object, or its key written with escapes) gives `None`, and the caller
/// reads the text a second time. The last item's end is where serde_json,
/// reading that item again, stops.
fn item_ranges(text: &str, items: &[Decided<'_>]) -> Option<Vec<Range<usize>>> {
    let bytes = text.as_bytes();
    let base = text.as_ptr() as usize;
    let mut starts = Vec::with_capacity(items.len());
    for item in items {
        let key = (item.first_key?.as_ptr() as usize).checked_sub(base)?;
        let quote = key.checked_sub(1)?;
        if key > bytes.len() || bytes[quote] != b'"' {
            return None;
        }
        let open = before_whitespace(bytes, quote)?;
        (bytes[open] == b'{').then_some(())?;
        starts.push(open);
    }
    let mut ranges = Vec::with_capacity(starts.len());
    for pair in starts.windows(2) {
        let comma = before_whitespace(bytes, pair[1])?;
        (bytes[comma] == b',').then_some(())?;
        let close = before_whitespace(bytes, comma)?;
        (bytes[close] == b'}' && close > pair[0]).then_some(())?;
        ranges.push(pair[0]..close + 1);
    }
    if let Some(&last) = starts.last() {
        let mut stream =
            serde_json::Deserializer::from_str(&text[last..]).into_iter::<IgnoredAny>();
        stream.next()?.ok()?;
        ranges.push(last..last + stream.byte_offset());
    }
    Some(ranges)
}

/// The index of the last byte before `at` that is not JSON whitespace.
fn before_whitespace(bytes: &[u8], at: usize) -> Option<usize> {
    bytes[..at]
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// The items whose decision is `true`, joined by commas.
fn kept_items(text: &str, ranges: &[Range<usize>], kept: impl IntoIterator<Item = bool>) -> String {
    let mut out = String::new();
    for (range, _) in ranges.iter().zip(kept).filter(|(_, keep)| *keep) {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&text[range.clone()]);
    }
    out
}

/// Reads the responses of a message or batch with `reader`.
fn read_responses<'t, R: ItemReader<'t>>(
    text: &'t str,
    reader: &R,
) -> Result<Found<'t, R::Item>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut found = Vec::new();
    de.deserialize_any(Responses {
        found: &mut found,
        reader,
    })?;
    de.end()?;
    Ok(found)
}

/// How one pass reads each item of a list.
trait ItemReader<'de> {
    /// What it keeps of an item.
    type Item;
    /// The next item of `seq`, from a list of tools or not.
    fn next<A: SeqAccess<'de>>(
        &self,
        seq: &mut A,
        is_tool: bool,
    ) -> Result<Option<Self::Item>, A::Error>;
}

/// The first pass: whether each item is kept, reading only what the
/// decision needs. Without a checker no server owns the items: all go.
struct Decide<'c, 'p> {
    checker: Option<(&'c Checker<'p>, &'c ListingItems)>,
}

impl<'de> ItemReader<'de> for Decide<'_, '_> {
    type Item = Decided<'de>;
    fn next<A: SeqAccess<'de>>(
        &self,
        seq: &mut A,
        is_tool: bool,
    ) -> Result<Option<Decided<'de>>, A::Error> {
        let unplaced = |keep| Decided {
            keep,
            first_key: None,
        };
        let Some((checker, items)) = self.checker else {
            return Ok(seq.next_element::<IgnoredAny>()?.map(|_| unplaced(false)));
        };
        Ok(match Checker::needs(items, is_tool) {
            ItemNeed::Nothing => seq
                .next_element::<IgnoredAny>()?
                .map(|_| unplaced(checker.keeps_member(None, items, is_tool))),
            ItemNeed::Member(key) => seq.next_element_seed(Member { key })?.map(|read| Decided {
                keep: checker.keeps_member(read.value.as_deref(), items, is_tool),
                first_key: read.first_key,
            }),
            // Built strictly: a repeated key anywhere in it is an error, as
            // a repeated `name` is for an item read by one member.
            ItemNeed::Whole => seq
                .next_element_seed(StrictVisitor)?
                .map(|item| unplaced(checker.keeps(&item, items, is_tool))),
        })
    }
}

/// What the first pass keeps of an item.
struct Decided<'de> {
    /// Whether the item stays in the listing.
    keep: bool,
    /// Its first key, borrowed from the text: where the item starts, for
    /// cutting without a second pass (see [`item_ranges`]).
    first_key: Option<&'de str>,
}

/// The second pass: each item's text, unread, for where it starts and ends.
struct Spans;

impl<'de> ItemReader<'de> for Spans {
    type Item = &'de RawValue;
    fn next<A: SeqAccess<'de>>(
        &self,
        seq: &mut A,
        _is_tool: bool,
    ) -> Result<Option<&'de RawValue>, A::Error> {
        seq.next_element::<&'de RawValue>()
    }
}

/// The item arrays of a result, as the reader read their items.
type ListsOf<T> = Vec<Vec<T>>;

/// The `id` and the result's item arrays of every response of a message or
/// batch that has both (read in one pass: an `id` may follow its `result`).
type Found<'t, T> = Vec<(&'t RawValue, ListsOf<T>)>;

struct Responses<'r, 't, R: ItemReader<'t>> {
    found: &'r mut Found<'t, R::Item>,
    reader: &'r R,
}

impl<'de, R: ItemReader<'de>> Visitor<'de> for Responses<'_, 'de, R> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC response or batch")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(found) = seq.next_element_seed(OneResponse(self.reader))? {
            self.found.extend(found);
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.found.extend(OneResponse(self.reader).visit_map(map)?);
        Ok(())
    }
    scalars_give!(());
}

/// One response: its `id` and its result's item arrays (a repeated `id` or
/// `result` is an error).
struct OneResponse<'r, R>(&'r R);

impl<'de, R: ItemReader<'de>> DeserializeSeed<'de> for OneResponse<'_, R> {
    type Value = Option<(&'de RawValue, ListsOf<R::Item>)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, R: ItemReader<'de>> Visitor<'de> for OneResponse<'_, R> {
    type Value = Option<(&'de RawValue, ListsOf<R::Item>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC response")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut id, mut result) = (None, None);
        while let Some(ObjectKey(key)) = map.next_key::<ObjectKey<'de>>()? {
            match &*key {
                "id" if id.is_some() => return Err(twice("id")),
                "result" if result.is_some() => return Err(twice("result")),
                "id" => id = Some(map.next_value::<&'de RawValue>()?),
                "result" => result = Some(map.next_value_seed(Lists(self.0))?),
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
struct Lists<'r, R>(&'r R);

impl<'de, R: ItemReader<'de>> DeserializeSeed<'de> for Lists<'_, R> {
    type Value = ListsOf<R::Item>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, R: ItemReader<'de>> Visitor<'de> for Lists<'_, R> {
    type Value = ListsOf<R::Item>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a listing result")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut lists = Vec::new();
        let mut seen = [false; LIST_KEYS.len()];
        while let Some(ObjectKey(key)) = map.next_key::<ObjectKey<'de>>()? {
            let list = LIST_KEYS.iter().position(|(name, _)| *name == key);
            match list {
                Some(at) if seen[at] => return Err(twice(LIST_KEYS[at].0)),
                Some(at) => {
                    seen[at] = true;
                    let is_tool = LIST_KEYS[at].1;
                    if let Some(items) = map.next_value_seed(Items {
                        reader: self.0,
                        is_tool,
                    })? {
                        lists.push(items);
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

/// A member given twice where the filter reads: JSON parsers disagree on
/// which one a client sees, so the response is refused rather than filtered
/// by a guess.
fn twice<E: serde::de::Error>(member: &str) -> E {
    E::custom(format_args!(
        "the member {member:?} is given twice (clients disagree on which one counts)"
    ))
}

/// An array's items as the reader reads them; `None` for a value that is
/// not an array.
struct Items<'r, R> {
    reader: &'r R,
    is_tool: bool,
}

impl<'de, R: ItemReader<'de>> DeserializeSeed<'de> for Items<'_, R> {
    type Value = Option<Vec<R::Item>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, R: ItemReader<'de>> Visitor<'de> for Items<'_, R> {
    type Value = Option<Vec<R::Item>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = self.reader.next(&mut seq, self.is_tool)? {
            items.push(item);
        }
        Ok(Some(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Not a list here; one that serde_json's `Value` would read as a
        // list (its first key the private token) is refused.
        while map.next_key::<ObjectKey<'de>>()?.is_some() {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(None)
    }
    scalars_give!(None);
}

/// Rewrites the `data:` of every event that holds a listing response with
/// items cut; other events and lines are kept as they are. Lines end in
/// `\n`, `\r\n` or `\r` (the SSE grammar); rewritten events use `\n`, one
/// `data:` line per line of the new text.
fn filter_events(scope: &ListingScope, body: &[u8], second: Second) -> Result<Vec<u8>, String> {
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
        // An event without data, or with empty data (the SDKs' priming
        // event for resumption), holds no message. Data that cannot be read
        // is refused as a JSON body is: it may hold the listing.
        let joined = data.join("\n");
        let rewritten = if joined.trim().is_empty() {
            None
        } else {
            filter_text(scope, &joined, second)
                .map_err(|e| format!("an event whose data is not valid JSON ({e})"))?
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

    /// Reads a JSON array of items as the first pass does for a tool
    /// list, keeping each.
    struct FirstKeys;

    impl<'de> ItemReader<'de> for FirstKeys {
        type Item = Decided<'de>;
        fn next<A: SeqAccess<'de>>(
            &self,
            seq: &mut A,
            _is_tool: bool,
        ) -> Result<Option<Decided<'de>>, A::Error> {
            Ok(seq
                .next_element_seed(Member { key: "name" })?
                .map(|read| Decided {
                    keep: true,
                    first_key: read.first_key,
                }))
        }
    }

    /// The items of the array `text` as the first pass places them, or
    /// `None` when it cannot; checked against serde_json's `RawValue`s.
    fn placed(text: &str) -> Option<Vec<&str>> {
        let items = Items {
            reader: &FirstKeys,
            is_tool: true,
        }
        .deserialize(&mut serde_json::Deserializer::from_str(text))
        .unwrap()
        .unwrap();
        let ranges = item_ranges(text, &items)?;
        let texts: Vec<&str> = ranges.into_iter().map(|r| &text[r]).collect();
        let raw: Vec<&RawValue> = serde_json::from_str(text).unwrap();
        assert_eq!(texts, raw.iter().map(|r| r.get()).collect::<Vec<_>>());
        Some(texts)
    }

    #[test]
    fn items_are_placed_from_their_first_keys_whatever_the_whitespace() {
        assert_eq!(placed("[]"), Some(vec![]));
        assert_eq!(placed(r#"[{"name":"a"}]"#), Some(vec![r#"{"name":"a"}"#]));
        let text = "[ {\"name\":\"a\"} ,\n\t{ \"x\" : [1, {\"y\": \"}\"}], \"name\": \"b\" }\r\n, {\"\":0}\n]";
        assert_eq!(
            placed(text),
            Some(vec![
                r#"{"name":"a"}"#,
                r#"{ "x" : [1, {"y": "}"}], "name": "b" }"#,
                r#"{"":0}"#
            ])
        );
    }

    #[test]
    fn an_item_without_a_borrowed_first_key_is_left_to_the_second_pass() {
        // Its first key written with an escape: serde_json decodes a copy.
        assert_eq!(placed(r#"[{"name":"a"},{"n\u0061me":"b"}]"#), None);
        // A later key with an escape does not matter.
        assert!(placed(r#"[{"name":"a","d\u0065sc":"b"}]"#).is_some());
        assert_eq!(placed(r#"[{"name":"a"},{}]"#), None);
        assert_eq!(placed(r#"[{"name":"a"},"b"]"#), None);
        assert_eq!(placed(r#"[[{"name":"a"}]]"#), None);
    }

    #[test]
    fn kept_items_join_the_items_decided_kept_in_their_order() {
        let text = "[1, {\"a\": 2}, \"x\", 4]";
        let ranges = [1..2, 4..12, 14..17, 19..20];
        let kept = |keep: [bool; 4]| kept_items(text, &ranges, keep);
        assert_eq!(kept([false, true, true, true]), "{\"a\": 2},\"x\",4");
        assert_eq!(kept([true, true, false, true]), "1,{\"a\": 2},4");
        assert_eq!(kept([true, true, true, false]), "1,{\"a\": 2},\"x\"");
        assert_eq!(kept([false, true, true, false]), "{\"a\": 2},\"x\"");
        assert_eq!(kept([false; 4]), "");
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
