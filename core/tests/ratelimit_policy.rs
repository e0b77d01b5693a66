//! `RatePolicy`: configuration, roles, rules, their combination and headers.

use std::collections::HashMap;
use std::sync::Arc;

use mcpguard::ManualClock;
use mcpguard::error::from_value;
use mcpguard::ratelimit::{
    Algorithm, HeaderFormat, KeySource, LimitSpec, RateLimitConfig, RatePolicy, UnknownRule,
};
use serde_json::json;

const T0: u64 = 1_767_225_600;

fn config(v: serde_json::Value) -> RateLimitConfig {
    from_value(&v).unwrap()
}

fn policy(v: serde_json::Value) -> (RatePolicy, ManualClock) {
    policy_with_roles(v, &[])
}

fn policy_with_roles(
    v: serde_json::Value,
    roles: &[(&str, serde_json::Value)],
) -> (RatePolicy, ManualClock) {
    let clock = ManualClock::new(T0);
    let roles: Vec<(String, LimitSpec)> = roles
        .iter()
        .map(|(n, v)| (n.to_string(), from_value(v).unwrap()))
        .collect();
    let p = RatePolicy::build(&config(v), &roles, Arc::new(clock.clone())).unwrap();
    (p, clock)
}

fn build_err(v: serde_json::Value) -> mcpguard::ConfigError {
    RatePolicy::build(&config(v), &[], Arc::new(ManualClock::new(T0))).unwrap_err()
}

#[test]
fn an_empty_section_has_1mcp_defaults() {
    let cfg = config(json!({}));
    assert_eq!(cfg, RateLimitConfig::default());
    assert!(cfg.enabled);
    assert_eq!(
        (cfg.algorithm, cfg.limit, cfg.window_seconds),
        (Algorithm::FixedWindow, 100, 900.0)
    );
    assert_eq!(
        (cfg.key, cfg.max_keys, cfg.headers),
        (KeySource::ClientId, 100_000, HeaderFormat::Draft7)
    );
    let (p, _) = policy(json!({}));
    let d = p.check("k", &[], None, None, 1);
    assert_eq!(
        (d.limit, d.remaining, d.reset, &*d.policy),
        (100, 99, 900.0, "default")
    );
}

#[test]
fn unknown_keys_and_wrong_types_are_errors_with_their_path() {
    let e = from_value::<RateLimitConfig>(&json!({"limti": 5})).unwrap_err();
    assert_eq!(e.path, "limti");
    let e = from_value::<RateLimitConfig>(&json!({"limit": -1})).unwrap_err();
    assert_eq!(e.path, "limit");
    let e = from_value::<RateLimitConfig>(&json!({"limit": 1.5})).unwrap_err();
    assert_eq!(e.path, "limit");
    let e = from_value::<RateLimitConfig>(
        &json!({"rules": [{"server": "a", "limit": 1, "window_seconds": 1, "tol": "x"}]}),
    )
    .unwrap_err();
    assert_eq!(e.path, "rules[0].tol");
    let e = from_value::<RateLimitConfig>(&json!({"headers": "draft-8"})).unwrap_err();
    assert_eq!(e.path, "headers");
    let e =
        from_value::<LimitSpec>(&json!({"limit": 1, "window_seconds": 1, "brust": 2})).unwrap_err();
    assert_eq!(e.path, "brust");
}

#[test]
fn out_of_range_numbers_are_errors_naming_the_absolute_path() {
    let cases = [
        (json!({"limit": 4_294_967_296u64}), "rate_limit.limit"),
        (json!({"window_seconds": 0}), "rate_limit.window_seconds"),
        (json!({"window_seconds": -1}), "rate_limit.window_seconds"),
        (json!({"window_seconds": 1e12}), "rate_limit.window_seconds"),
        (
            json!({"algorithm": "token_bucket", "burst": 0}),
            "rate_limit.burst",
        ),
        (json!({"burst": 5}), "rate_limit.burst"),
        (json!({"max_keys": 0}), "rate_limit.max_keys"),
        (
            json!({"rules": [{"server": "a", "limit": 1, "window_seconds": 1},
                             {"server": "b", "limit": 1, "window_seconds": 0}]}),
            "rate_limit.rules[1].window_seconds",
        ),
        (
            json!({"rules": [{"server": "a", "limit": 1, "window_seconds": 1, "algorithm": "token_bucket", "burst": 0}]}),
            "rate_limit.rules[0].burst",
        ),
        (
            json!({"rules": [{"server": "", "tool": "t", "limit": 1, "window_seconds": 1}]}),
            "rate_limit.rules[0].server",
        ),
        (
            json!({"rules": [{"server": "s", "tool": "", "limit": 1, "window_seconds": 1}]}),
            "rate_limit.rules[0].tool",
        ),
    ];
    for (v, path) in cases {
        let e = build_err(v.clone());
        assert_eq!(e.path, path, "{v}: {e}");
    }
    let e = RatePolicy::build(
        &config(json!({})),
        &[(
            "analyst".into(),
            from_value(&json!({"limit": 5, "window_seconds": -2})).unwrap(),
        )],
        Arc::new(ManualClock::new(T0)),
    )
    .unwrap_err();
    assert_eq!(e.path, "roles.analyst.rate_limit.window_seconds");
}

