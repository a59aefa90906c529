"""Both MemoryCache cores against a small model, on random operation sequences (hypothesis).

One injected clock drives the C core (``MemoryCache`` when built), the pure-Python core and the
model, so every step must give the same answer, the same size (expired entries not yet swept
included) and the same LRU order in all three.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from llm_core import MemoryCache
from llm_core.adapters.memory import PyMemoryCache
from tests.clock import ManualClock

MAX_ENTRIES = 4
SWEEP_INTERVAL = 5.0

keys = st.sampled_from(["a", "b", "ab", "c", "ca", "d"])
values = st.binary(max_size=3)
ttls = st.one_of(st.none(), st.sampled_from([0.5, 1, 2.5, 10.0]))
prefixes = st.sampled_from(["", "a", "c", "x"])


class Model:
    """The documented semantics, written as plainly as possible."""

    def __init__(self, now: float) -> None:
        self.data: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self.next_sweep = now + SWEEP_INTERVAL

    def sweep(self, now: float) -> int:
        expired = [k for k, (_, deadline) in self.data.items() if deadline < now]
        for k in expired:
            del self.data[k]
        self.next_sweep = now + SWEEP_INTERVAL
        return len(expired)

    def get(self, key: str, now: float) -> bytes | None:
        entry = self.data.get(key)
        if entry is None:
            return None
        if entry[1] < now:
            del self.data[key]
            return None
        self.data.move_to_end(key)
        return entry[0]

    def set(self, key: str, value: bytes, ttl: float | None, now: float) -> None:
        self.data[key] = (value, math.inf if ttl is None else now + ttl)
        self.data.move_to_end(key)
        if len(self.data) > MAX_ENTRIES:
            self.data.popitem(last=False)
        if now >= self.next_sweep:
            self.sweep(now)

    def take(self, key: str, now: float) -> bytes | None:
        entry = self.data.pop(key, None)
        return entry[0] if entry is not None and entry[1] >= now else None

    def touch(self, key: str, ttl: float | None, now: float) -> bool:
        entry = self.data.get(key)
        if entry is None:
            return False
        if entry[1] < now:
            del self.data[key]
            return False
        self.data[key] = (entry[0], math.inf if ttl is None else now + ttl)
        self.data.move_to_end(key)
        return True

    def keys(self, prefix: str, now: float) -> list[str]:
        return [k for k, (_, d) in self.data.items() if d >= now and k.startswith(prefix)]


class BothCores(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.clock = ManualClock()
        options = {"max_entries": MAX_ENTRIES, "sweep_interval": SWEEP_INTERVAL}
        self.caches = [
            MemoryCache(clock=self.clock, **options),  # type: ignore[arg-type]
            PyMemoryCache(clock=self.clock, **options),  # type: ignore[arg-type]
        ]
        self.model = Model(self.clock.now)

    @rule(seconds=st.sampled_from([0.0, 0.5, 1.0, 2.5, 7.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(key=keys, value=values, ttl=ttls)
    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        for cache in self.caches:
            cache.set(key, value, ttl)
        self.model.set(key, value, ttl, self.clock.now)

    @rule(key=keys)
    def get(self, key: str) -> None:
        expected = self.model.get(key, self.clock.now)
        assert [cache.get(key) for cache in self.caches] == [expected, expected]

    @rule(key=keys)
    def take(self, key: str) -> None:
        expected = self.model.take(key, self.clock.now)
        assert [cache.take(key) for cache in self.caches] == [expected, expected]

    @rule(key=keys, ttl=ttls)
    def touch(self, key: str, ttl: float | None) -> None:
        expected = self.model.touch(key, ttl, self.clock.now)
        assert [cache.touch(key, ttl) for cache in self.caches] == [expected, expected]

    @rule(key=keys)
    def delete(self, key: str) -> None:
        for cache in self.caches:
            cache.delete(key)
        self.model.data.pop(key, None)

    @rule()
    def sweep(self) -> None:
        expected = self.model.sweep(self.clock.now)
        assert [cache.sweep() for cache in self.caches] == [expected, expected]

    @rule(prefix=prefixes)
    def keys(self, prefix: str) -> None:
        expected = self.model.keys(prefix, self.clock.now)
        assert [cache.keys(prefix) for cache in self.caches] == [expected, expected]

    @rule()
    def clear(self) -> None:
        for cache in self.caches:
            cache.clear()
        self.model.data.clear()

    @invariant()
    def same_size_and_lru_order(self) -> None:
        size = len(self.model.data)
        assert [len(cache) for cache in self.caches] == [size, size]
        # keys() lists live entries least recently used first, without touching them
        live = self.model.keys("", self.clock.now)
        assert [cache.keys() for cache in self.caches] == [live, live]


BothCores.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_both_cores_match_the_model = BothCores.TestCase
