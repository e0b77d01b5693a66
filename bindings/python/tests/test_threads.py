"""One Guard shared by threads: authorizations racing key rotation."""

from __future__ import annotations

import threading
from typing import Any

import mcpguard
from conftest import NOW
from tokens import ISSUER, RESOURCE, RSA2_PRIVATE, claims, jwks, rs256



def test_threads_authorize_while_another_rotates_keys() -> None:
    guard = mcpguard.Guard.from_json(
        {
            "resource": RESOURCE,
            "auth": {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}]},
            "servers": {"files": {"tags": ["files"]}},
            "rate_limit": {"enabled": False},
        },
        clock=mcpguard.ManualClock(NOW),
    )
    events: list[dict[str, Any]] = []
    guard.on_audit(events.append)
    old = [rs256(claims(NOW, sub=f"old-{i}")) for i in range(8)]
    new = [rs256(claims(NOW, sub=f"new-{i}"), kid="rsa-2", key=RSA2_PRIVATE) for i in range(8)]
    stop = threading.Event()
    outcomes: list[tuple[str, str | None]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def rotate() -> None:
        try:
            sets = [jwks("rsa"), jwks("rsa", "rsa2")]
            i = 0
            while not stop.is_set():
                guard.set_jwks(ISSUER, sets[i % 2])
                i += 1
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def work(n: int) -> None:
        try:
            local = []
            for i in range(300):
                kind = "old" if (i + n) % 2 == 0 else "new"
                token = (old if kind == "old" else new)[i % 8]
                d = guard.authorize(authorization=f"Bearer {token}", server="files")
                local.append((kind, None if d.allowed else d.reason))
            with lock:
                outcomes.extend(local)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    rotator = threading.Thread(target=rotate)
    workers = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    rotator.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    rotator.join()

    assert not errors, errors
    assert len(outcomes) == 1200
    # Every set holds the old key: its tokens always pass. The new key
    # comes and goes: its tokens pass or are an unknown key, nothing else.
    assert {r for k, r in outcomes if k == "old"} == {None}
    assert {r for k, r in outcomes if k == "new"} <= {None, "unknown_key"}
    counters = guard.counters()
    assert counters["allowed"] + counters["denied_total"] == 1200
    assert len(events) == 1200, "each authorization is audited exactly once"
