"""GuardMiddleware on a plain ASGI app: what it reads from the request and
what it hands on."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

import mcpguard
from conftest import NOW
from mcpguard.asgi import GuardMiddleware, principal
from tokens import ISSUER, RESOURCE, claims, jwks, rs256

TOKEN = rs256(claims(NOW, scope="tag:files tag:web"))
AUTH = {"authorization": f"Bearer {TOKEN}"}


def make_guard(limit: int = 100, required: bool = True) -> mcpguard.Guard:
    return mcpguard.Guard.from_json(
        {
            "resource": RESOURCE,
            "auth": {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}], "required": required},
            "servers": {
                "files": {"tags": ["files"], "tools": {"write": {"tags": ["files-write"]}}},
                "web": {"tags": ["web"]},
                "db": {"tags": ["db"]},
            },
            "rate_limit": {"limit": limit, "window_seconds": 60},
        },
        clock=mcpguard.ManualClock(NOW),
    )


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """Answers with what it saw: the principal's subject, visible servers, the body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    p = principal(scope)
    decision = scope.get("mcpguard.decision")
    doc = {
        "subject": p.subject if p else None,
        "visible": decision.visible_servers if decision else None,
        "body": body.decode(),
    }
    raw = json.dumps(doc).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": raw})


def client_for(app: Any, client: tuple[str, int] = ("203.0.113.7", 1234)) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=client), base_url="http://testserver")


def run(fn: Any) -> None:
    anyio.run(fn)


def test_an_allowed_request_reaches_the_app_with_its_principal_and_rate_headers() -> None:
    app = GuardMiddleware(echo_app, make_guard())

    async def main() -> None:
        async with client_for(app) as c:
            r = await c.post("/mcp", content=b"hello", headers=AUTH)
            assert r.status_code == 200
            assert r.json() == {"subject": "alice", "visible": ["files", "web"], "body": "hello"}
            assert "ratelimit" in r.headers and "ratelimit-policy" in r.headers

    run(main)


def test_a_refusal_is_answered_with_json_and_every_header() -> None:
    app = GuardMiddleware(echo_app, make_guard())

    async def main() -> None:
        async with client_for(app) as c:
            r = await c.get("/mcp")
            assert r.status_code == 401
            assert r.json() == {"error": "invalid_token", "error_description": "No bearer token was presented"}
            assert "resource_metadata=" in r.headers["www-authenticate"]
            r = await c.get("/mcp", headers={"authorization": "Basic abc"})
            assert r.status_code == 401 and r.json()["error"] == "invalid_token"

    run(main)


def test_the_filter_comes_url_decoded_from_1mcp_query_parameters() -> None:
    app = GuardMiddleware(echo_app, make_guard())

    async def main() -> None:
        async with client_for(app) as c:
            r = await c.get("/mcp?tags=web%2Cfiles", headers=AUTH)
            assert r.json()["visible"] == ["files", "web"]
            r = await c.get("/mcp?tag-filter=files+and+not+web", headers=AUTH)
            assert r.json()["visible"] == ["files"]
            r = await c.get("/mcp?tags=db", headers=AUTH)
            assert r.status_code == 403
            r = await c.get("/mcp?preset=nope", headers=AUTH)
            assert r.status_code == 400 and r.json()["error"] == "invalid_request"
            r = await c.get("/mcp?tags=web&preset=x", headers=AUTH)
            assert r.status_code == 400
            r = await c.get("/mcp?tags=web&tags=files", headers=AUTH)
            assert r.status_code == 400

    run(main)


def test_the_server_comes_from_a_name_or_a_function_of_the_request() -> None:
    guard = make_guard()
    by_name = GuardMiddleware(echo_app, guard, server="db")
    by_path = GuardMiddleware(echo_app, guard, server=lambda scope: scope["path"].strip("/").split("/")[0])

    async def main() -> None:
        async with client_for(by_name) as c:
            assert (await c.get("/mcp", headers=AUTH)).status_code == 403
        async with client_for(by_path) as c:
            assert (await c.get("/web/mcp", headers=AUTH)).status_code == 200
            assert (await c.get("/db/mcp", headers=AUTH)).status_code == 403

    run(main)


