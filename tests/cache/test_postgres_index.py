"""PostgresCache's index beyond the conformance kit: the v1 → v2 migration of a table with rows,
the plan of a page (the partial index walked, no sort, no table scan), namespaces sharing a
table, the async face on a given pool, and labels written by the same statement as the value."""

# ruff: noqa: F811 - the fixtures imported from test_postgres_support are parameters here

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from psycopg import sql

from llm_core.cache import PostgresCache
from llm_core.cache.testing import ManualClock
from llm_core.errors import CacheUnavailableError
from tests.cache.test_postgres_support import admin, pg_table, pg_url  # noqa: F401 - fixtures

pytestmark = pytest.mark.postgres


def labeler(value: bytes) -> tuple[str, str] | None:
    first, sep, second = value.decode("utf-8", "replace").partition("|")
    return (first, second) if sep else None


def _v1_table(url: str, table: str, rows: list[tuple[str, bytes, float | None]]) -> None:
    """A table exactly as schema version 1 made it, with ``rows`` in it."""
    name = sql.Identifier(table)
    with admin(url) as conn:
        conn.execute(
            sql.SQL(
                'CREATE TABLE {} (key text COLLATE "C" PRIMARY KEY, value bytea NOT NULL,'
                " expires_at double precision)"
            ).format(name)
        )
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {} (expires_at) WHERE expires_at IS NOT NULL").format(
                sql.Identifier(table + "_expires"), name
            )
        )
        conn.execute(
            sql.SQL("COMMENT ON TABLE {} IS 'llm-core cache, schema version 1'").format(name)
        )
        with conn.cursor() as cursor:
            cursor.executemany(sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(name), rows)


def _columns(url: str, table: str) -> list[str]:
    with admin(url) as conn:
        found = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
            " ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    return [row[0] for row in found]


def test_a_version_1_table_is_migrated_and_its_rows_labelled(pg_url: str, pg_table: str) -> None:
    now = time.time()
    rows = [(f"s:{i:03d}", b"r|human", now + 100 + i) for i in range(30)]
    rows += [("s:done", b"-", now + 50), ("s:forever", b"r|human", None), ("x:1", b"r|k", now)]
    _v1_table(pg_url, pg_table, rows)
    assert _columns(pg_url, pg_table) == ["key", "value", "expires_at"]
    caches = [PostgresCache(pg_url, table=pg_table) for _ in range(4)]
    barrier = threading.Barrier(len(caches))

    def first_use(cache: PostgresCache) -> None:  # four processes' worth of first pages at once
        cache.index_prefix("s:", labeler)  # no I/O
        barrier.wait()
        cache.page("s:", limit=1)

    threads = [threading.Thread(target=first_use, args=(cache,)) for cache in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _columns(pg_url, pg_table) == ["key", "value", "expires_at", "ix", "label_a", "label_b"]
    with admin(pg_url) as conn:
        comment = conn.execute(
            "SELECT obj_description(to_regclass(%s), 'pg_class')", (pg_table,)
        ).fetchone()
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = %s", (pg_table,)
            )
        }
        labelled = conn.execute(
            sql.SQL("SELECT ix, count(*) FROM {} GROUP BY ix ORDER BY ix").format(
                sql.Identifier(pg_table)
            )
        ).fetchall()
    assert comment == ("llm-core cache, schema version 2",)
    assert {pg_table + suffix for suffix in ("_expires", "_listed", "_listed_a", "_listed_b")} <= (
        indexes
    )
    assert labelled == [("", 1), ("s:", 31), (None, 1)]  # x:1 is not under the prefix
    cache = caches[0]
    first = cache.page("s:", limit=10)
    assert [e.key for e in first] == [f"s:{i:03d}" for i in range(10)]
    assert first[0].value == b"r|human"
    assert first[0].expires_at == pytest.approx(now + 100)
    after = (first[-1].expires_at, first[-1].key)
    assert [e.key for e in cache.page("s:", after=after, limit=100)][-1] == "s:029"
    for cache in caches:
        cache.close()


def test_a_page_walks_the_partial_index_without_sorting(pg_url: str, pg_table: str) -> None:
    cache = PostgresCache(pg_url, table=pg_table)
    cache.index_prefix("s:", labeler)
    cache.set("warm", b"x")
    params = cache._params  # the statements the cache sends, filled as it fills them
    assert cache._sql is not None
    with cache.pool.connection() as conn, conn.cursor() as cursor:
        rows = []
        for i in range(3000):
            rows.append(params(f"s:{i:05d}", value=b"r|human", ttl=3600.0 + i % 300, ix="s:",
                               la="r", lb="human"))  # fmt: skip
            rows.append(params(f"o:{i:05d}", value=b"x", ttl=60.0, ix=None, la=None, lb=None))
            rows.append(params(f"d:{i:05d}", value=b"-", ttl=600.0, ix="", la=None, lb=None))
        cursor.executemany(cache._sql.set, rows)
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(pg_table)))
        for newest in (False, True):
            for labels in ((None, None), ("r", None), (None, "human")):
                query = cache._page_statement(conn, newest, False, labels)
                bound, _, _ = cache._page_params("s:", None, newest, labels, 50)
                plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + query, bound))
                assert f"{pg_table}_listed" in plan, plan
                assert "Sort" not in plan and "Seq Scan" not in plan, plan
        cache.set("s:rare", b"z|tool", 100)
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(pg_table)))
        for labels, walked in ((("z", None), "_listed_a"), ((None, "tool"), "_listed_b")):
            query = cache._page_statement(conn, False, False, labels)
            bound, _, _ = cache._page_params("s:", None, False, labels, 50)
            plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + query, bound))
            assert f"{pg_table}{walked} " in plan, plan  # a rare label: its own index
    assert len(cache.page("s:", limit=1000)) == 1000
    assert [e.key for e in cache.page("s:", labels=("z", None))] == ["s:rare"]
    cache.close()