#[test]
fn duplicate_rule_names_are_an_error_including_defaulted_names() {
    let e = build_err(json!({"rules": [
        {"server": "fs", "tool": "write", "limit": 1, "window_seconds": 1},
        {"name": "fs/write", "server": "other", "limit": 1, "window_seconds": 1}]}));
    assert_eq!(e.path, "rate_limit.rules[1].name");
    let e = build_err(json!({"rules": [
        {"server": "fs", "limit": 1, "window_seconds": 1},
        {"server": "fs", "limit": 2, "window_seconds": 1}]}));
    assert_eq!(e.path, "rate_limit.rules[1].server");
    assert!(e.message.contains("duplicate"), "{e}");
}

#[test]
fn limit_zero_is_valid_and_denies_all() {
    let (p, _) = policy(json!({"limit": 0}));
    let d = p.check("k", &[], None, None, 1);
    assert!(!d.allowed && d.never && d.retry_after.is_none());
}

#[test]
fn a_roles_limit_replaces_the_default_first_role_in_token_order_wins() {
    let (p, _) = policy_with_roles(
        json!({"limit": 2, "window_seconds": 60}),
        &[
            ("analyst", json!({"limit": 5, "window_seconds": 60})),
            (
                "ops",
                json!({"limit": 9, "window_seconds": 60, "algorithm": "token_bucket", "burst": 3}),
            ),
        ],
    );
    let roles = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let d = p.check("k", &roles(&["demo", "analyst", "ops"]), None, None, 1);
    assert_eq!((d.limit, d.remaining, &*d.policy), (5, 4, "analyst"));
    let d = p.check("k", &roles(&["ops", "analyst"]), None, None, 1);
    assert_eq!((d.limit, d.remaining, &*d.policy), (3, 2, "ops"));
    // The default's budget for the same key is separate and untouched.
    let d = p.check("k", &roles(&["demo"]), None, None, 1);
    assert_eq!((d.limit, d.remaining, &*d.policy), (2, 1, "default"));
}

#[test]
fn rules_add_to_the_default_and_the_decision_reports_the_fewest_remaining() {
    let (p, _) = policy(json!({"limit": 100, "window_seconds": 60, "rules": [
        {"name": "fs-write", "server": "filesystem", "tool": "write_file", "limit": 3, "window_seconds": 60},
        {"server": "filesystem", "limit": 10, "window_seconds": 60}]}));
    let d = p.check("k", &[], Some("filesystem"), Some("write_file"), 1);
    assert_eq!((&*d.policy, d.remaining), ("fs-write", 2));
    let d = p.check("k", &[], Some("filesystem"), Some("read_file"), 1);
    assert_eq!((&*d.policy, d.remaining), ("filesystem", 8));
    let d = p.check("k", &[], Some("web"), None, 1);
    assert_eq!((&*d.policy, d.remaining), ("default", 97));
    // A tool rule needs that tool; a server rule covers the server's tools.
    let d = p.check("k", &[], Some("filesystem"), None, 1);
    assert_eq!((&*d.policy, d.remaining), ("filesystem", 7));
}

#[test]
fn a_denial_by_one_limit_consumes_nothing_from_the_others() {
    let (p, clock) = policy(json!({"limit": 10, "window_seconds": 60, "rules": [
        {"name": "w", "server": "fs", "tool": "write", "limit": 2, "window_seconds": 30}]}));
    for _ in 0..2 {
        assert!(p.check("k", &[], Some("fs"), Some("write"), 1).allowed);
    }
    for _ in 0..20 {
        let d = p.check("k", &[], Some("fs"), Some("write"), 1);
        assert!(!d.allowed);
        assert_eq!((&*d.policy, d.retry_after), ("w", Some(30.0)));
    }
    let d = p.check_rule(None, "k", 0).unwrap();
    assert_eq!(
        d.remaining, 8,
        "only the two allowed requests counted at the default"
    );
    clock.advance_secs_f64(30.0).unwrap();
    assert!(p.check("k", &[], Some("fs"), Some("write"), 1).allowed);
}

