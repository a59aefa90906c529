"""The Cache contract, run against every backend in ``backends.FACTORIES``, through both faces."""

from __future__ import annotations

import inspect
import math
import threading
from typing import Any

import pytest

from llm_core.cache import Cache, CacheCapabilities, ListableCache, capabilities_of
from llm_core.errors import InvalidKeyError, InvalidTTLError
from tests.conformance.backends import Backend


class Face:
    """One call style (sync or async) over a cache, so every test runs through both faces."""

    def __init__(self, cache: Cache, style: str) -> None:
        self.cache = cache
        self.style = style

    async def _call(self, name: str, *args: Any) -> Any:
        if self.style == "sync":
            return getattr(self.cache, name)(*args)
        return await getattr(self.cache, "a" + name)(*args)

    async def get(self, key: Any) -> bytes | None:
        return await self._call("get", key)

    async def set(self, key: Any, value: Any, ttl: Any = None) -> None:
        await self._call("set", key, value, ttl)

    async def delete(self, key: Any) -> None:
        await self._call("delete", key)

    async def take(self, key: Any) -> bytes | None:
        return await self._call("take", key)

    async def touch(self, key: Any, ttl: Any) -> bool:
        return await self._call("touch", key, ttl)


@pytest.fixture(params=["sync", "async"])
def face(request: pytest.FixtureRequest, backend: Backend) -> Face:
    return Face(backend.cache, request.param)


BAD_KEYS: list[Any] = [
    "",
    "line\nbreak",
    "nul\x00byte",
    "tab\tchar",
    "del\x7f",
    "c1\x85control",
    "lone\ud800surrogate",
    "é" * 513,  # 1026 UTF-8 bytes
    "x" * 1025,
    1,
    None,
    b"bytes-key",
    ("tuple",),
    ["unhashable"],
]
BAD_TTLS: list[Any] = [0, -1, 0.0, -0.5, math.inf, -math.inf, math.nan, True, "10", [1]]
BAD_VALUES: list[Any] = ["text", 1, None, bytearray(b"x"), memoryview(b"x"), {"a": 1}]


# --- the contract's shape ----------------------------------------------------


def test_is_a_cache_with_capabilities(backend: Backend) -> None:
    assert isinstance(backend.cache, Cache)
    assert isinstance(getattr(backend.cache, "capabilities", None), CacheCapabilities)
    for name in ("aget", "aset", "adelete", "atake", "atouch"):
        assert inspect.iscoroutinefunction(getattr(backend.cache, name)), name


# --- round trips ---------------------------------------------------------------


async def test_round_trip(face: Face) -> None:
    await face.set("k", b"v")
    assert await face.get("k") == b"v"


async def test_missing_is_none(face: Face) -> None:
    assert await face.get("never-set") is None


async def test_empty_and_binary_values_round_trip(face: Face) -> None:
    await face.set("empty", b"")
    await face.set("binary", bytes(range(256)) * 4)
    assert await face.get("empty") == b""
    assert await face.get("binary") == bytes(range(256)) * 4


async def test_unicode_and_longest_keys(face: Face) -> None:
    unicode_key = "sessions:ünïcødé:日本:\u00a0nbsp"
    longest = "é" * 512  # exactly 1024 UTF-8 bytes
    await face.set(unicode_key, b"1")
    await face.set(longest, b"2")
    assert await face.get(unicode_key) == b"1"
    assert await face.get(longest) == b"2"


async def test_overwrite_replaces_value_and_ttl(face: Face, backend: Backend) -> None:
    await face.set("k", b"old", backend.ttl)
    await face.set("k", b"new")  # no TTL now
    backend.advance(backend.ttl + backend.margin)
    assert await face.get("k") == b"new"


async def test_delete(face: Face) -> None:
    await face.set("k", b"v")
    await face.delete("k")
    assert await face.get("k") is None
    await face.delete("k")  # absent: no error


async def test_keys_are_independent(face: Face) -> None:
    await face.set("a", b"1")
    await face.set("b", b"2")
    await face.delete("a")
    assert await face.get("a") is None
    assert await face.get("b") == b"2"


# --- TTL -------------------------------------------------------------------------


async def test_ttl_alive_until_boundary_then_gone(face: Face, backend: Backend) -> None:
    await face.set("k", b"v", backend.ttl)
    backend.advance(backend.ttl - backend.margin)
    assert await face.get("k") == b"v"
    backend.advance(2 * backend.margin)
    assert await face.get("k") is None


async def test_integer_ttl_is_accepted(face: Face, backend: Backend) -> None:
    await face.set("k", b"v", max(1, math.ceil(backend.ttl)))
    assert await face.get("k") == b"v"


async def test_no_ttl_never_expires(face: Face, backend: Backend) -> None:
    await face.set("k", b"v", None)
    backend.advance(backend.ttl * 3)
    assert await face.get("k") == b"v"


async def test_touch_extends(face: Face, backend: Backend) -> None:
    await face.set("k", b"v", backend.ttl)
    backend.advance(backend.ttl / 2)
    assert await face.touch("k", backend.ttl) is True
    backend.advance(backend.ttl * 3 / 4)  # past the original expiry, inside the new one
    assert await face.get("k") == b"v"
    backend.advance(backend.ttl / 2)  # past the new expiry
    assert await face.get("k") is None


