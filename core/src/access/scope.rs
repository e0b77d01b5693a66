//! `tag:<name>` scopes: which tags a token's scopes grant, and the scope
//! checks an authorization server runs when a client asks for scopes.
//!
//! The prefix is exactly `tag:` (case-sensitive); other scopes are custom
//! scopes, kept as they are and granting no tag. Deciding which custom
//! scopes a request needs is left to the host.

use super::tag::{TagSource, normalize_tag};

/// The prefix of a scope that grants a tag.
pub const TAG_SCOPE_PREFIX: &str = "tag:";

/// Most scopes [`validate_scopes`] accepts in one request (1MCP's limit).
pub const MAX_REQUESTED_SCOPES: usize = 50;

/// What one scope says about tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeKind {
    /// A valid `tag:` scope granting this (normalised) tag.
    Tag(String),
    /// A `tag:` scope whose name is not a valid tag: it grants nothing.
    InvalidTag,
    /// Any other scope (`mcp:admin`, `openid`, …): grants no tag.
    Custom,
}

/// Classifies one scope.
///
/// ```
/// use mcpguard::access::{classify_scope, ScopeKind};
/// assert_eq!(classify_scope("tag:WEB"), ScopeKind::Tag("web".into()));
/// assert_eq!(classify_scope("tag:a b"), ScopeKind::InvalidTag);
/// assert_eq!(classify_scope("TAG:web"), ScopeKind::Custom);
/// ```
pub fn classify_scope(scope: &str) -> ScopeKind {
    match scope.strip_prefix(TAG_SCOPE_PREFIX) {
        None => ScopeKind::Custom,
        Some(name) => match normalize_tag(name, TagSource::Scope) {
            Ok(tag) => ScopeKind::Tag(tag),
            Err(_) => ScopeKind::InvalidTag,
        },
    }
}

/// The tags a list of scopes grants: valid `tag:` scopes, normalised, in
/// first-seen order without repeats (`tag:WEB tag:web` grants `web` once).
/// Invalid `tag:` scopes and custom scopes grant nothing.
pub fn scopes_to_tags(scopes: &[String]) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for scope in scopes {
        if let ScopeKind::Tag(tag) = classify_scope(scope)
            && !tags.contains(&tag)
        {
            tags.push(tag);
        }
    }
    tags
}

/// `tag:<t>` for each valid tag, normalised, first-seen order without
/// repeats; invalid tags are left out.
pub fn tags_to_scopes<S: AsRef<str>>(tags: &[S]) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for tag in tags {
        if let Ok(tag) = normalize_tag(tag.as_ref(), TagSource::Scope) {
            let scope = format!("{TAG_SCOPE_PREFIX}{tag}");
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
    }
    scopes
}

