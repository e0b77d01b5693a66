"""The Guard's Python surface: construction, decisions, exceptions, key
rotation, revocation, audit and counters."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import mcpguard
from conftest import EXAMPLES, NOW
from tokens import ISSUER, RESOURCE, claims, jwks, rs256



def config(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resource": RESOURCE,
        "auth": {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}], "role_claim": "roles"},
        "servers": {
            "files": {"tags": ["files"], "tools": {"write": {"tags": ["files-write"]}}},
            "web": {"tags": ["web"]},
        },
        "presets": {"dev": {"tag_filter": "web or files"}},
        "rate_limit": {"limit": 5, "window_seconds": 60},
    }
    doc.update(overrides)
    return doc


@pytest.fixture
def guard(clock: mcpguard.ManualClock) -> mcpguard.Guard:
    return mcpguard.Guard.from_json(config(), clock=clock)


TOKEN = rs256(claims(NOW, scope="tag:files tag:web"))


def test_a_dict_and_its_json_text_build_the_same_guard(clock: mcpguard.ManualClock) -> None:
    a = mcpguard.Guard.from_json(config(), clock=clock)
    b = mcpguard.Guard.from_json(json.dumps(config()), clock=clock)
    assert a.metadata_document() == b.metadata_document()
    assert a.metadata_path() == "/.well-known/oauth-protected-resource/mcp"
    assert a.metadata_url() == "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    assert a.resource() == RESOURCE


def test_an_unknown_key_is_a_config_error_naming_its_path() -> None:
    doc = config()
    doc["rate_limit"]["limt"] = 3
    with pytest.raises(mcpguard.ConfigError) as e:
        mcpguard.Guard.from_json(doc)
    assert e.value.path.startswith("rate_limit")
    assert "limt" in str(e.value)
    assert isinstance(e.value, ValueError) and isinstance(e.value, mcpguard.GuardError)


def test_text_that_is_not_json_is_a_config_error() -> None:
    with pytest.raises(mcpguard.ConfigError):
        mcpguard.Guard.from_json("{not json")


def test_from_file_reads_relative_jwks_files_and_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONE_MCP_RATE_LIMIT_MAX", "7")
    guard = mcpguard.Guard.from_file(EXAMPLES / "guard.json", clock=mcpguard.ManualClock(NOW))
    tokens = json.loads((EXAMPLES / "tokens.json").read_text())
    d = guard.authorize(authorization=f"Bearer {tokens['developer']}")
    assert d.allowed
    assert d.rate_limit is not None and d.rate_limit.limit == 7


def test_from_file_with_a_malformed_override_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONE_MCP_RATE_LIMIT_MAX", "lots")
    with pytest.raises(mcpguard.ConfigError):
        mcpguard.Guard.from_file(EXAMPLES / "guard.json")


def test_a_missing_file_is_a_config_error() -> None:
    with pytest.raises(mcpguard.ConfigError):
        mcpguard.Guard.from_file(Path("/nonexistent/guard.json"))


def test_an_allowed_decision_carries_principal_servers_and_rate_limit(guard: mcpguard.Guard) -> None:
    d = guard.authorize(authorization=f"Bearer {TOKEN}", server="web", key="203.0.113.7")
    assert d.allowed and bool(d) and d.status == 200
    assert d.error is None and d.reason is None and d.error_description is None
    assert d.visible_servers == ["files", "web"]
    assert d.principal is not None and d.principal.subject == "alice"
    assert d.principal.tags == ["files", "web"]
    assert d.rate_limit is not None
    assert (d.rate_limit.limit, d.rate_limit.remaining, d.rate_limit.policy) == (5, 4, "default")
    assert d.header("ratelimit") == d.header("RateLimit")
    assert d.raise_for_status() is None
    doc = d.to_dict()
    assert set(doc) >= {"allowed", "status", "error", "error_description", "reason", "headers",
                        "principal", "visible_servers", "rate_limit"}
    assert doc["principal"]["client_id"] == "app-1"
    assert doc["rate_limit"]["remaining"] == 4
    assert all(isinstance(h, list) and len(h) == 2 for h in doc["headers"])


def test_a_refusal_is_a_decision_never_an_exception(guard: mcpguard.Guard) -> None:
    d = guard.authorize()
    assert not d.allowed and d.status == 401 and d.reason == "missing_token"
    assert "resource_metadata=" in (d.header("WWW-Authenticate") or "")
    with pytest.raises(mcpguard.InvalidToken) as e:
        d.raise_for_status()
    assert (e.value.status, e.value.reason, e.value.error) == (401, "missing_token", "invalid_token")
    assert e.value.www_authenticate == d.header("WWW-Authenticate")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"filter": {"tags": "web", "preset": "dev"}}, "invalid_request"),
        ({"filter": {"tag_query": "{}"}}, "invalid_request"),
        ({"filter": {"tags": 3}}, "invalid_request"),
        ({"filter": {"tag_filter": "web and"}}, "invalid_filter"),
        ({"filter": {"preset": "nope"}}, "unknown_preset"),
        ({"cost": 0}, "invalid_request"),
        ({"cost": -4}, "invalid_request"),
        ({"tool": "write"}, "invalid_request"),
    ],
)
def test_a_badly_shaped_request_is_a_400_decision(guard: mcpguard.Guard, kwargs: dict[str, Any], reason: str) -> None:
    d = guard.authorize(authorization=f"Bearer {TOKEN}", **kwargs)
    assert (d.status, d.reason, d.error) == (400, reason, "invalid_request")
    with pytest.raises(mcpguard.InvalidRequest):
        d.raise_for_status()


def test_each_filter_kind_narrows_the_visible_servers(guard: mcpguard.Guard) -> None:
    auth = f"Bearer {TOKEN}"
    assert guard.authorize(authorization=auth, filter={"tags": "web"}).visible_servers == ["web"]
    assert guard.authorize(authorization=auth, filter={"tag_filter": "not web"}).visible_servers == ["files"]
    assert guard.authorize(authorization=auth, filter={"preset": "dev"}).visible_servers == ["files", "web"]


def test_a_tool_with_an_ungranted_tag_is_403_with_missing_scopes(guard: mcpguard.Guard) -> None:
    d = guard.authorize(authorization=f"Bearer {TOKEN}", server="files", tool="write")
    assert (d.status, d.reason) == (403, "insufficient_scope")
    assert d.missing_scopes == ["tag:files-write"]
    with pytest.raises(mcpguard.InsufficientScope) as e:
        d.raise_for_status()
    assert e.value.status == 403


def test_the_limit_refuses_with_429_retry_after_and_rate_limited(guard: mcpguard.Guard) -> None:
    auth = f"Bearer {TOKEN}"
    assert all(guard.authorize(authorization=auth).allowed for _ in range(5))
    d = guard.authorize(authorization=auth)
    assert (d.status, d.reason) == (429, "rate_limited")
    assert d.header("Retry-After") == "60"
    assert d.rate_limit is not None and d.rate_limit.retry_after == 60
    with pytest.raises(mcpguard.RateLimited) as e:
        d.raise_for_status()
    assert e.value.retry_after == 60 and e.value.status == 429


def test_authorize_request_takes_the_config_md_request_shape(guard: mcpguard.Guard) -> None:
    d = guard.authorize_request({"authorization": f"Bearer {TOKEN}", "server": "web", "cost": 2})
    assert d.allowed and d.rate_limit is not None and d.rate_limit.remaining == 3
    assert guard.authorize_request({"nope": 1}).status == 400
    assert guard.authorize_request(json.dumps({"server": "web"})).status == 401


def test_validate_returns_the_principal_with_claims(guard: mcpguard.Guard) -> None:
    p = guard.validate(TOKEN)
    assert (p.subject, p.client_id, p.issuer, p.kind) == ("alice", "app-1", ISSUER, "jwt")
    assert p.scopes == ["tag:files", "tag:web"] and p.tags == ["files", "web"] and p.roles == []
    assert p.expires_at == NOW + 3600 and p.audience == [RESOURCE]
    assert p.claims["iss"] == ISSUER and p.has_scope("tag:web") and not p.has_scope("tag:WEB")
    assert p.to_dict()["subject"] == "alice"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("garbage", "malformed"),
        (rs256(claims(NOW, exp=NOW - 100, iat=NOW - 200)), "expired"),
        (rs256(claims(NOW, aud="https://elsewhere.example.com")), "wrong_audience"),
        (rs256(claims(NOW), kid="nope"), "unknown_key"),
    ],
)
def test_validate_raises_invalid_token_with_reason_and_challenge(guard: mcpguard.Guard, token: str, reason: str) -> None:
    with pytest.raises(mcpguard.InvalidToken) as e:
        guard.validate(token)
    assert (e.value.reason, e.value.status, e.value.error) == (reason, 401, "invalid_token")
    assert e.value.www_authenticate is not None and "resource_metadata=" in e.value.www_authenticate
    assert e.value.headers() == [("WWW-Authenticate", e.value.www_authenticate)]


def test_a_required_scope_the_token_lacks_raises_insufficient_scope(clock: mcpguard.ManualClock) -> None:
    doc = config()
    doc["auth"]["required_scopes"] = ["mcp:use"]
    guard = mcpguard.Guard.from_json(doc, clock=clock)
    with pytest.raises(mcpguard.InsufficientScope) as e:
        guard.validate(TOKEN)
    assert (e.value.status, e.value.reason, e.value.scope) == (403, "insufficient_scope", "mcp:use")


def test_the_manual_clock_expires_a_cached_token(guard: mcpguard.Guard, clock: mcpguard.ManualClock) -> None:
    assert guard.validate(TOKEN).subject == "alice"
    clock.advance(3600 + 31)
    with pytest.raises(mcpguard.InvalidToken) as e:
        guard.validate(TOKEN)
    assert e.value.reason == "expired"


def test_a_revoked_token_is_refused_at_once(guard: mcpguard.Guard) -> None:
    token = rs256(claims(NOW, jti="j-1"))
    guard.validate(token)
    guard.revoke(token)
    with pytest.raises(mcpguard.InvalidToken) as e:
        guard.validate(token)
    assert e.value.reason == "revoked"
    with pytest.raises(mcpguard.InvalidToken):
        guard.revoke("garbage")


def test_key_rotation_takes_effect_and_a_bad_set_changes_nothing(guard: mcpguard.Guard) -> None:
    from tokens import RSA2_PRIVATE

    new = rs256(claims(NOW), kid="rsa-2", key=RSA2_PRIVATE)
    with pytest.raises(mcpguard.InvalidToken) as e:
        guard.validate(new)
    assert e.value.reason == "unknown_key"
    with pytest.raises(mcpguard.ConfigError):
        guard.set_jwks(ISSUER, {"keys": [{"kty": "RSA"}]})
    assert guard.validate(TOKEN).subject == "alice"
    guard.set_jwks(ISSUER, jwks("rsa2"))
    assert guard.validate(new).subject == "alice"
    with pytest.raises(mcpguard.ConfigError):
        guard.set_jwks("https://unknown.example.com", json.dumps(jwks("rsa2")))


def test_audit_events_reach_the_callback_and_the_ring(guard: mcpguard.Guard) -> None:
    seen: list[dict[str, Any]] = []
    guard.on_audit(seen.append)
    guard.authorize()
    guard.authorize(authorization=f"Bearer {TOKEN}", server="web")
    guard.on_audit(None)
    guard.authorize()
    assert [e["kind"] for e in seen] == ["auth_failure", "auth_success"]
    assert seen[0]["reason"] == "missing_token" and seen[1]["client_id"] == "app-1"
    drained = guard.drain_audit()
    assert [e["kind"] for e in drained] == ["auth_failure", "auth_success", "auth_failure"]
    assert guard.drain_audit() == []
    counters = guard.counters()
    assert counters["allowed"] == 1 and counters["denied"] == {"missing_token": 2}


def test_a_raising_audit_callback_is_reported_not_fatal(guard: mcpguard.Guard, monkeypatch: pytest.MonkeyPatch) -> None:
    reports: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("sink down")

    guard.on_audit(broken)
    d = guard.authorize(authorization=f"Bearer {TOKEN}", server="web")
    assert d.allowed
    assert guard.authorize().status == 401
    assert len(reports) == 2 and isinstance(reports[0].exc_value, RuntimeError)
    assert guard.counters()["audit_sink_panics"] == 2
    assert len(guard.drain_audit()) == 2, "the ring still records every event"


def test_check_rate_limit_counts_a_raw_key_and_refuses_unknown_rules(guard: mcpguard.Guard) -> None:
    d = guard.check_rate_limit("k", cost=2)
    assert d.allowed and d.remaining == 3 and d.to_dict()["remaining"] == 3
    with pytest.raises(KeyError):
        guard.check_rate_limit("k", rule="nope")


def test_the_manual_clock_refuses_non_finite_times() -> None:
    with pytest.raises(ValueError):
        mcpguard.ManualClock(float("nan"))
    clock = mcpguard.ManualClock(10)
    clock.advance(2.5)
    assert clock.now() == 12.5
    clock.set(100)
    assert clock.now() == 100
    with pytest.raises(ValueError):
        clock.advance(float("inf"))


def test_a_query_string_carries_1mcps_filter_parameters(guard: mcpguard.Guard) -> None:
    auth = f"Bearer {TOKEN}"
    d = guard.authorize(authorization=auth, query=[("session", "1"), ("tag-filter", "web")])
    assert d.allowed and d.visible_servers == ["web"]
    repeated = guard.authorize(authorization=auth, query=[("tags", "web"), ("tags", "files")])
    assert (repeated.status, repeated.reason) == (400, "invalid_request")
    both = guard.authorize(authorization=auth, filter={"tags": "web"}, query=[("preset", "dev")])
    assert (both.status, both.reason) == (400, "invalid_request")


def test_the_body_reader_is_no_longer_public() -> None:
    """The core reads request bodies (``Guard.authorize_http``); a helper that
    answered "no tools" for a body it could not read is gone."""
    assert not hasattr(mcpguard, "tools_called")
