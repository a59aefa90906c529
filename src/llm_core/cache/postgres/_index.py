"""The index of :class:`~llm_core.cache.postgres.PostgresCache`: labelled rows paged by deadline.

Three columns beside ``key, value, expires_at`` (schema version 2), written by the same single
statement as the value (``set``, ``compare_and_set``), so a write stays one round trip:

* ``ix``: ``NULL`` for a row nobody labelled (not under an indexed prefix, or written by a cache
  that did not register the prefix), ``''`` for a row its labeler did not list (a finished
  session), else the namespaced prefix it is listed under;
* ``label_a``, ``label_b``: the two labels a page can filter by.

A partial index ``(ix, expires_at, key) WHERE ix <> '' AND expires_at IS NOT NULL`` holds the
listed rows only, in page order: a page is one range walk of it from just after the position it
is given, stopping at the limit (no sort, no table scan; ``EXPLAIN`` checked by the tests).
Two more, ``(ix, label_a, expires_at, key)`` and ``(ix, label_b, …)``, serve filtered pages the
same way, so a filter that matches few rows does not walk all the others.  ``touch`` moves
``expires_at`` (so the row's place in the walk); ``delete``/``take``/the sweep remove the row
and its index entries with it, so nothing can outlive its row.

The prefixes already indexed are rows of ``<table>_indexed``: the first ``index_prefix`` of a
prefix on a table (under an advisory lock) labels the rows stored before, in batches.
"""

from __future__ import annotations

import asyncio
from typing import Any

from llm_core.cache._contract import IndexedEntry, Labeler
from llm_core.cache._labels import with_index
from llm_core.cache._sqlite_sql import successor
from llm_core.cache._validation import check_page
from llm_core.cache.postgres._driver import Driver, Params
from llm_core.cache.postgres._sql import CLIENT_NOW, SERVER_NOW, Statements, registry_table

__all__ = ["LABEL_BATCH", "PostgresIndex"]

LABEL_BATCH = 1000
"""Rows read and labelled per statement when a prefix is indexed for the first time."""


