"""cache_from_url: each accepted form builds a working cache; each bad URL names what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llm_core import MemoryCache, RedisCache, SQLiteCache, cache_from_url
from llm_core.errors import ConfigurationError
from tests.clock import ManualClock
from tests.redis_support import PrivateRedis, delete_prefix, unique_prefix


def test_memory() -> None:
    cache = cache_from_url("memory://")
    assert isinstance(cache, MemoryCache)
    cache.set("k", b"v")
    assert cache.get("k") == b"v"
    assert cache_from_url("memory://") is not cache  # each URL builds a new private cache


def test_memory_options_from_the_query_and_keywords() -> None:
    clock = ManualClock()
    cache = cache_from_url("memory://?max_entries=2", clock=clock)
    assert isinstance(cache, MemoryCache)
    for key in "abc":
        cache.set(key, b"v", ttl=1)
    assert sorted(cache.keys()) == ["b", "c"]  # bounded to 2 by the query
    clock.advance(2)  # the injected clock from the keyword
    assert cache.get("b") is None
    assert repr(cache_from_url("memory://?max_entries=none")).endswith("max_entries=None)")


def test_sqlite_relative_path_is_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cache = cache_from_url("sqlite:///relative.db")
    assert isinstance(cache, SQLiteCache)
    cache.set("k", b"v")
    cache.close()
    assert (tmp_path / "relative.db").exists()


def test_sqlite_absolute_path_with_escapes_and_options(tmp_path: Path) -> None:
    target = tmp_path / "my cache.db"
    url = f"sqlite:///{tmp_path}/my%20cache.db?busy_timeout=2.5&sweep_interval=30&synchronous=full"
    assert url.startswith("sqlite:////")
    cache = cache_from_url(url, clock=ManualClock())
    assert isinstance(cache, SQLiteCache)
    assert cache.path == str(target)
    assert cache._busy_timeout == 2.5
    assert cache._sweep_interval == 30.0
    assert cache._synchronous == "FULL"
    cache.set("k", b"v")
    cache.close()
    assert target.exists()


def test_sqlite_home_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cache = cache_from_url("sqlite:///~/in-home.db")
    assert isinstance(cache, SQLiteCache)
    assert cache.path == str(tmp_path / "in-home.db")
    cache.close()


@pytest.mark.redis
def test_redis_with_prefix_and_db(redis_url: str) -> None:
    prefix = unique_prefix("url")
    base = redis_url.rsplit("/", 1)[0]
    cache = cache_from_url(f"{base}/0?prefix={prefix}&socket_timeout=2")
    try:
        assert isinstance(cache, RedisCache)
        assert cache.prefix == prefix
        kwargs = cache.client.connection_pool.connection_kwargs
        assert (kwargs["db"], kwargs["socket_timeout"]) == (0, 2.0)
        cache.set("k", b"v", 5)
        assert cache.get("k") == b"v"
        other_db = cache_from_url(f"{base}/3")
        assert isinstance(other_db, RedisCache)
        assert other_db.client.connection_pool.connection_kwargs["db"] == 3
        assert other_db.prefix == "llm-core:"  # the default namespace
    finally:
        delete_prefix(redis_url, prefix)


def test_rediss_uses_tls() -> None:
    cache = cache_from_url("rediss://cache.example.com:6380/1?prefix=app:")
    assert isinstance(cache, RedisCache)
    assert cache.client.connection_pool.connection_class.__name__ == "SSLConnection"
    assert repr(cache) == "RedisCache('rediss://cache.example.com:6380/1', prefix='app:')"


def test_redis_over_a_unix_socket(tmp_path: Path) -> None:
    socket_path = tmp_path / "redis.sock"
    with PrivateRedis(args=["--unixsocket", str(socket_path), "--unixsocketperm", "700"]):
        cache = cache_from_url(f"unix://{socket_path}?db=2&prefix=sock:")
        assert isinstance(cache, RedisCache)
        cache.set("k", b"over the socket")
        assert cache.take("k") == b"over the socket"
        assert str(socket_path) in repr(cache)
        cache.close()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "nonsense",
        "http://example.com/cache",
        "mysql://db/cache",
        "sqlite://host/cache.db",
        "sqlite://",
        "sqlite:///",
        "memory://somewhere",
        "redis://localhost:6379/zero",
    ],
)
def test_bad_urls_name_the_accepted_forms(url: str) -> None:
    with pytest.raises(ConfigurationError, match="accepted forms: memory://, sqlite:///"):
        cache_from_url(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memory://?bogus=1", "unknown option 'bogus'.*accepted: max_entries"),
        ("memory://?max_entries=many", "bad value 'many' for 'max_entries'"),
        ("sqlite:///x.db?bogus=1", "unknown option 'bogus'.*busy_timeout"),
        ("sqlite:///x.db?busy_timeout=soon", "bad value 'soon'"),
        ("redis://localhost/0?bogus=1", "unknown option 'bogus'.*accept prefix"),
        ("redis://localhost:notaport/0", "not a Redis URL redis-py accepts"),
    ],
)
def test_bad_options_are_named(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        cache_from_url(url)


def test_non_string_urls_and_passwords_in_errors() -> None:
    not_a_url: Any = 42
    with pytest.raises(ConfigurationError, match="must be a str, got int"):
        cache_from_url(not_a_url)
    with pytest.raises(ConfigurationError) as info:
        cache_from_url("redis://:s3cret@localhost/zero")
    assert "s3cret" not in str(info.value)
    assert ":***@" in str(info.value)
