//! Properties of the compiled filter: printing round-trips, evaluation
//! agrees with a naive evaluator, every syntax compiles the same tree, and
//! no input up to 64 KiB panics or overflows the stack.

use mcpguard::access::{Filter, FilterError};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A filter as a test writes it down, evaluated the obvious way.
#[derive(Debug, Clone)]
enum Ast {
    Tag(String),
    Not(Box<Ast>),
    And(Vec<Ast>),
    Or(Vec<Ast>),
}

impl Ast {
    fn eval(&self, tags: &[String]) -> bool {
        match self {
            Ast::Tag(t) => tags.iter().any(|s| s.trim().eq_ignore_ascii_case(t)),
            Ast::Not(a) => !a.eval(tags),
            Ast::And(v) => v.iter().all(|a| a.eval(tags)),
            Ast::Or(v) => v.iter().any(|a| a.eval(tags)),
        }
    }

    /// Fully parenthesised, with spellings picked by `style`.
    fn expression(&self, style: usize) -> String {
        let (and, or, not) = [
            (" and ", " or ", "not "),
            (" && ", " || ", "!"),
            ("+", ",", "-"),
            (" AND ", " OR ", "NOT "),
        ][style % 4];
        match self {
            Ast::Tag(t) => t.to_uppercase(),
            Ast::Not(a) => format!("{not}({})", a.expression(style + 1)),
            Ast::And(v) => v
                .iter()
                .map(|a| format!("({})", a.expression(style + 1)))
                .collect::<Vec<_>>()
                .join(and),
            Ast::Or(v) => v
                .iter()
                .map(|a| format!("({})", a.expression(style + 1)))
                .collect::<Vec<_>>()
                .join(or),
        }
    }

    fn query(&self) -> Value {
        match self {
            Ast::Tag(t) => json!({ "tag": t }),
            Ast::Not(a) => json!({ "$not": a.query() }),
            Ast::And(v) => json!({ "$and": v.iter().map(Ast::query).collect::<Vec<_>>() }),
            Ast::Or(v) => json!({ "$or": v.iter().map(Ast::query).collect::<Vec<_>>() }),
        }
    }

    /// Depth in parentheses of `expression()`.
    fn depth(&self) -> usize {
        match self {
            Ast::Tag(_) => 0,
            Ast::Not(a) => 1 + a.depth(),
            Ast::And(v) | Ast::Or(v) => 1 + v.iter().map(Ast::depth).max().unwrap_or(0),
        }
    }
}

fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "a", "b", "c", "web", "api-test", "v1.2", "x_y", "db9", "d",
            // Tags that begin like keywords but are not read as them.
            "android", "order", "nothing", "or.x", "and_y", "not9", "x-or", "a-",
        ])
        .prop_map(String::from),
        1 => "[a-z0-9_.][a-z0-9_.-]{0,49}"
            .prop_filter("not read as an operator", |t| Filter::parse_tags(t).is_ok()),
    ]
}

fn ast(min_children: usize) -> impl Strategy<Value = Ast> {
    tag()
        .prop_map(Ast::Tag)
        .prop_recursive(5, 40, 4, move |inner| {
            prop_oneof![
                inner.clone().prop_map(|a| Ast::Not(Box::new(a))),
                prop::collection::vec(inner.clone(), min_children..4).prop_map(Ast::And),
                prop::collection::vec(inner, min_children..4).prop_map(Ast::Or),
            ]
        })
}

