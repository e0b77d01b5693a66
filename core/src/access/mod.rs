//! Tag-based access control, 1MCP's model: `tag:<name>` scopes grant tags,
//! servers (and tools) carry tags, and a client may narrow what it sees
//! with a filter (`tags`, `tag_filter`, `tag_query` or a `preset`).
//!
//! It decides which servers a principal sees and may call, the 403
//! descriptions when it may not, and which scopes would grant a refused
//! server. It leaves to the host: authenticating the request (the token
//! engine), turning a refusal into a status and headers (the Guard and
//! [`Reason`](crate::Reason)), URL-decoding query parameters, and
//! forwarding calls to servers.
//!
//! The rules are `docs/access.md`; where they differ from 1MCP the items
//! below say so.

mod config;
mod expression;
mod filter;
mod listing;
mod local_names;
mod policy;
mod query;
mod scope;
mod tag;

pub use config::{
    AccessSettings, McpServerEntry, PresetConfig, ServerConfig, ServerMatch, ToolConfig,
    UntaggedServers,
};
pub use filter::{
    Filter, FilterError, MAX_DEPTH, MAX_EXPRESSION_BYTES, MAX_MENTIONS, MAX_SIMPLE_TAGS,
};
pub(crate) use listing::{Checker, ItemNeed, Member};
pub use listing::{ItemServer, ListingItems, ONE_MCP_SEPARATOR};
pub use policy::{Access, AccessPolicy, Denial, FilterRequest, Grant, Granted, GrantedTags};
pub use scope::{
    MAX_REQUESTED_SCOPES, ScopeKind, TAG_SCOPE_PREFIX, classify_scope, scopes_to_tags,
    tags_to_scopes, validate_scopes,
};
pub use tag::{MAX_TAG_LEN, TagError, TagSource, normalize_tag};
