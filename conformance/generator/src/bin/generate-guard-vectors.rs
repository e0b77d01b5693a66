//! Writes the Guard-level conformance vectors (conformance/guard_*.json):
//! every reason code through `authorize`, each rate-limit header format,
//! the order of the steps (refusals consume no quota), anonymous access,
//! revocation, the metadata document, opaque tokens and introspection.
//!
//! Run `cargo run -p mcpguard-testkit --bin generate-guard-vectors` from the
//! repository. Tokens are RS256 (deterministic), relative to each file's
//! `clock`, so a re-run writes the same files.

use std::path::PathBuf;

use mcpguard_testkit as kit;
use serde_json::{Value, json};

const T: i64 = 1_767_225_600;
const ISS: &str = "https://auth.example.com";
const RES: &str = "https://mcp.example.com/mcp";
const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

/// A Guard configuration: four servers, two roles, 3 requests a minute.
fn config(extra: Value) -> Value {
    let mut c = json!({
        "resource": RES,
        "auth": {
            "issuers": [{"issuer": ISS, "jwks": kit::jwks(&[("rsa", Some("k1"), Some("RS256"))])}],
            "role_claim": "roles"
        },
        "servers": {
            "filesystem": {"tags": ["files", "sensitive"], "tools": {"write_file": {"tags": ["files-write"]}}},
            "database": {"tags": ["database", "sensitive"]},
            "web-search": {"tags": ["web", "safe"]},
            "memory": {"tags": ["memory", "safe"]}
        },
        "presets": {"data": {"tag_query": {"$or": [{"tag": "database"}, {"tag": "web"}]}}},
        "roles": {"analyst": {"scopes": "tag:database tag:web"}},
        "rate_limit": {"limit": 3, "window_seconds": 60}
    });
    kit::merge(&mut c, extra);
    c
}

fn claims(extra: Value) -> Value {
    let mut c = json!({"iss": ISS, "sub": "alice", "client_id": "app", "aud": RES,
        "iat": T, "exp": T + 3600, "scope": "tag:web tag:files"});
    kit::merge(&mut c, extra);
    c
}

fn signed(header: Value, claims: Value) -> String {
    kit::sign("RS256", "rsa", &header.to_string(), &claims.to_string())
}

