//! Filtering MCP listings (`tools/list`, `prompts/list`, `resources/list`,
//! `resources/templates/list` results) down to what a principal may call.
//!
//! A listing shows exactly what [`AccessPolicy::decide`] would allow: an
//! item of `tools` is kept iff `decide(granted, filter, Some(server),
//! Some(tool))` is `Ok` (so a tool with tags of its own needs one of them
//! granted, not only its server); an item of `prompts`, `resources` or
//! `resourceTemplates` is kept iff `decide(granted, filter, Some(server),
//! None)` is `Ok`. A filter that mentions an ungranted tag refuses every
//! call, so every list comes back empty.
//!
//! The host says which server an item belongs to ([`ListingItems`]): one
//! server for the whole listing, a name prefix and a separator (1MCP names
//! aggregated items `<server>_1mcp_<name>`), or a field that holds the
//! server's name. Items that map to no registered server are dropped (fail
//! closed): an item the policy cannot place is never shown.
//!
//! # Ambiguous prefixes
//! With servers `web` and `web_1mcp_admin`, the item
//! `web_1mcp_admin_1mcp_x` reads both as tool `admin_1mcp_x` of `web` and
//! as tool `x` of `web_1mcp_admin`. Which one the host's router picks is
//! not the policy's to know, so such an item is kept only if *every*
//! reading is allowed: a client granted only `web` does not see it.
//!
//! Everything else in the result (`nextCursor`, `_meta`, a list member
//! that is not an array) is kept as it is; a result that is not an object
//! is returned unchanged.
//!
//! # Cost
//! The filter check and the visible servers are computed once per listing;
//! each item then costs a hash lookup or two and no allocation beyond the
//! copy of the items kept.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::filter::Filter;
use super::policy::{AccessPolicy, Granted, Refusal};
use crate::json::{MaybeStr, ObjectKey, scalars_give};

/// The separator 1MCP puts between a server's name and an item's name.
pub const ONE_MCP_SEPARATOR: &str = "_1mcp_";

/// The lists a listing result may hold, and whether their items are tools.
const LISTS: [(&str, bool); 4] = [
    ("tools", true),
    ("prompts", false),
    ("resources", false),
    ("resourceTemplates", false),
];

/// How a listed item names its server, in an aggregated listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemServer {
    /// The string at `field` (a top-level key, e.g. `name` or `uri`) is
    /// `<server><separator><rest>`; for a tool, `<rest>` is the tool's
    /// name on that server. Every prefix before an occurrence of the
    /// separator that names a registered server is a reading of the item
    /// (see the module doc for more than one).
    Prefix {
        /// The item's key holding the prefixed name.
        field: String,
        /// The separator, e.g. [`ONE_MCP_SEPARATOR`].
        separator: String,
    },
    /// The string at this JSON pointer (RFC 6901, e.g. `/_meta/server`)
    /// is the server's name; a tool's name is its `name`.
    Field(String),
}

impl ItemServer {
    /// 1MCP's naming: `name` is `<server>_1mcp_<name>` (tools and prompts).
    pub fn one_mcp() -> ItemServer {
        ItemServer::Prefix {
            field: "name".to_string(),
            separator: ONE_MCP_SEPARATOR.to_string(),
        }
    }
}

/// Which server the items of a listing belong to.
///
/// ```
/// use mcpguard::access::{ItemServer, ListingItems};
/// // A host that serves one MCP server, registered as `web`:
/// let single = ListingItems::Server("web".into());
/// // 1MCP's aggregated listings:
/// let aggregated = ListingItems::Mapped(ItemServer::one_mcp());
/// # let _ = (single, aggregated);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingItems {
    /// Every item belongs to this one server (a host that serves one MCP server).
    Server(String),
    /// Items name their server (1MCP's aggregated `<server>_1mcp_<name>`, or a field).
    Mapped(ItemServer),
}

