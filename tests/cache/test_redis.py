"""RedisCache against real servers: the shared one on 127.0.0.1:6379 and a private one."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import redis
import redis.asyncio

from llm_core import RedisCache
from llm_core.errors import CacheUnavailableError, ConfigurationError
from tests.redis_support import PrivateRedis, unique_prefix

pytestmark = pytest.mark.redis


def test_keys_live_under_the_prefix_with_millisecond_ttls(
    redis_cache: RedisCache, redis_url: str, redis_prefix: str
) -> None:
    redis_cache.set("session:1", b"payload", ttl=30.0001)
    raw = redis.Redis.from_url(redis_url)
    try:
        assert raw.get(redis_prefix + "session:1") == b"payload"
        assert 29_900 < raw.pttl(redis_prefix + "session:1") <= 30_001
        assert raw.get("session:1") is None  # nothing outside the namespace
        assert redis_cache.touch("session:1", None) is True
        assert raw.pttl(redis_prefix + "session:1") == -1  # PERSISTed
    finally:
        raw.close()


def test_touch_none_on_a_key_without_ttl_is_true(redis_cache: RedisCache) -> None:
    redis_cache.set("forever", b"")  # empty value: GETEX answers b"", still "present"
    assert redis_cache.touch("forever", None) is True
    assert redis_cache.touch("absent", None) is False


def test_two_prefixes_do_not_see_each_other(redis_url: str) -> None:
    first = RedisCache.from_url(redis_url, prefix=unique_prefix("a"))
    second = RedisCache.from_url(redis_url, prefix=unique_prefix("b"))
    try:
        first.set("shared-name", b"first")
        second.set("shared-name", b"second")
        second.set("only-second", b"x")
        assert first.get("shared-name") == b"first"
        assert second.get("shared-name") == b"second"
        assert first.keys() == ["shared-name"]
        assert sorted(second.keys()) == ["only-second", "shared-name"]
        assert first.take("only-second") is None
        first.clear()
        assert first.keys() == []
        assert second.get("shared-name") == b"second"  # clear stayed in its namespace
    finally:
        first.clear()
        second.clear()
        first.close()
        second.close()


def test_glob_characters_in_prefixes_and_listing_are_literal(redis_url: str) -> None:
    cache = RedisCache.from_url(redis_url, prefix=unique_prefix("glob*[x]?"))
    neighbour = RedisCache.from_url(redis_url, prefix=cache.prefix.replace("*", "Z"))
    try:
        for key in ["a*", "a*1", "ab", "a?", "a[1]", "a\\b", "aXb"]:
            cache.set(key, b"v")
        neighbour.set("a*", b"not mine")
        assert sorted(cache.keys("a*")) == ["a*", "a*1"]
        assert sorted(cache.keys("a[")) == ["a[1]"]
        assert sorted(cache.keys("a\\")) == ["a\\b"]
        assert len(cache.keys()) == 7
    finally:
        cache.clear()
        neighbour.clear()
        cache.close()
        neighbour.close()


async def test_listing_many_keys_pages_through_scan(redis_cache: RedisCache) -> None:
    pipe = redis_cache.client.pipeline(transaction=False)
    for i in range(2500):
        pipe.set(f"{redis_cache.prefix}bulk:{i}", b"v")
    pipe.set(f"{redis_cache.prefix}bad\nkey", b"written by someone else")
    pipe.execute()
    assert len(redis_cache.keys("bulk:")) == 2500
    assert len(await redis_cache.akeys("bulk:")) == 2500
    assert "bad\nkey" not in set(redis_cache.keys())


def test_built_from_a_client_which_it_does_not_close(redis_url: str, redis_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    cache = RedisCache(client, prefix=redis_prefix)
    cache.set("k", b"v", 5)
    assert cache.get("k") == b"v"
    assert asyncio.run(cache.aget("k")) == b"v"  # async client made from the same settings
    cache.close()
    assert client.ping() is True
    client.close()


def test_built_from_an_async_client_only(redis_url: str, redis_prefix: str) -> None:
    async def main() -> tuple[bytes | None, bytes | None]:
        async_client = redis.asyncio.Redis.from_url(redis_url)
        cache = RedisCache(async_client=async_client, prefix=redis_prefix)
        await cache.aset("k", b"v")
        sync_view = cache.get("k")  # the sync face gets a client from the same settings
        async_view = await cache.atake("k")
        cache.close()
        await async_client.aclose()
        return sync_view, async_view

    assert asyncio.run(main()) == (b"v", b"v")


def test_construction_errors_say_what_is_allowed(redis_url: str) -> None:
    with pytest.raises(ConfigurationError, match="decode_responses=False"):
        RedisCache(redis.Redis.from_url(redis_url, decode_responses=True))
    with pytest.raises(ConfigurationError, match="a client or a url, not both"):
        RedisCache(redis.Redis(), url=redis_url)
    with pytest.raises(ConfigurationError, match=r"options \['socket_timeout'\] apply only"):
        RedisCache(redis.Redis(), socket_timeout=1)
    with pytest.raises(ConfigurationError, match=r"pass a redis\.asyncio\.Redis as async_client"):
        RedisCache(redis.asyncio.Redis())
    with pytest.raises(ConfigurationError, match="redis://"):
        RedisCache(url="http://example.com")
    with pytest.raises(ConfigurationError, match="prefix must be str"):
        RedisCache(url=redis_url, prefix=None)  # type: ignore[arg-type]


def test_async_face_works_from_many_event_loops(redis_cache: RedisCache) -> None:
    async def round_trip(name: str) -> bytes | None:
        await redis_cache.aset(name, name.encode(), 5)
        return await redis_cache.atake(name)

    assert asyncio.run(round_trip("first-loop")) == b"first-loop"
    assert asyncio.run(round_trip("second-loop")) == b"second-loop"
    results: dict[int, bytes | None] = {}

    def in_thread(n: int) -> None:
        results[n] = asyncio.run(round_trip(f"thread-{n}"))

    threads = [threading.Thread(target=in_thread, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: f"thread-{n}".encode() for n in range(4)}
    assert redis_cache._aclients == {}  # each loop's client was closed as its loop shut down


async def test_aclose_closes_this_loops_client(redis_url: str, redis_prefix: str) -> None:
    async with RedisCache.from_url(redis_url, prefix=redis_prefix) as cache:
        await cache.aset("k", b"v")
        assert asyncio.get_running_loop() in cache._aclients
    assert cache._aclients == {}


def test_repr_and_errors_never_show_the_password() -> None:
    with PrivateRedis(args=["--requirepass", "right-horse"]) as server:
        good = RedisCache.from_url(server.url.replace("//", "//:right-horse@"), prefix="p:")
        good.set("k", b"v")
        assert good.get("k") == b"v"
        assert "right-horse" not in repr(good)
        bad = RedisCache.from_url(server.url.replace("//", "//:hunter2@"), prefix="p:")
        with pytest.raises(CacheUnavailableError, match="failed") as info:
            bad.get("k")
        assert isinstance(info.value.__cause__, redis.exceptions.AuthenticationError)
        assert "hunter2" not in str(info.value)
        assert "hunter2" not in repr(bad)
        good.close()
        bad.close()


def test_sweep_is_a_no_op_because_redis_expires_keys(redis_cache: RedisCache) -> None:
    assert redis_cache.capabilities.sweep is True
    assert redis_cache.sweep() == 0
    assert asyncio.run(redis_cache.asweep()) == 0


# --- a server that goes away -----------------------------------------------------------------


def _every_sync_op(cache: RedisCache) -> list[Any]:
    return [
        lambda: cache.get("k"),
        lambda: cache.set("k", b"v", 5),
        lambda: cache.set("k", b"v"),
        lambda: cache.delete("k"),
        lambda: cache.take("k"),
        lambda: cache.touch("k", 5),
        lambda: cache.touch("k", None),
        lambda: cache.compare_and_set("k", None, b"v", 5),
        lambda: cache.keys(),
    ]


def _every_async_op(cache: RedisCache) -> list[Any]:
    return [
        lambda: cache.aget("k"),
        lambda: cache.aset("k", b"v", 5),
        lambda: cache.adelete("k"),
        lambda: cache.atake("k"),
        lambda: cache.atouch("k", 5),
        lambda: cache.atouch("k", None),
        lambda: cache.acompare_and_set("k", b"v", None),
        lambda: cache.akeys(),
    ]


async def test_a_stopped_server_is_unavailable_then_recovers(
    private_redis: PrivateRedis,
) -> None:
    cache = RedisCache.from_url(private_redis.url, prefix="app:")
    cache.set("k", b"before")
    assert await cache.aget("k") == b"before"

    private_redis.stop()
    for op in _every_sync_op(cache):
        with pytest.raises(CacheUnavailableError, match=f"127.0.0.1:{private_redis.port}") as e:
            op()
        assert isinstance(e.value.__cause__, redis.exceptions.ConnectionError)
    for aop in _every_async_op(cache):
        with pytest.raises(CacheUnavailableError, match="failed") as e:
            await aop()
        assert isinstance(e.value.__cause__, redis.exceptions.ConnectionError)

    private_redis.start()  # same port, empty (no persistence)
    assert cache.get("k") is None
    cache.set("k", b"after", 5)
    assert await cache.atake("k") == b"after"
    await cache.aclose()
