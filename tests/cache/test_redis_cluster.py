"""RedisCache on a real Redis Cluster: 3 masters on free loopback ports (one per test session).

Sessions spread over the masters by their own keys (no hash tag pins them to one slot); every
command that names several keys or none is slot-safe; listing reads every master.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio.cluster
from redis.cluster import RedisCluster

from llm_core import Error, Ok, Paused, cache_from_url, recipes
from llm_core.cache import RedisCache
from llm_core.cache.redis._commands import cluster_url, merge_policies, slot_groups
from llm_core.errors import ConfigurationError
from tests.redis_cluster_support import PrivateRedisCluster, redis_cluster
from tests.redis_support import unique_prefix

__all__ = ["redis_cluster"]  # the session fixture, shared with the conformance class

SECRET = "cluster-test-secret-key-0123456789"


@pytest.fixture
def cluster_cache(redis_cluster: PrivateRedisCluster) -> Iterator[RedisCache]:
    cache = RedisCache(url=redis_cluster.url, prefix=unique_prefix("cluster"))
    try:
        yield cache
    finally:
        cache.clear()
        cache.close()


def node_clients(cluster: PrivateRedisCluster) -> dict[int, redis.Redis]:
    return {port: redis.Redis(host="127.0.0.1", port=port) for port in cluster.ports}


def keys_per_master(cluster: PrivateRedisCluster, prefix: str) -> dict[int, int]:
    """How many records under ``prefix`` each master holds (SCAN on each node directly; the
    index's keys, ``prefix`` + ``\\x00ix…``, are not records)."""
    escaped = "".join("\\" + c if c in "*?[]\\" else c for c in prefix)
    counts = {}
    for port, client in node_clients(cluster).items():
        names = client.scan_iter(match=escaped + "*", count=1000)
        counts[port] = sum(1 for name in names if b"\x00" not in name)
        client.close()
    return counts


# --- URLs and clients ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis+cluster://h:7000", (True, "redis://h:7000")),
        ("rediss+cluster://u:p@h:7000/0", (True, "rediss://u:p@h:7000")),
        ("redis://h:7000?cluster=true", (True, "redis://h:7000")),
        ("redis://h:7000/?cluster=1&socket_timeout=2", (True, "redis://h:7000?socket_timeout=2")),
        ("redis://h:7000/3?cluster=false", (False, "redis://h:7000/3")),
        ("redis://h:7000/3", (False, "redis://h:7000/3")),
    ],
)
def test_cluster_urls(url: str, expected: tuple[bool, str]) -> None:
    assert cluster_url(url) == expected


@pytest.mark.parametrize(
    "url", ["redis+cluster://h:7000/2", "redis://h/1?cluster=true", "redis://h?cluster=maybe"]
)
def test_bad_cluster_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        RedisCache(url=url)


def test_every_way_to_name_a_cluster(redis_cluster: PrivateRedisCluster) -> None:
    port = redis_cluster.ports[0]
    caches = [
        RedisCache(url=f"redis+cluster://127.0.0.1:{port}"),
        RedisCache(url=f"redis://127.0.0.1:{port}?cluster=true"),
        cache_from_url(f"redis+cluster://127.0.0.1:{port}?prefix=x:"),
        cache_from_url(f"redis://127.0.0.1:{port}/0?cluster=yes&socket_timeout=2"),
    ]
    client = RedisCluster(host="127.0.0.1", port=port)
    caches.append(RedisCache(client))
    for cache in caches:
        assert isinstance(cache, RedisCache)
        assert cache.cluster
        assert isinstance(cache.client, RedisCluster)
        assert repr(cache).startswith(f"RedisCache('redis+cluster://127.0.0.1:{port}'")
        cache.set("probe", b"1", 5)
        assert cache.get("probe") == b"1"
        cache.delete("probe")
        cache.close()
    assert caches[2].prefix == "x:"  # type: ignore[attr-defined]
    assert client.ping()  # a client you pass stays open
    client.close()


