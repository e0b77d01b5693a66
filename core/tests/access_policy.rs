//! The access policy of docs/access.md: what a principal may see and call.

use mcpguard::Reason;
use mcpguard::access::{
    Access, AccessPolicy, AccessSettings, Denial, Filter, FilterError, FilterRequest, Granted,
    ItemServer, ListingItems,
};
use serde_json::{Value, json};

fn policy(config: Value) -> AccessPolicy {
    let settings = AccessSettings::from_config(&config).expect("settings");
    AccessPolicy::build(&settings).expect("policy")
}

/// From text, so that document order is kept (`json!` sorts keys).
fn policy_text(config: &str) -> AccessPolicy {
    let settings = AccessSettings::from_config_str(config).expect("settings");
    AccessPolicy::build(&settings).expect("policy")
}

fn build_err(config: Value) -> mcpguard::ConfigError {
    let settings = match AccessSettings::from_config(&config) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match AccessPolicy::build(&settings) {
        Ok(_) => panic!("{config} built"),
        Err(e) => e,
    }
}

fn sample() -> AccessPolicy {
    policy_text(
        r#"{
        "resource": "https://mcp.example.com/mcp",
        "servers": {
            "filesystem": { "tags": ["files", "Sensitive"],
                            "tools": { "write_file": { "tags": ["files-write"] },
                                       "read_file": {} } },
            "web-search": { "tags": ["web", "safe"] },
            "database": { "tags": ["database", "internal"] },
            "scratch": {}
        },
        "presets": {
            "dev": { "tag_filter": "web AND (safe OR database)" },
            "data": { "tag_query": { "$or": [ { "tag": "database" }, { "tag": "web" } ] } }
        },
        "roles": {
            "developer": { "scopes": "tag:files tag:database tag:web mcp:deploy" },
            "analyst": { "scopes": "tag:database tag:WEB", "rate_limit": { "limit": 5 } }
        }
    }"#,
    )
}

fn granted(p: &AccessPolicy, tags: &[&str]) -> Granted {
    p.granted(tags)
}

fn names(access: &Access) -> Vec<String> {
    access.server_names()
}

fn filter(s: &str) -> Filter {
    Filter::parse_expression(s).unwrap()
}

// ---- registry ----

#[test]
fn all_tags_are_normalised_in_first_seen_order_over_servers_and_tools() {
    assert_eq!(
        sample().all_tags(),
        [
            "files",
            "sensitive",
            "files-write",
            "web",
            "safe",
            "database",
            "internal"
        ]
    );
    assert_eq!(
        sample().server_names().collect::<Vec<_>>(),
        ["filesystem", "web-search", "database", "scratch"]
    );
}

#[test]
fn server_tags_with_any_case_can_be_granted_unlike_1mcp() {
    let p = sample();
    let g = granted(&p, &["sensitive"]);
    assert_eq!(p.visible_servers(&g, None), ["filesystem"]);
}

#[test]
fn invalid_tags_in_configuration_name_their_path_and_source() {
    let e = build_err(json!({"servers": {"fs": {"tags": ["ok", "not ok"]}}}));
    assert_eq!(e.path, "servers.fs.tags[1]");
    assert!(e.message.contains("server 'fs'"), "{e}");
    let e = build_err(json!({"servers": {"fs": {"tools": {"w": {"tags": ["a:b"]}}}}}));
    assert_eq!(e.path, "servers.fs.tools.w.tags[0]");
    assert!(e.message.contains("tool 'w' of server 'fs'"), "{e}");
    let e = build_err(json!({"mcpServers": {"x": {"command": "npx", "tags": [""]}}}));
    assert_eq!(e.path, "mcpServers.x.tags[0]");
}

