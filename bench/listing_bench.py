"""Listing pending sessions at scale: first-page latency at 10k, 100k and 1M pending sessions.

Each store is filled with real session records: one run of the one-gate workflow pauses, and its
record is cloned under fresh tokens (the token inside the record changed with it, deadlines spread
over an hour), written in bulk by the backend's own fastest path; the fill time is printed.  Then
``SessionStore.page(limit=50)`` is timed (median of 20): the first page, the first page of the
newest, a page filtered by pause kind, and a page 20 pages deep (via cursors).  Every store made
here is removed afterwards.  ``read-all``: one ``SessionStore.sessions()`` (every record read,
what listing cost before the index), up to 100k.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SIZES = tuple(
    int(n) for n in os.environ.get("LLM_CORE_BENCH_LISTING", "10000,100000,1000000").split(",")
)
REPEAT = 20


def template(cache: Any) -> tuple[str, bytes]:
    """One real pending record (its token and bytes), paused on ``cache``."""
    from bench.hitl_bench import one_gate
    from llm_core import Paused
    from llm_core.sessions import SESSION_KEY_PREFIX

    outcome = one_gate(cache).run("Ship the release notes")
    assert isinstance(outcome, Paused)
    key = SESSION_KEY_PREFIX + outcome.token
    value = cache.get(key)
    assert value is not None
    cache.delete(key)
    return outcome.token, value


def clones(token: str, value: bytes, n: int) -> Iterator[tuple[str, bytes, float]]:
    """``n`` (key, record, ttl) copies of one record under fresh tokens."""
    from llm_core.sessions import SESSION_KEY_PREFIX, mint_token

    old = token.encode()
    now = time.time()
    for i in range(n):
        ttl = 3600.0 + i * (3600.0 / n)
        fresh = mint_token(now + ttl)
        yield SESSION_KEY_PREFIX + fresh, value.replace(old, fresh.encode()), ttl


def fill_sqlite(cache: Any, token: str, value: bytes, n: int) -> None:
    """Bulk insert through SQLiteCache's own statement and labels (one transaction per 50k)."""
    from llm_core.cache._sqlite_sql import _SET

    conn = cache._conn()
    batch: list[tuple[Any, ...]] = []
    now = time.time()
    for key, record, ttl in clones(token, value, n):
        batch.append((key, record, now + ttl, *cache._labels(key, record)))
        if len(batch) == 50_000:
            conn.executemany(_SET, batch)
            batch.clear()
    conn.executemany(_SET, batch)


def fill_postgres(cache: Any, token: str, value: bytes, n: int) -> None:
    """Bulk insert through PostgresCache's own statement and labels (executemany, 20k a batch)."""
    from psycopg import sql

    from llm_core.cache._labels import label_row

    assert cache._sql is not None  # made by the template's pause
    with cache.pool.connection() as conn, conn.cursor() as cursor:
        batch: list[Any] = []
        for key, record, ttl in clones(token, value, n):
            ix, la, lb = label_row(cache._indexes, key, record)
            batch.append(cache._params(key, value=record, ttl=ttl, ix=ix, la=la, lb=lb))
            if len(batch) == 20_000:
                cursor.executemany(cache._sql.set, batch)
                batch.clear()
        cursor.executemany(cache._sql.set, batch)
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(cache.table)))


def fill_redis(cache: Any, token: str, value: bytes, n: int) -> None:
    """``aset`` (one script per record: the record and its index entry) 500 at a time."""
    import asyncio

    async def fill() -> None:
        pending = []
        for key, record, ttl in clones(token, value, n):
            pending.append(cache.aset(key, record, ttl))
            if len(pending) == 500:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)

    asyncio.run(fill())


@contextmanager
def postgres_backend() -> Iterator[tuple[Any, Callable[[Any, str, bytes, int], None]]]:
    from bench.scale_bench import _open_cache, postgres_store

    with postgres_store() as url:
        cache = _open_cache("Postgres", url)
        try:
            yield cache, fill_postgres
        finally:
            cache.close()


@contextmanager
def redis_backend() -> Iterator[tuple[Any, Callable[[Any, str, bytes, int], None]]]:
    from bench.scale_bench import _open_cache, redis_store

    with redis_store() as prefix:
        cache = _open_cache("Redis", prefix)
        try:
            yield cache, fill_redis
        finally:
            cache.close()


@contextmanager
def sqlite_backend() -> Iterator[tuple[Any, Callable[[Any, str, bytes, int], None]]]:
    from llm_core import SQLiteCache

    with tempfile.TemporaryDirectory() as tmp:
        cache = SQLiteCache(Path(tmp) / "listing.db")
        try:
            yield cache, fill_sqlite
        finally:
            cache.close()


BACKENDS: dict[str, Callable[[], Any]] = {
    "SQLite": sqlite_backend,
    "PostgreSQL": postgres_backend,
    "Redis": redis_backend,
}


def _median_ms(call: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure_store(
    cache: Any, fill: Callable[[Any, str, bytes, int], None], n: int
) -> dict[str, float]:
    from llm_core.sessions import SessionStore

    store = SessionStore(cache)
    token, value = template(cache)
    start = time.perf_counter()
    fill(cache, token, value, n)
    filled = time.perf_counter() - start
    store.page(limit=1)  # the first page of a prefix labels rows older than the index: not timed
    assert len(store.page(limit=50).items) == 50
    cursor = None
    for _ in range(20):
        cursor = store.page(limit=50, cursor=cursor).cursor
    whole = float("nan")
    if n <= 100_000:  # what a listing cost before the index: every record read
        start = time.perf_counter()
        store.sessions()
        whole = (time.perf_counter() - start) * 1000
    return {
        "fill s": filled,
        "read-all ms": whole,
        "first page ms": _median_ms(lambda: store.page(limit=50)),
        "newest ms": _median_ms(lambda: store.page(limit=50, order="newest")),
        "kind filter ms": _median_ms(lambda: store.page(limit=50, kind="human")),
        "page 21 ms": _median_ms(lambda: store.page(limit=50, cursor=cursor)),
    }


def main() -> None:
    print("\n## Listing pending sessions: SessionStore.page(limit=50), median of 20 (ms)\n")
    columns = [
        "fill s",
        "read-all ms",
        "first page ms",
        "newest ms",
        "kind filter ms",
        "page 21 ms",
    ]
    print("| backend | pending | " + " | ".join(columns) + " |")
    print("|---|--:|" + "--:|" * len(columns))
    for name, backend in BACKENDS.items():
        for n in SIZES:
            try:
                with backend() as (cache, fill):
                    figures = measure_store(cache, fill, n)
            except Exception as exc:  # a backend that is not running: say so, go on
                print(f"| {name} | {n:,} | skipped: {type(exc).__name__}: {exc} |")
                continue
            cells = [f"{figures[c]:.2f}" for c in columns]
            print(f"| {name} | {n:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
