"""mcpguard's authorization server as the MCP Python SDK's
``auth_server_provider``: the SDK's own client (``OAuthClientProvider`` over
the streamable HTTP transport) against an SDK server served by uvicorn on a
loopback port, and the engine's rules through the SDK's routes."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import anyio
import httpx
import pytest
import uvicorn

import mcpguard
from mcpguard.oauth import McpguardOAuthProvider
from servers import free_port

try:
    from mcp.server import MCPServer as Server

    MCP_2 = True
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef]

    MCP_2 = False

REDIRECT = "http://localhost:3030/callback"
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
TOOL_CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


def config(port: int, **section: Any) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    return {
        "resource": f"{base}/mcp",
        "auth": {"issuers": []},
        "servers": {"web-search": {"tags": ["web"]}, "postgres": {"tags": ["db"]}},
        "authorization_server": {
            "issuer": base,
            "resources": [f"{base}/mcp", "https://other.example.com/mcp"],
            **section,
        },
    }


def make_app(provider: McpguardOAuthProvider) -> Any:
    http_options = {"json_response": True, "stateless_http": True}
    server = Server(
        "oauth-demo",
        auth_server_provider=provider,
        auth=provider.auth_settings(),
        **({} if MCP_2 else http_options),
    )
    server.custom_route(provider.consent_path, methods=["GET", "POST"])(provider.consent_endpoint)

    @server.tool()
    def echo(text: str) -> str:
        """Returns its argument."""
        return text

    return server.streamable_http_app(**(http_options if MCP_2 else {}))


@contextmanager
def serving(app: Any, port: int) -> Iterator[str]:
    """Serves ``app`` with uvicorn on ``127.0.0.1:port`` in a thread."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class Host:
    """A Guard, the provider over it and the SDK app, served on a port."""

    def __init__(self, port: int | None = None, base_dir: Path | None = None, **section: Any) -> None:
        self.port = port or free_port()
        self.guard = mcpguard.Guard.from_json(config(self.port, **section))
        self.provider = McpguardOAuthProvider(
            self.guard, subject=lambda request: "alice", base_dir=str(base_dir) if base_dir else None
        )
        self.app = make_app(self.provider)
        self.base = f"http://127.0.0.1:{self.port}"


# ----- a browser answering the consent page -----