fn tok(extra: Value) -> String {
    signed(
        json!({"alg": "RS256", "kid": "k1", "typ": "at+jwt"}),
        claims(extra),
    )
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn authorize(name: &str, request: Value, expect: Value) -> Value {
    json!({"name": name, "op": "authorize", "request": request, "expect": expect})
}

/// A refusal with its status, error, reason and a challenge naming the
/// metadata document (`challenge_error`: the `error` attribute, if any).
fn refused(name: &str, request: Value, status: u16, reason: &str) -> Value {
    let error = match status {
        400 => "invalid_request",
        401 => "invalid_token",
        403 => "insufficient_scope",
        _ => "rate_limited",
    };
    let mut challenge = vec![format!("resource_metadata=\"{METADATA}\"")];
    if reason != "missing_token" && status != 429 {
        challenge.push(format!("error=\"{error}\""));
    }
    let mut e = json!({"allowed": false, "status": status, "error": error, "reason": reason,
        "visible_servers": [], "rate_limit": null});
    if status != 429 {
        e["headers_contain"] = json!({"WWW-Authenticate": challenge});
    }
    authorize(name, request, e)
}

fn advance(seconds: i64) -> Value {
    json!({"name": format!("advance {seconds} s"), "op": "advance", "seconds": seconds})
}

fn file(description: &str, config: Value, cases: Vec<Value>) -> Value {
    json!({"description": description, "config": config, "clock": T, "cases": cases})
}

fn reasons() -> Value {
    let good = tok(json!({}));
    let (h, p, _) = kit::split(&good);
    let swapped_payload = kit::b64url(claims(json!({"sub": "mallory"})).to_string().as_bytes());
    let none = format!(
        "{}.{}.",
        kit::b64url(br#"{"alg":"none"}"#),
        kit::b64url(claims(json!({})).to_string().as_bytes())
    );
    let cases = vec![
        refused("no Authorization header", json!({}), 401, "missing_token"),
        refused(
            "an empty header is no header",
            json!({"authorization": "   "}),
            401,
            "missing_token",
        ),
        refused(
            "Basic credentials are malformed",
            json!({"authorization": "Basic dXNlcjpwYXNz"}),
            401,
            "malformed",
        ),
        refused(
            "Bearer with nothing after it",
            json!({"authorization": "Bearer "}),
            401,
            "malformed",
        ),
        refused(
            "text after the token",
            json!({"authorization": format!("Bearer {good} extra")}),
            401,
            "malformed",
        ),
        refused(
            "two credentials joined by a comma",
            json!({"authorization": format!("Bearer {good}, Bearer {good}")}),
            401,
            "malformed",
        ),
        refused(
            "a token of two segments",
            json!({"authorization": format!("Bearer {h}.{p}")}),
            401,
            "malformed",
        ),
        refused(
            "alg none",
            json!({"authorization": bearer(&none)}),
            401,
            "algorithm_not_allowed",
        ),
        refused(
            "an unknown kid",
            json!({"authorization": bearer(&signed(json!({"alg": "RS256", "kid": "k9"}), claims(json!({}))))}),
            401,
            "unknown_key",
        ),
        refused(
            "claims swapped under a valid signature",
            json!({"authorization": format!("Bearer {h}.{swapped_payload}.{}", kit::split(&good).2)}),
            401,
            "bad_signature",
        ),
        refused(
            "expired past the leeway",
            json!({"authorization": bearer(&tok(json!({"exp": T - 31})))}),
            401,
            "expired",
        ),
        authorize(
            "expired within the leeway is accepted",
            json!({"authorization": bearer(&tok(json!({"exp": T - 29})))}),
            json!({"allowed": true, "status": 200}),
        ),
        refused(
            "not yet valid",
            json!({"authorization": bearer(&tok(json!({"nbf": T + 31})))}),
            401,
            "not_yet_valid",
        ),
        refused(
            "an untrusted issuer",
            json!({"authorization": bearer(&tok(json!({"iss": "https://evil.example.com"})))}),
            401,
            "wrong_issuer",
        ),
        refused(
            "a token for another resource",
            json!({"authorization": bearer(&tok(json!({"aud": "https://other.example.com/mcp"})))}),
            401,
            "wrong_audience",
        ),
        authorize(
            "the audience compares as a canonical URI",
            json!({"authorization": bearer(&tok(json!({"aud": ["https://MCP.example.com/mcp/"]})))}),
            json!({"allowed": true}),
        ),
        refused(
            "no exp",
            json!({"authorization": bearer(&tok(json!({"exp": null})))}),
            401,
            "missing_claim",
        ),
        refused(
            "an unknown critical header",
            json!({"authorization": bearer(&signed(json!({"alg": "RS256", "kid": "k1", "crit": ["exp"], "exp": 1}), claims(json!({}))))}),
            401,
            "unsupported_critical_header",
        ),
        authorize(
            "a valid token sees its permitted servers",
            json!({"authorization": bearer(&good)}),
            json!({"allowed": true, "status": 200, "error": null, "reason": null,
                   "visible_servers": ["filesystem", "web-search"],
                   "principal": {"subject": "alice", "client_id": "app", "issuer": ISS,
                                 "scopes": ["tag:web", "tag:files"], "tags": ["web", "files"], "roles": []}}),
        ),
        refused(
            "a server the token does not grant",
            json!({"authorization": bearer(&good), "server": "database"}),
            403,
            "insufficient_scope",
        ),
        authorize(
            "an unlisted server gets the same answer",
            json!({"authorization": bearer(&good), "server": "nonexistent"}),
            json!({"status": 403, "reason": "insufficient_scope", "error_description": "Access to server 'nonexistent' is not granted"}),
        ),
        authorize(
            "a tool with its own tags needs one of them",
            json!({"authorization": bearer(&good), "server": "filesystem", "tool": "write_file"}),
            json!({"status": 403, "error_description": "Access to tool 'write_file' on server 'filesystem' is not granted"}),
        ),
        authorize(
            "a filter naming ungranted tags",
            json!({"authorization": bearer(&good), "filter": {"tag_filter": "web and not database"}}),
            json!({"status": 403, "reason": "insufficient_scope",
                   "error_description": "Insufficient scopes. Required: web, database, Granted: web, files"}),
        ),
        authorize(
            "roles add scopes",
            json!({"authorization": bearer(&tok(json!({"scope": null, "roles": ["analyst"]}))), "filter": {"preset": "data"}}),
            json!({"allowed": true, "visible_servers": ["database", "web-search"], "principal": {"tags": ["database", "web"], "roles": ["analyst"]}}),
        ),
        refused(
            "an invalid filter",
            json!({"authorization": bearer(&good), "filter": {"tag_filter": "web api"}}),
            400,
            "invalid_filter",
        ),
        refused(
            "an unknown preset",
            json!({"authorization": bearer(&good), "filter": {"preset": "nope"}}),
            400,
            "unknown_preset",
        ),
        refused(
            "cost below 1",
            json!({"authorization": bearer(&good), "cost": 0}),
            400,
            "invalid_request",
        ),
        refused(
            "a tool without its server",
            json!({"tool": "write_file"}),
            400,
            "invalid_request",
        ),
        json!({"name": "revoke the good token", "op": "revoke", "token": good}),
        refused(
            "a revoked token",
            json!({"authorization": bearer(&good)}),
            401,
            "revoked",
        ),
        json!({"name": "a JWT's principal is of kind jwt", "op": "validate", "token": tok(json!({"jti": "kind-probe"})),
               "expect": {"ok": true, "kind": "jwt"}}),
        json!({"name": "validate reports the revocation too", "op": "validate", "token": good,
               "expect": {"ok": false, "status": 401, "error": "invalid_token", "reason": "revoked"}}),
        json!({"name": "the metadata document", "op": "metadata", "expect": {"document": {
            "resource": RES, "authorization_servers": [ISS],
            "scopes_supported": ["tag:files", "tag:sensitive", "tag:files-write", "tag:database", "tag:web", "tag:safe", "tag:memory"],
            "bearer_methods_supported": ["header"]}}}),
        insert(
            "storing an opaque token while auth.opaque_tokens is off",
            "opq-nowhere",
            json!({"client_id": "app"}),
            json!({"ok": false, "error": "disabled"}),
        ),
    ];
    file(
        "Guard.authorize: every reason code, in the order the Guard checks",
        config(json!({"rate_limit": {"limit": 100}})),
        cases,
    )
}

fn policy() -> Value {
    let cfg = config(
        json!({"auth": {"require_typ": "at+jwt", "required_scopes": ["mcp:access"],
        "max_token_bytes": 2048, "opaque_tokens": true}}),
    );
    let ok = tok(json!({"scope": "mcp:access tag:web"}));
    let cases = vec![
        authorize(
            "typ, required scope and size all fine",
            json!({"authorization": bearer(&ok)}),
            json!({"allowed": true, "visible_servers": ["web-search"]}),
        ),
        refused(
            "typ JWT is not an access token",
            json!({"authorization": bearer(&signed(json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}), claims(json!({"scope": "mcp:access"}))))}),
            401,
            "wrong_type",
        ),
        authorize(
            "application/at+jwt equals at+jwt",
            json!({"authorization": bearer(&signed(json!({"alg": "RS256", "kid": "k1", "typ": "application/AT+JWT"}), claims(json!({"scope": "mcp:access"}))))}),
            json!({"allowed": true}),
        ),
        authorize(
            "a required scope missing is a 403 naming it",
            json!({"authorization": bearer(&tok(json!({})))}),
            json!({"status": 403, "reason": "insufficient_scope", "headers_contain": {"WWW-Authenticate": ["scope=\"mcp:access\"", "error=\"insufficient_scope\""]}}),
        ),
        refused(
            "a token over max_token_bytes",
            json!({"authorization": bearer(&tok(json!({"scope": "mcp:access", "pad": "x".repeat(2100)})))}),
            401,
            "too_large",
        ),
        refused(
            "an unknown opaque token is inactive",
            json!({"authorization": "Bearer opaque-token-nobody-issued"}),
            401,
            "inactive",
        ),
    ];
    file(
        "Guard.authorize: require_typ, required_scopes, max_token_bytes, opaque tokens",
        cfg,
        cases,
    )
}

