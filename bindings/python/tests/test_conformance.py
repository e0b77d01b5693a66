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
``Guard.validate_introspection``. An unknown op fails.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import mcpguard
from conftest import conformance_dir

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
