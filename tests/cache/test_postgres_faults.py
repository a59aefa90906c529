"""A PostgreSQL that cannot answer is ``CacheUnavailableError``, never a miss: a closed port, a
server that terminates the cache's sessions, one that refuses new ones, a closed cache."""

# ruff: noqa: F811 - the fixtures imported from test_postgres_support are parameters here

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from psycopg import sql

from llm_core.cache import PostgresCache
from llm_core.errors import CacheUnavailableError
from tests.cache.test_postgres_support import admin, pg_url  # noqa: F401 - fixtures

pytestmark = pytest.mark.postgres


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def every_operation(cache: PostgresCache) -> list[Callable[[], Any]]:
    return [
        lambda: cache.get("k"), lambda: cache.set("k", b"v", 10), lambda: cache.delete("k"),
        lambda: cache.take("k"), lambda: cache.touch("k", None), lambda: cache.keys(),
        lambda: cache.compare_and_set("k", None, b"v"), lambda: cache.sweep(),
        lambda: asyncio.run(cache.aget("k")), lambda: asyncio.run(cache.atake("k")),
        lambda: asyncio.run(cache.acompare_and_set("k", b"a", b"b")),
        lambda: asyncio.run(cache.akeys()),
    ]  # fmt: skip


def test_a_closed_port_is_unavailable_on_every_operation() -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/test"
    cache = PostgresCache(url, pool_timeout=0.3)
    for operation in every_operation(cache):
        started = time.monotonic()
        with pytest.raises(CacheUnavailableError, match=r"PostgreSQL at 127\.0\.0\.1:\d+/test"):
            operation()
        assert time.monotonic() - started < 3
    cache.close()


def test_a_closed_cache_is_unavailable(pg_url: str) -> None:
    cache = PostgresCache(pg_url, table=f"llm_core_closed_{uuid.uuid4().hex[:8]}")
    cache.close()
    for operation in every_operation(cache):
        with pytest.raises(CacheUnavailableError, match="closed"):
            operation()


@pytest.fixture
def own_role(pg_url: str) -> Iterator[tuple[str, str]]:
    """A login role of the test's own (so its sessions can be cut and refused without touching
    anyone else's) with a schema it owns; dropped after.  Yields (url, table)."""
    role = f"llm_core_t_{uuid.uuid4().hex[:12]}"
    with admin(pg_url) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                sql.Identifier(role), sql.Identifier(role)
            )
        )
    url = pg_url.replace("postgresql://postgres@", f"postgresql://{role}@")
    try:
        yield url, f"{role}.cache"
    finally:
        with admin(pg_url) as conn:
            cut(conn, role)
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def cut(conn: Any, role: str) -> int:
    """Terminate every session of ``role``; how many there were."""
    rows = conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
    ).fetchall()
    return len(rows)


def test_terminated_sessions(pg_url: str, own_role: tuple[str, str]) -> None:
    url, table = own_role
    role = table.split(".")[0]
    cache = PostgresCache(url, table=table, max_size=4, pool_timeout=1)
    cache.set("k", b"v")
    cache.set("prize", b"v")

    with admin(pg_url) as conn:
        assert cut(conn, role) >= 1
    # an idempotent call is sent again on a fresh connection: the right answer, not an error
    assert cache.get("k") == b"v"

    with admin(pg_url) as conn:
        cut(conn, role)
    # a take is never sent twice (its reply may be all that was lost): unavailable, not a miss
    with pytest.raises(CacheUnavailableError, match="take failed"):
        cache.take("prize")
    assert cache.take("prize") == b"v"  # the pool replaced the dead connection

    with admin(pg_url) as conn:
        cut(conn, role)
    with pytest.raises(CacheUnavailableError):
        cache.compare_and_set("k", b"v", b"w")
    assert cache.compare_and_set("k", b"v", b"w") is True

    async def async_face() -> bytes | None:
        await cache.aset("a", b"1")
        with admin(pg_url) as conn:
            cut(conn, role)
        with pytest.raises(CacheUnavailableError):
            await cache.atake("a")
        return await cache.aget("a")

    assert asyncio.run(async_face()) == b"1"
    cache.close()


def test_a_server_that_refuses_the_cache_is_unavailable_until_it_accepts(
    pg_url: str, own_role: tuple[str, str]
) -> None:
    url, table = own_role
    role = table.split(".")[0]
    cache = PostgresCache(url, table=table, pool_timeout=0.2)
    cache.set("k", b"v")
    with admin(pg_url) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 0").format(sql.Identifier(role)))
        cut(conn, role)
    for operation in every_operation(cache):
        with pytest.raises(CacheUnavailableError):
            operation()
    with admin(pg_url) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT -1").format(sql.Identifier(role)))
    deadline = time.monotonic() + 10
    while True:  # the pool reconnects in the background, with a back-off
        try:
            assert cache.get("k") == b"v"  # nothing lost
            break
        except CacheUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    cache.close()
