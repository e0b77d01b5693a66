"""mcpguard in front of a real MCP server built on the ``mcp`` SDK, driven over
its real HTTP app (httpx's ASGI transport): ``GuardTokenVerifier`` for the
SDK's own auth, and ``GuardMiddleware`` for tags and rate limits."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest

import mcpguard
from mcpguard.asgi import GuardMiddleware
from mcpguard.mcp import GuardTokenVerifier, auth_settings
from tokens import ISSUER, RESOURCE, claims, jwks, rs256

try:
    from mcp.server import MCPServer as Server

    MCP_2 = True
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef]

    MCP_2 = False

NOW = int(time.time())
BASE = "http://127.0.0.1:8000"
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


LEEWAY = 30


#: How many write_file calls the per-tool rule admits per minute.
WRITE_LIMIT = 2


def make_guard(limit: int = 100) -> mcpguard.Guard:
    config = {
        "resource": RESOURCE,
        "auth": {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}], "leeway_seconds": LEEWAY},
        "servers": {
            "files": {
                "tags": ["files"],
                "tools": {"delete": {"tags": ["files-admin"]}, "write_file": {"tags": ["files-write"]}},
            }
        },
        "rate_limit": {
            "limit": limit,
            "window_seconds": 60,
            "headers": "draft-7",
            "rules": [
                {"name": "fs-write", "server": "files", "tool": "write_file", "limit": WRITE_LIMIT, "window_seconds": 60}
            ],
        },
    }
    # The guard's clock stands still at the test's start: the tokens below are
    # valid for an hour from then, whatever the test's own duration.
    return mcpguard.Guard.from_json(config, clock=mcpguard.ManualClock(NOW))


#: Paths write_file was really called with (by the SDK, behind the guard).
WRITTEN: list[str] = []


def make_app(guard: mcpguard.Guard, json_response: bool = True) -> Any:
    # mcp 2.x takes the HTTP options where the app is built, 1.x where the
    # server is (as settings): the suite runs against either.
    http_options = {"json_response": json_response, "stateless_http": True}
    on_server = {} if MCP_2 else http_options
    server = Server(
        "files",
        token_verifier=GuardTokenVerifier(guard),
        auth=auth_settings(guard, required_scopes=["files:read"]),
        **on_server,
    )

    @server.tool()
    def echo(text: str) -> str:
        """Returns its argument."""
        return text

    @server.tool()
    def delete(path: str) -> str:
        """Pretends to delete a file."""
        return f"deleted {path}"

    @server.tool()
    def write_file(path: str) -> str:
        """Pretends to write a file (and records that it ran)."""
        WRITTEN.append(path)
        return f"wrote {path}"

    return server.streamable_http_app(**(http_options if MCP_2 else {}))


def run(app: Any, body: Callable[[httpx.AsyncClient], Awaitable[None]], lifespan_app: Any = None) -> None:
    """Runs the app's lifespan (the SDK's session manager) around ``body``."""

    async def main() -> None:
        inner = lifespan_app or app
        async with inner.router.lifespan_context(inner):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                await body(client)

    anyio.run(main)


def call(tool: str, args: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool, "arguments": args}}


def initialize() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }


def bearer(token: str) -> dict[str, str]:
    return {**MCP_HEADERS, "authorization": f"Bearer {token}"}


GOOD = rs256(claims(NOW, scope="files:read tag:files"))


def test_the_sdk_answers_200_for_a_valid_token() -> None:
    app = make_app(make_guard())

    async def body(client: httpx.AsyncClient) -> None:
        r = await client.post("/mcp", json=initialize(), headers=bearer(GOOD))
        assert r.status_code == 200, r.text
        r = await client.post("/mcp", json=call("echo", {"text": "hi"}), headers=bearer(GOOD))
        assert r.status_code == 200, r.text
        assert "hi" in r.text

    run(app, body)


@pytest.mark.parametrize(
    "token",
    [
        None,
        rs256(claims(NOW, exp=NOW - 3600, iat=NOW - 7200, scope="files:read tag:files")),
        rs256(claims(NOW, aud="https://other.example.com/mcp", scope="files:read tag:files")),
        rs256(claims(NOW, iss="https://evil.example.com", scope="files:read tag:files")),
        GOOD[:-4] + "AAAA",
    ],
    ids=["missing", "expired", "wrong-audience", "wrong-issuer", "bad-signature"],
)
def test_the_sdk_answers_401_with_a_challenge_for_a_refused_token(token: str | None) -> None:
    app = make_app(make_guard())

    async def body(client: httpx.AsyncClient) -> None:
        headers = bearer(token) if token else MCP_HEADERS
        r = await client.post("/mcp", json=initialize(), headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer ")
        assert "resource_metadata=" in r.headers["www-authenticate"]

    run(app, body)


def test_the_sdk_answers_403_for_a_scope_its_required_scopes_ask_for() -> None:
    app = make_app(make_guard())
    token = rs256(claims(NOW, scope="tag:files"))

    async def body(client: httpx.AsyncClient) -> None:
        r = await client.post("/mcp", json=initialize(), headers=bearer(token))
        assert r.status_code == 403
        assert 'error="insufficient_scope"' in r.headers["www-authenticate"]

    run(app, body)


def test_the_verifier_fills_the_sdk_access_token_and_never_raises() -> None:
    guard = make_guard()
    verifier = GuardTokenVerifier(guard)

    async def main() -> None:
        token = await verifier.verify_token(GOOD)
        assert token is not None
        assert token.client_id == "app-1"
        assert token.scopes == ["files:read", "tag:files"]
        assert token.expires_at == NOW + 3600 + LEEWAY, "the guard's leeway is the SDK's too"
        assert getattr(token, "subject", "alice") == "alice"
        assert getattr(token, "resource", RESOURCE) == RESOURCE
        token_claims = getattr(token, "claims", None) or {"iss": ISSUER}
        assert token_claims["iss"] == ISSUER
        for bad in ["", "garbage", "a.b.c", "x" * 100_000, GOOD + "x"]:
            assert await verifier.verify_token(bad) is None

    anyio.run(main)


def test_the_sdk_sees_the_tag_scopes_a_role_grants() -> None:
    config = {
        "resource": RESOURCE,
        "auth": {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}], "role_claim": "roles"},
        "servers": {"files": {"tags": ["files"]}},
        "roles": {"developer": {"scopes": "tag:files tag:web"}},
    }
    guard = mcpguard.Guard.from_json(config, clock=mcpguard.ManualClock(NOW))
    token = rs256(claims(NOW, scope="tag:web custom:x", roles=["developer"]))

    async def main() -> None:
        access = await GuardTokenVerifier(guard).verify_token(token)
        assert access is not None
        # The same grant Node's AuthInfo carries: the token's scopes, then
        # the tag: scopes its roles add.
        assert access.scopes == ["tag:web", "custom:x", "tag:files"]

    anyio.run(main)


def test_behind_the_middleware_the_limit_gives_429_with_retry_after() -> None:
    guard = make_guard(limit=3)
    inner = make_app(guard)
    app = GuardMiddleware(inner, guard, server="files", tool_from_body=True)

    async def body(client: httpx.AsyncClient) -> None:
        for i in range(3):
            r = await client.post("/mcp", json=call("echo", {"text": f"n{i}"}, i), headers=bearer(GOOD))
            assert r.status_code == 200, r.text
            assert f"n{i}" in r.text, "the buffered body reached the app"
            assert "ratelimit" in r.headers
        r = await client.post("/mcp", json=call("echo", {"text": "over"}), headers=bearer(GOOD))
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["error"] == "rate_limited"

    run(app, body, lifespan_app=inner)


def test_behind_the_middleware_a_tool_without_its_tag_is_403() -> None:
    guard = make_guard()
    inner = make_app(guard)
    app = GuardMiddleware(inner, guard, server="files", tool_from_body=True)

    async def body(client: httpx.AsyncClient) -> None:
        r = await client.post("/mcp", json=call("delete", {"path": "/x"}), headers=bearer(GOOD))
        assert r.status_code == 403
        assert r.json()["error"] == "insufficient_scope"
        assert "delete" in r.headers["www-authenticate"]
        r = await client.post("/mcp", json=call("echo", {"text": "ok"}), headers=bearer(GOOD))
        assert r.status_code == 200

    run(app, body, lifespan_app=inner)


def test_the_middleware_serves_the_metadata_document_with_cors() -> None:
    guard = make_guard()
    inner = make_app(guard)
    app = GuardMiddleware(inner, guard, server="files")

    async def body(client: httpx.AsyncClient) -> None:
        path = guard.metadata_path()
        r = await client.get(path)
        assert r.status_code == 200
        assert r.json() == guard.metadata_document()
        assert r.headers["access-control-allow-origin"] == "*"
        r = await client.options(
            path, headers={"origin": "https://app.example", "access-control-request-method": "GET"}
        )
        assert r.status_code == 204
        assert "GET" in r.headers["access-control-allow-methods"]

    run(app, body, lifespan_app=inner)


# ----- issue 13: the HTTP edge, with the real SDK behind GuardMiddleware -----

READER = rs256(claims(NOW, scope="files:read tag:files"))
WRITER = rs256(claims(NOW, scope="files:read tag:files tag:files-write"))


def guarded(guard: mcpguard.Guard, json_response: bool = True) -> tuple[Any, Any]:
    """The SDK's app behind GuardMiddleware (reading bodies: the default for a server)."""
    inner = make_app(guard, json_response)
    return GuardMiddleware(inner, guard, server="files"), inner