#[test]
fn tags_the_expression_syntax_cannot_name_are_refused_everywhere_by_name() {
    for (config, path, tag) in [
        (
            json!({"servers": {"fs": {"tags": ["ok", "--web"]}}}),
            "servers.fs.tags[1]",
            "--web",
        ),
        (
            json!({"servers": {"fs": {"tools": {"w": {"tags": ["AND"]}}}}}),
            "servers.fs.tools.w.tags[0]",
            "and",
        ),
        (
            json!({"mcpServers": {"x": {"command": "npx", "tags": ["or-x"]}}}),
            "mcpServers.x.tags[0]",
            "or-x",
        ),
        (
            json!({"presets": {"dev": {"tag_query": {"$in": ["web", "not-x"]}}}}),
            "presets.dev.tag_query.$in[1]",
            "not-x",
        ),
        (
            json!({"presets": {"dev": {"tag_filter": "web+!-x"}}}),
            "presets.dev.tag_filter",
            "-x",
        ),
        (
            json!({"presets": {"dev": {"tag_query": {"tag": "not"}}}}),
            "presets.dev.tag_query.tag",
            "not",
        ),
    ] {
        let e = build_err(config);
        assert_eq!(e.path, path, "{e}");
        assert!(e.message.contains(&format!("'{tag}'")), "{e}");
        assert!(e.message.contains("reads as an operator"), "{e}");
    }
}

#[test]
fn unknown_keys_in_servers_are_refused() {
    let e = build_err(json!({"servers": {"fs": {"tag": ["a"]}}}));
    assert_eq!(e.path, "servers.fs.tag");
    let e = AccessSettings::from_config_str(r#"{"servers": {"fs": {}, "fs": {}}}"#).unwrap_err();
    assert!(e.message.contains("duplicate key `fs`"), "{e}");
}

#[test]
fn one_mcp_mcp_servers_are_read_for_tags_and_disabled_only() {
    let p = policy_text(
        r#"{"mcpServers": {
        "fetch": {"command": "uvx", "args": ["mcp-server-fetch"], "env": {}, "tags": ["Web"]},
        "off": {"url": "http://x", "tags": ["web"], "disabled": true},
        "plain": {"command": "x"}
    }}"#,
    );
    assert_eq!(p.server_names().collect::<Vec<_>>(), ["fetch", "plain"]);
    assert_eq!(p.visible_servers(&granted(&p, &["web"]), None), ["fetch"]);
}

#[test]
fn disabled_servers_are_not_in_the_registry() {
    let p =
        policy(json!({"servers": {"a": {"tags": ["x"], "disabled": true}, "b": {"tags": ["x"]}}}));
    assert!(!p.has_server("a"));
    assert_eq!(p.scopes_granting("a", None), None);
}

#[test]
fn servers_and_mcp_servers_merge_but_a_name_in_both_is_an_error() {
    let p =
        policy(json!({"servers": {"a": {"tags": ["x"]}}, "mcpServers": {"b": {"tags": ["y"]}}}));
    assert_eq!(p.server_names().collect::<Vec<_>>(), ["a", "b"]);
    let e = build_err(json!({"servers": {"a": {}}, "mcpServers": {"a": {}}}));
    assert_eq!(e.path, "mcpServers.a");
}

#[test]
fn invalid_presets_are_configuration_errors_naming_the_preset() {
    let e = build_err(json!({"presets": {"dev": {"tag_filter": "web api"}}}));
    assert_eq!(e.path, "presets.dev.tag_filter");
    assert!(e.message.contains("Unexpected tokens: api"), "{e}");
    let e = build_err(json!({"presets": {"q": {"tag_query": {"$and": [{"tag": 1}]}}}}));
    assert_eq!(e.path, "presets.q.tag_query.$and[0].tag");
    let e = build_err(json!({"presets": {"both": {"tag_filter": "a", "tag_query": {"tag": "a"}}}}));
    assert!(e.path.starts_with("presets.both"), "{e}");
    let e = build_err(json!({"presets": {"none": {}}}));
    assert!(e.path.starts_with("presets.none"), "{e}");
}

#[test]
fn a_role_with_an_invalid_tag_scope_is_a_configuration_error() {
    let e = build_err(json!({"roles": {"analyst": {"scopes": "tag:ok tag:b@d"}}}));
    assert_eq!(e.path, "roles.analyst.scopes");
    assert!(
        e.message.contains("tag:b@d") && e.message.contains("role 'analyst'"),
        "{e}"
    );
}

#[test]
fn untagged_and_server_match_must_be_known_words() {
    let e = build_err(json!({"untagged_servers": "maybe"}));
    assert_eq!(e.path, "untagged_servers");
    let e = build_err(json!({"server_match": "most"}));
    assert_eq!(e.path, "server_match");
}

// ---- grants ----

