"""An MCP server on the official ``mcp`` SDK, protected by mcpguard.

Two layers, both from one Guard built from ``examples/guard.json``:

- ``GuardTokenVerifier`` is the SDK's ``token_verifier``: every bearer token
  is validated by mcpguard (signature, issuer, audience, expiry,
  revocation), and the SDK answers 401 with its challenge otherwise;
- ``GuardMiddleware`` wraps the SDK's HTTP app: 1MCP's tag access (this
  server is ``filesystem``; ``write_file`` needs ``tag:files-write``, read
  from each JSON-RPC body), ``tools/list`` answers filtered down to what the
  client may call, the client's tag filter from the query string,
  per-client rate limits (429 with ``Retry-After``), and the RFC 9728
  metadata document.

Run: ``python examples/python/mcp_server.py`` (needs ``pip install mcp
uvicorn``), then point an MCP client at http://127.0.0.1:8000/mcp with a
token from your authorization server. ``MCPGUARD_CONFIG`` names another
configuration file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mcpguard import Guard
from mcpguard.asgi import GuardMiddleware
from mcpguard.mcp import GuardTokenVerifier, auth_settings

try:  # mcp 2.x
    from mcp.server import MCPServer as Server

    MCP_2 = True
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef,assignment,attr-defined,unused-ignore]

    MCP_2 = False

CONFIG = Path(os.environ.get("MCPGUARD_CONFIG", Path(__file__).resolve().parent.parent / "guard.json"))
FILES: dict[str, str] = {"/notes.txt": "mcpguard protects this file"}


def build_app(guard: Guard, sdk_auth: bool = True) -> tuple[Any, Any]:
    """The protected ASGI app, and the SDK app whose lifespan must run.

    ``sdk_auth=False`` leaves token checks to ``GuardMiddleware`` alone (it
    runs the full Guard): the SDK's own check reads the wall clock, which a
    Guard on a manual clock (the demo's) does not.
    """
    # JSON responses: an option of the app in mcp 2.x, a server setting in 1.x.
    http_options: dict[str, Any] = {"json_response": True}
    auth: dict[str, Any] = (
        {"token_verifier": GuardTokenVerifier(guard), "auth": auth_settings(guard)} if sdk_auth else {}
    )
    server = Server(
        "filesystem",
        **auth,
        **({} if MCP_2 else http_options),
    )

    @server.tool()
    def read_file(path: str) -> str:
        """Reads a file."""
        return FILES.get(path, "")

    @server.tool()
    def write_file(path: str, text: str) -> str:
        """Writes a file (needs tag:files-write)."""
        FILES[path] = text
        return "ok"

    sdk_app = server.streamable_http_app(**(http_options if MCP_2 else {}))
    # With a server, the middleware reads each POST body (tools called,
    # listings asked for) through the core.
    protected = GuardMiddleware(sdk_app, guard, server="filesystem")
    return protected, sdk_app


def main() -> None:
    """Serves the protected server on 127.0.0.1:8000."""
    import uvicorn

    guard = Guard.from_file(CONFIG)
    guard.on_audit(lambda event: print("audit:", event["kind"], event["reason"] or "", event["client_id"] or ""))
    protected, _ = build_app(guard)
    # uvicorn runs the lifespan through the middleware (it passes lifespan
    # messages on), so the SDK's session manager starts as usual.
    uvicorn.run(protected, host="127.0.0.1", port=8000)


if __name__ == "__main__":
    main()