fn order() -> Value {
    let good = bearer(&tok(json!({})));
    let expired = bearer(&tok(json!({"exp": T - 3600})));
    let mut cases = vec![];
    for i in 0..3 {
        cases.push(refused(
            &format!("expired token #{i} consumes nothing"),
            json!({"authorization": expired}),
            401,
            "expired",
        ));
        cases.push(authorize(
            &format!("forbidden server #{i} consumes nothing"),
            json!({"authorization": good, "server": "database"}),
            json!({"status": 403, "rate_limit": null}),
        ));
        cases.push(authorize(
            &format!("bad filter #{i} consumes nothing"),
            json!({"authorization": good, "filter": {"tags": ""}}),
            json!({"status": 400, "reason": "invalid_filter"}),
        ));
    }
    cases.push(authorize("the first counted request", json!({"authorization": good}),
        json!({"allowed": true, "rate_limit": {"limit": 3, "remaining": 2, "reset": 60, "retry_after": null}})));
    cases.push(authorize(
        "a cost of 2",
        json!({"authorization": good, "cost": 2}),
        json!({"allowed": true, "rate_limit": {"remaining": 0}}),
    ));
    cases.push(authorize(
        "the budget is spent",
        json!({"authorization": good}),
        json!({"allowed": false, "status": 429, "error": "rate_limited", "reason": "rate_limited",
               "visible_servers": ["filesystem", "web-search"],
               "rate_limit": {"limit": 3, "remaining": 0, "reset": 60, "retry_after": 60},
               "headers_contain": {"Retry-After": ["60"]}}),
    ));
    cases.push(authorize(
        "a cost no limit admits is a 429 without retry_after",
        json!({"authorization": good, "cost": 4}),
        json!({"status": 429, "rate_limit": {"retry_after": null}}),
    ));
    cases.push(advance(59));
    cases.push(authorize(
        "one second before the window ends",
        json!({"authorization": good}),
        json!({"status": 429, "rate_limit": {"retry_after": 1}}),
    ));
    cases.push(advance(1));
    cases.push(authorize(
        "the window ended",
        json!({"authorization": good}),
        json!({"allowed": true, "rate_limit": {"remaining": 2}}),
    ));
    let mut f = file(
        "Guard.authorize: refusals before the rate limit consume no quota",
        config(json!({})),
        cases,
    );
    // A refusal before rate limiting carries no rate-limit headers.
    f["cases"][0]["headers_not_contain"] = json!({"RateLimit": ["limit="], "Retry-After": [""]});
    f
}

