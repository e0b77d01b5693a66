//! Tag names: the one normalisation and validation every other part uses.
//!
//! A tag is trimmed and ASCII-lowercased, then must be 1 to 50 characters
//! of `a-z 0-9 _ . -` that the expression syntax can name: not starting
//! with `-`, not `and`, `or` or `not`, and not starting with `and-`, `or-`
//! or `not-` (the expression syntax ends a keyword at a `-`, as 1MCP's
//! does, so `or-x` reads as `or -x`). Every filter therefore prints as an
//! expression that parses back to itself. The library never URL-decodes:
//! the host does.

use std::fmt;

/// Longest tag, in characters (after normalisation).
pub const MAX_TAG_LEN: usize = 50;

/// Where a tag came from, so an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSource {
    /// A server's `tags` in the configuration.
    Server {
        /// The server's name.
        name: String,
    },
    /// A tool's own `tags` in the configuration.
    Tool {
        /// The server the tool belongs to.
        server: String,
        /// The tool's name.
        tool: String,
    },
    /// A `tag:` scope (token, role or scope validation).
    Scope,
    /// A filter a client sent (`tags`, `tag_filter`, `tag_query`).
    Filter,
    /// A configured preset.
    Preset {
        /// The preset's name.
        name: String,
    },
    /// A role's `scopes` in the configuration.
    Role {
        /// The role's name.
        name: String,
    },
}

impl fmt::Display for TagSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagSource::Server { name } => write!(f, "server '{name}'"),
            TagSource::Tool { server, tool } => write!(f, "tool '{tool}' of server '{server}'"),
            TagSource::Scope => f.write_str("scope"),
            TagSource::Filter => f.write_str("filter"),
            TagSource::Preset { name } => write!(f, "preset '{name}'"),
            TagSource::Role { name } => write!(f, "role '{name}'"),
        }
    }
}

/// A tag name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// Nothing is left after trimming.
    #[error("empty tag in {origin}")]
    Empty {
        /// Where the tag came from.
        origin: TagSource,
    },
    /// Longer than [`MAX_TAG_LEN`] characters.
    #[error("tag '{tag}' in {origin} is longer than 50 characters")]
    TooLong {
        /// The normalised tag (as much of it as is shown).
        tag: String,
        /// Where the tag came from.
        origin: TagSource,
    },
    /// A character outside `a-z 0-9 _ . -`.
    #[error(
        "tag '{tag}' in {origin} contains {ch:?}; a tag may only hold a-z, 0-9, '_', '.' and '-'"
    )]
    InvalidCharacter {
        /// The normalised tag.
        tag: String,
        /// The first character refused.
        ch: char,
        /// Where the tag came from.
        origin: TagSource,
    },
    /// A tag the expression syntax reads as an operator: starting with `-`,
    /// one of `and`, `or`, `not`, or starting with `and-`, `or-`, `not-`.
    #[error(
        "tag '{tag}' in {origin} reads as an operator in a filter expression; a tag may not start with '-', be 'and', 'or' or 'not', or start with 'and-', 'or-' or 'not-'"
    )]
    Operator {
        /// The normalised tag.
        tag: String,
        /// Where the tag came from.
        origin: TagSource,
    },
}

impl TagError {
    /// Where the refused tag came from.
    pub fn origin(&self) -> &TagSource {
        match self {
            TagError::Empty { origin }
            | TagError::TooLong { origin, .. }
            | TagError::InvalidCharacter { origin, .. }
            | TagError::Operator { origin, .. } => origin,
        }
    }
}

/// Whether `b` may appear in a normalised tag.
pub(crate) fn is_tag_byte(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-')
}

/// Trims and ASCII-lowercases `raw`, then checks it is a valid tag.
///
/// ```
/// use mcpguard::access::{normalize_tag, TagSource};
/// assert_eq!(normalize_tag(" Web ", TagSource::Filter).unwrap(), "web");
/// assert!(normalize_tag("a b", TagSource::Filter).is_err());
/// ```
pub fn normalize_tag(raw: &str, source: TagSource) -> Result<String, TagError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TagError::Empty { origin: source });
    }
    let tag = trimmed.to_ascii_lowercase();
    if let Some(ch) = tag
        .chars()
        .find(|c| !c.is_ascii() || !is_tag_byte(*c as u8))
    {
        return Err(TagError::InvalidCharacter {
            tag: shown(&tag),
            ch,
            origin: source,
        });
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(TagError::TooLong {
            tag: shown(&tag),
            origin: source,
        });
    }
    if reads_as_operator(&tag) {
        return Err(TagError::Operator {
            tag,
            origin: source,
        });
    }
    Ok(tag)
}

