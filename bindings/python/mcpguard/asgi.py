"""mcpguard for any ASGI app: ``GuardMiddleware``.

The middleware only converts: it hands the core what the ASGI server
received (method, path, the raw query string, every header as bytes, the
client address and, for a ``POST`` to a server, the body) through
``Guard.authorize_http``, and does what the core answers. Everything a
request means is decided there, the same way for every binding:

- the RFC 9728 metadata document at ``guard.metadata_path()`` (``GET``,
  ``HEAD``, ``OPTIONS``; the query is ignored), unguarded;
- a CORS preflight passes to the app unguarded;
- the ``Authorization`` header (two of them are a 400), 1MCP's ``tags``,
  ``tag-filter`` and ``preset`` query parameters (one at most);
- the JSON-RPC body of a ``POST`` (single or batch): every tool it calls is
  authorized on the server, in one decision charged once; a body that cannot
  be read, or one over ``max_body_bytes``, is a 400, never "no tools";
- the rate limit (keyed by the client's address, or by ``key``).

A refusal is sent as the core built it (status, headers, JSON body). An
allowed request reaches the app with the principal in the ASGI scope
(``principal(scope)``, ``decision(scope)``) and the rate-limit headers added
to its response. A ``tools/list``, ``prompts/list``, ``resources/list`` or
``resources/templates/list`` response (JSON, or an SSE stream of ``data:``
events) is buffered and filtered down to what the principal may call before
it is sent. ``X-Forwarded-For`` is not trusted: behind a proxy, pass a
``key`` that reads the header your proxy sets.

>>> app = GuardMiddleware(server.streamable_http_app(), guard, server="files")
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mcpguard._loop import authorize_http_async, off_loop
from mcpguard._native import FILTERED_BODY_DROPS, Decision, Guard, HttpBody, HttpDecision, HttpOptions, Principal

__all__ = ["GuardMiddleware", "principal", "decision"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PRINCIPAL_KEY = "mcpguard.principal"
DECISION_KEY = "mcpguard.decision"

#: The app's response headers a filtered listing drops, as ASGI names them.
_DROPPED = frozenset(name.encode("latin-1") for name in FILTERED_BODY_DROPS)

#: At most this many per-server ``HttpOptions`` are kept for a ``server``
#: function (beyond it the set is rebuilt: the names may come from paths).
_MAX_SERVER_OPTIONS = 256


def principal(scope: Scope) -> Principal | None:
    """The principal ``GuardMiddleware`` admitted this request for (``None`` if anonymous)."""
    value = scope.get(PRINCIPAL_KEY)
    return value if isinstance(value, Principal) else None


def decision(scope: Scope) -> Decision | None:
    """The ``Decision`` ``GuardMiddleware`` made for this request."""
    value = scope.get(DECISION_KEY)
    return value if isinstance(value, Decision) else None


class GuardMiddleware:
    """ASGI middleware that puts a ``Guard`` in front of an app.

    ``server``: the MCP server the app serves, or ``f(scope) -> str | None``
    choosing it per request. ``read_body``: read ``POST`` bodies for the
    tools they call and the listings they ask for (default: on when there is
    a server; ``tool_from_body`` is its old name); a server function that
    returns ``None`` with ``read_body=True`` is the host's error (the core's
    ``ConfigError``). ``key``: ``f(scope) -> str | None`` giving the
    rate-limit key (default: the client's address). ``cost``: the rate-limit
    cost of one call, or ``f(scope) -> int | None``. ``max_body_bytes``: the
    largest body read (larger is a 400). ``serve_metadata``: answer
    ``guard.metadata_path()``. ``listing_items``: how listed items map to
    servers (``HttpOptions``). ``offload``: keep decisions that wait on
    the network from holding the event loop, so that a round trip to Redis
    or to an introspection endpoint does not stall other requests; default
    ``guard.waits_on_network()``, on exactly when a decision may wait on
    the network. Such a Guard's decisions go through
    ``Guard.authorize_http_async``: a request the guard can take from
    memory awaits its pipelined Redis check on the loop, holding no thread;
    any other (a signature to check first) is decided on one of
    mcpguard's own decision threads, free again once its Redis check is
    sent; neither holds the loop's default executor. For a Guard that
    does not wait on the network, ``offload=True`` decides every request on
    that executor. Under an event loop other than asyncio's, the decision
    is made in place. Options the core refuses raise ``ConfigError``
    here.
    """

    def __init__(
        self,
        app: ASGIApp,
        guard: Guard,
        *,
        server: str | Callable[[Scope], str | None] | None = None,
        read_body: bool | None = None,
        tool_from_body: bool | None = None,
        key: Callable[[Scope], str | None] | None = None,
        cost: int | Callable[[Scope], int | None] = 1,
        max_body_bytes: int = 4 * 1024 * 1024,
        serve_metadata: bool = True,
        listing_items: dict[str, Any] | None = None,
        offload: bool | None = None,
    ) -> None:
        """Wraps ``app``; see the class doc for the options."""
        if tool_from_body is not None:
            if read_body is not None and read_body != tool_from_body:
                raise TypeError("tool_from_body is the old name of read_body: give one of them")
            read_body = tool_from_body
        self.app = app
        self.guard = guard
        self._network = guard.waits_on_network()
        self._offload = self._network if offload is None else bool(offload)
        self.server = server
        self.key = key
        self._cost = cost if callable(cost) else None
        self._settings: dict[str, Any] = {
            "read_body": read_body,
            "max_body_bytes": max_body_bytes,
            "serve_metadata": serve_metadata,
            "listing_items": listing_items,
            "cost": None if callable(cost) else cost,
        }
        self._by_server: dict[str | None, HttpOptions] = {}
        if callable(server):
            # Checked once here: the options of a request with no server.
            # With read_body=True they are refused when first needed.
            if read_body is not True:
                self._options(None)
        else:
            self._static = self._options(server)

    def _options(self, server: str | None) -> HttpOptions:
        """The endpoint options for requests to ``server`` (read by the core)."""
        options = self._by_server.get(server)
        if options is None:
            if len(self._by_server) >= _MAX_SERVER_OPTIONS:
                self._by_server.clear()
            options = HttpOptions(server=server, **self._settings)
            self._by_server[server] = options
        return options

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Decides the request, then answers it or hands it to the app."""
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        server = self.server
        options = self._options(server(scope)) if callable(server) else self._static
        http = kind == "http"
        method = scope.get("method", "GET") if http else "GET"
        body: bytes | HttpBody | None = None
        if http and method == "POST" and options.read_body:
            body, receive = await _read_body(receive, options.max_body_bytes)
        args = (
            options,
            method,
            scope.get("path", ""),
            scope.get("query_string", b""),
            scope.get("headers", ()),
            _client_address(scope),
            body,
        )
        key = self.key(scope) if self.key is not None else None
        cost = self._cost(scope) if self._cost is not None else None
        if self._offload and self._network:
            result = await authorize_http_async(self.guard, *args, key=key, cost=cost)
        elif self._offload:
            result = await off_loop(functools.partial(self.guard.authorize_http, *args, key=key, cost=cost))
        else:
            result = self.guard.authorize_http(*args, key=key, cost=cost)
        action = result.action
        if action == "pass":
            await self.app(scope, receive, send)
            return
        if action == "respond":
            if not http:
                refused = result.decision
                reason = (refused.error if refused is not None else None) or ""
                await send({"type": "websocket.close", "code": 1008, "reason": reason})
                return
            await send({"type": "http.response.start", "status": result.status, "headers": result.asgi_headers})
            await send({"type": "http.response.body", "body": result.body})
            return

        scope = dict(scope)
        scope[PRINCIPAL_KEY] = result.principal
        scope[DECISION_KEY] = result.decision
        extra = result.asgi_headers
        if not http:
            await self.app(scope, receive, send)
        elif result.filters_response:
            await self.app(scope, receive, _FilteringSend(send, result, extra))
        elif extra:
            await self.app(scope, receive, _adding_headers(send, extra))
        else:
            await self.app(scope, receive, send)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | HttpBody, Receive]:
    """Buffers the request body up to ``limit`` bytes (one more means
    ``HttpBody.TOO_LARGE``); returns it and a ``receive`` that replays the
    buffered messages to the app before the server's own."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    too_large = False
    while True:
        message = await receive()
        messages.append(message)
        if message.get("type") != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            too_large = True
            break
        chunks.append(chunk)
        if not message.get("more_body", False):
            break

    async def replay() -> Message:
        """The next buffered message, then the server's own."""
        if messages:
            return messages.pop(0)
        return await receive()

    body: bytes | HttpBody = HttpBody.TOO_LARGE if too_large else b"".join(chunks)
    return body, replay


