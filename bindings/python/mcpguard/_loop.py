"""Running a Guard call off the event loop, or awaiting it on the loop, for
the drop-ins and ``Guard.authorize_http_async``."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from mcpguard import _native

T = TypeVar("T")


async def off_loop(call: Callable[[], T]) -> T:
    """``call()`` on the running asyncio loop's default executor (the
    extension releases the GIL while a decision waits on the network); in
    place under any other event loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return call()
    return await loop.run_in_executor(None, call)


class _Waker:
    """Where the extension hands one loop its finished decisions: the
    store's I/O thread queues them in ``completions`` and writes a byte to
    a socket this loop reads, without taking the GIL; the reader callback
    settles every queued decision's future at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.completions = _native.Completions()
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        # Kept while the loop lives (`_wakers`); the sockets close with it.
        loop.add_reader(self.completions.fileno(), self._drain)

    def _drain(self) -> None:
        # A result is a decision, a principal, or the exception to raise.
        for ident, result in self.completions.drain():
            future = self.waiting.pop(ident, None)
            if future is None or future.done():
                continue  # the awaiting request was cancelled
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


_wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Waker | None] = weakref.WeakKeyDictionary()


def _waker(loop: asyncio.AbstractEventLoop) -> _Waker | None:
    """This loop's waker; ``None`` for a loop that cannot watch a socket
    (Windows' proactor loop) or a platform without the extension's
    ``Completions``."""
    try:
        return _wakers[loop]
    except KeyError:
        pass
    waker: _Waker | None
    try:
        waker = _Waker(loop)
    except (AttributeError, NotImplementedError, OSError):
        waker = None
    _wakers[loop] = waker
    return waker


async def authorize_http_async(
    guard: _native.Guard,
    options: _native.HttpOptions,
    method: str,
    path: str,
    query: bytes | str | None = None,
    headers: Any = None,
    peer: str | None = None,
    body: bytes | _native.HttpBody | None = None,
    *,
    server: str | None = None,
    key: str | None = None,
    cost: int | None = None,
) -> _native.HttpDecision:
    """``Guard.authorize_http_async`` (see its doc)."""
    now = functools.partial(
        guard.authorize_http, options, method, path, query, headers, peer, body, server=server, key=key, cost=cost
    )
    if not guard.waits_on_network():
        return now()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return now()
    waker = _waker(loop)
    if waker is None:
        return await loop.run_in_executor(None, now)
    begun = guard._authorize_http_begin(
        waker.completions, options, method, path, query, headers, peer, body, server=server, key=key, cost=cost
    )
    if isinstance(begun, _native.HttpDecision):
        return begun
    # Waiting on the store, or (a signature to check, a key set to fetch,
    # the revocation epoch to read first) on one of mcpguard's own
    # decision threads: either way the answer arrives through the waker.
    decided: _native.HttpDecision = await _arrival(loop, waker, begun)
    return decided


async def validate_async(guard: _native.Guard, token: str) -> _native.Principal:
    """``guard.validate(token)`` for a Guard whose validation may wait on
    the network, awaited: answered here when the guard can take it from
    memory, else validated on one of mcpguard's own decision threads (never
    the loop's default executor) and delivered through the loop's waker.
    Raises as ``validate`` does."""
    principal = guard._validate_in_memory(token)
    if principal is not None:
        return principal
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return guard.validate(token)
    waker = _waker(loop)
    if waker is None:
        return await loop.run_in_executor(None, functools.partial(guard.validate, token))
    validated: _native.Principal = await _arrival(loop, waker, guard._validate_begin(waker.completions, token))
    return validated


async def _arrival(loop: asyncio.AbstractEventLoop, waker: _Waker, ident: int) -> Any:
    """What arrives through ``waker`` under ``ident`` (raised when it is
    an exception)."""
    future: asyncio.Future[Any] = loop.create_future()
    waker.waiting[ident] = future
    try:
        return await future
    finally:
        # Cancelled, it must not stay listed: the future holds its loop,
        # and a loop its waker still pointed at would never be freed.
        waker.waiting.pop(ident, None)
