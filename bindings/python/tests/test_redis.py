"""Two Guards in separate processes, configured by JSON alone, share one
Redis: one rate-limit budget, and a revocation made through one is honoured
by the other within the stated second. Runs a real ``redis-server`` on a
free port (``make test`` installs Debian's package when it is missing)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import os
import signal
import threading
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mcpguard
from servers import free_port, redis_server, wait_listening
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

# Sends SIGUSR1 to the parent every 5 ms until killed.
PELTER = r"""
import os, signal, sys, time
parent = int(sys.argv[1])
print("go", flush=True)
while True:
    os.kill(parent, signal.SIGUSR1)
    time.sleep(0.005)
"""


@pytest.fixture
def redis_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--enable-debug-command", "yes"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_listening(port)
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


def redis_command(url: str, *args: str) -> bytes:
    """Sends one command on a connection of its own; the raw reply."""
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(f"*{len(args)}\r\n".encode() + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in args))
        return s.recv(4096)


def test_a_connection_redis_closed_while_idle_is_replaced_without_a_failure(redis_url: str) -> None:
    # Redis's idle timeout, a NAT or a restart closes a pooled connection
    # while it waits; before, the next request failed and opened the
    # breaker (a second of 503s under fail_closed).
    cfg = config(redis_url)
    cfg["store"]["redis"]["on_error"] = "fail_closed"
    guard = mcpguard.Guard.from_json(cfg)
    assert guard.check_rate_limit("idle-app").allowed
    assert redis_command(redis_url, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").startswith(b":")
    decision = guard.check_rate_limit("idle-app")
    assert decision.allowed, decision
    assert metric(guard, "mcpguard_store_errors_total") == 0
    assert metric(guard, "mcpguard_store_reconnects_total") == 1


def redis_sleep(url: str, seconds: float) -> threading.Thread:
    """Makes the server answer nobody for ``seconds`` (``DEBUG SLEEP``), from a thread of its own."""
    t = threading.Thread(target=redis_command, args=(url, "DEBUG", "SLEEP", str(seconds)))
    t.start()
    time.sleep(0.02)  # the command is in before the caller's next call
    return t


def test_signals_to_the_process_while_a_decision_waits_on_redis_do_not_fail_it(redis_url: str) -> None:
    # Python installs its handlers without SA_RESTART (PEP 475), and Linux
    # interrupts a socket read that has a timeout in any case. Before the
    # store held signals off the waiting thread, a signal during the round
    # trip failed it and opened the breaker.
    guard = mcpguard.Guard.from_json(config(redis_url))
    token = rs256(claims(int(time.time()), client_id="signals-app"))
    assert guard.authorize(authorization=f"Bearer {token}", server="files").allowed
    handled: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: handled.append(signum))
    pelter = subprocess.Popen(
        [sys.executable, "-c", PELTER, str(os.getpid())],
        stdout=subprocess.PIPE,
    )
    try:
        assert pelter.stdout is not None
        pelter.stdout.readline()  # it has begun
        sleeper = redis_sleep(redis_url, 0.3)
        start = time.monotonic()
        decision = guard.authorize(authorization=f"Bearer {token}", server="files")
        took = time.monotonic() - start
        sleeper.join()
        assert decision.allowed, decision
        assert took >= 0.15, f"Redis was slowed: {took:.3f} s"
        assert handled, "the signals still reach their handler"
    finally:
        pelter.kill()
        pelter.wait()
        signal.signal(signal.SIGUSR1, previous)
    text = guard.metrics_text()
    assert "mcpguard_store_errors_total 0" in text, text
    assert "mcpguard_store_breaker_opened_total 0" in text, text


class Ticker:
    """Counts 5 ms timer ticks on the running loop: how much it served
    while something else waited."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.005)
            self.ticks += 1

    def stop(self) -> int:
        """Stops counting; the ticks so far."""
        self._task.cancel()
        return self.ticks