/// Checks the scopes a client requests from an authorization server the
/// host runs, with 1MCP's errors in 1MCP's order:
///
/// 1. more than 50 scopes: `Too many scopes: N > 50`, alone;
/// 2. each scope in input order: `Duplicate scope: X` when it repeats an
///    earlier one after normalising, else `Invalid scope format: X` when it
///    is not a valid `tag:` scope (custom scopes included);
/// 3. only when every scope is well formed: `Scope not available: tag:X (tag: X)`
///    for each tag not among `available_tags`.
///
/// `Ok` holds the normalised scopes; an empty request is valid and returns
/// `tag:<t>` for every available tag, in the given order.
pub fn validate_scopes(
    requested: &[String],
    available_tags: &[String],
) -> Result<Vec<String>, Vec<String>> {
    if requested.len() > MAX_REQUESTED_SCOPES {
        return Err(vec![format!(
            "Too many scopes: {} > {MAX_REQUESTED_SCOPES}",
            requested.len()
        )]);
    }
    let available = tags_to_scopes(available_tags);
    if requested.is_empty() {
        return Ok(available);
    }
    let mut errors = Vec::new();
    // Keys compared for repeats: the normalised scope when it is a valid tag
    // scope, else the scope as given (1MCP reports a repeated malformed
    // scope as a duplicate too).
    let mut seen: Vec<String> = Vec::with_capacity(requested.len());
    let mut normalised: Vec<String> = Vec::with_capacity(requested.len());
    for scope in requested {
        let (key, valid) = match classify_scope(scope) {
            ScopeKind::Tag(tag) => (format!("{TAG_SCOPE_PREFIX}{tag}"), true),
            _ => (scope.clone(), false),
        };
        if seen.contains(&key) {
            errors.push(format!("Duplicate scope: {scope}"));
            continue;
        }
        seen.push(key.clone());
        if valid {
            normalised.push(key);
        } else {
            errors.push(format!("Invalid scope format: {scope}"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for scope in &normalised {
        if !available.contains(scope) {
            let tag = &scope[TAG_SCOPE_PREFIX.len()..];
            errors.push(format!("Scope not available: {scope} (tag: {tag})"));
        }
    }
    if errors.is_empty() {
        Ok(normalised)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tag_scopes_grant_normalised_tags_once_in_first_seen_order() {
        assert_eq!(
            scopes_to_tags(&v(&["tag:WEB", "openid", "tag:db", "tag:web"])),
            v(&["web", "db"])
        );
    }

    #[test]
    fn prefix_is_exactly_tag_colon() {
        assert_eq!(
            scopes_to_tags(&v(&["TAG:web", "tags:web", "tag :web"])),
            v(&[])
        );
    }

    #[test]
    fn invalid_tag_scopes_grant_nothing() {
        assert_eq!(
            scopes_to_tags(&v(&["tag:", "tag:a:b", "tag:é", "tag:ok"])),
            v(&["ok"])
        );
    }

    #[test]
    fn scopes_accept_dots_unlike_1mcp() {
        assert_eq!(scopes_to_tags(&v(&["tag:v1.2"])), v(&["v1.2"]));
    }

    #[test]
    fn tags_become_scopes_without_invalid_ones() {
        assert_eq!(
            tags_to_scopes(&["Web", "a b", "web", "db"]),
            v(&["tag:web", "tag:db"])
        );
    }

    #[test]
    fn more_than_fifty_scopes_is_the_only_error() {
        let many: Vec<String> = (0..51).map(|_| "bad scope".to_string()).collect();
        assert_eq!(
            validate_scopes(&many, &[]),
            Err(v(&["Too many scopes: 51 > 50"]))
        );
        let fifty: Vec<String> = (0..50).map(|i| format!("tag:t{i}")).collect();
        let avail: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        assert_eq!(validate_scopes(&fifty, &avail).unwrap().len(), 50);
    }

    #[test]
    fn format_and_duplicate_errors_come_in_input_order() {
        let req = v(&["tag:web", "mcp:admin", "tag:WEB", "tag:a b", "mcp:admin"]);
        assert_eq!(
            validate_scopes(&req, &v(&["web"])),
            Err(v(&[
                "Invalid scope format: mcp:admin",
                "Duplicate scope: tag:WEB",
                "Invalid scope format: tag:a b",
                "Duplicate scope: mcp:admin",
            ]))
        );
    }

    #[test]
    fn availability_is_checked_only_when_every_scope_is_well_formed() {
        // The unavailable tag is not reported while a format error exists.
        assert_eq!(
            validate_scopes(&v(&["tag:nope", "x"]), &v(&["web"])),
            Err(v(&["Invalid scope format: x"]))
        );
        assert_eq!(
            validate_scopes(&v(&["tag:web", "tag:Nope", "tag:db"]), &v(&["web"])),
            Err(v(&[
                "Scope not available: tag:nope (tag: nope)",
                "Scope not available: tag:db (tag: db)"
            ]))
        );
    }

    #[test]
    fn valid_requests_return_normalised_scopes() {
        assert_eq!(
            validate_scopes(&v(&["tag:DB", "tag:web"]), &v(&["Web", "db"])),
            Ok(v(&["tag:db", "tag:web"]))
        );
    }

    #[test]
    fn an_empty_request_gets_every_available_tag_in_order() {
        assert_eq!(
            validate_scopes(&[], &v(&["web", "DB", "web"])),
            Ok(v(&["tag:web", "tag:db"]))
        );
    }
}
