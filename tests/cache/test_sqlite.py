"""SQLiteCache beyond the shared contract: the file, its schema, sweep, listing, errors."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from llm_core import SQLiteCache
from llm_core.cache import _sqlite as sqlite_module
from llm_core.cache._kit_index import sample_labeler
from llm_core.cache._sqlite import SCHEMA_VERSION
from llm_core.cache._sqlite_index import _page_sql
from llm_core.cache._sqlite_sql import successor as _successor
from llm_core.errors import CacheFormatError, CacheUnavailableError, ConfigurationError
from tests.clock import ManualClock


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection to inspect the file the way another tool would."""
    return sqlite3.connect(path, isolation_level=None)


def rows(path: Path) -> int:
    with raw(path) as conn:
        return int(conn.execute("SELECT count(*) FROM llm_core_cache").fetchone()[0])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)  # a wall-clock-like epoch value


@pytest.fixture
def cache(tmp_path: Path, clock: ManualClock) -> SQLiteCache:
    with SQLiteCache(tmp_path / "cache.db", clock=clock) as made:
        yield made  # type: ignore[misc]


# --- the file -------------------------------------------------------------------------


def test_file_and_its_wal_and_shm_are_private_even_with_a_permissive_umask(
    tmp_path: Path,
) -> None:
    path = tmp_path / "private.db"
    old = os.umask(0)
    try:
        with SQLiteCache(path) as cache:
            cache.set("k", b"v")
            for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                assert name.exists(), name
                assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
    finally:
        os.umask(old)


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    with SQLiteCache(path) as cache:
        cache.set("k", b"v")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_wal_mode_schema_table_and_integrity(cache: SQLiteCache) -> None:
    cache.set("k", b"v", ttl=60)
    with raw(Path(cache.path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM llm_core_schema").fetchall() == [(SCHEMA_VERSION,)]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = conn.execute("SELECT key, value, expires_at FROM llm_core_cache").fetchall()
    assert stored == [("k", b"v", 1_700_000_060.0)]  # the expiry is wall-clock seconds


def test_entries_persist_across_reopen_with_their_expiry(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "persist.db"
    with SQLiteCache(path, clock=clock) as first:
        first.set("forever", b"1")
        first.set("brief", b"2", ttl=10)
    clock.advance(5)
    with SQLiteCache(path, clock=clock) as second:
        assert second.get("forever") == b"1"
        assert second.get("brief") == b"2"
        clock.advance(6)
        assert second.get("brief") is None


def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SQLiteCache(path).close()
    with raw(path) as conn:
        conn.execute("UPDATE llm_core_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(
        CacheFormatError,
        match=rf"schema version {SCHEMA_VERSION + 1}, newer than the {SCHEMA_VERSION}",
    ):
        SQLiteCache(path)


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the pages you are looking for\n" * 100)
    with pytest.raises(CacheFormatError, match="not a SQLite database") as info:
        SQLiteCache(path)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)
    assert isinstance(info.value, CacheUnavailableError)  # callers catching "down" see it too


def test_a_sqlite_file_of_another_app_gets_our_tables_beside_its_own(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with raw(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
        conn.execute("INSERT INTO users VALUES ('ada')")
    with SQLiteCache(path) as cache:
        cache.set("k", b"v")
        assert cache.get("k") == b"v"
    with raw(path) as conn:
        assert conn.execute("SELECT name FROM users").fetchall() == [("ada",)]


def test_a_missing_directory_is_unavailable_with_the_cause(tmp_path: Path) -> None:
    with pytest.raises(CacheUnavailableError, match="cannot create or open") as info:
        SQLiteCache(tmp_path / "no" / "such" / "dir" / "c.db")
    assert isinstance(info.value.__cause__, FileNotFoundError)


@pytest.mark.parametrize("path", ["", ":memory:", "file:x.db?mode=memory"])
def test_non_file_paths_are_refused(path: str) -> None:
    with pytest.raises(ConfigurationError, match="needs a file path"):
        SQLiteCache(path)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="synchronous must be one of"):
        SQLiteCache(tmp_path / "c.db", synchronous="SOMETIMES")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite number of seconds"):
        SQLiteCache(tmp_path / "c.db", sweep_interval=0)


# --- errors while running ------------------------------------------------------------------


def test_a_writer_holding_the_lock_past_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with SQLiteCache(path, busy_timeout=0.05) as cache:
        cache.set("k", b"before")
        blocker = raw(path)
        blocker.execute("BEGIN IMMEDIATE")  # another process's long write transaction
        try:
            with pytest.raises(CacheUnavailableError, match="set failed: database is locked") as e:
                cache.set("k", b"after")
            assert isinstance(e.value.__cause__, sqlite3.OperationalError)
            with pytest.raises(CacheUnavailableError, match="take failed"):
                cache.take("k")
            assert cache.get("k") == b"before"  # WAL: readers are never blocked by the writer
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert cache.take("k") == b"before"


def test_a_closed_cache_raises_unavailable_on_every_operation(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.db")
    cache.set("k", b"v")
    seen_by_other_thread: list[BaseException] = []
    cache.close()
    cache.close()  # twice is fine

    def other() -> None:
        try:
            cache.get("k")
        except CacheUnavailableError as exc:
            seen_by_other_thread.append(exc)

    worker = threading.Thread(target=other)
    worker.start()
    worker.join()
    assert len(seen_by_other_thread) == 1
    for call in (
        lambda: cache.get("k"),
        lambda: cache.set("k", b"v"),
        lambda: cache.delete("k"),
        lambda: cache.take("k"),
        lambda: cache.touch("k", None),
        lambda: cache.keys(),
        cache.sweep,
    ):
        with pytest.raises(CacheUnavailableError, match="closed"):
            call()
    assert "closed" in repr(cache)


# --- sweep --------------------------------------------------------------------------------


def test_sweep_counts_and_deletes_only_expired_rows(cache: SQLiteCache, clock: ManualClock) -> None:
    for i in range(5):
        cache.set(f"short:{i}", b"x", ttl=10)
    for i in range(3):
        cache.set(f"forever:{i}", b"x")
    for i in range(2):
        cache.set(f"long:{i}", b"x", ttl=100)
    assert cache.sweep() == 0
    clock.advance(11)
    assert rows(Path(cache.path)) == 10  # expired rows are filtered on read, still stored
    assert cache.sweep() == 5
    assert cache.sweep() == 0
    assert rows(Path(cache.path)) == 5
    assert sorted(cache.keys()) == ["forever:0", "forever:1", "forever:2", "long:0", "long:1"]


async def test_asweep(cache: SQLiteCache, clock: ManualClock) -> None:
    await cache.aset("k", b"v", 1)
    clock.advance(2)
    assert await cache.asweep() == 1


def test_a_write_after_the_sweep_interval_sweeps(tmp_path: Path, clock: ManualClock) -> None:
    with SQLiteCache(tmp_path / "c.db", clock=clock, sweep_interval=30) as cache:
        cache.set("a", b"1", ttl=1)
        clock.advance(2)
        cache.set("b", b"2", ttl=100)
        assert rows(Path(cache.path)) == 2  # the period has not passed: "a" is still stored
        clock.advance(29)
        cache.set("c", b"3", ttl=100)
        assert rows(Path(cache.path)) == 2  # "a" swept by that write
        assert sorted(cache.keys()) == ["b", "c"]


def test_sweep_and_listing_use_indexes_not_table_scans(cache: SQLiteCache) -> None:
    with raw(Path(cache.path)) as conn:
        sweep_plan = conn.execute("EXPLAIN QUERY PLAN " + sqlite_module._SWEEP, (0.0,)).fetchall()
        keys_plan = conn.execute(
            "EXPLAIN QUERY PLAN " + sqlite_module._KEYS_RANGE, ("a", "b", 0.0)
        ).fetchall()
    assert "llm_core_cache_deadline" in str(sweep_plan)
    assert "SEARCH" in str(keys_plan)


# --- listing ------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["100%", "a_b", "*", "x[1]", "ns?", "back\\slash", "'quote"])
def test_listing_treats_pattern_characters_literally(cache: SQLiteCache, prefix: str) -> None:
    decoys = ["100", "100x", "aXb", "azb", "x1", "ns", "nsq", "back", "quote", "zzz"]
    for key in decoys:
        cache.set(key, b"d")
    cache.set(prefix, b"exact")
    cache.set(prefix + ":child", b"child")
    assert sorted(cache.keys(prefix)) == sorted([prefix, prefix + ":child"])


def test_listing_at_the_top_of_unicode(cache: SQLiteCache) -> None:
    top = "\U0010ffff"
    cache.set("a" + top, b"1")
    cache.set("a" + top + top, b"2")
    cache.set("b", b"3")
    cache.set("a\ud7ff", b"4")
    cache.set("a\ue000", b"5")
    assert sorted(cache.keys("a" + top)) == ["a" + top, "a" + top + top]
    assert sorted(cache.keys("a\ud7ff")) == ["a\ud7ff"]
    assert sorted(cache.keys(top)) == []
    assert cache.keys("lone\ud800") == []  # no valid key can start with it
    with pytest.raises(TypeError, match="prefix must be str"):
        cache.keys(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prefix", "successor"),
    [
        ("", None),
        ("a", "b"),
        ("ab", "ac"),
        ("a\U0010ffff", "b"),
        ("\U0010ffff", None),
        ("\ud7ff", "\ue000"),
    ],
)
def test_successor(prefix: str, successor: str | None) -> None:
    assert _successor(prefix) == successor


def test_clear(cache: SQLiteCache) -> None:
    cache.set("a", b"1")
    cache.set("b", b"2", ttl=5)
    cache.clear()
    assert cache.keys() == []


# --- the transaction fallback for SQLite < 3.35 ------------------------------------------


def test_take_without_returning_is_still_atomic(cache: SQLiteCache) -> None:
    cache._take_impl = cache._take_transaction  # what SQLite < 3.35 runs
    for round_ in range(10):
        key = f"race-{round_}"
        cache.set(key, b"prize")
        barrier = threading.Barrier(6)
        won: list[bytes | None] = []

        def racer(key: str = key, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            won.append(cache.take(key))

        threads = [threading.Thread(target=racer) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert won.count(b"prize") == 1
        assert won.count(None) == 5
    cache.set("kept", b"v")
    assert cache.take("kept") == b"v"
    assert cache.take("kept") is None


# --- async faces ----------------------------------------------------------------------


async def test_async_faces_run_off_the_event_loop_thread(tmp_path: Path) -> None:
    loop_thread = threading.get_ident()
    seen: set[int] = set()

    def clock() -> float:
        seen.add(threading.get_ident())
        return 1_700_000_000.0

    with SQLiteCache(tmp_path / "c.db", clock=clock) as cache:
        seen.clear()
        await cache.aset("k", b"v", 10)
        assert await cache.aget("k") == b"v"
        assert await cache.atouch("k", 20) is True
        assert await cache.atake("k") == b"v"
    assert seen
    assert loop_thread not in seen


async def test_concurrent_async_takes_hand_out_the_value_once(cache: SQLiteCache) -> None:
    await cache.aset("k", b"prize")
    results = await asyncio.gather(*(cache.atake("k") for _ in range(10)))
    assert results.count(b"prize") == 1
    assert results.count(None) == 9


def test_take_with_a_failing_clock_keeps_the_entry(tmp_path: Path) -> None:
    """The clock is read before the DELETE, so a clock that raises cannot lose the entry."""
    broken = False

    def clock() -> float:
        if broken:
            raise RuntimeError("clock unavailable")
        return 1_000.0

    cache = SQLiteCache(tmp_path / "c.db", clock=clock)
    cache.set("k", b"v", ttl=60)
    broken = True
    with pytest.raises(RuntimeError, match="clock unavailable"):
        cache.take("k")
    broken = False
    assert cache.take("k") == b"v"
    cache.close()


def test_a_version_1_file_is_migrated_and_its_rows_labelled(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with raw(path) as conn:  # the layout llm-core wrote before the index columns
        conn.execute("CREATE TABLE llm_core_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO llm_core_schema (version) VALUES (1)")
        conn.execute(
            "CREATE TABLE llm_core_cache ("
            " key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires_at REAL)"
        )
        conn.execute(
            "CREATE INDEX llm_core_cache_expires ON llm_core_cache (expires_at)"
            " WHERE expires_at IS NOT NULL"
        )
        conn.executemany(
            "INSERT INTO llm_core_cache VALUES (?, ?, ?)",
            [("ix:a", b"r|k", 2e9), ("ix:b", b"-", 2e9 + 1), ("plain", b"v", None)],
        )
        conn.commit()
    with SQLiteCache(path) as cache:
        assert cache.get("plain") == b"v"
        cache.index_prefix("ix:", sample_labeler)
        assert [e.key for e in cache.page("ix:")] == ["ix:a"]
    with raw(path) as conn:
        assert conn.execute("SELECT version FROM llm_core_schema").fetchall() == [(2,)]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(llm_core_cache)")}
        assert "llm_core_cache_deadline" in indexes
        assert "llm_core_cache_expires" not in indexes


def test_a_page_walks_the_deadline_index(cache: SQLiteCache) -> None:
    cache.index_prefix("ix:", sample_labeler)
    with raw(Path(cache.path)) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN " + _page_sql(False, True, ("a", "b")),
            (0.0, "ix:", 1.0, "ix:a", "a", "b", 10),
        ).fetchall()
    assert "USING INDEX llm_core_cache_deadline" in str(plan)
    assert "TEMP B-TREE" not in str(plan)  # no sort: the index gives the order
