"""The mcpguard exception hierarchy.

Every exception carries what a host needs to answer the client: its stable
``code``, the machine ``reason`` code of a refusal (see ``conformance.md``),
the HTTP ``status``, the OAuth ``error`` and, for token refusals, the
``www_authenticate`` challenge. All of them come from the core's one
classification of every error (``mcpguard::classify``): its family picks the
class (``config`` → ``ConfigError``, ``invalid_token`` → ``InvalidToken``,
``insufficient_scope`` → ``InsufficientScope``, ``invalid_request`` →
``InvalidRequest``, ``opaque_token`` → ``OpaqueTokenRejected``,
``opaque_store`` → ``OpaqueStoreError``, ``guard`` → ``GuardError``, e.g. a
full revocation list, status 503).
``Guard.authorize`` never raises these for a refused request (it returns a
``Decision``); the ``validate``-style calls and ``Decision.raise_for_status``
do. ``insert_opaque`` raises ``OpaqueStoreError`` (503 when the store is
full; no status when it is disabled).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "GuardError",
    "InvalidToken",
    "InsufficientScope",
    "RateLimited",
    "InvalidRequest",
    "ConfigError",
    "OpaqueStoreError",
    "OpaqueTokenRejected",
]


class GuardError(Exception):
    """Base class of every mcpguard error.

    ``code`` is the error's stable code (the OAuth error of a refusal,
    ``invalid_configuration``, ``revocation_list_full``, ``full``, ...);
    ``reason``, ``status``, ``error`` and ``www_authenticate`` are ``None``
    where they do not apply (a configuration error has no HTTP status).
    """

    code: str | None
    reason: str | None
    status: int | None
    error: str | None
    description: str
    www_authenticate: str | None

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        status: int | None = None,
        error: str | None = None,
        description: str | None = None,
        www_authenticate: str | None = None,
        code: str | None = None,
    ) -> None:
        """Builds the error; ``description`` defaults to ``message``."""
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.status = status
        self.error = error
        self.description = message if description is None else description
        self.www_authenticate = www_authenticate

    def headers(self) -> list[tuple[str, str]]:
        """The headers a response to this error should carry."""
        return [("WWW-Authenticate", self.www_authenticate)] if self.www_authenticate else []


class InvalidToken(GuardError):
    """A bearer token was refused (401 ``invalid_token``).

    ``refresh_jwks`` names the issuer whose JWK Set the host should fetch
    again (an unknown ``kid``), else ``None``.
    """

    refresh_jwks: str | None

    def __init__(
        self,
        message: str,
        *,
        refresh_jwks: str | None = None,
        scope: str | None = None,
        **common: Any,
    ) -> None:
        """Builds the error (``scope`` is accepted for a uniform constructor and ignored);
        ``common`` are ``GuardError``'s keywords."""
        super().__init__(message, **common)
        self.refresh_jwks = refresh_jwks


class InsufficientScope(GuardError):
    """The principal lacks a scope or tag the request needs (403 ``insufficient_scope``).

    ``scope`` is the space-separated list of scopes required, when known.
    """

    scope: str | None

    def __init__(
        self,
        message: str,
        *,
        scope: str | None = None,
        refresh_jwks: str | None = None,
        **common: Any,
    ) -> None:
        """Builds the error (``refresh_jwks`` is accepted for a uniform constructor and ignored);
        ``common`` are ``GuardError``'s keywords."""
        super().__init__(message, **common)
        self.scope = scope


class RateLimited(GuardError):
    """A rate limit refused the request (429 ``rate_limited``).

    ``retry_after`` is the wait in seconds, or ``None`` when no wait helps.
    """

    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        **common: Any,
    ) -> None:
        """Builds the error; ``common`` are ``GuardError``'s keywords."""
        super().__init__(message, **common)
        self.retry_after = retry_after


class InvalidRequest(GuardError):
    """The request itself is wrong (400 ``invalid_request``): a bad filter,
    an unknown preset, a bad cost, or refused scopes (``errors`` lists each).
    """

    errors: list[str]

    def __init__(
        self,
        message: str,
        *,
        errors: list[str] | None = None,
        **common: Any,
    ) -> None:
        """Builds the error; ``common`` are ``GuardError``'s keywords."""
        super().__init__(message, **common)
        self.errors = list(errors or [])


class ConfigError(GuardError, ValueError):
    """A configuration (or JWK Set) was refused; ``path`` is the JSON path
    of the offending value (``rate_limit.rules[1].limit``), empty for the
    document itself. Nothing was changed.
    """

    path: str

    def __init__(self, message: str, *, path: str = "", **common: Any) -> None:
        """Builds the error; ``common`` are ``GuardError``'s keywords."""
        super().__init__(message, **common)
        self.path = path


class OpaqueStoreError(GuardError):
    """An opaque token was not stored (``Guard.insert_opaque``,
    ``TokenValidator.insert_opaque``); nothing was changed.

    ``code`` says why: ``"full"`` (the store holds its capacity of unexpired
    tokens; ``capacity`` is that number), ``"disabled"`` (``auth.opaque_tokens``
    is off), or, raised as the subclass ``OpaqueTokenRejected``,
    ``"invalid_token"`` and ``"expired"``.
    """

    code: str
    capacity: int | None

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        capacity: int | None = None,
        **common: Any,
    ) -> None:
        """Builds the error; ``common`` are ``GuardError``'s keywords."""
        super().__init__(message, code=code, **common)
        self.code = code
        self.capacity = capacity


class OpaqueTokenRejected(OpaqueStoreError, ValueError):
    """The token or its entry is unusable, so it is a ``ValueError`` too:
    ``code`` ``"invalid_token"`` (not 1 to 4096 RFC 6750 token characters
    without a dot) or ``"expired"`` (``expires_at`` is not after now).
    """