async def test_touch_none_removes_expiry(face: Face, backend: Backend) -> None:
    await face.set("k", b"v", backend.ttl)
    assert await face.touch("k", None) is True
    backend.advance(backend.ttl * 2)
    assert await face.get("k") == b"v"


async def test_touch_absent_or_expired_is_false(face: Face, backend: Backend) -> None:
    assert await face.touch("absent", backend.ttl) is False
    await face.set("k", b"v", backend.ttl)
    backend.advance(backend.ttl + backend.margin)
    assert await face.touch("k", backend.ttl) is False
    assert await face.get("k") is None


# --- take ----------------------------------------------------------------------


async def test_take_returns_once(face: Face) -> None:
    await face.set("k", b"v")
    assert await face.take("k") == b"v"
    assert await face.take("k") is None
    assert await face.get("k") is None


async def test_take_missing_or_expired_is_none(face: Face, backend: Backend) -> None:
    assert await face.take("absent") is None
    await face.set("k", b"v", backend.ttl)
    backend.advance(backend.ttl + backend.margin)
    assert await face.take("k") is None


def test_concurrent_takes_hand_out_the_value_once(backend: Backend) -> None:
    if not capabilities_of(backend.cache).atomic_take:
        pytest.skip(f"{backend.name} declares take as not atomic")
    for round_ in range(20):
        key = f"race-{round_}"
        backend.cache.set(key, b"prize")
        barrier = threading.Barrier(8)
        won: list[bytes | None] = []

        def racer() -> None:
            barrier.wait()
            won.append(backend.cache.take(key))

        threads = [threading.Thread(target=racer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(won, key=lambda v: v is None) == [b"prize"] + [None] * 7


# --- invalid input raises the documented error and writes nothing --------------------


@pytest.mark.parametrize("bad", BAD_KEYS, ids=repr)
async def test_invalid_keys_raise_on_every_operation(face: Face, bad: Any) -> None:
    with pytest.raises(InvalidKeyError):
        await face.set(bad, b"v")
    with pytest.raises(InvalidKeyError):
        await face.get(bad)
    with pytest.raises(InvalidKeyError):
        await face.delete(bad)
    with pytest.raises(InvalidKeyError):
        await face.take(bad)
    with pytest.raises(InvalidKeyError):
        await face.touch(bad, None)


@pytest.mark.parametrize("bad", BAD_TTLS, ids=repr)
async def test_invalid_ttl_raises_and_writes_nothing(face: Face, bad: Any) -> None:
    with pytest.raises(InvalidTTLError):
        await face.set("fresh", b"v", bad)
    assert await face.get("fresh") is None
    await face.set("kept", b"before")
    with pytest.raises(InvalidTTLError):
        await face.set("kept", b"after", bad)
    with pytest.raises(InvalidTTLError):
        await face.touch("kept", bad)
    assert await face.get("kept") == b"before"


@pytest.mark.parametrize("bad", BAD_VALUES, ids=repr)
async def test_invalid_value_raises_type_error_and_writes_nothing(face: Face, bad: Any) -> None:
    with pytest.raises(TypeError):
        await face.set("fresh", bad)
    assert await face.get("fresh") is None
    await face.set("kept", b"before")
    with pytest.raises(TypeError):
        await face.set("kept", bad)
    assert await face.get("kept") == b"before"


def test_error_messages_say_what_is_allowed(backend: Backend) -> None:
    with pytest.raises(InvalidKeyError, match="non-empty str of at most 1024 UTF-8 bytes"):
        backend.cache.set("bad\nkey", b"v")
    with pytest.raises(InvalidTTLError, match="finite number of seconds greater than 0"):
        backend.cache.set("k", b"v", -3)
    with pytest.raises(TypeError, match="must be bytes"):
        backend.cache.set("k", "text")  # type: ignore[arg-type]


# --- the two faces agree ---------------------------------------------------------


async def test_sync_and_async_faces_see_the_same_entries(backend: Backend) -> None:
    cache = backend.cache
    cache.set("from-sync", b"1")
    await cache.aset("from-async", b"2", backend.ttl)
    assert await cache.aget("from-sync") == b"1"
    assert cache.get("from-async") == b"2"
    assert await cache.atouch("from-sync", backend.ttl) is True
    assert cache.touch("from-async", None) is True
    assert await cache.atake("from-sync") == b"1"
    assert cache.take("from-sync") is None
    cache.delete("from-async")
    assert await cache.aget("from-async") is None


# --- listing, where declared --------------------------------------------------------


async def test_listing_returns_live_keys_by_prefix(backend: Backend) -> None:
    if not capabilities_of(backend.cache).listing:
        pytest.skip(f"{backend.name} declares no listing")
    cache = backend.cache
    assert isinstance(cache, ListableCache)
    cache.set("ns:a", b"1")
    cache.set("ns:b", b"2", backend.ttl)
    cache.set("ns:short", b"3", backend.ttl / 2)
    cache.set("other:c", b"4")
    backend.advance(backend.ttl / 2 + backend.margin)
    assert sorted(cache.keys("ns:")) == ["ns:a", "ns:b"]
    assert sorted(await cache.akeys("ns:")) == ["ns:a", "ns:b"]
    assert {"ns:a", "ns:b", "other:c"} <= set(cache.keys())