fn headers(format: &str, expect_allowed: Value, expect_denied: Value, absent: Value) -> Value {
    let good = bearer(&tok(json!({})));
    let mut cases = vec![authorize(
        "first request",
        json!({"authorization": good, "cost": 2}),
        expect_allowed,
    )];
    cases.push(authorize(
        "past the limit",
        json!({"authorization": good, "cost": 2}),
        expect_denied,
    ));
    cases[0]["headers_not_contain"] = absent;
    let cfg = config(json!({"rate_limit": {"headers": format}}));
    file(
        &format!("Rate-limit headers in the {format} format"),
        cfg,
        cases,
    )
}

fn header_files() -> Vec<(&'static str, Value)> {
    vec![
        (
            "guard_headers_draft6.json",
            headers(
                "draft-6",
                json!({"allowed": true, "headers_contain": {"RateLimit-Policy": ["3;w=60"], "RateLimit-Limit": ["3"], "RateLimit-Remaining": ["1"], "RateLimit-Reset": ["60"]}}),
                json!({"status": 429, "headers_contain": {"RateLimit-Remaining": ["1"], "Retry-After": ["60"]}}),
                json!({"RateLimit": ["limit="], "X-RateLimit-Limit": [""], "Retry-After": [""]}),
            ),
        ),
        (
            "guard_headers_draft7.json",
            headers(
                "draft-7",
                json!({"allowed": true, "headers_contain": {"RateLimit-Policy": ["3;w=60"], "RateLimit": ["limit=3, remaining=1, reset=60"]}}),
                json!({"status": 429, "headers_contain": {"RateLimit": ["remaining=1"], "Retry-After": ["60"]}}),
                json!({"RateLimit-Limit": [""], "X-RateLimit-Limit": [""], "Retry-After": [""]}),
            ),
        ),
        (
            "guard_headers_draft10.json",
            headers(
                "draft-10",
                json!({"allowed": true, "headers_contain": {"RateLimit-Policy": ["\"default\";q=3;w=60"], "RateLimit": ["\"default\";r=1;t=60"]}}),
                json!({"status": 429, "headers_contain": {"RateLimit": ["\"default\";r=1;t=60"], "Retry-After": ["60"]}}),
                json!({"RateLimit": ["limit="], "RateLimit-Limit": [""], "Retry-After": [""]}),
            ),
        ),
        (
            "guard_headers_legacy.json",
            headers(
                "legacy",
                json!({"allowed": true, "headers_contain": {"X-RateLimit-Limit": ["3"], "X-RateLimit-Remaining": ["1"], "X-RateLimit-Reset": [(T + 60).to_string()]}}),
                json!({"status": 429, "headers_contain": {"X-RateLimit-Remaining": ["1"], "Retry-After": ["60"]}}),
                json!({"RateLimit": [""], "RateLimit-Policy": [""], "Retry-After": [""]}),
            ),
        ),
        (
            "guard_headers_none.json",
            headers(
                "none",
                json!({"allowed": true, "rate_limit": {"limit": 3, "remaining": 1}}),
                json!({"status": 429, "headers_contain": {"Retry-After": ["60"]}}),
                json!({"RateLimit": [""], "RateLimit-Policy": [""], "RateLimit-Limit": [""], "X-RateLimit-Limit": [""], "Retry-After": [""]}),
            ),
        ),
    ]
}