def remaining(r: httpx.Response) -> int:
    """``remaining`` of the draft-7 ``RateLimit`` header the guard added."""
    match = re.search(r"remaining=(\d+)", r.headers["ratelimit"])
    assert match, r.headers["ratelimit"]
    return int(match.group(1))


def raw_call(tool: str, meta: str) -> bytes:
    """A tools/call whose ``_meta`` holds JSON the guard must not skip over."""
    return (
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"%s","arguments":{"path":"/x"},'
        '"_meta":{"x":%s}}}' % (tool, meta)
    ).encode()


UNREADABLE_META = ["NaN", "1e999", "-Infinity", "[" * 150 + "]" * 150]


@pytest.mark.parametrize("meta", UNREADABLE_META, ids=["nan", "1e999", "-infinity", "150-deep"])
def test_a_tool_call_the_guard_cannot_read_is_refused_not_run(meta: str) -> None:
    """Defect 1: a body the SDK accepts but the guard cannot read used to
    skip the tool check (200, and write_file ran for a tag:files token)."""
    guard = make_guard()
    app, inner = guarded(guard)
    WRITTEN.clear()

    async def body(client: httpx.AsyncClient) -> None:
        r = await client.post("/mcp", content=raw_call("write_file", meta), headers=bearer(READER))
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_request"
        assert WRITTEN == [], "the SDK never saw the call"

    run(app, body, lifespan_app=inner)


