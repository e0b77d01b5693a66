"""What ``GuardMiddleware`` costs a Starlette app under uvicorn (issue 13,
"Speed": the ASGI middleware adds at most 10% to a bare app's request time).
Run by ``make -C bindings/python bench`` on the release build of the
extension.

What it measures: requests per second of one uvicorn process (one worker,
uvloop and httptools when installed, access log off) serving ``POST /mcp``
(a JSON-RPC ``tools/call`` of ``read_file`` on server ``files``, with an
RS256 bearer token signed here with the committed test key and cached by
the guard after the first request), answered by a Starlette route that
parses the JSON body and echoes the request id. Two apps, started once and
measured in interleaved rounds (the machine may be shared: the median of
the rounds is reported, and the overhead against the bare app from the same
rounds):

    bare       the Starlette app
    guard      the same app wrapped in ``mcpguard.asgi.GuardMiddleware``
               (server ``files``: the core reads the body's tools)
    sdk        what an MCP host runs: the ``mcp`` SDK's ``MCPServer`` with
               a ``read_file`` tool, its streamable HTTP app (stateless,
               JSON answers)
    sdk+guard  the same app wrapped in ``GuardMiddleware``: the overhead a
               host of the SDK sees

The Starlette route that only echoes the id is the harshest base (the
middleware's cost against an app that does nearly nothing); the SDK rows
are the same middleware against the app it is made to guard.

Cores: every server is pinned to core 0 with ``taskset``, the load generator
to core 1 (on a 2-core machine each side has one core). The load generator
is ``wrk`` (C, one thread, keep-alive, 32 connections): it drives many
times more requests per second than one Python process serves, so the
server is the bottleneck. A response other than 200 fails the run.

Beside the rate, the server's own CPU time per request (user + system, from
``/proc/<pid>/stat``, over the same seconds) is reported: on a loaded
machine the rate follows whatever else runs on core 0, the CPU time per
request much less so.

    python benches/python/middleware.py [--rounds 5] [--seconds 3] [--connections 32] [--modes sdk,sdk+guard]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KEYS = ROOT / "conformance" / "keys"
ISSUER = "https://auth.example.com"
RESOURCE = "https://mcp.example.com/mcp"
MODES = ("bare", "guard", "sdk", "sdk+guard")
#: The unguarded mode each guarded one is compared with.
BASE = {"guard": "bare", "sdk+guard": "sdk"}
BODY = json.dumps(
    {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read_file", "arguments": {"path": "a.txt"}}}
)


def serve(mode: str, port: int) -> None:
    """Runs the app for ``mode`` on ``127.0.0.1:port`` until terminated."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    import mcpguard
    from mcpguard.asgi import GuardMiddleware

    async def mcp(request: Request) -> JSONResponse:
        message = await request.json()
        return JSONResponse({"jsonrpc": "2.0", "id": message["id"], "result": {"content": []}})

    app: Any = Starlette(routes=[Route("/mcp", mcp, methods=["POST"])])
    if mode.startswith("sdk"):
        app = sdk_app()
    if mode in BASE:
        jwk = json.loads((KEYS / "rsa.jwk.json").read_text())
        jwk.update({"kid": "rsa-1", "alg": "RS256"})
        guard = mcpguard.Guard.from_json(
            {
                "resource": RESOURCE,
                "auth": {"issuers": [{"issuer": ISSUER, "jwks": {"keys": [jwk]}}]},
                "servers": {
                    "files": {"tags": ["files"], "tools": {"write_file": {"tags": ["files-write"]}}},
                    "web": {"tags": ["web"]},
                },
                # No request in the run may be refused for its rate.
                "rate_limit": {"limit": 4294967295, "window_seconds": 60},
            }
        )
        app = GuardMiddleware(app, guard, server="files")
    has = importlib.util.find_spec
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop" if has("uvloop") else "asyncio",
        http="httptools" if has("httptools") else "h11",
        access_log=False,
        log_level="warning",
    )


def sdk_app() -> Any:
    """The ``mcp`` SDK's streamable HTTP app with one tool, stateless, JSON answers."""
    from mcp.server import MCPServer

    server = MCPServer("files")

    @server.tool()
    def read_file(path: str) -> str:
        """Reads a file."""
        return f"contents of {path}"

    return server.streamable_http_app(json_response=True, stateless_http=True)


