"""RedisCache's client policy: blocking pools with a timeout, an explicit retry policy, and the
server's eviction policy (read for the runtime's warning)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
import redis

from llm_core import Error, Ok, Paused, cache_from_url
from llm_core.cache import RedisCache
from llm_core.cache.redis._conn import checkout as _checkout
from llm_core.errors import CacheUnavailableError, ConfigurationError
from llm_core.workflow import AdapterBundle, Plugin, StepContext, Workflow
from tests.redis_support import PrivateRedis


def retries_of(pool: Any) -> int:
    """How many times a pool's connections retry (``Retry.get_retries`` is redis-py 5.1+)."""
    retry = pool.connection_kwargs["retry"]
    return int(retry.get_retries() if hasattr(retry, "get_retries") else retry._retries)


def test_default_clients_use_a_bounded_blocking_pool_and_the_retry_policy(
    private_redis: PrivateRedis,
) -> None:
    with RedisCache(url=private_redis.url) as cache:
        pool = cache.client.connection_pool
        assert isinstance(pool, redis.BlockingConnectionPool)
        assert (pool.max_connections, pool.timeout) == (64, 10.0)
        assert retries_of(pool) == 3

        async def async_pool() -> Any:
            await cache.aset("k", b"v")
            return cache._aclient().connection_pool

        apool = asyncio.run(async_pool())
        assert isinstance(apool, redis.asyncio.BlockingConnectionPool)
        assert (apool.max_connections, apool.timeout) == (64, 10.0)
        assert retries_of(apool) == 3


def test_options_and_url_query(private_redis: PrivateRedis) -> None:
    cache = RedisCache(url=private_redis.url, max_connections=3, pool_timeout=None, retries=0)
    pool = cache.client.connection_pool
    assert (pool.max_connections, pool.timeout) == (3, None)
    assert retries_of(pool) == 0
    cache.close()
    url = f"{private_redis.url}?max_connections=5&pool_timeout=0.5&retries=1&prefix=q:"
    cache = cache_from_url(url)
    assert isinstance(cache, RedisCache)
    pool = cache.client.connection_pool
    assert (pool.max_connections, pool.timeout) == (5, 0.5)
    assert retries_of(pool) == 1
    assert cache.prefix == "q:"
    cache.close()


@pytest.mark.parametrize(
    "options",
    [
        {"max_connections": 0},
        {"max_connections": 2.5},
        {"pool_timeout": 0},
        {"pool_timeout": float("nan")},
        {"retries": -1},
        {"retries": True},
        {"retry": None},
    ],
)
def test_bad_policy_options_are_configuration_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        RedisCache(url="redis://127.0.0.1:1/0", **options)


def test_policy_options_do_not_apply_to_a_client_you_pass(private_redis: PrivateRedis) -> None:
    client = redis.Redis.from_url(private_redis.url)
    with pytest.raises(ConfigurationError, match="max_connections"):
        RedisCache(client, max_connections=2)
    client.close()


def test_a_busy_pool_waits_then_is_cache_unavailable(private_redis: PrivateRedis) -> None:
    cache = RedisCache(url=private_redis.url, max_connections=1, pool_timeout=0.3)
    pool = cache.client.connection_pool
    held = _checkout(pool)
    started = time.perf_counter()
    with pytest.raises(CacheUnavailableError, match="No connection available"):
        cache.get("k")
    assert time.perf_counter() - started >= 0.25
    pool.release(held)
    assert cache.get("k") is None
    cache.close()


async def test_a_thousand_concurrent_calls_wait_for_eight_connections(
    private_redis: PrivateRedis,
) -> None:
    """redis-py's default async pool fails past its size ("Too many connections"); ours waits."""
    async with RedisCache(url=private_redis.url, max_connections=8, prefix="c:") as cache:
        await asyncio.gather(*(cache.aset(f"k{i}", b"v", 60) for i in range(1000)))
        values = await asyncio.gather(*(cache.aget(f"k{i}") for i in range(1000)))
        assert values == [b"v"] * 1000
        watcher = redis.Redis.from_url(private_redis.url)
        assert len(watcher.client_list()) <= 8 + 1  # ours, and the watcher
        watcher.close()


# --- eviction policy -----------------------------------------------------------------------


def _runtime(cache: RedisCache) -> Any:
    def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        return state if ctx.resumed else ctx.pause(kind="human")

    plugin = Plugin(key="c", adapters=AdapterBundle(cache=cache))
    return Workflow("evict", [gate]).use(plugin).build(secret_key="k" * 32)


def test_an_evicting_server_makes_the_runtime_warn() -> None:
    with PrivateRedis(args=("--maxmemory-policy", "allkeys-lru")) as server:
        cache = RedisCache(url=server.url)
        assert cache.eviction_policy() == "allkeys-lru"
        outcome = _runtime(cache).run({})
        assert isinstance(outcome, Paused)
        codes = [d.code for d in outcome.diagnostics if d.level == "warn"]
        assert "adapter.cache.evicts" in codes
        (found,) = [d for d in outcome.diagnostics if d.code == "adapter.cache.evicts"]
        assert "allkeys-lru" in found.message
        cache.close()


def test_a_noeviction_server_gives_no_warning(private_redis: PrivateRedis) -> None:
    redis.Redis.from_url(private_redis.url).config_set("maxmemory-policy", "noeviction")
    cache = RedisCache(url=private_redis.url)
    assert cache.eviction_policy() == "noeviction"
    runtime = _runtime(cache)
    outcome = runtime.run({})
    assert isinstance(outcome, Paused)
    assert "adapter.cache.evicts" not in [d.code for d in outcome.diagnostics]
    assert isinstance(runtime.resume(outcome.token, None), Ok)
    cache.close()


def test_a_server_that_denies_config_reads_as_unknown(caplog: pytest.LogCaptureFixture) -> None:
    with PrivateRedis(args=("--rename-command", "CONFIG", '""')) as server:
        cache = RedisCache(url=server.url)
        with caplog.at_level(logging.INFO, logger="llm_core"):
            assert cache.eviction_policy() is None
        assert any("maxmemory-policy" in r.getMessage() for r in caplog.records)
        outcome = _runtime(cache).run({})
        assert not isinstance(outcome, Error)
        assert "adapter.cache.evicts" not in [d.code for d in outcome.diagnostics]
        cache.close()


def test_an_unreachable_server_is_cache_unavailable() -> None:
    cache = RedisCache(url="redis://127.0.0.1:1/0", retries=0)
    with pytest.raises(CacheUnavailableError):
        cache.eviction_policy()
