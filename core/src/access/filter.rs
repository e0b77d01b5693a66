//! The compiled filter: one form for the three syntaxes a client may use
//! (`tags`, `tag_filter`, `tag_query`), evaluated against a server's tags
//! without allocating.
//!
//! A [`Filter`] is a tree of AND / OR / NOT over tag mentions. The tags it
//! mentions are kept once each, in first-seen order, and the tree refers to
//! them by index; evaluation asks the caller whether the server has the
//! mention at an index, so a policy that interned its tags answers with an
//! integer comparison.
//!
//! The tree is canonical, which is what makes equality meaningful and
//! `f.to_string().parse::<Filter>() == Ok(f)` hold:
//! - an AND inside an AND (an OR inside an OR) is flattened into it;
//! - an AND or OR of one operand is that operand (parentheses only group);
//! - empty `$and` (true) and empty `$or` (false), possible only in JSON
//!   queries, are folded away: `true AND x` is `x`, `true OR x` is true,
//!   `NOT true` is false. A tag in a branch folded away cannot affect the
//!   result and is not a mention. A filter left constant prints as the JSON
//!   query that gives it (`{"$and":[]}` or `{"$or":[]}`): the advanced syntax
//!   has no constant.
//! - The order of operands is kept: `a or b` and `b or a` are different
//!   filters that always agree.
//!
//! What the filter leaves to the policy: whether the principal may mention
//! these tags at all, and which servers are permitted.

use std::collections::HashMap;
use std::fmt;

use super::tag::{TagError, TagSource, normalize_tag, normalizes_to};
use crate::error::join_path;
use crate::reason::Reason;

/// Most entries in a `tags` list (counted before repeats are dropped).
pub const MAX_SIMPLE_TAGS: usize = 50;
/// Longest `tag_filter` expression, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// Deepest nesting of parentheses in an expression, or of query objects in
/// a JSON tag query.
pub const MAX_DEPTH: usize = 32;
/// Most tag mentions (counted with repeats) in one filter.
pub const MAX_MENTIONS: usize = 256;

/// A compiled filter: one form for the tag-list, expression and JSON-query
/// syntaxes (see [`crate::access`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub(crate) root: Node,
    pub(crate) mentions: Box<[Box<str>]>,
    /// Which servers of one access policy match, worked out the first time
    /// the filter meets a policy (filters are shared, through the Guard's
    /// cache of recent filter texts, by every request that sends the same
    /// text). Not part of the filter's value.
    pub(crate) servers: ServerMatches,
}

/// The memo of [`Filter::servers`]: for one policy (by its id), whether
/// each of its servers matches. Set once; a filter met by a second policy
/// is evaluated afresh for it each time.
#[derive(Default)]
pub(crate) struct ServerMatches(std::sync::OnceLock<(u64, Box<[bool]>)>);

impl ServerMatches {
    /// The matches for policy `id`, worked out by `compute` unless
    /// remembered.
    pub(crate) fn get(
        &self,
        id: u64,
        compute: impl Fn() -> Box<[bool]>,
    ) -> std::borrow::Cow<'_, [bool]> {
        let (owner, matches) = self.0.get_or_init(|| (id, compute()));
        if *owner == id {
            std::borrow::Cow::Borrowed(matches)
        } else {
            std::borrow::Cow::Owned(compute().into_vec())
        }
    }
}

impl Clone for ServerMatches {
    fn clone(&self) -> Self {
        ServerMatches(self.0.clone())
    }
}

impl PartialEq for ServerMatches {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ServerMatches {}

impl fmt::Debug for ServerMatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerMatches")
    }
}

/// One node of the canonical tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// Only ever the root: a filter that a JSON query folded to a constant.
    Const(bool),
    /// Index into `Filter::mentions`.
    Tag(u16),
    Not(Box<Node>),
    /// At least two operands, none of them an `And` or a `Const`.
    And(Box<[Node]>),
    /// At least two operands, none of them an `Or` or a `Const`.
    Or(Box<[Node]>),
}

