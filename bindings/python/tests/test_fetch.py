"""Keys from the authorization server, configured by JSON alone: a Guard
whose issuer names a ``jwks_uri`` fetches the set itself (a loopback HTTP
server stands in for the identity provider) and validates its tokens; until
the keys arrive, the issuer's tokens are ``unknown_key``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import mcpguard
from tokens import ISSUER, RESOURCE, claims, jwks, rs256


class Provider:
    """Serves a JWK Set at /jwks.json and counts the fetches."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.hits = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                provider.hits += 1
                body = json.dumps(provider.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider(jwks("rsa"))
    yield p
    p.server.shutdown()


def test_a_guard_fetches_its_issuers_keys_from_the_jwks_uri(provider: Provider) -> None:
    config = {
        "resource": RESOURCE,
        "auth": {"issuers": [{"issuer": ISSUER, "jwks_uri": provider.url}]},
        "servers": {"files": {"tags": ["files"]}},
    }
    guard = mcpguard.Guard.from_json(config)
    token = rs256(claims(int(time.time())))
    deadline = time.monotonic() + 10
    while True:
        try:
            principal = guard.validate(token)
            break
        except mcpguard.InvalidToken as e:
            # Before the first fetch lands: the issuer's keys are unknown.
            assert e.reason == "unknown_key", e.reason
            assert time.monotonic() < deadline, "the keys never arrived"
            time.sleep(0.05)
    assert principal.issuer == ISSUER
    assert provider.hits >= 1


def test_a_worker_forked_after_the_guard_was_built_fetches_keys_of_its_own(provider: Provider) -> None:
    # fork copies only the forking thread: without mcpguard's at-fork hook
    # a pre-forked worker had no key-fetching thread (and dropping its
    # Guard would wait for ever on the parent's).
    import gc
    import os

    import forking
    from tokens import RSA2_PRIVATE

    config = {
        "resource": RESOURCE,
        "auth": {"issuers": [{"issuer": ISSUER, "jwks_uri": provider.url}]},
        "servers": {"files": {"tags": ["files"]}},
    }
    guard = mcpguard.Guard.from_json(config)
    now = int(time.time())
    old = rs256(claims(now))
    # Waits for the first fetch without validating meanwhile: a token
    # validated before the keys arrive is a refresh hint, and the child
    # would inherit that hint's cooldown.
    deadline = time.monotonic() + 10
    while provider.hits == 0:
        assert time.monotonic() < deadline, "the keys were never fetched"
        time.sleep(0.02)
    time.sleep(0.2)
    assert guard.validate(old).subject == "alice"
    # The provider rotates: the worker must fetch the new set itself.
    provider.document = jwks("rsa", "rsa2")
    new = rs256(claims(now), kid="rsa-2", key=RSA2_PRIVATE)
    guards = [guard]
    del guard  # the child drops the last reference

    def worker() -> dict[str, Any]:
        report: dict[str, Any] = {}
        # The thread names itself once it runs.
        until = time.monotonic() + 5
        while True:
            names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
            if "mcpguard-fetch" in names or time.monotonic() > until:
                break
            time.sleep(0.01)
        report["fetch_threads"] = names.count("mcpguard-fetch")
        until = time.monotonic() + 10
        while True:
            try:
                report["subject"] = guards[0].validate(new).subject
                break
            except mcpguard.InvalidToken as e:
                if time.monotonic() > until:
                    report["subject"] = e.reason
                    break
                time.sleep(0.05)
        start = time.monotonic()
        guards.clear()
        gc.collect()
        report["dropped_in"] = time.monotonic() - start
        return report

    report = forking.finish(*forking.start(worker))
    assert report.get("fetch_threads") == 1, report
    assert report.get("subject") == "alice", report
    assert report.get("dropped_in", 99) < 5, report
