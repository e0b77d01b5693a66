"""mcpguard for the MCP Python SDK (the ``mcp`` package).

``GuardTokenVerifier`` is a ``TokenVerifier``: hand it to the SDK's server
(``MCPServer`` in ``mcp`` 2.x, ``FastMCP`` in 1.x; both take
``token_verifier=`` and ``auth=``) and every bearer token is checked by the
Guard (signature, issuer, audience, expiry, revocation, required scopes).
``auth_settings(guard)`` builds the matching ``AuthSettings``.

>>> from mcp.server import MCPServer
>>> guard = mcpguard.Guard.from_file("guard.json")
>>> server = MCPServer("files", token_verifier=GuardTokenVerifier(guard),
...                    auth=auth_settings(guard))

The SDK's own auth checks tokens only. For 1MCP's tag-based access and the
rate limits, wrap the server's HTTP app in ``mcpguard.asgi.GuardMiddleware``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mcpguard._errors import GuardError
from mcpguard._loop import validate_async
from mcpguard._native import Guard

if TYPE_CHECKING:
    from mcp.server.auth.provider import AccessToken
    from mcp.server.auth.settings import AuthSettings

__all__ = ["GuardTokenVerifier", "auth_settings"]

logger = logging.getLogger("mcpguard")


def _access_token_class() -> type[AccessToken]:
    """The SDK's ``AccessToken`` model."""
    # Imported on use so that `import mcpguard` never needs the SDK; the
    # module path is the same in mcp 1.x and 2.x.
    from mcp.server.auth.provider import AccessToken

    return AccessToken


class GuardTokenVerifier:
    """A ``TokenVerifier`` for the ``mcp`` SDK backed by a ``Guard``.

    ``verify_token`` returns the SDK's ``AccessToken`` for a token the Guard
    accepts and ``None`` for any other (the SDK then answers 401); it never
    raises. ``client_id`` falls back to the subject when the token names no
    client. ``resource`` is the Guard's resource: the Guard has already
    checked the token's audience against it, so the SDK's
    ``validate_token_resource`` passes. ``expires_at`` is
    ``guard.accepted_until(principal)`` (the token's ``exp`` plus the Guard's
    leeway), since the SDK checks expiry again itself: it then accepts
    exactly what the Guard accepts.

    The refusal's description (``"The token expired at ..."``) is logged on
    the ``mcpguard`` logger at INFO. The SDK cannot carry it to the client:
    its ``RequireAuthMiddleware`` answers every request without a user with
    the fixed ``error_description="Authentication required"``, and a
    verifier that raises Starlette's ``AuthenticationError`` instead gets a
    400 ``text/plain`` answer without a ``WWW-Authenticate`` challenge
    (``AuthenticationMiddleware``'s default ``on_error``, which the SDK
    does not replace), which would break clients' discovery. To answer with
    the real description, put ``mcpguard.asgi.GuardMiddleware`` in front of
    the SDK's app: it refuses the request first, with the core's 401 body and
    challenge.
    """

    def __init__(self, guard: Guard) -> None:
        """Wraps ``guard`` (shared; the verifier holds no state of its own)."""
        self.guard = guard
        self._offload = guard.waits_on_network()
        cls = _access_token_class()
        self._access_token = cls
        # Fill only the fields this SDK version's AccessToken has.
        fields = getattr(cls, "model_fields", {})
        self._optional_fields = {name for name in ("resource", "subject", "claims") if name in fields}

    async def verify_token(self, token: str) -> AccessToken | None:
        """The SDK's ``AccessToken`` for a valid token, else ``None``.

        Runs inline when everything is in process: a cached token takes
        nanoseconds and a signature check microseconds (with the GIL
        released), less than a thread hop. A Guard whose validation may wait
        on the network (``waits_on_network``: opaque tokens and revocations
        in Redis, an introspection endpoint) answers a token it can take
        from memory (cached, no revocation epoch to read) inline too, and
        validates any other on one of mcpguard's own decision threads, so
        that the loop goes on serving and its default executor, which the
        host shares, is never held by a token waiting on Redis.
        """
        try:
            if self._offload:
                principal = await validate_async(self.guard, token)
            else:
                principal = self.guard.validate(token)
        except GuardError as e:
            logger.info("bearer token refused (%s): %s", e.reason, e.description)
            return None
        extra: dict[str, Any] = {}
        if "resource" in self._optional_fields:
            extra["resource"] = self.guard.resource()
        if "subject" in self._optional_fields:
            extra["subject"] = principal.subject
        if "claims" in self._optional_fields:
            claims = principal.claims
            claims.setdefault("iss", principal.issuer)
            extra["claims"] = claims
        return self._access_token(
            token=token,
            client_id=principal.client_id or principal.subject or "",
            scopes=principal.effective_scopes,
            expires_at=self.guard.accepted_until(principal),
            **extra,
        )


def auth_settings(
    guard: Guard,
    *,
    issuer_url: str | None = None,
    required_scopes: list[str] | None = None,
) -> AuthSettings:
    """The SDK's ``AuthSettings`` for a server protected by ``guard``.

    ``issuer_url`` defaults to the first authorization server of the Guard's
    metadata document; ``resource_server_url`` is the Guard's resource.
    ``required_scopes`` is the SDK's own check (403 when a token lacks one);
    the Guard's ``auth.required_scopes`` applies either way.
    """
    from mcp.server.auth.settings import AuthSettings

    if issuer_url is None:
        servers = guard.metadata_document().get("authorization_servers") or []
        if not servers:
            raise ValueError("the guard names no authorization server: pass issuer_url")
        issuer_url = str(servers[0])
    options: dict[str, Any] = {
        "issuer_url": issuer_url,
        "resource_server_url": guard.resource(),
        "required_scopes": required_scopes,
    }
    if "validate_token_resource" in AuthSettings.model_fields:
        options["validate_token_resource"] = True
    return AuthSettings(**options)