/// What a listing's items are checked against, computed once per listing.
/// The listing decision for one principal and filter, made once per
/// listing and applied to every item.
pub(crate) struct Checker<'a> {
    policy: &'a AccessPolicy,
    granted: &'a Granted,
    /// Indices of the visible servers, ascending; `None` when the filter
    /// mentions an ungranted tag (every call is refused).
    visible: Option<Vec<usize>>,
    /// The last server name looked up and its index (`None`: not
    /// registered): a listing's items mostly name one server, which is
    /// then hashed once per listing, not once per item.
    last_server: std::cell::RefCell<Option<(Box<str>, Option<usize>)>>,
}

impl Checker<'_> {
    /// Whether `decide` allows calling `tool` (or, with `None`, anything)
    /// on `server`. `None` when `server` is not registered.
    fn allows(&self, server: &str, tool: Option<&str>) -> Option<bool> {
        let visible = self.visible.as_deref()?;
        let visible = |i: usize| visible.binary_search(&i).is_ok();
        let index = self.server_index(server);
        match self
            .policy
            .check_call_at(index, visible, self.granted, tool)
        {
            Ok(()) => Some(true),
            Err(Refusal::Server(None)) => None,
            Err(Refusal::Server(Some(_)) | Refusal::Tool(_)) => Some(false),
        }
    }

    /// The index of the server called `name`, remembered for the next item.
    fn server_index(&self, name: &str) -> Option<usize> {
        let mut last = self.last_server.borrow_mut();
        match &*last {
            Some((known, index)) if **known == *name => *index,
            _ => {
                let index = self.policy.server_index(name);
                *last = Some((name.into(), index));
                index
            }
        }
    }

    /// Whether every reading of `name` as `<server><separator><rest>` is
    /// allowed, and there is at least one.
    fn allows_prefixed(&self, name: &str, separator: &str, is_tool: bool) -> bool {
        if separator.is_empty() {
            return false;
        }
        let mut readings = 0usize;
        let mut from = 0;
        while let Some(offset) = name.get(from..).and_then(|rest| rest.find(separator)) {
            let at = from + offset;
            let server = &name[..at];
            let rest = &name[at + separator.len()..];
            match self.allows(server, is_tool.then_some(rest)) {
                Some(true) => readings += 1,
                Some(false) => return false,
                None => {}
            }
            // Occurrences may overlap (`a_1mcp_1mcp_b`): look again one
            // character on.
            from = at + name[at..].chars().next().map_or(1, char::len_utf8);
        }
        readings > 0
    }

    /// What of an item the decision for a list of `items` reads: nothing,
    /// one string member, or the whole item (one mapped by a JSON pointer).
    pub(crate) fn needs<'i>(items: &'i ListingItems, is_tool: bool) -> ItemNeed<'i> {
        match items {
            ListingItems::Server(_) if is_tool => ItemNeed::Member("name"),
            ListingItems::Server(_) => ItemNeed::Nothing,
            ListingItems::Mapped(ItemServer::Prefix { field, .. }) => ItemNeed::Member(field),
            ListingItems::Mapped(ItemServer::Field(_)) => ItemNeed::Whole,
        }
    }

    /// [`keeps`](Self::keeps) for an item of which only what
    /// [`needs`](Self::needs) names was read: `member` is that string
    /// member (`None` when the item has none, or when nothing was needed).
    /// Not for items that need to be read whole.
    pub(crate) fn keeps_member(
        &self,
        member: Option<&str>,
        items: &ListingItems,
        is_tool: bool,
    ) -> bool {
        match items {
            ListingItems::Server(server) => {
                if is_tool {
                    member.is_some_and(|tool| self.allows(server, Some(tool)) == Some(true))
                } else {
                    self.allows(server, None) == Some(true)
                }
            }
            ListingItems::Mapped(ItemServer::Prefix { separator, .. }) => {
                member.is_some_and(|name| self.allows_prefixed(name, separator, is_tool))
            }
            ListingItems::Mapped(ItemServer::Field(_)) => false,
        }
    }

    pub(crate) fn keeps(&self, item: &Value, items: &ListingItems, is_tool: bool) -> bool {
        let tool_name = || item.get("name").and_then(Value::as_str);
        match items {
            ListingItems::Server(server) => {
                if is_tool {
                    tool_name().is_some_and(|tool| self.allows(server, Some(tool)) == Some(true))
                } else {
                    self.allows(server, None) == Some(true)
                }
            }
            ListingItems::Mapped(ItemServer::Prefix { field, separator }) => item
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|name| self.allows_prefixed(name, separator, is_tool)),
            ListingItems::Mapped(ItemServer::Field(pointer)) => {
                let Some(server) = item.pointer(pointer).and_then(Value::as_str) else {
                    return false;
                };
                if is_tool {
                    tool_name().is_some_and(|tool| self.allows(server, Some(tool)) == Some(true))
                } else {
                    self.allows(server, None) == Some(true)
                }
            }
        }
    }
}

