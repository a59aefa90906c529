"""``MemoryCache``: the zero-config, in-process ``Cache`` (pure Python).

* Per-key TTL on a monotonic clock (injectable, so tests move time instead of sleeping).
  An entry set with ``ttl`` is alive while ``clock() <= set_time + ttl`` and gone after.
* Expiry keeps up with writes: every entry with a TTL is scheduled in a min-heap of deadlines
  (the idea of cachetools' ``TLRUCache``), and each write pops at most a few expired heads.
  A write adds at most one heap item and removes up to ``_EXPIRE_PER_WRITE`` expired ones, so
  entries that expired and are never read again cannot outgrow the live ones, whatever the
  write rate -- and no write ever scans the whole cache.  Reads drop an expired entry too.
* Rescheduling is lazy: an overwrite or touch that only moves a deadline later pushes
  nothing; when the old heap item comes up, the entry is pushed again at its real deadline.
* Heap items made stale (a shorter new deadline, a delete, take or eviction) are found by a
  cursor that inspects a few heap slots per write while stale items are more than half of
  the heap, so the heap stays within about twice the entries with a TTL.
* ``max_entries`` bounds the size with least-recently-used eviction (``None`` = unbounded).
* Thread-safe.  Writes hold a lock; reads are lock-free and rely on each ``OrderedDict``
  operation being atomic under the GIL (and take the lock on free-threaded builds' slow path).
* Values are ``bytes`` (immutable), so nothing is copied on the way in or out.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

from llm_core.cache._contract import CacheCapabilities
from llm_core.cache._validation import check_key, check_ttl, check_value
from llm_core.errors import ConfigurationError

__all__ = ["MemoryCache"]

_NEVER = math.inf
_Entry = tuple[bytes, float, float]  # (value, deadline, scheduled: its heap item's deadline)
_MAX_INT_TTL = 2**53
_EXPIRE_PER_WRITE = 4  # expired heap heads a write may drop
_INSPECT_PER_WRITE = 4  # heap slots a write may inspect for stale items (only when many)
_UNREAD = object()  # _store_locked's "the caller has not read the old entry"
_siftup = heapq._siftup  # type: ignore[attr-defined]  # the stdlib's own sift, used to delete
_siftdown = heapq._siftdown  # type: ignore[attr-defined]  # an item from inside the heap


class MemoryCache:
    """An in-process TTL cache with LRU bounding and expiry that keeps up with writes.

    >>> cache = MemoryCache()
    >>> cache.set("greeting", b"hello", ttl=60)
    >>> cache.get("greeting")
    b'hello'
    """

    __slots__ = ("_clock", "_cursor", "_data", "_heap", "_lock", "_stale", "max_entries")

    capabilities = CacheCapabilities(
        ttl="exact",
        atomic_take=True,
        persistent=False,
        shared=False,
        listing=True,
        sweep=True,
        async_inline=True,
        evicts=True,
        compare_and_set=True,
    )

    def __init__(
        self,
        *,
        max_entries: int | None = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create an empty cache.

        ``max_entries``: size bound with LRU eviction (``None`` = unbounded).
        ``clock``: a monotonic clock in seconds; inject one in tests to move time.
        """
        if max_entries is not None and (
            isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1
        ):
            raise ConfigurationError(
                f"max_entries must be a positive int or None, got {max_entries!r}"
            )
        if not callable(clock):
            raise ConfigurationError(f"clock must be a callable returning seconds, got {clock!r}")
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        self._heap: list[tuple[float, str]] = []  # (deadline, key) of entries with a TTL
        self._stale = 0  # upper bound of heap items whose entry was replaced or removed
        self._cursor = 0
        self._lock = threading.Lock()
        self._clock = clock
        self.max_entries = max_entries

    def __repr__(self) -> str:
        return f"MemoryCache(entries={len(self._data)}, max_entries={self.max_entries})"

    def __len__(self) -> int:
        """Entries held right now, including expired ones not yet dropped."""
        return len(self._data)

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
        if entry is None:
            check_key(key)  # a hit proves the key valid; a miss must still reject bad keys
        else:
            with self._lock:
                if self._data.get(key) is entry:
                    self._drop_locked(key, entry)
        return None

    def keys(self, prefix: str = "") -> list[str]:
        """Live keys starting with ``prefix``."""
        now = self._clock()
        with self._lock:
            return [k for k, e in self._data.items() if e[1] >= now and k.startswith(prefix)]

    # --- writes ------------------------------------------------------------

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` at ``key`` for ``ttl`` seconds (``None`` = until deleted or evicted)."""
        # Fast path for the common valid case; check_* give the precise error otherwise.
        if not (type(key) is str and 0 < len(key) <= 256 and key.isprintable()):
            check_key(key)
        if type(value) is not bytes:
            value = check_value(value)
        now = self._clock()
        if ttl is None:
            deadline = _NEVER
        elif (type(ttl) is float and 0 < ttl < _NEVER) or (
            type(ttl) is int and 0 < ttl <= _MAX_INT_TTL
        ):
            deadline = now + ttl
        else:
            deadline = now + check_ttl(ttl)  # type: ignore[operator]  # raises if invalid
        self._lock.acquire()  # explicit acquire/release: half the cost of `with` here
        try:
            self._store_locked(key, value, deadline, now)
        finally:
            self._lock.release()

    def _store_locked(
        self, key: str, value: bytes, deadline: float, now: float, old: Any = _UNREAD
    ) -> None:
        """Store under the lock; ``old``: the entry at ``key`` if the caller has just read it."""
        data = self._data
        heap = self._heap
        if old is _UNREAD:
            old = data.get(key)
        scheduled = _NEVER if old is None else old[2]
        if deadline < scheduled:  # sooner than its heap item: schedule it anew
            if scheduled != _NEVER:
                self._stale += 1
            heappush(heap, (deadline, key))
            scheduled = deadline
        data[key] = (value, deadline, scheduled)
        data.move_to_end(key)
        if (
            old is None  # (a replaced entry leaves the size as it was)
            and self.max_entries is not None
            and len(data) > self.max_entries
            and data.popitem(last=False)[1][2] != _NEVER
        ):
            self._stale += 1  # the evicted entry's heap item
        # Bounded expiry work: a few expired heads, then a few stale items if they abound.
        if heap and heap[0][0] < now:
            self._expire_locked(now)
        if self._stale > len(heap) >> 1:
            self._drop_stale_locked()

    def _expire_locked(self, now: float) -> None:
        """Drop up to ``_EXPIRE_PER_WRITE`` expired heap heads (or reschedule extended ones)."""
        heap, data = self._heap, self._data
        for _ in range(_EXPIRE_PER_WRITE):
            if not heap or heap[0][0] >= now:
                break
            item_deadline, item_key = heappop(heap)
            current = data.get(item_key)
            if current is None or current[2] != item_deadline:
                if self._stale > 0:
                    self._stale -= 1
            elif current[1] < now:
                del data[item_key]
            else:  # extended since it was scheduled: schedule it at its real deadline
                heappush(heap, (current[1], item_key))
                data[item_key] = (current[0], current[1], current[1])

    def _drop_stale_locked(self) -> None:
        heap, data = self._heap, self._data
        for _ in range(_INSPECT_PER_WRITE):
            if not heap:
                self._stale = self._cursor = 0
                return
            if self._cursor >= len(heap):
                self._cursor = 0
            deadline, key = heap[self._cursor]
            current = data.get(key)
            if current is not None and current[2] == deadline:
                self._cursor += 1
                continue
            self._stale = max(0, self._stale - 1)
            last = heap.pop()  # delete heap[cursor]: move the last item there and re-sift it
            if self._cursor < len(heap):
                heap[self._cursor] = last
                _siftup(heap, self._cursor)
                _siftdown(heap, 0, self._cursor)

    def _drop_locked(self, key: str, entry: _Entry) -> None:
        del self._data[key]
        if entry[2] != _NEVER:
            self._stale += 1

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        check_key(key)
        with self._lock:
            entry = self._data.get(key)
            if entry is not None:
                self._drop_locked(key, entry)

    def take(self, key: str) -> bytes | None:
        """Atomically remove and return the live value at ``key`` (``None`` if absent/expired)."""
        check_key(key)
        now = self._clock()  # before the pop: a clock that raises must not lose the entry
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            self._drop_locked(key, entry)
        return entry[0] if entry[1] >= now else None

    def touch(self, key: str, ttl: float | None) -> bool:
        """Restart a live entry's TTL from now (``None`` = no expiry); ``False`` if absent."""
        check_key(key)
        ttl = check_ttl(ttl)
        now = self._clock()  # outside the lock: a clock may use this cache
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return False
            if entry[1] < now:
                self._drop_locked(key, entry)
                return False
            self._store_locked(key, entry[0], _NEVER if ttl is None else now + ttl, now)
            return True

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        """Atomically replace the live value at ``key`` if it equals ``expected``.

        ``expected=None`` means "absent (or expired)"; ``new=None`` deletes.  ``True`` if the
        swap happened.  Under the cache's lock, so no other writer can come between.
        """
        # Fast path for the common valid case; check_* give the precise error otherwise.
        if not (type(key) is str and 0 < len(key) <= 256 and key.isprintable()):
            check_key(key)
        if expected is not None and type(expected) is not bytes:
            check_value(expected)
        if new is not None and type(new) is not bytes:
            check_value(new)
        if not (ttl is None or (type(ttl) is float and 0 < ttl < _NEVER)):
            ttl = check_ttl(ttl)
        now = self._clock()
        self._lock.acquire()  # explicit acquire/release: half the cost of `with` here
        try:
            entry = self._data.get(key)
            if entry is not None and entry[1] < now:
                self._drop_locked(key, entry)
                entry = None
            if (None if entry is None else entry[0]) != expected:
                return False
            if new is None:
                if entry is not None:
                    self._drop_locked(key, entry)
            else:
                self._store_locked(key, new, _NEVER if ttl is None else now + ttl, now, entry)
            return True
        finally:
            self._lock.release()

    # --- housekeeping ------------------------------------------------------

    def sweep(self) -> int:
        """Drop every expired entry now; return how many were dropped (a full scan)."""
        now = self._clock()  # outside the lock: a clock may use this cache
        with self._lock:
            data = self._data
            expired = [key for key, entry in data.items() if entry[1] < now]
            for key in expired:
                del data[key]
            for key, (value, deadline, _) in data.items():
                data[key] = (value, deadline, deadline)
            self._heap = [(e[1], k) for k, e in data.items() if e[1] != _NEVER]
            heapq.heapify(self._heap)
            self._stale = self._cursor = 0
            return len(expired)

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._data.clear()
            self._heap.clear()
            self._stale = self._cursor = 0

    # --- async faces: every operation is in-memory and short, none blocks the loop -------

    async def aget(self, key: str) -> bytes | None:
        """Async face of :meth:`get`."""
        return self.get(key)

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Async face of :meth:`set`."""
        self.set(key, value, ttl)

    async def adelete(self, key: str) -> None:
        """Async face of :meth:`delete`."""
        self.delete(key)

    async def atake(self, key: str) -> bytes | None:
        """Async face of :meth:`take`."""
        return self.take(key)

    async def atouch(self, key: str, ttl: float | None) -> bool:
        """Async face of :meth:`touch`."""
        return self.touch(key, ttl)

    async def acompare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        """Async face of :meth:`compare_and_set`."""
        return self.compare_and_set(key, expected, new, ttl)

    async def akeys(self, prefix: str = "") -> list[str]:
        """Async face of :meth:`keys`."""
        return self.keys(prefix)