def pinned(core: int, argv: list[str]) -> list[str]:
    """``argv`` run on ``core`` with ``taskset`` when the machine has both."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > core:
        return ["taskset", "-c", str(core), *argv]
    return argv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(mode: str) -> tuple[subprocess.Popen[bytes], int]:
    """Starts the server for ``mode`` and waits until it accepts connections."""
    port = free_port()
    child = subprocess.Popen(pinned(0, [sys.executable, __file__, "serve", mode, str(port)]))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"server {mode} exited with {child.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return child, port
        except OSError:
            time.sleep(0.1)
    child.terminate()
    raise SystemExit(f"server {mode} did not listen on {port}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process ``pid`` has used, or NaN off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    # Fields after the command name (which may hold spaces) start at state: utime is the 12th, stime the 13th.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(server: tuple[subprocess.Popen[bytes], int], script: Path, seconds: int, connections: int) -> tuple[float, float]:
    """What wrk drove against the server: requests per second and the
    server's CPU microseconds per request (any non-200 fails the run)."""
    child, port = server
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}/mcp"]
    before = cpu_seconds(child.pid)
    out = subprocess.run(pinned(1, argv), check=True, capture_output=True, text=True).stdout
    used = cpu_seconds(child.pid) - before
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        raise SystemExit(f"wrk saw failed requests on port {port}:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if rate is None or count is None:
        raise SystemExit(f"wrk printed no rate:\n{out}")
    return float(rate.group(1)), used * 1e6 / int(count.group(1))


def token() -> str:
    import jwt

    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": RESOURCE,
        "sub": "alice",
        "client_id": "app-1",
        "iat": now,
        "exp": now + 3600,
        "scope": "tag:files tag:web",
    }
    return jwt.encode(claims, (KEYS / "rsa.pem").read_bytes(), algorithm="RS256", headers={"kid": "rsa-1"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ", ".join(MODES))
    args = parser.parse_args()
    modes = tuple(m for m in MODES if m in args.modes.split(","))
    for mode in modes:
        base = BASE.get(mode)
        if base is not None and base not in modes:
            raise SystemExit(f"mode {mode} needs {base} in --modes")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="mcpguard-mwbench-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(
            "\n".join(
                [
                    'wrk.method = "POST"',
                    f"wrk.body = {json.dumps(BODY)}",
                    'wrk.headers["Content-Type"] = "application/json"',
                    'wrk.headers["Accept"] = "application/json, text/event-stream"',
                    f'wrk.headers["Authorization"] = "Bearer {token()}"',
                    "",
                ]
            )
        )
        servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        try:
            for mode in modes:
                servers[mode] = start(mode)
            for mode in modes:
                load(servers[mode], script, 2, args.connections)  # warm-up: token cache, allocator, the SDK's first requests
            runs: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
            for r in range(args.rounds):
                # Alternate the order so that neither mode always runs first.
                for i in range(len(modes)):
                    mode = modes[(i + r) % len(modes)]
                    runs[mode].append(load(servers[mode], script, args.seconds, args.connections))
        finally:
            for child, _ in servers.values():
                child.terminate()
                child.wait()
    has = importlib.util.find_spec
    version = importlib.metadata.version
    print(
        f"uvicorn {version('uvicorn')} ({'uvloop' if has('uvloop') else 'asyncio'}, "
        f"{'httptools' if has('httptools') else 'h11'}), Starlette {version('starlette')}, mcp {version('mcp')}, "
        f"Python {sys.version.split()[0]}: POST /mcp tools/call, {args.connections} keep-alive connections, "
        f"{args.rounds} rounds of {args.seconds} s"
    )
    rate = {mode: statistics.median(r for r, _ in runs[mode]) for mode in modes}
    cpu = {mode: statistics.median(c for _, c in runs[mode]) for mode in modes}
    print("mode          req/s  overhead   server CPU us/req  overhead   req/s of each round")
    for mode in modes:
        base = BASE.get(mode)
        rate_over = "" if base is None else f"{(rate[base] / rate[mode] - 1) * 100:.1f}%"
        cpu_over = "" if base is None else f"{(cpu[mode] / cpu[base] - 1) * 100:.1f}%"
        each = " ".join(f"{r:.0f}" for r, _ in runs[mode])
        print(f"{mode:<10}{rate[mode]:>9.0f}{rate_over:>10}{cpu[mode]:>20.1f}{cpu_over:>10}   {each}")
    print("medians of the rounds; overhead = added request time: unguarded req/s / guarded req/s - 1,")
    print("and guarded CPU per request / unguarded CPU per request - 1 (guard against bare,")
    print("sdk+guard against sdk; target: at most 10%)")

if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