/// A filter was refused. `Display` gives the description the client sees
/// (1MCP's texts where 1MCP has one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// `tag_filter` is empty or only whitespace.
    #[error("Parse error: Query string cannot be empty")]
    EmptyExpression,
    /// `tag_filter` is longer than [`MAX_EXPRESSION_BYTES`].
    #[error("Parse error: Expression is longer than 4096 bytes ({len})")]
    ExpressionTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A character that starts no token.
    #[error("Parse error: Unexpected character '{ch}' at position {position}")]
    UnexpectedCharacter {
        /// The character.
        ch: char,
        /// Its position: characters from the start of the trimmed expression.
        position: usize,
    },
    /// A token where a tag or `(` was expected (`!!x`, `not not x`, `a and )`).
    #[error("Parse error: Unexpected token '{token}' at position {position}")]
    UnexpectedToken {
        /// The token as 1MCP names it (`and`, `or`, `not`, `!`, `-`, `(`, `)`, the tag).
        token: String,
        /// Its position (characters from the start of the trimmed expression).
        position: usize,
    },
    /// The expression ends where a tag or `(` was expected (`web and`).
    #[error("Parse error: Unexpected end of input")]
    UnexpectedEnd,
    /// A `(` is never closed.
    #[error("Parse error: Missing closing parenthesis")]
    MissingClosingParenthesis,
    /// Tokens left after a complete expression (`web api`: there is no
    /// implicit AND; `a)`).
    #[error("Parse error: Unexpected tokens: {tokens}")]
    UnexpectedTokens {
        /// The tokens left, joined by spaces (1MCP's text).
        tokens: String,
        /// Position of the first of them.
        position: usize,
    },
    /// Parentheses nested deeper than [`MAX_DEPTH`].
    #[error("Parse error: Nesting deeper than 32 levels at position {position}")]
    TooDeep {
        /// Position of the `(` that goes too deep.
        position: usize,
    },
    /// More than [`MAX_MENTIONS`] tag mentions.
    #[error("Parse error: More than 256 tag mentions at position {position}")]
    TooManyMentions {
        /// Position of the first mention past the limit.
        position: usize,
    },
    /// A tag in the expression is not a valid tag (too long).
    #[error("Parse error: Invalid tag at position {position}: {error}")]
    InvalidExpressionTag {
        /// Position of the tag.
        position: usize,
        /// Why it is refused.
        error: TagError,
    },
    /// `tags` holds no tag (`""`, `" , ,"`).
    #[error("Invalid tags: no tag given")]
    NoTags,
    /// `tags` holds more than [`MAX_SIMPLE_TAGS`] entries.
    #[error("Invalid tags: Too many tags: maximum 50 allowed, got {count}")]
    TooManyTags {
        /// How many entries it holds.
        count: usize,
    },
    /// An entry of `tags` is not a valid tag.
    #[error("Invalid tags: {0}")]
    InvalidTag(TagError),
    /// A JSON tag query is malformed; `path` is the JSON path inside the
    /// query (`$and[1].tag`; empty for the query itself).
    #[error("Invalid tag query at {}: {message}", join_path("tag_query", path))]
    InvalidQuery {
        /// JSON path inside the query.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// The request names a preset that is not configured.
    #[error("Preset '{name}' not found")]
    UnknownPreset {
        /// The name asked for.
        name: String,
    },
}

impl FilterError {
    /// The reason code a refusal carries: `unknown_preset` for an unknown
    /// preset, else `invalid_filter` (both 400 `invalid_request`).
    pub fn reason(&self) -> Reason {
        match self {
            FilterError::UnknownPreset { .. } => Reason::UnknownPreset,
            _ => Reason::InvalidFilter,
        }
    }
}

impl Filter {
    /// Compiles a `tags` list: comma-separated tags meaning OR. Entries are
    /// trimmed, empties dropped, lowercased and repeats dropped; at most 50
    /// entries (counted before repeats are dropped), each a valid tag; no
    /// tag at all is an error.
    ///
    /// ```
    /// use mcpguard::access::Filter;
    /// let f = Filter::parse_tags("Web, api ,,web").unwrap();
    /// assert_eq!(f.tags(), ["web", "api"]);
    /// assert!(f.matches_tags(&["api"]));
    /// ```
    pub fn parse_tags(list: &str) -> Result<Filter, FilterError> {
        let mut builder = Builder::default();
        let mut operands = Vec::new();
        let mut count = 0usize;
        for raw in list.split(',') {
            if raw.trim().is_empty() {
                continue;
            }
            count = count.saturating_add(1);
            if count > MAX_SIMPLE_TAGS {
                // Count the rest for the message, without validating it.
                let total = list.split(',').filter(|t| !t.trim().is_empty()).count();
                return Err(FilterError::TooManyTags { count: total });
            }
            let tag = normalize_tag(raw, TagSource::Filter).map_err(FilterError::InvalidTag)?;
            if builder.contains(&tag) {
                continue;
            }
            operands.push(builder.tag(tag));
        }
        if operands.is_empty() {
            return Err(FilterError::NoTags);
        }
        Ok(builder.finish(Node::or(operands)))
    }

