"""What a checkpointer last wrote or read of each thread, in this process (bounded).

The cache stays the only truth: every read still fetches the thread's bytes, and every write is
a compare-and-set on them.  The memo only saves work around those calls:

* a read whose bytes equal the memo's reuses the decoded record instead of decoding it again;
* a write starts its compare-and-set from the memo's bytes without reading them first (a stale
  memo makes that compare-and-set fail; the write then reads and retries, as any lost race does);
* ``until``: the deadline the cache is known to give the thread -- set by this process's last
  write or touch, or read from the record (its ``d``) -- so a read refreshes the TTL only when it
  has run down by more than the refresh slack;
* ``full``: the record was checked entry by entry (this process wrote it, or checked it), so a
  write need not check it again.

Records in the memo are never mutated: a write decodes its own copy from the bytes.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["Known", "ThreadMemo"]


class Known:
    """One thread's last known state: its bytes, their decoded record, and what is known."""

    __slots__ = ("full", "raw", "record", "until")

    def __init__(self, raw: bytes, record: dict[str, Any], full: bool, until: float) -> None:
        self.raw = raw
        self.record = record
        self.full = full
        self.until = until


class ThreadMemo:
    """At most ``max_entries`` threads and ``max_bytes`` of their bytes; the oldest go first."""

    def __init__(self, max_entries: int = 1024, max_bytes: int = 8 << 20) -> None:
        self._known: dict[str, Known] = {}
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._lock = threading.Lock()  # parallel tasks write from several threads

    def get(self, key: str) -> Known | None:
        return self._known.get(key)

    def put(self, key: str, raw: bytes, record: dict[str, Any], full: bool, until: float) -> Known:
        known = Known(raw, record, full, until)
        with self._lock:
            self._put_locked(key, known)
        return known

    def _put_locked(self, key: str, known: Known) -> None:
        old = self._known.pop(key, None)
        if old is not None:
            self._bytes -= len(old.raw)
        if len(known.raw) > self._max_bytes // 8:
            return  # a huge record is not worth keeping
        self._known[key] = known  # (re-)inserted: the newest
        self._bytes += len(known.raw)
        while len(self._known) > self._max_entries or self._bytes > self._max_bytes:
            self._bytes -= len(self._known.pop(next(iter(self._known))).raw)

    def refreshed(self, key: str, raw: bytes, until: float) -> None:
        """The cache now keeps ``key`` until at least ``until`` (if its bytes are still ``raw``)."""
        known = self._known.get(key)
        if known is not None and known.raw == raw and until > known.until:
            known.until = until

    def drop(self, key: str) -> None:
        with self._lock:
            old = self._known.pop(key, None)
            if old is not None:
                self._bytes -= len(old.raw)

    def clear(self) -> None:
        with self._lock:
            self._known.clear()
            self._bytes = 0
