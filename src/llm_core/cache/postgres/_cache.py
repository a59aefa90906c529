"""``PostgresCache``: the shared ``Cache`` on a PostgreSQL table (psycopg 3 + psycopg_pool; extra
``postgres``).

* **One table** (default ``llm_core_cache``): ``key text COLLATE "C" PRIMARY KEY, value bytea,
  expires_at double precision`` (seconds since the epoch, ``NULL`` = never), the index columns
  ``ix, label_a, label_b``, and a partial index on ``expires_at``.  Created on first use under
  an advisory lock, its layout version kept in the table's comment (a version-1 table is
  migrated in place); a table that is not ours, or of a newer version, is refused
  (:class:`~llm_core.errors.CacheFormatError`).
* **The server's clock**: every statement computes ``now`` from ``statement_timestamp()``, so
  hosts with skewed clocks agree on expiry.  An entry is alive while ``now <= expires_at``.
  ``clock=`` (tests) makes the client send ``now`` instead.
* **One statement per operation**, autocommit, one round trip: ``take`` is
  ``DELETE … RETURNING``; ``compare_and_set`` is one conditional ``UPDATE``/``DELETE … WHERE
  value = $expected AND alive`` or ``INSERT … ON CONFLICT DO UPDATE … WHERE expired``.
  PostgreSQL's row locks (a waiting writer re-checks the ``WHERE`` on the row it waited for) make
  each atomic across every client.
* **Listing** is a range scan of the primary key (``"C"`` collation: code-point order).
* **The index** (``index_prefix``/``page``, schema version 2): label columns written by the same
  statement as the value, and a partial ``(ix, expires_at, key)`` index a page walks; see
  :mod:`llm_core.cache.postgres._index`.
* **Sweep**: batches of ``DELETE … WHERE key IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)``, so
  any number of processes sweep at once and each expired row is deleted once; a ``set`` or a
  "set if absent" sweeps every ``sweep_interval`` seconds (its errors are logged, not raised:
  the write itself was done).
* **Errors**: any psycopg error (refused, terminated, pool timeout, read-only server, …) is
  :class:`~llm_core.errors.CacheUnavailableError` with the cause chained, never a miss.  A
  ``get``, ``set``, ``delete``, ``touch`` or listing that met a pooled connection the server had
  dropped is sent again on another (each is idempotent); ``take`` and ``compare_and_set`` never
  are (their reply may be all that was lost).
* **Async faces** run on a ``psycopg_pool.AsyncConnectionPool`` you pass (``async_pool=``, or as
  ``url_or_pool``: you own it and its event loop); otherwise they run the sync code in a worker
  thread (``asyncio.to_thread``), so they work from any loop and leave nothing behind on it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from llm_core._log import get_logger
from llm_core.cache._contract import CacheCapabilities
from llm_core.cache._validation import check_key, check_ttl, check_value
from llm_core.cache.postgres._driver import DEFAULT_TABLE
from llm_core.cache.postgres._index import PostgresIndex
from llm_core.cache.postgres._sql import Statements

__all__ = ["DEFAULT_TABLE", "PostgresCache"]

_logger = get_logger("cache")


class PostgresCache(PostgresIndex):
    """A TTL cache in one PostgreSQL table, shared by every process that reaches the server.

    ``PostgresCache("postgresql://host:5432/db", table="llm_core_cache", prefix="")``; see
    :meth:`Driver.__init__ <llm_core.cache.postgres._driver.Driver.__init__>` for the options.
    psycopg is imported when a cache is built, so ``import llm_core`` needs no extra.
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

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresCache:
        """``PostgresCache(url, **options)``."""
        return cls(url, **options)

    def _threaded(self) -> bool:
        """No ``AsyncConnectionPool`` was given: the async faces run the sync code in a thread."""
        return self._pools.async_given is None

    def _piggyback_sweep(self, conn: Any, sql: Statements) -> None:
        try:
            self._sweep_conn(conn, sql)
        except self._errors as exc:
            _logger.warning("PostgreSQL cache %s: sweep after a write failed: %s", self, exc)

    async def _apiggyback_sweep(self, conn: Any, sql: Statements) -> None:
        try:
            await self._asweep_conn(conn, sql)
        except self._errors as exc:
            _logger.warning("PostgreSQL cache %s: sweep after a write failed: %s", self, exc)

    # --- sync face ----------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The live value at ``key``, or ``None`` if absent or expired."""
        params = self._params(check_key(key))

        def work(conn: Any, sql: Statements) -> bytes | None:
            row = conn.execute(sql.get, params).fetchone()
            return None if row is None else bytes(row[0])

        return self._run("get", work)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` at ``key`` for ``ttl`` seconds (``None`` = until deleted)."""
        check_key(key)
        check_value(value)
        params = self._params(key, value=value, ttl=check_ttl(ttl), **self._labelled(key, value))

        def work(conn: Any, sql: Statements) -> None:
            conn.execute(sql.set, params)
            if self._sweep_due():
                self._piggyback_sweep(conn, sql)

        self._run("set", work)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        params = self._params(check_key(key))
        self._run("delete", lambda conn, sql: conn.execute(sql.delete, params).rowcount)

    def take(self, key: str) -> bytes | None:
        """Atomically remove and return the live value at ``key`` (sent once, never again)."""
        params = self._params(check_key(key))

        def work(conn: Any, sql: Statements) -> bytes | None:
            row = conn.execute(sql.take, params).fetchone()
            return bytes(row[0]) if row is not None and row[1] else None

        return self._run("take", work, retry=False)

    def touch(self, key: str, ttl: float | None) -> bool:
        """Restart a live entry's TTL from now (``None`` = no expiry); ``False`` if absent."""
        check_key(key)
        params = self._params(key, ttl=check_ttl(ttl))
        return self._run(
            "touch", lambda conn, sql: bool(conn.execute(sql.touch, params).rowcount == 1)
        )

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        """Set ``key`` to ``new`` (``None`` = delete) only if its live value is ``expected``
        (``None`` = absent or expired), as one statement; ``True`` if it did."""
        name, params = self._cas_params(key, expected, new, ttl)

        def work(conn: Any, sql: Statements) -> bool:
            cursor = conn.execute(getattr(sql, name), params)
            if name == "cas_absent":
                return cursor.fetchone() is None
            done = cursor.rowcount == 1
            if done and name == "cas_insert" and self._sweep_due():
                self._piggyback_sweep(conn, sql)
            return bool(done)

        return self._run("compare_and_set", work, retry=name == "cas_absent")

    def keys(self, prefix: str = "") -> list[str]:
        """Live keys starting with ``prefix`` (a range scan of the primary key)."""
        found = self._key_range(prefix)
        if found is None:
            return []
        kind, params = found
        cut = len(self._prefix)

        def work(conn: Any, sql: Statements) -> list[str]:
            rows = conn.execute(getattr(sql, "keys_" + kind), params).fetchall()
            return [row[0][cut:] for row in rows]

        return self._run("keys", work)

    def sweep(self) -> int:
        """Delete every expired row of the table now (in batches; other processes may sweep at
        the same time); return how many this call deleted."""
        return self._run("sweep", self._sweep_conn)

    def clear(self) -> None:
        """Remove every entry under this cache's prefix (the whole table if it has none)."""
        found = self._key_range("")
        kind, params = found if found is not None else ("all", {})
        self._run("clear", lambda conn, sql: conn.execute(getattr(sql, "clear_" + kind), params))

    # --- async face ---------------------------------------------------------------------

    async def aget(self, key: str) -> bytes | None:
        """Async face of :meth:`get`."""
        if self._threaded():
            return await asyncio.to_thread(self.get, key)
        params = self._params(check_key(key))

        async def work(conn: Any, sql: Statements) -> bytes | None:
            row = await (await conn.execute(sql.get, params)).fetchone()
            return None if row is None else bytes(row[0])

        return await self._arun("get", work)

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Async face of :meth:`set`."""
        if self._threaded():
            return await asyncio.to_thread(self.set, key, value, ttl)
        check_key(key)
        check_value(value)
        params = self._params(key, value=value, ttl=check_ttl(ttl), **self._labelled(key, value))

        async def work(conn: Any, sql: Statements) -> None:
            await conn.execute(sql.set, params)
            if self._sweep_due():
                await self._apiggyback_sweep(conn, sql)

        await self._arun("set", work)

    async def adelete(self, key: str) -> None:
        """Async face of :meth:`delete`."""
        if self._threaded():
            return await asyncio.to_thread(self.delete, key)
        params = self._params(check_key(key))

        async def work(conn: Any, sql: Statements) -> None:
            await conn.execute(sql.delete, params)

        await self._arun("delete", work)

    async def atake(self, key: str) -> bytes | None:
        """Async face of :meth:`take` (sent once, never again)."""
        if self._threaded():
            return await asyncio.to_thread(self.take, key)
        params = self._params(check_key(key))

        async def work(conn: Any, sql: Statements) -> bytes | None:
            row = await (await conn.execute(sql.take, params)).fetchone()
            return bytes(row[0]) if row is not None and row[1] else None

        return await self._arun("take", work, retry=False)

    async def atouch(self, key: str, ttl: float | None) -> bool:
        """Async face of :meth:`touch`."""
        if self._threaded():
            return bool(await asyncio.to_thread(self.touch, key, ttl))
        check_key(key)
        params = self._params(key, ttl=check_ttl(ttl))

        async def work(conn: Any, sql: Statements) -> bool:
            return bool((await conn.execute(sql.touch, params)).rowcount == 1)

        return await self._arun("touch", work)

    async def acompare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        """Async face of :meth:`compare_and_set`."""
        if self._threaded():
            return await asyncio.to_thread(self.compare_and_set, key, expected, new, ttl)
        name, params = self._cas_params(key, expected, new, ttl)

        async def work(conn: Any, sql: Statements) -> bool:
            cursor = await conn.execute(getattr(sql, name), params)
            if name == "cas_absent":
                return await cursor.fetchone() is None
            done = cursor.rowcount == 1
            if done and name == "cas_insert" and self._sweep_due():
                await self._apiggyback_sweep(conn, sql)
            return bool(done)

        return await self._arun("compare_and_set", work, retry=name == "cas_absent")

    async def akeys(self, prefix: str = "") -> list[str]:
        """Async face of :meth:`keys`."""
        if self._threaded():
            return await asyncio.to_thread(self.keys, prefix)
        found = self._key_range(prefix)
        if found is None:
            return []
        kind, params = found
        cut = len(self._prefix)

        async def work(conn: Any, sql: Statements) -> list[str]:
            rows = await (await conn.execute(getattr(sql, "keys_" + kind), params)).fetchall()
            return [row[0][cut:] for row in rows]

        return await self._arun("keys", work)

    async def asweep(self) -> int:
        """Async face of :meth:`sweep`."""
        if self._threaded():
            return await asyncio.to_thread(self.sweep)
        return await self._arun("sweep", self._asweep_conn)

    # --- context managers ---------------------------------------------------------------

    def __enter__(self) -> PostgresCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> PostgresCache:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
