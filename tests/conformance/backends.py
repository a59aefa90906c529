"""The backends every conformance test runs against.

Adding a backend = adding one factory to ``FACTORIES``.  A factory returns a ``Backend``: the
cache under test, a way to move its clock forward (an injected clock where the backend takes
one, a real sleep otherwise), the TTL the tests should use, and a cleanup.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from llm_core.adapters.memory import MemoryCache
from llm_core.adapters.sqlite import SQLiteCache
from llm_core.adapters.types import Cache
from tests.clock import ManualClock


@dataclass
class Backend:
    name: str
    cache: Cache
    advance: Callable[[float], None]
    ttl: float = 10.0  # a TTL long enough that the test's own work cannot outlive it
    margin: float = 0.001  # how close to the boundary the tests probe
    cleanup: Callable[[], None] = field(default=lambda: None)


BackendFactory = Callable[[Path], Backend]


def memory_backend(tmp_path: Path) -> Backend:
    clock = ManualClock()
    return Backend("memory", MemoryCache(clock=clock), clock.advance)


def sqlite_backend(tmp_path: Path) -> Backend:
    clock = ManualClock()
    cache = SQLiteCache(tmp_path / "conformance.db", clock=clock)
    return Backend("sqlite", cache, clock.advance, cleanup=cache.close)


def real_time_advance(seconds: float) -> None:
    """For backends on a server's clock: wait for real."""
    time.sleep(seconds)


FACTORIES: dict[str, BackendFactory] = {
    "memory": memory_backend,
    "sqlite": sqlite_backend,
}
