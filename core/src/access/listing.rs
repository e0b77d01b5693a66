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

use super::policy::AccessPolicy;

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

impl AccessPolicy {
    /// `result` with only the items of `visible` servers in its `tools`,
    /// `resources`, `resourceTemplates` and `prompts` arrays. Items that map
    /// to no registered server, or to one not in `visible`, are dropped.
    /// A result that is not an object is returned unchanged (it lists
    /// nothing).
    pub fn filter_listing<S: AsRef<str>>(
        &self,
        result: &Value,
        visible: &[S],
        by: &ItemServer,
    ) -> Value {
        let Value::Object(object) = result else {
            return result.clone();
        };
        let mut out = serde_json::Map::with_capacity(object.len());
        for (key, value) in object {
            let kept = match value {
                Value::Array(items) if LIST_KEYS.contains(&key.as_str()) => Value::Array(
                    items
                        .iter()
                        .filter(|item| {
                            self.item_server(item, by)
                                .is_some_and(|s| visible.iter().any(|v| v.as_ref() == s))
                        })
                        .cloned()
                        .collect(),
                ),
                other => other.clone(),
            };
            out.insert(key.clone(), kept);
        }
        Value::Object(out)
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
