"""Connections for :class:`~llm_core.cache.postgres.PostgresCache`: psycopg imported on demand,
the pool the cache makes (one sync ``ConnectionPool``, opened on first use), the pools you give
it, and what a ``fork`` leaves behind.

The cache makes no ``AsyncConnectionPool`` of its own: such a pool runs background tasks on the
loop that opened it, and ``asyncio.run`` / ``asyncio.Runner`` cancel every task before anything
could close the pool — a teardown that was seen to hang.  Without a given async pool the async
faces run the sync code in a worker thread."""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any
from urllib.parse import urlsplit

from llm_core.errors import ConfigurationError, MissingDependencyError

__all__ = ["Pools", "describe", "import_psycopg"]

# Pools a forked child inherited: never used nor closed in the child (closing would end the
# parent's sessions on the shared sockets), only kept referenced so they are not finalised.
_INHERITED: list[Any] = []
_LIVE: weakref.WeakSet[Pools] = weakref.WeakSet()


def import_psycopg() -> tuple[Any, Any]:
    """``(psycopg, psycopg_pool)``, or ``MissingDependencyError`` naming the extra."""
    try:
        import psycopg
        import psycopg.conninfo
        import psycopg.sql
        import psycopg_pool
    except ImportError as exc:
        raise MissingDependencyError("PostgresCache", "postgres", "psycopg") from exc
    return psycopg, psycopg_pool


def describe(conninfo: str) -> str:
    """``host:port/dbname`` of a URL or ``key=value`` conninfo, without credentials."""
    if "://" in conninfo:
        parts = urlsplit(conninfo)
        host = parts.hostname or "localhost"
        return f"{host}:{parts.port or 5432}{parts.path or '/'}"
    fields = dict(
        item.split("=", 1) for item in conninfo.split() if "=" in item and "password" not in item
    )
    host = fields.get("host", "localhost")
    return f"{host}:{fields.get('port', 5432)}/{fields.get('dbname', '')}"


class Pools:
    """The pools behind one cache: given ones are used as they are, missing ones made lazily."""

    def __init__(
        self, url_or_pool: Any, async_pool: Any, min_size: int, max_size: int, timeout: float
    ) -> None:
        self.psycopg, self.pool_module = import_psycopg()
        pool_module = self.pool_module
        if isinstance(url_or_pool, pool_module.AsyncConnectionPool):
            url_or_pool, async_pool = None, url_or_pool if async_pool is None else async_pool
        self.sync_given: Any = None
        if isinstance(url_or_pool, pool_module.ConnectionPool):
            self.sync_given = url_or_pool
            conninfo = url_or_pool.conninfo
        elif isinstance(url_or_pool, str):
            conninfo = url_or_pool
            try:
                self.psycopg.conninfo.conninfo_to_dict(conninfo)
            except self.psycopg.Error as exc:
                raise ConfigurationError(
                    f"PostgresCache cannot use {describe(conninfo)!r}: {exc}"
                ) from exc
        elif url_or_pool is None and async_pool is not None:
            if not isinstance(async_pool, pool_module.AsyncConnectionPool):
                raise ConfigurationError("async_pool must be a psycopg_pool.AsyncConnectionPool")
            conninfo = async_pool.conninfo
        else:
            raise ConfigurationError(
                "PostgresCache needs a postgresql:// URL (or conninfo string), a "
                f"psycopg_pool.ConnectionPool or an AsyncConnectionPool, got {url_or_pool!r}"
            )
        if async_pool is not None and not isinstance(async_pool, pool_module.AsyncConnectionPool):
            raise ConfigurationError("async_pool must be a psycopg_pool.AsyncConnectionPool")
        self.conninfo: str = conninfo
        self.async_given: Any = async_pool
        self.where = describe(conninfo)
        self._sizes = (min_size, max_size)
        self.timeout = timeout
        self._sync: Any = self.sync_given
        self._lock = threading.Lock()
        self.closed = False
        _LIVE.add(self)

    def _options(self) -> dict[str, Any]:
        min_size, max_size = self._sizes
        return {
            "kwargs": {"autocommit": True},
            "min_size": min_size,
            "max_size": max_size,
            "timeout": self.timeout,
            "open": False,
            "name": f"llm-core-cache {self.where}",
        }

    def sync(self) -> Any:
        """The sync pool, opened on first use (connections are made in the background)."""
        pool = self._sync
        if pool is not None:
            return pool
        with self._lock:
            if self._sync is None:
                self._check_open()
                pool = self.pool_module.ConnectionPool(self.conninfo, **self._options())
                pool.open(wait=False)
                self._sync = pool
            return self._sync

    async def aopened(self) -> Any:
        """The ``AsyncConnectionPool`` you gave (opened if it is not yet)."""
        pool = self.async_given
        if pool.closed:
            await pool.open(wait=False)
        return pool

    def _check_open(self) -> None:
        if self.closed:
            raise self.psycopg.InterfaceError("the cache is closed")

    def close(self) -> None:
        """Close the sync pool if this cache made it."""
        self.closed = True
        with self._lock:
            pool, self._sync = self._sync, self.sync_given
        if pool is not None and pool is not self.sync_given:
            pool.close()

    def forget_after_fork(self) -> None:
        if self._sync is not None and self._sync is not self.sync_given:
            _INHERITED.append(self._sync)
        self._sync = self.sync_given
        self._lock = threading.Lock()


def _after_fork_in_child() -> None:
    for pools in list(_LIVE):
        pools.forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
