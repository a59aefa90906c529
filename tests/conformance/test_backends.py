"""Every backend and bridge of llm-core through the same kit third-party backends use.

One ``CacheConformance`` subclass per cache.  Caches that take a clock run on a
:class:`~llm_core.cache.testing.ManualClock` (no sleeps); RedisCache runs on the server's clock
with the kit's short real waits.  Each bridge keeps the exact expiry beside the value on the
injected clock: LangGraph's own whole-second TTL (rounded up, on the wall clock) only
garbage-collects, so with ``ttl = 10`` it cannot fire while a test runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_core.cache import Cache, MemoryCache, RedisCache, SQLiteCache
from llm_core.cache.testing import CacheConformance, ManualClock
from tests.redis_support import delete_prefix, unique_prefix


class ClockedConformance(CacheConformance):
    """For caches that take a clock: time moves when the test says so."""

    ttl = 10.0
    margin = 0.001

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def advance(self, clock: ManualClock) -> Callable[[float], None]:
        return clock.advance


class TestMemoryCache(ClockedConformance):
    @pytest.fixture
    def cache(self, clock: ManualClock) -> MemoryCache:
        return MemoryCache(clock=clock)


class TestSQLiteCache(ClockedConformance):
    @pytest.fixture
    def cache(self, clock: ManualClock, tmp_path: Path) -> Iterator[SQLiteCache]:
        with SQLiteCache(tmp_path / "conformance.db", clock=clock) as cache:
            yield cache


@pytest.mark.redis
class TestRedisCache(CacheConformance):
    """The real server's clock: the kit's default short TTL and real waits."""

    @pytest.fixture
    def cache(self, redis_url: str, redis_prefix: str) -> Iterator[RedisCache]:
        with RedisCache.from_url(redis_url, prefix=redis_prefix) as cache:
            yield cache


# --- ecosystem bridges (from_*): their library imported only when the fixture runs ----------


class TestLangGraphInMemory(ClockedConformance):
    @pytest.fixture
    def cache(self, clock: ManualClock) -> Cache:
        from langgraph.cache.memory import InMemoryCache

        from llm_core.bridges.langgraph import from_langgraph_cache

        return from_langgraph_cache(InMemoryCache(), clock=clock)


class TestLangGraphSqlite(ClockedConformance):
    @pytest.fixture
    def cache(self, clock: ManualClock, tmp_path: Path) -> Cache:
        from langgraph.cache.sqlite import SqliteCache

        from llm_core.bridges.langgraph import from_langgraph_cache

        return from_langgraph_cache(SqliteCache(path=str(tmp_path / "lg.db")), clock=clock)


@pytest.mark.redis
class TestLangGraphRedis(ClockedConformance):
    """LangGraph's own RedisCache (SETEX whole seconds, KEYS-pattern clear) under the bridge."""

    @pytest.fixture
    def cache(self, clock: ManualClock, redis_url: str) -> Iterator[Cache]:
        import redis
        from langgraph.cache.redis import RedisCache as LangGraphRedisCache

        from llm_core.bridges.langgraph import from_langgraph_cache

        prefix = unique_prefix("conformance-langgraph")
        client: Any = redis.Redis.from_url(redis_url)
        try:
            yield from_langgraph_cache(LangGraphRedisCache(client, prefix=prefix), clock=clock)
        finally:
            client.close()
            delete_prefix(redis_url, prefix)


class TestLangChainInMemory(ClockedConformance):
    @pytest.fixture
    def cache(self, clock: ManualClock) -> Cache:
        from langchain_core.caches import InMemoryCache

        from llm_core.bridges.langchain import from_langchain_cache

        return from_langchain_cache(InMemoryCache(), clock=clock)


class TestLlamaIndexSimpleKV(ClockedConformance):
    @pytest.fixture
    def cache(self, clock: ManualClock) -> Cache:
        from llama_index.core.storage.kvstore import SimpleKVStore

        from llm_core.bridges.llamaindex import from_llamaindex_kvstore

        return from_llamaindex_kvstore(SimpleKVStore(), clock=clock)


@pytest.mark.postgres
class TestPostgresCache(CacheConformance):
    """The server's clock (``statement_timestamp()``): the kit's short TTL and real waits, on a
    table of its own per test, dropped after."""

    @pytest.fixture
    def cache(self) -> Iterator[Cache]:
        from llm_core.cache import PostgresCache
        from tests.cache.test_postgres_support import (
            PG_URL,
            drop_table,
            require_postgres,
            unique_table,
        )

        url = require_postgres(PG_URL)
        table = unique_table("conformance")
        cache = PostgresCache(url, table=table)
        try:
            yield cache
        finally:
            cache.close()
            drop_table(url, table)


@pytest.mark.redis
class TestRedisClusterCache(CacheConformance):
    """A 3-master Redis Cluster of private redis-servers (one per test session), real waits.

    A longer TTL than the kit's default: a fresh asyncio cluster client first discovers the nodes
    (~100 ms here), so a check made within ``ttl / 2 - margin`` of an expiry needs more room than
    the default 70 ms on a busy machine.
    """

    ttl = 1.0
    margin = 0.2

    @pytest.fixture
    def cache(self, pytestconfig: pytest.Config) -> Iterator[RedisCache]:
        from tests.redis_cluster_support import shared_cluster

        cluster = shared_cluster(pytestconfig)
        with RedisCache(url=cluster.url, prefix=unique_prefix("conformance-cluster")) as cache:
            yield cache
            cache.clear()
