"""Loopback ports and the redis-server the Redis tests start."""

from __future__ import annotations

import shutil
import socket
import time


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_node_port() -> int:
    """A free port for a Redis Cluster node: its bus listens 10,000 higher,
    so the port is at most 55535 (redis-server refuses any higher) and that
    one is free too."""
    while True:
        port = free_port()
        if port > 55535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port


def wait_listening(port: int, timeout: float = 10.0) -> None:
    """Returns once something accepts connections on ``port``; raises after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def redis_server() -> str:
    """The redis-server binary."""
    server = shutil.which("redis-server")
    assert server, "redis-server is missing: `make test` installs Debian's redis-server package"
    return server
