"""MemoryCache edge cases found in review: injected clocks that fail or re-enter, call forms."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from llm_core import MemoryCache

CacheClass = type[MemoryCache]


@pytest.fixture
def cache_class() -> CacheClass:
    return MemoryCache


class ReentrantClock:
    """A clock that, once armed, writes to its own cache the next time it is read."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.cache: MemoryCache | None = None
        self.armed = False

    def __call__(self) -> float:
        if self.armed and self.cache is not None:
            self.armed = False
            self.cache.set("written-by-clock", b"x")
        return self.now


def _finishes(call: Callable[[], object]) -> bool:
    done = threading.Event()

    def run() -> None:
        call()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(5)


@pytest.mark.parametrize("op", ["touch", "sweep", "set", "get", "take", "keys"])
def test_a_clock_that_writes_to_its_own_cache_does_not_deadlock(
    cache_class: CacheClass, op: str
) -> None:
    clock = ReentrantClock()
    cache = cache_class(clock=clock)
    clock.cache = cache
    cache.set("k", b"v")
    clock.armed = True
    calls: dict[str, Callable[[], object]] = {
        "touch": lambda: cache.touch("k", 5),
        "sweep": cache.sweep,
        "set": lambda: cache.set("k", b"w"),
        "get": lambda: cache.get("k"),
        "take": lambda: cache.take("k"),
        "keys": cache.keys,
    }
    assert _finishes(calls[op]), f"{op} deadlocked on a clock that writes to the cache"
    assert cache.get("written-by-clock") == b"x"


class FailingClock:
    """A clock that raises while ``failing`` is set."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.failing = False

    def __call__(self) -> float:
        if self.failing:
            raise RuntimeError("clock unavailable")
        return self.now


def test_a_take_whose_clock_fails_keeps_the_entry(cache_class: CacheClass) -> None:
    clock = FailingClock()
    cache = cache_class(clock=clock)
    cache.set("session", b"state")
    clock.failing = True
    with pytest.raises(RuntimeError, match="clock unavailable"):
        cache.take("session")
    clock.failing = False
    assert cache.take("session") == b"state"


def test_every_method_takes_its_arguments_by_the_protocols_names(cache_class: CacheClass) -> None:
    """The Cache protocol names its parameters; callers may pass any of them by keyword."""
    cache = cache_class(clock=FailingClock())
    cache.set(key="a", value=b"1", ttl=5)
    assert cache.get(key="a") == b"1"
    assert cache.touch(key="a", ttl=None) is True
    assert cache.touch("a", ttl=5) is True
    assert cache.keys(prefix="a") == ["a"]
    assert cache.take(key="a") == b"1"
    cache.set("b", b"2")
    cache.delete(key="b")
    assert cache.keys() == []


class KeyWithFailingHash(str):
    """A valid str key whose hashing fails with something other than 'unhashable'."""

    def __hash__(self) -> int:
        raise RuntimeError("hash failed")


def test_get_does_not_swallow_an_error_raised_by_the_key(cache_class: CacheClass) -> None:
    cache = cache_class()
    with pytest.raises(RuntimeError, match="hash failed"):
        cache.get(KeyWithFailingHash("k"))


def test_get_of_an_unhashable_key_is_an_invalid_key(cache_class: CacheClass) -> None:
    from llm_core.errors import InvalidKeyError

    with pytest.raises(InvalidKeyError):
        cache_class().get(["not", "a", "key"])  # type: ignore[arg-type]
