"""mcpguard for any ASGI app: ``GuardMiddleware``.

Each HTTP request is decided by the full Guard (token, 1MCP's tag filter and
server/tool access, rate limit). A refusal is answered here with its status
(400/401/403/429), a JSON body ``{"error", "error_description"}`` and every
header of the decision (``WWW-Authenticate``, rate-limit headers,
``Retry-After``). An allowed request reaches the app with the rate-limit
headers added to its response and the principal in the ASGI scope
(``principal(scope)``, or ``scope["mcpguard.principal"]``).

The RFC 9728 metadata document is served at ``guard.metadata_path()``
(``GET``/``HEAD``, and CORS preflight), without authorization.

What the middleware reads from the request is HTTP plumbing, not policy:

- the filter from 1MCP's query parameters ``tags``, ``tag-filter`` and
  ``preset`` (URL-decoded);
- the server from the ``server`` option: a name, or a function of the ASGI
  scope;
- the tool, when ``tool_from_body=True``, from a JSON-RPC ``tools/call``
  body (buffered, up to ``max_body_bytes``, and replayed to the app);
- the rate-limit key from the client's address, unless ``key`` gives a
  function of the scope. ``X-Forwarded-For`` is not trusted: behind a proxy,
  pass a ``key`` that reads the header your proxy sets.

>>> app = GuardMiddleware(server.streamable_http_app(), guard, server="files")
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from mcpguard._native import Decision, Guard, Principal, tools_called

__all__ = ["GuardMiddleware", "principal", "decision"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PRINCIPAL_KEY = "mcpguard.principal"
DECISION_KEY = "mcpguard.decision"


def principal(scope: Scope) -> Principal | None:
    """The principal ``GuardMiddleware`` admitted this request for (``None`` if anonymous)."""
    value = scope.get(PRINCIPAL_KEY)
    return value if isinstance(value, Principal) else None


def decision(scope: Scope) -> Decision | None:
    """The ``Decision`` ``GuardMiddleware`` made for this request."""
    value = scope.get(DECISION_KEY)
    return value if isinstance(value, Decision) else None


def _header(scope: Scope, name: bytes) -> str | None:
    """A request header's value (``name`` in lower case), or ``None``."""
    # Repeated headers are joined with ", " (RFC 9110 §5.3): two
    # Authorization headers then read as two credentials, which the Guard
    # refuses as malformed.
    values = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name]
    return ", ".join(values) if values else None


class _BodyTooLarge(Exception):
    """The request body passed ``max_body_bytes`` while being buffered."""


class GuardMiddleware:
    """ASGI middleware that puts a ``Guard`` in front of an app.

    ``server``: the target server's name, or ``f(scope) -> str | None``.
    ``tool_from_body``: read the tool of a JSON-RPC ``tools/call`` POST body
    (needs ``server``). ``key``: ``f(scope) -> str | None`` giving the
    fallback rate-limit key (default: the client's address).
    ``serve_metadata``: answer ``guard.metadata_path()`` with the RFC 9728
    document.
    """

    def __init__(
        self,
        app: ASGIApp,
        guard: Guard,
        *,
        server: str | Callable[[Scope], str | None] | None = None,
        tool_from_body: bool = False,
        key: Callable[[Scope], str | None] | None = None,
        max_body_bytes: int = 4 * 1024 * 1024,
        serve_metadata: bool = True,
    ) -> None:
        """Wraps ``app``; see the class doc for the options."""
        if tool_from_body and server is None:
            raise ValueError("tool_from_body needs server: a tool is authorized on its server")
        self.app = app
        self.guard = guard
        self.server = server
        self.tool_from_body = tool_from_body
        self.key = key
        self.max_body_bytes = max_body_bytes
        self.serve_metadata = serve_metadata
        self._metadata_path = guard.metadata_path().split("?", 1)[0]
        self._metadata_body = json.dumps(guard.metadata_document()).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Decides the request, then answers it or hands it to the app."""
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if kind == "http" and self.serve_metadata and scope.get("path") == self._metadata_path:
            await self._serve_metadata(scope, send)
            return
        if kind == "http" and _is_preflight(scope):
            # Browsers send no credentials on a CORS preflight; the app's
            # CORS handling answers it.
            await self.app(scope, receive, send)
            return

        tools: list[str | None] = [None]  # never empty: one decision at least
        if kind == "http" and self.tool_from_body and scope.get("method") == "POST":
            try:
                body = await self._read_body(receive)
            except _BodyTooLarge:
                await _send_json(send, 413, [], {"error": "invalid_request", "error_description": "Request body too large"})
                return
            receive = _replay(body, receive)
            body_bytes = b"".join(m.get("body", b"") for m in body if m.get("type") == "http.request")
            tools = [*tools_called(body_bytes)] or [None]

        server = self.server(scope) if callable(self.server) else self.server
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        key = self.key(scope) if self.key is not None else _client_address(scope)
        authorization = _header(scope, b"authorization")

        # One decision per called tool (a JSON-RPC batch may call several);
        # the first refusal answers the request.
        for tool in tools:
            result = self.guard.authorize(
                authorization=authorization,
                server=server,
                tool=tool,
                query=query,
                key=key,
            )
            if not result.allowed:
                break

        if not result.allowed:
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": result.error or ""})
                return
            body_doc = {"error": result.error, "error_description": result.error_description}
            await _send_json(send, result.status, result.headers, body_doc)
            return

        scope = dict(scope)
        scope[PRINCIPAL_KEY] = result.principal
        scope[DECISION_KEY] = result
        extra = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in result.headers]
        if not extra or kind != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            """Adds the decision's rate-limit headers to the app's response."""
            if message.get("type") == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _serve_metadata(self, scope: Scope, send: Send) -> None:
        """Answers the metadata path: the document, a CORS preflight, or 405."""
        cors = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
        ]
        method = scope.get("method", "GET")
        if method == "OPTIONS":
            requested = _header(scope, b"access-control-request-headers")
            headers = [
                *cors,
                (b"access-control-allow-headers", (requested or "*").encode("latin-1")),
                (b"access-control-max-age", b"86400"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if method not in ("GET", "HEAD"):
            headers = [*cors, (b"allow", b"GET, HEAD, OPTIONS"), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 405, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [
            *cors,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._metadata_body)).encode()),
            (b"cache-control", b"public, max-age=3600"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else self._metadata_body})

    async def _read_body(self, receive: Receive) -> list[Message]:
        """Buffers the request body's messages (to be replayed to the app)."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message.get("type") != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            if not message.get("more_body", False):
                return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives the buffered messages first, then the real one."""
    pending = list(messages)

    async def replay() -> Message:
        """The next buffered message, then the server's own."""
        if pending:
            return pending.pop(0)
        return await receive()

    return replay




def _client_address(scope: Scope) -> str | None:
    """The peer address the server saw (never a forwarded-for header)."""
    client = scope.get("client")
    if client and client[0]:
        return str(client[0])
    return None


def _is_preflight(scope: Scope) -> bool:
    """A CORS preflight: ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``."""
    return (
        scope.get("method") == "OPTIONS"
        and _header(scope, b"origin") is not None
        and _header(scope, b"access-control-request-method") is not None
    )


async def _send_json(send: Send, status: int, headers: list[tuple[str, str]], doc: dict[str, Any]) -> None:
    """Sends a complete JSON response with the given extra headers."""
    body = json.dumps(doc).encode()
    raw = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    raw += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
