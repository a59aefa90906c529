"""MemoryCache against a small model, on random operation sequences (hypothesis).

One injected clock drives the cache and the model, so every step must give the same answer and
list the same live keys in the same LRU order.  The cache may hold expired entries the model
has dropped (they go a few per write), but never more than its heap allows: the invariants check
that the deadline heap stays a heap, covers every entry with a TTL and stays bounded.
Two machines: TTLs without a size bound, and a size bound (LRU) without TTLs, since which entry
an LRU bound evicts depends on when expired entries happen to be dropped.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from llm_core import MemoryCache
from tests.clock import ManualClock

keys = st.sampled_from(["a", "b", "ab", "c", "ca", "d"])
values = st.binary(max_size=3)
prefixes = st.sampled_from(["", "a", "c", "x"])


class Model:
    """The documented semantics, written as plainly as possible."""

    def __init__(self, max_entries: int | None) -> None:
        self.data: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self.max_entries = max_entries

    def live(self, key: str, now: float) -> tuple[bytes, float] | None:
        entry = self.data.get(key)
        if entry is not None and entry[1] < now:
            del self.data[key]
            return None
        return entry

    def get(self, key: str, now: float) -> bytes | None:
        entry = self.live(key, now)
        if entry is None:
            return None
        self.data.move_to_end(key)
        return entry[0]

    def set(self, key: str, value: bytes, ttl: float | None, now: float) -> None:
        self.data[key] = (value, math.inf if ttl is None else now + ttl)
        self.data.move_to_end(key)
        if self.max_entries is not None and len(self.data) > self.max_entries:
            self.data.popitem(last=False)

    def take(self, key: str, now: float) -> bytes | None:
        entry = self.live(key, now)
        self.data.pop(key, None)
        return None if entry is None else entry[0]

    def touch(self, key: str, ttl: float | None, now: float) -> bool:
        entry = self.live(key, now)
        if entry is None:
            return False
        self.set(key, entry[0], ttl, now)
        return True

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None, now: float
    ) -> bool:
        entry = self.live(key, now)
        if (None if entry is None else entry[0]) != expected:
            return False
        if new is None:
            self.data.pop(key, None)
        else:
            self.set(key, new, ttl, now)
        return True

    def keys(self, prefix: str, now: float) -> list[str]:
        return [k for k, (_, d) in self.data.items() if d >= now and k.startswith(prefix)]


class CacheMachine(RuleBasedStateMachine):
    MAX_ENTRIES: int | None = None
    TTLS = st.one_of(st.none(), st.sampled_from([0.5, 1, 2.5, 10.0]))

    @initialize()
    def start(self) -> None:
        self.clock = ManualClock()
        self.cache = MemoryCache(clock=self.clock, max_entries=self.MAX_ENTRIES)
        self.model = Model(self.MAX_ENTRIES)

    @property
    def now(self) -> float:
        return self.clock.now

    @rule(seconds=st.sampled_from([0.0, 0.5, 1.0, 2.5, 7.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(key=keys, value=values, data=st.data())
    def set(self, key: str, value: bytes, data: st.DataObject) -> None:
        ttl = data.draw(self.TTLS)
        self.cache.set(key, value, ttl)
        self.model.set(key, value, ttl, self.now)

    @rule(key=keys)
    def get(self, key: str) -> None:
        assert self.cache.get(key) == self.model.get(key, self.now)

    @rule(key=keys)
    def take(self, key: str) -> None:
        assert self.cache.take(key) == self.model.take(key, self.now)

    @rule(key=keys, data=st.data())
    def touch(self, key: str, data: st.DataObject) -> None:
        ttl = data.draw(self.TTLS)
        assert self.cache.touch(key, ttl) == self.model.touch(key, ttl, self.now)

    @rule(
        key=keys,
        expected=st.one_of(st.none(), values),
        new=st.one_of(st.none(), values),
        data=st.data(),
    )
    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, data: st.DataObject
    ) -> None:
        ttl = data.draw(self.TTLS)
        got = self.cache.compare_and_set(key, expected, new, ttl)
        assert got == self.model.compare_and_set(key, expected, new, ttl, self.now)

    @rule(key=keys)
    def delete(self, key: str) -> None:
        self.cache.delete(key)
        self.model.data.pop(key, None)

    @rule()
    def sweep(self) -> None:
        self.cache.sweep()
        assert len(self.cache) == len(self.model.keys("", self.now))

    @rule(prefix=prefixes)
    def keys(self, prefix: str) -> None:
        assert self.cache.keys(prefix) == self.model.keys(prefix, self.now)

    @rule()
    def clear(self) -> None:
        self.cache.clear()
        self.model.data.clear()

    @invariant()
    def same_live_keys_in_lru_order_and_a_bounded_heap(self) -> None:
        assert self.cache.keys() == self.model.keys("", self.now)
        data, heap = self.cache._data, self.cache._heap
        for i in range(1, len(heap)):
            assert heap[(i - 1) // 2] <= heap[i]
        with_ttl = {(s, k) for k, (_, _, s) in data.items() if s != math.inf}
        assert with_ttl <= set(heap)  # every entry with a TTL can be found by its deadline
        assert len(heap) <= 2 * len(with_ttl) + 8
        assert heapq.nsmallest(1, heap) == heap[:1]


class TTLMachine(CacheMachine):
    MAX_ENTRIES = None


class LRUMachine(CacheMachine):
    MAX_ENTRIES = 4
    TTLS = st.none()


for machine in (TTLMachine, LRUMachine):
    machine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_ttls_match_the_model = TTLMachine.TestCase
test_lru_bound_matches_the_model = LRUMachine.TestCase
