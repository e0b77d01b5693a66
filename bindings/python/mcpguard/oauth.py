"""mcpguard's embedded authorization server for the MCP Python SDK.

``McpguardOAuthProvider`` is an ``OAuthAuthorizationServerProvider`` (the
``mcp`` SDK's protocol in ``mcp.server.auth.provider``) over the core's
engine (``mcpguard::oauth``): hand it to the SDK's server as
``auth_server_provider=`` and mount its consent route.

>>> guard = mcpguard.Guard.from_file("mcpguard.json")   # with an authorization_server section
>>> provider = McpguardOAuthProvider(guard, subject=lambda request: "alice")
>>> server = MCPServer("files", auth_server_provider=provider, auth=provider.auth_settings())
>>> server.custom_route(provider.consent_path, methods=["GET", "POST"])(provider.consent_endpoint)

The engine decides everything (redirect URIs, PKCE challenge binding,
single-use codes, scopes, refresh rotation and reuse detection,
revocation); this module only converts. Two things follow from the SDK's
routes, which this module does not replace:

- The SDK's token route checks the PKCE verifier itself and hands the
  provider the code, not the verifier. The provider shows the SDK the code
  the engine stores (``load_authorization_code``, spent or not, so that a
  second use still reaches the engine) and exchanges it with the engine's
  ``exchange_verified_code``: the engine checks that the challenge the SDK
  verified is the code's own, and every other rule of the exchange.
- The SDK authenticates clients by comparing their secret in clear text,
  which the engine never keeps (it stores a hash). Public clients
  (``token_endpoint_auth_method: "none"``, PKCE), as MCP clients register,
  get tokens; a confidential client registers but is refused at the token
  route (fail closed). The SDK makes a client that names no method a
  ``client_secret_post`` one. Confidential and machine clients use the
  engine's own endpoints: ``provider.server.handle_http(...)``.

The engine's refusals become the SDK's ``RegistrationError``,
``AuthorizeError`` and ``TokenError`` with the engine's code and text; a
code the SDK's error models cannot carry (``too_many_requests`` of the rate
limits, ``server_error``) is sent as ``invalid_request`` with the engine's
description.
"""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin

from mcpguard._native import Guard, OAuthServer
from mcpguard.mcp import GuardTokenVerifier

if TYPE_CHECKING:
    from mcp.server.auth.provider import AccessToken, AuthorizationCode, AuthorizationParams, RefreshToken
    from mcp.server.auth.settings import AuthSettings
    from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

__all__ = ["McpguardOAuthProvider", "OAuthServer"]

logger = logging.getLogger("mcpguard")

#: The signed-in user answering the consent page, from the request (``None``: nobody).
SubjectFn = Callable[["Request"], "str | None | Awaitable[str | None]"]

#: Headers of the consent page and its error answers.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}

#: Clears the consent cookie once the form is answered.
CLEAR_COOKIE = "mcpguard_consent=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"

#: The credentials the registration response carries, set from the engine's answer.
CREDENTIALS = ("client_id", "client_secret", "client_id_issued_at", "client_secret_expires_at")


def _sdk_error(kind: str, refusal: dict[str, Any]) -> Exception:
    """The SDK's exception ``kind`` for an engine refusal."""
    from mcp.server.auth import provider

    cls = getattr(provider, kind)
    codes = {"RegistrationError": "RegistrationErrorCode", "AuthorizeError": "AuthorizationErrorCode"}
    allowed = typing.get_args(getattr(provider, codes.get(kind, "TokenErrorCode")))
    error = refusal["error"] if refusal["error"] in allowed else "invalid_request"
    exc: Exception = cls(error=error, error_description=refusal.get("error_description"))
    return exc


def _value(envelope: dict[str, Any], kind: str) -> Any:
    """The value of an engine envelope, or the SDK's exception for its refusal."""
    if envelope["ok"]:
        return envelope["value"]
    raise _sdk_error(kind, envelope)


def _model(cls: type[Any], values: dict[str, Any]) -> Any:
    """``cls`` built from ``values``, keeping only the fields this SDK version has."""
    fields = getattr(cls, "model_fields", {})
    return cls(**{k: v for k, v in values.items() if k in fields})


