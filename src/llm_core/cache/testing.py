"""The importable conformance kit: the whole ``Cache`` contract as one pytest base class.

::

    import pytest
    from llm_core.cache.testing import CacheConformance

    class TestMyCache(CacheConformance):
        @pytest.fixture
        def cache(self):
            return MyCache()          # or ``yield`` it, then clean up

Each test gets a fresh, empty cache from the ``cache`` fixture (a new instance, a unique
namespace, or one cleared after ``yield``).  What runs follows ``cache.capabilities``: the take
race only for ``atomic_take``, compare-and-set only for ``compare_and_set``, listing only for
``listing`` (others are skipped, saying why).  Every test that calls the cache runs through
both faces, ``get``… and ``aget``…; the async ones run on a private event loop inside plain
sync tests, so the kit needs no pytest plugin (pytest-asyncio or otherwise).

Time: by default the kit waits for real (``advance`` is ``time.sleep``) with ``ttl = 0.3`` s
and ``margin = 0.08`` s.  A cache that takes a clock can run instantly: share a
:class:`ManualClock` between ``cache`` and an ``advance`` fixture returning ``clock.advance``,
and set ``ttl = 10.0`` and ``margin = 0.001`` on the class.

Only test code imports this module (it imports pytest); ``import llm_core`` never does.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from llm_core.cache._contract import (
    AtomicCache,
    Cache,
    CacheCapabilities,
    ListableCache,
    capabilities_of,
)
from llm_core.cache._kit import BAD_KEYS, BAD_TTLS, BAD_VALUES, Face, ManualClock, race, short
from llm_core.cache._kit_index import IndexConformance
from llm_core.errors import InvalidKeyError, InvalidTTLError

__all__ = ["BAD_KEYS", "BAD_TTLS", "BAD_VALUES", "CacheConformance", "Face", "ManualClock"]


def _require(cache: Any, flag: str, what: str) -> None:
    if not getattr(capabilities_of(cache), flag):
        pytest.skip(f"{type(cache).__name__} declares {flag}=False: {what} not tested")


class CacheConformance(IndexConformance):
    """Subclass it, define a ``cache`` fixture, and pytest runs the whole Cache contract.

    Optional: an ``advance`` fixture (default ``time.sleep``) and the class attributes
    ``ttl`` (a TTL longer than one test's own work) and ``margin`` (how close to the expiry
    boundary the tests probe), ``race_threads`` and ``race_rounds``.
    """

    ttl: ClassVar[float] = 0.3
    margin: ClassVar[float] = 0.08
    race_threads: ClassVar[int] = 8
    race_rounds: ClassVar[int] = 20

    @pytest.fixture
    def cache(self) -> Any:
        """Override: the cache under test, fresh and empty for each test."""
        pytest.fail(f"{type(self).__name__} must define a `cache` fixture returning the cache")

    @pytest.fixture
    def advance(self) -> Callable[[float], None]:
        """Override to move the cache's clock instead of waiting for real."""
        return time.sleep

    @pytest.fixture
    def async_runner(self, cache: Any) -> Iterator[asyncio.Runner]:
        """The event loop the async face runs on (closed before the cache's teardown)."""
        with asyncio.Runner() as runner:
            yield runner

    @pytest.fixture(params=["sync", "async"])
    def face(self, request: pytest.FixtureRequest, cache: Any, async_runner: Any) -> Face:
        return Face(cache, request.param, async_runner)

    # --- the contract's shape ----------------------------------------------------------

    def test_is_a_cache_with_capabilities(self, cache: Any) -> None:
        assert isinstance(cache, Cache)
        assert isinstance(getattr(cache, "capabilities", None), CacheCapabilities)
        names = ["aget", "aset", "adelete", "atake", "atouch"]
        caps = capabilities_of(cache)
        if caps.listing:
            assert isinstance(cache, ListableCache)
            names.append("akeys")
        if caps.compare_and_set:
            assert isinstance(cache, AtomicCache)
            names.append("acompare_and_set")
        for name in names:
            assert inspect.iscoroutinefunction(getattr(cache, name)), name

    # --- round trips ---------------------------------------------------------------------

    def test_round_trip(self, face: Face) -> None:
        face.set("k", b"v")
        assert face.get("k") == b"v"

    def test_missing_is_none(self, face: Face) -> None:
        assert face.get("never-set") is None

    def test_empty_and_binary_values_round_trip(self, face: Face) -> None:
        face.set("empty", b"")
        face.set("binary", bytes(range(256)) * 4)
        assert face.get("empty") == b""
        assert face.get("binary") == bytes(range(256)) * 4

    def test_unicode_and_longest_keys(self, face: Face) -> None:
        unicode_key = "sessions:ünïcødé:日本:\u00a0nbsp"
        longest = "é" * 512  # exactly 1024 UTF-8 bytes
        face.set(unicode_key, b"1")
        face.set(longest, b"2")
        assert face.get(unicode_key) == b"1"
        assert face.get(longest) == b"2"

    def test_overwrite_replaces_value_and_ttl(self, face: Face, advance: Any) -> None:
        face.set("k", b"old", self.ttl)
        face.set("k", b"new")  # no TTL now
        advance(self.ttl + self.margin)
        assert face.get("k") == b"new"

    def test_delete(self, face: Face) -> None:
        face.set("k", b"v")
        face.delete("k")
        assert face.get("k") is None
        face.delete("k")  # absent: no error

    def test_keys_are_independent(self, face: Face) -> None:
        face.set("a", b"1")
        face.set("b", b"2")
        face.delete("a")
        assert face.get("a") is None
        assert face.get("b") == b"2"

    # --- TTL -------------------------------------------------------------------------------

    def test_ttl_alive_until_boundary_then_gone(self, face: Face, advance: Any) -> None:
        face.set("k", b"v", self.ttl)
        advance(self.ttl - self.margin)
        assert face.get("k") == b"v"
        advance(2 * self.margin)
        assert face.get("k") is None

    def test_integer_ttl_is_accepted(self, face: Face) -> None:
        face.set("k", b"v", max(1, math.ceil(self.ttl)))
        assert face.get("k") == b"v"

    def test_no_ttl_never_expires(self, face: Face, advance: Any) -> None:
        face.set("k", b"v", None)
        advance(self.ttl * 3)
        assert face.get("k") == b"v"

    def test_touch_extends(self, face: Face, advance: Any) -> None:
        face.set("k", b"v", self.ttl)
        advance(self.ttl / 2)
        assert face.touch("k", self.ttl) is True
        advance(self.ttl * 3 / 4)  # past the original expiry, inside the new one
        assert face.get("k") == b"v"
        advance(self.ttl / 2)  # past the new expiry
        assert face.get("k") is None

    def test_touch_none_removes_expiry(self, face: Face, advance: Any) -> None:
        face.set("k", b"v", self.ttl)
        assert face.touch("k", None) is True
        advance(self.ttl * 2)
        assert face.get("k") == b"v"

    def test_touch_absent_or_expired_is_false(self, face: Face, advance: Any) -> None:
        assert face.touch("absent", self.ttl) is False
        face.set("k", b"v", self.ttl)
        advance(self.ttl + self.margin)
        assert face.touch("k", self.ttl) is False
        assert face.get("k") is None

    # --- take ------------------------------------------------------------------------------

    def test_take_returns_once(self, face: Face) -> None:
        face.set("k", b"v")
        assert face.take("k") == b"v"
        assert face.take("k") is None
        assert face.get("k") is None

    def test_take_missing_or_expired_is_none(self, face: Face, advance: Any) -> None:
        assert face.take("absent") is None
        face.set("k", b"v", self.ttl)
        advance(self.ttl + self.margin)
        assert face.take("k") is None

    def test_concurrent_takes_hand_out_the_value_once(self, cache: Any) -> None:
        _require(cache, "atomic_take", "the take race")
        losers = [None] * (self.race_threads - 1)
        for round_ in range(self.race_rounds):
            key = f"race-{round_}"
            cache.set(key, b"prize")
            won = race(self.race_threads, lambda _: cache.take(key))  # noqa: B023 - joined here
            assert sorted(won, key=lambda v: v is None) == [b"prize", *losers]

    # --- compare-and-set, where declared ------------------------------------------------

    def test_cas_on_absent_sets_once(self, face: Face) -> None:
        _require(face.cache, "compare_and_set", "compare_and_set")
        assert face.cas("k", None, b"v") is True
        assert face.get("k") == b"v"
        assert face.cas("k", None, b"w") is False
        assert face.get("k") == b"v"

    def test_cas_swaps_on_match_only(self, face: Face) -> None:
        _require(face.cache, "compare_and_set", "compare_and_set")
        face.set("k", b"a")
        assert face.cas("k", b"b", b"c") is False
        assert face.get("k") == b"a"
        assert face.cas("k", b"a", b"b") is True
        assert face.get("k") == b"b"
        assert face.cas("absent", b"x", b"y") is False
        assert face.get("absent") is None

    def test_cas_new_none_deletes(self, face: Face) -> None:
        _require(face.cache, "compare_and_set", "compare_and_set")
        face.set("k", b"v")
        assert face.cas("k", b"other", None) is False
        assert face.get("k") == b"v"
        assert face.cas("k", None, None) is False  # present is not absent
        assert face.cas("k", b"v", None) is True
        assert face.get("k") is None
        assert face.cas("k", None, None) is True  # absent stays absent

    def test_cas_empty_value_is_not_absent(self, face: Face) -> None:
        _require(face.cache, "compare_and_set", "compare_and_set")
        face.set("k", b"")
        assert face.cas("k", None, b"x") is False
        assert face.cas("k", b"", b"x") is True
        assert face.get("k") == b"x"

    def test_cas_ttl_like_set(self, face: Face, advance: Any) -> None:
        _require(face.cache, "compare_and_set", "compare_and_set")
        assert face.cas("k", None, b"v", self.ttl) is True
        face.set("forever", b"1", self.ttl)
        assert face.cas("forever", b"1", b"2") is True  # no TTL now, as set would
        advance(self.ttl - self.margin)
        assert face.get("k") == b"v"
        advance(2 * self.margin)
        assert face.get("k") is None
        assert face.get("forever") == b"2"

    def test_cas_expired_counts_as_absent(self, face: Face, advance: Any) -> None:
        _require(face.cache, "compare_and_set", "compare_and_set")
        face.set("k", b"v", self.ttl)
        advance(self.ttl + self.margin)
        assert face.cas("k", b"v", b"w") is False
        assert face.get("k") is None
        assert face.cas("k", None, b"w") is True
        assert face.get("k") == b"w"

    def test_cas_invalid_input_raises_and_writes_nothing(self, face: Face) -> None:
        _require(face.cache, "compare_and_set", "compare_and_set")
        face.set("kept", b"before")
        for key in BAD_KEYS:
            with pytest.raises(InvalidKeyError):
                face.cas(key, None, b"v")
        for ttl in BAD_TTLS:
            with pytest.raises(InvalidTTLError):
                face.cas("fresh", None, b"v", ttl)
            with pytest.raises(InvalidTTLError):
                face.cas("kept", b"before", b"after", ttl)
        for value in [v for v in BAD_VALUES if v is not None]:
            with pytest.raises(TypeError):
                face.cas("fresh", None, value)
            with pytest.raises(TypeError):
                face.cas("kept", b"before", value)
            with pytest.raises(TypeError):
                face.cas("kept", value, b"after")
        assert face.get("fresh") is None
        assert face.get("kept") == b"before"

    def test_concurrent_cas_has_one_winner(self, cache: Any) -> None:
        _require(cache, "compare_and_set", "the compare_and_set race")
        for round_ in range(self.race_rounds):
            # N threads swap the same expected value (a present one, then "absent"): one wins.
            for key, expected in ((f"cas-race-{round_}", b"v0"), (f"cas-fresh-{round_}", None)):
                if expected is not None:
                    cache.set(key, expected)

                def swap(i: int, key: str = key, expected: bytes | None = expected) -> bool:
                    return bool(cache.compare_and_set(key, expected, b"%d" % i))

                won = race(self.race_threads, swap)
                assert won.count(True) == 1, won
                assert cache.get(key) == b"%d" % won.index(True)

    def test_concurrent_async_cas_has_one_winner(self, cache: Any, async_runner: Any) -> None:
        _require(cache, "compare_and_set", "the compare_and_set race")
        cache.set("k", b"v0")

        async def race() -> list[bool]:
            calls = [
                cache.acompare_and_set("k", b"v0", b"%d" % i) for i in range(self.race_threads)
            ]
            return list(await asyncio.gather(*calls))

        won = async_runner.run(race())
        assert won.count(True) == 1, won
        assert cache.get("k") == b"%d" % won.index(True)

    # --- invalid input raises the documented error and writes nothing --------------------

    @pytest.mark.parametrize("bad", BAD_KEYS, ids=short)
    def test_invalid_keys_raise_on_every_operation(self, face: Face, bad: Any) -> None:
        calls: list[Callable[[], Any]] = [
            lambda: face.set(bad, b"v"), lambda: face.get(bad), lambda: face.delete(bad),
            lambda: face.take(bad), lambda: face.touch(bad, None),
        ]  # fmt: skip
        if capabilities_of(face.cache).compare_and_set:
            calls.append(lambda: face.cas(bad, None, b"v"))
        for call in calls:
            with pytest.raises(InvalidKeyError):
                call()

    @pytest.mark.parametrize("bad", BAD_TTLS, ids=short)
    def test_invalid_ttl_raises_and_writes_nothing(self, face: Face, bad: Any) -> None:
        with pytest.raises(InvalidTTLError):
            face.set("fresh", b"v", bad)
        assert face.get("fresh") is None
        face.set("kept", b"before")
        with pytest.raises(InvalidTTLError):
            face.set("kept", b"after", bad)
        with pytest.raises(InvalidTTLError):
            face.touch("kept", bad)
        assert face.get("kept") == b"before"

    @pytest.mark.parametrize("bad", BAD_VALUES, ids=short)
    def test_invalid_value_raises_type_error_and_writes_nothing(self, face: Face, bad: Any) -> None:
        with pytest.raises(TypeError):
            face.set("fresh", bad)
        assert face.get("fresh") is None
        face.set("kept", b"before")
        with pytest.raises(TypeError):
            face.set("kept", bad)
        assert face.get("kept") == b"before"

    def test_error_messages_say_what_is_allowed(self, cache: Any) -> None:
        with pytest.raises(InvalidKeyError, match="non-empty str of at most 1024 UTF-8 bytes"):
            cache.set("bad\nkey", b"v")
        with pytest.raises(InvalidTTLError, match="finite number of seconds greater than 0"):
            cache.set("k", b"v", -3)
        with pytest.raises(TypeError, match="must be bytes"):
            cache.set("k", "text")

    # --- the two faces agree -------------------------------------------------------------

    def test_sync_and_async_faces_see_the_same_entries(self, cache: Any, async_runner: Any) -> None:
        run = async_runner.run
        cache.set("from-sync", b"1")
        run(cache.aset("from-async", b"2", self.ttl))
        assert run(cache.aget("from-sync")) == b"1"
        assert cache.get("from-async") == b"2"
        assert run(cache.atouch("from-sync", self.ttl)) is True
        assert cache.touch("from-async", None) is True
        assert run(cache.atake("from-sync")) == b"1"
        assert cache.take("from-sync") is None
        cache.delete("from-async")
        assert run(cache.aget("from-async")) is None
        if capabilities_of(cache).compare_and_set:
            assert cache.compare_and_set("both", None, b"1") is True
            assert run(cache.acompare_and_set("both", b"1", b"2")) is True
            assert cache.get("both") == b"2"
            assert run(cache.acompare_and_set("both", b"1", b"3")) is False

    # --- listing, where declared -----------------------------------------------------------

    def test_listing_returns_live_keys_by_prefix(
        self, cache: Any, advance: Any, async_runner: Any
    ) -> None:
        _require(cache, "listing", "listing")
        assert isinstance(cache, ListableCache)
        cache.set("ns:a", b"1")
        cache.set("ns:b", b"2", self.ttl)
        cache.set("ns:short", b"3", self.ttl / 2)
        cache.set("other:c", b"4")
        advance(self.ttl / 2 + self.margin)
        assert sorted(cache.keys("ns:")) == ["ns:a", "ns:b"]
        assert sorted(async_runner.run(cache.akeys("ns:"))) == ["ns:a", "ns:b"]
        assert {"ns:a", "ns:b", "other:c"} <= set(cache.keys())