def test_namespaces_share_a_table_and_never_see_each_others_pages(
    pg_url: str, pg_table: str
) -> None:
    one = PostgresCache(pg_url, table=pg_table, prefix="one:")
    two = PostgresCache(pg_url, table=pg_table, prefix="two:")
    for cache in (one, two):
        cache.set("s:before", b"r|k", 100)
        cache.index_prefix("s:", labeler)
    one.set("s:a", b"r|k", 60)
    two.set("s:b", b"r|k", 60)
    assert [e.key for e in one.page("s:")] == ["s:a", "s:before"]
    assert [e.key for e in two.page("s:")] == ["s:b", "s:before"]
    entry = one.page("s:")[0]
    assert [e.key for e in one.page("s:", after=(entry.expires_at, entry.key))] == ["s:before"]
    one.close()
    two.close()


def test_a_writer_that_did_not_register_unlists_the_row(pg_url: str, pg_table: str) -> None:
    registered = PostgresCache(pg_url, table=pg_table)
    registered.index_prefix("s:", labeler)
    registered.set("s:a", b"r|k", 60)
    assert [e.key for e in registered.page("s:")] == ["s:a"]  # the prefix's first page
    other = PostgresCache(pg_url, table=pg_table)  # same table, no index_prefix
    other.set("s:a", b"r|k", 60)
    assert registered.page("s:") == []  # its labels were written as NULL: not listed
    other.index_prefix("s:", labeler)
    assert other.page("s:") == []  # indexed on this table already: rows are not relabelled
    other.set("s:a", b"r|k", 60)
    assert [e.key for e in registered.page("s:")] == ["s:a"]
    registered.close()
    other.close()


def test_the_injected_clock_decides_what_a_page_lists(pg_url: str, pg_table: str) -> None:
    clock = ManualClock(start=1_000_000.0)
    cache = PostgresCache(pg_url, table=pg_table, clock=clock)
    cache.index_prefix("s:", labeler)
    cache.set("s:short", b"r|k", 10)
    cache.set("s:long", b"r|k", 20)
    entries = cache.page("s:")
    assert [(e.key, e.expires_at) for e in entries] == [
        ("s:short", 1_000_010.0), ("s:long", 1_000_020.0),
    ]  # fmt: skip
    clock.advance(15)
    assert [e.key for e in cache.page("s:")] == ["s:long"]
    assert [e.key for e in cache.page("s:", newest=True)] == ["s:long"]
    cache.close()


def test_apage_on_a_given_async_pool(pg_url: str, pg_table: str) -> None:
    from psycopg_pool import AsyncConnectionPool

    async def scenario() -> list[str]:
        async with AsyncConnectionPool(
            pg_url, min_size=1, max_size=2, open=False, kwargs={"autocommit": True}
        ) as pool:
            cache = PostgresCache(pg_url, async_pool=pool, table=pg_table)
            cache.index_prefix("s:", labeler)
            await cache.aset("s:b", b"r|tool", 20)
            await cache.aset("s:a", b"r|human", 10)
            assert await cache.acompare_and_set("s:c", None, b"q|human", 30)
            found = await cache.apage("s:", labels=(None, "human"))
            cache.close()
            return [entry.key for entry in found]

    assert asyncio.run(scenario()) == ["s:a", "s:c"]


def test_index_prefix_needs_no_server_and_the_first_page_labels_earlier_rows(
    pg_url: str, pg_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PostgresCache(pg_url, table=pg_table) as plain:
        plain.set("s:before", b"r|k", 100)  # stored before the prefix is indexed
    cache = PostgresCache(pg_url, table=pg_table)
    run = cache._run

    def down(operation: str, work: object, retry: bool = True) -> object:
        raise CacheUnavailableError(f"PostgreSQL is down ({operation})")

    monkeypatch.setattr(cache, "_run", down)
    cache.index_prefix("s:", labeler)  # no I/O: a runtime built during an outage builds
    with pytest.raises(CacheUnavailableError):
        cache.page("s:")
    monkeypatch.setattr(cache, "_run", run)  # back
    cache.set("s:after", b"r|k", 101)
    assert [e.key for e in cache.page("s:")] == ["s:before", "s:after"]  # registered now
    cache.close()


def test_labels_that_are_not_two_str_leave_the_row_unlisted(
    pg_url: str, pg_table: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = PostgresCache(pg_url, table=pg_table)
    cache.index_prefix("s:", lambda value: ("r", 7) if value == b"odd" else ("r", "k"))  # type: ignore[arg-type, return-value]
    cache.set("s:odd", b"odd", 60)  # stored (a bad labeler never fails a write), not listed
    cache.set("s:ok", b"fine", 61)
    assert cache.get("s:odd") == b"odd"
    assert [e.key for e in cache.page("s:")] == ["s:ok"]
    assert "not listed" in caplog.text
    cache.close()
