//! Audience comparison: does a token's `aud` name this resource?
//!
//! Audiences are compared as canonical URIs (RFC 8707 resource
//! indicators): the scheme and host compare case-insensitively, a fragment
//! is ignored, and so is one trailing slash at the end of the path
//! (`https://MCP.example.com/mcp/` names `https://mcp.example.com/mcp`).
//! Everything else — path, query, port, user info — compares exactly. A
//! value without `://` (e.g. `api://x` has one, `my-api` has none) is
//! compared exactly, fragment included.
//!
//! Nothing is allocated: both sides are split into slices and compared
//! piece by piece.

/// Whether two audience values name the same resource (see the module doc).
///
/// ```
/// use mcpguard::token::audience::same_audience;
/// assert!(same_audience("HTTPS://MCP.example.com/mcp/", "https://mcp.example.com/mcp"));
/// assert!(same_audience("https://mcp.example.com/mcp#x", "https://mcp.example.com/mcp"));
/// assert!(!same_audience("https://mcp.example.com/MCP", "https://mcp.example.com/mcp"));
/// ```
pub fn same_audience(a: &str, b: &str) -> bool {
    // Equal text is the common case; a fragment is the one thing equal text
    // can carry that must still be compared (it is ignored on both sides).
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
/// An empty token list matches nothing.
pub fn audience_allowed<'a, S: AsRef<str> + 'a>(
    token_audiences: impl IntoIterator<Item = &'a str>,
    allowed: &[S],
) -> bool {
    token_audiences
        .into_iter()
        .any(|t| allowed.iter().any(|a| same_audience(t, a.as_ref())))
}

/// The canonical spelling of an audience URI: lowercase scheme and host, no
/// fragment, no trailing slash on the path.
///
/// ```
/// use mcpguard::token::audience::canonical_audience;
/// assert_eq!(canonical_audience("HTTPS://Mcp.Example.com/mcp/#top"), "https://mcp.example.com/mcp");
/// ```
pub fn canonical_audience(value: &str) -> String {
    match split(value) {
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
    }
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
    let without_fragment = after.split_once('#').map_or(after, |(v, _)| v);
    let authority_end = without_fragment
        .find(['/', '?'])
        .unwrap_or(without_fragment.len());
    let (authority, tail) = without_fragment.split_at(authority_end);
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
    fn a_trailing_slash_and_a_fragment_are_ignored() {
        assert!(same_audience(
            "https://a.example/mcp/",
            "https://a.example/mcp"
        ));
        assert!(same_audience("https://a.example/", "https://a.example"));
        assert!(same_audience(
            "https://a.example/mcp#frag",
            "https://a.example/mcp/"
        ));
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
        for v in ["HTTPS://A.example/mcp/#f", "https://u@A.EXAMPLE:1/p/?q"] {
            assert!(same_audience(&canonical_audience(v), v));
        }
        assert_eq!(
            canonical_audience("https://u@A.EXAMPLE:1/p/?q#f"),
            "https://u@a.example:1/p?q"
        );
    }
}
