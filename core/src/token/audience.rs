//! Audience comparison: does a token's `aud` name this resource?
//!
//! Audiences are compared as canonical URIs (RFC 8707 resource
//! indicators): the scheme and host compare case-insensitively, and one
//! trailing slash at the end of the path is ignored
//! (`https://MCP.example.com/mcp/` names `https://mcp.example.com/mcp`).
//! Everything else — path, query, port, user info — compares exactly. A
//! value without `://` (e.g. `api://x` has one, `my-api` has none) is
//! compared exactly.
//!
//! # Fragments
//! An RFC 8707 resource indicator has no fragment (§2: it "MUST NOT include
//! a fragment component"), so a value holding a `#` names no resource: it
//! matches nothing, not even the same text. A token whose only `aud`
//! carries a fragment is refused as `wrong_audience`, even when the value
//! without its fragment would be this resource; in an `aud` array such an
//! entry is simply never a match, and the token is accepted only if another
//! entry names an accepted audience. The rule holds for values that are
//! not URIs too (fail closed), and for the host's side: a configured
//! audience with a `#` is a configuration error (it could never match).
//!
//! Nothing is allocated: both sides are split into slices and compared
//! piece by piece.

/// Whether `value` carries a fragment (a `#` anywhere): such a value names
/// no resource (see the module doc).
///
/// ```
/// use mcpguard::token::audience::has_fragment;
/// assert!(has_fragment("https://mcp.example.com/mcp#frag"));
/// assert!(!has_fragment("https://mcp.example.com/mcp"));
/// ```
pub fn has_fragment(value: &str) -> bool {
    memchr::memchr(b'#', value.as_bytes()).is_some()
}

/// Whether two audience values name the same resource (see the module doc).
/// A value with a fragment names none, so it matches nothing.
///
/// ```
/// use mcpguard::token::audience::same_audience;
/// assert!(same_audience("HTTPS://MCP.example.com/mcp/", "https://mcp.example.com/mcp"));
/// assert!(!same_audience("https://mcp.example.com/mcp#x", "https://mcp.example.com/mcp"));
/// assert!(!same_audience("https://mcp.example.com/MCP", "https://mcp.example.com/mcp"));
/// ```
pub fn same_audience(a: &str, b: &str) -> bool {
    if has_fragment(a) || has_fragment(b) {
        return false;
    }
    if a == b {
        return true;
    }
    match (split(a), split(b)) {
        (Some(a), Some(b)) => {
            a.scheme.eq_ignore_ascii_case(b.scheme)
                && a.userinfo == b.userinfo
                && a.host.eq_ignore_ascii_case(b.host)
                && a.rest == b.rest
        }
        (None, None) => a == b,
        _ => false,
    }
}

/// Whether any of the token's audiences names one of the `allowed` ones.
/// An empty token list matches nothing, and so does an entry with a
/// fragment: another entry must match.
pub fn audience_allowed<'a, S: AsRef<str> + 'a>(
    token_audiences: impl IntoIterator<Item = &'a str>,
    allowed: &[S],
) -> bool {
    token_audiences
        .into_iter()
        .any(|t| allowed.iter().any(|a| same_audience(t, a.as_ref())))
}

/// The canonical spelling of an audience URI: lowercase scheme and host, no
/// trailing slash on the path. `None` for a value with a fragment, which
/// names no resource.
///
/// ```
/// use mcpguard::token::audience::canonical_audience;
/// assert_eq!(canonical_audience("HTTPS://Mcp.Example.com/mcp/").as_deref(), Some("https://mcp.example.com/mcp"));
/// assert_eq!(canonical_audience("https://mcp.example.com/mcp#top"), None);
/// ```
pub fn canonical_audience(value: &str) -> Option<String> {
    if has_fragment(value) {
        return None;
    }
    Some(match split(value) {
        Some(p) => {
            let mut out = String::with_capacity(value.len());
            out.push_str(&p.scheme.to_ascii_lowercase());
            out.push_str("://");
            if let Some(u) = p.userinfo {
                out.push_str(u);
                out.push('@');
            }
            out.push_str(&p.host.to_ascii_lowercase());
            out.push_str(p.rest.path);
            if let Some(q) = p.rest.query {
                out.push('?');
                out.push_str(q);
            }
            out
        }
        None => value.to_owned(),
    })
}

