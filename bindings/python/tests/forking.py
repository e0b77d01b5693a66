"""Runs test code in a child forked from the test process, as a
pre-forking server's worker runs: the child's report comes back as JSON
over a pipe, and a child that hangs is killed and reported, not waited
for."""

from __future__ import annotations

import json
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any


def start(work: Callable[[], dict[str, Any]]) -> tuple[int, int]:
    """Forks a child that runs ``work`` and sends back its report (or the
    exception it raised); returns the child's pid and the pipe to read."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            report = work()
        except BaseException as e:  # reported to the parent, which fails the test
            report = {"error": repr(e)}
        os.write(write, json.dumps(report).encode())
        os._exit(0)
    os.close(write)
    return pid, read


def finish(pid: int, read: int, timeout: float = 30) -> dict[str, Any]:
    """The child's report; ``{"error": "hung"}`` when it sent nothing
    within ``timeout`` (it is killed then)."""
    chunks = []
    deadline = time.monotonic() + timeout
    with os.fdopen(read, "rb") as pipe:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([pipe], [], [], max(left, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return {"error": "hung"}
            chunk = os.read(pipe.fileno(), 65536)
            if not chunk:
                break
            chunks.append(chunk)
    os.waitpid(pid, 0)
    return dict(json.loads(b"".join(chunks) or b'{"error": "no report"}'))
