//! Filtering MCP listings (`tools/list`, `resources/list`,
//! `resources/templates/list`, `prompts/list` results) down to the servers
//! a principal sees.
//!
//! The host says how an item maps to its server: by a name prefix and a
//! separator (1MCP names aggregated items `<server>_1mcp_<name>`), or by a
//! field that holds the server's name. Items that map to no registered
//! server are dropped (fail closed): an item the policy cannot place is
//! never shown. Everything else in the result (`nextCursor`, `_meta`) is
//! kept as it is.

use serde_json::Value;

use super::filter::Filter;
use super::policy::{AccessPolicy, Granted};

/// The separator 1MCP puts between a server's name and an item's name.
pub const ONE_MCP_SEPARATOR: &str = "_1mcp_";

/// The lists a listing result may hold.
const LIST_KEYS: [&str; 4] = ["tools", "resources", "resourceTemplates", "prompts"];

/// How a listed item maps to its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemServer {
    /// The string at `field` (a top-level key, e.g. `name` or `uri`) is
    /// `<server><separator><rest>`. The server is the first prefix before
    /// an occurrence of the separator that names a registered server.
    Prefix {
        /// The item's key holding the prefixed name.
        field: String,
        /// The separator, e.g. [`ONE_MCP_SEPARATOR`].
        separator: String,
    },
    /// The string at this JSON pointer (RFC 6901, e.g. `/_meta/server`)
    /// is the server's name.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingItems {
    /// Every item belongs to this one server (a host that serves one MCP server).
    Server(String),
    /// Items name their server (1MCP's aggregated `<server>_1mcp_<name>`, or a field).
    Mapped(ItemServer),
}

impl AccessPolicy {
    /// `result` (a JSON-RPC `result` of `tools/list`, `prompts/list`,
    /// `resources/list` or `resources/templates/list`) with only the items
    /// [`decide`](AccessPolicy::decide) would allow a call of: a tool needs
    /// its server visible and its own tags granted, any other item its
    /// server visible. Items that map to no registered server are dropped.
    /// A result that is not an object is returned unchanged.
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
        let mut out = serde_json::Map::with_capacity(object.len());
        for (key, value) in object {
            let kept = match value {
                Value::Array(list) if LIST_KEYS.contains(&key.as_str()) => {
                    let tools = key == "tools";
                    Value::Array(
                        list.iter()
                            .filter(|item| self.item_allowed(item, tools, granted, filter, items))
                            .cloned()
                            .collect(),
                    )
                }
                other => other.clone(),
            };
            out.insert(key.clone(), kept);
        }
        Value::Object(out)
    }

    fn item_allowed(
        &self,
        item: &Value,
        tool: bool,
        granted: &Granted,
        filter: Option<&Filter>,
        items: &ListingItems,
    ) -> bool {
        let allowed = |server: &str, name: &str| {
            self.decide(granted, filter, Some(server), tool.then_some(name))
                .is_ok()
        };
        match items {
            ListingItems::Server(server) => {
                let name = item.get("name").and_then(Value::as_str).unwrap_or("");
                allowed(server, name)
            }
            ListingItems::Mapped(by) => match self.item_server(item, by) {
                Some(server) => {
                    let name = match by {
                        ItemServer::Prefix { field, separator } => item
                            .get(field)
                            .and_then(Value::as_str)
                            .and_then(|n| n.get(server.len() + separator.len()..))
                            .unwrap_or(""),
                        ItemServer::Field(_) => {
                            item.get("name").and_then(Value::as_str).unwrap_or("")
                        }
                    };
                    allowed(server, name)
                }
                None => false,
            },
        }
    }

    /// The registered server an item belongs to.
    fn item_server<'v>(&self, item: &'v Value, by: &ItemServer) -> Option<&'v str> {
        match by {
            ItemServer::Prefix { field, separator } => {
                let name = item.get(field)?.as_str()?;
                self.server_of_prefixed(name, separator)
            }
            ItemServer::Field(pointer) => {
                let name = item.pointer(pointer)?.as_str()?;
                self.has_server(name).then_some(name)
            }
        }
    }
}
