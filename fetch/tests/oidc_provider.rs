//! Against a real identity provider: node's `oidc-provider` (fetch/tests/oidc,
//! installed with `npm ci` on first run) serving its own discovery document,
//! JWKS, client_credentials tokens with a resource indicator, introspection
//! and revocation on loopback. The Guard is configured with only the issuer
//! and `discovery: true` (plus introspection credentials).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use mcpguard::Reason;
use mcpguard::guard::Guard;
use mcpguard_fetch::{Fetcher, guard_from_json};
use serde_json::{Value, json};

const RES: &str = "https://mcp.example.com/mcp";

/// The provider process; killed when dropped.
struct Provider {
    child: Child,
    issuer: String,
    /// Kept open: the provider may write more, and a closed pipe kills it.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider() -> Provider {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
    if !dir.join("node_modules/oidc-provider").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is needed to install oidc-provider for this test");
        assert!(status.success(), "npm ci failed in {}", dir.display());
    }
    let mut child = Command::new("node")
        .arg("server.mjs")
        .arg(RES)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node is needed to run oidc-provider for this test");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let issuer = line
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("oidc-provider did not start: {line:?}"))
        .trim()
        .to_owned();
    Provider {
        child,
        issuer,
        _stdout: stdout,
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn post(url: &str, id: &str, secret: &str, form: &[(&str, &str)]) -> Value {
    let mut resp = ureq::post(url)
        .header("authorization", basic(id, secret))
        .send_form(form.iter().copied())
        .unwrap();
    let text = resp.body_mut().read_to_string().unwrap();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// An access token for RES from the client `id` (secret `<id>-secret`).
fn token(p: &Provider, id: &str) -> String {
    let secret = format!("{id}-secret");
    let answer = post(
        &format!("{}/token", p.issuer),
        id,
        &secret,
        &[
            ("grant_type", "client_credentials"),
            ("resource", RES),
            ("scope", "read"),
        ],
    );
    answer["access_token"]
        .as_str()
        .expect("no access_token")
        .to_owned()
}

fn guarded(p: &Provider, cache_seconds: u64) -> (Guard, Fetcher) {
    let text = json!({"resource": RES, "auth": {"issuers": [{
        "issuer": p.issuer, "discovery": true,
        "introspection": {"client_id": "rs", "client_secret": "rs-secret",
                          "cache_seconds": cache_seconds}}]}})
    .to_string();
    let (g, f) = guard_from_json(&text).unwrap();
    assert!(f.wait_ready(Duration::from_secs(10)));
    (g, f)
}

#[test]
fn a_jwt_access_token_from_oidc_provider_validates_with_discovery_alone() {
    let p = provider();
    let (guard, fetcher) = guarded(&p, 60);
    assert_eq!(fetcher.stats().jwks_fetches, 1);
    let jwt = token(&p, "app-jwt");
    assert_eq!(jwt.matches('.').count(), 2, "expected a JWT access token");
    let principal = guard.validate(&jwt).unwrap();
    assert_eq!(principal.issuer, p.issuer);
    assert_eq!(principal.client_id.as_deref(), Some("app-jwt"));
    assert_eq!(principal.scopes, ["read"]);
}

#[test]
fn an_opaque_token_from_oidc_provider_is_introspected_once_and_revocations_honoured() {
    let p = provider();
    let (guard, fetcher) = guarded(&p, 60);
    let opaque = token(&p, "app-opaque");
    assert!(!opaque.contains('.'), "expected an opaque access token");
    for _ in 0..5 {
        let principal = guard.validate(&opaque).unwrap();
        assert_eq!(principal.client_id.as_deref(), Some("app-opaque"));
        assert_eq!(principal.scopes, ["read"]);
    }
    assert_eq!(fetcher.stats().introspection_calls, 1);
    guard.revoke(&opaque).unwrap();
    assert_eq!(guard.validate(&opaque).unwrap_err().reason, Reason::Revoked);

    // Revoked at the provider: a Guard that keeps no answer sees it at once.
    let (guard, _f) = guarded(&p, 0);
    let other = token(&p, "app-opaque");
    assert!(guard.validate(&other).is_ok());
    post(
        &format!("{}/token/revocation", p.issuer),
        "app-opaque",
        "app-opaque-secret",
        &[("token", &other)],
    );
    assert_eq!(guard.validate(&other).unwrap_err().reason, Reason::Inactive);
}