def test_the_tool_comes_from_a_tools_call_body_which_still_reaches_the_app() -> None:
    app = GuardMiddleware(echo_app, make_guard(), server="files", tool_from_body=True)
    write = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "write", "arguments": {}}}
    read = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "read", "arguments": {}}}

    async def main() -> None:
        async with client_for(app) as c:
            r = await c.post("/mcp", json=write, headers=AUTH)
            assert r.status_code == 403 and "write" in r.json()["error_description"]
            r = await c.post("/mcp", json=read, headers=AUTH)
            assert r.status_code == 200 and json.loads(r.json()["body"]) == read
            r = await c.post("/mcp", json=[read, write], headers=AUTH)
            assert r.status_code == 403, "a batch is refused when any call is"
            r = await c.post("/mcp", content=b"not json", headers=AUTH)
            assert r.status_code == 400 and r.json()["error"] == "invalid_request", "an unreadable body is never let through"

    run(main)


def test_a_body_over_the_limit_is_an_invalid_request() -> None:
    app = GuardMiddleware(echo_app, make_guard(), server="files", tool_from_body=True, max_body_bytes=10)

    async def main() -> None:
        async with client_for(app) as c:
            r = await c.post("/mcp", content=b"x" * 11, headers=AUTH)
            assert r.status_code == 400 and r.json()["error"] == "invalid_request"
            assert "larger than 10 bytes" in r.json()["error_description"]
            call = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}'
            r = await c.post("/mcp", content=call[:10], headers=AUTH)
            assert r.status_code == 400, "10 bytes are read, and are not JSON"

    run(main)


def test_anonymous_clients_are_limited_by_address_and_forwarded_for_is_not_trusted() -> None:
    app = GuardMiddleware(echo_app, make_guard(limit=2, required=False))

    async def main() -> None:
        async with client_for(app, ("198.51.100.1", 1)) as c:
            for i in range(2):
                assert (await c.get("/mcp", headers={"x-forwarded-for": f"10.0.0.{i}"})).status_code == 200
            r = await c.get("/mcp", headers={"x-forwarded-for": "10.0.0.9"})
            assert r.status_code == 429 and "retry-after" in r.headers
        async with client_for(app, ("198.51.100.2", 1)) as c:
            assert (await c.get("/mcp")).status_code == 200, "another address has its own budget"

    run(main)


def test_a_key_function_replaces_the_client_address() -> None:
    app = GuardMiddleware(
        echo_app,
        make_guard(limit=1, required=False),
        key=lambda scope: dict(scope["headers"]).get(b"x-real-ip", b"").decode() or None,
    )

    async def main() -> None:
        async with client_for(app) as c:
            assert (await c.get("/mcp", headers={"x-real-ip": "1.1.1.1"})).status_code == 200
            assert (await c.get("/mcp", headers={"x-real-ip": "2.2.2.2"})).status_code == 200
            assert (await c.get("/mcp", headers={"x-real-ip": "1.1.1.1"})).status_code == 429

    run(main)


def test_metadata_is_served_without_a_token_and_other_methods_are_405() -> None:
    guard = make_guard()
    app = GuardMiddleware(echo_app, guard)

    async def main() -> None:
        async with client_for(app) as c:
            r = await c.get(guard.metadata_path())
            assert r.status_code == 200 and r.json()["resource"] == RESOURCE
            r = await c.head(guard.metadata_path())
            assert r.status_code == 200 and r.content == b""
            r = await c.post(guard.metadata_path())
            assert r.status_code == 405
            r = await c.options(
                guard.metadata_path(),
                headers={"origin": "https://a.example", "access-control-request-method": "GET",
                         "access-control-request-headers": "mcp-protocol-version"},
            )
            assert r.status_code == 204
            assert r.headers["access-control-allow-headers"] == "*"

    run(main)


def test_a_cors_preflight_to_the_app_passes_without_credentials() -> None:
    app = GuardMiddleware(echo_app, make_guard())

    async def main() -> None:
        async with client_for(app) as c:
            r = await c.options("/mcp", headers={"origin": "https://a.example", "access-control-request-method": "POST"})
            assert r.status_code == 200
            assert (await c.options("/mcp")).status_code == 401, "a plain OPTIONS is not a preflight"

    run(main)


def test_lifespan_messages_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = GuardMiddleware(app, make_guard())

    async def main() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "lifespan.startup"}

        async def send(message: Any) -> None:
            pass

        await middleware({"type": "lifespan"}, receive, send)

    run(main)
    assert seen == ["lifespan"]


def test_a_refused_websocket_is_closed_with_policy_violation() -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    middleware = GuardMiddleware(app, make_guard())
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "websocket.connect"}

        async def send(message: Any) -> None:
            sent.append(message)

        await middleware({"type": "websocket", "path": "/ws", "headers": []}, receive, send)
        await middleware(
            {"type": "websocket", "path": "/ws", "headers": [(b"authorization", f"Bearer {TOKEN}".encode())]},
            receive,
            send,
        )

    run(main)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "invalid_token"}]
    assert reached == ["websocket"]
