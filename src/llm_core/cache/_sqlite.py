"""``SQLiteCache``: the embedded, persistent ``Cache`` on one SQLite file (stdlib ``sqlite3``).

* WAL mode: readers never block the writer nor each other; many threads and many processes
  share one file.  Each thread gets its own connection (measured faster than one connection
  behind a lock, and reads then run in parallel); a connection never crosses a ``fork``.
* Wall-clock expiry: ``expires_at`` is a ``REAL`` of ``clock()`` seconds (default
  ``time.time``), so every process on the file agrees.  An entry is alive while
  ``clock() <= expires_at``.  Reads filter expired rows; ``sweep()`` deletes them, and a write
  runs it once every ``sweep_interval`` seconds (a partial index keeps it cheap).
* ``take`` is one ``DELETE … RETURNING`` statement (SQLite ≥ 3.35), else a
  ``BEGIN IMMEDIATE`` transaction: of any number of concurrent takes, one gets the value.
* ``compare_and_set`` is one conditional statement (``UPDATE``/``DELETE … WHERE value = ?``
  or an ``INSERT … ON CONFLICT DO UPDATE WHERE expired``, SQLite ≥ 3.24), else a
  ``BEGIN IMMEDIATE`` transaction; an expired row counts as absent.
* The file is created with mode 0600 before SQLite opens it; SQLite gives its ``-wal`` and
  ``-shm`` files the database file's permissions.
* A schema version table: a file written by a newer llm-core is refused with
  :class:`~llm_core.errors.CacheFormatError`.
* Async faces run the same sync code in a worker thread (``asyncio.to_thread``), so the event
  loop never waits on the disk.
* ``sqlite3`` errors (locked past ``busy_timeout``, disk I/O, closed cache) raise
  :class:`~llm_core.errors.CacheUnavailableError` with the cause chained (one helper,
  :func:`~llm_core.cache._errors.map_exceptions`, wraps every call).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import Literal

from llm_core.cache._contract import CacheCapabilities
from llm_core.cache._errors import map_exceptions
from llm_core.cache._sqlite_index import SQLiteIndex
from llm_core.cache._sqlite_sql import (
    _CLEAR,
    _DELETE,
    _GET,
    _KEYS_ALL,
    _KEYS_FROM,
    _KEYS_RANGE,
    _SET,
    _SWEEP,
    _TOUCH,
    HAS_RETURNING,
    HAS_UPSERT,
    cas_statement,
    cas_transaction,
    create_private_file,
    create_schema_locked,
    schema_version,
    successor,
    switch_to_wal,
    take_returning,
    take_transaction,
)
from llm_core.cache._validation import check_key, check_ttl, check_value
from llm_core.errors import CacheFormatError, CacheUnavailableError, ConfigurationError

__all__ = ["SCHEMA_VERSION", "SQLiteCache"]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

SCHEMA_VERSION = 2
"""The layout this version writes (2: the index columns); a file with a larger version is
refused, a version-1 file is migrated when opened."""

# Connections a forked child inherited: never used and never closed in the child (closing
# could checkpoint or unlink the parent's WAL), only kept referenced so they are not freed.
_INHERITED: list[sqlite3.Connection] = []
_LIVE_CACHES: weakref.WeakSet[SQLiteCache] = weakref.WeakSet()
_MAX_SPARE = 16


class SQLiteCache(SQLiteIndex):
    """A persistent TTL cache on one SQLite file, shared by threads and processes.

    >>> import tempfile, os
    >>> with SQLiteCache(os.path.join(tempfile.mkdtemp(), "c.db")) as cache:
    ...     cache.set("greeting", b"hello", ttl=60)
    ...     cache.take("greeting")
    b'hello'
    """

    capabilities = CacheCapabilities(
        ttl="exact",
        atomic_take=True,
        persistent=True,
        shared=True,
        listing=True,
        sweep=True,
        compare_and_set=True,
        index=True,
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        sweep_interval: float = 60.0,
        busy_timeout: float = 5.0,
        synchronous: Synchronous = "NORMAL",
    ) -> None:
        """Open (creating if needed, mode 0600) the cache file at ``path``.

        ``clock``: wall-clock seconds shared by every process on the file; inject one in tests.
        ``sweep_interval``: seconds between sweeps of expired rows, run by a write.
        ``busy_timeout``: seconds a call waits for another writer before it raises
        ``CacheUnavailableError``.
        ``synchronous``: SQLite's durability level.  ``NORMAL`` (default) survives a crash
        of the process; ``FULL`` also survives a power loss, at about ten times the cost of a write.
        """
        self._path = os.fspath(path)
        if self._path == "" or self._path == ":memory:" or self._path.startswith("file:"):
            raise ConfigurationError(
                f"SQLiteCache needs a file path, got {self._path!r}; "
                "for an in-process cache use MemoryCache"
            )
        check_ttl(sweep_interval)  # same rule as a TTL: finite seconds > 0
        check_ttl(busy_timeout)
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigurationError(
                f"synchronous must be one of OFF, NORMAL, FULL, EXTRA; got {synchronous!r}"
            )
        self._clock = clock
        self._sweep_interval = float(sweep_interval)
        self._busy_timeout = float(busy_timeout)
        self._synchronous = synchronous
        self._local = threading.local()
        self._conns: dict[int, tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = {}
        self._conns_lock = threading.Lock()
        self._spare: list[sqlite3.Connection] = []  # finished threads' connections, for reuse
        self._closed = False
        self._take_impl = self._take_returning if HAS_RETURNING else self._take_transaction
        self._cas_impl = self._cas_statement if HAS_UPSERT else self._cas_transaction
        create_private_file(self._path)
        self._initialise(self._conn())
        self._next_sweep = clock() + self._sweep_interval
        _LIVE_CACHES.add(self)

    # --- connections ---------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        try:
            return self._local.conn  # type: ignore[no-any-return]
        except AttributeError:
            return self._connect_this_thread()

    def _connect_this_thread(self) -> sqlite3.Connection:
        if self._closed:
            raise CacheUnavailableError(f"{self!r} is closed")
        thread = threading.current_thread()
        with self._conns_lock:
            self._retire_dead_threads_locked()
            conn = self._spare.pop() if self._spare else None
            if conn is not None:  # a finished thread's connection: no connect, no PRAGMA
                self._conns[threading.get_ident()] = (weakref.ref(thread), conn)
        if conn is None:
            conn = self._open()
            with self._conns_lock:
                self._conns[threading.get_ident()] = (weakref.ref(thread), conn)
        self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = None
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout,
                isolation_level=None,  # autocommit: each statement is its own transaction
                check_same_thread=False,  # a finished thread's connection serves the next one
            )
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise self._error("open", exc) from exc
        return conn

    def _retire_dead_threads_locked(self) -> None:
        """Connections of finished threads become spares (up to ``_MAX_SPARE``; the rest are
        closed): short-lived threads (a thread pool per call, as LangGraph's sync ``invoke``
        makes) then skip the cost of opening one each."""
        for ident, (ref, conn) in list(self._conns.items()):
            thread = ref()
            if thread is None or not thread.is_alive():
                del self._conns[ident]
                if len(self._spare) < _MAX_SPARE and not conn.in_transaction:
                    self._spare.append(conn)
                else:
                    conn.close()

    def _forget_after_fork(self) -> None:
        _INHERITED.extend(conn for _, conn in self._conns.values())
        _INHERITED.extend(self._spare)
        self._conns = {}
        self._spare = []
        self._conns_lock = threading.Lock()
        self._local = threading.local()

    def _initialise(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL and create or check the schema."""
        try:
            mode = switch_to_wal(conn, self._busy_timeout)
            version = schema_version(conn)
            if version is None or version < SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    version = create_schema_locked(conn, SCHEMA_VERSION)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self.close()
            raise self._error("open", exc) from exc
        if str(mode).lower() != "wal":
            self.close()
            raise CacheUnavailableError(
                f"SQLite cache {self._path}: could not switch to WAL mode (got {mode!r}); "
                "put the file on a local filesystem"
            )
        if version > SCHEMA_VERSION:
            self.close()
            raise CacheFormatError(
                f"{self._path} has cache schema version {version}, newer than the {SCHEMA_VERSION} "
                "this llm-core understands; upgrade llm-core or use another file"
            )

    def _map(self, operation: str) -> map_exceptions:
        """Any ``sqlite3.Error`` in the block → ``CacheUnavailableError`` (see :meth:`_error`)."""
        return map_exceptions(sqlite3.Error, self._error, operation)

    def _error(self, operation: str, exc: BaseException) -> CacheUnavailableError:
        if isinstance(exc, sqlite3.ProgrammingError) and self._closed:
            return CacheUnavailableError(f"{self!r} is closed")
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            return CacheFormatError(
                f"SQLite cache {self._path}: {operation} failed: the file is not a SQLite "
                f"database or is corrupt ({exc}); use a new file or one SQLiteCache created"
            )
        return CacheUnavailableError(f"SQLite cache {self._path}: {operation} failed: {exc}")

    # --- the Cache contract ----------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The live value at ``key``, or ``None`` if absent or expired."""
        check_key(key)
        with self._map("get"):
            row = self._conn().execute(_GET, (key, self._clock())).fetchone()
        return None if row is None else row[0]

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` at ``key`` for ``ttl`` seconds (``None`` = until deleted)."""
        check_key(key)
        check_value(value)
        ttl = check_ttl(ttl)
        now = self._clock()
        with self._map("set"):
            conn = self._conn()
            conn.execute(
                _SET, (key, value, None if ttl is None else now + ttl, *self._labels(key, value))
            )
            if now >= self._next_sweep:
                self._sweep(conn, now)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        check_key(key)
        with self._map("delete"):
            self._conn().execute(_DELETE, (key,))

    def take(self, key: str) -> bytes | None:
        """Atomically remove and return the live value at ``key`` (``None`` if absent/expired)."""
        check_key(key)
        now = self._clock()  # before the DELETE: a clock that raises must not lose the entry
        with self._map("take"):
            row = self._take_impl(self._conn(), key)
        if row is None or (row[1] is not None and row[1] < now):
            return None
        return row[0]

    _take_returning = staticmethod(take_returning)
    _take_transaction = staticmethod(take_transaction)  # what SQLite < 3.35 runs

    def touch(self, key: str, ttl: float | None) -> bool:
        """Restart a live entry's TTL from now (``None`` = no expiry); ``False`` if absent."""
        check_key(key)
        ttl = check_ttl(ttl)
        now = self._clock()
        with self._map("touch"):
            cursor = self._conn().execute(_TOUCH, (None if ttl is None else now + ttl, key, now))
        return cursor.rowcount == 1

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        """Set ``key`` to ``new`` (``None`` = delete) only if its live value is ``expected``
        (``None`` = absent or expired), atomically; ``True`` if it did."""
        check_key(key)
        if expected is not None:
            check_value(expected)
        if new is not None:
            check_value(new)
        ttl = check_ttl(ttl)
        now = self._clock()
        expires_at = None if ttl is None else now + ttl
        with self._map("compare_and_set"):
            conn = self._conn()
            labels = self._labels(key, new) if new is not None else (None, None, None)
            done = self._cas_impl(conn, key, expected, new, expires_at, now, labels)
            if done and new is not None and now >= self._next_sweep:
                self._sweep(conn, now)
        return done

    _cas_statement = staticmethod(cas_statement)
    _cas_transaction = staticmethod(cas_transaction)  # what SQLite < 3.24 runs

    # --- housekeeping ---------------------------------------------------------

    def sweep(self) -> int:
        """Delete every expired row now; return how many were deleted."""
        with self._map("sweep"):
            return self._sweep(self._conn(), self._clock())

    def _sweep(self, conn: sqlite3.Connection, now: float) -> int:
        self._next_sweep = now + self._sweep_interval
        return conn.execute(_SWEEP, (now,)).rowcount

    def keys(self, prefix: str = "") -> list[str]:
        """Live keys starting with ``prefix`` (an index range scan, no pattern matching)."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be str, got {type(prefix).__name__}")
        try:
            prefix.encode("utf-8")
        except UnicodeEncodeError:
            return []  # no valid key contains a lone surrogate
        now = self._clock()
        upper = successor(prefix)
        params: tuple[str | float, ...]
        if not prefix:
            sql, params = _KEYS_ALL, (now,)
        elif upper is None:
            sql, params = _KEYS_FROM, (prefix, now)
        else:
            sql, params = _KEYS_RANGE, (prefix, upper, now)
        with self._map("keys"):
            return [row[0] for row in self._conn().execute(sql, params)]

    def clear(self) -> None:
        """Remove every entry."""
        with self._map("clear"):
            self._conn().execute(_CLEAR)

    @property
    def path(self) -> str:
        """The cache file's path."""
        return self._path

    def close(self) -> None:
        """Close every thread's connection; later calls raise ``CacheUnavailableError``.

        Call it when no other thread is using the cache.  Closing twice is harmless.
        """
        self._closed = True
        with self._conns_lock:
            conns = [conn for _, conn in self._conns.values()] + self._spare
            self._conns.clear()
            self._spare = []
        self._local = threading.local()
        for conn in conns:
            conn.close()

    def __enter__(self) -> SQLiteCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"SQLiteCache({self._path!r}, {state})"

    # --- async faces: the same code in a worker thread, so the loop never blocks ----------

    async def aget(self, key: str) -> bytes | None:
        """Async face of :meth:`get`."""
        return await asyncio.to_thread(self.get, key)

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Async face of :meth:`set`."""
        await asyncio.to_thread(self.set, key, value, ttl)

    async def adelete(self, key: str) -> None:
        """Async face of :meth:`delete`."""
        await asyncio.to_thread(self.delete, key)

    async def atake(self, key: str) -> bytes | None:
        """Async face of :meth:`take`."""
        return await asyncio.to_thread(self.take, key)

    async def atouch(self, key: str, ttl: float | None) -> bool:
        """Async face of :meth:`touch`."""
        return await asyncio.to_thread(self.touch, key, ttl)

    async def acompare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        """Async face of :meth:`compare_and_set`."""
        return await asyncio.to_thread(self.compare_and_set, key, expected, new, ttl)

    async def akeys(self, prefix: str = "") -> list[str]:
        """Async face of :meth:`keys`."""
        return await asyncio.to_thread(self.keys, prefix)

    async def asweep(self) -> int:
        """Async face of :meth:`sweep`."""
        return await asyncio.to_thread(self.sweep)


def _after_fork_in_child() -> None:
    for cache in list(_LIVE_CACHES):
        cache._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