#[test]
fn grants_are_token_tag_scopes_then_role_scopes_without_repeats() {
    let p = sample();
    let g = p.grant(
        &[
            "tag:WEB".into(),
            "openid".into(),
            "tag:x y".into(),
            "tag:web".into(),
            "tag:".into(),
        ],
        &["analyst".into(), "unknown".into(), "developer".into()],
    );
    assert_eq!(g.tags, ["web", "database", "files"]);
    assert_eq!(g.rejected_scopes, ["tag:x y", "tag:"]);
    assert_eq!(
        p.role_scopes("developer").unwrap(),
        ["tag:files", "tag:database", "tag:web", "mcp:deploy"]
    );
    assert_eq!(p.role_scopes("nobody"), None);
}

// ---- permitted and visible servers ----

#[test]
fn any_granted_tag_permits_a_server_by_default() {
    let p = sample();
    let g = granted(&p, &["safe"]);
    assert_eq!(p.visible_servers(&g, None), ["web-search"]);
}

#[test]
fn server_match_all_needs_every_tag() {
    let p = policy(
        json!({"servers": {"a": {"tags": ["x", "y"]}, "b": {"tags": ["x"]}},
                          "server_match": "all"}),
    );
    assert_eq!(p.visible_servers(&granted(&p, &["x"]), None), ["b"]);
    assert_eq!(
        p.visible_servers(&granted(&p, &["y", "x"]), None),
        ["a", "b"]
    );
}

#[test]
fn untagged_servers_are_denied_unless_allowed() {
    let deny = sample();
    assert!(
        !deny
            .visible_servers(&Granted::All, None)
            .contains(&"scratch")
    );
    let allow = policy(json!({"servers": {"u": {}, "t": {"tags": ["x"]}},
                              "untagged_servers": "allow"}));
    assert_eq!(allow.visible_servers(&granted(&allow, &[]), None), ["u"]);
}

#[test]
fn no_filter_shows_only_permitted_servers_unlike_1mcp() {
    let p = sample();
    let g = granted(&p, &["web"]);
    let access = p.decide(&g, None, None, None).unwrap();
    assert_eq!(names(&access), ["web-search"]);
}

#[test]
fn visible_servers_are_permitted_servers_that_match_the_filter() {
    let p = sample();
    let g = granted(&p, &["web", "files", "database"]);
    let f = filter("web or database");
    assert_eq!(p.visible_servers(&g, Some(&f)), ["web-search", "database"]);
    let f = filter("not web");
    assert_eq!(p.visible_servers(&g, Some(&f)), ["filesystem", "database"]);
}

#[test]
fn anonymous_principals_are_granted_every_tag() {
    let p = sample();
    let access = p
        .decide(&Granted::All, Some(&filter("internal or web")), None, None)
        .unwrap();
    assert_eq!(names(&access), ["web-search", "database"]);
    assert!(
        p.decide(&Granted::All, None, Some("filesystem"), Some("write_file"))
            .is_ok()
    );
}

// ---- decisions ----

fn denial(r: Result<Access, Denial>) -> Denial {
    r.expect_err("expected a denial")
}

#[test]
fn a_filter_mentioning_ungranted_tags_is_insufficient_scope_in_1mcp_words() {
    let p = sample();
    let g = granted(&p, &["web"]);
    let d = denial(p.decide(&g, Some(&filter("web and internal")), None, None));
    assert_eq!(d.reason, Reason::InsufficientScope);
    assert_eq!(
        d.description,
        "Insufficient scopes. Required: web, internal, Granted: web"
    );
    assert_eq!(d.missing_scopes, ["tag:internal"]);
}

#[test]
fn tags_under_not_count_as_mentions() {
    let p = sample();
    let g = granted(&p, &["web", "files"]);
    let d = denial(p.decide(&g, Some(&filter("web and !internal")), None, None));
    assert_eq!(d.missing_scopes, ["tag:internal"]);
}

#[test]
fn tags_unknown_to_the_registry_still_count_for_mentions() {
    let p = sample();
    assert!(
        p.decide(
            &granted(&p, &["web", "ghost"]),
            Some(&filter("ghost or web")),
            None,
            None
        )
        .is_ok()
    );
    let d = denial(p.decide(
        &granted(&p, &["web"]),
        Some(&filter("ghost or web")),
        None,
        None,
    ));
    assert_eq!(
        d.description,
        "Insufficient scopes. Required: ghost, web, Granted: web"
    );
}

