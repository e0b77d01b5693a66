"""The conformance runner: every vector file in ``$MCPGUARD_CONFORMANCE_DIR``
through the Python API, one pytest case per vector case (``file/case``).

Cases of a file run in order against one Guard on the file's manual clock
(rate-limit state and clock moves carry over). A case run on its own (``-k``)
first replays the cases before it, so state is the same either way. The
comparison mirrors core/tests/conformance.rs: partial match, ``_set`` keys as
sets, numbers numerically, ``error_contains`` as a substring,
``headers_contain`` / ``headers_not_contain`` case-insensitive by name. The
``insert_opaque`` and ``introspect`` ops of ``conformance/README.md`` go
through ``Guard.insert_opaque`` (the entry as a dict) and
``Guard.validate_introspection``. The ``http`` op (``http_edge.json``) sends
the raw request through the ASGI ``GuardMiddleware`` built with the file's
``options``, in front of an ASGI app that answers the case's ``app``, and
compares the response the client gets (status, headers, body; see
``conformance/generator/src/lib.rs``, module ``http_vectors``). An unknown
op fails.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

import mcpguard
from conftest import conformance_dir
from mcpguard.asgi import GuardMiddleware

REQUEST_KEYS = {"authorization", "server", "tool", "filter", "key", "cost"}


def _vector_files() -> list[Path]:
    return sorted(p for p in conformance_dir().glob("*.json") if p.is_file())


def _params() -> list[Any]:
    params = []
    for path in _vector_files():
        try:
            doc = json.loads(path.read_text())
            cases = doc["cases"]
        except (ValueError, KeyError, TypeError) as e:
            params.append(pytest.param(path, -1, id=f"{path.name}/<unreadable: {e}>"))
            continue
        for i, case in enumerate(cases):
            name = case.get("name", f"#{i}") if isinstance(case, dict) else f"#{i}"
            params.append(pytest.param(path, i, id=f"{path.name}/{name}"))
    return params


@dataclass
class FileState:
    """One file's guard, clock, and how many of its cases have run."""

    doc: dict[str, Any]
    guard: mcpguard.Guard
    clock: mcpguard.ManualClock
    next_case: int = 0
    failures: dict[int, str] = field(default_factory=dict)
    middleware: GuardMiddleware | None = None


_states: dict[Path, FileState] = {}


def _fresh(path: Path) -> FileState:
    doc = json.loads(path.read_text())
    clock = mcpguard.ManualClock(doc["clock"])
    guard = mcpguard.Guard.from_json(doc["config"], clock=clock)
    return FileState(doc=doc, guard=guard, clock=clock)


def _state_for(path: Path, index: int) -> FileState:
    state = _states.get(path)
    if state is None or state.next_case > index:
        state = _states[path] = _fresh(path)
    while state.next_case < index:
        # Replay earlier cases for their effect on state; their own test
        # reports whether they passed.
        try:
            run_case(state, state.doc["cases"][state.next_case])
        except Exception:  # noqa: BLE001 - already reported by that case's test
            pass
        state.next_case += 1
    return state


@pytest.mark.parametrize(("path", "index"), _params())
def test_vector(path: Path, index: int) -> None:
    """One vector case behaves as the file says, through the Python API."""
    assert index >= 0, f"{path.name} is not a readable vector file"
    state = _state_for(path, index)
    state.next_case = index + 1
    run_case(state, state.doc["cases"][index])


def test_the_vector_folder_is_not_empty() -> None:
    """A misconfigured folder fails instead of passing with zero cases."""
    assert _vector_files(), f"no vector files in {conformance_dir()}"


# ----- one case -----


def _filter(case: dict[str, Any]) -> mcpguard.TagFilter:
    kinds = [k for k in ("tags", "tag_filter", "tag_query") if k in case]
    if len(kinds) != 1:
        raise AssertionError(f"a filter case needs exactly one of tags, tag_filter, tag_query; got {kinds}")
    kind = kinds[0]
    if kind == "tags":
        return mcpguard.TagFilter.parse(tags=case["tags"])
    if kind == "tag_filter":
        return mcpguard.TagFilter.parse(tag_filter=case["tag_filter"])
    return mcpguard.TagFilter.parse(tag_query=case["tag_query"])


