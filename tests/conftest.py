"""Fixtures every test package can use: the shared Redis server and a private one.

``redis_url`` skips (or fails, under ``LLM_CORE_REQUIRE_REDIS``) when no server answers;
``redis_prefix`` is a fresh namespace whose keys are deleted after the test; ``redis_cache`` is a
``RedisCache`` on both; ``private_redis`` is a ``redis-server`` of the test's own, started on a
free port and stopped after (the test may stop and restart it).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm_core.cache import RedisCache
from tests.redis_support import REDIS_URL, PrivateRedis, delete_prefix, require_redis, unique_prefix


@pytest.fixture(scope="session")
def redis_url() -> str:
    return require_redis(REDIS_URL)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = unique_prefix()
    yield prefix
    delete_prefix(redis_url, prefix)


@pytest.fixture
def redis_cache(redis_url: str, redis_prefix: str) -> Iterator[RedisCache]:
    cache = RedisCache.from_url(redis_url, prefix=redis_prefix)
    yield cache
    cache.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server
