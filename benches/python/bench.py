"""mcpguard's Python binding against the libraries a Python MCP server would
otherwise use, in one run: PyJWT (``jwt.decode`` with the same checks) for
token validation, and ``limits`` (``FixedWindowRateLimiter`` over
``MemoryStorage``) for rate limiting.

Run with ``make -C bindings/python bench`` (a release build of the
extension). Each figure is the best of several repeats of a timed loop, in
microseconds per call; the ratio is baseline / mcpguard. Targets: HS256 at
least 15x PyJWT, RS256 at least 2x, ``Guard.authorize`` with a cached token
at most 2 us, a rate-limit check at least 10x ``limits``.
"""

from __future__ import annotations

import base64
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import jwt
import limits
import limits.storage
import limits.strategies

import mcpguard

ROOT = Path(__file__).resolve().parents[2]
KEYS = ROOT / "conformance" / "keys"
ISSUER = "https://auth.example.com"
RESOURCE = "https://mcp.example.com/mcp"


def per_call_us(fn: Callable[[], object], number: int, repeat: int = 7) -> float:
    """Best-of-``repeat`` microseconds per call of ``fn``."""
    fn()  # warm up
    best = min(timeit.Timer(fn).repeat(repeat=repeat, number=number))
    return best / number * 1e6


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def main() -> int:
    now = int(time.time())
    hmac_text = (KEYS / "hmac.key").read_text().strip()
    secret = base64.urlsafe_b64decode(hmac_text + "=" * (-len(hmac_text) % 4))
    rsa_private = (KEYS / "rsa.pem").read_bytes()
    rsa_public = (KEYS / "rsa.pub.pem").read_bytes()
    rsa_jwk = {**__import__("json").loads((KEYS / "rsa.jwk.json").read_text()), "kid": "rsa-1", "alg": "RS256"}
    claims = {"iss": ISSUER, "sub": "alice", "client_id": "app", "aud": RESOURCE, "iat": now,
              "exp": now + 3600, "scope": "tag:web tag:files"}
    hs_token = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": "hs-1"})
    rs_token = jwt.encode(claims, rsa_private, algorithm="RS256", headers={"kid": "rsa-1"})

    def validator(keys: list[dict[str, str]], cache_entries: int) -> mcpguard.TokenValidator:
        auth = {"issuers": [{"issuer": ISSUER, "jwks": {"keys": keys}}], "cache_entries": cache_entries}
        return mcpguard.TokenValidator(auth, RESOURCE)

    hs_uncached = validator([{"kty": "oct", "kid": "hs-1", "alg": "HS256", "k": b64url(secret)}], 0)
    rs_uncached = validator([rsa_jwk], 0)
    pyjwt_options = {"require": ["exp", "iss", "aud"]}

    def pyjwt_hs() -> object:
        return jwt.decode(hs_token, secret, algorithms=["HS256"], audience=RESOURCE, issuer=ISSUER,
                          leeway=30, options=pyjwt_options)  # type: ignore[arg-type]

    def pyjwt_rs() -> object:
        return jwt.decode(rs_token, rsa_public, algorithms=["RS256"], audience=RESOURCE, issuer=ISSUER,
                          leeway=30, options=pyjwt_options)  # type: ignore[arg-type]

    # The same verdicts before timing anything.
    assert pyjwt_hs()["sub"] == hs_uncached.validate(hs_token).subject == "alice"
    assert pyjwt_rs()["sub"] == rs_uncached.validate(rs_token).subject == "alice"

    results: list[tuple[str, float, float | None, str]] = []
    failures: list[str] = []

    hs_ours = per_call_us(lambda: hs_uncached.validate(hs_token), 20_000)
    hs_base = per_call_us(pyjwt_hs, 5_000)
    results.append(("HS256 validate (uncached) vs PyJWT", hs_ours, hs_base, ">= 15x"))
    if hs_base / hs_ours < 15:
        failures.append("HS256")

    rs_ours = per_call_us(lambda: rs_uncached.validate(rs_token), 2_000)
    rs_base = per_call_us(pyjwt_rs, 1_000)
    results.append(("RS256 validate (uncached) vs PyJWT", rs_ours, rs_base, ">= 2x"))
    if rs_base / rs_ours < 2:
        failures.append("RS256")

    guard = mcpguard.Guard.from_json({
        "resource": RESOURCE,
        "auth": {"issuers": [{"issuer": ISSUER, "jwks": {"keys": [rsa_jwk]}}]},
        "servers": {"files": {"tags": ["files"]}, "web": {"tags": ["web"]}},
        "rate_limit": {"limit": 1_000_000_000, "window_seconds": 60},
    })
    header = f"Bearer {rs_token}"
    assert guard.authorize(authorization=header, server="web").allowed
    authorize = per_call_us(lambda: guard.authorize(authorization=header, server="web"), 100_000)
    results.append(("Guard.authorize, cached RS256 token", authorize, None, "<= 2 us"))
    if authorize > 2.0:
        failures.append("authorize")

    limiter = mcpguard.RateLimiter(limit=1_000_000_000, window_seconds=60)
    storage = limits.storage.MemoryStorage()
    fixed = limits.strategies.FixedWindowRateLimiter(storage)
    item = limits.RateLimitItemPerMinute(1_000_000_000)
    assert limiter.check("client-1").allowed and fixed.hit(item, "client-1")
    ours_rl = per_call_us(lambda: limiter.check("client-1"), 200_000)
    base_rl = per_call_us(lambda: fixed.hit(item, "client-1"), 50_000)
    results.append(("rate-limit check vs limits FixedWindow", ours_rl, base_rl, ">= 10x"))
    if base_rl / ours_rl < 10:
        failures.append("rate limit")

    print(f"mcpguard Python binding bench (Python {sys.version.split()[0]}, PyJWT {jwt.__version__}, "
          f"limits {limits.__version__})")
    print(f"{'':44} {'mcpguard':>10} {'baseline':>10} {'ratio':>8}  target")
    for name, ours, base, target in results:
        if base is None:
            print(f"{name:44} {ours:8.3f}us {'':>10} {'':>8}  {target}")
        else:
            print(f"{name:44} {ours:8.3f}us {base:8.3f}us {base / ours:7.1f}x  {target}")
    if failures:
        print("MISSED:", ", ".join(failures))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