#[test]
fn the_filter_check_comes_before_the_server_check() {
    let p = sample();
    let g = granted(&p, &["web"]);
    let d = denial(p.decide(&g, Some(&filter("internal")), Some("nope"), None));
    assert!(
        d.description.starts_with("Insufficient scopes."),
        "{}",
        d.description
    );
}

#[test]
fn a_server_not_visible_or_unknown_gets_the_same_description() {
    let p = sample();
    let g = granted(&p, &["web"]);
    let hidden = denial(p.decide(&g, None, Some("database"), None));
    let unknown = denial(p.decide(&g, None, Some("no-such"), None));
    assert_eq!(
        hidden.description,
        "Access to server 'database' is not granted"
    );
    assert_eq!(
        unknown.description,
        "Access to server 'no-such' is not granted"
    );
    assert_eq!(hidden.missing_scopes, ["tag:database", "tag:internal"]);
    assert!(unknown.missing_scopes.is_empty());
}

#[test]
fn a_permitted_server_excluded_by_the_filter_is_not_granted() {
    let p = sample();
    let g = granted(&p, &["web", "database"]);
    let d = denial(p.decide(&g, Some(&filter("web")), Some("database"), None));
    assert_eq!(d.description, "Access to server 'database' is not granted");
    let ok = p
        .decide(&g, Some(&filter("web")), Some("web-search"), None)
        .unwrap();
    assert_eq!(names(&ok), ["web-search"]);
}

#[test]
fn a_tool_with_its_own_tags_needs_one_granted() {
    let p = sample();
    let g = granted(&p, &["files"]);
    let d = denial(p.decide(&g, None, Some("filesystem"), Some("write_file")));
    assert_eq!(
        d.description,
        "Access to tool 'write_file' on server 'filesystem' is not granted"
    );
    assert_eq!(d.missing_scopes, ["tag:files-write"]);
    assert!(
        p.decide(&g, None, Some("filesystem"), Some("read_file"))
            .is_ok()
    );
    assert!(
        p.decide(&g, None, Some("filesystem"), Some("unlisted"))
            .is_ok()
    );
    let g = granted(&p, &["files", "files-write"]);
    assert!(
        p.decide(&g, None, Some("filesystem"), Some("write_file"))
            .is_ok()
    );
}

#[test]
fn scopes_granting_a_server_or_tool_are_available_to_the_host() {
    let p = sample();
    assert_eq!(
        p.scopes_granting("filesystem", None).unwrap(),
        ["tag:files", "tag:sensitive"]
    );
    assert_eq!(
        p.scopes_granting("filesystem", Some("write_file")).unwrap(),
        ["tag:files-write"]
    );
    assert_eq!(
        p.scopes_granting("filesystem", Some("read_file")).unwrap(),
        ["tag:files", "tag:sensitive"]
    );
    assert_eq!(p.scopes_granting("nope", None), None);
}

// ---- filters from requests ----

#[test]
fn requests_resolve_each_filter_kind_and_presets() {
    let p = sample();
    let dev = p.resolve_filter(FilterRequest::Preset("dev")).unwrap();
    assert_eq!(*dev, filter("web and (safe or database)"));
    let data = p.resolve_filter(FilterRequest::Preset("data")).unwrap();
    assert_eq!(*data, filter("database or web"));
    assert_eq!(
        *p.resolve_filter(FilterRequest::Tags("web,db")).unwrap(),
        filter("web or db")
    );
    assert_eq!(
        *p.resolve_filter(FilterRequest::TagFilter("web+db"))
            .unwrap(),
        filter("web and db")
    );
    let q = json!({"$not": {"tag": "x"}});
    assert_eq!(
        *p.resolve_filter(FilterRequest::TagQuery(&q)).unwrap(),
        filter("!x")
    );
}

#[test]
fn an_unknown_preset_is_its_own_reason() {
    let e = sample()
        .resolve_filter(FilterRequest::Preset("prod"))
        .unwrap_err();
    assert_eq!(
        e,
        FilterError::UnknownPreset {
            name: "prod".into()
        }
    );
    assert_eq!(e.reason(), Reason::UnknownPreset);
    assert_eq!(e.to_string(), "Preset 'prod' not found");
}

