//! The `tag_filter` expression language, 1MCP's advanced syntax.
//!
//! - AND: `and`, `&&`, `+`; OR: `or`, `||`, `,`; NOT: `not`, `!`, and `-`
//!   when it starts the expression or follows whitespace, `(`, an AND/OR
//!   symbol or a keyword (`web+api-test` is `web AND "api-test"`). After
//!   `!`, a NOT `-` or `)` a `-` would begin a tag, but no tag starts with
//!   `-` (`--web` and `!-web` are refused, naming the tag `-web`).
//! - Keywords are case-insensitive and must be followed by whitespace, `(`,
//!   `)`, `&`, `|`, `+`, `,`, `-` or the end.
//! - Precedence NOT > AND > OR; NOT takes one tag or one parenthesised
//!   group (`!!x` is an error); there is no implicit AND (`web api` is an
//!   error).
//!
//! Positions in errors count characters from the start of the trimmed
//! expression, as 1MCP's do. The tokenizer is one pass; the parser recurses
//! only into parentheses and refuses the 33rd level before descending, so
//! work is linear in the input and the stack stays shallow.

use super::filter::{Builder, FilterError, MAX_DEPTH, MAX_EXPRESSION_BYTES, Node};
use super::tag::{MAX_TAG_LEN, TagError, TagSource, is_tag_byte, reads_as_operator};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tag,
    And,
    Or,
    Not,
    LParen,
    RParen,
}

#[derive(Debug)]
struct Token<'a> {
    kind: Kind,
    /// How 1MCP names the token in errors: the keyword in lowercase, the
    /// symbol, or the source text of a tag.
    text: &'a str,
    position: usize,
}

/// Parses `expression` into a node, interning tags in `builder`.
/// `depth_used` is the nesting already spent by an enclosing JSON query
/// (for `$advanced`), so the two limits do not multiply.
pub(crate) fn parse(
    expression: &str,
    builder: &mut Builder,
    depth_used: usize,
) -> Result<Node, FilterError> {
    if expression.len() > MAX_EXPRESSION_BYTES {
        return Err(FilterError::ExpressionTooLong {
            len: expression.len(),
        });
    }
    let text = expression.trim();
    if text.is_empty() {
        return Err(FilterError::EmptyExpression);
    }
    let tokens = tokenize(text, builder)?;
    let mut parser = Parser {
        tokens: &tokens,
        next: 0,
        builder,
        depth: depth_used,
    };
    let node = parser.or_expression()?;
    if let Some(first) = tokens.get(parser.next) {
        let rest: Vec<String> = tokens[parser.next..].iter().map(Token::shown).collect();
        return Err(FilterError::UnexpectedTokens {
            tokens: rest.join(" "),
            position: first.position,
        });
    }
    Ok(node)
}

/// Whether the character after a keyword ends it.
fn is_keyword_boundary(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c.is_whitespace() || matches!(c, '(' | ')' | '&' | '|' | '+' | ',' | '-'),
    }
}

/// The keyword at the start of `rest`, if any.
fn keyword(rest: &str) -> Option<(Kind, &'static str)> {
    for (word, kind) in [("and", Kind::And), ("or", Kind::Or), ("not", Kind::Not)] {
        if let Some(head) = rest.get(..word.len())
            && head.eq_ignore_ascii_case(word)
            && is_keyword_boundary(rest[word.len()..].chars().next())
        {
            return Some((kind, word));
        }
    }
    None
}

impl Token<'_> {
    /// The token as errors name it: tags lowercased, as 1MCP shows them.
    fn shown(&self) -> String {
        self.text.to_ascii_lowercase()
    }
}