class McpguardOAuthProvider:
    """The SDK's ``OAuthAuthorizationServerProvider`` over mcpguard's engine.

    ``guard`` must have an ``authorization_server`` section; its ``storage``
    (memory, or an SQLite file relative to ``base_dir``, default the working
    directory) holds clients, codes and refresh tokens. ``subject(request)``
    names the signed-in user answering the consent page (sync or async;
    ``None`` refuses with 401; a single-user local host may return a fixed
    name). ``consent_path`` is where ``consent_endpoint`` is mounted (GET
    shows the engine's default page and sets its CSRF cookie, POST answers
    it).
    """

    def __init__(
        self,
        guard: Guard,
        *,
        subject: SubjectFn | None = None,
        consent_path: str = "/consent",
        base_dir: str | None = None,
    ) -> None:
        self.guard = guard
        self.server = OAuthServer(guard, base_dir=base_dir)
        self.consent_path = consent_path
        self._subject = subject
        self._consent_url = urljoin(self.server.issuer, consent_path)
        self._verifier = GuardTokenVerifier(guard)

    @property
    def issuer(self) -> str:
        """The issuer identifier of the ``authorization_server`` section."""
        return self.server.issuer

    @property
    def consent_url(self) -> str:
        """Where ``authorize`` sends the user: ``consent_path`` on the issuer's origin."""
        return self._consent_url

    def auth_settings(self, *, required_scopes: list[str] | None = None) -> AuthSettings:
        """The SDK's ``AuthSettings`` for this server: the issuer, the Guard's
        resource, dynamic registration as the section allows it, and
        revocation."""
        from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions

        metadata = self.server.metadata()
        options: dict[str, Any] = {
            "issuer_url": self.issuer,
            "resource_server_url": self.guard.resource(),
            "required_scopes": required_scopes,
            "client_registration_options": ClientRegistrationOptions(
                enabled="registration_endpoint" in metadata,
                valid_scopes=metadata.get("scopes_supported") or None,
            ),
            "revocation_options": RevocationOptions(enabled=True),
        }
        if "validate_token_resource" in AuthSettings.model_fields:
            options["validate_token_resource"] = True
        return AuthSettings(**options)

    # ----- clients -----

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        """The client the engine registered, without its secret (never kept)."""
        from mcp.shared.auth import OAuthClientInformationFull

        metadata = _value(self.server.client(client_id), "TokenError")
        if metadata is None:
            return None
        return OAuthClientInformationFull.model_validate({**metadata, "client_id": client_id})

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        """Registers the client with the engine, which issues its own id (and,
        for a confidential client, a secret stored hashed): they replace the
        ones the SDK made up in ``client_info``, which the SDK then returns."""
        metadata = client_info.model_dump(mode="json", exclude_none=True)
        for name in CREDENTIALS:
            metadata.pop(name, None)
        redirects = metadata.get("redirect_uris") or [""]
        rate_key = f"sdk:{metadata.get('client_name', '')}:{redirects[0]}"
        response = _value(self.server.register(metadata, None, rate_key), "RegistrationError")
        values = client_info.model_dump()
        values.update(response)
        for name in CREDENTIALS:
            values[name] = response.get(name)
        registered = type(client_info).model_validate(values)
        for name in type(client_info).model_fields:
            setattr(client_info, name, getattr(registered, name))

    # ----- authorization -----

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        """Checks the request with the engine; returns the consent page's URL
        (or the engine's redirect carrying an error for the client)."""
        answer = _value(
            self.server.authorize(
                {
                    "response_type": "code",
                    "client_id": client.client_id,
                    "redirect_uri": str(params.redirect_uri),
                    "state": params.state,
                    "scope": " ".join(params.scopes) if params.scopes else None,
                    "code_challenge": params.code_challenge,
                    "code_challenge_method": "S256",
                    "resource": getattr(params, "resource", None),
                }
            ),
            "AuthorizeError",
        )
        if "redirect" in answer:
            return str(answer["redirect"])
        query = urlencode({"request_id": answer["consent"]["request_id"]})
        return f"{self.consent_url}?{query}"

    async def consent_endpoint(self, request: Request) -> Response:
        """The consent page (GET, with the CSRF cookie) and its answer (POST),
        as a Starlette endpoint: mount it at ``consent_path``."""
        from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse

        def refuse(status: int, text: str) -> Response:
            return PlainTextResponse(text + "\n", status_code=status, headers=PAGE_HEADERS)

        if request.method == "GET":
            request_id = request.query_params.get("request_id", "")
            page = self.server.consent_page(request_id, self.consent_path)
            if page is None:
                return refuse(400, "invalid_request: the authorization request is unknown or has expired")
            html, cookie = page
            return HTMLResponse(html, headers={**PAGE_HEADERS, "Set-Cookie": cookie})
        named = self._subject(request) if self._subject is not None else None
        subject = await named if inspect.isawaitable(named) else named
        if not subject:
            return refuse(401, "login_required: sign in before answering the consent page")
        form = await request.form()
        answer = {
            "request_id": str(form.get("request_id") or ""),
            "csrf_form": form.get("csrf_token"),
            "cookie_header": request.headers.get("cookie"),
            "subject": str(subject),
            "approve": form.get("decision") == "approve",
            "scopes": [str(s) for s in form.getlist("scope")] if "scope_choice" in form else None,
        }
        result = self.server.consent(answer)
        if not result["ok"]:
            return refuse(int(result["status"]), f"{result['error']}: {result['error_description']}")
        return RedirectResponse(
            str(result["value"]),
            status_code=302,
            headers={"Cache-Control": "no-store", "Set-Cookie": CLEAR_COOKIE},
        )

    def consent_route(self) -> Route:
        """``consent_endpoint`` as a Starlette ``Route`` at ``consent_path``."""
        from starlette.routing import Route

        return Route(self.consent_path, self.consent_endpoint, methods=["GET", "POST"])

    # ----- tokens -----

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        """The code as the engine stores it, spent or not (a spent one still
        reaches the exchange, where the engine revokes what its first use
        produced)."""
        from mcp.server.auth.provider import AuthorizationCode

        code = _value(self.server.authorization_code(authorization_code), "TokenError")
        if code is None:
            return None
        result: AuthorizationCode = _model(
            AuthorizationCode,
            {
                **code,
                "code": authorization_code,
                "expires_at": float(code["expires_at"]),
                "redirect_uri_provided_explicitly": True,
            },
        )
        return result

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        """Exchanges the code with the engine, attesting the PKCE check the
        SDK made against ``authorization_code.code_challenge``."""
        tokens = _value(
            self.server.exchange_verified_code(
                {
                    "code": authorization_code.code,
                    "redirect_uri": str(authorization_code.redirect_uri),
                    "verified_challenge": authorization_code.code_challenge,
                    "resource": getattr(authorization_code, "resource", None),
                    "client_id": client.client_id,
                    "client_secret": client.client_secret,
                }
            ),
            "TokenError",
        )
        return self._token(tokens)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        """The refresh token as the engine stores it (rotated or revoked ones
        too: the engine answers their use)."""
        from mcp.server.auth.provider import RefreshToken

        found = _value(self.server.refresh_token(refresh_token), "TokenError")
        if found is None:
            return None
        result: RefreshToken = _model(RefreshToken, {**found, "token": refresh_token})
        return result

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        """Rotates the refresh token with the engine (reuse revokes the family)."""
        tokens = _value(
            self.server.token(
                {
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token.token,
                    "scope": " ".join(scopes) if scopes else None,
                    "client_id": client.client_id,
                    "client_secret": client.client_secret,
                }
            ),
            "TokenError",
        )
        return self._token(tokens)

    async def load_access_token(self, token: str) -> AccessToken | None:
        """The token as the Guard accepts it (signature, audience, expiry,
        revocation), else ``None``."""
        return await self._verifier.verify_token(token)

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        """Revokes with the engine (RFC 7009): an access token by its ``jti``,
        a refresh token with its whole family."""
        from mcp.server.auth.provider import RefreshToken

        hint = "refresh_token" if isinstance(token, RefreshToken) else "access_token"
        result = self.server.revoke({"token": token.token, "token_type_hint": hint, "client_id": token.client_id})
        if not result["ok"]:
            logger.warning("revocation refused: %s: %s", result["error"], result["error_description"])

    @staticmethod
    def _token(tokens: dict[str, Any]) -> OAuthToken:
        from mcp.shared.auth import OAuthToken

        return OAuthToken.model_validate(tokens)
