"""mcpguard in front of a real MCP server built on the ``mcp`` SDK, driven over
its real HTTP app (httpx's ASGI transport): ``GuardTokenVerifier`` for the
SDK's own auth, and ``GuardMiddleware`` for tags and rate limits."""

from __future__ import annotations

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


def make_guard(limit: int = 100) -> mcpguard.Guard:
    config = {
        "resource": RESOURCE,
        "auth": {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}], "leeway_seconds": LEEWAY},
        "servers": {"files": {"tags": ["files"], "tools": {"delete": {"tags": ["files-admin"]}}}},
        "rate_limit": {"limit": limit, "window_seconds": 60},
    }
    # The guard's clock stands still at the test's start: the tokens below are
    # valid for an hour from then, whatever the test's own duration.
    return mcpguard.Guard.from_json(config, clock=mcpguard.ManualClock(NOW))


def make_app(guard: mcpguard.Guard) -> Any:
    # mcp 2.x takes the HTTP options where the app is built, 1.x where the
    # server is (as settings): the suite runs against either.
    http_options = {"json_response": True, "stateless_http": True}
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
