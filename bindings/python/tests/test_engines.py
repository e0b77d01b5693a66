"""The engines on their own: TokenValidator, TagFilter and the scope
helpers, RateLimiter."""

from __future__ import annotations

import pytest

import mcpguard
from conftest import NOW
from tokens import ISSUER, RESOURCE, claims, hs256, jwks, rs256



def test_the_token_validator_alone_checks_tokens_without_tags() -> None:
    v = mcpguard.TokenValidator(
        {"issuers": [{"issuer": ISSUER, "jwks": jwks("hmac")}]}, RESOURCE, clock=mcpguard.ManualClock(NOW)
    )
    assert v.issuers() == [ISSUER]
    p = v.validate(hs256(claims(NOW)))
    assert p.scopes == ["tag:files"] and p.tags == []
    with pytest.raises(mcpguard.InvalidToken) as e:
        v.validate(rs256(claims(NOW)))
    assert e.value.reason in ("unknown_key", "algorithm_not_allowed")
    with pytest.raises(mcpguard.InvalidToken) as e:
        v.validate(hs256(claims(NOW, aud="https://x.example.com")))
    assert e.value.reason == "wrong_audience" and "resource_metadata" not in (e.value.www_authenticate or "")


def test_the_token_validator_refuses_a_bad_auth_object_with_its_path() -> None:
    with pytest.raises(mcpguard.ConfigError) as e:
        mcpguard.TokenValidator({"issuers": [{"issuer": ISSUER, "jwks": {"keys": []}, "nope": 1}]}, RESOURCE)
    assert e.value.path.startswith("issuers[0]")


def test_tag_filters_parse_match_and_report_their_tags() -> None:
    f = mcpguard.TagFilter.parse(tag_filter="Web and not internal")
    assert f.tags() == ["web", "internal"]
    assert f.matches(["web", "public"]) and not f.matches(["web", "internal"])
    assert mcpguard.TagFilter.parse(tags="a, B").tags() == ["a", "b"]
    q = mcpguard.TagFilter.parse(tag_query={"$or": [{"tag": "db"}, {"tag": "web"}]})
    assert q.matches(["db"]) and not q.matches(["x"])
    assert str(mcpguard.TagFilter.parse(tags="a,b"))


def test_a_refused_filter_raises_invalid_request_with_1mcp_text() -> None:
    with pytest.raises(mcpguard.InvalidRequest) as e:
        mcpguard.TagFilter.parse(tag_filter="web and")
    assert (e.value.reason, e.value.status, e.value.error) == ("invalid_filter", 400, "invalid_request")
    assert "Unexpected end of input" in str(e.value)
    with pytest.raises(TypeError):
        mcpguard.TagFilter.parse(tags="a", tag_filter="b")
    with pytest.raises(TypeError):
        mcpguard.TagFilter.parse()


def test_scopes_validate_against_available_tags() -> None:
    assert mcpguard.validate_scopes(["tag:Web"], ["web", "db"]) == ["tag:web"]
    assert mcpguard.validate_scopes([], ["web"]) == ["tag:web"]
    with pytest.raises(mcpguard.InvalidRequest) as e:
        mcpguard.validate_scopes(["tag:nope", "tag:web"], ["web"])
    assert e.value.errors == ["Scope not available: tag:nope (tag: nope)"]
    assert mcpguard.scopes_to_tags(["tag:web", "openid", "tag:"]) == ["web"]
    assert mcpguard.tags_to_scopes(["web"]) == ["tag:web"]


def test_a_rate_limiter_checks_peeks_and_resets_on_its_clock() -> None:
    clock = mcpguard.ManualClock(NOW)
    limiter = mcpguard.RateLimiter(limit=2, window_seconds=10, clock=clock)
    assert limiter.check("a").allowed and limiter.check("a").allowed
    denied = limiter.check("a")
    assert not denied and denied.retry_after == 10 and denied.remaining == 0
    assert limiter.peek("a").remaining == 0 and limiter.check("b").allowed
    assert limiter.tracked_keys() == 2
    clock.advance(10)
    assert limiter.peek("a").remaining == 2
    limiter.check("a")
    limiter.reset("a")
    assert limiter.peek("a").remaining == 2
    assert not limiter.check("a", cost=3).allowed and limiter.check("a", cost=3).never


def test_a_token_bucket_takes_a_burst() -> None:
    limiter = mcpguard.RateLimiter(10, 60, algorithm="token_bucket", burst=3, clock=mcpguard.ManualClock(NOW))
    assert [limiter.check("k").allowed for _ in range(4)] == [True, True, True, False]
    assert limiter.check("k").limit == 3


@pytest.mark.parametrize(
    "kwargs",
    [{"algorithm": "leaky"}, {"limit": 2**40}, {"window_seconds": 0}, {"burst": 3}, {"max_keys": 0}],
)
def test_a_rate_limiter_refuses_numbers_it_cannot_honour(kwargs: dict[str, object]) -> None:
    with pytest.raises(mcpguard.ConfigError):
        mcpguard.RateLimiter(**kwargs)  # type: ignore[arg-type]