/// Whether the expression syntax would read the (normalised) `tag`, or its
/// start, as an operator: a leading `-` (NOT), or a keyword that a `-` or
/// the end of the tag ends.
pub(crate) fn reads_as_operator(tag: &str) -> bool {
    if tag.starts_with('-') {
        return true;
    }
    ["and", "or", "not"].iter().any(|word| {
        tag.strip_prefix(word)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
    })
}

/// Whether `raw` normalises to exactly `tag` (an already normalised tag),
/// without allocating.
pub(crate) fn normalizes_to(raw: &str, tag: &str) -> bool {
    raw.trim().eq_ignore_ascii_case(tag)
}

/// An offending tag as an error shows it: at most 64 characters, so that a
/// 4 KiB tag does not become a 4 KiB error message.
fn shown(tag: &str) -> String {
    const MAX_SHOWN: usize = 64;
    match tag.char_indices().nth(MAX_SHOWN) {
        Some((cut, _)) => format!("{}…", &tag[..cut]),
        None => tag.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_surrounding_space_make_one_tag() {
        for raw in ["Web", " web ", "WEB", "\tweb\n"] {
            assert_eq!(normalize_tag(raw, TagSource::Filter).unwrap(), "web");
        }
    }

    #[test]
    fn allowed_characters_include_dot_underscore_and_dash() {
        assert_eq!(
            normalize_tag("a.b_c-d9", TagSource::Scope).unwrap(),
            "a.b_c-d9"
        );
    }

    #[test]
    fn fifty_characters_is_the_longest_tag() {
        let ok = "a".repeat(50);
        assert_eq!(normalize_tag(&ok, TagSource::Scope).unwrap(), ok);
        let e = normalize_tag(&"a".repeat(51), TagSource::Scope).unwrap_err();
        assert!(matches!(e, TagError::TooLong { .. }), "{e}");
    }

    #[test]
    fn refused_characters_are_named_with_the_tag_and_its_source() {
        let src = TagSource::Server { name: "fs".into() };
        for (raw, ch) in [
            ("a b", ' '),
            ("wéb", 'é'),
            ("tag:x", ':'),
            ("a\u{200b}b", '\u{200b}'),
            ("a\u{7}b", '\u{7}'),
            ("a/b", '/'),
        ] {
            let e = normalize_tag(raw, src.clone()).unwrap_err();
            assert_eq!(
                e,
                TagError::InvalidCharacter {
                    tag: raw.to_ascii_lowercase(),
                    ch,
                    origin: src.clone()
                }
            );
            assert!(e.to_string().contains("server 'fs'"), "{e}");
        }
    }

    #[test]
    fn tags_the_expression_syntax_reads_as_operators_are_refused_by_name() {
        let src = TagSource::Preset { name: "p".into() };
        for raw in [
            "-web", "--web", "-", "and", "OR", " not ", "or-x", "and-x", "NOT-prod", "not-",
        ] {
            let e = normalize_tag(raw, src.clone()).unwrap_err();
            let tag = raw.trim().to_ascii_lowercase();
            assert_eq!(
                e,
                TagError::Operator {
                    tag: tag.clone(),
                    origin: src.clone()
                }
            );
            assert!(e.to_string().contains(&format!("'{tag}'")), "{e}");
        }
    }

    #[test]
    fn words_that_only_begin_like_keywords_are_tags() {
        for raw in [
            "android", "order", "nothing", "and_x", "or.x", "not9", "web-", "a-and", "x-or-y",
        ] {
            assert_eq!(normalize_tag(raw, TagSource::Filter).unwrap(), raw);
        }
    }

    #[test]
    fn empty_tags_are_refused() {
        for raw in ["", "   "] {
            assert!(matches!(
                normalize_tag(raw, TagSource::Filter),
                Err(TagError::Empty { .. })
            ));
        }
    }

    #[test]
    fn percent_encoding_is_not_decoded() {
        assert!(normalize_tag("web%20api", TagSource::Filter).is_err());
    }

    #[test]
    fn a_very_long_tag_is_shown_shortened() {
        let e = normalize_tag(&"x".repeat(5000), TagSource::Filter).unwrap_err();
        assert!(e.to_string().len() < 200, "{e}");
    }

    #[test]
    fn sources_read_as_places() {
        let tool = TagSource::Tool {
            server: "fs".into(),
            tool: "write".into(),
        };
        assert_eq!(tool.to_string(), "tool 'write' of server 'fs'");
        assert_eq!(
            TagSource::Preset { name: "dev".into() }.to_string(),
            "preset 'dev'"
        );
    }
}