fn anonymous() -> Value {
    let cfg = config(
        json!({"auth": {"required": false}, "untagged_servers": "allow",
        "servers": {"status": {}}}),
    );
    let cases = vec![
        authorize(
            "no token: anonymous, every tag granted",
            json!({"key": "203.0.113.7"}),
            json!({"allowed": true, "principal": null, "visible_servers": ["filesystem", "database", "web-search", "memory", "status"]}),
        ),
        authorize(
            "anonymous filters freely",
            json!({"key": "203.0.113.7", "filter": {"tags": "safe"}}),
            json!({"allowed": true, "visible_servers": ["web-search", "memory"]}),
        ),
        authorize(
            "the host key is the budget",
            json!({"key": "203.0.113.7"}),
            json!({"allowed": true, "rate_limit": {"remaining": 0}}),
        ),
        authorize(
            "that budget is spent",
            json!({"key": "203.0.113.7"}),
            json!({"status": 429}),
        ),
        authorize(
            "another address has its own budget",
            json!({"key": "198.51.100.1"}),
            json!({"allowed": true, "rate_limit": {"remaining": 2}}),
        ),
        refused(
            "a bad token is still refused",
            json!({"authorization": "Bearer a.b.c", "key": "198.51.100.1"}),
            401,
            "malformed",
        ),
        authorize(
            "a token's own budget is separate from its address",
            json!({"authorization": bearer(&tok(json!({}))), "key": "203.0.113.7"}),
            json!({"allowed": true, "visible_servers": ["filesystem", "web-search", "status"], "rate_limit": {"remaining": 2}}),
        ),
    ];
    file(
        "auth.required false: anonymous requests, untagged servers allowed",
        cfg,
        cases,
    )
}

fn insert(name: &str, token: &str, entry: Value, expect: Value) -> Value {
    json!({"name": name, "op": "insert_opaque", "token": token, "entry": entry, "expect": expect})
}

fn introspect(name: &str, response: Value, expect: Value) -> Value {
    json!({"name": name, "op": "introspect", "response": response, "expect": expect})
}

