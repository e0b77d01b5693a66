"""The main job, for real: an MCP server protected by mcpguard, and a real
MCP client walking through 1MCP's security guide.

A streamable-HTTP MCP server (the official ``mcp`` SDK) serves the
``filesystem`` server of ``examples/guard.json`` on a local port, behind
``GuardMiddleware`` and ``GuardTokenVerifier``. The SDK's own client then
connects with the guide's three tokens (``examples/tokens.json``):

- the developer lists the tools (``write_file`` needs ``tag:files-write``,
  which the developer role does not grant: it is not listed), reads a file,
  and is refused ``write_file``;
- the analyst and the demo client are refused the server (their tags do not
  reach ``filesystem``);
- the developer calls until the rate limit (100 requests per 15 minutes)
  answers 429 with ``Retry-After``.

The Guard runs on a manual clock at the tokens' issue time, so the output
is the same on every run (``make test`` diffs it against
``examples/mcp_demo.expected``). Run: ``python examples/python/mcp_demo.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from mcpguard import Guard, ManualClock

HERE = Path(__file__).resolve().parent
CONFIG = HERE.parent / "guard.json"
TOKENS = json.loads((HERE.parent / "tokens.json").read_text())
CLOCK = 1_767_225_600  # 2026-01-01T00:00:00Z, the tokens' issue time

# The SDK's client (mcp 2.x) speaks HTTP through httpx2.
import httpx2
from mcp.client.streamable_http import streamable_http_client


#: The refusals the client received, newest last (the SDK's client turns a
#: refused request into a generic error; the demo shows the HTTP answer).
REFUSED: list[str] = []


async def record(response: httpx2.Response) -> None:
    """Keeps what a refused request was answered with."""
    if response.status_code >= 400:
        await response.aread()
        try:
            body = response.json()
            what = f"{body.get('error')}: {body.get('error_description')}"
        except ValueError:
            what = response.text
        retry = response.headers.get("retry-after")
        extra = f" (Retry-After: {retry})" if retry else ""
        REFUSED.append(f"{response.status_code} {what}{extra}")


def open_client(url: str, token: str) -> Any:
    """The SDK's streamable-HTTP client with a bearer token."""
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=10, event_hooks={"response": [record]}
    )
    return streamable_http_client(url, http_client=http)


from mcp import ClientSession  # noqa: E402
from mcp_server import build_app  # noqa: E402


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(app: Any, port: int) -> uvicorn.Server:
    """Starts the app on a thread; returns the server once it listens."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the MCP server did not start")
        time.sleep(0.02)
    return server


def refusal(e: BaseException) -> str:
    """What the client saw of a refused request: the HTTP answer, when one came."""
    if REFUSED:
        return REFUSED.pop()
    return f"{type(e).__name__}: {e}"


async def session_of(url: str, who: str, steps: Any) -> None:
    """Connects as `who` and runs `steps(session)`; prints a refusal of the connection."""
    try:
        async with open_client(url, TOKENS[who]) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                await steps(session)
    except Exception as e:  # noqa: BLE001 - the demo prints what the client saw
        print(f"    refused: {refusal(e)}")


async def story(url: str) -> None:
    """1MCP's security guide, through a real MCP client."""

    async def developer(session: ClientSession) -> None:
        tools = await session.list_tools()
        print(f"    tools/list: {', '.join(t.name for t in tools.tools)}")
        result = await session.call_tool("read_file", {"path": "/notes.txt"})
        print(f"    read_file: {result.content[0].text}")  # type: ignore[union-attr]
        try:
            await session.call_tool("write_file", {"path": "/x", "text": "y"})
            print("    write_file: allowed (unexpected)")
        except Exception as e:  # noqa: BLE001
            print(f"    write_file refused: {refusal(e)}")

    print("[1] developer (tag:files tag:database tag:web tag:memory) on the filesystem server")
    await session_of(url, "developer", developer)

    async def nothing(session: ClientSession) -> None:
        print("    connected (unexpected)")

    print("[2] analyst (tag:database tag:web) on the filesystem server")
    await session_of(url, "analyst", nothing)
    print("[3] demo (tag:web) on the filesystem server")
    await session_of(url, "demo", nothing)

    async def until_limited(session: ClientSession) -> None:
        for n in range(1, 200):
            try:
                await session.call_tool("read_file", {"path": "/notes.txt"})
            except Exception as e:  # noqa: BLE001
                print(f"    call {n} refused: {refusal(e)}")
                return
        print("    never limited (unexpected)")

    print("[4] developer calls read_file until the rate limit (100 per 15 min) answers")
    await session_of(url, "developer", until_limited)


def main() -> None:
    """Serves the protected MCP server, runs the story, stops the server."""
    logging.disable(logging.WARNING)  # the SDK's and uvicorn's info lines vary run to run
    guard = Guard.from_file(CONFIG, clock=ManualClock(CLOCK))
    app, _ = build_app(guard, sdk_auth=False)
    port = free_port()
    server = serve(app, port)
    print(f"mcpguard demo: an MCP server on the official SDK behind mcpguard ({CONFIG.name})")
    try:
        asyncio.run(story(f"http://127.0.0.1:{port}/mcp"))
    finally:
        server.should_exit = True
    print("server stopped")


if __name__ == "__main__":
    main()