def test_a_guard_on_redis_waits_on_the_network_and_releases_the_gil_meanwhile(redis_url: str) -> None:
    cfg = config(redis_url)
    in_process = {key: value for key, value in cfg.items() if key != "store"}
    assert mcpguard.Guard.from_json(in_process).waits_on_network() is False
    guard = mcpguard.Guard.from_json(cfg)
    assert guard.waits_on_network() is True
    assert guard.check_rate_limit("gil-app").allowed
    # Another Python thread keeps running while a check waits on a sleeping
    # Redis: the longest gap between its steps stays far under the 300 ms.
    gaps: list[float] = []
    done = threading.Event()

    def steps() -> None:
        last = time.monotonic()
        while not done.is_set():
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    stepper = threading.Thread(target=steps)
    stepper.start()
    sleeper = redis_sleep(redis_url, 0.3)
    try:
        assert guard.check_rate_limit("gil-app").allowed
        token = rs256(claims(int(time.time()), client_id="gil-app"))
        assert guard.authorize(authorization="Bearer " + token, server="files").allowed
    finally:
        done.set()
        stepper.join()
        sleeper.join()
    assert max(gaps) < 0.15, f"another thread stood still for {max(gaps):.3f} s"


def test_guard_middleware_decides_off_the_event_loop_for_a_guard_on_redis(redis_url: str) -> None:
    from mcpguard.asgi import GuardMiddleware

    guard = mcpguard.Guard.from_json(config(redis_url))
    token = rs256(claims(int(time.time()), client_id="loop-app", scope="tag:files"))
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> dict[str, Any]:
        body = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","arguments":{}}}'
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
    }

    async def run() -> int:
        middleware = GuardMiddleware(app, guard, server="files")
        await middleware(scope, receive, send)  # the token is cached from here on
        ticker = Ticker()
        sleeper = await asyncio.to_thread(redis_sleep, redis_url, 0.3)
        before = ticker.ticks
        await middleware(scope, receive, send)
        during = ticker.stop() - before
        await asyncio.to_thread(sleeper.join)
        return during

    during = asyncio.run(run())
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [200, 200]
    # The synchronous decision would have held the loop for the whole 300 ms.
    assert during >= 10, f"the event loop ran {during} ticks while the decision waited"


def test_the_sdk_verifier_validates_off_the_event_loop_only_for_a_guard_on_redis(redis_url: str) -> None:
    # A Guard on Redis validates a token it cannot take from memory on one
    # of mcpguard's decision threads: never inline (it may wait on Redis),
    # never on the loop's default executor (which the host shares). A
    # refused token's error crosses back the same way. An in-process Guard
    # validates inline.
    from mcpguard.mcp import GuardTokenVerifier

    cfg = config(redis_url)
    in_process = {key: value for key, value in cfg.items() if key != "store"}
    now = int(time.time())
    token = rs256(claims(now, client_id="verifier-app", scope="tag:files"))
    forged = rs256(claims(now, client_id="verifier-app", scope="tag:files"))[:-4] + "AAAA"
    for guard_config, on_redis in ((cfg, True), (in_process, False)):
        guard = mcpguard.Guard.from_json(guard_config)
        verifier = GuardTokenVerifier(guard)
        calls: list[tuple[str, threading.Thread]] = []

        class Recording:
            """The guard, noting how and on which thread each token is validated."""

            def __getattr__(self, name: str) -> Any:
                return getattr(guard, name)

            def validate(self, token: str) -> Any:
                calls.append(("validate", threading.current_thread()))
                return guard.validate(token)

            def _validate_begin(self, completions: Any, token: str) -> Any:
                calls.append(("begin", threading.current_thread()))
                return guard._validate_begin(completions, token)

        verifier.guard = Recording()  # type: ignore[assignment]
        executor = CountingExecutor()

        async def verify(t: str, executor: CountingExecutor = executor) -> Any:
            asyncio.get_running_loop().set_default_executor(executor)
            return await verifier.verify_token(t)

        access = asyncio.run(verify(token))
        assert access is not None and access.client_id == "verifier-app"
        assert calls == [("begin" if on_redis else "validate", threading.main_thread())], calls
        assert executor.calls == 0
        # The token is cached now: a Guard on Redis answers it on the loop
        # (`_validate_in_memory`), without a thread or a call to `validate`.
        again = asyncio.run(verify(token))
        assert again is not None and again.client_id == "verifier-app"
        assert len(calls) == (1 if on_redis else 2), calls
        assert asyncio.run(verify(forged)) is None
        assert executor.calls == 0
    assert decide_threads() > 0


class CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor, counting the calls handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self.calls = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        self.calls += 1
        return super().submit(fn, *args, **kwargs)


def http_request(token: str) -> tuple[Any, ...]:
    headers = [(b"authorization", f"Bearer {token}".encode())]
    return ("GET", "/mcp", b"", headers, "127.0.0.1")


def metric(guard: mcpguard.Guard, name: str) -> float:
    for line in guard.metrics_text().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name}")


def test_authorize_http_async_pipelines_its_checks_on_the_loop_without_a_thread(redis_url: str) -> None:
    # 40 requests in flight against a limit of 30, with a cached token:
    # exactly 30 admitted, as the synchronous call counts; every check sent
    # down the store's pipelined connection; no worker thread used.
    guard = mcpguard.Guard.from_json(config(redis_url))
    options = mcpguard.HttpOptions(server="files", read_body=False)
    token = rs256(claims(int(time.time()), client_id="async-app", scope="tag:files"))
    guard.validate(token)  # cached from here on
    executor = CountingExecutor()

    async def run() -> list[mcpguard.HttpDecision]:
        asyncio.get_running_loop().set_default_executor(executor)
        return await asyncio.gather(*(guard.authorize_http_async(options, *http_request(token)) for _ in range(40)))

    decisions = asyncio.run(run())
    statuses = [200 if d.action == "forward" else d.status for d in decisions]
    assert statuses.count(200) == 30 and statuses.count(429) == 10, statuses
    assert executor.calls == 0
    assert metric(guard, "mcpguard_store_pipelined_total") == 40
    sync = guard.authorize_http(options, *http_request(token))
    refused = decisions[statuses.index(429)]
    assert (sync.status, sync.decision.reason) == (refused.status, refused.decision.reason) == (429, "rate_limited")
    assert [name for name, _ in sync.headers] == [name for name, _ in refused.headers]


def test_authorize_http_async_keeps_the_loop_serving_while_redis_is_slow(redis_url: str) -> None:
    guard = mcpguard.Guard.from_json(config(redis_url))
    options = mcpguard.HttpOptions(server="files", read_body=False)
    token = rs256(claims(int(time.time()), client_id="slow-async-app", scope="tag:files"))
    guard.validate(token)
    executor = CountingExecutor()

    async def run() -> tuple[int, mcpguard.HttpDecision]:
        asyncio.get_running_loop().set_default_executor(executor)
        ticker = Ticker()
        sleeper = redis_sleep(redis_url, 0.3)
        before = ticker.ticks
        decided = await guard.authorize_http_async(options, *http_request(token))
        during = ticker.stop() - before
        sleeper.join()
        return during, decided

    during, decided = asyncio.run(run())
    assert decided.action == "forward"
    assert during >= 10, f"the event loop ran {during} ticks while the decision waited"
    assert executor.calls == 0


def decide_threads() -> int:
    """Threads of this process named ``mcpguard-decide-*`` (Linux)."""
    names = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            continue
    return sum(name.startswith("mcpguard-decide") for name in names)


def test_authorize_http_async_decides_a_token_it_must_verify_on_a_decision_thread_as_the_sync_call_does(
    redis_url: str,
) -> None:
    # A token whose signature must be checked first is decided on one of
    # mcpguard's own decision threads, never on the loop's default
    # executor (which the host shares), and the loop keeps serving while
    # that decision waits on a slowed Redis.
    guard = mcpguard.Guard.from_json(config(redis_url))
    options = mcpguard.HttpOptions(server="files", read_body=False)
    now = int(time.time())
    fresh = rs256(claims(now, client_id="fresh-app", scope="tag:files"))
    forged = rs256(claims(now, client_id="fresh-app", scope="tag:files"))[:-4] + "AAAA"
    slow = rs256(claims(now, client_id="fresh-slow-app", scope="tag:files"))
    executor = CountingExecutor()

    async def run() -> tuple[list[mcpguard.HttpDecision], int]:
        asyncio.get_running_loop().set_default_executor(executor)
        decided = [await guard.authorize_http_async(options, *http_request(t)) for t in (fresh, forged, fresh)]
        ticker = Ticker()
        sleeper = redis_sleep(redis_url, 0.3)
        before = ticker.ticks
        decided.append(await guard.authorize_http_async(options, *http_request(slow)))
        during = ticker.stop() - before
        sleeper.join()
        return decided, during

    (first, bad, again, slowed), during = asyncio.run(run())
    assert first.action == "forward" and again.action == "forward" and slowed.action == "forward"
    assert bad.status == 401 and bad.decision.reason == guard.authorize_http(options, *http_request(forged)).decision.reason
    assert executor.calls == 0
    assert decide_threads() > 0
    assert during >= 10, f"the event loop ran {during} ticks while the decision waited"