def test_clients_must_agree_and_keep_bytes(redis_cluster: PrivateRedisCluster) -> None:
    port = redis_cluster.ports[0]
    decoding = RedisCluster(host="127.0.0.1", port=port, decode_responses=True)
    with pytest.raises(ConfigurationError, match="decode_responses"):
        RedisCache(decoding)
    decoding.close()
    async_cluster = redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=port)
    with pytest.raises(ConfigurationError, match="async"):
        RedisCache(async_cluster)
    with pytest.raises(ConfigurationError, match="both"):
        RedisCache(url=f"redis://127.0.0.1:{port}/0", async_client=async_cluster)


def cluster_retries(client: Any) -> int:
    """The retry count a cluster client was given (``client.retry`` is redis-py 6+; before it,
    the cluster client's own ``cluster_error_retry_attempts``)."""
    if int(redis.__version__.split(".")[0]) < 6:
        return int(client.cluster_error_retry_attempts)
    return int(client.retry.get_retries())


def test_the_pool_and_retry_policy_reach_every_node(redis_cluster: PrivateRedisCluster) -> None:
    with RedisCache(url=redis_cluster.url, max_connections=7, pool_timeout=1.5, retries=2) as cache:
        cache.set("k", b"v", 5)
        assert cluster_retries(cache.client) == 2
        nodes = cache.client.get_primaries()
        assert len(nodes) == 3
        for node in nodes:
            pool = cache.client.get_redis_connection(node).connection_pool
            assert isinstance(pool, redis.BlockingConnectionPool)
            # redis-py 5's cluster client does not pass a pool timeout to its nodes: they keep
            # redis-py's default wait (20 s), as docs/backends.md says
            waits = 1.5 if int(redis.__version__.split(".")[0]) >= 6 else 20
            assert (pool.max_connections, pool.timeout) == (7, waits)

        async def async_policy() -> tuple[int, int]:
            await cache.aset("k", b"v", 5)
            client = cache._aclient()
            node = client.get_node_from_key(cache.prefix + "k")
            return cluster_retries(client), node.max_connections

        assert asyncio.run(async_policy()) == (2, 7)
        cache.delete("k")


# --- slot safety -----------------------------------------------------------------------------


def test_slot_groups_never_mix_slots() -> None:
    groups = slot_groups(lambda name: len(name) % 3, ["a", "bb", "ccc", "dd", "e"])
    assert groups == [["a", "e"], ["bb", "dd"], ["ccc"]]


def test_multi_key_commands_are_split_by_slot(cluster_cache: RedisCache) -> None:
    names = [f"k{i}" for i in range(500)]
    for name in names:
        cluster_cache.set(name, b"v", 30)
    slots = {cluster_cache.client.keyslot(cluster_cache.prefix + n) for n in names}
    assert len(slots) > 100  # the keys are spread, so a single UNLINK would be CROSSSLOT
    assert sorted(cluster_cache.keys()) == sorted(names)
    assert sorted(cluster_cache.keys("k1")) == sorted(n for n in names if n.startswith("k1"))
    cluster_cache.clear()
    assert cluster_cache.keys() == []


def test_take_goes_to_the_keys_master_once(cluster_cache: RedisCache) -> None:
    for i in range(50):
        cluster_cache.set(f"t{i}", str(i).encode(), 30)
    assert [cluster_cache.take(f"t{i}") for i in range(50)] == [str(i).encode() for i in range(50)]
    assert [cluster_cache.take(f"t{i}") for i in range(50)] == [None] * 50

    async def async_take() -> list[bytes | None]:
        for i in range(50):
            await cluster_cache.aset(f"a{i}", b"x", 30)
        return [await cluster_cache.atake(f"a{i}") for i in range(50)]

    assert asyncio.run(async_take()) == [b"x"] * 50


def test_eviction_policy_asks_every_primary(
    redis_cluster: PrivateRedisCluster, cluster_cache: RedisCache, caplog: Any
) -> None:
    assert cluster_cache.eviction_policy() == "noeviction"
    port = redis_cluster.ports[1]
    node = redis.Redis(host="127.0.0.1", port=port)
    node.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with caplog.at_level(logging.WARNING, logger="llm_core"):
            assert cluster_cache.eviction_policy() == "allkeys-lru"
        assert f"127.0.0.1:{port}" in caplog.text
    finally:
        node.config_set("maxmemory-policy", "noeviction")
        node.close()
    assert cluster_cache.eviction_policy() == "noeviction"