fn tokenize<'a>(text: &'a str, builder: &Builder) -> Result<Vec<Token<'a>>, FilterError> {
    let mut tokens: Vec<Token<'a>> = Vec::new();
    let mut mentions = builder.count;
    // Byte offset and character position advance together.
    let mut at = 0usize;
    let mut position = 0usize;
    // What precedes the current character, for the `-` rule.
    let mut dash_is_not = true;
    while let Some(c) = text[at..].chars().next() {
        let rest = &text[at..];
        let (kind, len, shown): (Kind, usize, &'a str) = if c.is_whitespace() {
            at += c.len_utf8();
            position += 1;
            dash_is_not = true;
            continue;
        } else if c == '(' {
            (Kind::LParen, 1, "(")
        } else if c == ')' {
            (Kind::RParen, 1, ")")
        } else if c == '!' {
            (Kind::Not, 1, "!")
        } else if c == '-' && dash_is_not {
            (Kind::Not, 1, "-")
        } else if c == '+' {
            (Kind::And, 1, "+")
        } else if rest.starts_with("&&") {
            (Kind::And, 2, "&&")
        } else if c == ',' {
            (Kind::Or, 1, ",")
        } else if rest.starts_with("||") {
            (Kind::Or, 2, "||")
        } else if let Some((kind, word)) = keyword(rest) {
            (kind, word.len(), word)
        } else if c.is_ascii() && (c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            let len = rest
                .bytes()
                .position(|b| !is_tag_byte(b.to_ascii_lowercase()))
                .unwrap_or(rest.len());
            (Kind::Tag, len, &rest[..len])
        } else {
            return Err(FilterError::UnexpectedCharacter { ch: c, position });
        };
        if kind == Kind::Tag {
            if mentions >= super::filter::MAX_MENTIONS {
                return Err(FilterError::TooManyMentions { position });
            }
            mentions += 1;
            if len > MAX_TAG_LEN {
                return Err(FilterError::InvalidExpressionTag {
                    position,
                    error: TagError::TooLong {
                        tag: shown
                            .chars()
                            .take(64)
                            .collect::<String>()
                            .to_ascii_lowercase(),
                        origin: TagSource::Filter,
                    },
                });
            }
        }
        // A `-` right after an operator symbol, `(` or a keyword is a NOT;
        // after a tag, `)`, `!` or a NOT `-` it begins a tag.
        dash_is_not = match kind {
            Kind::LParen => true,
            Kind::And | Kind::Or => true,
            Kind::Not => shown.len() > 1, // the keyword `not`, not `!` or `-`
            Kind::Tag | Kind::RParen => false,
        };
        tokens.push(Token {
            kind,
            text: shown,
            position,
        });
        at += len;
        // Every token is ASCII, so its length in bytes is its length in characters.
        position += len;
    }
    Ok(tokens)
}

struct Parser<'t, 'a, 'b> {
    tokens: &'t [Token<'a>],
    next: usize,
    builder: &'b mut Builder,
    depth: usize,
}

impl Parser<'_, '_, '_> {
    fn peek(&self) -> Option<&Token<'_>> {
        self.tokens.get(self.next)
    }

    fn or_expression(&mut self) -> Result<Node, FilterError> {
        let mut operands = vec![self.and_expression()?];
        while self.peek().is_some_and(|t| t.kind == Kind::Or) {
            self.next += 1;
            operands.push(self.and_expression()?);
        }
        Ok(Node::or(operands))
    }

    fn and_expression(&mut self) -> Result<Node, FilterError> {
        let mut operands = vec![self.not_expression()?];
        while self.peek().is_some_and(|t| t.kind == Kind::And) {
            self.next += 1;
            operands.push(self.not_expression()?);
        }
        Ok(Node::and(operands))
    }

    fn not_expression(&mut self) -> Result<Node, FilterError> {
        match self.peek() {
            None => Err(FilterError::UnexpectedEnd),
            Some(t) if t.kind == Kind::Not => {
                self.next += 1;
                Ok(Node::not(self.atom()?))
            }
            Some(_) => self.atom(),
        }
    }

    fn atom(&mut self) -> Result<Node, FilterError> {
        let Some(token) = self.tokens.get(self.next) else {
            return Err(FilterError::UnexpectedEnd);
        };
        match token.kind {
            Kind::Tag => {
                let tag = token.text.to_ascii_lowercase();
                // Only a tag right after `!`, a NOT `-` or `)` can start
                // with `-`; keywords never lex as tags.
                if reads_as_operator(&tag) {
                    return Err(FilterError::InvalidExpressionTag {
                        position: token.position,
                        error: TagError::Operator {
                            tag,
                            origin: TagSource::Filter,
                        },
                    });
                }
                self.next += 1;
                Ok(self.builder.tag(tag))
            }
            Kind::LParen => {
                if self.depth >= MAX_DEPTH {
                    return Err(FilterError::TooDeep {
                        position: token.position,
                    });
                }
                self.next += 1;
                self.depth += 1;
                let inner = self.or_expression()?;
                self.depth -= 1;
                match self.peek() {
                    Some(t) if t.kind == Kind::RParen => {
                        self.next += 1;
                        Ok(inner)
                    }
                    _ => Err(FilterError::MissingClosingParenthesis),
                }
            }
            _ => Err(FilterError::UnexpectedToken {
                token: token.shown(),
                position: token.position,
            }),
        }
    }
}
