//! The access part of the Guard configuration: servers and their tags,
//! 1MCP's `mcpServers`, presets and roles.
//!
//! These are plain serde types; [`AccessPolicy::build`](super::AccessPolicy::build)
//! validates and compiles them once.

use serde::Deserialize;

use crate::error::{ConfigError, from_str, from_value};
use crate::json::UniqueMap;

/// A server in `servers`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The server's tags (normalised when the policy is built).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Tools with tags of their own: calling one needs one of them granted
    /// as well as access to the server.
    #[serde(default)]
    pub tools: UniqueMap<ToolConfig>,
    /// A disabled server is left out of the registry, as in 1MCP.
    #[serde(default)]
    pub disabled: bool,
}

/// A tool in `servers.<name>.tools`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolConfig {
    /// The tool's own tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A server in 1MCP's `mcpServers`: only `tags` and `disabled` are read;
/// every other field (`command`, `args`, `env`, `url`, …) is ignored, so a
/// 1MCP `mcp.json` is accepted unchanged.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct McpServerEntry {
    /// The server's tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// A disabled server is left out of the registry.
    #[serde(default)]
    pub disabled: bool,
}

/// Whether a server without tags is permitted (`untagged_servers`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UntaggedServers {
    /// `"deny"` (default): an untagged server is never permitted.
    #[default]
    Deny,
    /// `"allow"`: an untagged server is permitted to every principal.
    Allow,
}

/// How a server's tags must be granted (`server_match`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerMatch {
    /// `"any"` (default): one granted tag suffices.
    #[default]
    Any,
    /// `"all"`: every tag of the server must be granted.
    All,
}

/// A named filter in `presets`: exactly one of `tag_filter` and `tag_query`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresetConfig {
    /// `{"tag_filter": "web AND (api OR db)"}`.
    TagFilter(String),
    /// `{"tag_query": {"$or": [..]}}`.
    TagQuery(serde_json::Value),
}

/// Everything the access policy is built from.
///
/// When both `servers` and `mcpServers` are given, the registry holds the
/// servers of `servers` then those of `mcpServers`; a name in both is a
/// configuration error at `mcpServers.<name>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessSettings {
    /// `servers`.
    pub servers: UniqueMap<ServerConfig>,
    /// `mcpServers` (1MCP's `mcp.json`).
    pub mcp_servers: UniqueMap<McpServerEntry>,
    /// `untagged_servers`.
    pub untagged_servers: UntaggedServers,
    /// `server_match`.
    pub server_match: ServerMatch,
    /// `presets`.
    pub presets: UniqueMap<PresetConfig>,
    /// `roles`: each role's name and its `scopes` string, in configuration order.
    pub roles: Vec<(String, String)>,
}

/// The access keys of a Guard configuration document; other keys are
/// ignored here (the Guard refuses unknown ones).
#[derive(Deserialize)]
struct AccessKeys {
    #[serde(default)]
    servers: UniqueMap<ServerConfig>,
    #[serde(default, rename = "mcpServers")]
    mcp_servers: UniqueMap<McpServerEntry>,
    #[serde(default)]
    untagged_servers: UntaggedServers,
    #[serde(default)]
    server_match: ServerMatch,
    #[serde(default)]
    presets: UniqueMap<PresetConfig>,
    #[serde(default)]
    roles: UniqueMap<RoleKeys>,
}

/// A role as far as access is concerned; `rate_limit` belongs to the rate
/// limiter.
#[derive(Deserialize)]
struct RoleKeys {
    #[serde(default)]
    scopes: String,
}

impl From<AccessKeys> for AccessSettings {
    fn from(keys: AccessKeys) -> AccessSettings {
        AccessSettings {
            servers: keys.servers,
            mcp_servers: keys.mcp_servers,
            untagged_servers: keys.untagged_servers,
            server_match: keys.server_match,
            presets: keys.presets,
            roles: keys
                .roles
                .0
                .into_iter()
                .map(|(name, role)| (name, role.scopes))
                .collect(),
        }
    }
}

impl AccessSettings {
    /// Reads the access keys (`servers`, `mcpServers`, `untagged_servers`,
    /// `server_match`, `presets`, `roles.<name>.scopes`) from the text of a
    /// whole Guard configuration, in document order. Other keys, including
    /// a role's other keys (`rate_limit`), are left to their owners: this
    /// does not refuse them. Errors name the JSON path.
    pub fn from_config_str(document: &str) -> Result<AccessSettings, ConfigError> {
        from_str::<AccessKeys>(document).map(AccessSettings::from)
    }

    /// As [`AccessSettings::from_config_str`], from a parsed document.
    /// `serde_json::Value` keeps object keys sorted (unless serde_json's
    /// `preserve_order` feature is on), so server order, and with it the
    /// order of visible servers and of `all_tags`, is then alphabetical;
    /// parse from text to keep document order.
    pub fn from_config(document: &serde_json::Value) -> Result<AccessSettings, ConfigError> {
        from_value::<AccessKeys>(document).map(AccessSettings::from)
    }
}