// ---- listings ----

/// `filter_listing`'s answer, checked to be what `filter_listing_in_place`
/// leaves.
fn filtered(
    p: &AccessPolicy,
    result: &Value,
    g: &Granted,
    f: Option<&Filter>,
    items: &ListingItems,
) -> Value {
    let out = p.filter_listing(result, g, f, items);
    let mut in_place = result.clone();
    p.filter_listing_in_place(&mut in_place, g, f, items);
    assert_eq!(in_place, out, "both variants agree");
    out
}

fn one_mcp() -> ListingItems {
    ListingItems::Mapped(ItemServer::one_mcp())
}

/// The names of the items of `list` in `out`.
fn listed(out: &Value, list: &str) -> Vec<String> {
    out[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} is an array: {out}"))
        .iter()
        .map(|i| i["name"].as_str().unwrap_or("<no name>").to_string())
        .collect()
}

#[test]
fn listings_keep_only_items_of_visible_servers_and_drop_unknown_ones() {
    let p = policy(json!({"servers": {
        "fs": {"tags": ["files"]}, "web": {"tags": ["web"]}, "my_1mcp_srv": {"tags": ["web"]}
    }}));
    let result = json!({
        "tools": [
            {"name": "fs_1mcp_read"}, {"name": "web_1mcp_fetch"},
            {"name": "ghost_1mcp_x"}, {"name": "noprefix"}, {"name": 3}, {}, "web_1mcp_str",
            {"name": "my_1mcp_srv_1mcp_tool"}
        ],
        "nextCursor": "abc",
        "_meta": {"x": 1}
    });
    let out = filtered(&p, &result, &granted(&p, &["web"]), None, &one_mcp());
    assert_eq!(
        out,
        json!({"tools": [{"name": "web_1mcp_fetch"}, {"name": "my_1mcp_srv_1mcp_tool"}],
               "nextCursor": "abc", "_meta": {"x": 1}})
    );
}

#[test]
fn a_name_two_servers_prefix_is_listed_only_if_every_reading_is_allowed() {
    let p = policy(json!({"servers": {
        "web": {"tags": ["web"]}, "web_1mcp_admin": {"tags": ["admin"]}
    }}));
    let result = json!({"tools": [
        {"name": "web_1mcp_fetch"}, {"name": "web_1mcp_admin_1mcp_x"}
    ], "prompts": [{"name": "web_1mcp_admin_1mcp_p"}, {"name": "web_1mcp_p"}]});
    // Granted `web` only: `web_1mcp_admin_1mcp_x` may be routed to the
    // admin server, so it is not shown.
    let out = filtered(&p, &result, &granted(&p, &["web"]), None, &one_mcp());
    assert_eq!(listed(&out, "tools"), ["web_1mcp_fetch"]);
    assert_eq!(listed(&out, "prompts"), ["web_1mcp_p"]);
    // Granted `admin` only: the `web` reading is refused.
    let out = filtered(&p, &result, &granted(&p, &["admin"]), None, &one_mcp());
    assert!(listed(&out, "tools").is_empty());
    assert!(listed(&out, "prompts").is_empty());
    // Both: every reading is allowed.
    let both = granted(&p, &["web", "admin"]);
    let out = filtered(&p, &result, &both, None, &one_mcp());
    assert_eq!(
        listed(&out, "tools"),
        ["web_1mcp_fetch", "web_1mcp_admin_1mcp_x"]
    );
    for item in ["web_1mcp_fetch", "web_1mcp_admin_1mcp_x"] {
        // The listing agrees with decide on each reading.
        let allowed_web = p
            .decide(&both, None, Some("web"), Some(&item["web_1mcp_".len()..]))
            .is_ok();
        assert!(allowed_web);
    }
}

