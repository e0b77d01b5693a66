//! Revocations and opaque tokens cross from one process to another through
//! a real redis-server: a token revoked here is refused there within the
//! stated bound (one second, plus the other process's 10 ms polling loop),
//! although the other process had it in its verified-token cache; an opaque
//! token inserted here is valid there at once. The test binary re-executes
//! itself as the other process.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mcpguard::guard::{Guard, GuardOptions};
use mcpguard::token::OpaqueEntry;
use serde_json::json;

const CHILD: &str = "MCPGUARD_REDIS_TOKENS_CHILD";
const OPAQUE: &str = "opaque-token-0123456789";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn guard(url: &str) -> Guard {
    let config = support::token_config(url, "tokens:", "fail_closed");
    mcpguard_redis::guard_from_json(&config, GuardOptions::default()).unwrap()
}

fn token(jti: Option<&str>) -> String {
    support::token(json!({ "sub": "alice", "jti": jti }))
}

/// The other process: validates (and caches) the tokens, says READY, then
/// polls every 10 ms and reports when each change became visible.
#[test]
fn child_process_watches_tokens_when_asked() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let mut parts = spec.split(' ');
    let (url, with_jti, without_jti) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let g = guard(url);
    assert!(g.validate(with_jti).is_ok());
    assert!(g.validate(without_jti).is_ok());
    assert!(g.validate(OPAQUE).is_err(), "not inserted yet");
    println!("READY");
    std::io::stdout().flush().unwrap();
    let (mut jti_at, mut whole_at, mut opaque_at) = (None, None, None);
    let deadline = Instant::now() + Duration::from_secs(5);
    while (jti_at.is_none() || whole_at.is_none() || opaque_at.is_none())
        && Instant::now() < deadline
    {
        let reason = |t: &str| g.validate(t).err().map(|e| e.reason.code());
        if jti_at.is_none() && reason(with_jti) == Some("revoked") {
            jti_at = Some(now_ms());
        }
        if whole_at.is_none() && reason(without_jti) == Some("revoked") {
            whole_at = Some(now_ms());
        }
        if opaque_at.is_none() && g.validate(OPAQUE).is_ok() {
            opaque_at = Some(now_ms());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let show = |v: Option<u64>| v.map_or("never".to_string(), |v| v.to_string());
    println!(
        "SEEN {} {} {}",
        show(jti_at),
        show(whole_at),
        show(opaque_at)
    );
}

#[test]
fn a_revocation_and_an_opaque_token_reach_the_other_process_within_the_bound() {
    let server = support::Server::start();
    let g = guard(&server.url());
    let (with_jti, without_jti) = (token(Some("jti-1")), token(None));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_watches_tokens_when_asked",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD, format!("{} {with_jti} {without_jti}", server.url()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines
            .next()
            .expect("the child exited before READY")
            .unwrap();
        if line.contains("READY") {
            break;
        }
    }
    g.revoke(&with_jti).unwrap();
    g.revoke(&without_jti).unwrap();
    let revoked_at = now_ms();
    let entry = OpaqueEntry {
        subject: Some("bob".into()),
        expires_at: Some((now_ms() / 1000 + 600) as i64),
        ..OpaqueEntry::default()
    };
    g.insert_opaque(OPAQUE, entry).unwrap();
    let inserted_at = now_ms();
    // Read to the end: the child writes after SEEN, into a pipe kept open.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let seen = rest
        .iter()
        .find_map(|l| l.strip_prefix("SEEN ").map(str::to_string))
        .expect("the child reported nothing");
    assert!(child.wait().unwrap().success(), "the child failed");
    let at: Vec<u64> = seen
        .split(' ')
        .map(|v| v.parse().unwrap_or_else(|_| panic!("not seen: {seen}")))
        .collect();
    let bound = 1000 + 100; // the bound, plus the child's loop and scheduling
    for (what, t) in [("jti revocation", at[0]), ("whole-token revocation", at[1])] {
        let delay = t.saturating_sub(revoked_at);
        println!("{what}: seen after {delay} ms");
        assert!(delay <= bound, "{what} took {delay} ms");
    }
    let delay = at[2].saturating_sub(inserted_at);
    println!("opaque token: seen after {delay} ms");
    assert!(delay <= 100, "the opaque token took {delay} ms");
    assert!(
        server
            .cmd(&["KEYS", "*"])
            .as_sequence()
            .is_some_and(|keys| !keys.iter().any(|k| format!("{k:?}").contains(OPAQUE))),
        "the opaque token itself never reaches Redis"
    );
}