def test_authorize_http_async_with_redis_gone_settles_by_the_store_policy(redis_url: str) -> None:
    port = free_port()  # nothing listens here
    cfg = config(f"redis://127.0.0.1:{port}/0")
    cfg["store"]["redis"].update(timeout_ms=200, on_error="fail_closed")
    guard = mcpguard.Guard.from_json(cfg)
    options = mcpguard.HttpOptions(server="files", read_body=False)
    token = rs256(claims(int(time.time()), client_id="down-app", scope="tag:files"))

    async def run() -> list[mcpguard.HttpDecision]:
        return await asyncio.gather(*(guard.authorize_http_async(options, *http_request(token)) for _ in range(5)))

    start = time.monotonic()
    decisions = asyncio.run(run())
    assert time.monotonic() - start < 3
    for d in decisions:
        assert d.status == 503 and d.decision.reason == "store_unavailable"
        assert any(name.lower() == "retry-after" for name, _ in d.headers)


def test_a_cancelled_async_decision_leaves_the_others_to_settle(redis_url: str) -> None:
    guard = mcpguard.Guard.from_json(config(redis_url))
    options = mcpguard.HttpOptions(server="files", read_body=False)
    token = rs256(claims(int(time.time()), client_id="cancel-app", scope="tag:files"))
    guard.validate(token)

    async def run() -> mcpguard.HttpDecision:
        sleeper = redis_sleep(redis_url, 0.2)
        doomed = asyncio.ensure_future(guard.authorize_http_async(options, *http_request(token)))
        await asyncio.sleep(0.05)
        doomed.cancel()
        decided = await guard.authorize_http_async(options, *http_request(token))
        sleeper.join()
        assert doomed.cancelled()
        return decided

    assert asyncio.run(run()).action == "forward"


def test_authorize_http_async_decides_in_place_for_a_guard_that_does_not_wait_on_the_network() -> None:
    cfg = config("redis://unused")
    del cfg["store"]
    guard = mcpguard.Guard.from_json(cfg)
    options = mcpguard.HttpOptions(server="files", read_body=False)
    token = rs256(claims(int(time.time()), client_id="local-app", scope="tag:files"))
    executor = CountingExecutor()

    async def run() -> mcpguard.HttpDecision:
        asyncio.get_running_loop().set_default_executor(executor)
        return await guard.authorize_http_async(options, *http_request(token))

    assert asyncio.run(run()).action == "forward"
    assert executor.calls == 0


def test_thousands_of_async_decisions_in_flight_all_settle(redis_url: str) -> None:
    # The store's I/O thread finishes decisions while the loop drains
    # earlier ones: no wake-up may be lost between the two.
    guard = mcpguard.Guard.from_json(config(redis_url))
    options = mcpguard.HttpOptions(server="files", read_body=False)
    tokens = [rs256(claims(int(time.time()), client_id=f"many-{i}", scope="tag:files")) for i in range(4)]
    for token in tokens:
        guard.validate(token)

    async def run() -> list[int]:
        statuses: list[int] = []
        for _ in range(10):
            batch = [guard.authorize_http_async(options, *http_request(t)) for t in tokens for _ in range(50)]
            decided = await asyncio.wait_for(asyncio.gather(*batch), timeout=20)
            statuses += [200 if d.action == "forward" else d.status for d in decided]
        return statuses

    statuses = asyncio.run(run())
    assert len(statuses) == 2000
    assert statuses.count(200) == 4 * 30, statuses.count(200)
    assert metric(guard, "mcpguard_store_pipelined_total") == 2000


FORKED_CHECKS = 100