class PostgresIndex(Driver):
    """``index_prefix``, ``page`` and ``apage`` (the ``IndexedCache`` face)."""

    _page_sql: dict[tuple[bool, bool, bool, bool], str] | None = None  # rendered on first use
    _registry: dict[str, str] | None = None
    _pending: frozenset[str] = frozenset()  # prefixes whose earlier rows may be unlabelled

    def _page_statement(
        self, conn: Any, newest: bool, after: bool, labels: tuple[str | None, str | None]
    ) -> str:
        """The page query for one shape (direction, position, filters), rendered once."""
        shape = (newest, after, labels[0] is not None, labels[1] is not None)
        cached = self._page_sql
        if cached is None:
            cached = self._page_sql = {}
        found = cached.get(shape)
        if found is not None:
            return found
        sql = self._psycopg.sql
        now = sql.SQL(CLIENT_NOW if self._clock is not None else SERVER_NOW)
        compare, order = ("<", "DESC") if newest else (">", "ASC")
        # ``ix <> '' AND expires_at IS NOT NULL`` repeat the partial index's predicate word for
        # word, so the planner uses it for a generic (prepared) plan too.
        where = [
            "ix = %(ix)s AND ix <> '' AND expires_at IS NOT NULL",
            "expires_at >= {now}",
        ]
        if after:
            where.append(f"(expires_at, key) {compare} (%(at)s::float8, %(after)s)")
        if labels[0] is not None:
            where.append("label_a = %(la)s")
        if labels[1] is not None:
            where.append("label_b = %(lb)s")
        # fixed fragments only: the table is an Identifier, every value a bound parameter
        text = (
            "SELECT key, value, expires_at FROM {t} WHERE "  # noqa: S608
            + " AND ".join(where)
            + f" ORDER BY expires_at {order}, key {order} LIMIT %(limit)s"
        )
        found = str(sql.SQL(text).format(t=sql.Identifier(*self._table), now=now).as_string(conn))
        cached[shape] = found
        return found

    def _registry_sql(self, conn: Any) -> dict[str, str]:
        cached = self._registry
        if cached is not None:
            return cached
        sql = self._psycopg.sql
        parts = {
            "r": sql.Identifier(*registry_table(self._table)),
            "t": sql.Identifier(*self._table),
        }
        templates = {
            "is_indexed": "SELECT 1 FROM {r} WHERE prefix = %(ix)s",
            "mark": "INSERT INTO {r} (prefix) VALUES (%(ix)s) ON CONFLICT DO NOTHING",
            # keyset batches in key order; rows a registered cache wrote are labelled already
            "unlabelled_range": (
                "SELECT key, value FROM {t} WHERE key >= %(lo)s AND key > %(last)s"
                " AND key < %(hi)s AND ix IS NULL ORDER BY key LIMIT %(n)s"
            ),
            "unlabelled_from": (
                "SELECT key, value FROM {t} WHERE key >= %(lo)s AND key > %(last)s"
                " AND ix IS NULL ORDER BY key LIMIT %(n)s"
            ),
            "label": (
                "UPDATE {t} SET ix = %(ix)s, label_a = %(la)s, label_b = %(lb)s"
                " WHERE key = %(key)s AND ix IS NULL AND value = %(value)s"
            ),
        }
        self._registry = {
            name: str(sql.SQL(text).format(**parts).as_string(conn))
            for name, text in templates.items()
        }
        return self._registry

    # --- registration -------------------------------------------------------------------

    def index_prefix(self, prefix: str, labeler: Labeler) -> None:
        """Label the rows written under ``prefix`` from now on (no I/O); the first page of the
        prefix also labels the rows stored before anyone indexed it on this table (once, in
        batches, under an advisory lock, in one transaction)."""
        self._indexes = with_index(self._indexes, prefix, labeler)
        self._pending = self._pending | {prefix}

    def _register(self, prefix: str) -> None:
        """Label the rows stored before anyone indexed ``prefix`` on this table (once)."""
        full = self._prefix + prefix

        def work(conn: Any, sql: Statements) -> None:
            statements = self._registry_sql(conn)
            if conn.execute(statements["is_indexed"], {"ix": full}).fetchone() is not None:
                return
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (sql.lock_key + full,))
                if conn.execute(statements["is_indexed"], {"ix": full}).fetchone() is None:
                    self._label_existing(conn, statements, prefix)
                    conn.execute(statements["mark"], {"ix": full})

        self._run("index_prefix", work)
        self._pending = self._pending - {prefix}

    def _label_existing(self, conn: Any, statements: dict[str, str], prefix: str) -> None:
        lo = self._prefix + prefix
        hi = successor(lo)
        query: Params = {"lo": lo, "hi": hi, "last": "", "n": LABEL_BATCH}
        select = statements["unlabelled_from" if hi is None else "unlabelled_range"]
        cut = len(self._prefix)
        while True:
            rows = conn.execute(select, query).fetchall()
            if not rows:
                return
            updates = []
            for key, value in rows:
                columns = self._labelled(key[cut:], bytes(value))
                updates.append({**columns, "key": key, "value": value})
            with conn.cursor() as cursor:
                cursor.executemany(statements["label"], updates)
            query["last"] = rows[-1][0]

    # --- paging -------------------------------------------------------------------------

    def _page_params(
        self,
        prefix: object,
        after: object,
        newest: bool,
        labels: object,
        limit: object,
    ) -> tuple[Params, bool, tuple[str | None, str | None]]:
        prefix, position, filters, count = check_page(prefix, after, labels, limit)
        params: Params = {
            "ix": self._prefix + prefix,
            "now": None if self._clock is None else self._clock(),
            "la": filters[0],
            "lb": filters[1],
            "limit": count,
        }
        if position is not None:
            params["at"], params["after"] = position[0], self._prefix + position[1]
        return params, position is not None, filters

    def page(
        self,
        prefix: str,
        *,
        after: tuple[float, str] | None = None,
        newest: bool = False,
        labels: tuple[str | None, str | None] = (None, None),
        limit: int = 50,
    ) -> list[IndexedEntry]:
        """Up to ``limit`` live rows listed under ``prefix`` past ``after``, by deadline (one
        walk of the ``(ix, expires_at, key)`` index)."""
        params, has_after, filters = self._page_params(prefix, after, newest, labels, limit)
        if prefix in self._pending:
            self._register(prefix)
        cut = len(self._prefix)

        def work(conn: Any, sql: Statements) -> list[IndexedEntry]:
            query = self._page_statement(conn, bool(newest), has_after, filters)
            rows = conn.execute(query, params).fetchall()
            return [IndexedEntry(key[cut:], bytes(value), at) for key, value, at in rows]

        return self._run("page", work)

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
        if self._pools.async_given is None:
            return await asyncio.to_thread(
                lambda: self.page(prefix, after=after, newest=newest, labels=labels, limit=limit)
            )
        params, has_after, filters = self._page_params(prefix, after, newest, labels, limit)
        if prefix in self._pending:
            await asyncio.to_thread(self._register, prefix)
        cut = len(self._prefix)

        async def work(conn: Any, sql: Statements) -> list[IndexedEntry]:
            query = self._page_statement(conn, bool(newest), has_after, filters)
            rows = await (await conn.execute(query, params)).fetchall()
            return [IndexedEntry(key[cut:], bytes(value), at) for key, value, at in rows]

        return await self._arun("page", work)
