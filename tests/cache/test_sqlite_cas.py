"""SQLiteCache.compare_and_set beyond the kit: the pre-3.24 path, processes, a locked file."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llm_core.cache import SQLiteCache
from llm_core.cache.testing import CacheConformance, ManualClock
from llm_core.errors import CacheUnavailableError

REPO = Path(__file__).resolve().parents[2]


class TestCasAsATransaction(CacheConformance):
    """The whole kit with ``compare_and_set`` forced onto the ``BEGIN IMMEDIATE`` path that
    SQLite < 3.24 (no upsert) uses."""

    ttl = 10.0
    margin = 0.001

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock(start=1_700_000_000.0)

    @pytest.fixture
    def advance(self, clock: ManualClock) -> Callable[[float], None]:
        return clock.advance

    @pytest.fixture
    def cache(self, tmp_path: Path, clock: ManualClock) -> Iterator[SQLiteCache]:
        with SQLiteCache(tmp_path / "tx.db", clock=clock) as cache:
            cache._cas_impl = cache._cas_transaction
            yield cache


# One racer process: for every key, try to swap the seed value for its own name.
RACER = """
import json, sys
from llm_core import SQLiteCache
path, me, keys = sys.argv[1], sys.argv[2], int(sys.argv[3])
with SQLiteCache(path, busy_timeout=30) as cache:
    won = [i for i in range(keys) if cache.compare_and_set(f"k{i}", b"seed", me.encode())]
print(json.dumps(won))
"""


def test_processes_racing_on_one_file_each_key_swapped_once(tmp_path: Path) -> None:
    path, keys = tmp_path / "procs.db", 200
    with SQLiteCache(path) as seed:
        for i in range(keys):
            seed.set(f"k{i}", b"seed", ttl=3600)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(path), f"p{me}", str(keys)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
        for me in range(4)
    ]
    won: Counter[int] = Counter()
    winner: dict[int, str] = {}
    for me, proc in enumerate(procs):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        for i in json.loads(out):
            won[i] += 1
            winner[i] = f"p{me}"
    assert sorted(won) == list(range(keys))
    assert max(won.values()) == 1
    with SQLiteCache(path) as after:
        assert all(after.get(f"k{i}") == winner[i].encode() for i in range(keys))


def test_a_writer_holding_the_lock_past_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with SQLiteCache(path, busy_timeout=0.05) as cache:
        cache.set("k", b"before")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(CacheUnavailableError, match="compare_and_set failed") as e:
                cache.compare_and_set("k", b"before", b"after")
            assert isinstance(e.value.__cause__, sqlite3.OperationalError)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert cache.get("k") == b"before"
        assert cache.compare_and_set("k", b"before", b"after") is True


def test_a_closed_cache_is_unavailable(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.db")
    cache.close()
    with pytest.raises(CacheUnavailableError, match="closed"):
        cache.compare_and_set("k", None, b"v")


def test_a_cas_over_an_expired_row_replaces_it_with_the_new_expiry(tmp_path: Path) -> None:
    clock = ManualClock(start=1_700_000_000.0)
    with SQLiteCache(tmp_path / "c.db", clock=clock) as cache:
        cache.set("k", b"old", ttl=1)
        clock.advance(2)
        assert cache.compare_and_set("k", None, b"new", ttl=5) is True
        clock.advance(4.9)
        assert cache.get("k") == b"new"
        clock.advance(0.2)
        assert cache.get("k") is None


def test_a_cas_write_runs_the_periodic_sweep(tmp_path: Path) -> None:
    clock = ManualClock(start=1_700_000_000.0)
    with SQLiteCache(tmp_path / "c.db", clock=clock, sweep_interval=10) as cache:
        for i in range(5):
            cache.set(f"old{i}", b"v", ttl=1)
        clock.advance(11)
        assert cache.compare_and_set("k", None, b"v") is True
        assert cache.sweep() == 0  # the CAS write already swept the expired rows
