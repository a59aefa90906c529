"""``MemoryCache``: the zero-config, in-process ``Cache``.

* Per-key TTL on a monotonic clock (injectable, so tests move time instead of sleeping).
  An entry set with ``ttl`` is alive while ``clock() <= set_time + ttl`` and gone after.
* Lazy expiry on every read, plus a periodic sweep piggy-backed on writes: once
  ``sweep_interval`` seconds have passed, the next write drops every expired entry, so keys
  nobody reads again cannot pile up.  No background thread.
* ``max_entries`` bounds the size with least-recently-used eviction (``None`` = unbounded).
* Thread-safe.  Writes hold a lock; reads are lock-free and rely on each ``OrderedDict``
  operation being atomic under CPython's GIL.
* Values are ``bytes`` (immutable), so nothing is copied on the way in or out.

Two cores implement the same semantics: a small C extension (``_memory_core``, built when a C
compiler is available at install time) and ``_PyMemoryCore`` below, the reference and the
fallback.  ``MemoryCache`` uses the C core when it is importable (``ACCELERATED``); set
``LLM_CORE_PURE_PYTHON=1`` to force the pure-Python one.  ``PyMemoryCache`` is always the
pure-Python class; the conformance suite runs against both.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from llm_core.adapters.types import CacheCapabilities
from llm_core.adapters.validation import check_key, check_ttl, check_value

__all__ = ["ACCELERATED", "MemoryCache", "PyMemoryCache"]

_NEVER = math.inf
_Entry = tuple[bytes, float]  # (value, deadline on the cache's clock; inf = no expiry)


class _PyMemoryCore:
    """The pure-Python core: the reference semantics, and the fallback for the C core."""

    __slots__ = ("_clock", "_data", "_lock", "_max_entries", "_next_sweep", "_sweep_interval")

    def __init__(
        self,
        max_entries: int | None = None,
        sweep_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._clock = clock
        self._max_entries = max_entries
        self._sweep_interval = float(sweep_interval)
        self._next_sweep = clock() + self._sweep_interval

    # --- reads -------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The live value at ``key``, or ``None``; an expired entry is dropped on the way."""
        try:
            entry = self._data.get(key)
        except TypeError:  # unhashable key
            entry = None
        if entry is not None and entry[1] >= self._clock():
            try:  # noqa: SIM105 - contextlib.suppress costs more than this hot path does
                self._data.move_to_end(key)
            except KeyError:  # deleted by another thread since our read: the read still stands
                pass
            return entry[0]
        self._miss(key, entry)
        return None

    def _miss(self, key: str, entry: _Entry | None) -> None:
        if entry is None:
            check_key(key)  # a hit proves the key valid; a miss must still reject bad keys
        else:
            with self._lock:
                if self._data.get(key) is entry:
                    del self._data[key]

    # --- writes ------------------------------------------------------------

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` at ``key`` for ``ttl`` seconds (``None`` = until deleted or evicted)."""
        # Fast path for the common valid case; check_* give the precise error otherwise.
        if not (type(key) is str and 0 < len(key) <= 256 and key.isprintable()):
            check_key(key)
        if type(value) is not bytes:
            value = bytes(check_value(value))
        now = self._clock()
        if ttl is None:
            deadline = _NEVER
        elif (type(ttl) is float or type(ttl) is int) and 0 < ttl < _NEVER:
            deadline = now + ttl
        else:
            deadline = now + check_ttl(ttl)  # type: ignore[operator]  # raises if invalid
        data = self._data
        lock = self._lock
        lock.acquire()  # explicit acquire/release: half the cost of `with` on this hot path
        try:
            data[key] = (value, deadline)
            data.move_to_end(key)
            if self._max_entries is not None and len(data) > self._max_entries:
                data.popitem(last=False)
            if now >= self._next_sweep:
                self._sweep_locked(now)
        finally:
            lock.release()

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        check_key(key)
        with self._lock:
            self._data.pop(key, None)

    def take(self, key: str) -> bytes | None:
        """Atomically remove and return the live value at ``key`` (``None`` if absent/expired)."""
        check_key(key)
        now = self._clock()  # before the pop: a clock that raises must not lose the entry
        with self._lock:
            entry = self._data.pop(key, None)
        if entry is None or entry[1] < now:
            return None
        return entry[0]

    def touch(self, key: str, ttl: float | None) -> bool:
        """Restart a live entry's TTL from now (``None`` = no expiry).

        ``False`` if the entry is absent or expired.
        """
        check_key(key)
        ttl = check_ttl(ttl)
        now = self._clock()  # outside the lock: a clock may use this cache
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return False
            if entry[1] < now:
                del self._data[key]
                return False
            self._data[key] = (entry[0], _NEVER if ttl is None else now + ttl)
            self._data.move_to_end(key)
            return True

    # --- housekeeping ------------------------------------------------------

    def sweep(self) -> int:
        """Drop every expired entry now; return how many were dropped."""
        now = self._clock()  # outside the lock: a clock may use this cache
        with self._lock:
            return self._sweep_locked(now)

    def _sweep_locked(self, now: float) -> int:
        data = self._data
        expired = [key for key, (_, deadline) in data.items() if deadline < now]
        for key in expired:
            del data[key]
        self._next_sweep = now + self._sweep_interval
        return len(expired)

    def keys(self, prefix: str = "") -> list[str]:
        """Live keys starting with ``prefix``."""
        now = self._clock()
        with self._lock:
            return [k for k, (_, d) in self._data.items() if d >= now and k.startswith(prefix)]

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        """Entries held right now, including expired ones not yet swept."""
        return len(self._data)


if TYPE_CHECKING:
    _Core = _PyMemoryCore
    ACCELERATED = False
elif os.environ.get("LLM_CORE_PURE_PYTHON"):
    _Core, ACCELERATED = _PyMemoryCore, False
else:
    try:
        from llm_core.adapters._memory_core import MemoryCore as _Core
    except ImportError:  # not built (no C compiler at install time): same semantics, slower
        _Core, ACCELERATED = _PyMemoryCore, False
    else:
        ACCELERATED = True


class _MemoryCacheFace:
    """What both MemoryCache classes add to their core: checked options, async faces, repr."""

    capabilities = CacheCapabilities(
        ttl="exact",
        atomic_take=True,
        persistent=False,
        shared=False,
        listing=True,
        sweep=True,
        async_inline=True,
    )
    max_entries: int | None

    def __init__(
        self,
        *,
        max_entries: int | None = 100_000,
        sweep_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create an empty cache.

        ``max_entries``: size bound with LRU eviction (``None`` = unbounded).
        ``sweep_interval``: seconds between sweeps of expired entries (run by a write).
        ``clock``: a monotonic clock in seconds; inject one in tests to move time.
        """
        if max_entries is not None and (
            isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1
        ):
            raise ValueError(f"max_entries must be a positive int or None, got {max_entries!r}")
        check_ttl(sweep_interval)  # same rule as a TTL: finite seconds > 0
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {clock!r}")
        super().__init__(  # type: ignore[call-arg]
            max_entries=max_entries, sweep_interval=float(sweep_interval), clock=clock
        )
        self.max_entries = max_entries

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(entries={len(self)}, "  # type: ignore[arg-type]
            f"max_entries={self.max_entries})"
        )

    # Async faces: every operation is in-memory and short, so none blocks the event loop.

    async def aget(self, key: str) -> bytes | None:
        """Async face of :meth:`get`."""
        return self.get(key)  # type: ignore[attr-defined, no-any-return]

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Async face of :meth:`set`."""
        self.set(key, value, ttl)  # type: ignore[attr-defined]

    async def adelete(self, key: str) -> None:
        """Async face of :meth:`delete`."""
        self.delete(key)  # type: ignore[attr-defined]

    async def atake(self, key: str) -> bytes | None:
        """Async face of :meth:`take`."""
        return self.take(key)  # type: ignore[attr-defined, no-any-return]

    async def atouch(self, key: str, ttl: float | None) -> bool:
        """Async face of :meth:`touch`."""
        return self.touch(key, ttl)  # type: ignore[attr-defined, no-any-return]

    async def akeys(self, prefix: str = "") -> list[str]:
        """Async face of :meth:`keys`."""
        return self.keys(prefix)  # type: ignore[attr-defined, no-any-return]


class MemoryCache(_MemoryCacheFace, _Core):
    """An in-process TTL cache with LRU bounding and an amortised sweep of expired entries.

    >>> cache = MemoryCache()
    >>> cache.set("greeting", b"hello", ttl=60)
    >>> cache.get("greeting")
    b'hello'
    """


class PyMemoryCache(_MemoryCacheFace, _PyMemoryCore):
    """``MemoryCache`` on the pure-Python core, whatever is built (for tests and comparison)."""
