"""The machinery under :class:`~llm_core.cache.postgres.PostgresCache`: options, the schema
(created on first use, checked), statements, and the two drivers that run one statement on a
pooled connection with psycopg errors mapped to ``CacheUnavailableError``."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from llm_core._log import get_logger
from llm_core.cache._contract import Labeler
from llm_core.cache._errors import map_exceptions, unavailable
from llm_core.cache._labels import label_row
from llm_core.cache._sqlite_sql import successor
from llm_core.cache._validation import check_key, check_ttl, check_value
from llm_core.cache.postgres._pool import Pools
from llm_core.cache.postgres._sql import (
    CHECK,
    LOCK,
    SCHEMA_VERSION,
    Statements,
    check_prefix,
    check_table,
    render,
    schema_statements,
    version_of_comment,
)
from llm_core.errors import CacheFormatError, CacheUnavailableError, ConfigurationError

__all__ = ["DEFAULT_TABLE", "Driver"]

DEFAULT_TABLE = "llm_core_cache"
T = TypeVar("T")
Params = dict[str, Any]
_UNLABELLED: Params = {"ix": None, "la": None, "lb": None}
_logger = get_logger("cache")


class Driver:
    """Options, pools, schema and the run helpers; the ``Cache`` faces are in ``_cache``."""

    def __init__(
        self,
        url_or_pool: Any = None,
        *,
        table: str = DEFAULT_TABLE,
        prefix: str = "",
        async_pool: Any = None,
        min_size: int = 1,
        max_size: int = 10,
        pool_timeout: float = 10.0,
        sweep_interval: float = 60.0,
        sweep_batch: int = 1000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Connect to ``url_or_pool``: a ``postgresql://`` URL or conninfo string (the cache
        makes its pools), or a ``psycopg_pool.ConnectionPool`` / ``AsyncConnectionPool`` you own.

        ``table``: ``name`` or ``schema.name``; ``prefix``: a namespace prepended to every key,
        so several apps share one table.  ``min_size``/``max_size``: connections of each pool
        the cache makes (a sync one, and one per running event loop); ``pool_timeout``: seconds
        a call waits for a connection (then ``CacheUnavailableError``).  ``sweep_interval``:
        seconds between the sweeps a write runs; ``sweep_batch``: rows a sweep deletes per
        statement.  ``clock``: seconds since the epoch, sent instead of the server's clock (tests).
        """
        self._table = check_table(table)
        self._prefix = check_prefix(prefix)
        for name, value in (("min_size", min_size), ("max_size", max_size)):
            if type(value) is not int or value < 1:
                raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")
        if max_size < min_size:
            raise ConfigurationError(f"max_size {max_size} is below min_size {min_size}")
        if type(sweep_batch) is not int or sweep_batch < 1:
            raise ConfigurationError(f"sweep_batch must be an int >= 1, got {sweep_batch!r}")
        timeout = check_ttl(pool_timeout)  # finite seconds > 0, like a TTL
        interval = check_ttl(sweep_interval)
        if timeout is None or interval is None:
            raise ConfigurationError("pool_timeout and sweep_interval must be numbers of seconds")
        self._pools = Pools(url_or_pool, async_pool, min_size, max_size, timeout)
        self._psycopg = self._pools.psycopg
        self._operational: type[BaseException] = self._psycopg.OperationalError
        self._pool_timeout_error: type[BaseException] = self._pools.pool_module.PoolTimeout
        self._errors: tuple[type[BaseException], ...] = (self._psycopg.Error, OSError)
        self._unavailable = unavailable(f"PostgreSQL at {self._pools.where}")
        self._attempts = 2  # a dropped connection: the pool is checked, then one more try
        self._clock = clock
        self._tick = clock or time.monotonic
        self._sweep_interval = interval
        self._sweep_batch = sweep_batch
        self._next_sweep = self._tick() + interval
        self._sql: Statements | None = None
        self._prepare_lock = threading.Lock()
        self._indexes: tuple[tuple[str, Labeler], ...] = ()  # longest prefix first

    @property
    def table(self) -> str:
        """The table's name (``name`` or ``schema.name``)."""
        return ".".join(self._table)

    @property
    def prefix(self) -> str:
        """The namespace prepended to every key in the table."""
        return self._prefix

    @property
    def pool(self) -> Any:
        """The sync ``psycopg_pool.ConnectionPool`` (opened on first use)."""
        return self._pools.sync()

    def __repr__(self) -> str:
        state = "closed" if self._pools.closed else "open"
        return f"{type(self).__name__}({self._pools.where!r}, table={self.table!r}, {state})"

    # --- schema -------------------------------------------------------------------------

    def _version(self, row: tuple[bool, str | None], where: str) -> int | None:
        exists, comment = row
        if not exists:
            return None
        version = version_of_comment(comment)
        if version is None:
            raise CacheFormatError(
                f"{where}: table {self.table!r} exists but is not an llm-core cache "
                f"(its comment is {comment!r}); choose another table="
            )
        if version > SCHEMA_VERSION:
            raise CacheFormatError(
                f"{where}: table {self.table!r} has cache schema version {version}, newer than "
                f"the {SCHEMA_VERSION} this llm-core understands; upgrade llm-core"
            )
        return version

    def _prepare(self, conn: Any) -> Statements:
        """Render the statements and create, migrate or check the table (once per cache)."""
        with self._prepare_lock:
            if self._sql is not None:
                return self._sql
            sql = render(self._psycopg, self._table, self._clock is not None, conn)
            where = f"PostgreSQL at {self._pools.where}"
            name = {"name": sql.regclass}
            if self._outdated(conn.execute(CHECK, name).fetchone(), where):
                with conn.transaction():
                    conn.execute(LOCK, {"name": sql.lock_key})
                    row = conn.execute(CHECK, name).fetchone()
                    for statement in self._upgrade(row, where, conn):
                        conn.execute(statement)
            self._sql = sql
            return sql

    async def _aprepare(self, conn: Any) -> Statements:
        if self._sql is not None:
            return self._sql
        sql = render(self._psycopg, self._table, self._clock is not None, conn)
        where = f"PostgreSQL at {self._pools.where}"
        name = {"name": sql.regclass}
        if self._outdated(await (await conn.execute(CHECK, name)).fetchone(), where):
            async with conn.transaction():
                await conn.execute(LOCK, {"name": sql.lock_key})
                row = await (await conn.execute(CHECK, name)).fetchone()
                for statement in self._upgrade(row, where, conn):
                    await conn.execute(statement)
        self._sql = sql
        return sql

    def _outdated(self, row: tuple[bool, str | None], where: str) -> bool:
        version = self._version(row, where)
        return version is None or version < SCHEMA_VERSION

    def _upgrade(self, row: tuple[bool, str | None], where: str, conn: Any) -> list[str]:
        """The DDL to run under the advisory lock: create, migrate (version 1: the index
        columns, added in place), or nothing (another process did it meanwhile)."""
        version = self._version(row, where)
        if version == SCHEMA_VERSION:
            return []
        return schema_statements(self._psycopg, self._table, conn, version)

    # --- drivers: one connection per call, errors mapped, idempotent calls sent again ------

    def _map(self, operation: str) -> map_exceptions:
        return map_exceptions(self._errors, self._unavailable, operation)

    def _closed_error(self) -> CacheUnavailableError:
        return CacheUnavailableError(f"{self!r} is closed")

    def _run(self, operation: str, work: Callable[[Any, Statements], T], retry: bool = True) -> T:
        """``work(conn, sql)`` on a pooled connection; sent again (``retry``) after a dropped
        connection (the pool's other idle connections are checked first)."""
        if self._pools.closed:
            raise self._closed_error()
        attempts = self._attempts if retry else 1
        with self._map(operation):
            pool = self._pools.sync()
            for attempt in range(1, attempts + 1):
                conn = None
                try:
                    with pool.connection(timeout=self._pools.timeout) as conn:
                        return work(conn, self._sql or self._prepare(conn))
                except self._operational as exc:
                    if not self._dropped(exc, conn):
                        raise
                    with contextlib.suppress(*self._errors):
                        pool.check()  # its other idle connections died with this one
                    if attempt == attempts:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _arun(
        self, operation: str, work: Callable[[Any, Statements], Awaitable[T]], retry: bool = True
    ) -> T:
        """Async face of :meth:`_run`: ``work(conn, sql)`` returns an awaitable."""
        if self._pools.closed:
            raise self._closed_error()
        attempts = self._attempts if retry else 1
        with self._map(operation):
            pool = await self._pools.aopened()
            for attempt in range(1, attempts + 1):
                conn = None
                try:
                    async with pool.connection(timeout=self._pools.timeout) as conn:
                        return await work(conn, self._sql or await self._aprepare(conn))
                except self._operational as exc:
                    if not self._dropped(exc, conn):
                        raise
                    with contextlib.suppress(*self._errors):
                        await pool.check()
                    if attempt == attempts:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _dropped(self, exc: BaseException, conn: Any) -> bool:
        """The call failed on a pooled connection the server had dropped (not a pool timeout)."""
        return conn is not None and not isinstance(exc, self._pool_timeout_error) and conn.closed

    def _params(self, key: str, **more: Any) -> Params:
        now = None if self._clock is None else self._clock()
        return {"key": self._prefix + key, "now": now, **more}

    def _labelled(self, key: str, value: bytes) -> Params:
        """The index columns a write of ``value`` at ``key`` sets (see ``_index``): ``ix`` is
        the namespaced prefix the row is listed under, ``''`` (not listed) or ``None``."""
        if not self._indexes:
            return _UNLABELLED
        ix, la, lb = label_row(self._indexes, key, value)
        if ix and not (isinstance(la, str) and isinstance(lb, str)):
            _logger.error("the labeler of index %r gave %r, not two str: not listed", ix, (la, lb))
            return {"ix": "", "la": None, "lb": None}
        return {"ix": self._prefix + ix if ix else ix, "la": la, "lb": lb}

    def _sweep_due(self) -> bool:
        return self._tick() >= self._next_sweep

    def _sweep_conn(self, conn: Any, sql: Statements) -> int:
        self._next_sweep = self._tick() + self._sweep_interval
        params = {"now": None if self._clock is None else self._clock(), "limit": self._sweep_batch}
        total = 0
        while True:
            deleted = int(conn.execute(sql.sweep, params).rowcount)
            total += deleted
            if deleted < self._sweep_batch:
                return total

    async def _asweep_conn(self, conn: Any, sql: Statements) -> int:
        self._next_sweep = self._tick() + self._sweep_interval
        params = {"now": None if self._clock is None else self._clock(), "limit": self._sweep_batch}
        total = 0
        while True:
            deleted = int((await conn.execute(sql.sweep, params)).rowcount)
            total += deleted
            if deleted < self._sweep_batch:
                return total

    def _key_range(self, prefix: object) -> tuple[str, Params] | None:
        """The listing statement's kind and bounds for ``prefix``; ``None``: nothing can match."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be str, got {type(prefix).__name__}")
        try:
            prefix.encode("utf-8")
        except UnicodeEncodeError:
            return None  # no valid key contains a lone surrogate
        if "\x00" in prefix:
            return None
        lo = self._prefix + prefix
        hi = successor(lo)
        now = None if self._clock is None else self._clock()
        if not lo:
            return "all", {"now": now}
        if hi is None:
            return "from", {"lo": lo, "now": now}
        return "range", {"lo": lo, "hi": hi, "now": now}

    def _cas_params(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None
    ) -> tuple[str, Params]:
        check_key(key)
        if expected is not None:
            check_value(expected)
        if new is not None:
            check_value(new)
        seconds = check_ttl(ttl)
        params = self._params(key, value=new, expected=expected, ttl=seconds)
        if new is not None:
            params.update(self._labelled(key, new))
        if expected is None:
            return ("cas_absent" if new is None else "cas_insert"), params
        return ("cas_delete" if new is None else "cas_swap"), params

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the pool this cache made (pools you gave stay open); later calls raise
        ``CacheUnavailableError``."""
        self._pools.close()

    async def aclose(self) -> None:
        """Async face of :meth:`close` (an ``AsyncConnectionPool`` you gave stays open)."""
        self._pools.close()