def test_a_per_tool_rate_limit_cannot_be_dodged_with_an_unreadable_body() -> None:
    """Defect 1: the fs-write rule is charged for every write_file call; a
    body the guard cannot read is refused instead of slipping past it."""
    guard = make_guard()
    app, inner = guarded(guard)
    WRITTEN.clear()

    async def body(client: httpx.AsyncClient) -> None:
        for i in range(WRITE_LIMIT):
            r = await client.post("/mcp", json=call("write_file", {"path": f"/{i}"}), headers=bearer(WRITER))
            assert r.status_code == 200, r.text
        for meta in UNREADABLE_META:
            r = await client.post("/mcp", content=raw_call("write_file", meta), headers=bearer(WRITER))
            assert r.status_code == 400, r.text
        r = await client.post("/mcp", json=call("write_file", {"path": "/over"}), headers=bearer(WRITER))
        assert r.status_code == 429
        assert WRITTEN == [f"/{i}" for i in range(WRITE_LIMIT)]

    run(app, body, lifespan_app=inner)


def listed_tools(r: httpx.Response) -> list[str]:
    """The tool names of a tools/list response, JSON or one SSE ``data:`` event."""
    if r.headers["content-type"].startswith("text/event-stream"):
        events = [line[5:].strip() for line in r.text.splitlines() if line.startswith("data:")]
        docs = [json.loads(e) for e in events if e]
        result = next(d["result"] for d in docs if "result" in d)
    else:
        result = r.json()["result"]
    return sorted(t["name"] for t in result["tools"])