#[test]
fn on_denial_by_several_limits_the_longest_wait_is_reported() {
    let (p, _) = policy(json!({"limit": 1, "window_seconds": 60, "rules": [
        {"name": "short", "server": "fs", "limit": 1, "window_seconds": 10},
        {"name": "long", "server": "fs", "limit": 1, "window_seconds": 600}]}));
    assert!(p.check("k", &[], Some("fs"), None, 1).allowed);
    let d = p.check("k", &[], Some("fs"), None, 1);
    assert_eq!((&*d.policy, d.retry_after), ("long", Some(600.0)));
}

#[test]
fn a_cost_one_limit_can_never_admit_is_reported_with_no_retry() {
    let (p, _) = policy(json!({"limit": 100, "window_seconds": 60, "rules": [
        {"name": "small", "server": "fs", "limit": 5, "window_seconds": 60},
        {"name": "tight", "server": "fs", "limit": 1, "window_seconds": 6000}]}));
    assert!(p.check("k", &[], Some("fs"), None, 1).allowed);
    let d = p.check("k", &[], Some("fs"), None, 6);
    assert!(!d.allowed && d.never);
    assert_eq!((&*d.policy, d.retry_after), ("small", None));
    assert!(p.headers(&d).iter().all(|(n, _)| *n != "Retry-After"));
}

#[test]
fn check_rule_reaches_one_limit_by_name_and_refuses_unknown_names() {
    let (p, _) = policy(json!({"limit": 5, "window_seconds": 60, "rules": [
        {"server": "fs", "tool": "write", "limit": 2, "window_seconds": 60}]}));
    let d = p.check_rule(Some("fs/write"), "raw", 1).unwrap();
    assert_eq!((d.limit, d.remaining, &*d.policy), (2, 1, "fs/write"));
    let d = p.check_rule(None, "raw", 1).unwrap();
    assert_eq!((d.limit, d.remaining, &*d.policy), (5, 4, "default"));
    assert_eq!(
        p.check_rule(Some("nope"), "raw", 1),
        Err(UnknownRule("nope".into()))
    );
}

#[test]
fn a_disabled_policy_allows_everything_and_sends_no_headers() {
    let (p, _) = policy(json!({"enabled": false, "limit": 0}));
    let d = p.check("k", &[], None, None, 1);
    assert!(d.allowed);
    assert_eq!(&*d.policy, "disabled");
    assert!(p.headers(&d).is_empty());
    assert!(!p.enabled());
}

fn headers_for(format: &str, allow: bool) -> Vec<(&'static str, String)> {
    let (p, _) = policy(json!({"limit": 1, "window_seconds": 900, "headers": format}));
    let d = p.check("k", &[], None, None, 1);
    if allow {
        return p.headers(&d);
    }
    let d = p.check("k", &[], None, None, 1);
    p.headers(&d)
}

fn h(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(n, v)| (*n, v.to_string())).collect()
}

#[test]
fn headers_follow_each_configured_draft() {
    assert_eq!(
        headers_for("draft-6", true),
        h(&[
            ("RateLimit-Policy", "1;w=900"),
            ("RateLimit-Limit", "1"),
            ("RateLimit-Remaining", "0"),
            ("RateLimit-Reset", "900")
        ])
    );
    assert_eq!(
        headers_for("draft-7", false),
        h(&[
            ("RateLimit-Policy", "1;w=900"),
            ("RateLimit", "limit=1, remaining=0, reset=900"),
            ("Retry-After", "900")
        ])
    );
    assert_eq!(
        headers_for("draft-10", true),
        h(&[
            ("RateLimit-Policy", "\"default\";q=1;w=900"),
            ("RateLimit", "\"default\";r=0;t=900")
        ])
    );
    assert_eq!(
        headers_for("legacy", true),
        h(&[
            ("X-RateLimit-Limit", "1"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "1767226500")
        ])
    );
    assert_eq!(headers_for("none", true), h(&[]));
    assert_eq!(headers_for("none", false), h(&[("Retry-After", "900")]));
}

