"""SQLiteCache under load: many threads and many processes on one file."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from llm_core import SQLiteCache

REPO = Path(__file__).resolve().parents[2]

# One racer process: open the cache (perhaps creating the file at the same moment as the
# others), write its own keys, then take every shared key it can, in its own order.
RACER = """
import json, random, sys
from llm_core import SQLiteCache
path, me, shared = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with SQLiteCache(path, busy_timeout=30) as cache:
    for i in range(100):
        cache.set(f"own:{me}:{i}", f"{me}:{i}".encode(), ttl=3600)
    order = [f"shared:{i}" for i in range(shared)]
    random.Random(me).shuffle(order)
    won = [key for key in order if cache.take(key) is not None]
print(json.dumps(won))
"""


def integrity_ok(path: Path) -> bool:
    with sqlite3.connect(path) as conn:
        return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


def test_many_threads_hammering_one_cache(tmp_path: Path) -> None:
    path = tmp_path / "threads.db"
    cache = SQLiteCache(path)
    shared = [f"shared:{i}" for i in range(400)]
    for key in shared:
        cache.set(key, key.encode())
    won: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(me: int) -> None:
        try:
            barrier.wait()
            for i in range(150):
                own = f"own:{me}:{i}"
                cache.set(own, own.encode(), ttl=3600)
                assert cache.get(own) == own.encode()
                assert cache.touch(own, 7200) is True
                if i % 3 == 0:
                    cache.delete(own)
                    assert cache.get(own) is None
            for key in shared[me::2] + shared[: me * 10]:  # overlapping slices: real races
                if cache.take(key) is not None:
                    won.append(key)
        except BaseException as exc:  # reported below, with the thread's assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(won) == sorted(shared)  # every shared key taken, none twice
    expected_own = {f"own:{me}:{i}" for me in range(8) for i in range(150) if i % 3}
    assert set(cache.keys("own:")) == expected_own
    cache.close()
    assert integrity_ok(path)


def test_connections_of_finished_threads_are_closed(tmp_path: Path) -> None:
    with SQLiteCache(tmp_path / "c.db") as cache:
        for n in range(20):
            t = threading.Thread(target=cache.set, args=(f"k{n}", b"v"))
            t.start()
            t.join()
        assert len(cache._conns) <= 2  # this thread's, and at most the last dead one's
        assert len(cache.keys("k")) == 20


def test_processes_race_on_one_file_each_key_taken_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "procs.db"
    shared = 300
    with SQLiteCache(path) as seed:
        for i in range(shared):
            seed.set(f"shared:{i}", b"x", ttl=3600)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(path), str(me), str(shared)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
        for me in range(4)
    ]
    won: Counter[str] = Counter()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        won.update(json.loads(out))
    assert set(won) == {f"shared:{i}" for i in range(shared)}
    assert max(won.values()) == 1  # exactly once across processes
    with SQLiteCache(path) as after:
        assert len(after.keys("own:")) == 400  # every process's writes landed
        assert after.get("own:3:99") == b"3:99"
    assert integrity_ok(path)


def test_processes_creating_the_same_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(path), str(me), "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
        for me in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM llm_core_schema").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM llm_core_cache").fetchone()[0] == 400
    assert integrity_ok(path)


def _child_after_fork(cache: SQLiteCache) -> None:
    # Uses the cache object inherited from the parent: it must open its own connection.
    cache.set("from-child", b"hello")
    assert cache.take("from-parent") == b"parent"
    cache.close()


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    path = tmp_path / "fork.db"
    with SQLiteCache(path) as cache:
        cache.set("from-parent", b"parent")
        parent_conn = cache._conn()
        child = multiprocessing.get_context("fork").Process(target=_child_after_fork, args=(cache,))
        child.start()
        child.join(timeout=60)
        assert child.exitcode == 0
        assert cache._conn() is parent_conn  # the parent's connection is untouched
        assert cache.get("from-child") == b"hello"
        assert cache.get("from-parent") is None
        cache.set("after", b"ok")
    assert integrity_ok(path)


def test_a_finished_threads_connection_serves_the_next_thread(tmp_path: Path) -> None:
    """A thread per call (LangGraph's sync invoke) reuses the connection of one that ended."""
    cache = SQLiteCache(tmp_path / "reuse.db")
    seen: list[sqlite3.Connection] = []

    def work(i: int) -> None:
        cache.set(f"k{i}", b"v", 60)
        seen.append(cache._conn())

    for i in range(5):
        thread = threading.Thread(target=work, args=(i,))
        thread.start()
        thread.join()
    assert len({id(conn) for conn in seen}) == 1
    assert [cache.get(f"k{i}") for i in range(5)] == [b"v"] * 5
    cache.close()
    with pytest.raises(sqlite3.ProgrammingError):  # the spare was closed with the cache
        seen[0].execute("SELECT 1")