#[test]
fn a_tool_with_tags_of_its_own_is_listed_only_when_one_is_granted() {
    let p = sample();
    let result = json!({"tools": [
        {"name": "filesystem_1mcp_write_file"}, {"name": "filesystem_1mcp_read_file"},
        {"name": "filesystem_1mcp_stat"}
    ]});
    let out = filtered(&p, &result, &granted(&p, &["files"]), None, &one_mcp());
    assert_eq!(
        listed(&out, "tools"),
        ["filesystem_1mcp_read_file", "filesystem_1mcp_stat"]
    );
    let out = filtered(
        &p,
        &result,
        &granted(&p, &["files", "files-write"]),
        None,
        &one_mcp(),
    );
    assert_eq!(listed(&out, "tools").len(), 3);
    // Each kept item is one decide allows, each dropped one it refuses.
    let g = granted(&p, &["files"]);
    for (tool, shown) in [("write_file", false), ("read_file", true), ("stat", true)] {
        assert_eq!(
            p.decide(&g, None, Some("filesystem"), Some(tool)).is_ok(),
            shown
        );
    }
}

#[test]
fn a_single_server_listing_checks_each_tool_and_the_server() {
    let p = sample();
    let items = ListingItems::Server("filesystem".into());
    let result = json!({
        "tools": [{"name": "write_file"}, {"name": "read_file"}, {"title": "no name"}],
        "resources": [{"uri": "file:///a", "name": "a"}],
        "resourceTemplates": [{"uriTemplate": "file:///{p}", "name": "t"}],
        "prompts": [{"name": "p"}]
    });
    let out = filtered(&p, &result, &granted(&p, &["files"]), None, &items);
    assert_eq!(listed(&out, "tools"), ["read_file"]);
    assert_eq!(listed(&out, "resources"), ["a"]);
    assert_eq!(listed(&out, "resourceTemplates"), ["t"]);
    assert_eq!(listed(&out, "prompts"), ["p"]);
    // Not granted the server: nothing of it is listed.
    let out = filtered(&p, &result, &granted(&p, &["web"]), None, &items);
    for list in ["tools", "resources", "resourceTemplates", "prompts"] {
        assert!(listed(&out, list).is_empty(), "{list}");
    }
    // An unregistered server lists nothing either.
    let ghost = ListingItems::Server("ghost".into());
    let out = filtered(&p, &result, &Granted::All, None, &ghost);
    assert!(listed(&out, "tools").is_empty());
}

#[test]
fn a_listing_applies_the_filter_and_refuses_all_for_an_ungranted_filter_tag() {
    let p = sample();
    let result = json!({"tools": [
        {"name": "web-search_1mcp_q"}, {"name": "database_1mcp_sql"}
    ]});
    let g = granted(&p, &["web", "database"]);
    let web = filter("web");
    let out = filtered(&p, &result, &g, Some(&web), &one_mcp());
    assert_eq!(listed(&out, "tools"), ["web-search_1mcp_q"]);
    let files = filter("files");
    assert!(p.decide(&g, Some(&files), None, None).is_err());
    let out = filtered(&p, &result, &g, Some(&files), &one_mcp());
    assert!(listed(&out, "tools").is_empty());
}

#[test]
fn listings_can_map_items_by_a_field() {
    let p = sample();
    let result = json!({"resources": [
        {"uri": "file:///a", "_meta": {"server": "filesystem"}},
        {"uri": "https://x", "_meta": {"server": "web-search"}},
        {"uri": "mystery"}
    ], "prompts": [{"name": "p", "_meta": {"server": "web-search"}}],
    "tools": [
        {"name": "write_file", "_meta": {"server": "filesystem"}},
        {"name": "read_file", "_meta": {"server": "filesystem"}}
    ]});
    let items = ListingItems::Mapped(ItemServer::Field("/_meta/server".into()));
    let out = filtered(&p, &result, &granted(&p, &["web"]), None, &items);
    assert_eq!(
        out["resources"],
        json!([{"uri": "https://x", "_meta": {"server": "web-search"}}])
    );
    assert_eq!(listed(&out, "prompts"), ["p"]);
    assert!(listed(&out, "tools").is_empty());
    let out = filtered(&p, &result, &granted(&p, &["files"]), None, &items);
    assert_eq!(listed(&out, "tools"), ["read_file"]);
}

#[test]
fn a_result_that_is_not_an_object_is_returned_unchanged() {
    let p = sample();
    for result in [json!([{"name": "x"}]), json!("text"), Value::Null] {
        assert_eq!(
            filtered(&p, &result, &Granted::All, None, &one_mcp()),
            result
        );
    }
}

