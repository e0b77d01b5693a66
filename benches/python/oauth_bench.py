"""The full code-exchange round trip (register, authorize, consent, token)
through the MCP Python SDK's auth routes, with mcpguard's provider
(``mcpguard.oauth.McpguardOAuthProvider``) against an in-memory provider
written the way the SDK's examples write one (the installed SDK ships no
demo provider), in one run.

Both go through the same Starlette app shape (the SDK's
``create_auth_routes`` plus a consent route) over ``httpx.ASGITransport``,
so the figures are the routes plus the provider, no sockets. Each figure is
the best of several repeats, in microseconds per round trip; the ratio is
demo / mcpguard (above 1: mcpguard is faster). The demo does far less: no
signed JWT (a random string), no hashing, no CSRF, no scope rules, no
single-use bookkeeping beyond a dict.

Run with ``make -C bindings/python bench`` (a release build of the extension).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import anyio
import httpx
from pydantic import AnyHttpUrl
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    RefreshToken,
    construct_redirect_uri,
)
from mcp.server.auth.routes import create_auth_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

import mcpguard
from mcpguard.oauth import McpguardOAuthProvider

BASE = "http://127.0.0.1:8000"
RESOURCE = f"{BASE}/mcp"
REDIRECT = "http://localhost:3030/callback"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).decode().rstrip("=")


class DemoProvider:
    """An in-memory provider as the SDK's ``simple-auth`` example writes one:
    dicts of clients, codes and tokens; ``authorize`` sends the user to a
    page whose form creates the code."""

    def __init__(self) -> None:
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.pending: dict[str, tuple[str, AuthorizationParams]] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        self.clients[str(client_info.client_id)] = client_info

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        state = secrets.token_hex(16)
        self.pending[state] = (str(client.client_id), params)
        return f"{BASE}/consent?state={state}"

    async def consent(self, request: Request) -> Response:
        if request.method == "GET":
            state = request.query_params["state"]
            return HTMLResponse(
                f'<form method="post"><input type="hidden" name="state" value="{state}">'
                '<button name="decision" value="approve">Allow</button></form>'
            )
        form = await request.form()
        client_id, params = self.pending.pop(str(form["state"]))
        code = secrets.token_hex(16)
        self.codes[code] = AuthorizationCode(
            code=code,
            client_id=client_id,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            expires_at=time.time() + 300,
            scopes=params.scopes or [],
            code_challenge=params.code_challenge,
            resource=params.resource,
        )
        return RedirectResponse(construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state), 302)

    async def load_authorization_code(self, client: OAuthClientInformationFull, code: str) -> AuthorizationCode | None:
        return self.codes.get(code)

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        del self.codes[authorization_code.code]
        token, refresh = f"mcp_{secrets.token_hex(32)}", f"mcp_{secrets.token_hex(32)}"
        client_id = str(client.client_id)
        self.tokens[token] = AccessToken(
            token=token, client_id=client_id, scopes=authorization_code.scopes, expires_at=int(time.time()) + 3600
        )
        self.refresh[refresh] = RefreshToken(token=refresh, client_id=client_id, scopes=authorization_code.scopes)
        return OAuthToken(
            access_token=token,
            token_type="Bearer",
            expires_in=3600,
            scope=" ".join(authorization_code.scopes),
            refresh_token=refresh,
        )

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        return self.refresh.get(refresh_token)

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        raise NotImplementedError("not part of the round trip measured")

    async def load_access_token(self, token: str) -> AccessToken | None:
        return self.tokens.get(token)

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.tokens.pop(token.token, None)


def app_for(provider: Any, consent: Any) -> Starlette:
    routes = create_auth_routes(
        provider,
        issuer_url=AnyHttpUrl(BASE),
        client_registration_options=ClientRegistrationOptions(enabled=True, valid_scopes=["tag:web", "tag:db"]),
        revocation_options=RevocationOptions(enabled=True),
    )
    return Starlette(routes=[*routes, Route("/consent", consent, methods=["GET", "POST"])])


async def round_trip(client: httpx.AsyncClient) -> None:
    """Register, authorize, answer the consent page, exchange the code."""
    r = await client.post(
        "/register",
        json={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "scope": "tag:web tag:db"},
    )
    client_id = r.json()["client_id"]
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "state": "st",
        "scope": "tag:web tag:db",
        "resource": RESOURCE,
    }
    r = await client.get(f"/authorize?{urlencode(params)}")
    page = await client.get(r.headers["location"])
    form = dict(re.findall(r'name="(\w+)" value="([^"]+)"', page.text))
    form["decision"] = "approve"
    # The CSRF cookie (mcpguard's page sets one) goes back as a header: the
    # client's cookie jar is not what is measured.
    cookie = page.headers.get("set-cookie", "").split(";")[0]
    client.cookies.clear()
    r = await client.post(urlparse(r.headers["location"]).path, data=form, headers={"cookie": cookie} if cookie else {})
    code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
    r = await client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
            "client_id": client_id,
        },
    )
    assert r.status_code == 200, r.text


async def best_round_trips_us(apps: list[Starlette], rounds: int, repeat: int = 7) -> list[float]:
    """Best-of-``repeat`` microseconds per round trip of each app, the
    repeats interleaved so that a busy machine slows every app alike."""
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) for app in apps
    ]
    best = [float("inf")] * len(apps)
    try:
        for client in clients:
            await round_trip(client)  # warm up
        for _ in range(repeat):
            for i, client in enumerate(clients):
                start = time.perf_counter()
                for _ in range(rounds):
                    await round_trip(client)
                best[i] = min(best[i], (time.perf_counter() - start) / rounds)
    finally:
        for client in clients:
            await client.aclose()
    return [b * 1e6 for b in best]


async def main() -> int:
    guard = mcpguard.Guard.from_json(
        {
            "resource": RESOURCE,
            "auth": {"issuers": []},
            "servers": {"web-search": {"tags": ["web"]}, "postgres": {"tags": ["db"]}},
            "authorization_server": {
                "issuer": BASE,
                # The round trips register many clients from one address.
                "rate_limit": {
                    "register": {"limit": 1000000, "window_seconds": 3600},
                    "token": {"limit": 1000000, "window_seconds": 60},
                },
            },
        }
    )
    ours = McpguardOAuthProvider(guard, subject=lambda request: "alice")
    demo = DemoProvider()
    rounds = 100
    mine, theirs = await best_round_trips_us(
        [app_for(ours, ours.consent_endpoint), app_for(demo, demo.consent)], rounds
    )
    print(f"{'code-exchange round trip (SDK routes)':<44}{'mcpguard':>12}{'SDK demo':>12}{'ratio':>8}")
    print(f"{'register+authorize+consent+token, us':<44}{mine:>12.1f}{theirs:>12.1f}{theirs / mine:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