def run_case(state: FileState, case: dict[str, Any]) -> None:
    guard = state.guard
    op = case.get("op")
    expect = case.get("expect")
    actual: Any
    if op == "validate":
        actual = _principal_result(guard.validate, case["token"])
    elif op == "authorize":
        request = case["request"]
        if isinstance(request, dict) and set(request) <= REQUEST_KEYS:
            decision = guard.authorize(**request)
        else:
            decision = guard.authorize_request(request)
        actual = decision.to_dict()
        if "headers_not_contain" in case:
            check_headers(actual, case["headers_not_contain"], present=False)
        if isinstance(expect, dict) and "headers_contain" in expect:
            check_headers(actual, expect["headers_contain"], present=True)
    elif op == "parse_filter":
        try:
            actual = {"ok": True, "tags": _filter(case).tags()}
        except mcpguard.InvalidRequest as e:
            actual = {"ok": False, "error": str(e)}
    elif op == "match_filter":
        actual = {"match": _filter(case).matches(case["server_tags"])}
    elif op == "validate_scopes":
        try:
            scopes = mcpguard.validate_scopes(case["requested"], case["available_tags"])
            actual = {"ok": True, "scopes": scopes, "errors": []}
        except mcpguard.InvalidRequest as e:
            actual = {"ok": False, "errors": e.errors}
    elif op == "scopes_to_tags":
        actual = {"tags": mcpguard.scopes_to_tags(case["scopes"])}
    elif op == "rate_limit":
        actual = guard.check_rate_limit(case["key"], case.get("cost", 1), case.get("rule")).to_dict()
    elif op == "http":
        if "advance" in case:
            state.clock.advance(case["advance"])
        actual = anyio.run(_http_case, _middleware(state), case)
        _compare_http(case.get("expect"), actual)
        return
    elif op == "advance":
        state.clock.advance(case["seconds"])
        actual = None
    elif op == "revoke":
        guard.revoke(case["token"])
        actual = None
    elif op == "metadata":
        actual = {"document": guard.metadata_document()}
    elif op == "insert_opaque":
        try:
            guard.insert_opaque(case["token"], case["entry"])
            actual = {"ok": True}
        except mcpguard.OpaqueStoreError as e:
            actual = {"ok": False, "error": e.code}
    elif op == "introspect":
        # An object goes in as a dict; a string is the response text as is
        # (so a vector can hold a repeated member).
        response = case["response"]
        if not isinstance(response, (dict, str)):
            raise AssertionError("introspect needs `response` (object or string)")
        actual = _principal_result(guard.validate_introspection, response)
    else:
        raise AssertionError(f"unknown op {op!r}")
    if expect is not None:
        partial_match(expect, actual, "")


def _principal_result(call: Callable[[Any], mcpguard.Principal], arg: Any) -> dict[str, Any]:
    """What ``validate`` and ``introspect`` compare: the principal with
    ``ok``, or the refusal's status, error and reason."""
    try:
        actual = call(arg).to_dict()
        actual["ok"] = True
        return actual
    except (mcpguard.InvalidToken, mcpguard.InsufficientScope) as e:
        return {"ok": False, "status": e.status, "error": e.error, "reason": e.reason}


def check_headers(decision: dict[str, Any], spec: dict[str, list[str]], *, present: bool) -> None:
    for name, subs in spec.items():
        values = [v for n, v in decision["headers"] if n.lower() == name.lower()]
        for sub in subs:
            found = any(sub in v for v in values)
            if present:
                assert found, f"header {name} should contain {sub!r}; got {values}"
            else:
                assert not found, f"header {name} should not contain {sub!r}; got {values}"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def partial_match(expect: Any, actual: Any, path: str) -> None:
    if isinstance(expect, dict):
        for k, v in expect.items():
            if k == "headers_contain" and path == "":
                continue
            if k.endswith("_set"):
                base = k[: -len("_set")]
                assert isinstance(actual, dict) and base in actual, f"{path}.{base}: missing"
                set_match(v, actual[base], f"{path}.{base}")
                continue
            if k == "error_contains":
                err = actual.get("error") if isinstance(actual, dict) else None
                assert isinstance(v, str) and isinstance(err, str), (
                    f"{path}.error: expected an error containing {v!r}, got {actual!r}"
                )
                assert v in err, f"{path}.error: expected text containing {v!r}, got {err!r}"
                continue
            a = actual.get(k) if isinstance(actual, dict) else None
            partial_match(v, a, f"{path}.{k}")
    elif isinstance(expect, list):
        assert isinstance(actual, list) and len(actual) == len(expect), f"{path}: expected {expect!r}, got {actual!r}"
        for i, (e, a) in enumerate(zip(expect, actual)):
            partial_match(e, a, f"{path}[{i}]")
    elif _is_number(expect):
        assert _is_number(actual) and math.isclose(actual, expect, rel_tol=0, abs_tol=1e-9), (
            f"{path}: expected {expect!r}, got {actual!r}"
        )
    else:
        assert expect == actual and type(expect) is type(actual), f"{path}: expected {expect!r}, got {actual!r}"


