"""Decisions in flight on one asyncio loop, with the Redis store, against
``limits``' asyncio strategies on redis-py's asyncio client, on one
``redis-server`` started here, in one run.

``IN_FLIGHT`` coroutines on one loop each decide one request after another
for ``SECONDS``: ``Guard.authorize_http_async`` (what ``GuardMiddleware``
awaits for a Guard on Redis: the decision taken on the loop, its Redis
check pipelined with the others', no thread held), the same decision on
the loop's default executor (``run_in_executor(authorize_http)``, what the
middleware did before), and ``limits.aio``'s fixed and moving windows
(``await limiter.hit``) for the peer a user would pick. Requests carry no
token (``auth.required: false``) and the limit is never reached, so every
call is one rate-limit check in Redis; mcpguard's also reads the request.
Two more rows carry an HS256 token with the verified-token cache off
(``cache_entries: 0``), so that every request needs its signature checked
before the Redis check: ``authorize_http_async`` then decides it on
mcpguard's own decision threads, against the default executor.
Reported: calls per second, the bench process's CPU time per call (the
loop and every thread of the process, not Redis's), median of
``ROUNDS`` interleaved rounds.

Measured as the scheduler places it, then with the bench and redis-server
on CPU 0 (``taskset``), as ``bench_redis.py`` does. Run with
``make -C bindings/python bench`` (a release build).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import base64
import secrets

import jwt
import limits
import limits.aio.strategies
import limits.storage
from bench_redis import redis_server

import mcpguard

IN_FLIGHT = int(os.environ.get("IN_FLIGHT", "16"))
SECONDS = float(os.environ.get("SECONDS", "1.5"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
PINNED = os.environ.get("MCPGUARD_BENCH_PINNED") == "1"
LIMIT = 1_000_000_000


async def rate(call: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Calls per second of ``IN_FLIGHT`` coroutines together, and the
    process's CPU microseconds per call."""
    count = 0
    stop = False

    async def worker() -> None:
        nonlocal count
        while not stop:
            await call()
            count += 1

    await call()
    cpu0, t0 = time.process_time(), time.perf_counter()
    tasks = [asyncio.ensure_future(worker()) for _ in range(IN_FLIGHT)]
    await asyncio.sleep(SECONDS)
    stop = True
    await asyncio.gather(*tasks)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    return count / wall, cpu / count * 1e6


async def bench(url: str) -> list[tuple[str, float, float]]:
    config = {
        "resource": "https://mcp.example.com/mcp",
        "auth": {"issuers": [], "required": False},
        "rate_limit": {"limit": LIMIT, "window_seconds": 3600},
        "store": {"redis": {"url": url, "prefix": "py-async:", "pool_size": 8}},
    }
    guard = mcpguard.Guard.from_json(json.dumps(config))
    options = mcpguard.HttpOptions(read_body=False)
    request = ("GET", "/mcp", b"", [(b"accept", b"application/json")], "203.0.113.7")
    loop = asyncio.get_running_loop()

    def awaited() -> Awaitable[mcpguard.HttpDecision]:
        return guard.authorize_http_async(options, *request)

    def executor() -> Awaitable[mcpguard.HttpDecision]:
        return loop.run_in_executor(None, lambda: guard.authorize_http(options, *request))

    # A request whose token must be verified every time.
    secret = secrets.token_bytes(32)
    issuer = "https://auth.example.com"
    k = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    verify_config = {
        "resource": "https://mcp.example.com/mcp",
        "auth": {
            "issuers": [{"issuer": issuer, "jwks": {"keys": [{"kty": "oct", "kid": "hs", "alg": "HS256", "k": k}]}}],
            "cache_entries": 0,
        },
        "rate_limit": {"limit": LIMIT, "window_seconds": 3600},
        "store": {"redis": {"url": url, "prefix": "py-async-verify:", "pool_size": 8}},
    }
    verifying = mcpguard.Guard.from_json(json.dumps(verify_config))
    now = int(time.time())
    claims = {"iss": issuer, "sub": "bench", "aud": verify_config["resource"], "iat": now, "exp": now + 3600}
    token = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": "hs"})
    signed = ("GET", "/mcp", b"", [(b"authorization", f"Bearer {token}".encode())], "203.0.113.7")

    def verify_awaited() -> Awaitable[mcpguard.HttpDecision]:
        return verifying.authorize_http_async(options, *signed)

    def verify_executor() -> Awaitable[mcpguard.HttpDecision]:
        return loop.run_in_executor(None, lambda: verifying.authorize_http(options, *signed))

    storage = limits.storage.storage_from_string(f"async+{url}", implementation="redispy")
    item = limits.RateLimitItemPerHour(LIMIT)
    fixed = limits.aio.strategies.FixedWindowRateLimiter(storage)
    moving = limits.aio.strategies.MovingWindowRateLimiter(storage)

    rows: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("mcpguard authorize_http_async", awaited),
        ("mcpguard on the default executor", executor),
        ("limits.aio FixedWindowRateLimiter", lambda: fixed.hit(item, "fixed")),
        ("limits.aio MovingWindowRateLimiter", lambda: moving.hit(item, "moving")),
        ("verify first: authorize_http_async", verify_awaited),
        ("verify first: on the default executor", verify_executor),
    ]
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in rows}
    for _ in range(ROUNDS):
        for name, call in rows:
            runs[name].append(await rate(call))
    return [
        (name, statistics.median(r for r, _ in got), statistics.median(c for _, c in got))
        for name, got in runs.items()
    ]


def main() -> int:
    with redis_server() as port:
        results = asyncio.run(bench(f"redis://127.0.0.1:{port}/0"))
    placement = "everything on CPU 0" if PINNED else "as the scheduler places it"
    print(
        f"Python asyncio, Redis store, {IN_FLIGHT} in flight on one loop, "
        f"median of {ROUNDS} rounds (limits {limits.__version__}), {placement}"
    )
    print(f"{'decision':38} {'calls/s':>10} {'CPU µs/call':>12}")
    for name, calls, cpu in results:
        print(f"{name:38} {calls:10,.0f} {cpu:12.1f}")
    ours, old, fixed, moving, verify_ours, verify_old = results
    print(
        f"authorize_http_async vs executor: {ours[1] / old[1]:.2f}x calls/s, "
        f"vs FixedWindowRateLimiter {ours[1] / fixed[1]:.2f}x, vs MovingWindowRateLimiter {ours[1] / moving[1]:.2f}x"
    )
    print(
        f"verify first, decision threads vs executor: {verify_ours[1] / verify_old[1]:.2f}x calls/s, "
        f"{verify_ours[2] / verify_old[2]:.2f}x CPU per call"
    )
    if not PINNED and shutil.which("taskset") is not None:
        env = {**os.environ, "MCPGUARD_BENCH_PINNED": "1"}
        subprocess.run(["taskset", "-c", "0", sys.executable, __file__], env=env, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
