"""``rediss://`` from Python, configured by JSON alone: the extension
carries the Redis store's TLS client, and the private CA
(``store.redis.ca_pem``) and client certificate (``client_cert_pem``,
``client_key_pem``) reach it through the configuration. Against a real
``redis-server`` serving TLS on loopback, its certificate signed by a CA made
here with ``openssl``: with that CA two Guards share one budget; with no CA
(the public roots) the server is not trusted and the store is unavailable
(503 under ``fail_closed``), never used unverified. A server that asks for
client certificates takes the configured one, and refuses a Guard without
it."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import mcpguard
from servers import free_port, redis_server, wait_listening
from tokens import ISSUER, RESOURCE, claims, jwks, rs256

LIMIT = 6


class Certificates:
    """Two CAs (``test``, ``stranger``), a server certificate and client
    certificates made with ``openssl`` in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        for name in ("test", "stranger"):
            self._ca(name)
        self._leaf("server", "test", "serverAuth")
        self._leaf("client", "test", "clientAuth")
        self._leaf("foreign", "stranger", "clientAuth")

    def path(self, name: str) -> str:
        return str(self.directory / name)

    def read(self, name: str) -> str:
        return (self.directory / name).read_text()

    def _openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    _EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")

    def _ca(self, name: str) -> None:
        self._openssl(
            "req", "-x509", *self._EC, "-keyout", self.path(f"{name}-ca.key"), "-out", self.path(f"{name}-ca.pem"),
            "-days", "1", "-subj", f"/CN=mcpguard python {name} CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )

    def _leaf(self, name: str, by: str, usage: str) -> None:
        (self.directory / f"{name}.ext").write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
            f"keyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n"
        )
        self._openssl(
            "req", "-new", *self._EC, "-keyout", self.path(f"{name}.key"), "-out", self.path(f"{name}.csr"),
            "-subj", "/CN=localhost",
        )
        self._openssl(
            "x509", "-req", "-in", self.path(f"{name}.csr"), "-CA", self.path(f"{by}-ca.pem"),
            "-CAkey", self.path(f"{by}-ca.key"), "-CAcreateserial", "-out", self.path(f"{name}.pem"),
            "-days", "1", "-extfile", self.path(f"{name}.ext"),
        )

    def client(self, name: str) -> tuple[str, str]:
        return self.read(f"{name}.pem"), self.read(f"{name}.key")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    assert shutil.which("openssl"), "openssl is missing"
    return Certificates(tmp_path_factory.mktemp("redis-tls"))


@pytest.fixture
def tls_server(certificates: Certificates) -> Iterator[Callable[[bool], str]]:
    """Starts redis-servers serving TLS only (``ask_clients``: each asks
    every client for a certificate); gives their URLs; stops them after."""
    server = redis_server()
    procs: list[subprocess.Popen[bytes]] = []

    def start(ask_clients: bool) -> str:
        port = free_port()
        procs.append(
            subprocess.Popen(
                [server, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", ""]
                + ["--appendonly", "no", "--tls-cert-file", certificates.path("server.pem")]
                + ["--tls-key-file", certificates.path("server.key")]
                + ["--tls-ca-cert-file", certificates.path("test-ca.pem")]
                + ["--tls-auth-clients", "yes" if ask_clients else "no"],
                stdout=subprocess.DEVNULL,
            )
        )
        wait_listening(port)
        return f"rediss://127.0.0.1:{port}/0"

    try:
        yield start
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def guard(url: str, ca_pem: str | None, client: tuple[str, str] | None = None) -> mcpguard.Guard:
    """A Guard on ``url`` trusting ``ca_pem`` (``None``: the public roots), presenting ``client`` when given."""
    redis: dict[str, Any] = {"url": url, "prefix": "py-tls:", "timeout_ms": 500, "on_error": "fail_closed"}
    if ca_pem is not None:
        redis["ca_pem"] = ca_pem
    if client is not None:
        redis["client_cert_pem"], redis["client_key_pem"] = client
    return mcpguard.Guard.from_json(
        {
            "resource": RESOURCE,
            "auth": {"issuers": [{"issuer": ISSUER, "jwks": jwks("rsa")}]},
            "servers": {"files": {"tags": ["files"]}},
            "rate_limit": {"limit": LIMIT, "window_seconds": 3600},
            "store": {"redis": redis},
        }
    )


def token(client_id: str) -> str:
    return rs256(claims(int(time.time()), client_id=client_id, scope="tag:files"))


def statuses(a: mcpguard.Guard, b: mcpguard.Guard, client_id: str) -> list[int]:
    """Statuses of requests alternating between ``a`` and ``b`` with one client's token."""
    bearer = f"Bearer {token(client_id)}"
    return [(a if i % 2 == 0 else b).authorize(authorization=bearer, server="files").status for i in range(2 * LIMIT)]


def assert_unavailable(g: mcpguard.Guard, client_id: str) -> None:
    d = g.authorize(authorization=f"Bearer {token(client_id)}", server="files")
    assert (d.status, d.reason) == (503, "store_unavailable")


def test_over_rediss_with_the_private_ca_two_guards_share_one_budget(
    tls_server: Callable[[bool], str], certificates: Certificates
) -> None:
    url = tls_server(False)
    ca = certificates.read("test-ca.pem")
    assert statuses(guard(url, ca), guard(url, ca), "tls-app") == [200] * LIMIT + [429] * LIMIT


def test_a_rediss_server_the_configured_roots_do_not_sign_is_never_used(
    tls_server: Callable[[bool], str], certificates: Certificates
) -> None:
    url = tls_server(False)
    for roots in (None, certificates.read("stranger-ca.pem")):
        assert_unavailable(guard(url, roots), "untrusted-app")


def test_a_server_that_asks_for_client_certificates_takes_the_configured_one_only(
    tls_server: Callable[[bool], str], certificates: Certificates
) -> None:
    url = tls_server(True)
    ca = certificates.read("test-ca.pem")
    client = certificates.client("client")
    assert statuses(guard(url, ca, client), guard(url, ca, client), "mtls-app") == [200] * LIMIT + [429] * LIMIT
    for presented in (None, certificates.client("foreign")):
        assert_unavailable(guard(url, ca, presented), "no-certificate-app")
