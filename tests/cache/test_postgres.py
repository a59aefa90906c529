"""PostgresCache beyond the conformance kit: its table, schema version, prefixes, clocks, sweep,
URLs, given pools, and an ``import llm_core`` that needs no psycopg."""

# ruff: noqa: F811 - the fixtures imported from test_postgres_support are parameters here

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from psycopg import sql
from psycopg_pool import ConnectionPool

from llm_core import cache_from_url
from llm_core.cache import PostgresCache, capabilities_of
from llm_core.errors import CacheFormatError, ConfigurationError
from tests.cache.test_postgres_support import admin, pg_table, pg_url  # noqa: F401 - fixtures
from tests.clock import ManualClock

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def test_capabilities_say_shared_persistent_atomic() -> None:
    caps = capabilities_of(PostgresCache("postgresql://127.0.0.1/test"))
    assert (caps.atomic_take, caps.compare_and_set, caps.persistent, caps.shared) == (
        True, True, True, True,
    )  # fmt: skip
    assert (caps.listing, caps.sweep, caps.evicts, caps.ttl) == (True, True, False, "exact")


def test_table_is_created_on_first_use_with_a_version(pg_url: str, pg_table: str) -> None:
    cache = PostgresCache(pg_url, table=pg_table)
    with admin(pg_url) as conn:  # nothing yet: building the cache does not connect
        assert conn.execute("SELECT to_regclass(%s)", (pg_table,)).fetchone() == (None,)
    cache.set("k", b"v")
    with admin(pg_url) as conn:
        comment = conn.execute(
            "SELECT obj_description(to_regclass(%s), 'pg_class')", (pg_table,)
        ).fetchone()
        assert comment == ("llm-core cache, schema version 2",)
        indexes = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (pg_table,)
        ).fetchall()
        assert any("expires_at" in row[0] for row in indexes)
    cache.close()


def test_many_caches_creating_one_table_at_once(pg_url: str, pg_table: str) -> None:
    caches = [PostgresCache(pg_url, table=pg_table) for _ in range(6)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(caches))

    def first_use(i: int) -> None:
        barrier.wait()
        try:
            caches[i].set(f"k{i}", b"v")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(i,)) for i in range(len(caches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(caches[0].keys()) == [f"k{i}" for i in range(6)]
    for cache in caches:
        cache.close()


def test_a_table_that_is_not_ours_or_newer_is_refused(pg_url: str, pg_table: str) -> None:
    with admin(pg_url) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(pg_table)))
    with (
        PostgresCache(pg_url, table=pg_table) as cache,
        pytest.raises(CacheFormatError, match="not an llm-core cache"),
    ):
        cache.get("k")
    with admin(pg_url) as conn:
        conn.execute(
            sql.SQL("COMMENT ON TABLE {} IS 'llm-core cache, schema version 99'").format(
                sql.Identifier(pg_table)
            )
        )
    with (
        PostgresCache(pg_url, table=pg_table) as cache,
        pytest.raises(CacheFormatError, match="version 99, newer"),
    ):
        asyncio.run(cache.aget("k"))


@pytest.mark.parametrize(
    "table", ["", "1abc", "a-b", "a.b.c", "x" * 51, 'a"b', "a;drop table t", 3, None]
)
def test_bad_table_names_are_refused(table: object) -> None:
    with pytest.raises(ConfigurationError):
        PostgresCache("postgresql://127.0.0.1/test", table=table)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"prefix": 1}, "prefix"),
        ({"prefix": "a\x00"}, "NUL"),
        ({"max_size": 0}, "max_size"),
        ({"min_size": 5, "max_size": 2}, "below"),
        ({"sweep_batch": 0}, "sweep_batch"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        PostgresCache("postgresql://127.0.0.1/test", **options)  # type: ignore[arg-type]


def test_bad_url_or_pool_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="needs a postgresql:// URL"):
        PostgresCache(42)
    with pytest.raises(ConfigurationError, match="cannot use"):
        PostgresCache("postgresql://127.0.0.1/test?nonsense=1")


def test_schema_qualified_table(pg_url: str) -> None:
    schema = f"s_{pg_table_suffix()}"
    with admin(pg_url) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        with PostgresCache(pg_url, table=f"{schema}.cache") as cache:
            cache.set("k", b"v")
            assert cache.get("k") == b"v"
            assert cache.table == f"{schema}.cache"
    finally:
        with admin(pg_url) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def pg_table_suffix() -> str:
    import uuid

    return uuid.uuid4().hex[:12]


def test_prefixes_share_a_table_without_seeing_each_other(pg_url: str, pg_table: str) -> None:
    a = PostgresCache(pg_url, table=pg_table, prefix="app-a:")
    b = PostgresCache(pg_url, table=pg_table, prefix="app-b:")
    a.set("k", b"from a")
    b.set("k", b"from b")
    assert (a.get("k"), b.get("k")) == (b"from a", b"from b")
    assert a.keys() == ["k"] and b.keys() == ["k"]
    a.clear()
    assert (a.get("k"), b.get("k")) == (None, b"from b")
    a.close()
    b.close()


