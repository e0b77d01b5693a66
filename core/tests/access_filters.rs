//! The filter languages of docs/access.md: `tags` lists, `tag_filter`
//! expressions and JSON tag queries, compiled to one form.

use mcpguard::access::{Filter, FilterError, TagError};
use serde_json::json;

fn expr(s: &str) -> Filter {
    Filter::parse_expression(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn expr_err(s: &str) -> String {
    match Filter::parse_expression(s) {
        Ok(f) => panic!("{s:?} parsed as {f}"),
        Err(e) => e.to_string(),
    }
}

fn m(f: &Filter, tags: &[&str]) -> bool {
    f.matches_tags(tags)
}

// ---- tags lists ----

#[test]
fn tags_list_is_an_or_of_trimmed_lowercased_tags_without_repeats() {
    let f = Filter::parse_tags(" Web , api,, WEB ,").unwrap();
    assert_eq!(f.tags(), ["web", "api"]);
    assert!(m(&f, &["api"]) && m(&f, &["web"]) && !m(&f, &["db"]));
    assert_eq!(f, expr("web or api"));
}

#[test]
fn tags_list_with_no_tag_is_invalid() {
    for s in ["", " , ,", ","] {
        assert_eq!(Filter::parse_tags(s), Err(FilterError::NoTags), "{s:?}");
    }
}

#[test]
fn tags_list_allows_fifty_entries_counted_before_dedupe() {
    let fifty = vec!["a"; 50].join(",");
    assert_eq!(Filter::parse_tags(&fifty).unwrap().tags(), ["a"]);
    let e = Filter::parse_tags(&vec!["a"; 51].join(",")).unwrap_err();
    assert_eq!(e, FilterError::TooManyTags { count: 51 });
    assert_eq!(
        e.to_string(),
        "Invalid tags: Too many tags: maximum 50 allowed, got 51"
    );
}

#[test]
fn tags_list_refuses_invalid_tags_unlike_1mcp_which_warned() {
    let e = Filter::parse_tags("web, a b").unwrap_err();
    assert!(
        matches!(
            e,
            FilterError::InvalidTag(TagError::InvalidCharacter { ch: ' ', .. })
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("'a b'"), "{e}");
    assert!(Filter::parse_tags("wéb").is_err());
    assert!(
        Filter::parse_tags("web%20api").is_err(),
        "never URL-decoded"
    );
}

// ---- expression syntax ----

#[test]
fn and_or_not_have_word_and_symbol_spellings() {
    let and = expr("a and b");
    for s in ["a && b", "a+b", "a AND b", "a And b"] {
        assert_eq!(expr(s), and, "{s}");
    }
    let or = expr("a or b");
    for s in ["a || b", "a,b", "a OR b"] {
        assert_eq!(expr(s), or, "{s}");
    }
    let not = expr("not a");
    for s in ["!a", "-a", "NOT a", " - a"] {
        assert_eq!(expr(s), not, "{s}");
    }
}

#[test]
fn one_mcp_example_web_plus_api_dash_test_is_and_of_a_dashed_tag() {
    let f = expr("web+api-test");
    assert_eq!(f.tags(), ["web", "api-test"]);
    assert!(m(&f, &["web", "api-test"]));
    assert!(!m(&f, &["web", "api"]));
}

#[test]
fn dash_is_not_after_start_space_paren_symbols_and_keywords() {
    let cases = [
        ("-a", "!a"),
        ("x + -a", "x+!a"),
        ("x+-a", "x+!a"),
        ("x,-a", "x,!a"),
        ("x&&-a", "x+!a"),
        ("x||-a", "x,!a"),
        ("(-a)", "!a"),
        ("x and-a", "x+!a"),
        ("x or-a", "x,!a"),
    ];
    for (input, printed) in cases {
        assert_eq!(expr(input).to_string(), printed, "{input}");
    }
}

#[test]
fn a_tag_starting_with_dash_after_a_not_is_refused_by_name() {
    for (s, position) in [("--web", 1), ("!-web", 1), ("x and !-web", 7)] {
        let e = Filter::parse_expression(s).unwrap_err();
        assert!(
            matches!(&e, FilterError::InvalidExpressionTag { position: p, error: TagError::Operator { tag, .. } }
                if *p == position && tag == "-web"),
            "{s}: {e:?}"
        );
        assert!(e.to_string().contains("'-web'"), "{e}");
    }
    // After `)` a `-tag` is left over, as before: there is no implicit AND.
    assert_eq!(expr_err("(a)-b"), "Parse error: Unexpected tokens: -b");
}

#[test]
fn tags_the_expression_cannot_name_are_refused_in_lists_and_queries() {
    for tag in ["-web", "and", "Or", "not", "or-x", "and-x", "not-x"] {
        let e = Filter::parse_tags(&format!("a,{tag}")).unwrap_err();
        assert!(
            matches!(&e, FilterError::InvalidTag(TagError::Operator { .. })),
            "{tag}: {e:?}"
        );
        assert!(
            e.to_string()
                .contains(&format!("'{}'", tag.to_ascii_lowercase())),
            "{e}"
        );
        let e = Filter::from_query(&serde_json::json!({"$in": ["a", tag]})).unwrap_err();
        assert!(e.to_string().contains("reads as an operator"), "{e}");
    }
}

#[test]
fn keywords_need_a_boundary_after_them() {
    // `android`, `order`, `nothing` are tags, not keywords.
    let f = expr("android and order or nothing");
    assert_eq!(f.tags(), ["android", "order", "nothing"]);
    // Keywords end at ( ) & | + , - or whitespace.
    assert_eq!(expr("not(a)"), expr("!a"));
    assert_eq!(expr("(a)and(b)"), expr("a and b"));
    assert_eq!(
        expr_err("a and+b"),
        "Parse error: Unexpected token '+' at position 5"
    );
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let f = expr("a or b and not c");
    assert_eq!(f.to_string(), "a,b+!c");
    assert!(m(&f, &["a", "c"]));
    assert!(m(&f, &["b"]));
    assert!(!m(&f, &["b", "c"]));
    let g = expr("(a or b) and c");
    assert!(!m(&g, &["a"]) && m(&g, &["a", "c"]));
}

#[test]
fn expressions_are_case_insensitive_for_tags_too() {
    assert_eq!(expr("WEB and Api"), expr("web and api"));
    assert!(m(&expr("WEB"), &[" Web "]));
}

#[test]
fn not_takes_one_tag_or_group_so_double_negation_is_an_error() {
    assert_eq!(
        expr_err("!!x"),
        "Parse error: Unexpected token '!' at position 1"
    );
    assert_eq!(
        expr_err("not not x"),
        "Parse error: Unexpected token 'not' at position 4"
    );
    // A group may hold a NOT.
    assert!(m(&expr("!(!x)"), &["x"]));
}

#[test]
fn there_is_no_implicit_and() {
    assert_eq!(expr_err("web api"), "Parse error: Unexpected tokens: api");
    assert_eq!(
        Filter::parse_expression("web api b").unwrap_err(),
        FilterError::UnexpectedTokens {
            tokens: "api b".into(),
            position: 4
        }
    );
}

#[test]
fn parse_errors_use_1mcp_texts_with_positions() {
    assert_eq!(
        expr_err("web&api"),
        "Parse error: Unexpected character '&' at position 3"
    );
    assert_eq!(
        expr_err("  web | api"),
        "Parse error: Unexpected character '|' at position 4",
        "positions count from the trimmed expression"
    );
    assert_eq!(expr_err("(web"), "Parse error: Missing closing parenthesis");
    assert_eq!(expr_err("web and"), "Parse error: Unexpected end of input");
    assert_eq!(
        expr_err("and web"),
        "Parse error: Unexpected token 'and' at position 0"
    );
    assert_eq!(expr_err("web)"), "Parse error: Unexpected tokens: )");
    assert_eq!(
        expr_err("wéb"),
        "Parse error: Unexpected character 'é' at position 1"
    );
    assert_eq!(
        expr_err("é + ü"),
        "Parse error: Unexpected character 'é' at position 0"
    );
    assert_eq!(
        expr_err("a + b:c"),
        "Parse error: Unexpected character ':' at position 5"
    );
}

#[test]
fn empty_expression_is_invalid() {
    for s in ["", "   ", "\n"] {
        assert_eq!(
            Filter::parse_expression(s),
            Err(FilterError::EmptyExpression)
        );
    }
    assert_eq!(
        FilterError::EmptyExpression.to_string(),
        "Parse error: Query string cannot be empty"
    );
}

#[test]
fn expression_longer_than_4096_bytes_is_refused() {
    let ok = format!("web{}", " ".repeat(4093));
    assert_eq!(ok.len(), 4096);
    assert!(Filter::parse_expression(&ok).is_ok());
    let long = format!("{ok} ");
    assert_eq!(
        Filter::parse_expression(&long),
        Err(FilterError::ExpressionTooLong { len: 4097 })
    );
}

#[test]
fn nesting_deeper_than_32_is_refused() {
    let ok = format!("{}a{}", "(".repeat(32), ")".repeat(32));
    assert!(m(&expr(&ok), &["a"]));
    let deep = format!("{}a{}", "(".repeat(33), ")".repeat(33));
    assert_eq!(
        Filter::parse_expression(&deep),
        Err(FilterError::TooDeep { position: 32 })
    );
    let e = expr_err(&"(".repeat(4000));
    assert!(e.contains("Nesting deeper than 32"), "{e}");
}

#[test]
fn more_than_256_mentions_is_refused() {
    let ok = vec!["a"; 256].join(",");
    assert!(Filter::parse_expression(&ok).is_ok());
    let over = vec!["a"; 257].join(",");
    assert_eq!(
        Filter::parse_expression(&over),
        Err(FilterError::TooManyMentions { position: 512 })
    );
}

#[test]
fn expression_tags_longer_than_50_characters_are_refused() {
    let e = Filter::parse_expression(&format!("ok and {}", "x".repeat(51))).unwrap_err();
    assert!(
        matches!(e, FilterError::InvalidExpressionTag { position: 7, .. }),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("Parse error: "), "{e}");
}

// ---- JSON tag queries ----

#[test]
fn json_query_operators_compile_to_the_same_form() {
    let q = |v| Filter::from_query(&v).unwrap();
    assert_eq!(q(json!({"tag": "Web"})), expr("web"));
    assert_eq!(
        q(json!({"$and": [{"tag": "a"}, {"$or": [{"tag": "b"}, {"tag": "c"}]}]})),
        expr("a and (b or c)")
    );
    assert_eq!(q(json!({"$not": {"tag": "a"}})), expr("!a"));
    assert_eq!(q(json!({"$in": ["a", "B"]})), expr("a or b"));
    assert_eq!(q(json!({"$advanced": "a + -b"})), expr("a and !b"));
}

#[test]
fn json_tag_in_matches_unlike_1mcp() {
    let f = Filter::from_query(&json!({"tag": {"$in": ["Web", "db"]}})).unwrap();
    assert!(m(&f, &["db"]));
    assert!(!m(&f, &["api"]));
    assert_eq!(f, expr("web or db"));
}

#[test]
fn json_queries_are_case_insensitive_unlike_1mcp() {
    let f = Filter::from_query(&json!({"tag": "WEB"})).unwrap();
    assert!(m(&f, &["web"]) && m(&f, &["Web"]));
}

#[test]
fn json_advanced_matches_unlike_1mcp() {
    let f = Filter::from_query(&json!({"$advanced": "web and not test"})).unwrap();
    assert!(m(&f, &["web"]));
    assert!(!m(&f, &["web", "test"]));
}

#[test]
fn empty_and_is_true_and_empty_or_is_false() {
    let t = Filter::from_query(&json!({"$and": []})).unwrap();
    let f = Filter::from_query(&json!({"$or": []})).unwrap();
    assert!(m(&t, &[]) && m(&t, &["x"]));
    assert!(!m(&f, &[]) && !m(&f, &["x"]));
    assert!(t.tags().is_empty());
    assert_eq!(t.to_string(), r#"{"$and":[]}"#);
    assert_eq!(f.to_string(), r#"{"$or":[]}"#);
    // Nested constants fold away.
    let g = Filter::from_query(&json!({"$and": [{"tag": "a"}, {"$and": []}]})).unwrap();
    assert_eq!(g, expr("a"));
    let h = Filter::from_query(&json!({"$or": [{"tag": "a"}, {"$not": {"$or": []}}]})).unwrap();
    assert!(m(&h, &[]));
}

fn query_err(v: serde_json::Value) -> (String, String) {
    match Filter::from_query(&v) {
        Err(FilterError::InvalidQuery { path, message }) => (path, message),
        other => panic!("{v}: {other:?}"),
    }
}

#[test]
fn malformed_json_queries_name_the_json_path() {
    assert_eq!(query_err(json!({})).0, "");
    assert_eq!(query_err(json!({"tag": "a", "$or": []})).0, "");
    assert!(
        query_err(json!({"tag": "a", "$or": []}))
            .1
            .contains("exactly one operator")
    );
    assert_eq!(query_err(json!({"$nor": []})).1, "unknown operator '$nor'");
    assert_eq!(
        query_err(json!({"$and": [{"tag": "a"}, {"tag": 3}]})).0,
        "$and[1].tag"
    );
    assert_eq!(query_err(json!({"$or": [{"$not": "x"}]})).0, "$or[0].$not");
    assert_eq!(query_err(json!({"$in": ["a", "b c"]})).0, "$in[1]");
    assert_eq!(query_err(json!({"tag": {"$in": ["a", 1]}})).0, "tag.$in[1]");
    assert_eq!(query_err(json!({"tag": {"$nin": ["a"]}})).0, "tag");
    assert_eq!(query_err(json!({"$and": {}})).0, "$and");
    assert_eq!(query_err(json!([])).0, "");
    let (path, message) = query_err(json!({"$advanced": "a b"}));
    assert_eq!(path, "$advanced");
    assert!(message.contains("Unexpected tokens: b"), "{message}");
    let e = Filter::from_query(&json!({"$and": [{"tag": 3}]})).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("Invalid tag query at tag_query.$and[0].tag: "),
        "{e}"
    );
}

#[test]
fn json_query_nesting_and_mentions_are_bounded() {
    let mut q = json!({"tag": "a"});
    for _ in 0..31 {
        q = json!({"$not": q});
    }
    assert!(Filter::from_query(&q).is_ok(), "32 levels");
    let q33 = json!({"$not": q});
    let (path, message) = query_err(q33);
    assert!(message.contains("deeper than 32"), "{message}");
    assert!(path.starts_with("$not.$not"), "{path}");

    let tags: Vec<String> = (0..257).map(|i| format!("t{i}")).collect();
    assert!(Filter::from_query(&json!({"$in": &tags[..256]})).is_ok());
    assert!(query_err(json!({"$in": tags})).1.contains("256"));
}

#[test]
fn advanced_inside_a_deep_query_shares_the_depth_limit() {
    let mut q = json!({"$advanced": "((a))"});
    for _ in 0..30 {
        q = json!({"$not": q});
    }
    // 31 query levels + 2 parentheses > 32.
    assert!(query_err(q).1.contains("Nesting deeper than 32"));
}

// ---- the compiled form ----

#[test]
fn mentions_include_tags_under_not_in_first_seen_order() {
    assert_eq!(expr("b and !(a or b) or c").tags(), ["b", "a", "c"]);
}

#[test]
fn parentheses_only_group() {
    assert_eq!(expr("((a))"), expr("a"));
    assert_eq!(expr("a and (b and c)"), expr("a and b and c"));
    assert_eq!(expr("(a or b) or c"), expr("a or b or c"));
    assert_ne!(expr("a or b"), expr("b or a"), "operand order is kept");
}

#[test]
fn printing_gives_an_expression_that_parses_back_equal() {
    for s in [
        "a",
        "a and b",
        "a or b and c",
        "(a or b) and !c",
        "!(a and b) or -c",
        "!(!x)",
        "x+y-z,(p||q)&&!r",
    ] {
        let f = expr(s);
        let printed = f.to_string();
        assert_eq!(expr(&printed), f, "{s} printed as {printed}");
    }
}

#[test]
fn printing_is_the_shortest_form() {
    for (input, printed) in [
        ("a and b", "a+b"),
        ("a or b and c", "a,b+c"),
        ("(a or b) and !c", "(a,b)+!c"),
        ("not (a and b) or -c", "!(a+b),!c"),
        ("!(!x)", "!(!x)"),
        ("((a)) and ((b or (c)))", "a+(b,c)"),
        ("x+y-z,(p||q)&&!r", "x+y-z,(p,q)+!r"),
    ] {
        assert_eq!(expr(input).to_string(), printed, "{input}");
    }
}

#[test]
fn an_expression_under_the_limit_never_prints_past_it() {
    // 3.6 KB of `a and b or ...` printed with keywords would be 4.3 KB.
    let tag = "t".repeat(40);
    let input = vec![format!("{tag} and {tag}"); 42].join(" or ");
    assert!(input.len() > 3500 && input.len() <= 4096, "{}", input.len());
    let f = expr(&input);
    let printed = f.to_string();
    assert!(printed.len() <= input.len(), "{}", printed.len());
    assert_eq!(expr(&printed), f);
}

#[test]
fn a_query_too_long_for_an_expression_prints_as_a_query_that_reads_back() {
    let tags: Vec<String> = (0..200).map(|i| format!("{i:0>40}")).collect();
    let query = serde_json::json!({"$and": [{"$in": tags[..100]}, {"$not": {"$in": tags[100..]}}]});
    let f = Filter::from_query(&query).unwrap();
    let printed = f.to_string();
    assert!(printed.starts_with('{'), "{printed}");
    assert_eq!(printed.parse::<Filter>().unwrap(), f);
}

#[test]
fn filter_errors_map_to_reason_codes() {
    use mcpguard::Reason;
    assert_eq!(FilterError::NoTags.reason(), Reason::InvalidFilter);
    assert_eq!(
        FilterError::UnknownPreset { name: "x".into() }.reason(),
        Reason::UnknownPreset
    );
}