impl AccessPolicy {
    /// `result` (a JSON-RPC `result` of tools/list, prompts/list, resources/list or
    /// resources/templates/list) with only the items `decide` would allow a call of.
    ///
    /// An item of `tools` is kept iff `self.decide(granted, filter,
    /// Some(server), Some(tool))` is `Ok`, where `tool` is the item's `name`
    /// ([`ListingItems::Server`], [`ItemServer::Field`]) or the remainder
    /// after `<server><separator>` ([`ItemServer::Prefix`]); items of
    /// `prompts`, `resources` and `resourceTemplates` are kept iff
    /// `decide(granted, filter, Some(server), None)` is `Ok`. An item that
    /// maps to no registered server is dropped. A name that more than one
    /// registered server prefixes is kept only if every reading is allowed,
    /// whichever the host's router would pick: with servers `web` and
    /// `web_1mcp_admin`, `web_1mcp_admin_1mcp_x` is listed only for a client
    /// that may call both `admin_1mcp_x` on `web` and `x` on
    /// `web_1mcp_admin`. Other members (`nextCursor`, `_meta`) are kept as
    /// they are; a result that is not an object is returned unchanged. The
    /// filter check and the visible servers are computed once per call;
    /// each item costs a lookup or two and no allocation beyond the copy of
    /// the items kept.
    ///
    /// ```
    /// use mcpguard::access::{AccessPolicy, AccessSettings, ItemServer, ListingItems};
    /// use serde_json::json;
    ///
    /// let settings = AccessSettings::from_config(&json!({"servers": {
    ///     "web": {"tags": ["web"], "tools": {"admin": {"tags": ["web-admin"]}}},
    ///     "files": {"tags": ["files"]}
    /// }})).unwrap();
    /// let policy = AccessPolicy::build(&settings).unwrap();
    /// let granted = policy.granted(&["web"]);
    /// let result = json!({"tools": [
    ///     {"name": "web_1mcp_fetch"}, {"name": "web_1mcp_admin"}, {"name": "files_1mcp_read"}
    /// ], "nextCursor": "2"});
    /// let items = ListingItems::Mapped(ItemServer::one_mcp());
    /// assert_eq!(
    ///     policy.filter_listing(&result, &granted, None, &items),
    ///     json!({"tools": [{"name": "web_1mcp_fetch"}], "nextCursor": "2"})
    /// );
    /// ```
    pub fn filter_listing(
        &self,
        result: &Value,
        granted: &Granted,
        filter: Option<&Filter>,
        items: &ListingItems,
    ) -> Value {
        let Value::Object(object) = result else {
            return result.clone();
        };
        let checker = self.checker(granted, filter);
        let mut out = Map::with_capacity(object.len());
        for (key, value) in object {
            let list = LISTS.iter().find(|(name, _)| *name == key.as_str());
            let kept = match (value, list) {
                (Value::Array(entries), Some(&(_, is_tool))) => Value::Array(
                    entries
                        .iter()
                        .filter(|item| checker.keeps(item, items, is_tool))
                        .cloned()
                        .collect(),
                ),
                (other, _) => other.clone(),
            };
            out.insert(key.clone(), kept);
        }
        Value::Object(out)
    }

