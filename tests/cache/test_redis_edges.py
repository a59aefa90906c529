"""RedisCache edge cases found in review (real Redis)."""

from __future__ import annotations

import pytest

from llm_core import RedisCache


@pytest.mark.parametrize("ttl", [1e17, 1e300])
def test_a_valid_ttl_beyond_what_redis_can_count_lives_on(
    redis_cache: RedisCache, ttl: float
) -> None:
    """Any finite TTL > 0 is valid; one past Redis's millisecond range must not read as 'down'."""
    redis_cache.set("far", b"v", ttl=ttl)
    assert redis_cache.get("far") == b"v"
    assert redis_cache.touch("far", ttl) is True
    assert redis_cache.get("far") == b"v"


async def test_a_prefix_no_key_can_start_with_lists_nothing(redis_cache: RedisCache) -> None:
    """A lone surrogate cannot be in any stored key: no keys, as SQLiteCache answers."""
    redis_cache.set("ok", b"v")
    assert redis_cache.keys("ok\ud800") == []
    assert await redis_cache.akeys("\ud800") == []
    assert redis_cache.keys("o") == ["ok"]