def test_listing_is_a_range_on_code_points(pg_url: str, pg_table: str) -> None:
    with PostgresCache(pg_url, table=pg_table) as cache:
        for key in ["a", "a:1", "a:\U0010ffff", "a;", "b", "é", "日本"]:
            cache.set(key, b"v")
        assert sorted(cache.keys("a:")) == ["a:1", "a:\U0010ffff"]
        assert sorted(cache.keys("\U0010ffff")) == []
        assert cache.keys("日") == ["日本"]
        assert cache.keys("lone\ud800") == []
        with pytest.raises(TypeError):
            cache.keys(1)  # type: ignore[arg-type]


def test_injected_clock_drives_expiry_and_the_sweep(pg_url: str, pg_table: str) -> None:
    clock = ManualClock(start=1_000_000.0)
    cache = PostgresCache(pg_url, table=pg_table, clock=clock, sweep_interval=60, sweep_batch=7)
    for i in range(20):
        cache.set(f"short{i}", b"v", 5)
    cache.set("long", b"v", 500)
    clock.advance(6)
    assert cache.get("short0") is None
    assert sorted(cache.keys()) == ["long"]
    assert cache.sweep() == 20  # three batches of 7
    assert cache.sweep() == 0
    cache.close()


def test_a_write_sweeps_every_interval(pg_url: str, pg_table: str) -> None:
    clock = ManualClock(start=1_000_000.0)
    cache = PostgresCache(pg_url, table=pg_table, clock=clock, sweep_interval=60)
    cache.set("old", b"v", 5)
    clock.advance(10)
    cache.set("new", b"v")  # not yet: the interval has not passed
    assert _rows(pg_url, pg_table) == 2
    clock.advance(60)
    cache.set("newer", b"v")
    assert _rows(pg_url, pg_table) == 2  # "old" swept by the write
    asyncio.run(cache.aset("x", b"v", 1))
    clock.advance(61)
    assert asyncio.run(cache.acompare_and_set("y", None, b"v")) is True  # sweeps "x"
    assert _rows(pg_url, pg_table) == 3
    cache.close()


def _rows(url: str, table: str) -> int:
    with admin(url) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        return int(row.fetchone()[0])  # type: ignore[index]


def test_expiry_follows_the_server_clock(pg_url: str, pg_table: str) -> None:
    with PostgresCache(pg_url, table=pg_table) as cache:
        cache.set("k", b"v", 100)
        with admin(pg_url) as conn:
            server_now, expires = conn.execute(
                sql.SQL(
                    "SELECT date_part('epoch', now()), expires_at FROM {} WHERE key = 'k'"
                ).format(sql.Identifier(pg_table))
            ).fetchone()  # type: ignore[misc]
        assert 99 < expires - server_now <= 100.5


def test_asweep_and_async_listing(pg_url: str, pg_table: str) -> None:
    async def main() -> tuple[int, list[str]]:
        async with PostgresCache(pg_url, table=pg_table) as cache:
            await cache.aset("a", b"1", 0.05)
            await cache.aset("b", b"2")
            await asyncio.sleep(0.1)
            return await cache.asweep(), await cache.akeys()

    assert asyncio.run(main()) == (1, ["b"])


def test_given_pools_are_used_and_left_open(pg_url: str, pg_table: str) -> None:
    with ConnectionPool(pg_url, min_size=1, max_size=2, open=True) as pool:  # not autocommit
        cache = PostgresCache(pool, table=pg_table)
        cache.set("k", b"v", 60)
        assert asyncio.run(cache.acompare_and_set("k", b"v", b"w")) is True  # in a thread
        assert cache.take("k") == b"w"
        cache.close()
        assert not pool.closed
        with pool.connection() as conn:
            conn.execute("SELECT 1")

    async def with_async_pool() -> bytes | None:
        from psycopg_pool import AsyncConnectionPool

        async with AsyncConnectionPool(pg_url, min_size=1, max_size=2, open=False) as apool:
            cache = PostgresCache(pg_url, async_pool=apool, table=pg_table)
            await cache.aset("a", b"1")
            value = cache.get("a")  # the sync face makes its own pool from the URL
            cache.close()
            return value

    assert asyncio.run(with_async_pool()) == b"1"


def test_postgres_urls(pg_url: str, pg_table: str) -> None:
    base = pg_url.replace("postgresql://", "")
    for scheme in ("postgresql", "postgres"):
        cache = cache_from_url(f"{scheme}://{base}?table={pg_table}&prefix=u:&connect_timeout=3")
        assert isinstance(cache, PostgresCache)
        assert (cache.table, cache.prefix) == (pg_table, "u:")
        cache.set(scheme, b"v")
        cache.close()
    options = cache_from_url(f"{pg_url}?table={pg_table}&pool_timeout=2&max_size=3&sweep_batch=5")
    assert isinstance(options, PostgresCache)
    assert sorted(options.keys()) == ["u:postgres", "u:postgresql"]
    options.close()
    with pytest.raises(ConfigurationError):
        cache_from_url(f"{pg_url}?table=bad-name")
    with pytest.raises(ConfigurationError):
        cache_from_url(f"{pg_url}?pool_timeout=soon")


def test_llm_core_imports_without_psycopg() -> None:
    code = (
        "import sys\n"
        "sys.modules['psycopg'] = None; sys.modules['psycopg_pool'] = None\n"
        "import llm_core\n"
        "from llm_core.cache import PostgresCache, cache_from_url\n"
        "from llm_core.errors import MissingDependencyError\n"
        "try:\n"
        "    cache_from_url('postgresql://127.0.0.1/test')\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'llm-core[postgres]'" in done.stdout
