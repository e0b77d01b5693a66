//! The access policy: the server registry, presets and roles compiled once
//! from configuration, and the decisions made from them for each request.
//!
//! It decides which servers a principal may see and call, given its
//! granted tags and an optional filter. Authentication, the HTTP status and
//! headers, and the audit event are the host's (the Guard's).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::config::{AccessSettings, PresetConfig, ServerMatch, UntaggedServers};
use super::filter::{Filter, FilterError};
use super::scope::{ScopeKind, TAG_SCOPE_PREFIX, classify_scope};
use super::tag::{TagSource, normalize_tag};
use crate::error::{ConfigError, join_path};
use crate::reason::Reason;

/// Index of a tag in the policy's registry.
type TagId = u32;

/// The maps a decision reads by name (servers, tools, tags, presets,
/// roles): keyed by the configuration's names, looked up by names from
/// requests. foldhash, seeded per process, instead of std's SipHash: a
/// request can only look names up, never add one, so the keyed SipHash's
/// flooding defence buys nothing here, and these lookups are on every
/// decision and every listed item.
type Names<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The compiled access configuration. Immutable; share it behind an `Arc`.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    /// Distinct per compiled policy (clones share it: they are equal), so
    /// a filter can remember which of this policy's servers it matches.
    id: u64,
    /// Tag names by id, in first-seen order over servers and their tools.
    tags: Vec<Box<str>>,
    tag_ids: Names<Box<str>, TagId>,
    servers: Vec<Server>,
    server_ids: Names<Arc<str>, usize>,
    untagged: UntaggedServers,
    server_match: ServerMatch,
    presets: Names<String, Arc<Filter>>,
    roles: Names<String, Role>,
}

#[derive(Debug, Clone)]
struct Server {
    name: Arc<str>,
    /// Distinct tag ids, in configuration order.
    tags: Box<[TagId]>,
    /// Tools with tags of their own.
    tools: Names<Box<str>, Box<[TagId]>>,
}

#[derive(Debug, Clone, Default)]
struct Role {
    /// Normalised tags from the role's `tag:` scopes, first-seen order.
    tags: Vec<String>,
    /// Every scope of the role (tag scopes normalised), in order.
    scopes: Vec<String>,
}

/// What a token's scopes and roles grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// Granted tags: the token's tag scopes in token order, then those of
    /// its roles in the token's role order, without repeats.
    pub tags: Vec<String>,
    /// The token's `tag:` scopes that name no valid tag. They grant nothing
    /// and the token stays valid; the Guard reports them in its audit event.
    pub rejected_scopes: Vec<String>,
}

/// The tags a principal holds, ready for decisions. Build it with
/// [`AccessPolicy::granted`] (it is tied to that policy) or use
/// [`Granted::All`] for an anonymous principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Granted {
    /// Every tag (an anonymous request when `auth.required` is false).
    All,
    /// These tags only.
    Tags(GrantedTags),
}

/// A principal's tags: their names in token order (for messages and for
/// tags the registry does not know) and a bit set over the policy's tag ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedTags {
    names: Vec<String>,
    bits: Vec<u64>,
}

impl GrantedTags {
    /// The granted tags, in the order given.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl Granted {
    #[inline]
    fn has_id(&self, id: TagId) -> bool {
        match self {
            Granted::All => true,
            Granted::Tags(t) => {
                let id = id as usize;
                t.bits
                    .get(id / 64)
                    .is_some_and(|w| w & (1u64 << (id % 64)) != 0)
            }
        }
    }

    fn has_name(&self, tag: &str) -> bool {
        match self {
            Granted::All => true,
            Granted::Tags(t) => t.names.iter().any(|n| n == tag),
        }
    }
}