def answer_consent(client: httpx.Client, authorize_url: str, keep: list[str] | None = None) -> str:
    """Follows ``authorize_url`` to the consent page, approves it (keeping
    ``keep`` scopes if given) like a browser, and returns where the user
    agent is sent back (the client's redirect URI with the code)."""
    r = client.get(authorize_url)
    assert r.status_code == 302, r.text
    page = client.get(r.headers["location"])
    assert page.status_code == 200, page.text
    assert "mcpguard_consent=" in page.headers["set-cookie"]
    fields = dict(re.findall(r'name="(request_id|csrf_token)" value="([^"]+)"', page.text))
    form: list[tuple[str, str]] = [
        ("request_id", fields["request_id"]),
        ("csrf_token", fields["csrf_token"]),
        ("decision", "approve"),
    ]
    if keep is not None:
        form += [("scope_choice", "1")] + [("scope", s) for s in keep]
    done = client.post(
        str(page.url.copy_with(query=None)),
        content=urlencode(form),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 302, done.text
    return str(done.headers["location"])


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


# ----- the SDK's client -----


class Storage:
    """The client's token storage, remembering every token set."""

    def __init__(self) -> None:
        self.tokens: Any = None
        self.client_info: Any = None
        self.history: list[Any] = []

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens
        self.history.append(tokens)

    async def get_client_info(self) -> Any:
        return self.client_info

    async def set_client_info(self, client_info: Any) -> None:
        self.client_info = client_info


def sdk_client(base: str, storage: Storage) -> Any:
    """The SDK's ``OAuthClientProvider``, answering the consent page as a browser would."""
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import OAuthClientMetadata

    redirected: dict[str, str] = {}

    async def redirect_handler(url: str) -> None:
        def browse() -> str:
            with httpx.Client() as browser:
                return answer_consent(browser, url)

        redirected.update(query(await anyio.to_thread.run_sync(browse)))

    async def callback_handler() -> Any:
        try:
            from mcp.shared.auth import AuthorizationCodeResult
        except ImportError:  # mcp 1.x: a (code, state) pair
            return redirected["code"], redirected.get("state")
        return AuthorizationCodeResult(code=redirected["code"], state=redirected.get("state"), iss=redirected.get("iss"))

    metadata = OAuthClientMetadata(
        client_name="sdk-test",
        redirect_uris=[REDIRECT],  # type: ignore[list-item]
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
        scope="tag:web tag:db",
    )
    return OAuthClientProvider(
        server_url=f"{base}/mcp",
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )


async def call_tool(base: str, auth: Any) -> str:
    """Initializes a session with the SDK's client and calls ``echo``."""
    from mcp import ClientSession

    if MCP_2:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
            async with streamable_http_client(f"{base}/mcp", http_client=http) as streams:
                async with ClientSession(streams[0], streams[1]) as session:
                    await session.initialize()
                    result = await session.call_tool("echo", {"text": "hi"})
    else:
        from mcp.client.streamable_http import streamablehttp_client

        async with streamablehttp_client(f"{base}/mcp", auth=auth) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                result = await session.call_tool("echo", {"text": "hi"})
    assert not getattr(result, "is_error", getattr(result, "isError", None)), result
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text


def mcp_status(base: str, access_token: str) -> int:
    r = httpx.post(f"{base}/mcp", json=TOOL_CALL, headers={**MCP_HEADERS, "authorization": f"Bearer {access_token}"})
    return r.status_code


def refresh(base: str, client_id: str, refresh_token: str, scope: str | None = None) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if scope is not None:
        form["scope"] = scope
    return httpx.post(f"{base}/token", data=form)


def test_the_sdk_client_gets_refreshes_and_loses_a_token_through_the_provider() -> None:
    host = Host(access_token_seconds=1)
    storage = Storage()
    with serving(host.app, host.port) as base:
        auth = sdk_client(base, storage)
        # Discovery from the 401, registration, consent, code exchange, tool call.
        assert anyio.run(call_tool, base, auth) == "hi"
        first = storage.history[-1]
        client_id = storage.client_info.client_id
        assert first.refresh_token and first.scope == "tag:web tag:db"
        header, claims = (json.loads(base64.urlsafe_b64decode(p + "==")) for p in first.access_token.split(".")[:2])
        assert header["typ"] == "at+jwt"
        assert claims["sub"] == "alice" and claims["client_id"] == client_id and claims["aud"] == f"{base}/mcp"
        # The access token lives one second: the client refreshes on its own.
        time.sleep(1.2)
        assert anyio.run(call_tool, base, auth) == "hi"
        second = storage.history[-1]
        assert second.refresh_token != first.refresh_token
        assert second.access_token != first.access_token
        # The rotated refresh token used again: the whole family is revoked.
        reuse = refresh(base, client_id, first.refresh_token)
        assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
        assert mcp_status(base, second.access_token) == 401
        assert refresh(base, client_id, second.refresh_token).status_code == 400


def test_revocation_through_the_sdk_route_ends_the_token_and_the_family() -> None:
    host = Host()
    storage = Storage()
    with serving(host.app, host.port) as base:
        auth = sdk_client(base, storage)
        assert anyio.run(call_tool, base, auth) == "hi"
        tokens, client_id = storage.history[-1], storage.client_info.client_id
        assert mcp_status(base, tokens.access_token) == 200
        # The SDK's revocation route needs a client_secret field, empty for a public client.
        r = httpx.post(
            f"{base}/revoke", data={"token": tokens.access_token, "client_id": client_id, "client_secret": ""}
        )
        assert r.status_code == 200, r.text
        assert mcp_status(base, tokens.access_token) == 401
        # Revoking the refresh token ends its family.
        r = httpx.post(
            f"{base}/revoke",
            data={
                "token": tokens.refresh_token,
                "token_type_hint": "refresh_token",
                "client_id": client_id,
                "client_secret": "",
            },
        )
        assert r.status_code == 200
        assert refresh(base, client_id, tokens.refresh_token).json()["error"] == "invalid_grant"


# ----- the engine's rules through the SDK's routes -----

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


class Flow:
    """The code flow by hand, through the SDK's routes, to break one rule at a time."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.browser = httpx.Client()

    def register(self, scope: str = "tag:web tag:db") -> str:
        r = httpx.post(
            f"{self.base}/register",
            json={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "scope": scope},
        )
        assert r.status_code == 201, r.text
        assert r.json().get("client_secret") is None
        client_id: str = r.json()["client_id"]
        return client_id

    def authorize_url(self, client_id: str, redirect: str = REDIRECT, **extra: str) -> str:
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect,
            "code_challenge": challenge(VERIFIER),
            "code_challenge_method": "S256",
            "state": secrets.token_urlsafe(8),
            "scope": "tag:web tag:db",
            **extra,
        }
        return f"{self.base}/authorize?{urlencode(params)}"

    def code(self, client_id: str, keep: list[str] | None = None, **extra: str) -> str:
        back = answer_consent(self.browser, self.authorize_url(client_id, **extra), keep)
        assert back.startswith(REDIRECT), back
        answer = query(back)
        assert answer["iss"] == self.base
        return answer["code"]

    def exchange(self, client_id: str, code: str, verifier: str = VERIFIER, redirect: str = REDIRECT) -> httpx.Response:
        return httpx.post(
            f"{self.base}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "code_verifier": verifier,
                "client_id": client_id,
            },
        )


@pytest.fixture
def flow() -> Iterator[Flow]:
    host = Host()
    with serving(host.app, host.port) as base:
        yield Flow(base)


def test_a_wrong_code_verifier_is_refused(flow: Flow) -> None:
    client = flow.register()
    code = flow.code(client)
    r = flow.exchange(client, code, verifier="x" * 43)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert flow.exchange(client, code).status_code == 200


def test_a_redirect_uri_mismatch_is_refused_at_authorize_and_token(flow: Flow) -> None:
    client = flow.register()
    r = flow.browser.get(flow.authorize_url(client, redirect="http://localhost:3030/elsewhere"))
    assert r.status_code == 400, "an unregistered redirect URI is shown to the user, never redirected to"
    code = flow.code(client)
    r = flow.exchange(client, code, redirect="http://localhost:3030/elsewhere")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_a_reused_code_is_refused_and_revokes_what_the_first_use_produced(flow: Flow) -> None:
    client = flow.register()
    code = flow.code(client)
    first = flow.exchange(client, code).json()
    assert mcp_status(flow.base, first["access_token"]) == 200
    again = flow.exchange(client, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert mcp_status(flow.base, first["access_token"]) == 401
    assert refresh(flow.base, client, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_token_for_another_resource_is_refused_by_the_guard(flow: Flow) -> None:
    client = flow.register()
    code = flow.code(client, resource="https://other.example.com/mcp")
    tokens = flow.exchange(client, code).json()
    assert mcp_status(flow.base, tokens["access_token"]) == 401
    unknown = flow.browser.get(flow.authorize_url(client, resource="https://unknown.example.com/mcp"))
    assert unknown.status_code == 302 and query(unknown.headers["location"])["error"] == "invalid_target"


def test_scope_escalation_on_refresh_is_refused_and_narrowing_allowed(flow: Flow) -> None:
    client = flow.register()
    code = flow.code(client, keep=["tag:web"])
    tokens = flow.exchange(client, code).json()
    assert tokens["scope"] == "tag:web"
    r = refresh(flow.base, client, tokens["refresh_token"], scope="tag:web tag:db")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = refresh(flow.base, client, tokens["refresh_token"], scope="tag:web")
    assert r.status_code == 200 and r.json()["scope"] == "tag:web"


def test_a_scope_outside_the_configured_tags_is_refused_at_registration(flow: Flow) -> None:
    r = httpx.post(
        f"{flow.base}/register",
        json={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "scope": "tag:secrets"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata"


def test_a_confidential_client_is_refused_at_the_token_route(flow: Flow) -> None:
    r = httpx.post(f"{flow.base}/register", json={"redirect_uris": [REDIRECT], "scope": "tag:web"})
    assert r.status_code == 201
    registered = r.json()
    assert registered["token_endpoint_auth_method"] == "client_secret_post" and registered["client_secret"]
    code = flow.code(registered["client_id"], scope="tag:web")
    r = httpx.post(
        f"{flow.base}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
            "client_id": registered["client_id"],
            "client_secret": registered["client_secret"],
        },
    )
    # mcp 2.x's route refuses it (no secret to compare, 401); 1.x's lets it
    # through and the engine refuses it (the secret the SDK forwards is none, 400).
    assert r.status_code in (400, 401) and r.json()["error"] == "invalid_client", r.text


def test_the_consent_answer_needs_the_csrf_cookie(flow: Flow) -> None:
    client = flow.register()
    r = flow.browser.get(flow.authorize_url(client))
    page = flow.browser.get(r.headers["location"])
    fields = dict(re.findall(r'name="(request_id|csrf_token)" value="([^"]+)"', page.text))
    forged = httpx.post(f"{flow.base}/consent", data={**fields, "decision": "approve"})
    assert forged.status_code == 403, "a post without the page's cookie is refused"
    assert forged.text.startswith("csrf_mismatch") or "csrf" in forged.text.lower(), forged.text


def test_with_the_sqlite_store_a_new_provider_keeps_clients_and_refresh_tokens(tmp_path: Path) -> None:
    port = free_port()
    section = {"storage": {"sqlite": {"path": "oauth.db"}}}
    first = Host(port, base_dir=tmp_path, **section)
    with serving(first.app, port) as base:
        flow = Flow(base)
        client = flow.register()
        tokens = flow.exchange(client, flow.code(client)).json()
        assert mcp_status(base, tokens["access_token"]) == 200
    assert (tmp_path / "oauth.db").exists()
    second = Host(port, base_dir=tmp_path, **section)
    with serving(second.app, port) as base:
        r = refresh(base, client, tokens["refresh_token"])
        assert r.status_code == 200, r.text
        assert mcp_status(base, r.json()["access_token"]) == 200
        # The client is still registered: a new authorization works.
        flow = Flow(base)
        assert flow.exchange(client, flow.code(client)).status_code == 200
        # The rotated token is still known as spent after the restart.
        assert refresh(base, client, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_plain_pkce_is_refused_with_a_redirect_to_the_client(flow: Flow) -> None:
    client = flow.register()
    r = flow.browser.get(flow.authorize_url(client, code_challenge_method="plain"))
    assert r.status_code == 302
    assert query(r.headers["location"])["error"] == "invalid_request"


def test_a_denied_consent_redirects_with_access_denied(flow: Flow) -> None:
    client = flow.register()
    r = flow.browser.get(flow.authorize_url(client))
    page = flow.browser.get(r.headers["location"])
    fields = dict(re.findall(r'name="(request_id|csrf_token)" value="([^"]+)"', page.text))
    denied = flow.browser.post(
        str(page.url.copy_with(query=None)),
        content=urlencode({**fields, "decision": "deny"}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert denied.status_code == 302
    answer = query(denied.headers["location"])
    assert answer["error"] == "access_denied" and "code" not in answer


def test_an_expired_code_is_refused() -> None:
    host = Host(authorization_code_seconds=1)
    with serving(host.app, host.port) as base:
        flow = Flow(base)
        client = flow.register()
        code = flow.code(client)
        time.sleep(2.1)
        r = flow.exchange(client, code)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_a_machine_client_uses_the_engines_own_endpoints() -> None:
    host = Host()
    server = host.provider.server
    assert server.handle_http("GET", "/not-an-endpoint") is None
    status, _, body = server.handle_http(
        "POST",
        "/register",
        headers=[("content-type", "application/json")],
        body=json.dumps(
            {"token_endpoint_auth_method": "client_secret_basic", "grant_types": ["client_credentials"]}
        ).encode(),
        peer="10.0.0.1",
    ) or (0, [], "")
    assert status == 201, body
    registered = json.loads(body)
    basic = base64.b64encode(f"{registered['client_id']}:{registered['client_secret']}".encode()).decode()
    form = urlencode({"grant_type": "client_credentials", "scope": "tag:web"}).encode()
    headers = [("content-type", "application/x-www-form-urlencoded"), ("authorization", f"Basic {basic}")]
    status, _, body = server.handle_http("POST", "/token", headers=headers, body=form) or (0, [], "")
    assert status == 200, body
    principal = host.guard.validate(json.loads(body)["access_token"])
    assert principal.subject == registered["client_id"] and principal.scopes == ["tag:web"]
    wrong = [headers[0], ("authorization", "Basic " + base64.b64encode(f"{registered['client_id']}:x".encode()).decode())]
    status, _, body = server.handle_http("POST", "/token", headers=wrong, body=form) or (0, [], "")
    assert status == 401 and json.loads(body)["error"] == "invalid_client"


def test_workers_forked_after_the_sqlite_store_was_opened_open_it_again(tmp_path: Path) -> None:
    # SQLite forbids using a connection in a child forked after it was
    # opened; a pre-forking server's workers each open the file again and
    # register into the one database the parent reads.
    import forking

    from mcpguard.oauth import OAuthServer

    cfg = {
        "resource": "https://mcp.example.com/mcp",
        "authorization_server": {"issuer": "https://auth.example.com", "storage": {"sqlite": {"path": "oauth.db"}}},
    }
    server = OAuthServer(mcpguard.Guard.from_json(cfg), base_dir=str(tmp_path))
    first = server.register({"redirect_uris": ["http://127.0.0.1:9/cb"]}, None, "parent")
    assert first["ok"], first

    def worker(i: int) -> dict[str, Any]:
        registered = server.register({"redirect_uris": [f"http://127.0.0.1:9/cb{i}"]}, None, f"worker-{i}")
        known = server.client(first["value"]["client_id"])
        return {"registered": registered["value"]["client_id"] if registered["ok"] else registered, "sees_parent": known["ok"] and known["value"] is not None}

    children = [forking.start(functools.partial(worker, i)) for i in range(3)]
    reports = [forking.finish(*child) for child in children]
    for report in reports:
        assert report.get("sees_parent") is True, reports
        found = server.client(report["registered"])
        assert found["ok"] and found["value"]["redirect_uris"], (report, found)