    /// Compiles a `tag_filter` expression (1MCP's advanced syntax).
    ///
    /// ```
    /// use mcpguard::access::Filter;
    /// let f = Filter::parse_expression("web+api-test").unwrap();
    /// assert_eq!(f.to_string(), "web+api-test");
    /// assert!(Filter::parse_expression("web api").is_err());
    /// ```
    pub fn parse_expression(expression: &str) -> Result<Filter, FilterError> {
        let mut builder = Builder::default();
        let root = super::expression::parse(expression, &mut builder, 0)?;
        Ok(builder.finish(root))
    }

    /// Compiles a JSON tag query (`{"tag": ..}`, `$and`, `$or`, `$not`,
    /// `$in`, `{"tag": {"$in": ..}}`, `$advanced`).
    pub fn from_query(query: &serde_json::Value) -> Result<Filter, FilterError> {
        let mut builder = Builder::default();
        let root = super::query::compile(query, &mut builder)?;
        Ok(builder.finish(root))
    }

    /// The normalised tags the filter mentions (under NOT too), first-seen
    /// order, each once.
    pub fn tags(&self) -> Vec<String> {
        self.mentions.iter().map(|m| m.to_string()).collect()
    }

    /// The mentioned tags without copying them; indices are those
    /// [`Filter::matches_with`] asks about.
    pub fn mentions(&self) -> &[Box<str>] {
        &self.mentions
    }

    /// Whether a server with these tags matches. The tags are normalised
    /// (trimmed, ASCII-lowercased) as they are compared; nothing is
    /// allocated.
    pub fn matches_tags<S: AsRef<str>>(&self, tags: &[S]) -> bool {
        self.matches_with(|i| {
            let mention = &self.mentions[i];
            tags.iter().any(|t| normalizes_to(t.as_ref(), mention))
        })
    }

    /// Evaluates the filter, asking `has(i)` whether the server carries
    /// mention `i` (an index into [`Filter::mentions`]). AND and OR stop at
    /// the first operand that decides them.
    #[inline]
    pub fn matches_with<F: Fn(usize) -> bool>(&self, has: F) -> bool {
        self.root.eval(&has)
    }
}

impl Node {
    fn eval<F: Fn(usize) -> bool>(&self, has: &F) -> bool {
        // Recursion is bounded: parsers refuse nesting deeper than MAX_DEPTH.
        match self {
            Node::Const(value) => *value,
            Node::Tag(i) => has(usize::from(*i)),
            Node::Not(inner) => !inner.eval(has),
            Node::And(operands) => operands.iter().all(|n| n.eval(has)),
            Node::Or(operands) => operands.iter().any(|n| n.eval(has)),
        }
    }

    /// AND of `operands`, canonical (see the module documentation).
    pub(crate) fn and(operands: Vec<Node>) -> Node {
        Node::combine(operands, true)
    }

    /// OR of `operands`, canonical.
    pub(crate) fn or(operands: Vec<Node>) -> Node {
        Node::combine(operands, false)
    }

    /// `is_and`: AND (identity true) or OR (identity false).
    fn combine(operands: Vec<Node>, is_and: bool) -> Node {
        let mut flat = Vec::with_capacity(operands.len());
        for node in operands {
            match node {
                // The identity drops out; the absorbing constant decides.
                Node::Const(v) if v == is_and => {}
                Node::Const(v) => return Node::Const(v),
                Node::And(inner) if is_and => flat.extend(inner.into_vec()),
                Node::Or(inner) if !is_and => flat.extend(inner.into_vec()),
                other => flat.push(other),
            }
        }
        match flat.len() {
            0 => Node::Const(is_and),
            1 => flat.pop().unwrap_or(Node::Const(is_and)),
            _ if is_and => Node::And(flat.into_boxed_slice()),
            _ => Node::Or(flat.into_boxed_slice()),
        }
    }

    /// NOT of `operand`.
    pub(crate) fn not(operand: Node) -> Node {
        match operand {
            Node::Const(v) => Node::Const(!v),
            other => Node::Not(Box::new(other)),
        }
    }