def set_match(expect: Any, actual: Any, path: str) -> None:
    assert isinstance(expect, list) and isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
    same = len(expect) == len(actual) and all(x in actual for x in expect) and all(x in expect for x in actual)
    assert same, f"{path}: expected the set {expect!r}, got {actual!r}"


# ----- op http: through GuardMiddleware -----

#: Headers a real server adds, left out of the comparison.
TRANSPORT_HEADERS = {"date", "connection", "keep-alive", "transfer-encoding", "x-powered-by"}
APP_KEY = "vector.app"
SERVER_KEY = "vector.server"


async def _vector_app(scope: Any, receive: Any, send: Any) -> None:
    """The application behind the middleware: reads the request, answers the
    case's ``app`` with exactly its Content-Type, Content-Length and headers."""
    while True:
        message = await receive()
        if message.get("type") != "http.request" or not message.get("more_body"):
            break
    app = scope[APP_KEY]
    body = app["body"].encode()
    headers = [(b"content-type", app["content_type"].encode("latin-1")), (b"content-length", str(len(body)).encode())]
    headers += [(n.encode("latin-1"), v.encode("latin-1")) for n, v in app.get("headers", [])]
    await send({"type": "http.response.start", "status": app["status"], "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _middleware(state: FileState) -> GuardMiddleware:
    """The file's middleware: its ``options`` as GuardMiddleware's options,
    and a server function for a case's routing choice (``request.server``)."""
    if state.middleware is None:
        options = dict(state.doc.get("options") or {})
        default = options.pop("server", None)

        def server(scope: Any) -> str | None:
            return scope.get(SERVER_KEY) or default

        state.middleware = GuardMiddleware(_vector_app, state.guard, server=server, **options)
    return state.middleware


def _latin1(text: str) -> bytes:
    return text.encode("latin-1")


async def _http_case(middleware: GuardMiddleware, case: dict[str, Any]) -> dict[str, Any]:
    """Sends the case's request through ``middleware`` as an ASGI server
    would (lower-case header names, the body in two messages) and returns
    the response the client gets."""
    r = case["request"]
    if "body" in r:
        body = r["body"].encode()
    elif "body_base64url" in r:
        b64 = r["body_base64url"]
        body = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
    else:
        body = b""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": r["method"],
        "scheme": "http",
        "path": r["path"],
        "raw_path": r["path"].encode(),
        "query_string": r.get("query", "").encode(),
        "headers": [(_latin1(n).lower(), _latin1(v)) for n, v in r["headers"]],
        "client": (r["peer"], 40000) if r.get("peer") else None,
        "server": ("testserver", 80),
        APP_KEY: case["app"],
    }
    if r.get("server"):
        scope[SERVER_KEY] = r["server"]
    half = len(body) // 2
    incoming = [
        {"type": "http.request", "body": body[:half], "more_body": True},
        {"type": "http.request", "body": body[half:], "more_body": False},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(dict(message))

    await middleware(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, f"expected one response start, got {sent!r}"
    out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in starts[0].get("headers", [])]
    return {"status": starts[0]["status"], "headers": headers, "body": out.decode("utf-8", "replace")}


def _normalized(headers: list[list[str]]) -> list[tuple[str, str]]:
    """Headers as (lower-case name, value), transport headers dropped, sorted stably by name."""
    pairs = [(n.lower(), v) for n, v in headers if n.lower() not in TRANSPORT_HEADERS]
    return sorted(pairs, key=lambda p: p[0])


def _compare_http(expect: Any, actual: dict[str, Any]) -> None:
    assert isinstance(expect, dict), "the case has no `expect`: bless the vectors"
    assert actual["status"] == expect["status"], f"status {actual['status']} where {expect['status']} was expected"
    e, a = _normalized(expect["headers"]), _normalized(actual["headers"])
    assert a == e, f"headers {a!r} where {e!r} were expected"
    assert actual["body"] == expect["body"], f"body {actual['body']!r} where {expect['body']!r} was expected"
