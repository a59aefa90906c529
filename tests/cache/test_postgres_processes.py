"""PostgresCache across processes: compare-and-set races, concurrent sweeps, and a hitl-gate
session paused in one process and resumed in another, exactly once."""

# ruff: noqa: F811 - the fixtures imported from test_postgres_support are parameters here

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from psycopg import sql

from llm_core.cache import PostgresCache
from tests.cache.test_postgres_support import admin, pg_table, pg_url  # noqa: F401 - fixtures

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]

# A racer: builds its cache and connects, waits for the start time, runs, prints JSON.
_RACER = """
import json, sys, time
from llm_core.cache import PostgresCache
url, table, mode, me, start, n = sys.argv[1:7]
cache = PostgresCache(url, table=table, sweep_batch=50)
cache.get("warm-up")  # connected, table checked: the race is only the operations
while time.time() < float(start):
    time.sleep(0.001)
if mode == "cas":
    won = []
    for i in range(int(n)):
        if cache.compare_and_set(f"swap{i}", b"v0", me.encode()):
            won.append(f"swap{i}")
        if cache.compare_and_set(f"fresh{i}", None, me.encode()):
            won.append(f"fresh{i}")
    print(json.dumps(won))
else:
    late = time.time() - float(start)  # seconds this racer started after the others could
    print(json.dumps([cache.sweep(), late]))
cache.close()
"""


def race(url: str, table: str, mode: str, processes: int, n: int) -> list[object]:
    start = time.time() + 2.0  # every racer is connected and waiting by then
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, url, table, mode, f"p{p}", str(start), str(n)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(processes)
    ]
    results = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        results.append(json.loads(out))
    return results


def test_four_processes_racing_compare_and_set_one_winner_each(pg_url: str, pg_table: str) -> None:
    n = 200
    with PostgresCache(pg_url, table=pg_table) as cache:
        for i in range(n):
            cache.set(f"swap{i}", b"v0")
        results = race(pg_url, pg_table, "cas", 4, n)
        wins = Counter(key for won in results for key in won)  # type: ignore[attr-defined]
        expected = {f"swap{i}" for i in range(n)} | {f"fresh{i}" for i in range(n)}
        assert set(wins) == expected
        assert set(wins.values()) == {1}  # every key: exactly one winner
        for p, won in enumerate(results):
            for key in won:  # type: ignore[attr-defined]
                assert cache.get(key) == f"p{p}".encode()  # the winner's value is the one kept


def test_three_processes_sweeping_at_once_delete_each_expired_row_once(
    pg_url: str, pg_table: str
) -> None:
    expired, live = 3000, 100
    with PostgresCache(pg_url, table=pg_table) as cache:
        cache.set("init", b"v")
        with admin(pg_url) as conn:  # fill fast: one statement per kind
            table = sql.Identifier(pg_table)
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT 'old' || i, 'v', date_part('epoch', now()) - 1"
                    " FROM generate_series(1, %s) AS i"
                ).format(table),
                (expired,),
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} SELECT 'live' || i, 'v', date_part('epoch', now()) + 600"
                    " FROM generate_series(1, %s) AS i"
                ).format(table),
                (live,),
            )
        results = race(pg_url, pg_table, "sweep", 3, 0)
        counts = [count for count, _ in results]  # type: ignore[misc]
        assert sum(counts) == expired  # each expired row deleted by exactly one sweeper
        if max(late for _, late in results) < 0.05:  # type: ignore[misc]
            assert all(counts), counts  # started together, all three took part (batches of 50)
        assert len(cache.keys()) == live + 1
        assert cache.sweep() == 0


def llm_core(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llm_core", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_hitl_gate_pauses_in_one_process_and_resumes_in_another_once(
    pg_url: str, pg_table: str
) -> None:
    url = f"{pg_url}?table={pg_table}&prefix=sessions:"
    paused = llm_core("--cache", url, "run", "hitl-gate", "Ship it", "--json")
    assert paused.returncode == 0, paused.stderr
    document = json.loads(paused.stdout)
    assert document["status"] == "paused"
    token = document["token"]

    listed = llm_core("--cache", url, "sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [s["token"] for s in json.loads(listed.stdout)["sessions"]] == [token]

    resumed = llm_core("--cache", url, "resume", token, "--decision", "approve", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["artefact"]["final"] == "Ship it"

    again = llm_core("--cache", url, "resume", token, "--decision", "approve")
    assert again.returncode == 10  # session_already_resumed: a token completes exactly once
    assert "session_already_resumed" in again.stderr


def test_four_processes_resuming_the_same_tokens_each_once(
    pg_url: str, pg_table: str, tmp_path: Path
) -> None:
    from llm_core import Paused, cache_from_url, recipes

    url = f"{pg_url}?table={pg_table}"
    runtime = recipes.hitl_gate(cache=cache_from_url(url))
    tokens = []
    for i in range(100):
        outcome = runtime.run(f"draft {i}")
        assert isinstance(outcome, Paused)
        tokens.append(outcome.token)
    path = tmp_path / "tokens.txt"
    path.write_text("\n".join(tokens))
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.durability.worker", "resume", url, str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results: list[list[str]] = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        results += [line.split(" ", 1) for line in out.splitlines()]
    oks = Counter(token for token, status in results if status.startswith("ok:"))
    assert oks == Counter({token: 1 for token in tokens})
    losers = {status for _, status in results if not status.startswith("ok:")}
    assert losers <= {"session_busy", "session_already_resumed"}
