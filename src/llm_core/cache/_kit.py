"""Helpers of the conformance kit (:mod:`llm_core.cache.testing`) that need no pytest: the
invalid inputs, a manual clock, the two call faces, a thread race."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BAD_KEYS", "BAD_TTLS", "BAD_VALUES", "Face", "ManualClock", "race", "short"]

BAD_KEYS: list[Any] = [
    "", "line\nbreak", "nul\x00byte", "tab\tchar", "del\x7f", "c1\x85control",
    "lone\ud800surrogate", "é" * 513, "x" * 1025,  # 1026 and 1025 UTF-8 bytes
    1, None, b"bytes-key", ("tuple",), ["unhashable"],
]  # fmt: skip
"""Keys every operation must refuse with ``InvalidKeyError``."""
BAD_TTLS: list[Any] = [0, -1, 0.0, -0.5, math.inf, -math.inf, math.nan, 10**400, True, "10", [1]]
"""TTLs ``set``, ``touch`` and ``compare_and_set`` must refuse with ``InvalidTTLError``."""
BAD_VALUES: list[Any] = ["text", 1, None, bytearray(b"x"), memoryview(b"x"), {"a": 1}]
"""Values ``set`` must refuse with ``TypeError`` (all but ``None`` for compare-and-set)."""


def short(value: Any) -> str:
    """A test id for ``value``: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} chars)"


class ManualClock:
    """A clock that moves only when told: pass it to the cache, ``advance`` it in tests."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (never backward)."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self.now += seconds


class Face:
    """One call style over a cache: ``sync`` calls ``get``…, ``async`` runs ``aget``… on a loop."""

    def __init__(self, cache: Any, style: str, runner: asyncio.Runner) -> None:
        self.cache = cache
        self.style = style
        self._runner = runner

    def _call(self, name: str, *args: Any) -> Any:
        if self.style == "sync":
            return getattr(self.cache, name)(*args)
        return self._runner.run(getattr(self.cache, "a" + name)(*args))

    def get(self, key: Any) -> bytes | None:
        return self._call("get", key)  # type: ignore[no-any-return]

    def set(self, key: Any, value: Any, ttl: Any = None) -> None:
        self._call("set", key, value, ttl)

    def delete(self, key: Any) -> None:
        self._call("delete", key)

    def take(self, key: Any) -> bytes | None:
        return self._call("take", key)  # type: ignore[no-any-return]

    def touch(self, key: Any, ttl: Any) -> bool:
        return self._call("touch", key, ttl)  # type: ignore[no-any-return]

    def cas(self, key: Any, expected: Any, new: Any, ttl: Any = None) -> bool:
        return self._call("compare_and_set", key, expected, new, ttl)  # type: ignore[no-any-return]

    def page(self, prefix: Any, **options: Any) -> list[Any]:
        if self.style == "sync":
            found: list[Any] = self.cache.page(prefix, **options)
            return found
        return list(self._runner.run(self.cache.apage(prefix, **options)))


def race(threads: int, job: Callable[[int], Any]) -> list[Any]:
    """Run ``job(i)`` in ``threads`` threads released together; their results in order."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads
    errors: list[BaseException] = []

    def racer(i: int) -> None:
        barrier.wait()
        try:
            results[i] = job(i)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    pool = [threading.Thread(target=racer, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return results
