"""mcpguard's Python binding with the Redis store against ``limits`` with
its Redis storage, on one ``redis-server`` started here (free port, no
persistence), in one run.

Each side enforces the same limit (a billion an hour, so nothing is denied
while it runs) on one client key: ``Guard.check_rate_limit`` with a
``store.redis`` configuration, against ``FixedWindowRateLimiter`` and
``MovingWindowRateLimiter`` over ``RedisStorage``. Per call: best of several
timed loops on one thread, in microseconds. Throughput: two threads calling
at once for a fixed time, calls per second together (mcpguard releases the
GIL for its round trip; ``limits`` holds it except while redis-py waits on
the socket). Target (issue 14): mcpguard faster per call, and at least the
peers' throughput with two threads.

Everything is measured twice in one run: as the scheduler places it, then
with the bench and its redis-server on CPU 0 (``taskset``, Linux). On this
VM a wakeup from one vCPU to another costs tens of microseconds, more than
the round trip itself on one vCPU, so the first block measures mostly the
hypervisor and the second the work each call makes its client and Redis do.

Run with ``make -C bindings/python bench`` (a release build).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import limits
import limits.storage
import limits.strategies

import mcpguard

KEY = "203.0.113.7"
PINNED = os.environ.get("MCPGUARD_BENCH_PINNED") == "1"
LIMIT = 1_000_000_000
WINDOW = 3600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[int]:
    exe = shutil.which("redis-server")
    assert exe, "redis-server is missing: `make bench` installs Debian's redis-server package"
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server never answered"
            time.sleep(0.02)
        yield port
    finally:
        proc.kill()
        proc.wait()


def per_call_us(fn: Callable[[], object], number: int = 3000, repeat: int = 5) -> float:
    fn()
    return min(timeit.Timer(fn).repeat(repeat=repeat, number=number)) / number * 1e6


def throughput(make: Callable[[], Callable[[], object]], threads: int = 2, seconds: float = 1.5) -> float:
    """Calls per second of ``threads`` threads together, each with its own
    callable from ``make`` (its own connection where the library pools)."""
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def run(i: int) -> None:
        fn = make()
        fn()
        start.wait()
        n = 0
        while not stop.is_set():
            fn()
            n += 1
        counts[i] = n

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - t0)


def main() -> int:
    with redis_server() as port:
        url = f"redis://127.0.0.1:{port}/0"

        def guard(algorithm: str) -> mcpguard.Guard:
            config = {
                "resource": "https://mcp.example.com/mcp",
                "rate_limit": {"limit": LIMIT, "window_seconds": WINDOW, "algorithm": algorithm},
                "store": {"redis": {"url": url, "prefix": f"py-{algorithm}:", "pool_size": 8}},
            }
            return mcpguard.Guard.from_json(json.dumps(config))

        item = limits.RateLimitItemPerHour(LIMIT)

        def peer(strategy: type) -> Callable[[], Callable[[], object]]:
            # One storage (connection pool) shared by the threads, as an
            # application would.
            storage = limits.storage.RedisStorage(url)
            limiter = strategy(storage)

            # The strategies store different types: a key of each's own.
            key = f"{KEY}-{strategy.__name__}"

            def make() -> Callable[[], object]:
                return lambda: limiter.hit(item, key)

            return make

        def ours(algorithm: str) -> Callable[[], Callable[[], object]]:
            g = guard(algorithm)

            def make() -> Callable[[], object]:
                return lambda: g.check_rate_limit(KEY)

            return make

        rows = [
            ("mcpguard fixed window", ours("fixed_window")),
            ("limits FixedWindowRateLimiter", peer(limits.strategies.FixedWindowRateLimiter)),
            ("mcpguard sliding window", ours("sliding_window")),
            ("limits MovingWindowRateLimiter", peer(limits.strategies.MovingWindowRateLimiter)),
        ]
        results = []
        for name, make in rows:
            results.append((name, per_call_us(make()), throughput(make)))
        placement = "everything on CPU 0" if PINNED else "as the scheduler places it"
        print(f"Python, Redis store, same redis-server, same run (limits {limits.__version__}), {placement}")
        print(f"{'check':34} {'µs/call':>9} {'calls/s, 2 threads':>20}")
        for name, us, tput in results:
            print(f"{name:34} {us:9.1f} {tput:20,.0f}")
        for ours_row, peer_row in ((results[0], results[1]), (results[2], results[3])):
            faster = ours_row[1] < peer_row[1]
            holds = ours_row[2] >= peer_row[2]
            print(
                f"{ours_row[0]} vs {peer_row[0]}: {peer_row[1] / ours_row[1]:.2f}x per call, "
                f"{ours_row[2] / peer_row[2]:.2f}x throughput "
                f"({'met' if faster and holds else 'NOT met'})"
            )
    if not PINNED:
        on_one_cpu()
    # A report: a loaded machine must not fail `make bench`.
    return 0


def on_one_cpu() -> None:
    """The same bench again with everything on CPU 0, when ``taskset`` can."""
    if shutil.which("taskset") is None:
        print("(not run on one CPU: no taskset)")
        return
    env = {**os.environ, "MCPGUARD_BENCH_PINNED": "1"}
    subprocess.run(["taskset", "-c", "0", sys.executable, __file__], env=env, check=True)


if __name__ == "__main__":
    raise SystemExit(main())
