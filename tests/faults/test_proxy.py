"""The fault proxy itself: it relays RESP faithfully, and each fault does what it says."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator

import pytest
import redis

from llm_core.cache import RedisCache
from llm_core.errors import CacheUnavailableError
from tests.faults.proxy import FaultProxy, command_name, resp_end
from tests.redis_support import PrivateRedis


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateRedis]:
    with PrivateRedis() as started:
        yield started


@pytest.fixture
def proxy(server: PrivateRedis) -> Iterator[FaultProxy]:
    redis.Redis.from_url(server.url).flushall()
    with FaultProxy(server.port) as started:
        yield started


def raw(url: str, retries: int = 0) -> redis.Redis:
    # redis-py before 6 retries only the errors named in retry_on_error, whatever ``retry`` says
    return redis.Redis.from_url(
        url,
        retry=redis.retry.Retry(redis.backoff.NoBackoff(), retries),
        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
    )


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"+OK\r\n", 5),
        (b"$3\r\nabc\r\n", 9),
        (b"$-1\r\n", 5),
        (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 20),
        (b"*-1\r\n", 5),
        (b"%1\r\n+a\r\n:1\r\n", 12),
        (b"_\r\n", 3),
        (b"PING\r\n", 6),
        (b"*2\r\n$3\r\nGET\r\n$1\r\n", None),
        (b"$3\r\nab", None),
        (b"", None),
    ],
)
def test_resp_end_finds_the_end_of_one_value(data: bytes, end: int | None) -> None:
    assert resp_end(data) == end


def test_command_names() -> None:
    data = b"*2\r\n$3\r\nget\r\n$1\r\nk\r\n"
    assert command_name(data, 0, len(data)) == b"GET"
    assert command_name(b"ping\r\n", 0, 6) == b"PING"


def test_it_relays_and_counts(proxy: FaultProxy) -> None:
    with RedisCache(url=proxy.url, prefix="p:") as cache:
        cache.set("k", b"v" * 100_000)  # spans many reads
        assert cache.get("k") == b"v" * 100_000
        assert cache.get("missing") is None
    assert proxy.by_command[b"SET"] == 1
    assert proxy.by_command[b"GET"] == 2
    assert proxy.dropped == 0


def test_a_dropped_reply_comes_after_the_server_executed_the_command(
    proxy: FaultProxy, server: PrivateRedis
) -> None:
    client = raw(proxy.url)
    assert client.ping()
    proxy.drop_next(b"SET")
    with pytest.raises(redis.exceptions.ConnectionError):
        client.set("k", b"v")
    assert redis.Redis.from_url(server.url).get("k") == b"v"  # it ran
    assert proxy.dropped == 1
    assert proxy.dropped_by_command == {b"SET": 1}
    assert client.get("k") == b"v"  # a new connection works


def test_drop_nth_counts_every_command(proxy: FaultProxy) -> None:
    client = raw(proxy.url)
    client.ping()  # the handshake and PING are commands too
    proxy.drop_nth(proxy.commands + 2)
    assert client.get("a") is None
    with pytest.raises(redis.exceptions.ConnectionError):
        client.get("b")
    assert proxy.dropped == 1


def test_a_reset_command_never_reaches_the_server(proxy: FaultProxy, server: PrivateRedis) -> None:
    client = raw(proxy.url)
    client.ping()
    proxy.reset_nth(proxy.commands + 1)
    with pytest.raises(redis.exceptions.ConnectionError):
        client.set("never", b"v")
    assert redis.Redis.from_url(server.url).get("never") is None
    assert proxy.resets == 1


def test_reset_all_cuts_a_command_in_flight(proxy: FaultProxy) -> None:
    client = raw(proxy.url)
    client.ping()
    proxy.delay = 2.0
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(client.get, "k")
        time.sleep(0.3)
        proxy.reset_all()
        with pytest.raises(redis.exceptions.ConnectionError):
            waiting.result(timeout=5)
    assert proxy.resets == 1
    proxy.delay = 0.0
    assert client.ping()  # and the next connection works


def test_delay_holds_each_reply(proxy: FaultProxy) -> None:
    client = raw(proxy.url)
    client.ping()
    proxy.delay = 0.2
    started = time.perf_counter()
    client.get("k")
    assert time.perf_counter() - started >= 0.2


def test_drop_rate_is_seeded_and_spares_the_handshake(proxy: FaultProxy) -> None:
    proxy.drop_rate = 0.5
    client = raw(proxy.url, retries=50)
    for i in range(100):
        client.set(f"k{i}", b"v")
    assert 20 < proxy.dropped < 100
    assert set(proxy.dropped_by_command) == {b"SET"}


# --- RedisCache's retry policy, seen through the proxy -----------------------------------


def test_redis_cache_retries_a_lost_reply_of_an_idempotent_command(proxy: FaultProxy) -> None:
    with RedisCache(url=proxy.url, prefix="p:") as cache:
        proxy.drop_next(b"SET")
        cache.set("k", b"v")
        proxy.drop_next(b"GET")
        assert cache.get("k") == b"v"
    assert proxy.dropped == 2
    assert proxy.by_command[b"SET"] == 2 and proxy.by_command[b"GET"] == 2


def test_without_retries_a_lost_reply_is_cache_unavailable(proxy: FaultProxy) -> None:
    with RedisCache(url=proxy.url, prefix="p:", retries=0) as cache:
        proxy.drop_next(b"SET")
        with pytest.raises(CacheUnavailableError, match="SET failed"):
            cache.set("k", b"v")
        assert cache.get("k") == b"v"


def test_a_retried_compare_and_set_is_fenced(proxy: FaultProxy) -> None:
    """The script ran, its reply was lost, redis-py ran it again: the second run finds the new
    bytes, changes nothing and answers "no" (the session lifecycle confirms every "no" with a
    read, which finds its own bytes)."""
    with RedisCache(url=proxy.url, prefix="p:") as cache:
        cache.set("k", b"old")
        cache.compare_and_set("warm", None, None)  # loads the script (EVALSHA → EVAL once)
        proxy.drop_next(b"EVALSHA")
        assert cache.compare_and_set("k", b"old", b"new-unique") is False
        assert cache.get("k") == b"new-unique"
    assert proxy.dropped_by_command == {b"EVALSHA": 1}


def test_take_is_never_retried(proxy: FaultProxy) -> None:
    """A retried GETDEL would answer "absent" for a value its first run removed."""
    with RedisCache(url=proxy.url, prefix="p:") as cache:
        cache.set("k", b"v")
        proxy.drop_next(b"GETDEL")
        with pytest.raises(CacheUnavailableError, match="GETDEL failed"):
            cache.take("k")
        assert proxy.by_command[b"GETDEL"] == 1
        cache.set("k2", b"v2")
        assert cache.take("k2") == b"v2"  # the pool still works


async def test_async_take_is_never_retried_and_others_are(proxy: FaultProxy) -> None:
    async with RedisCache(url=proxy.url, prefix="p:") as cache:
        await cache.aset("k", b"v")
        proxy.drop_next(b"GET")
        assert await cache.aget("k") == b"v"
        proxy.drop_next(b"GETDEL")
        with pytest.raises(CacheUnavailableError, match="GETDEL failed"):
            await cache.atake("k")
        assert await cache.atake("k") is None
    assert proxy.by_command[b"GETDEL"] == 2
