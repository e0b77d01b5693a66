"""The MCP server example answers as its docstring says."""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

import time

import anyio
import httpx
import jwt

import mcpguard
from conftest import EXAMPLES, KEYS, ROOT


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("mcp_server_example", ROOT / "examples" / "python" / "mcp_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mcp_server_example"] = module
    spec.loader.exec_module(module)
    return module


def test_the_mcp_server_example_reads_for_a_developer_and_refuses_writes() -> None:
    example = load_example()
    now = int(time.time())
    guard = mcpguard.Guard.from_file(EXAMPLES / "guard.json", clock=mcpguard.ManualClock(now))
    # The SDK compares expiry with the wall clock, so the sample tokens (pinned
    # to 2026-01-01) are signed again for now with the example's key.
    pinned = json.loads((EXAMPLES / "tokens.json").read_text())
    key = (KEYS / "rsa.pem").read_bytes()
    tokens = {}
    for name in ("developer", "demo"):
        claims = jwt.decode(pinned[name], options={"verify_signature": False})
        claims.update(iat=now, exp=now + 3600)
        tokens[name] = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "demo-2026", "typ": "at+jwt"})
    protected, sdk_app = example.build_app(guard)
    headers = {
        "authorization": f"Bearer {tokens['developer']}",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
    }

    def call(tool: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}}

    async def main() -> None:
        async with sdk_app.router.lifespan_context(sdk_app):
            transport = httpx.ASGITransport(app=protected)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
                init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
                r = await c.post("/mcp", json=init, headers=headers)
                assert r.status_code == 200, r.text
                headers["mcp-session-id"] = r.headers["mcp-session-id"]
                headers["mcp-protocol-version"] = "2025-06-18"
                note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
                assert (await c.post("/mcp", json=note, headers=headers)).status_code == 202
                r = await c.post("/mcp", json=call("read_file", {"path": "/notes.txt"}), headers=headers)
                assert r.status_code == 200, r.text
                assert "mcpguard protects this file" in r.text
                r = await c.post("/mcp", json=call("write_file", {"path": "/x", "text": "y"}), headers=headers)
                assert r.status_code == 403
                listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
                r = await c.post("/mcp", json=listing, headers=headers)
                assert r.status_code == 200, r.text
                names = [t["name"] for t in r.json()["result"]["tools"]]
                assert names == ["read_file"], "write_file needs tag:files-write: not listed"
                r = await c.post("/mcp", headers={"authorization": f"Bearer {tokens['demo']}"}, json={})
                assert r.status_code == 403, "demo holds tag:web only: the filesystem server is not granted"
                r = await c.get(guard.metadata_path())
                assert r.json() == guard.metadata_document()

    anyio.run(main)
