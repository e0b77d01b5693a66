"""Two Guards in separate processes, configured by JSON alone, share one
Redis: one rate-limit budget, and a revocation made through one is honoured
by the other within the stated second. Runs a real ``redis-server`` on a
free port (``make test`` installs Debian's package when it is missing)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mcpguard
from tokens import ISSUER, RESOURCE, claims, jwks, rs256

CHILD = r"""
import json, sys, time
import mcpguard
config, token, mode = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
guard = mcpguard.Guard.from_json(config)
if mode == "spend":
    allowed = sum(
        guard.authorize(authorization="Bearer " + token, server="files").allowed for _ in range(25)
    )
    print(allowed, flush=True)
else:
    guard.validate(token)  # now in this process's verified-token cache
    print("ready", flush=True)
    sys.stdin.readline()  # the parent has revoked it
    start = time.monotonic()
    while time.monotonic() - start < 3:
        try:
            guard.validate(token)
        except mcpguard.InvalidToken as e:
            print(json.dumps({"reason": e.reason, "after": time.monotonic() - start}), flush=True)
            break
        time.sleep(0.01)
    else:
        print(json.dumps({"reason": None, "after": None}), flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url() -> Iterator[str]:
    server = shutil.which("redis-server")
    assert server, "redis-server is missing: `make test` installs Debian's redis-server package"
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def config(url: str) -> dict[str, Any]:
    return {
        "resource": RESOURCE,
        "auth": {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}]},
        "servers": {"files": {"tags": ["files"]}},
        "rate_limit": {"limit": 30, "window_seconds": 60},
        "store": {"redis": {"url": url, "timeout_ms": 500}},
    }


def child(cfg: dict[str, Any], token: str, mode: str, **kw: Any) -> subprocess.Popen[str]:
    here = str(Path(__file__).resolve().parent)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(cfg), token, mode],
        text=True,
        stdout=subprocess.PIPE,
        cwd=here,
        **kw,
    )


def test_two_processes_share_one_budget(redis_url: str) -> None:
    cfg = config(redis_url)
    token = rs256(claims(int(time.time()), client_id="shared-app"))
    procs = [child(cfg, token, "spend") for _ in range(2)]
    allowed = [int(p.communicate(timeout=60)[0]) for p in procs]
    # 50 requests in all against a limit of 30: exactly 30 admitted, whichever
    # process made them.
    assert sum(allowed) == 30, allowed


def test_a_revocation_reaches_the_other_process_within_a_second(redis_url: str) -> None:
    cfg = config(redis_url)
    token = rs256(claims(int(time.time()), client_id="revoked-app", jti="r-1"))
    other = child(cfg, token, "watch", stdin=subprocess.PIPE)
    assert other.stdout is not None and other.stdin is not None
    assert other.stdout.readline().strip() == "ready"
    mcpguard.Guard.from_json(cfg).revoke(token)
    other.stdin.write("go\n")
    other.stdin.flush()
    result = json.loads(other.stdout.readline())
    other.wait(timeout=10)
    assert result["reason"] == "revoked"
    assert result["after"] <= 1.2, result


def test_metrics_name_the_store(redis_url: str) -> None:
    guard = mcpguard.Guard.from_json(config(redis_url))
    token = rs256(claims(int(time.time())))
    assert guard.authorize(authorization=f"Bearer {token}", server="files").allowed
    text = guard.metrics_text()
    assert "mcpguard_requests_allowed_total 1" in text, text
    round_trips = [line for line in text.splitlines() if line.startswith("mcpguard_store_round_trips_total")]
    assert round_trips and not round_trips[0].endswith(" 0"), text
    assert "mcpguard_store_breaker_open 0" in text, text