struct Parts<'a> {
    scheme: &'a str,
    userinfo: Option<&'a str>,
    /// Host and port.
    host: &'a str,
    rest: Rest<'a>,
}

#[derive(PartialEq, Eq)]
struct Rest<'a> {
    /// The path without its trailing slash.
    path: &'a str,
    query: Option<&'a str>,
}

fn split(value: &str) -> Option<Parts<'_>> {
    let (scheme, after) = value.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    // Callers refuse values with a fragment first: `after` has no `#`.
    let authority_end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(authority_end);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    let path = path.strip_suffix('/').unwrap_or(path);
    Some(Parts {
        scheme,
        userinfo,
        host,
        rest: Rest { path, query },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_and_host_compare_case_insensitively() {
        assert!(same_audience(
            "HTTPS://MCP.EXAMPLE.COM/mcp",
            "https://mcp.example.com/mcp"
        ));
        assert!(!same_audience(
            "https://mcp.example.com/Mcp",
            "https://mcp.example.com/mcp"
        ));
    }

    #[test]
    fn a_trailing_slash_is_ignored() {
        assert!(same_audience(
            "https://a.example/mcp/",
            "https://a.example/mcp"
        ));
        assert!(same_audience("https://a.example/", "https://a.example"));
        assert!(same_audience(
            "https://a.example/mcp/?x=1",
            "https://a.example/mcp?x=1"
        ));
        assert!(!same_audience(
            "https://a.example/mcp//",
            "https://a.example/mcp"
        ));
    }

    #[test]
    fn a_value_with_a_fragment_matches_nothing_not_even_itself() {
        for v in [
            "https://a.example/mcp#frag",
            "https://a.example/mcp#",
            "https://a.example/mcp/#frag",
            "https://a.example#/mcp",
            "my-api#1",
        ] {
            assert!(has_fragment(v));
            assert!(!same_audience(v, v), "{v}");
            assert!(!same_audience(v, "https://a.example/mcp"), "{v}");
            assert!(!same_audience("https://a.example/mcp", v), "{v}");
            assert_eq!(canonical_audience(v), None);
        }
        assert!(!audience_allowed(
            ["https://a.example/mcp#frag"],
            &["https://a.example/mcp"]
        ));
        // Another entry may still match.
        assert!(audience_allowed(
            ["https://a.example/mcp#frag", "https://a.example/mcp"],
            &["https://a.example/mcp"]
        ));
    }

    #[test]
    fn path_query_and_port_compare_exactly() {
        assert!(!same_audience(
            "https://a.example/mcp?x=1",
            "https://a.example/mcp"
        ));
        assert!(!same_audience(
            "https://a.example:8443/mcp",
            "https://a.example/mcp"
        ));
        assert!(!same_audience(
            "https://a.example/mcp2",
            "https://a.example/mcp"
        ));
        assert!(!same_audience(
            "https://evil.example/https://a.example/mcp",
            "https://a.example/mcp"
        ));
        assert!(!same_audience(
            "https://u@a.example/mcp",
            "https://a.example/mcp"
        ));
    }

    #[test]
    fn values_that_are_not_uris_compare_exactly() {
        assert!(same_audience("my-api", "my-api"));
        assert!(!same_audience("My-Api", "my-api"));
        assert!(!same_audience("my-api", "https://my-api"));
        assert!(!same_audience("", "https://a.example"));
    }

    #[test]
    fn any_listed_audience_may_match() {
        assert!(audience_allowed(
            ["x", "https://A.example/mcp/"],
            &["https://a.example/mcp"]
        ));
        assert!(!audience_allowed([], &["https://a.example/mcp"]));
    }

    #[test]
    fn canonical_form_is_what_compares_equal() {
        for v in [
            "HTTPS://A.example/mcp/",
            "https://u@A.EXAMPLE:1/p/?q",
            "my-api",
        ] {
            let canonical = canonical_audience(v).expect("no fragment");
            assert!(same_audience(&canonical, v));
        }
        assert_eq!(
            canonical_audience("https://u@A.EXAMPLE:1/p/?q").as_deref(),
            Some("https://u@a.example:1/p?q")
        );
    }
}
