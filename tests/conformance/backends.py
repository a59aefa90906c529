"""The backends every conformance test runs against.

Adding a backend = adding one factory to ``FACTORIES``.  A factory returns a ``Backend``: the
cache under test, a way to move its clock forward (an injected clock where the backend takes
one, a real sleep otherwise), the TTL the tests should use, and a cleanup.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from llm_core.cache import Cache, MemoryCache, SQLiteCache
from tests.clock import ManualClock


@dataclass
class Backend:
    name: str
    cache: Cache
    advance: Callable[[float], None]
    ttl: float = 10.0  # a TTL long enough that the test's own work cannot outlive it
    margin: float = 0.001  # how close to the boundary the tests probe
    cleanup: Callable[[], None] = field(default=lambda: None)


BackendFactory = Callable[[Path], Backend]


def memory_backend(tmp_path: Path) -> Backend:
    clock = ManualClock()
    return Backend("memory", MemoryCache(clock=clock), clock.advance)


def sqlite_backend(tmp_path: Path) -> Backend:
    clock = ManualClock()
    cache = SQLiteCache(tmp_path / "conformance.db", clock=clock)
    return Backend("sqlite", cache, clock.advance, cleanup=cache.close)


def redis_backend(tmp_path: Path) -> Backend:
    """The real server's clock: short TTL, real waits (about 7 s for the whole suite)."""
    from llm_core.cache.redis._cache import RedisCache
    from tests.redis_support import REDIS_URL, delete_prefix, require_redis, unique_prefix

    url = require_redis(REDIS_URL)
    prefix = unique_prefix("conformance")
    cache = RedisCache.from_url(url, prefix=prefix)

    def cleanup() -> None:
        cache.close()
        delete_prefix(url, prefix)

    return Backend("redis", cache, real_time_advance, ttl=0.3, margin=0.08, cleanup=cleanup)


# --- ecosystem bridges (from_*): their library imported only when the factory runs ---------
# Each bridge keeps the exact expiry beside the value on an injected clock.  LangGraph's own
# whole-second TTL (the TTL rounded up, counted on the wall clock) only garbage-collects: with
# ttl=10 it cannot fire while a test runs on the manual clock.


def langgraph_inmemory_backend(tmp_path: Path) -> Backend:
    from langgraph.cache.memory import InMemoryCache

    from llm_core.bridges.langgraph import from_langgraph_cache

    clock = ManualClock()
    cache = from_langgraph_cache(InMemoryCache(), clock=clock)
    return Backend("langgraph-inmemory", cache, clock.advance)


def langgraph_sqlite_backend(tmp_path: Path) -> Backend:
    from langgraph.cache.sqlite import SqliteCache

    from llm_core.bridges.langgraph import from_langgraph_cache

    clock = ManualClock()
    cache = from_langgraph_cache(SqliteCache(path=str(tmp_path / "lg.db")), clock=clock)
    return Backend("langgraph-sqlite", cache, clock.advance)


def langgraph_redis_backend(tmp_path: Path) -> Backend:
    """LangGraph's own RedisCache (SETEX whole seconds, KEYS-pattern clear) under the bridge."""
    import redis
    from langgraph.cache.redis import RedisCache as LangGraphRedisCache

    from llm_core.bridges.langgraph import from_langgraph_cache
    from tests.redis_support import REDIS_URL, delete_prefix, require_redis, unique_prefix

    url = require_redis(REDIS_URL)
    prefix = unique_prefix("conformance-langgraph")
    client = redis.Redis.from_url(url)
    clock = ManualClock()
    cache = from_langgraph_cache(LangGraphRedisCache(client, prefix=prefix), clock=clock)

    def cleanup() -> None:
        client.close()
        delete_prefix(url, prefix)

    return Backend("langgraph-redis", cache, clock.advance, cleanup=cleanup)


def langchain_inmemory_backend(tmp_path: Path) -> Backend:
    from langchain_core.caches import InMemoryCache

    from llm_core.bridges.langchain import from_langchain_cache

    clock = ManualClock()
    cache = from_langchain_cache(InMemoryCache(), clock=clock)
    return Backend("langchain-inmemory", cache, clock.advance)


def llamaindex_simplekv_backend(tmp_path: Path) -> Backend:
    from llama_index.core.storage.kvstore import SimpleKVStore

    from llm_core.bridges.llamaindex import from_llamaindex_kvstore

    clock = ManualClock()
    cache = from_llamaindex_kvstore(SimpleKVStore(), clock=clock)
    return Backend("llamaindex-simplekv", cache, clock.advance)


def real_time_advance(seconds: float) -> None:
    """For backends on a server's clock: wait for real."""
    time.sleep(seconds)


FACTORIES: dict[str, BackendFactory] = {
    "memory": memory_backend,
    "sqlite": sqlite_backend,
    "redis": redis_backend,
    "langgraph-inmemory": langgraph_inmemory_backend,
    "langgraph-sqlite": langgraph_sqlite_backend,
    "langgraph-redis": langgraph_redis_backend,
    "langchain-inmemory": langchain_inmemory_backend,
    "llamaindex-simplekv": llamaindex_simplekv_backend,
}