/// The filter a request asks for, in the syntax it used.
#[derive(Debug, Clone, Copy)]
pub enum FilterRequest<'a> {
    /// `tags`: a comma list meaning OR.
    Tags(&'a str),
    /// `tag_filter`: an advanced expression.
    TagFilter(&'a str),
    /// `tag_query`: a JSON tag query.
    TagQuery(&'a Value),
    /// `preset`: a configured preset's name.
    Preset(&'a str),
}

/// A request may go ahead: the servers the principal sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Visible servers, in configuration order.
    pub visible_servers: Vec<Arc<str>>,
}

impl Access {
    /// The visible servers' names as owned strings.
    pub fn server_names(&self) -> Vec<String> {
        self.visible_servers.iter().map(|s| s.to_string()).collect()
    }
}

/// A request was refused (403 `insufficient_scope`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{description}")]
pub struct Denial {
    /// Always [`Reason::InsufficientScope`].
    pub reason: Reason,
    /// What the client is told. It never says whether an unlisted server exists.
    pub description: String,
    /// The `tag:` scopes that would grant what was refused, for the audit
    /// event and the host, not for the client: for a filter, its ungranted
    /// tags; for a known server, its tags; for a tool, its tags; for an
    /// unknown server, none.
    pub missing_scopes: Vec<String>,
}

fn to_scopes<'a>(tags: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    tags.into_iter()
        .map(|t| format!("{TAG_SCOPE_PREFIX}{t}"))
        .collect()
}

/// Why [`AccessPolicy::check_call`] refused, before any text is built.
pub(crate) enum Refusal<'p> {
    /// The server is not visible; its index when it is registered.
    Server(Option<usize>),
    /// The tool has tags of its own and none is granted.
    Tool(&'p [TagId]),
}

/// Interning while the policy is built.
#[derive(Default)]
struct TagTable {
    names: Vec<Box<str>>,
    ids: Names<Box<str>, TagId>,
}

impl TagTable {
    fn intern(&mut self, tag: String) -> TagId {
        if let Some(id) = self.ids.get(tag.as_str()) {
            return *id;
        }
        // More than u32::MAX distinct tags cannot come from a configuration
        // that fits in memory.
        let id = TagId::try_from(self.names.len()).unwrap_or(TagId::MAX);
        self.names.push(tag.clone().into_boxed_str());
        self.ids.insert(tag.into_boxed_str(), id);
        id
    }

    /// Validates and interns `tags` (config path `path`), without repeats.
    fn intern_all(
        &mut self,
        tags: &[String],
        path: &str,
        origin: impl Fn() -> TagSource,
    ) -> Result<Box<[TagId]>, ConfigError> {
        let mut ids: Vec<TagId> = Vec::with_capacity(tags.len());
        for (i, raw) in tags.iter().enumerate() {
            let tag = normalize_tag(raw, origin())
                .map_err(|e| ConfigError::new(join_path(path, &format!("[{i}]")), e))?;
            let id = self.intern(tag);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids.into_boxed_slice())
    }
}

impl AccessPolicy {
    /// Validates and compiles the access configuration. Errors name the
    /// JSON path of the offending value (`servers.filesystem.tags[1]`,
    /// `presets.dev.tag_filter`, `roles.analyst.scopes`).
    pub fn build(settings: &AccessSettings) -> Result<AccessPolicy, ConfigError> {
        let mut table = TagTable::default();
        let mut servers: Vec<Server> = Vec::new();
        let mut server_ids: Names<Arc<str>, usize> = Names::default();

        for (name, config) in settings.servers.iter() {
            if config.disabled {
                continue;
            }
            let path = join_path("servers", name);
            let tags = table.intern_all(&config.tags, &join_path(&path, "tags"), || {
                TagSource::Server { name: name.into() }
            })?;
            let mut tools = Names::default();
            for (tool, tool_config) in config.tools.iter() {
                let tool_path = join_path(&join_path(&path, "tools"), tool);
                let ids =
                    table.intern_all(&tool_config.tags, &join_path(&tool_path, "tags"), || {
                        TagSource::Tool {
                            server: name.into(),
                            tool: tool.into(),
                        }
                    })?;
                if !ids.is_empty() {
                    tools.insert(Box::from(tool), ids);
                }
            }
            let name: Arc<str> = Arc::from(name);
            server_ids.insert(name.clone(), servers.len());
            servers.push(Server { name, tags, tools });
        }
        for (name, entry) in settings.mcp_servers.iter() {
            let path = join_path("mcpServers", name);
            if settings.servers.get(name).is_some() {
                return Err(ConfigError::new(
                    path,
                    format!("server '{name}' is also configured under servers"),
                ));
            }
            if entry.disabled {
                continue;
            }
            let tags = table.intern_all(&entry.tags, &join_path(&path, "tags"), || {
                TagSource::Server { name: name.into() }
            })?;
            let name: Arc<str> = Arc::from(name);
            server_ids.insert(name.clone(), servers.len());
            servers.push(Server {
                name,
                tags,
                tools: Names::default(),
            });
        }

        let mut presets = Names::default();
        for (name, preset) in settings.presets.iter() {
            let path = join_path("presets", name);
            let filter = match preset {
                PresetConfig::TagFilter(expression) => Filter::parse_expression(expression)
                    .map_err(|e| ConfigError::new(join_path(&path, "tag_filter"), e))?,
                PresetConfig::TagQuery(query) => {
                    Filter::from_query(query).map_err(|e| match e {
                        FilterError::InvalidQuery {
                            path: inner,
                            message,
                        } => ConfigError::new(
                            join_path(&join_path(&path, "tag_query"), &inner),
                            message,
                        ),
                        other => ConfigError::new(join_path(&path, "tag_query"), other),
                    })?
                }
            };
            presets.insert(name.to_string(), Arc::new(filter));
        }

        let mut roles: Names<String, Role> = Names::default();
        for (name, scopes) in &settings.roles {
            let path = join_path(&join_path("roles", name), "scopes");
            if roles.contains_key(name) {
                return Err(ConfigError::new(
                    join_path("roles", name),
                    format!("role '{name}' is configured twice"),
                ));
            }
            let mut role = Role::default();
            for scope in scopes.split_whitespace() {
                match scope.strip_prefix(TAG_SCOPE_PREFIX) {
                    Some(raw) => {
                        let tag = normalize_tag(raw, TagSource::Role { name: name.clone() })
                            .map_err(|e| {
                                ConfigError::new(&path, format!("invalid scope '{scope}': {e}"))
                            })?;
                        let scope = format!("{TAG_SCOPE_PREFIX}{tag}");
                        if !role.scopes.contains(&scope) {
                            role.scopes.push(scope);
                        }
                        if !role.tags.contains(&tag) {
                            role.tags.push(tag);
                        }
                    }
                    None => {
                        if !role.scopes.iter().any(|s| s == scope) {
                            role.scopes.push(scope.to_string());
                        }
                    }
                }
            }
            roles.insert(name.clone(), role);
        }

        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(AccessPolicy {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            tags: table.names,
            tag_ids: table.ids,
            servers,
            server_ids,
            untagged: settings.untagged_servers,
            server_match: settings.server_match,
            presets,
            roles,
        })
    }

    /// What a token's scopes and role names grant. Unknown role names grant
    /// nothing; invalid `tag:` scopes are returned in `rejected_scopes`.
    pub fn grant(&self, scopes: &[String], roles: &[String]) -> Grant {
        let mut grant = Grant::default();
        for scope in scopes {
            match classify_scope(scope) {
                ScopeKind::Tag(tag) => {
                    if !grant.tags.contains(&tag) {
                        grant.tags.push(tag);
                    }
                }
                ScopeKind::InvalidTag => grant.rejected_scopes.push(scope.clone()),
                ScopeKind::Custom => {}
            }
        }
        for role in roles {
            if let Some(role) = self.roles.get(role) {
                for tag in &role.tags {
                    if !grant.tags.contains(tag) {
                        grant.tags.push(tag.clone());
                    }
                }
            }
        }
        grant
    }

    /// Every scope a role grants (its `tag:` scopes normalised, custom
    /// scopes as written), or `None` for an unknown role.
    pub fn role_scopes(&self, role: &str) -> Option<&[String]> {
        self.roles.get(role).map(|r| r.scopes.as_slice())
    }

    /// Ready-to-decide form of a principal's tags (`Principal::tags`).
    /// Tags are normalised; invalid ones grant nothing; tags the registry
    /// does not know still count when a filter mentions them.
    pub fn granted<S: AsRef<str>>(&self, tags: &[S]) -> Granted {
        let mut names: Vec<String> = Vec::with_capacity(tags.len());
        for raw in tags {
            let Ok(tag) = normalize_tag(raw.as_ref(), TagSource::Scope) else {
                continue;
            };
            if !names.contains(&tag) {
                names.push(tag);
            }
        }
        self.granted_names(names)
    }

    /// [`granted`](Self::granted) for the tags of a [`Grant`] from
    /// [`grant`](Self::grant), which are normalised and distinct already:
    /// the Guard builds every principal's grant this way, once per token.
    pub(crate) fn granted_from(&self, grant: &Grant) -> Granted {
        self.granted_names(grant.tags.clone())
    }

    /// The granted form of normalised, distinct tag names.
    fn granted_names(&self, names: Vec<String>) -> Granted {
        let mut bits = vec![0u64; self.tags.len().div_ceil(64)];
        for tag in &names {
            if let Some(id) = self.tag_ids.get(tag.as_str()) {
                let id = *id as usize;
                if let Some(word) = bits.get_mut(id / 64) {
                    *word |= 1u64 << (id % 64);
                }
            }
        }
        Granted::Tags(GrantedTags { names, bits })
    }

    /// Compiles the filter a request carries; a preset is looked up (it was
    /// compiled when the policy was built).
    pub fn resolve_filter(&self, request: FilterRequest<'_>) -> Result<Arc<Filter>, FilterError> {
        match request {
            FilterRequest::Tags(list) => {
                recent::filter(recent::Syntax::Tags, list, Filter::parse_tags)
            }
            FilterRequest::TagFilter(expression) => recent::filter(
                recent::Syntax::Expression,
                expression,
                Filter::parse_expression,
            ),
            FilterRequest::TagQuery(query) => Filter::from_query(query).map(Arc::new),
            FilterRequest::Preset(name) => {
                self.presets
                    .get(name)
                    .cloned()
                    .ok_or_else(|| FilterError::UnknownPreset {
                        name: name.to_string(),
                    })
            }
        }
    }

    fn permitted(&self, server: &Server, granted: &Granted) -> bool {
        if server.tags.is_empty() {
            return self.untagged == UntaggedServers::Allow;
        }
        match self.server_match {
            ServerMatch::Any => server.tags.iter().any(|id| granted.has_id(*id)),
            ServerMatch::All => server.tags.iter().all(|id| granted.has_id(*id)),
        }
    }

    /// For each mention of `filter`, its id in this registry (`None`: no
    /// server or tool carries it).
    fn mention_ids(&self, filter: &Filter) -> Vec<Option<TagId>> {
        filter
            .mentions()
            .iter()
            .map(|m| self.tag_ids.get(&**m).copied())
            .collect()
    }

    /// Whether each server (by index) matches `filter`: worked out once
    /// per filter and policy, then remembered in the filter.
    fn filter_matches(&self, filter: &Filter) -> Box<[bool]> {
        let ids = self.mention_ids(filter);
        self.servers
            .iter()
            .map(|server| {
                filter.matches_with(|i| {
                    ids.get(i)
                        .copied()
                        .flatten()
                        .is_some_and(|id| server.tags.contains(&id))
                })
            })
            .collect()
    }

    /// The visible servers' indices, ascending: permitted servers that
    /// match the filter.
    pub(crate) fn visible_indices(&self, granted: &Granted, filter: Option<&Filter>) -> Vec<usize> {
        let visible = self.visibility(granted, filter);
        (0..self.servers.len()).filter(|&i| visible(i)).collect()
    }

    /// Whether the server at an index is visible: permitted and matching
    /// the filter (whose matches are worked out once per filter and policy).
    fn visibility(&self, granted: &Granted, filter: Option<&Filter>) -> impl Fn(usize) -> bool {
        let matches = filter.map(|f| f.servers.get(self.id, || self.filter_matches(f)));
        move |i| {
            self.servers
                .get(i)
                .is_some_and(|server| self.permitted(server, granted))
                && matches
                    .as_deref()
                    .is_none_or(|m| m.get(i).copied().unwrap_or(false))
        }
    }

    /// The servers the principal sees: permitted servers that match the
    /// filter (all permitted servers without one), in configuration order.
    /// Does not check that the filter mentions only granted tags
    /// ([`AccessPolicy::decide`] does).
    pub fn visible_servers(&self, granted: &Granted, filter: Option<&Filter>) -> Vec<&str> {
        self.visible_indices(granted, filter)
            .into_iter()
            .filter_map(|i| self.servers.get(i).map(|s| &*s.name))
            .collect()
    }

    /// Decides a request, checking in this order:
    /// 1. the filter mentions only granted tags (under NOT too), else
    ///    `Insufficient scopes. Required: <filter tags>, Granted: <granted tags>`;
    /// 2. a named `server` is visible (permitted and matching the filter),
    ///    else `Access to server 'X' is not granted` whether or not it exists;
    /// 3. a `tool` with tags of its own has one of them granted, else
    ///    `Access to tool 'T' on server 'X' is not granted`.
    ///
    /// A `tool` without a `server` is the caller's 400; here it is ignored.
    pub fn decide(
        &self,
        granted: &Granted,
        filter: Option<&Filter>,
        server: Option<&str>,
        tool: Option<&str>,
    ) -> Result<Access, Denial> {
        self.check_filter_granted(granted, filter)?;
        let visible = self.visibility(granted, filter);
        if let Some(name) = server {
            self.check_call(&visible, granted, name, tool)
                .map_err(|refusal| self.denial(refusal, name, tool))?;
        }
        // Cloned from this thread's own copies of the names (see
        // `local_names`): two threads deciding at once write no shared count.
        let visible_servers = super::local_names::with(
            self.id,
            self.servers.len(),
            || self.servers.iter().map(|s| Arc::from(&*s.name)).collect(),
            |names| visible_names(names.iter(), &visible),
        )
        .unwrap_or_else(|| visible_names(self.servers.iter().map(|s| &s.name), &visible));
        Ok(Access { visible_servers })
    }

    /// Step 1 of [`decide`](Self::decide): the filter mentions only granted
    /// tags (under NOT too).
    pub(crate) fn check_filter_granted(
        &self,
        granted: &Granted,
        filter: Option<&Filter>,
    ) -> Result<(), Denial> {
        if let (Some(filter), Granted::Tags(tags)) = (filter, granted) {
            let missing: Vec<&str> = filter
                .mentions()
                .iter()
                .map(|m| &**m)
                .filter(|m| !granted.has_name(m))
                .collect();
            if !missing.is_empty() {
                return Err(Denial {
                    reason: Reason::InsufficientScope,
                    description: format!(
                        "Insufficient scopes. Required: {}, Granted: {}",
                        filter.tags().join(", "),
                        tags.names.join(", ")
                    ),
                    missing_scopes: to_scopes(missing),
                });
            }
        }
        Ok(())
    }

    /// Steps 2 and 3 of [`decide`](Self::decide) for a call of `tool` on
    /// server `name`, given which servers (by index) are visible.
    /// Allocates nothing: the listing filter runs it once per item.
    pub(crate) fn check_call(
        &self,
        visible: impl Fn(usize) -> bool,
        granted: &Granted,
        name: &str,
        tool: Option<&str>,
    ) -> Result<(), Refusal<'_>> {
        self.check_call_at(self.server_index(name), visible, granted, tool)
    }

    /// The index of the server called `name`, if it is registered.
    pub(crate) fn server_index(&self, name: &str) -> Option<usize> {
        self.server_ids.get(name).copied()
    }

    /// [`check_call`](Self::check_call) for the server at `known` (its
    /// index, from [`server_index`](Self::server_index)).
    pub(crate) fn check_call_at(
        &self,
        known: Option<usize>,
        visible: impl Fn(usize) -> bool,
        granted: &Granted,
        tool: Option<&str>,
    ) -> Result<(), Refusal<'_>> {
        let Some(index) = known.filter(|&i| visible(i)) else {
            return Err(Refusal::Server(known));
        };
        if let Some(tool) = tool
            && let Some(tool_tags) = self.servers.get(index).and_then(|s| s.tools.get(tool))
            && !tool_tags.iter().any(|id| granted.has_id(*id))
        {
            return Err(Refusal::Tool(tool_tags));
        }
        Ok(())
    }

    fn denial(&self, refusal: Refusal<'_>, name: &str, tool: Option<&str>) -> Denial {
        match refusal {
            Refusal::Server(known) => Denial {
                reason: Reason::InsufficientScope,
                description: format!("Access to server '{name}' is not granted"),
                missing_scopes: known
                    .and_then(|i| self.servers.get(i))
                    .map(|s| self.scopes_of(&s.tags))
                    .unwrap_or_default(),
            },
            Refusal::Tool(tool_tags) => Denial {
                reason: Reason::InsufficientScope,
                description: format!(
                    "Access to tool '{}' on server '{name}' is not granted",
                    tool.unwrap_or_default()
                ),
                missing_scopes: self.scopes_of(tool_tags),
            },
        }
    }

    fn scopes_of(&self, ids: &[TagId]) -> Vec<String> {
        to_scopes(
            ids.iter()
                .filter_map(|id| self.tags.get(*id as usize).map(|t| &**t)),
        )
    }

    /// The `tag:` scopes that would grant `server` (its tags), or with a
    /// `tool` that has tags of its own, that tool (its tags); `None` for an
    /// unknown server. For the host and the audit event, never the client.
    pub fn scopes_granting(&self, server: &str, tool: Option<&str>) -> Option<Vec<String>> {
        let s = self.servers.get(*self.server_ids.get(server)?)?;
        match tool.and_then(|t| s.tools.get(t)) {
            Some(tool_tags) => Some(self.scopes_of(tool_tags)),
            None => Some(self.scopes_of(&s.tags)),
        }
    }

    /// Every tag of the registry, first-seen order over the servers (each
    /// server's tags, then its tools'), for `scopes_supported`.
    pub fn all_tags(&self) -> Vec<String> {
        self.tags.iter().map(|t| t.to_string()).collect()
    }

    /// The registered (enabled) servers, in configuration order.
    pub fn server_names(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|s| &*s.name)
    }

    /// Whether `server` is a registered (enabled) server.
    pub fn has_server(&self, server: &str) -> bool {
        self.server_ids.contains_key(server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_turns_into_the_same_granted_form_as_its_tags() {
        let config = serde_json::json!({
            "resource": "https://mcp.example.com/mcp",
            "servers": {"files": {"tags": ["files"]}, "web": {"tags": ["web", "safe"]}},
            "roles": {"dev": {"scopes": "tag:files tag:WEB"}}
        });
        let settings = AccessSettings::from_config(&config).expect("settings");
        let policy = AccessPolicy::build(&settings).expect("policy");
        let scopes: Vec<String> = ["tag:Web", "tag:unknown-to-servers", "tag:bad tag", "mcp:x"]
            .map(String::from)
            .into();
        for roles in [vec![], vec!["dev".to_string()], vec!["nobody".to_string()]] {
            let grant = policy.grant(&scopes, &roles);
            assert_eq!(
                policy.granted_from(&grant),
                policy.granted(&grant.tags),
                "{roles:?}"
            );
        }
    }
}

/// The filters this thread parsed last, by their text: a client sends the
/// same `?tags=` on every request, and parsing it costs more than the rest
/// of an access decision. A filter depends only on its text, so the entries
/// serve every policy. Only accepted filters are kept (a refusal is parsed
/// again, with its error), and only short texts.
mod recent {
    use std::cell::RefCell;
    use std::sync::Arc;

    use super::super::filter::{Filter, FilterError};

    const SLOTS: usize = 4;
    const MAX_TEXT: usize = 256;

    /// Which syntax a text was parsed in.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub(super) enum Syntax {
        Tags,
        Expression,
    }

    type Slot = Option<(Syntax, Box<str>, Arc<Filter>)>;

    thread_local! {
        static RECENT: RefCell<([Slot; SLOTS], usize)> = const { RefCell::new(([const { None }; SLOTS], 0)) };
    }

    pub(super) fn filter(
        syntax: Syntax,
        text: &str,
        parse: fn(&str) -> Result<Filter, FilterError>,
    ) -> Result<Arc<Filter>, FilterError> {
        let hit = RECENT.with(|r| {
            r.borrow()
                .0
                .iter()
                .flatten()
                .find_map(|(s, t, f)| (*s == syntax && &**t == text).then(|| f.clone()))
        });
        if let Some(f) = hit {
            return Ok(f);
        }
        let parsed = Arc::new(parse(text)?);
        if text.len() <= MAX_TEXT {
            RECENT.with(|r| {
                let (slots, next) = &mut *r.borrow_mut();
                slots[*next] = Some((syntax, text.into(), parsed.clone()));
                *next = (*next + 1) % SLOTS;
            });
        }
        Ok(parsed)
    }
}

/// The names at the visible indices, in order.
fn visible_names<'a>(
    names: impl Iterator<Item = &'a Arc<str>>,
    visible: impl Fn(usize) -> bool,
) -> Vec<Arc<str>> {
    names
        .enumerate()
        .filter(|&(i, _)| visible(i))
        .map(|(_, n)| n.clone())
        .collect()
}
