"""Opaque tokens the host issues (``insert_opaque``) and RFC 7662
introspection responses (``validate_introspection``), on the Guard and on
the TokenValidator alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

import mcpguard
from conftest import NOW
from tokens import ISSUER, RESOURCE, jwks

OPAQUE_CAPACITY = 100_000  # the core's DEFAULT_OPAQUE_CAPACITY


def config(opaque: bool = True, **auth: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resource": RESOURCE,
        "auth": {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}], "role_claim": "roles", **auth},
        "servers": {"files": {"tags": ["files"]}, "web": {"tags": ["web"]}, "db": {"tags": ["db"]}},
        "roles": {"analyst": {"scopes": "tag:db"}},
        "rate_limit": {"enabled": False},
    }
    if opaque:
        doc["auth"]["opaque_tokens"] = True
    return doc


@pytest.fixture
def guard(clock: mcpguard.ManualClock) -> mcpguard.Guard:
    return mcpguard.Guard.from_json(config(), clock=clock)


ENTRY: dict[str, Any] = {
    "client_id": "app",
    "subject": "alice",
    "scopes": ["tag:web"],
    "roles": ["analyst"],
    "resource": RESOURCE,
    "expires_at": NOW + 600,
}

RESPONSE: dict[str, Any] = {
    "active": True,
    "iss": ISSUER,
    "client_id": "svc",
    "sub": "bob",
    "aud": RESOURCE,
    "scope": "tag:files mcp:read",
    "exp": NOW + 3600,
    "iat": NOW,
}


# ----- insert_opaque -----


def test_an_inserted_token_validates_to_an_opaque_principal_with_tags(guard: mcpguard.Guard) -> None:
    guard.insert_opaque("opq-alice-7Hd93kQ", **ENTRY)
    p = guard.validate("opq-alice-7Hd93kQ")
    assert (p.kind, p.subject, p.client_id, p.issuer) == ("opaque", "alice", "app", "")
    assert p.scopes == ["tag:web"] and p.roles == ["analyst"] and p.tags == ["web", "db"]
    assert p.audience == [RESOURCE] and p.expires_at == NOW + 600
    assert p.claims == {"active": True, "client_id": "app", "sub": "alice", "scope": "tag:web",
                        "roles": ["analyst"], "aud": RESOURCE, "exp": NOW + 600}


def test_an_inserted_token_then_passes_authorize(guard: mcpguard.Guard) -> None:
    before = guard.authorize(authorization="Bearer opq-alice-7Hd93kQ", server="web")
    assert (before.status, before.reason) == (401, "inactive")
    guard.insert_opaque("opq-alice-7Hd93kQ", **ENTRY)
    d = guard.authorize(authorization="Bearer opq-alice-7Hd93kQ", server="web")
    assert d.allowed and d.visible_servers == ["web", "db"]
    assert d.principal is not None and d.principal.kind == "opaque"
    assert guard.authorize(authorization="Bearer opq-alice-7Hd93kQ", server="files").status == 403
    guard.revoke("opq-alice-7Hd93kQ")
    assert guard.authorize(authorization="Bearer opq-alice-7Hd93kQ", server="web").reason == "inactive"


def test_the_entry_as_a_dict_or_json_text_is_the_same_as_keywords(guard: mcpguard.Guard) -> None:
    guard.insert_opaque("by-keywords", **ENTRY)
    guard.insert_opaque("by-dict", ENTRY)
    guard.insert_opaque("by-text", json.dumps(ENTRY))
    dicts = [guard.validate(t).to_dict() for t in ("by-keywords", "by-dict", "by-text")]
    assert dicts[0] == dicts[1] == dicts[2]


def test_an_empty_entry_is_a_token_without_claims_until_revoked(guard: mcpguard.Guard, clock: mcpguard.ManualClock) -> None:
    guard.insert_opaque("bare")
    clock.advance(10 * 365 * 86400)
    p = guard.validate("bare")
    assert (p.subject, p.client_id, p.scopes, p.tags, p.expires_at, p.audience) == (None, None, [], [], None, [])


def test_inserting_a_stored_token_again_replaces_its_entry(guard: mcpguard.Guard) -> None:
    guard.insert_opaque("tok", scopes=["tag:web"])
    assert guard.validate("tok").tags == ["web"]
    guard.insert_opaque("tok", scopes=["tag:files"])
    assert guard.validate("tok").tags == ["files"], "the cached principal is dropped"


@pytest.mark.parametrize("token", ["abc.def", "abc def", "", "==", "é", "a" * 4097])
def test_a_token_that_cannot_be_opaque_is_rejected_with_invalid_token(guard: mcpguard.Guard, token: str) -> None:
    with pytest.raises(mcpguard.OpaqueTokenRejected) as e:
        guard.insert_opaque(token, client_id="app")
    assert e.value.code == "invalid_token"
    assert isinstance(e.value, ValueError) and isinstance(e.value, mcpguard.OpaqueStoreError)
    assert isinstance(e.value, mcpguard.GuardError)
    assert (e.value.status, e.value.reason, e.value.error, e.value.capacity) == (None, None, None, None)
    assert "RFC 6750" in str(e.value) and e.value.description == str(e.value)


def test_the_longest_opaque_token_is_accepted(guard: mcpguard.Guard) -> None:
    guard.insert_opaque("a" * 4096)
    assert guard.validate("a" * 4096).kind == "opaque"


@pytest.mark.parametrize("expires_at", [NOW, NOW - 1])
def test_an_entry_that_has_already_expired_is_rejected(guard: mcpguard.Guard, expires_at: int) -> None:
    with pytest.raises(mcpguard.OpaqueTokenRejected) as e:
        guard.insert_opaque("stale", expires_at=expires_at)
    assert e.value.code == "expired" and isinstance(e.value, ValueError)
    assert guard.authorize(authorization="Bearer stale").reason == "inactive", "nothing was stored"


def test_without_auth_opaque_tokens_the_store_is_disabled(clock: mcpguard.ManualClock) -> None:
    guard = mcpguard.Guard.from_json(config(opaque=False), clock=clock)
    with pytest.raises(mcpguard.OpaqueStoreError) as e:
        guard.insert_opaque("opq-nowhere", client_id="app")
    assert e.value.code == "disabled" and "opaque_tokens" in str(e.value)
    assert not isinstance(e.value, ValueError), "the host's configuration is at fault, not the value"


def test_a_full_store_refuses_with_its_capacity_and_keeps_every_token(guard: mcpguard.Guard) -> None:
    for i in range(OPAQUE_CAPACITY):
        guard.insert_opaque(f"t{i}")
    with pytest.raises(mcpguard.OpaqueStoreError) as e:
        guard.insert_opaque("one-too-many")
    assert (e.value.code, e.value.capacity) == ("full", OPAQUE_CAPACITY)
    assert not isinstance(e.value, ValueError)
    assert str(OPAQUE_CAPACITY) in str(e.value)
    assert guard.validate("t0").kind == "opaque"
    guard.insert_opaque("t0", scopes=["tag:web"])  # replacing needs no room
    assert guard.validate("t0").tags == ["web"]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((5,), {}),
        (("tok",), {"scopes": "tag:web"}),
        (("tok",), {"scopes": [1]}),
        (("tok",), {"roles": "analyst"}),
        (("tok",), {"expires_at": "soon"}),
        (("tok",), {"expires_at": 1.5}),
        (("tok",), {"client_id": 7}),
        (("tok", 42), {}),
        (("tok", ["client_id"]), {}),
        (("tok", {"client_id": "app"}), {"subject": "alice"}),
        (("tok",), {"scope": "tag:web"}),
    ],
)
def test_arguments_of_the_wrong_type_are_a_type_error(guard: mcpguard.Guard, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        guard.insert_opaque(*args, **kwargs)


@pytest.mark.parametrize(
    ("entry", "path"),
    [
        ({"scope": "tag:web"}, "scope"),
        ({"scopes": ["tag:web", 1]}, "scopes[1]"),
        ({"scopes": "tag:web"}, "scopes"),
        ({"expires_at": 1.5}, "expires_at"),
        ({"expires_at": "1767225600"}, "expires_at"),
        ('{"client_id": "a", "client_id": "b"}', "client_id"),
        ("[]", ""),
        ("{not json", ""),
    ],
)
def test_a_bad_entry_mapping_is_a_config_error_naming_the_member(guard: mcpguard.Guard, entry: Any, path: str) -> None:
    with pytest.raises(mcpguard.ConfigError) as e:
        guard.insert_opaque("tok", entry)
    assert isinstance(e.value, ValueError)
    assert e.value.path == path or path in str(e.value), (e.value.path, str(e.value))
    assert str(e.value).startswith("invalid opaque-token entry")
    assert guard.authorize(authorization="Bearer tok").reason == "inactive", "nothing was stored"


# ----- validate_introspection -----


def test_an_introspection_response_as_dict_or_text_gives_the_same_principal(guard: mcpguard.Guard) -> None:
    a = guard.validate_introspection(RESPONSE)
    b = guard.validate_introspection(json.dumps(RESPONSE))
    assert a.to_dict() == b.to_dict()
    assert (a.kind, a.subject, a.client_id, a.issuer) == ("introspected", "bob", "svc", ISSUER)
    assert a.scopes == ["tag:files", "mcp:read"] and a.tags == ["files"]
    assert a.expires_at == NOW + 3600 and a.audience == [RESOURCE]


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ({"active": False}, "inactive"),
        ({**RESPONSE, "exp": NOW - 3600}, "expired"),
        ({**RESPONSE, "aud": "https://other.example.com/mcp"}, "wrong_audience"),
        ({**RESPONSE, "iss": "https://evil.example.com"}, "wrong_issuer"),
        ('{"active": true, "sub": "bob", "sub": "eve"}', "malformed"),
        ("not json", "malformed"),
        ("[1, 2]", "malformed"),
    ],
)
def test_a_refused_response_raises_invalid_token_as_validate_does(guard: mcpguard.Guard, response: Any, reason: str) -> None:
    with pytest.raises(mcpguard.InvalidToken) as e:
        guard.validate_introspection(response)
    assert (e.value.reason, e.value.status, e.value.error) == (reason, 401, "invalid_token")
    assert e.value.www_authenticate is not None and "resource_metadata=" in e.value.www_authenticate


def test_a_response_without_a_required_scope_raises_insufficient_scope(clock: mcpguard.ManualClock) -> None:
    guard = mcpguard.Guard.from_json(config(required_scopes=["mcp:write"]), clock=clock)
    with pytest.raises(mcpguard.InsufficientScope) as e:
        guard.validate_introspection(RESPONSE)
    assert (e.value.status, e.value.reason, e.value.scope) == (403, "insufficient_scope", "mcp:write")


@pytest.mark.parametrize("response", [42, None, ["active"], b'{"active": true}'])
def test_a_response_that_is_neither_mapping_nor_text_is_a_type_error(guard: mcpguard.Guard, response: Any) -> None:
    with pytest.raises(TypeError, match="response must be a mapping"):
        guard.validate_introspection(response)


def test_introspection_needs_no_opaque_store(clock: mcpguard.ManualClock) -> None:
    guard = mcpguard.Guard.from_json(config(opaque=False), clock=clock)
    assert guard.validate_introspection(RESPONSE).subject == "bob"


# ----- the TokenValidator alone -----


def test_the_token_validator_stores_opaque_tokens_and_reads_responses_without_tags(clock: mcpguard.ManualClock) -> None:
    auth = {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}], "opaque_tokens": True}
    v = mcpguard.TokenValidator(auth, RESOURCE, clock=clock)
    v.insert_opaque("opq-1", {"client_id": "app", "scopes": ["tag:web"]})
    p = v.validate("opq-1")
    assert (p.kind, p.client_id, p.scopes, p.tags) == ("opaque", "app", ["tag:web"], [])
    v.revoke("opq-1")
    with pytest.raises(mcpguard.InvalidToken) as e:
        v.validate("opq-1")
    assert e.value.reason == "inactive"
    q = v.validate_introspection(json.dumps(RESPONSE))
    assert (q.kind, q.subject, q.tags) == ("introspected", "bob", [])
    with pytest.raises(mcpguard.InvalidToken) as e:
        v.validate_introspection({"active": False})
    assert e.value.reason == "inactive" and "resource_metadata" not in (e.value.www_authenticate or "")
    with pytest.raises(mcpguard.OpaqueTokenRejected) as r:
        v.insert_opaque("a.b")
    assert r.value.code == "invalid_token"
    with pytest.raises(TypeError):
        v.insert_opaque("tok", scopes="tag:web")


def test_the_token_validator_without_opaque_tokens_is_disabled(clock: mcpguard.ManualClock) -> None:
    v = mcpguard.TokenValidator({"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}]}, RESOURCE, clock=clock)
    with pytest.raises(mcpguard.OpaqueStoreError) as e:
        v.insert_opaque("tok")
    assert e.value.code == "disabled"


def test_an_introspected_token_stored_for_a_while_is_authorized_then_forgotten(
    guard: mcpguard.Guard, clock: mcpguard.ManualClock
) -> None:
    # The README's recipe for an external authorization server's opaque
    # tokens: introspect once, store the answer for at most 300 s, and let
    # authorize decide every request in between.
    token = "as-issued-opaque-Qm9i"
    p = guard.validate_introspection(RESPONSE)
    trust_until = min(p.expires_at or NOW + 300, NOW + 300)
    guard.insert_opaque(token, client_id=p.client_id, subject=p.subject, scopes=p.scopes,
                        roles=p.roles, expires_at=trust_until)
    d = guard.authorize(authorization=f"Bearer {token}", server="files")
    assert d.allowed, d.reason
    assert d.principal is not None and d.principal.tags == ["files"]
    clock.advance(300 + 30)  # past the trust window and the 30 s leeway
    assert guard.authorize(authorization=f"Bearer {token}", server="files").reason == "expired"