def test_workers_forked_after_the_guard_was_built_use_connections_of_their_own(redis_url: str) -> None:
    # A pre-forking server (gunicorn --preload) builds the Guard, whose
    # pool then holds a connection, and forks its workers. Before the pool
    # noticed the fork, every worker wrote to and read from that one
    # socket: a worker read another's replies and admitted 74 of 100
    # requests against a limit of 50. The pipelined connection's I/O thread
    # is not copied by fork either: an awaited decision in a worker hung.
    import forking

    cfg = config(redis_url)
    cfg["rate_limit"] = {"limit": 50, "window_seconds": 3600}
    guard = mcpguard.Guard.from_json(cfg)
    token = rs256(claims(int(time.time()), client_id="forked-app", scope="tag:files"))
    guard.validate(token)
    options = mcpguard.HttpOptions(server="files", read_body=False)
    assert guard.check_rate_limit("parent").allowed

    async def awaited() -> str:
        decided = await asyncio.wait_for(guard.authorize_http_async(options, *http_request(token)), 5)
        return decided.action

    assert asyncio.run(awaited()) == "forward"  # the parent's I/O thread runs

    def worker(key: str) -> dict[str, Any]:
        allowed = sum(guard.check_rate_limit(key).allowed for _ in range(FORKED_CHECKS))
        action = asyncio.run(awaited())
        return {"allowed": allowed, "action": action, "errors": metric(guard, "mcpguard_store_errors_total")}

    children = [forking.start(functools.partial(worker, f"worker-{i}")) for i in range(3)]
    reports = [forking.finish(*child) for child in children]
    for report in reports:
        assert report == {"allowed": 50, "action": "forward", "errors": 0.0}, reports
    # The parent's own connections were left alone.
    assert sum(guard.check_rate_limit("parent").allowed for _ in range(60)) == 49



def test_workers_forked_after_decision_threads_started_start_their_own(redis_url: str) -> None:
    # The parent's awaited decision of a token it had to verify started
    # mcpguard's decision threads. fork copies none of them: before the
    # queue noticed the fork, a worker's first such decision waited in a
    # queue no thread would ever take.
    import forking

    guard = mcpguard.Guard.from_json(config(redis_url))
    options = mcpguard.HttpOptions(server="files", read_body=False)
    now = int(time.time())

    async def awaited(token: str) -> str:
        decided = await asyncio.wait_for(guard.authorize_http_async(options, *http_request(token)), 5)
        return decided.action

    assert asyncio.run(awaited(rs256(claims(now, client_id="forked-verify-parent", scope="tag:files")))) == "forward"
    assert decide_threads() > 0

    def worker(client: str) -> dict[str, Any]:
        fresh = rs256(claims(now, client_id=client, scope="tag:files"))
        return {"action": asyncio.run(awaited(fresh)), "threads": decide_threads() > 0}

    children = [forking.start(functools.partial(worker, f"forked-verify-{i}")) for i in range(2)]
    reports = [forking.finish(*child, timeout=10) for child in children]
    assert reports == [{"action": "forward", "threads": True}] * 2, reports
    assert asyncio.run(awaited(rs256(claims(now, client_id="forked-verify-parent-2", scope="tag:files")))) == "forward"


def test_a_loop_closed_with_a_decision_still_waiting_is_freed(redis_url: str) -> None:
    # asyncio.run cancels a decision still waiting on Redis when its main
    # coroutine ends. The cancelled future must not stay listed with the
    # loop's waker: it holds its loop, which would then never be freed
    # (with the two sockets the loop watched).
    import gc
    import weakref

    guard = mcpguard.Guard.from_json(config(redis_url))
    token = rs256(claims(int(time.time()), client_id="abandoned-app", scope="tag:files"))
    guard.validate(token)
    options = mcpguard.HttpOptions(server="files", read_body=False)
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def abandon() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        asyncio.ensure_future(guard.authorize_http_async(options, *http_request(token)))
        await asyncio.sleep(0.01)  # begun, now waiting on the slowed Redis

    sleeper = redis_sleep(redis_url, 0.3)
    asyncio.run(abandon())
    gc.collect()
    assert loops[0]() is None, "the closed loop is still referenced"
    sleeper.join()
    # The decision finished for a loop that is gone; later ones still work.
    assert asyncio.run(guard.authorize_http_async(options, *http_request(token))).action == "forward"