    /// Renumbers tag indices in first-seen order, collecting the mentions
    /// that survive folding.
    fn renumber(&mut self, old: &[Box<str>], new: &mut Vec<Box<str>>, map: &mut [Option<u16>]) {
        match self {
            Node::Const(_) => {}
            Node::Tag(i) => {
                let slot = usize::from(*i);
                let index = match map.get(slot).copied().flatten() {
                    Some(index) => index,
                    None => {
                        // At most MAX_MENTIONS distinct mentions exist, so
                        // the new index fits in u16.
                        let index = u16::try_from(new.len()).unwrap_or(u16::MAX);
                        new.push(old.get(slot).cloned().unwrap_or_default());
                        if let Some(m) = map.get_mut(slot) {
                            *m = Some(index);
                        }
                        index
                    }
                };
                *i = index;
            }
            Node::Not(inner) => inner.renumber(old, new, map),
            Node::And(operands) | Node::Or(operands) => {
                for n in operands.iter_mut() {
                    n.renumber(old, new, map);
                }
            }
        }
    }

    /// Writes the node in the advanced syntax, shortest form: `!`, `+`
    /// and `,` rather than keywords, no spaces, and parentheses only where
    /// precedence needs them (an OR inside an AND, a group under NOT).
    fn write_expression(&self, mentions: &[Box<str>], out: &mut String) {
        let name = |i: &u16| mentions.get(usize::from(*i)).map(|m| &**m).unwrap_or("");
        match self {
            // Only the root is ever constant; `Filter`'s Display prints it
            // as JSON before reaching here.
            Node::Const(true) => out.push_str(r#"{"$and":[]}"#),
            Node::Const(false) => out.push_str(r#"{"$or":[]}"#),
            Node::Tag(i) => out.push_str(name(i)),
            // `!!x` is not allowed: NOT takes one tag or one group.
            Node::Not(inner) => {
                out.push('!');
                match &**inner {
                    Node::Tag(i) => out.push_str(name(i)),
                    other => {
                        out.push('(');
                        other.write_expression(mentions, out);
                        out.push(')');
                    }
                }
            }
            Node::And(operands) => {
                for (k, n) in operands.iter().enumerate() {
                    if k > 0 {
                        out.push('+');
                    }
                    if matches!(n, Node::Or(_)) {
                        out.push('(');
                        n.write_expression(mentions, out);
                        out.push(')');
                    } else {
                        n.write_expression(mentions, out);
                    }
                }
            }
            Node::Or(operands) => {
                for (k, n) in operands.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    n.write_expression(mentions, out);
                }
            }
        }
    }

    /// How deep the parentheses of [`Node::write_expression`] nest.
    fn paren_depth(&self) -> usize {
        match self {
            Node::Const(_) | Node::Tag(_) => 0,
            Node::Not(inner) => match &**inner {
                Node::Tag(_) => 0,
                other => 1 + other.paren_depth(),
            },
            Node::And(operands) => operands
                .iter()
                .map(|n| usize::from(matches!(n, Node::Or(_))) + n.paren_depth())
                .max()
                .unwrap_or(0),
            Node::Or(operands) => operands.iter().map(Node::paren_depth).max().unwrap_or(0),
        }
    }

    /// Writes the node as a JSON tag query object at nesting `depth` (the
    /// query itself is depth 1), for a filter whose expression would pass
    /// [`MAX_EXPRESSION_BYTES`]. A subtree whose expression fits, and whose
    /// parentheses fit under the depth already used, becomes one
    /// `$advanced` member; others become `$and`, `$or`, `$not`, `$in` and
    /// `tag`. Tags and the expression syntax need no JSON escaping.
    fn write_query(&self, mentions: &[Box<str>], depth: usize, out: &mut String) {
        let name = |i: &u16| mentions.get(usize::from(*i)).map(|m| &**m).unwrap_or("");
        let tag = |i: &u16, out: &mut String| {
            out.push('"');
            out.push_str(name(i));
            out.push('"');
        };
        match self {
            Node::Const(_) => self.write_expression(mentions, out),
            Node::Tag(i) => {
                out.push_str(r#"{"tag":"#);
                tag(i, out);
                out.push('}');
            }
            _ => {
                let mut expression = String::new();
                self.write_expression(mentions, &mut expression);
                if expression.len() <= MAX_EXPRESSION_BYTES
                    && depth + self.paren_depth() <= MAX_DEPTH
                {
                    out.push_str(r#"{"$advanced":""#);
                    out.push_str(&expression);
                    out.push_str(r#""}"#);
                    return;
                }
                match self {
                    Node::Not(inner) => {
                        out.push_str(r#"{"$not":"#);
                        inner.write_query(mentions, depth + 1, out);
                        out.push('}');
                    }
                    Node::Or(operands) if operands.iter().all(|n| matches!(n, Node::Tag(_))) => {
                        out.push_str(r#"{"$in":["#);
                        for (k, n) in operands.iter().enumerate() {
                            if k > 0 {
                                out.push(',');
                            }
                            if let Node::Tag(i) = n {
                                tag(i, out);
                            }
                        }
                        out.push_str("]}");
                    }
                    Node::And(operands) | Node::Or(operands) => {
                        out.push_str(if matches!(self, Node::And(_)) {
                            r#"{"$and":["#
                        } else {
                            r#"{"$or":["#
                        });
                        for (k, n) in operands.iter().enumerate() {
                            if k > 0 {
                                out.push(',');
                            }
                            n.write_query(mentions, depth + 1, out);
                        }
                        out.push_str("]}");
                    }
                    Node::Const(_) | Node::Tag(_) => {}
                }
            }
        }
    }
}

impl Filter {
    /// The printed form (see the [`Display`](fmt::Display) impl).
    fn printed(&self) -> String {
        if let Node::Const(_) = self.root {
            let mut out = String::new();
            self.root.write_expression(&self.mentions, &mut out);
            return out;
        }
        let mut expression = String::new();
        self.root.write_expression(&self.mentions, &mut expression);
        if expression.len() <= MAX_EXPRESSION_BYTES {
            return expression;
        }
        let mut query = String::new();
        self.root.write_query(&self.mentions, 1, &mut query);
        query
    }
}

/// Prints the filter as the shortest advanced-syntax expression that parses
/// back to it (`web+(api,db)+!test`): symbols rather than keywords, no
/// spaces, parentheses only where precedence needs them, so it is never
/// longer than an expression it was parsed from. Two cases are printed as a
/// JSON tag query instead (text starting with `{`): a constant filter
/// (`{"$and":[]}`, `{"$or":[]}`; the advanced syntax has no constant), and a
/// filter from a JSON query whose expression would pass
/// [`MAX_EXPRESSION_BYTES`]. [`str::parse`] (the [`FromStr`](std::str::FromStr)
/// impl) reads either form back to an equal filter.
///
/// ```
/// use mcpguard::access::Filter;
/// let f = Filter::parse_expression("web and (api or db) and not test").unwrap();
/// assert_eq!(f.to_string(), "web+(api,db)+!test");
/// assert_eq!(f.to_string().parse::<Filter>().unwrap(), f);
/// ```
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.printed())
    }
}

/// Reads a printed filter back: text starting with `{` (after whitespace)
/// as a JSON tag query, anything else as an advanced-syntax expression.
impl std::str::FromStr for Filter {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Filter, FilterError> {
        if text.trim_start().starts_with('{') {
            let query: serde_json::Value =
                serde_json::from_str(text).map_err(|e| FilterError::InvalidQuery {
                    path: String::new(),
                    message: format!("not JSON: {e}"),
                })?;
            Filter::from_query(&query)
        } else {
            Filter::parse_expression(text)
        }
    }
}

/// Collects mentions while a parser builds the tree.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    pub(crate) mentions: Vec<Box<str>>,
    /// Index of each mention: a hash map keeps interning linear in the
    /// number of mentions (a scan of up to 256 per tag would not be).
    index: HashMap<Box<str>, u16>,
    /// Mentions counted with repeats, against [`MAX_MENTIONS`].
    pub(crate) count: usize,
}

impl Builder {
    /// A node for the (normalised) `tag`, interning it.
    pub(crate) fn tag(&mut self, tag: String) -> Node {
        self.count = self.count.saturating_add(1);
        if let Some(index) = self.index.get(tag.as_str()) {
            return Node::Tag(*index);
        }
        // Callers refuse more than MAX_MENTIONS mentions before this point,
        // so the index fits in u16.
        let index = u16::try_from(self.mentions.len()).unwrap_or(u16::MAX);
        let tag = tag.into_boxed_str();
        self.mentions.push(tag.clone());
        self.index.insert(tag, index);
        Node::Tag(index)
    }

    /// Whether `tag` is already mentioned.
    pub(crate) fn contains(&self, tag: &str) -> bool {
        self.index.contains_key(tag)
    }

    /// Whether one more mention would pass [`MAX_MENTIONS`].
    pub(crate) fn full(&self) -> bool {
        self.count >= MAX_MENTIONS
    }

    pub(crate) fn finish(self, mut root: Node) -> Filter {
        let mut map = vec![None; self.mentions.len()];
        let mut mentions = Vec::with_capacity(self.mentions.len());
        root.renumber(&self.mentions, &mut mentions, &mut map);
        Filter {
            root,
            mentions: mentions.into_boxed_slice(),
            servers: ServerMatches::default(),
        }
    }
}