def _adding_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """A ``send`` that adds ``extra`` to the app's response headers."""

    async def send_with_headers(message: Message) -> None:
        """Adds the decision's rate-limit headers to the response start."""
        if message.get("type") == "http.response.start":
            message = dict(message)
            message["headers"] = [*message.get("headers", ()), *extra]
        await send(message)

    return send_with_headers


class _FilteringSend:
    """A ``send`` that buffers the app's whole response, has the core filter
    the listing in it, and sends the result with its ``Content-Length``
    fixed (or the core's 502 when the response cannot be read)."""

    def __init__(self, send: Send, result: HttpDecision, extra: list[tuple[bytes, bytes]]) -> None:
        self._send = send
        self._result = result
        self._extra = extra
        self._start: Message | None = None
        self._chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        """Buffers the response; sends it once complete."""
        kind = message.get("type")
        if kind == "http.response.start":
            self._start = message
            return
        if kind != "http.response.body" or self._start is None:
            await self._send(message)
            return
        self._chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        await self._flush(self._start, b"".join(self._chunks))

    async def _flush(self, start: Message, body: bytes) -> None:
        headers = list(start.get("headers", ()))
        content_type = next((v.decode("latin-1") for n, v in headers if n.lower() == b"content-type"), None)
        out = self._result.filter_response(content_type, body)
        if not isinstance(out, bytes):
            # The listing could not be read: the core's 502, never the listing.
            await self._send({"type": "http.response.start", "status": out.status, "headers": out.asgi_headers})
            await self._send({"type": "http.response.body", "body": out.body})
            return
        kept = [(n, v) for n, v in headers if n.lower() not in _DROPPED]
        kept += [(b"content-length", str(len(out)).encode()), *self._extra]
        await self._send({**start, "headers": kept})
        await self._send({"type": "http.response.body", "body": out})


def _client_address(scope: Scope) -> str | None:
    """The peer address the server saw (never a forwarded-for header)."""
    client = scope.get("client")
    if client and client[0]:
        return str(client[0])
    return None
