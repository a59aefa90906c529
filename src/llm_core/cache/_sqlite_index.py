"""The index of :class:`~llm_core.cache._sqlite.SQLiteCache`: labelled rows paged by deadline.

Three columns beside ``key, value, expires_at`` (schema version 2):

* ``ix``: ``NULL`` for a row nobody labelled (not under an indexed prefix, or written before
  the prefix was indexed), ``''`` for a row its labeler did not list (a finished session), else
  the indexed prefix the row is listed under;
* ``label_a``, ``label_b``: the two labels a page can filter by.

A page walks the ``(expires_at, key)`` index from the position after the last one shown, keeps
the rows listed under the prefix (and matching the filters), and stops at the limit: SQLite
reads the rows it passes, never the whole table.  Rows of other prefixes and finished sessions
in the same file are skipped as the walk meets them.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from llm_core.cache._contract import IndexedEntry, Labeler
from llm_core.cache._labels import UNLABELLED, label_row, with_index
from llm_core.cache._sqlite_sql import successor
from llm_core.cache._validation import check_page

__all__ = ["SQLiteIndex"]


_IS_INDEXED = "SELECT 1 FROM llm_core_indexed WHERE prefix = ?"
UNLABELLED_ROWS = "SELECT key, value FROM llm_core_cache WHERE key >= ? AND key < ? AND ix IS NULL"
UNLABELLED_FROM = "SELECT key, value FROM llm_core_cache WHERE key >= ? AND ix IS NULL"
_LABEL = "UPDATE llm_core_cache SET ix = ?, label_a = ?, label_b = ? WHERE key = ?"
_MARK_INDEXED = "INSERT OR IGNORE INTO llm_core_indexed (prefix) VALUES (?)"


def _page_sql(newest: bool, after: bool, labels: tuple[str | None, str | None]) -> str:
    compare, order = ("<", "DESC") if newest else (">", "ASC")
    where = ["expires_at >= ?", "ix = ?"]
    if after:
        where.append(f"(expires_at, key) {compare} (?, ?)")
    if labels[0] is not None:
        where.append("label_a = ?")
    if labels[1] is not None:
        where.append("label_b = ?")
    # fixed fragments only; every value is a bound parameter
    return (
        "SELECT key, value, expires_at FROM llm_core_cache INDEXED BY llm_core_cache_deadline "  # noqa: S608
        f"WHERE expires_at IS NOT NULL AND {' AND '.join(where)} "
        f"ORDER BY expires_at {order}, key {order} LIMIT ?"
    )


class SQLiteIndex:
    """The ``IndexedCache`` face of ``SQLiteCache`` (a mixin: it uses the cache's connection,
    clock and error mapping)."""

    _indexes: tuple[tuple[str, Labeler], ...] = ()
    _unchecked: frozenset[str] = (
        frozenset()
    )  # indexed prefixes whose earlier rows may be unlabelled
    _clock: Callable[[], float]

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _map(self, operation: str) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _labels(self, key: str, value: bytes) -> tuple[str | None, str | None, str | None]:
        indexes = self._indexes
        return label_row(indexes, key, value) if indexes else UNLABELLED

    def index_prefix(self, prefix: str, labeler: Labeler) -> None:
        """Label the rows written under ``prefix`` from now on (no I/O); the first page of the
        prefix also labels the rows stored before it was ever indexed in this file."""
        self._indexes = with_index(self._indexes, prefix, labeler)
        self._unchecked = self._unchecked | {prefix}

    def _label_earlier_rows(self, conn: sqlite3.Connection, prefix: str) -> None:
        """Once per prefix and file: label the rows stored before anyone indexed the prefix."""
        if conn.execute(_IS_INDEXED, (prefix,)).fetchone() is None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute(_IS_INDEXED, (prefix,)).fetchone() is None:
                    self._label_existing(conn, prefix)
                    conn.execute(_MARK_INDEXED, (prefix,))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        self._unchecked = self._unchecked - {prefix}

    def _label_existing(self, conn: sqlite3.Connection, prefix: str) -> None:
        upper = successor(prefix)
        rows = (
            conn.execute(UNLABELLED_FROM, (prefix,))
            if upper is None
            else conn.execute(UNLABELLED_ROWS, (prefix, upper))
        ).fetchall()
        conn.executemany(_LABEL, ((*self._labels(key, value), key) for key, value in rows))

    def page(
        self,
        prefix: str,
        *,
        after: tuple[float, str] | None = None,
        newest: bool = False,
        labels: tuple[str | None, str | None] = (None, None),
        limit: int = 50,
    ) -> list[IndexedEntry]:
        """Up to ``limit`` live rows listed under ``prefix`` past ``after``, by deadline."""
        prefix, after, labels, limit = check_page(prefix, after, labels, limit)
        params: list[Any] = [self._clock(), prefix]
        if after is not None:
            params += after
        params += [label for label in labels if label is not None]
        params.append(limit)
        with self._map("page"):
            if prefix in self._unchecked:
                self._label_earlier_rows(self._conn(), prefix)
            rows = self._conn().execute(_page_sql(newest, after is not None, labels), params)
            return [IndexedEntry(*row) for row in rows]

    async def apage(
        self,
        prefix: str,
        *,
        after: tuple[float, str] | None = None,
        newest: bool = False,
        labels: tuple[str | None, str | None] = (None, None),
        limit: int = 50,
    ) -> list[IndexedEntry]:
        """Async face of :meth:`page`."""
        return await asyncio.to_thread(
            lambda: self.page(prefix, after=after, newest=newest, labels=labels, limit=limit)
        )
