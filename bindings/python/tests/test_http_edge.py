"""The HTTP edge (issue 13) through what a host uses: ``GuardMiddleware`` on a
plain ASGI app, and ``Guard.authorize_http`` with its ``HttpOptions`` and
``HttpDecision``. The SDK-facing defects are in test_mcp_sdk.py."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
import httpx
import pytest

import mcpguard
from conftest import NOW
from mcpguard.asgi import GuardMiddleware, principal
from tokens import ISSUER, RESOURCE, claims, jwks, rs256

WRITE_LIMIT = 3


def make_guard(**auth: Any) -> mcpguard.Guard:
    return mcpguard.Guard.from_json(
        {
            "resource": RESOURCE,
            "auth": {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}], **auth},
            "servers": {"files": {"tags": ["files"], "tools": {"write": {"tags": ["files-write"]}}}},
            "rate_limit": {
                "limit": 100,
                "window_seconds": 60,
                "headers": "draft-7",
                "rules": [{"name": "w", "server": "files", "tool": "write", "limit": WRITE_LIMIT, "window_seconds": 60}],
            },
        },
        clock=mcpguard.ManualClock(NOW),
    )


READER = f"Bearer {rs256(claims(NOW, scope='tag:files'))}"
WRITER = f"Bearer {rs256(claims(NOW, scope='tag:files tag:files-write'))}"


def rpc(method: str, request_id: int, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def tool_call(name: str, request_id: int = 1) -> dict[str, Any]:
    return rpc("tools/call", request_id, name=name, arguments={})


class App:
    """An ASGI app that counts the requests it sees and answers ``response``."""

    def __init__(self, content_type: str = "application/json", body: bytes = b"{}") -> None:
        self.seen = 0
        self.content_type = content_type
        self.body = body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        self.seen += 1
        headers = [(b"content-type", self.content_type.encode()), (b"content-length", str(len(self.body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def run(app: Any, body: Any) -> None:
    async def main() -> None:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            await body(client)

    anyio.run(main)


def remaining(r: httpx.Response) -> int:
    match = re.search(r"remaining=(\d+)", r.headers.get("ratelimit", ""))
    assert match, dict(r.headers)
    return int(match.group(1))


# ----- defect 4: a batch is one decision, charged once -----


def test_a_batch_is_one_decision_charged_once_for_all_its_calls() -> None:
    guard = make_guard()
    inner = App()
    app = GuardMiddleware(inner, guard, server="files")
    batch = [tool_call("read", 1), tool_call("stat", 2), tool_call("list", 3)]

    async def body(client: httpx.AsyncClient) -> None:
        before = remaining(await client.get("/mcp", headers={"authorization": WRITER}))
        r = await client.post("/mcp", json=batch, headers={"authorization": WRITER})
        assert r.status_code == 200
        assert remaining(r) == before - 3, "three calls, one charge of three"
        after = remaining(await client.get("/mcp", headers={"authorization": WRITER}))
        assert after == before - 3 - 1

    run(app, body)
    assert inner.seen == 3


def test_a_batch_refused_at_one_call_charges_nothing_and_reaches_no_app() -> None:
    guard = make_guard()
    inner = App()
    app = GuardMiddleware(inner, guard, server="files")

    async def body(client: httpx.AsyncClient) -> None:
        before = remaining(await client.get("/mcp", headers={"authorization": READER}))
        batch = [tool_call("read", 1), tool_call("read", 2), tool_call("write", 3)]
        r = await client.post("/mcp", json=batch, headers={"authorization": READER})
        assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
        after = remaining(await client.get("/mcp", headers={"authorization": READER}))
        assert after == before - 1, "only the second GET was charged"

    run(app, body)
    assert inner.seen == 2


def test_a_batch_over_a_per_tool_rule_is_refused_whole() -> None:
    guard = make_guard()
    app = GuardMiddleware(App(), guard, server="files")
    too_many = [tool_call("write", i) for i in range(WRITE_LIMIT + 1)]

    async def body(client: httpx.AsyncClient) -> None:
        r = await client.post("/mcp", json=too_many, headers={"authorization": WRITER})
        assert r.status_code == 429
        r = await client.post("/mcp", json=too_many[:WRITE_LIMIT], headers={"authorization": WRITER})
        assert r.status_code == 200, "the refused batch charged nothing under the rule"

    run(app, body)


def test_without_a_server_a_tool_call_is_the_cores_400_and_the_app_never_sees_it() -> None:
    # Bodies may be read without a fixed server (a server function may
    # choose one per request): a call that reaches no server is refused.
    inner = App()
    app = GuardMiddleware(inner, make_guard(), read_body=True)

    async def body(client: httpx.AsyncClient) -> None:
        r = await client.post("/mcp", json=rpc("tools/call", 1, name="read"), headers={"authorization": READER})
        assert r.status_code == 400
        assert "without its server" in r.json()["error_description"]
        batch = [rpc("tools/call", 1, name="read"), rpc("tools/call", 2, name="write_file")]
        r = await client.post("/mcp", json=batch, headers={"authorization": WRITER})
        assert r.status_code == 400

    run(app, body)
    assert inner.seen == 0
    mcpguard.HttpOptions({"read_body": True})


# ----- defect 8: one header rule, one metadata route -----


def test_two_authorization_headers_are_a_400_and_reach_no_app() -> None:
    inner = App()
    app = GuardMiddleware(inner, make_guard(), server="files")

    async def body(client: httpx.AsyncClient) -> None:
        r = await client.get("/mcp", headers=[("authorization", READER), ("authorization", READER)])
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_request"
        assert "more than one Authorization header" in r.json()["error_description"]

    run(app, body)
    assert inner.seen == 0


def test_the_metadata_route_ignores_the_query() -> None:
    guard = make_guard()
    app = GuardMiddleware(App(), guard, server="files")

    async def body(client: httpx.AsyncClient) -> None:
        r = await client.get(guard.metadata_path() + "?x=1&tags=nope")
        assert r.status_code == 200 and r.json() == guard.metadata_document()

    run(app, body)


# ----- listings, through a plain app -----


def listing(tools: list[str], request_id: int = 7) -> bytes:
    doc = {"jsonrpc": "2.0", "id": request_id, "result": {"tools": [{"name": t} for t in tools]}}
    return json.dumps(doc).encode()


def test_a_listing_response_is_filtered_and_its_length_fixed() -> None:
    inner = App(body=listing(["read", "write"]))
    app = GuardMiddleware(inner, make_guard(), server="files")

    async def body(client: httpx.AsyncClient) -> None:
        r = await client.post("/mcp", json=rpc("tools/list", 7), headers={"authorization": READER})
        assert r.status_code == 200
        assert [t["name"] for t in r.json()["result"]["tools"]] == ["read"]
        assert int(r.headers["content-length"]) == len(r.content)
        assert "ratelimit" in r.headers
        r = await client.post("/mcp", json=rpc("tools/list", 7), headers={"authorization": WRITER})
        assert [t["name"] for t in r.json()["result"]["tools"]] == ["read", "write"]

    run(app, body)


def test_listing_items_map_aggregated_names_to_their_servers() -> None:
    """A 1MCP-style aggregator lists every server's tools under
    ``<server>_1mcp_<tool>``; each is shown as a call of it would be decided."""
    guard = mcpguard.Guard.from_json(
        {
            "resource": RESOURCE,
            "auth": {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}]},
            "servers": {"files": {"tags": ["files"]}, "web": {"tags": ["web"]}},
        },
        clock=mcpguard.ManualClock(NOW),
    )
    inner = App(body=listing(["files_1mcp_read", "web_1mcp_search", "db_1mcp_query"]))
    app = GuardMiddleware(inner, guard, server="files", listing_items={"prefix": {"separator": "_1mcp_"}})

    async def body(client: httpx.AsyncClient) -> None:
        r = await client.post("/mcp", json=rpc("tools/list", 7), headers={"authorization": READER})
        assert [t["name"] for t in r.json()["result"]["tools"]] == ["files_1mcp_read"]

    run(app, body)


def test_an_unreadable_listing_response_is_a_502_never_passed_through() -> None:
    inner = App(body=b'{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"write"}')
    app = GuardMiddleware(inner, make_guard(), server="files")

    async def body(client: httpx.AsyncClient) -> None:
        r = await client.post("/mcp", json=rpc("tools/list", 7), headers={"authorization": READER})
        assert r.status_code == 502
        assert r.json()["error"] == "server_error"
        assert b"write" not in r.content

    run(app, body)


def test_the_principal_reaches_the_app_in_the_scope() -> None:
    seen: list[Any] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(principal(scope))
        await App()(scope, receive, send)

    app = GuardMiddleware(inner, make_guard(), server="files")

    async def body(client: httpx.AsyncClient) -> None:
        assert (await client.post("/mcp", json=tool_call("read"), headers={"authorization": READER})).status_code == 200

    run(app, body)
    assert seen[0] is not None and seen[0].subject == "alice"


# ----- the native API a host without ASGI uses -----


def test_authorize_http_takes_raw_asgi_values_and_returns_the_core_response() -> None:
    guard = make_guard()
    options = mcpguard.HttpOptions(server="files")
    d = guard.authorize_http(options, "POST", "/mcp", b"", [(b"authorization", READER.encode())], "1.2.3.4", b"{")
    assert (d.action, d.status) == ("respond", 400)
    assert json.loads(d.body)["error"] == "invalid_request"
    assert ("content-type", "application/json") in [(n.lower(), v) for n, v in d.headers]
    assert d.decision is not None and d.decision.reason == "invalid_request"
    d = guard.authorize_http(options, "POST", "/mcp", b"", [(b"authorization", READER.encode())], None, mcpguard.HttpBody.TOO_LARGE)
    assert d.status == 400 and b"larger than" in d.body
    d = guard.authorize_http(options, "POST", "/mcp", b"", [(b"authorization", READER.encode())], None, mcpguard.HttpBody.UNAVAILABLE)
    assert d.status == 500 and d.decision is None, "the host's mistake, never an unchecked call"
    body = json.dumps(tool_call("read")).encode()
    d = guard.authorize_http(options, "POST", "/mcp", b"tags=files", [(b"Authorization", READER.encode())], None, body)
    assert d.action == "forward" and d.status is None and not d.filters_response
    assert d.principal is not None and d.principal.client_id == "app-1"
    assert all(n == n.lower() and isinstance(v, bytes) for n, v in d.asgi_headers)
    d = guard.authorize_http(options, "POST", "/mcp", headers=[(b"authorization", READER.encode())], body=body, cost=-1)
    assert d.status == 400, "a negative cost is refused by the core"


def test_filter_response_returns_bytes_or_the_502_response() -> None:
    guard = make_guard()
    options = mcpguard.HttpOptions({"server": "files"})
    body = json.dumps(rpc("tools/list", 7)).encode()
    d = guard.authorize_http(options, "POST", "/mcp", headers=[(b"authorization", READER.encode())], body=body)
    assert d.filters_response
    sse = b"event: message\ndata: " + listing(["read", "write"]) + b"\n\n"
    out = d.filter_response("text/event-stream", sse)
    assert isinstance(out, bytes) and b"write" not in out and b"read" in out
    bad = d.filter_response("application/json", b"not json")
    assert isinstance(bad, mcpguard.HttpResponse) and bad.status == 502


def test_http_options_are_read_by_the_core() -> None:
    o = mcpguard.HttpOptions(server="files", max_body_bytes=10, cost=2)
    assert (o.server, o.read_body, o.max_body_bytes, o.serve_metadata, o.cost) == ("files", True, 10, True, 2)
    assert not mcpguard.HttpOptions().read_body
    with pytest.raises(mcpguard.ConfigError) as e:
        mcpguard.HttpOptions(server="files", cost=0)
    assert e.value.path == "cost"
    with pytest.raises(mcpguard.ConfigError) as e:
        mcpguard.HttpOptions({"server": "files", "nope": 1})
    assert e.value.path == "nope"
    with pytest.raises(TypeError):
        mcpguard.HttpOptions({"server": "files"}, cost=2)


# ----- errors: one class per core family -----


def test_a_full_revocation_list_is_a_503_guard_error() -> None:
    guard = make_guard(revocation_entries=1)
    guard.revoke(rs256(claims(NOW, jti="a")))
    with pytest.raises(mcpguard.GuardError) as e:
        guard.revoke(rs256(claims(NOW, jti="b")))
    assert type(e.value) is mcpguard.GuardError
    assert (e.value.status, e.value.code) == (503, "revocation_list_full")


def test_errors_carry_the_core_code() -> None:
    with pytest.raises(mcpguard.ConfigError) as c:
        mcpguard.Guard.from_json({"resource": 1})
    assert c.value.code == "invalid_configuration" and c.value.status is None
    with pytest.raises(mcpguard.InvalidToken) as t:
        make_guard().validate("x.y.z")
    assert (t.value.code, t.value.error, t.value.status) == ("invalid_token", "invalid_token", 401)
    with pytest.raises(mcpguard.InvalidRequest) as r:
        mcpguard.TagFilter.parse(tags="")
    assert (r.value.code, r.value.reason, r.value.status) == ("invalid_request", "invalid_filter", 400)
