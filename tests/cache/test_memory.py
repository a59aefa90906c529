"""MemoryCache beyond the shared contract: expiry that keeps up with writes, LRU bound, clock,
threads."""

from __future__ import annotations

import threading
import time

import pytest
from langgraph.cache.memory import InMemoryCache

from llm_core import MemoryCache
from llm_core.errors import ConfigurationError, InvalidTTLError
from tests.clock import ManualClock

CacheClass = type[MemoryCache]


@pytest.fixture
def cache_class() -> CacheClass:
    return MemoryCache


def test_churn_of_a_million_unread_keys_leaves_nothing_behind() -> None:
    """1,000,000 distinct short-lived keys, never read: once they expired, writes drop them."""
    churn = 1_000_000
    value = b"x" * 16

    clock = ManualClock()
    cache = MemoryCache(max_entries=None, clock=clock)
    for i in range(churn):
        cache.set(f"session:{i}", value, ttl=5)
    assert len(cache) == churn
    clock.advance(61)  # past every expiry
    writes = churn // 4  # each write drops up to four expired entries, and no more
    for i in range(writes):
        cache.set(f"live:{i}", value, ttl=3600)
    assert len(cache) == writes  # 0 expired entries held
    assert len(cache._heap) <= 2 * writes


def test_expired_keys_never_outgrow_the_live_ones_on_the_real_clock() -> None:
    """The issue's must-show: 200,000 keys with a 0.05 s TTL, 0.2 s later 200,000 long-lived
    keys, default settings but no size bound: at most 210,000 entries held."""
    cache = MemoryCache(max_entries=None)
    for i in range(200_000):
        cache.set(f"short:{i}", b"v", ttl=0.05)
    time.sleep(0.2)
    for i in range(200_000):
        cache.set(f"long:{i}", b"v", ttl=3600)
    assert len(cache) <= 210_000
    assert len(cache.keys("long:")) == 200_000


def test_overwriting_one_key_forever_keeps_the_heap_small() -> None:
    """Stale heap items (a key rewritten with a long TTL) are found and dropped as writes go."""
    cache = MemoryCache(max_entries=None)
    for i in range(100_000):
        cache.set(f"k{i % 10}", b"v", ttl=3600)
        cache.delete(f"gone{i}")
    assert len(cache) == 10
    assert len(cache._heap) <= 2 * 10 + 8


def test_langgraph_in_memory_cache_keeps_the_same_churn() -> None:
    """The peer, same churn: it only drops an expired entry when that very key is read again.

    Its clock is the wall clock (it takes whole-second TTLs), so this test waits out a 1 s TTL
    for real instead of moving an injected clock.
    """
    churn = 1_000_000
    value = b"x" * 16
    peer = InMemoryCache()
    ns = ("churn",)
    batch = 10_000
    for start in range(0, churn, batch):
        peer.set({(ns, f"session:{i}"): (value, 1) for i in range(start, start + batch)})
    time.sleep(1.05)  # past the 1 s TTL of the last batch, so past every entry's
    peer.set({(ns, "trigger"): (b"", 5)})
    held = peer._cache[ns]  # its only view of what it holds
    assert len(held) == churn + 1  # every expired entry is still there
    now = time.time()
    assert sum(1 for _, _, expiry in held.values() if expiry is not None and expiry < now) == churn


def test_expired_entries_go_a_few_per_write_in_deadline_order() -> None:
    clock = ManualClock()
    cache = MemoryCache(clock=clock)
    for i in range(10):
        cache.set(f"a{i}", b"1", ttl=1 + i)
    clock.advance(100)
    cache.set("b", b"2", ttl=100)
    assert len(cache) == 11 - 4  # four expired heads dropped by one write
    cache.set("c", b"3", ttl=100)
    cache.set("d", b"3", ttl=100)
    assert sorted(cache.keys()) == ["b", "c", "d"]
    assert len(cache) == 3


def test_explicit_sweep_counts_what_it_dropped(cache_class: CacheClass) -> None:
    clock = ManualClock()
    cache = cache_class(clock=clock)
    for i in range(10):
        cache.set(f"k{i}", b"v", ttl=1 if i % 2 else None)
    clock.advance(1.5)
    assert cache.sweep() == 5
    assert cache.sweep() == 0
    assert len(cache) == 5


def test_expired_entry_is_dropped_when_read(cache_class: CacheClass) -> None:
    clock = ManualClock()
    cache = cache_class(clock=clock)
    cache.set("k", b"v", ttl=1)
    clock.advance(2)
    assert cache.get("k") is None
    assert len(cache) == 0


def test_lru_bound_evicts_least_recently_used(cache_class: CacheClass) -> None:
    cache = cache_class(max_entries=3)
    cache.set("a", b"1")
    cache.set("b", b"2")
    cache.set("c", b"3")
    assert cache.get("a") == b"1"  # "a" is now the most recent; "b" the least
    cache.set("d", b"4")
    assert cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == [b"1", b"3", b"4"]
    assert len(cache) == 3


def test_overwrite_and_touch_count_as_use(cache_class: CacheClass) -> None:
    cache = cache_class(max_entries=2)
    cache.set("a", b"1")
    cache.set("b", b"2")
    cache.set("a", b"1'")  # refreshes "a"
    cache.set("c", b"3")  # evicts "b"
    assert cache.get("b") is None
    assert cache.touch("a", None)
    cache.set("d", b"4")  # evicts "c"
    assert cache.get("c") is None
    assert cache.get("a") == b"1'"


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "10"])
def test_bad_max_entries_is_rejected(cache_class: CacheClass, bad: object) -> None:
    with pytest.raises(ConfigurationError, match="max_entries"):
        cache_class(max_entries=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("ttl", [10**400, -(10**400)])
def test_a_ttl_past_floats_range_is_an_invalid_ttl(cache_class: CacheClass, ttl: int) -> None:
    cache = cache_class()
    for call in (lambda: cache.set("k", b"v", ttl), lambda: cache.touch("k", ttl)):
        with pytest.raises(InvalidTTLError):
            call()
    assert cache.get("k") is None


def test_many_threads_writing_and_reading_keep_it_consistent(cache_class: CacheClass) -> None:
    cache = cache_class(max_entries=500)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(2_000):
                key = f"k{(n * 7 + i) % 900}"
                cache.set(key, key.encode(), ttl=60)
                got = cache.get(key)
                assert got in (None, key.encode())
                if i % 5 == 0:
                    cache.take(key)
                if i % 7 == 0:
                    cache.delete(key)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) <= 500
    for key in cache.keys():  # noqa: SIM118 - MemoryCache.keys, not a dict
        assert cache.get(key) in (None, key.encode())


def test_repr_is_informative(cache_class: CacheClass) -> None:
    cache = cache_class(max_entries=10)
    cache.set("a", b"1")
    assert repr(cache) == f"{cache_class.__name__}(entries=1, max_entries=10)"
    assert cache.max_entries == 10
