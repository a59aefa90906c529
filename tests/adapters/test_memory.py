"""MemoryCache beyond the shared contract: sweep, LRU bound, clock, threads.

Every test runs on both cores: the C one (``MemoryCache`` when built) and the pure-Python one.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from langgraph.cache.memory import InMemoryCache

from llm_core import MemoryCache
from llm_core.adapters.memory import ACCELERATED, PyMemoryCache
from tests.clock import ManualClock

CacheClass = type[MemoryCache] | type[PyMemoryCache]


@pytest.fixture(params=[MemoryCache, PyMemoryCache], ids=["memory", "memory-pure"])
def cache_class(request: pytest.FixtureRequest) -> CacheClass:
    return request.param  # type: ignore[no-any-return]


def test_the_c_core_is_built_here() -> None:
    """CI (LLM_CORE_REQUIRE_C_CORE=1) installs with a C compiler: the accelerator must be in use.
    Elsewhere a missing compiler is allowed: the pure-Python core is the documented fallback."""
    if not ACCELERATED and not os.environ.get("LLM_CORE_REQUIRE_C_CORE"):
        pytest.skip("MemoryCache's C core is not built here; the pure-Python core is in use")
    assert ACCELERATED
    assert MemoryCache.__mro__[2].__module__ == "llm_core.adapters._memory_core"


def test_churn_of_a_million_unread_keys_leaves_nothing_behind(cache_class: CacheClass) -> None:
    """1,000,000 distinct short-lived keys, never read: the sweep drops every one of them."""
    churn = 1_000_000
    value = b"x" * 16

    clock = ManualClock()
    cache = cache_class(max_entries=None, sweep_interval=60, clock=clock)
    for i in range(churn):
        cache.set(f"session:{i}", value, ttl=5)
    assert len(cache) == churn
    clock.advance(61)  # past every expiry and past one sweep period
    cache.set("trigger", b"", ttl=5)  # any write after the period runs the sweep
    assert len(cache) == 1  # only the live trigger entry is held
    assert cache.keys() == ["trigger"]


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


def test_sweep_waits_for_its_period_then_runs_on_a_write(cache_class: CacheClass) -> None:
    clock = ManualClock()
    cache = cache_class(sweep_interval=30, clock=clock)
    cache.set("a", b"1", ttl=1)
    clock.advance(2)
    cache.set("b", b"2", ttl=100)
    assert len(cache) == 2  # expired "a" still held: the period has not passed
    clock.advance(29)
    cache.set("c", b"3", ttl=100)
    assert len(cache) == 2  # "a" swept
    assert sorted(cache.keys()) == ["b", "c"]


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
    with pytest.raises(ValueError, match="max_entries"):
        cache_class(max_entries=bad)  # type: ignore[arg-type]


def test_bad_sweep_interval_is_rejected(cache_class: CacheClass) -> None:
    with pytest.raises(ValueError, match="finite number of seconds"):
        cache_class(sweep_interval=0)


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