    /// As [`filter_listing`](Self::filter_listing), in place: the items
    /// refused are removed from `result`'s lists (and dropped) and nothing
    /// is copied. For a host that owns the parsed response anyway this saves
    /// the copy of every kept item (a tool's `inputSchema` included) that
    /// `filter_listing` makes.
    ///
    /// ```
    /// use mcpguard::access::{AccessPolicy, AccessSettings, Granted, ListingItems};
    /// use serde_json::json;
    ///
    /// let settings = AccessSettings::from_config(&json!({"servers": {"web": {"tags": ["web"]}}})).unwrap();
    /// let policy = AccessPolicy::build(&settings).unwrap();
    /// let mut result = json!({"tools": [{"name": "fetch"}]});
    /// let items = ListingItems::Server("web".into());
    /// policy.filter_listing_in_place(&mut result, &policy.granted(&["files"]), None, &items);
    /// assert_eq!(result, json!({"tools": []}));
    /// ```
    pub fn filter_listing_in_place(
        &self,
        result: &mut Value,
        granted: &Granted,
        filter: Option<&Filter>,
        items: &ListingItems,
    ) {
        let Value::Object(object) = result else {
            return;
        };
        let checker = self.checker(granted, filter);
        for (key, value) in object.iter_mut() {
            let list = LISTS.iter().find(|(name, _)| *name == key.as_str());
            if let (Value::Array(entries), Some(&(_, is_tool))) = (value, list) {
                entries.retain(|item| checker.keeps(item, items, is_tool));
            }
        }
    }

    /// The filter check and the visible servers, once per listing.
    pub(crate) fn checker<'a>(
        &'a self,
        granted: &'a Granted,
        filter: Option<&Filter>,
    ) -> Checker<'a> {
        Checker {
            policy: self,
            granted,
            visible: self
                .check_filter_granted(granted, filter)
                .is_ok()
                .then(|| self.visible_indices(granted, filter)),
            last_server: std::cell::RefCell::new(None),
        }
    }
}

/// What of a listing item the decision reads (see [`Checker::needs`]).
pub(crate) enum ItemNeed<'i> {
    /// Nothing: every item of the list is decided alike.
    Nothing,
    /// This string member.
    Member(&'i str),
    /// The whole item, built as a `Value` (strictly: a repeated key is an
    /// error).
    Whole,
}

/// Reads the string member `key` of an object, skipping the rest: its
/// value is `None` when the value is not an object, has no such member or
/// it is not a string; an error when the object gives `key` twice.
pub(crate) struct Member<'k> {
    /// The member's name.
    pub(crate) key: &'k str,
}

/// What [`Member`] read of an item.
pub(crate) struct MemberRead<'de> {
    /// The member's string value, if the item is an object that has one.
    pub(crate) value: Option<Cow<'de, str>>,
    /// The item's first key as serde_json borrowed it from the text (one
    /// written without escapes), so a caller can find where the item
    /// starts; `None` when the item is not an object, is empty, or its
    /// first key was decoded into a copy.
    pub(crate) first_key: Option<&'de str>,
}

impl<'de> DeserializeSeed<'de> for Member<'_> {
    type Value = MemberRead<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Member<'_> {
    type Value = MemberRead<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a listing item")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut value, mut seen) = (None, false);
        let mut first_key = None;
        let mut first = true;
        while let Some(ObjectKey(key)) = map.next_key::<ObjectKey<'de>>()? {
            if std::mem::take(&mut first)
                && let Cow::Borrowed(text) = key
            {
                first_key = Some(text);
            }
            if key == self.key {
                if seen {
                    return Err(serde::de::Error::custom(format_args!(
                        "an item gives its {:?} twice (clients disagree on which one counts)",
                        self.key
                    )));
                }
                seen = true;
                value = map.next_value::<MaybeStr<'de>>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(MemberRead { value, first_key })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(MemberRead::NONE)
    }
    scalars_give!(MemberRead::NONE);
}

impl MemberRead<'_> {
    /// An item that is not an object.
    const NONE: Self = MemberRead {
        value: None,
        first_key: None,
    };
}