#[test]
fn header_durations_round_up_and_retry_after_is_at_least_one_second() {
    let (p, clock) = policy(json!({"limit": 1, "window_seconds": 10}));
    assert!(p.check("k", &[], None, None, 1).allowed);
    clock.advance_secs_f64(9.75).unwrap();
    let d = p.check("k", &[], None, None, 1);
    assert_eq!(d.retry_after, Some(0.25));
    assert_eq!(
        p.headers(&d),
        h(&[
            ("RateLimit-Policy", "1;w=10"),
            ("RateLimit", "limit=1, remaining=0, reset=1"),
            ("Retry-After", "1")
        ])
    );
}

#[test]
fn draft_10_policy_names_are_valid_structured_field_strings() {
    let (p, _) = policy(json!({"headers": "draft-10", "rules": [
        {"name": "a\"b\\c é", "server": "fs", "limit": 1, "window_seconds": 60}]}));
    let d = p.check("k", &[], Some("fs"), None, 1);
    let hs = p.headers(&d);
    assert_eq!(
        hs[0],
        ("RateLimit-Policy", "\"a\\\"b\\\\c _\";q=1;w=60".to_string())
    );
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

#[test]
fn environment_overrides_mcpguard_over_one_mcp_over_the_file() {
    let mut cfg = config(json!({"limit": 7, "window_seconds": 30}));
    cfg.apply_env(&env(&[])).unwrap();
    assert_eq!((cfg.limit, cfg.window_seconds), (7, 30.0));
    cfg.apply_env(&env(&[
        ("ONE_MCP_RATE_LIMIT_WINDOW", "15"),
        ("ONE_MCP_RATE_LIMIT_MAX", "50"),
    ]))
    .unwrap();
    assert_eq!(
        (cfg.limit, cfg.window_seconds),
        (50, 900.0),
        "1MCP's window is in minutes"
    );
    cfg.apply_env(&env(&[
        ("ONE_MCP_RATE_LIMIT_WINDOW", "15"),
        ("ONE_MCP_RATE_LIMIT_MAX", "50"),
        ("MCPGUARD_RATE_LIMIT_WINDOW_SECONDS", "2.5"),
        ("MCPGUARD_RATE_LIMIT_MAX", "0"),
    ]))
    .unwrap();
    assert_eq!((cfg.limit, cfg.window_seconds), (0, 2.5));
}

#[test]
fn malformed_environment_values_are_errors_naming_the_variable() {
    let cases = [
        ("ONE_MCP_RATE_LIMIT_WINDOW", "abc", "window_seconds"),
        ("ONE_MCP_RATE_LIMIT_WINDOW", "0", "window_seconds"),
        ("ONE_MCP_RATE_LIMIT_WINDOW", "NaN", "window_seconds"),
        ("ONE_MCP_RATE_LIMIT_WINDOW", "inf", "window_seconds"),
        ("ONE_MCP_RATE_LIMIT_MAX", "-1", "limit"),
        ("ONE_MCP_RATE_LIMIT_MAX", "1.5", "limit"),
        ("ONE_MCP_RATE_LIMIT_MAX", "", "limit"),
        ("MCPGUARD_RATE_LIMIT_WINDOW_SECONDS", "-3", "window_seconds"),
        ("MCPGUARD_RATE_LIMIT_MAX", "99999999999", "limit"),
    ];
    for (var, value, path) in cases {
        let mut cfg = RateLimitConfig::default();
        // A valid override of higher precedence does not hide the malformed one.
        let other = if var == "MCPGUARD_RATE_LIMIT_MAX" {
            "MCPGUARD_RATE_LIMIT_WINDOW_SECONDS"
        } else {
            "MCPGUARD_RATE_LIMIT_MAX"
        };
        let e = cfg
            .apply_env(&env(&[(var, value), (other, "5")]))
            .expect_err(&format!("{var}={value:?} accepted"));
        assert_eq!(e.path, path, "{var}={value:?}");
        assert!(e.message.contains(var), "{e}");
        assert_eq!(cfg, RateLimitConfig::default(), "nothing changes on error");
    }
}

#[test]
fn a_token_bucket_policy_header_states_its_burst_and_the_time_to_refill_it() {
    let (p, _) =
        policy(json!({"algorithm": "token_bucket", "limit": 10, "window_seconds": 60, "burst": 5}));
    let d = p.check("k", &[], None, None, 1);
    assert_eq!((d.limit, d.window_seconds), (5, 30.0));
    assert_eq!(
        p.headers(&d),
        h(&[
            ("RateLimit-Policy", "5;w=30"),
            ("RateLimit", "limit=5, remaining=4, reset=6")
        ])
    );
}