fn tag_set() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(tag().prop_map(|t| format!(" {} ", t.to_uppercase())), 0..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn printed_filters_parse_back_equal(a in ast(1), style in 0usize..4) {
        prop_assume!(a.depth() <= 32);
        let f = Filter::parse_expression(&a.expression(style)).unwrap();
        let printed = f.to_string();
        prop_assert_eq!(Filter::parse_expression(&printed).unwrap(), f, "{}", printed);
    }

    #[test]
    fn printing_is_exact_and_never_longer_than_the_expression_parsed(a in ast(1), style in 0usize..4) {
        prop_assume!(a.depth() <= 32);
        let input = a.expression(style);
        prop_assume!(input.len() <= 4096);
        let f = Filter::parse_expression(&input).unwrap();
        let printed = f.to_string();
        prop_assert!(printed.len() <= input.len(), "{} from {}", printed, input);
        prop_assert_eq!(Filter::parse_expression(&printed).unwrap(), f.clone(), "{}", printed);
        prop_assert_eq!(printed.parse::<Filter>().unwrap(), f);
    }

    #[test]
    fn printed_queries_read_back_equal(a in ast(0)) {
        let f = Filter::from_query(&a.query()).unwrap();
        let printed = f.to_string();
        prop_assert_eq!(printed.parse::<Filter>().unwrap(), f, "{}", printed);
    }

    #[test]
    fn queries_too_long_for_an_expression_read_back_equal(
        tags in prop::collection::vec("[a-z][a-z0-9]{30,49}", 80..256),
        shape in prop::collection::vec(0u8..4, 256),
    ) {
        // A flat query of long tags, grouped in runs of AND, OR and NOT.
        let mut groups = Vec::new();
        for (chunk, kind) in tags.chunks(7).zip(&shape) {
            let items: Vec<Value> = chunk.iter().map(|t| json!({"tag": t})).collect();
            groups.push(match kind {
                0 => json!({"$and": items}),
                1 => json!({"$or": items}),
                2 => json!({"$not": {"$or": items}}),
                _ => json!({"$in": chunk}),
            });
        }
        let query = json!({"$and": [{"$or": groups.clone()}, {"$not": {"$and": groups}}]});
        prop_assume!(Filter::from_query(&query).is_ok());
        let f = Filter::from_query(&query).unwrap();
        let printed = f.to_string();
        prop_assert_eq!(printed.parse::<Filter>().unwrap(), f, "{}", printed);
    }

    #[test]
    fn compiled_evaluation_equals_naive_evaluation(a in ast(1), style in 0usize..4, tags in tag_set()) {
        prop_assume!(a.depth() <= 32);
        let f = Filter::parse_expression(&a.expression(style)).unwrap();
        prop_assert_eq!(f.matches_tags(&tags), a.eval(&tags));
    }

    #[test]
    fn json_queries_compile_to_the_same_filter_as_expressions(a in ast(1), tags in tag_set()) {
        let from_query = Filter::from_query(&a.query()).unwrap();
        let from_expression = Filter::parse_expression(&a.expression(0)).unwrap();
        prop_assert_eq!(&from_query, &from_expression);
        prop_assert_eq!(from_query.matches_tags(&tags), a.eval(&tags));
    }

    #[test]
    fn json_queries_with_empty_operators_evaluate_like_the_naive_evaluator(a in ast(0), tags in tag_set()) {
        let f = Filter::from_query(&a.query()).unwrap();
        prop_assert_eq!(f.matches_tags(&tags), a.eval(&tags));
        // Folding never leaves a mention the result cannot depend on in an
        // invalid place: printing a non-constant result still round-trips.
        let printed = f.to_string();
        if !printed.starts_with('{') {
            prop_assert_eq!(Filter::parse_expression(&printed).unwrap(), f);
        }
    }

    #[test]
    fn random_text_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..65536)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Filter::parse_expression(&text);
        let _ = Filter::parse_tags(&text);
    }

    #[test]
    fn random_operator_soup_never_panics(parts in prop::collection::vec(
        prop::sample::select(vec!["(", ")", "!", "-", "+", ",", "&&", "||", "and", "or", "not",
                                  "a", "b-", "-c", " ", "&", "|", "é", "\u{200b}"]), 0..2000)) {
        let text: String = parts.concat();
        let _ = Filter::parse_expression(&text);
        let _ = Filter::parse_tags(&text);
    }
}

#[test]
fn sixty_four_kib_of_open_parentheses_is_refused_without_overflow() {
    let text = "(".repeat(64 * 1024);
    assert!(matches!(
        Filter::parse_expression(&text),
        Err(FilterError::ExpressionTooLong { .. })
    ));
    let text = "(".repeat(4096);
    assert!(matches!(
        Filter::parse_expression(&text),
        Err(FilterError::TooDeep { .. })
    ));
    let text = "!(".repeat(2048);
    assert!(matches!(
        Filter::parse_expression(&text),
        Err(FilterError::TooDeep { .. })
    ));
}

#[test]
fn long_tag_lists_are_refused_quickly() {
    let list = "a,".repeat(32 * 1024);
    assert!(matches!(
        Filter::parse_tags(&list),
        Err(FilterError::TooManyTags { count: 32768 })
    ));
    let list = format!("{}a", "a, ".repeat(20_000));
    assert!(Filter::parse_tags(&list).is_err());
}

/// Takes a deep value apart level by level: serde_json drops values
/// recursively, which would itself overflow the stack.
fn dismantle(mut value: Value) {
    loop {
        value = match value {
            Value::Object(mut map) => match map.keys().next().cloned() {
                Some(k) => map.remove(&k).unwrap_or(Value::Null),
                None => return,
            },
            Value::Array(mut items) => match items.pop() {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
}

#[test]
fn a_json_query_nested_a_hundred_thousand_levels_is_refused_without_overflow() {
    let mut not = json!({"tag": "a"});
    for _ in 0..100_000 {
        let mut map = serde_json::Map::new();
        map.insert("$not".into(), not);
        not = Value::Object(map);
    }
    assert!(matches!(
        Filter::from_query(&not),
        Err(FilterError::InvalidQuery { .. })
    ));
    dismantle(not);

    let mut and = json!({"tag": "a"});
    for _ in 0..100_000 {
        let mut map = serde_json::Map::new();
        map.insert("$and".into(), Value::Array(vec![and]));
        and = Value::Object(map);
    }
    assert!(matches!(
        Filter::from_query(&and),
        Err(FilterError::InvalidQuery { .. })
    ));
    dismantle(and);
}

#[test]
fn a_wide_json_query_is_bounded_by_the_mention_limit() {
    let wide =
        json!({"$or": (0..100_000).map(|i| json!({"tag": format!("t{i}")})).collect::<Vec<_>>()});
    assert!(matches!(
        Filter::from_query(&wide),
        Err(FilterError::InvalidQuery { .. })
    ));
}