/// Opaque tokens the host stores, and introspection responses it fetched.
fn opaque() -> Value {
    let cfg = config(json!({"auth": {"opaque_tokens": true}}));
    let alice = "opq-alice-7Hd93kQ";
    let analyst = "opq-analyst-P0x2";
    let short = "opq-short-lived";
    let elsewhere = "opq-for-another-resource";
    let ok_entry = json!({"client_id": "app", "subject": "alice",
        "scopes": ["tag:web", "tag:files"], "resource": RES, "expires_at": T + 600});
    let active = |extra: Value| {
        let mut r = json!({"active": true, "iss": ISS, "client_id": "svc", "sub": "bob",
            "aud": RES, "scope": "tag:memory mcp:read", "exp": T + 3600, "iat": T});
        kit::merge(&mut r, extra);
        r
    };
    let cases = vec![
        refused(
            "a token the store never saw is inactive",
            json!({"authorization": bearer(alice)}),
            401,
            "inactive",
        ),
        insert(
            "the host stores a token it issued",
            alice,
            ok_entry.clone(),
            json!({"ok": true}),
        ),
        json!({"name": "the stored token validates", "op": "validate", "token": alice,
            "expect": {"ok": true, "kind": "opaque", "subject": "alice", "client_id": "app", "issuer": "",
                "scopes": ["tag:web", "tag:files"], "tags": ["web", "files"], "roles": [],
                "expires_at": T + 600}}),
        authorize(
            "the stored token is authorized like a JWT with those scopes",
            json!({"authorization": bearer(alice)}),
            json!({"allowed": true, "status": 200,
                "visible_servers_set": ["filesystem", "web-search"]}),
        ),
        insert(
            "roles in an entry grant their tags",
            analyst,
            json!({"client_id": "bi", "roles": ["analyst"], "expires_at": T + 600}),
            json!({"ok": true}),
        ),
        json!({"name": "the role's tags come after the scopes' (none here)", "op": "validate",
            "token": analyst, "expect": {"ok": true, "roles": ["analyst"], "scopes": [],
                "tags": ["database", "web"]}}),
        insert(
            "a token with a dot is not an opaque token",
            "abc.def",
            json!({}),
            json!({"ok": false, "error": "invalid_token"}),
        ),
        insert(
            "a token with a space is refused",
            "abc def",
            json!({}),
            json!({"ok": false, "error": "invalid_token"}),
        ),
        insert(
            "an entry that has already expired is refused",
            "opq-stale",
            json!({"expires_at": T}),
            json!({"ok": false, "error": "expired"}),
        ),
        insert(
            "a token for another resource is stored",
            elsewhere,
            json!({"client_id": "app", "resource": "https://other.example.com/mcp"}),
            json!({"ok": true}),
        ),
        refused(
            "but refused here as for another audience",
            json!({"authorization": bearer(elsewhere)}),
            401,
            "wrong_audience",
        ),
        json!({"name": "revoking a stored token removes it", "op": "revoke", "token": alice}),
        refused(
            "a revoked opaque token is inactive",
            json!({"authorization": bearer(alice)}),
            401,
            "inactive",
        ),
        insert(
            "a token living one minute",
            short,
            json!({"client_id": "app", "scopes": ["tag:web"], "expires_at": T + 60}),
            json!({"ok": true}),
        ),
        advance(89),
        authorize(
            "still accepted within the 30 s leeway",
            json!({"authorization": bearer(short)}),
            json!({"allowed": true, "visible_servers": ["web-search"]}),
        ),
        advance(1),
        refused(
            "expired once the leeway is over",
            json!({"authorization": bearer(short)}),
            401,
            "expired",
        ),
        introspect(
            "an active introspection response is a principal",
            active(json!({})),
            json!({"ok": true, "kind": "introspected", "subject": "bob", "client_id": "svc", "issuer": ISS,
                "scopes": ["tag:memory", "mcp:read"], "tags": ["memory"], "expires_at": T + 3600}),
        ),
        introspect(
            "an inactive response",
            json!({"active": false}),
            json!({"ok": false, "status": 401, "error": "invalid_token", "reason": "inactive"}),
        ),
        introspect(
            "a response for another resource",
            active(json!({"aud": "https://other.example.com/mcp"})),
            json!({"ok": false, "status": 401, "reason": "wrong_audience"}),
        ),
        introspect(
            "a response from an issuer not configured",
            active(json!({"iss": "https://evil.example.com"})),
            json!({"ok": false, "status": 401, "reason": "wrong_issuer"}),
        ),
        introspect(
            "an expired response",
            active(json!({"exp": T - 3600})),
            json!({"ok": false, "status": 401, "reason": "expired"}),
        ),
        introspect(
            "a response with a repeated member is malformed",
            json!(format!(
                r#"{{"active": true, "iss": "{ISS}", "aud": "{RES}", "exp": {}, "sub": "bob", "sub": "eve"}}"#,
                T + 3600
            )),
            json!({"ok": false, "status": 401, "reason": "malformed"}),
        ),
        introspect(
            "a response that is not JSON is malformed",
            json!("not json"),
            json!({"ok": false, "status": 401, "reason": "malformed"}),
        ),
    ];
    file(
        "Opaque tokens (auth.opaque_tokens) and RFC 7662 introspection responses",
        cfg,
        cases,
    )
}

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance");
    let mut files = vec![
        ("guard_reasons.json", reasons()),
        ("guard_policy.json", policy()),
        ("guard_order.json", order()),
        ("guard_anonymous.json", anonymous()),
        ("guard_opaque.json", opaque()),
    ];
    files.extend(header_files());
    for (name, v) in files {
        std::fs::write(dir.join(name), format!("{:#}\n", v))?;
        eprintln!("wrote conformance/{name}");
    }
    Ok(())
}