#[test]
fn settings_errors_from_configuration_text_name_their_path() {
    let e =
        AccessSettings::from_config_str(r#"{"roles": {"a": {"scopes": ["tag:x"]}}}"#).unwrap_err();
    assert_eq!(e.path, "roles.a.scopes");
    let e = AccessSettings::from_config_str(r#"{"servers": {"fs": {"tags": "web"}}}"#).unwrap_err();
    assert_eq!(e.path, "servers.fs.tags");
    let e =
        AccessSettings::from_config_str(r#"{"presets": {"p": {"tag_filter": 3}}}"#).unwrap_err();
    assert!(e.path.starts_with("presets.p"), "{e}");
}

#[test]
fn role_without_scopes_grants_nothing_and_other_role_keys_are_left_alone() {
    let p = policy_text(r#"{"roles": {"limited": {"rate_limit": {"limit": 1}}}}"#);
    assert!(p.grant(&[], &["limited".into()]).tags.is_empty());
    assert_eq!(p.role_scopes("limited"), Some(&[][..]));
}

mod listing_agrees_with_decide {
    use super::*;
    use proptest::prelude::*;

    /// Servers whose names prefix one another through the separator, and
    /// tools with tags of their own.
    fn tangled() -> AccessPolicy {
        policy(json!({"servers": {
            "a": {"tags": ["ta"], "tools": {"x": {"tags": ["tx"]}}},
            "a_1mcp_b": {"tags": ["tb"], "tools": {"x": {"tags": ["tx2"]}}},
            "a_1mcp_b_1mcp_c": {"tags": ["tc"]},
            "d": {"tags": ["ta", "td"], "tools": {"a_1mcp_x": {"tags": ["tx"]}}}
        }}))
    }

    const PARTS: [&str; 5] = ["a", "b", "c", "d", "x"];
    const TAGS: [&str; 6] = ["ta", "tb", "tc", "td", "tx", "tx2"];

    proptest! {
        #[test]
        fn a_tool_is_listed_iff_decide_allows_every_reading_of_its_name(
            parts in proptest::collection::vec(0usize..PARTS.len(), 2..5),
            tags in proptest::collection::vec(proptest::bool::ANY, TAGS.len()),
        ) {
            let p = tangled();
            let name = parts.iter().map(|&i| PARTS[i]).collect::<Vec<_>>().join("_1mcp_");
            let held: Vec<&str> = TAGS.iter().zip(&tags).filter(|(_, on)| **on).map(|(t, _)| *t).collect();
            let g = p.granted(&held);
            let readings: Vec<(&str, &str)> = p
                .server_names()
                .filter_map(|s| name.strip_prefix(s)?.strip_prefix("_1mcp_").map(|tool| (s, tool)))
                .collect();
            let expected = !readings.is_empty()
                && readings.iter().all(|(s, tool)| p.decide(&g, None, Some(s), Some(tool)).is_ok());
            let result = json!({"tools": [{"name": name}]});
            let out = filtered(&p, &result, &g, None, &one_mcp());
            prop_assert_eq!(listed(&out, "tools").len() == 1, expected, "{} {:?}", name, held);
        }
    }
}

#[test]
fn one_filter_shared_by_two_policies_matches_each_policys_own_servers() {
    // The filter remembers the server matches of the first policy it meets;
    // a second policy with the same server names but other tags must still
    // get its own answer, every time.
    let first = policy(json!({"servers": {"x": {"tags": ["a"]}, "y": {"tags": ["b"]}}}));
    let second = policy(json!({"servers": {"x": {"tags": ["b"]}, "y": {"tags": ["a"]}}}));
    let filter = Filter::parse_tags("a").unwrap();
    for _ in 0..2 {
        let g1 = first.granted(&["a", "b"]);
        let g2 = second.granted(&["a", "b"]);
        assert_eq!(first.visible_servers(&g1, Some(&filter)), ["x"]);
        assert_eq!(second.visible_servers(&g2, Some(&filter)), ["y"]);
        assert!(first.decide(&g1, Some(&filter), Some("y"), None).is_err());
        assert!(second.decide(&g2, Some(&filter), Some("y"), None).is_ok());
    }
    // A clone of the filter starts from what the original remembered and
    // answers the same.
    let copy = filter.clone();
    assert_eq!(
        second.visible_servers(&second.granted(&["a"]), Some(&copy)),
        ["y"]
    );
}
