"""mcpguard quick start (Python): one Guard, built from ``examples/guard.json``
(1MCP's security-guide example), answering a handful of requests.

Run it with ``make -C bindings/python demo``. The sample tokens in
``examples/tokens.json`` were signed once with the example's key; the Guard
runs on a manual clock pinned to 2026-01-01T00:00:00Z so that the output is
the same on every run (and the same as the Rust quick start's). A real host
calls ``Guard.from_file(path)`` and keeps the system clock.
"""

from __future__ import annotations

import json
from pathlib import Path

from mcpguard import Decision, Guard, ManualClock

DEMO_TIME = 1767225600
EXAMPLES = Path(__file__).resolve().parent.parent


def show(n: int, title: str, d: Decision) -> None:
    """Prints a decision the same way in every language's quick start."""
    print(f"[{n}] {title}")
    if d.allowed:
        print(f"    {d.status} allowed")
        print(f"    visible: {', '.join(d.visible_servers)}")
    else:
        print(f"    {d.status} {d.error} ({d.reason}): {d.error_description or ''}")
    for name, value in d.headers:
        print(f"    {name}: {value}")


def main() -> None:
    """Builds the guard and prints its decisions."""
    guard = Guard.from_file(EXAMPLES / "guard.json", clock=ManualClock(DEMO_TIME))
    tokens = json.loads((EXAMPLES / "tokens.json").read_text())

    def bearer(name: str) -> str:
        return f"Bearer {tokens[name]}"

    print("mcpguard quickstart: examples/guard.json, clock at 2026-01-01T00:00:00Z")
    # Compact, key-sorted JSON: the same text serde_json prints in the Rust quick start.
    document = json.dumps(guard.metadata_document(), separators=(",", ":"))
    print(f"metadata: {guard.metadata_path()} -> {document}")

    developer, analyst, demo = bearer("developer"), bearer("analyst"), bearer("demo")
    show(1, "developer lists servers", guard.authorize(authorization=developer))
    show(
        2,
        "analyst lists servers tagged web",
        guard.authorize(authorization=analyst, filter={"tags": "web"}),
    )
    show(
        3,
        "developer uses the 'local' preset",
        guard.authorize(authorization=developer, filter={"preset": "local"}),
    )
    show(4, "demo calls the database server", guard.authorize(authorization=demo, server="database"))
    show(
        5,
        "demo filters on a tag it was not granted",
        guard.authorize(authorization=demo, filter={"tag_filter": "web and database"}),
    )
    show(
        6,
        "developer calls filesystem/write_file",
        guard.authorize(authorization=developer, server="filesystem", tool="write_file"),
    )
    show(7, "no token", guard.authorize())
    show(8, "expired token", guard.authorize(authorization=bearer("expired")))
    show(9, "token for another resource", guard.authorize(authorization=bearer("wrong_audience")))

    # A burst from the demo client: 100 requests per 15 minutes.
    admitted = sum(guard.authorize(authorization=demo, server="web-search").allowed for _ in range(100))
    print(f"[10] demo sends a burst of 100 requests to web-search: {admitted} allowed")
    show(11, "demo sends one more", guard.authorize(authorization=demo, server="web-search"))


if __name__ == "__main__":
    main()
