"""Test tokens, signed here with the committed test keys (conformance/keys)."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt

from conftest import KEYS

ISSUER = "https://auth.example.com"
RESOURCE = "https://mcp.example.com/mcp"
RSA_KID = "rsa-1"
HS_KID = "hs-1"


def _hmac_secret() -> bytes:
    text = (KEYS / "hmac.key").read_text().strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


HMAC_SECRET = _hmac_secret()
RSA_PRIVATE = (KEYS / "rsa.pem").read_bytes()
RSA2_PRIVATE = (KEYS / "rsa2.pem").read_bytes()


def jwks(*names: str) -> dict[str, Any]:
    """A JWK Set of the public test keys ``rsa`` (kid rsa-1), ``rsa2`` (kid rsa-2), ``hmac`` (kid hs-1)."""
    keys = []
    for name in names:
        if name == "hmac":
            k = base64.urlsafe_b64encode(HMAC_SECRET).rstrip(b"=").decode()
            keys.append({"kty": "oct", "kid": HS_KID, "alg": "HS256", "k": k})
        else:
            jwk = json.loads((KEYS / f"{name}.jwk.json").read_text())
            jwk.update({"kid": "rsa-1" if name == "rsa" else "rsa-2", "alg": "RS256"})
            keys.append(jwk)
    return {"keys": keys}


def claims(now: int, **extra: Any) -> dict[str, Any]:
    """Ordinary access-token claims valid for an hour from ``now``."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "client_id": "app-1",
        "aud": RESOURCE,
        "iat": now,
        "exp": now + 3600,
        "scope": "tag:files",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def rs256(payload: dict[str, Any], kid: str = RSA_KID, key: bytes = RSA_PRIVATE) -> str:
    """An RS256 token."""
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def hs256(payload: dict[str, Any]) -> str:
    """An HS256 token."""
    return jwt.encode(payload, HMAC_SECRET, algorithm="HS256", headers={"kid": HS_KID})
