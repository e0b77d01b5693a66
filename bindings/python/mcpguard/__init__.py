"""mcpguard: OAuth 2.1 bearer tokens, 1MCP's tag-based access control and
per-client rate limits for MCP servers, over the mcpguard Rust core.

>>> import mcpguard
>>> guard = mcpguard.Guard.from_file("guard.json")
>>> decision = guard.authorize(authorization="Bearer eyJ...", server="filesystem")
>>> decision.allowed, decision.status, decision.headers

``mcpguard.mcp`` plugs a Guard into the MCP Python SDK (``GuardTokenVerifier``),
``mcpguard.oauth`` gives the SDK an embedded authorization server
(``McpguardOAuthProvider``) and ``mcpguard.asgi`` protects any ASGI app
(``GuardMiddleware``).
"""

from mcpguard._errors import (
    ConfigError,
    GuardError,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    OpaqueStoreError,
    OpaqueTokenRejected,
    RateLimited,
)
import os as _os

from mcpguard._native import (
    Decision,
    Guard,
    HttpBody,
    HttpDecision,
    HttpOptions,
    HttpResponse,
    ManualClock,
    Principal,
    RateDecision,
    RateLimiter,
    TagFilter,
    TokenValidator,
    __version__,
    scopes_to_tags,
    tags_to_scopes,
    validate_scopes,
)

# A pre-forking server (gunicorn's --preload) builds its Guard before it
# forks the workers: each worker restarts the key-fetching thread fork did
# not copy. The Redis and SQLite stores reopen their connections by
# themselves at their next use.
if hasattr(_os, "register_at_fork"):
    from mcpguard._native import _after_fork

    _os.register_at_fork(after_in_child=_after_fork)

__all__ = [
    "ConfigError",
    "Decision",
    "Guard",
    "GuardError",
    "HttpBody",
    "HttpDecision",
    "HttpOptions",
    "HttpResponse",
    "InsufficientScope",
    "InvalidRequest",
    "InvalidToken",
    "ManualClock",
    "OpaqueStoreError",
    "OpaqueTokenRejected",
    "Principal",
    "RateDecision",
    "RateLimited",
    "RateLimiter",
    "TagFilter",
    "TokenValidator",
    "__version__",
    "scopes_to_tags",
    "tags_to_scopes",
    "validate_scopes",
]