def test_merge_policies() -> None:
    assert merge_policies({"a": "noeviction", "b": "noeviction"}) == ("noeviction", [])
    assert merge_policies({"a": "noeviction", "b": None}) == (None, [])
    assert merge_policies({"a": None, "b": "volatile-lru", "c": "allkeys-lru"}) == (
        "volatile-lru",
        ["b", "c"],
    )
    assert merge_policies({}) == (None, [])


# --- sessions on the cluster -----------------------------------------------------------------


def pause_many(runtime: Any, count: int) -> list[str]:
    tokens = []
    for i in range(count):
        outcome = runtime.run(f"draft {i}")
        assert isinstance(outcome, Paused), outcome
        tokens.append(outcome.token)
    return tokens


@pytest.mark.slow
def test_3000_sessions_spread_over_the_masters_and_resume_once(
    redis_cluster: PrivateRedisCluster, cluster_cache: RedisCache
) -> None:
    runtime = recipes.hitl_gate(cluster_cache, secret_key=SECRET)
    tokens = pause_many(runtime, 3000)

    counts = keys_per_master(redis_cluster, cluster_cache.prefix)
    assert sum(counts.values()) == 3000
    assert all(n > 0 for n in counts.values()), counts
    assert max(counts.values()) <= 0.45 * 3000, counts  # an even spread is 1/3 each
    print(f"sessions per master: {counts}")

    listed = runtime.sessions()
    assert sorted(s.token for s in listed) == sorted(tokens)
    assert {s.status for s in listed} == {"pending"}

    # 4 threads resume the same 600 tokens, in different orders: each completes exactly once
    chosen = tokens[:600]
    results: dict[int, list[Any]] = {}
    start = threading.Barrier(4)

    def resumer(n: int) -> None:
        order = chosen[n * 150 :] + chosen[: n * 150] if n % 2 else chosen[::-1]
        start.wait()
        results[n] = [(t, runtime.resume(t, {"decision": "approve"})) for t in order]

    threads = [threading.Thread(target=resumer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    oks: Counter[str] = Counter()
    for outcomes in results.values():
        for token, outcome in outcomes:
            if isinstance(outcome, Ok):
                oks[token] += 1
            else:
                assert isinstance(outcome, Error), outcome
                assert outcome.kind in ("session_busy", "session_already_resumed"), outcome
    assert len(results) == 4
    assert oks == Counter({t: 1 for t in chosen})
    pending = {s.token for s in runtime.sessions() if s.status == "pending"}
    assert pending == set(tokens[600:])


def test_aresume_on_an_async_cluster_client(redis_cluster: PrivateRedisCluster) -> None:
    port = redis_cluster.ports[2]
    prefix = unique_prefix("cluster-async")

    async def scenario() -> None:
        async_client = redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=port)
        cache = RedisCache(async_client=async_client, prefix=prefix)
        assert cache.cluster
        runtime = recipes.hitl_gate(cache, secret_key=SECRET)
        paused = await runtime.arun("draft")
        assert isinstance(paused, Paused)
        results = await asyncio.gather(
            *(runtime.aresume(paused.token, {"decision": "approve"}) for _ in range(8))
        )
        assert sum(isinstance(r, Ok) for r in results) == 1
        assert await cache.akeys() != []  # the completion record, kept result_ttl
        cache.clear()
        await async_client.aclose()
        cache.close()

    asyncio.run(scenario())


def test_aresume_on_the_caches_own_async_clients(cluster_cache: RedisCache) -> None:
    runtime = recipes.hitl_gate(cluster_cache, secret_key=SECRET)
    tokens = pause_many(runtime, 20)

    async def scenario() -> list[Any]:
        return await asyncio.gather(
            *(runtime.aresume(t, {"decision": "reject"}) for t in tokens for _ in range(2))
        )

    started = time.monotonic()
    results = asyncio.run(scenario())
    assert sum(isinstance(r, Ok) for r in results) == 20, [
        (getattr(r, "kind", r), getattr(r, "diagnostics", None))
        for r in results
        if not isinstance(r, Ok)
    ]
    assert time.monotonic() - started < 10
    assert cluster_cache._aclients == {}  # closed with its loop
