//! The Guard's configuration document (`docs/config.md`): one JSON object
//! holding the token, access and rate-limit settings.
//!
//! Unknown keys are refused with their JSON path, so a typo never silently
//! disables a protection. Environment overrides are applied only on request
//! ([`GuardConfig::apply_env`]); plain `from_json` never reads the
//! environment.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::access::{McpServerEntry, PresetConfig, ServerConfig, ServerMatch, UntaggedServers};
use crate::error::{self, ConfigError};
use crate::json::UniqueMap;
use crate::oauth::AuthorizationServerConfig;
use crate::ratelimit::{LimitSpec, RateLimitConfig};
use crate::shared::StoreConfig;
use crate::token::AuthConfig;

/// The whole configuration document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    /// This MCP server's canonical URI (RFC 8707); every issuer's default audience.
    pub resource: String,
    /// Where the RFC 9728 metadata document is served; defaults to
    /// `<scheme>://<host>/.well-known/oauth-protected-resource<path of resource>`.
    #[serde(default)]
    pub resource_metadata_url: Option<String>,
    /// Authorization servers listed in the metadata document; defaults to the
    /// configured issuers.
    #[serde(default)]
    pub authorization_servers: Option<Vec<String>>,
    /// Token validation.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Servers and their tags.
    #[serde(default)]
    pub servers: UniqueMap<ServerConfig>,
    /// 1MCP's `mcp.json` server list, accepted unchanged (only `tags` and
    /// `disabled` are read).
    #[serde(default, rename = "mcpServers")]
    pub mcp_servers: UniqueMap<McpServerEntry>,
    /// Whether untagged servers are visible to every principal.
    #[serde(default)]
    pub untagged_servers: UntaggedServers,
    /// Whether one granted tag suffices for a server (`any`) or all are needed.
    #[serde(default)]
    pub server_match: ServerMatch,
    /// Named filters a client may ask for.
    #[serde(default)]
    pub presets: UniqueMap<PresetConfig>,
    /// Roles that grant scopes (and may change the rate limit).
    #[serde(default)]
    pub roles: UniqueMap<RoleConfig>,
    /// Rate limiting.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// A store shared by replicas (rate limits, revocations, opaque tokens).
    #[serde(default)]
    pub store: StoreConfig,
    /// The embedded authorization server, if this Guard runs one
    /// ([`crate::oauth`]); its issuer is trusted with its own keys.
    #[serde(default)]
    pub authorization_server: Option<AuthorizationServerConfig>,
    /// Where the document came from, for resolving relative `jwks_file`
    /// paths; set by [`GuardConfig::from_file`].
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// A role: scopes it grants and an optional rate limit replacing the default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// Space-separated scopes, e.g. `"tag:web tag:database"`.
    #[serde(default)]
    pub scopes: String,
    /// A rate limit that replaces the default for principals with this role.
    #[serde(default)]
    pub rate_limit: Option<LimitSpec>,
}

impl GuardConfig {
    /// Reads a configuration document from JSON text.
    pub fn from_json(text: &str) -> Result<GuardConfig, ConfigError> {
        error::from_str(text)
    }

    /// Reads a configuration document from a file; relative `jwks_file`
    /// paths resolve against the file's folder. Does not apply the
    /// environment (see [`GuardConfig::apply_env`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<GuardConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new("", format_args!("cannot read {}: {e}", path.display()))
        })?;
        let mut config = Self::from_json(&text)?;
        config.base_dir = path.parent().map(Path::to_path_buf);
        Ok(config)
    }

    /// Applies the environment overrides of `config.md`
    /// (`ONE_MCP_RATE_LIMIT_WINDOW` in minutes, `ONE_MCP_RATE_LIMIT_MAX`,
    /// `MCPGUARD_RATE_LIMIT_WINDOW_SECONDS`, `MCPGUARD_RATE_LIMIT_MAX`,
    /// `MCPGUARD_REDIS_URL`),
    /// reading variables through `lookup` (pass `|k| std::env::var(k).ok()`).
    /// A malformed value is an error, never a silent default.
    pub fn apply_env(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        self.rate_limit
            .apply_env(lookup)
            .map_err(|e| e.within("rate_limit"))?;
        self.store.apply_env(lookup);
        Ok(())
    }
}