@pytest.mark.parametrize("json_response", [True, False], ids=["json", "sse"])
def test_tools_list_shows_only_the_tools_the_client_may_call(json_response: bool) -> None:
    """Defect 5: the listing from the real SDK (JSON, or an SSE stream) is
    filtered by the principal's tags."""
    guard = make_guard()
    app, inner = guarded(guard, json_response)
    listing = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {}}

    async def body(client: httpx.AsyncClient) -> None:
        r = await client.post("/mcp", json=listing, headers=bearer(READER))
        assert r.status_code == 200, r.text
        expected_type = "application/json" if json_response else "text/event-stream"
        assert r.headers["content-type"].startswith(expected_type)
        assert int(r.headers["content-length"]) == len(r.content)
        assert listed_tools(r) == ["echo"], "write_file needs tag:files-write, delete tag:files-admin"
        r = await client.post("/mcp", json=listing, headers=bearer(WRITER))
        assert listed_tools(r) == ["echo", "write_file"]

    run(app, body, lifespan_app=inner)


def test_a_token_within_the_leeway_is_accepted_by_the_sdk_and_charged_once() -> None:
    """Defect 6: expired 10 s ago, inside the guard's 30 s leeway: the SDK
    (through GuardTokenVerifier) accepts it too, and the request is charged
    once by the middleware, not refused after being charged."""
    guard = make_guard()
    late = rs256(claims(NOW, iat=NOW - 3600, exp=int(time.time()) - 10, scope="files:read tag:files"))

    async def alone(client: httpx.AsyncClient) -> None:
        r = await client.post("/mcp", json=call("echo", {"text": "late"}), headers=bearer(late))
        assert r.status_code == 200, r.text

    run(make_app(guard), alone)
    app, inner = guarded(guard)

    async def behind(client: httpx.AsyncClient) -> None:
        first = await client.post("/mcp", json=call("echo", {"text": "a"}), headers=bearer(late))
        assert first.status_code == 200, first.text
        second = await client.post("/mcp", json=call("echo", {"text": "b"}), headers=bearer(late))
        assert second.status_code == 200, second.text
        assert remaining(first) - remaining(second) == 1

    run(app, behind, lifespan_app=inner)


def test_a_refused_token_is_explained_in_the_log_and_by_the_middleware(caplog: pytest.LogCaptureFixture) -> None:
    """The verifier logs the refusal's real description (the SDK answers its
    fixed "Authentication required"); GuardMiddleware answers with it."""
    guard = make_guard()
    expired = rs256(claims(NOW, iat=NOW - 7200, exp=NOW - 3600, scope="files:read tag:files"))

    async def alone(client: httpx.AsyncClient) -> None:
        with caplog.at_level(logging.INFO, logger="mcpguard"):
            r = await client.post("/mcp", json=initialize(), headers=bearer(expired))
        assert r.status_code == 401
        assert any("expired" in rec.getMessage() for rec in caplog.records), caplog.text

    run(make_app(guard), alone)
    app, inner = guarded(guard)

    async def behind(client: httpx.AsyncClient) -> None:
        r = await client.post("/mcp", json=initialize(), headers=bearer(expired))
        assert r.status_code == 401
        assert "expired" in r.json()["error_description"]
        assert "expired" in r.headers["www-authenticate"]

    run(app, behind, lifespan_app=inner)
