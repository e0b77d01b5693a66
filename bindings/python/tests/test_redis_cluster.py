"""A Redis Cluster from Python, configured by JSON alone (``url`` and
``urls``): two Guards on three real primaries (``redis-server
--cluster-enabled yes`` joined by ``redis-cli --cluster create``) share one
budget and a revocation. A client's keys live on the node that holds its
hash slot; the Guards find it themselves."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mcpguard
from servers import free_node_port, redis_server, wait_listening
from tokens import ISSUER, RESOURCE, claims, jwks, rs256

LIMIT = 8


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[str]]:
    """Three primaries joined into one cluster, every slot served; their URLs."""
    server, cli = redis_server(), shutil.which("redis-cli")
    assert cli, "redis-cli is missing (Debian's redis-tools, which redis-server needs)"
    ports = [free_node_port() for _ in range(3)]
    procs = [
        subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / f"nodes-{port}.conf")]
            + ["--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for port in ports:
            wait_listening(port)
        addresses = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run([cli, "--cluster", "create", *addresses, "--cluster-yes"], check=True, capture_output=True)
        deadline = time.monotonic() + 30
        while not all(
            "cluster_state:ok" in subprocess.run([cli, "-p", str(port), "CLUSTER", "INFO"], capture_output=True, text=True).stdout
            for port in ports
        ):
            assert time.monotonic() < deadline, "the cluster never became ok"
            time.sleep(0.05)
        yield [f"redis://127.0.0.1:{port}" for port in ports]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def guard(urls: list[str]) -> mcpguard.Guard:
    config: dict[str, Any] = {
        "resource": RESOURCE,
        "auth": {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}]},
        "servers": {"files": {"tags": ["files"]}},
        "rate_limit": {"limit": LIMIT, "window_seconds": 3600},
        "store": {"redis": {"url": urls[0], "urls": urls[1:], "prefix": "py-cluster:", "timeout_ms": 500}},
    }
    return mcpguard.Guard.from_json(config)


def test_two_guards_on_a_cluster_share_one_budget_and_a_revocation(cluster: list[str]) -> None:
    a, b = guard(cluster), guard(cluster)
    token = rs256(claims(int(time.time()), client_id="cluster-app", scope="tag:files", jti="py-cluster-1"))
    bearer = f"Bearer {token}"
    statuses = [(a if i % 2 == 0 else b).authorize(authorization=bearer, server="files").status for i in range(2 * LIMIT)]
    assert statuses == [200] * LIMIT + [429] * LIMIT

    other = rs256(claims(int(time.time()), client_id="cluster-revoked", scope="tag:files", jti="py-cluster-2"))
    b.validate(other)
    a.revoke(other)
    revoked = time.monotonic()
    while True:
        try:
            b.validate(other)
        except mcpguard.InvalidToken as e:
            assert e.reason == "revoked"
            break
        assert time.monotonic() - revoked < 1.5, "b still admits the revoked token"
        time.sleep(0.01)
