"""The session lifecycle on PostgreSQL under faults: replies lost after the server committed,
requests reset before they reached it, several processes pausing and resuming at once.

The real server on 127.0.0.1:5432 (database ``test``), a table of each test's own (dropped
after), real worker processes; faults come from :class:`tests.faults.proxy.FaultProxy` with
``protocol="postgres"``: a reply is everything the server sends up to the ``ReadyForQuery`` that
answers a request, so a dropped reply is one whose statement ran and committed.  Each test
prints what it measured (``pytest -s`` shows it).
"""

# ruff: noqa: F811 - the fixtures imported from test_postgres_support are parameters here

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from llm_core import Error, Ok, Paused
from llm_core.cache import PostgresCache
from llm_core.errors import CacheUnavailableError
from llm_core.sessions import SessionStore
from tests.cache.test_postgres_support import pg_table, pg_url  # noqa: F401 - fixtures
from tests.faults import worker
from tests.faults.proxy import FaultProxy, pg_request_name

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 500
WORKERS = 3
LEASE = 1.0


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with FaultProxy(5432, protocol="postgres") as started:
        yield started


def start_worker(mode: str, spec: dict[str, Any], path: Path) -> subprocess.Popen[str]:
    path.write_text(json.dumps(spec), encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults.worker", mode, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]


def effect_runs(paths: list[Path]) -> list[tuple[int, str, str]]:
    """Every run of the resumed step, as logged by every process: (n, idempotency key, pid)."""
    runs = []
    for path in paths:
        if path.exists():
            for line in path.read_text("utf-8").splitlines():
                n, key, pid = line.split()
                runs.append((int(n), key, pid))
    return runs


# --- the proxy speaks PostgreSQL -----------------------------------------------------------


def test_request_names() -> None:
    assert pg_request_name(b"  select 1") == b"SELECT"
    assert pg_request_name(b"INSERT INTO t VALUES (1)") == b"INSERT"
    assert pg_request_name(b"begin;") == b"BEGIN"
    assert pg_request_name(None) == b"SYNC"
    assert pg_request_name(b"") == b"SYNC"


def test_route_points_a_url_at_the_proxy(proxy: FaultProxy) -> None:
    assert proxy.route("postgresql://postgres@127.0.0.1:5432/test?sslmode=prefer") == (
        f"postgresql://postgres@127.0.0.1:{proxy.port}/test?sslmode=prefer"
    )
    assert proxy.route("postgresql://u:p@db.example:6000/x") == (
        f"postgresql://u:p@127.0.0.1:{proxy.port}/x"
    )


def test_it_relays_and_counts_round_trips(proxy: FaultProxy, pg_url: str, pg_table: str) -> None:
    with PostgresCache(proxy.route(pg_url), table=pg_table) as cache:
        cache.set("k", b"v" * 200_000)  # a reply and a request that span many reads
        assert cache.get("k") == b"v" * 200_000
        assert cache.get("missing") is None
        before = proxy.commands
        for i in range(30):
            cache.set(f"n{i}", b"x")
        # psycopg prepares a statement on its 5th run on a connection: one more round trip,
        # once per connection of the pool
        assert 30 <= proxy.commands - before <= 30 + proxy.connections
        assert sorted(cache.keys("n")) == sorted(f"n{i}" for i in range(30))
    assert proxy.by_command[b"STARTUP"] == proxy.connections
    assert proxy.replies == proxy.commands  # one ReadyForQuery per request
    assert proxy.dropped == proxy.resets == 0


def test_a_dropped_reply_comes_after_the_server_committed(
    proxy: FaultProxy, pg_url: str, pg_table: str
) -> None:
    with PostgresCache(proxy.route(pg_url), table=pg_table) as cache:
        cache.set("warm", b"up")  # the table exists, the pool is connected
        proxy.drop_next(b"INSERT")
        cache.set("k", b"v")  # idempotent: sent again on a fresh connection
        assert proxy.dropped_by_command == {b"INSERT": 1}
        assert proxy.by_command[b"INSERT"] == 3

        proxy.drop_next(b"DELETE")  # take: DELETE … RETURNING, never sent twice
        with pytest.raises(CacheUnavailableError, match="take failed"):
            cache.take("k")
        assert cache.get("k") is None  # it ran: the value is gone with its reply

        cache.set("c", b"old")
        proxy.drop_next(b"UPDATE")  # compare-and-set: never sent twice either
        with pytest.raises(CacheUnavailableError):
            cache.compare_and_set("c", b"old", b"new")
        assert cache.get("c") == b"new"  # it ran and committed
    assert proxy.dropped == 3


def test_a_reset_request_never_reaches_the_server(
    proxy: FaultProxy, pg_url: str, pg_table: str
) -> None:
    with PostgresCache(proxy.route(pg_url), table=pg_table) as cache:
        cache.set("k", b"v")
        proxy.reset_nth(proxy.commands + 1)
        with pytest.raises(CacheUnavailableError, match="take failed"):
            cache.take("k")
        assert cache.get("k") == b"v"  # never ran
        assert proxy.resets == 1


def test_startup_is_not_dropped_at_random_and_a_raw_connection_sees_ssl_refused(
    proxy: FaultProxy, pg_url: str
) -> None:
    proxy.drop_rate = 1.0  # every statement's reply is lost; connecting still works
    with psycopg.connect(proxy.route(pg_url), connect_timeout=3) as conn:
        assert conn.pgconn.ssl_in_use is False  # the proxy answered the SSLRequest with N
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    assert proxy.dropped_by_command == {b"SELECT": 1}
    assert proxy.by_command[b"STARTUP"] == 1


# --- building a runtime ---------------------------------------------------------------------


def test_a_runtime_is_built_while_postgres_does_not_answer(
    proxy: FaultProxy, pg_url: str, pg_table: str, tmp_path: Path
) -> None:
    cache = PostgresCache(proxy.route(pg_url), table=pg_table, pool_timeout=1)
    cache.set("created", b"")  # the table exists; the next statements' replies are lost
    proxy.drop_rate = 1.0
    effects = worker.SideEffects(str(tmp_path / "effects.log"))
    try:
        rt = worker.runtime(cache, effects, LEASE)  # a build does no I/O
        outcome = rt.run({"n": 0})
        assert isinstance(outcome, Error) and outcome.kind == "cache_unavailable", outcome
    finally:
        cache.close()


# --- pause = one round trip, resume = three --------------------------------------------------


def test_a_pause_is_one_round_trip_and_a_resume_three(
    proxy: FaultProxy, pg_url: str, pg_table: str, tmp_path: Path
) -> None:
    # sweep_interval: a write sweeps expired rows once a minute (one more round trip then)
    cache = PostgresCache(proxy.route(pg_url), table=pg_table, sweep_interval=3600)
    rt = worker.runtime(cache, worker.SideEffects(str(tmp_path / "effects.log")), 30)
    # connects, creates the table; psycopg prepares each statement on its 5th run on a
    # connection of the pool (one more round trip, once per statement and connection)
    for n in range(15):
        warm = rt.run({"n": n})
        assert isinstance(warm, Paused)
        assert isinstance(rt.resume(warm.token, worker.GOOD), Ok)
    pauses, resumes = [], []
    for n in range(20):
        before = proxy.commands
        paused = rt.run({"n": n})
        assert isinstance(paused, Paused)
        pauses.append(proxy.commands - before)
        before = proxy.commands
        assert isinstance(rt.resume(paused.token, worker.GOOD), Ok)
        resumes.append(proxy.commands - before)

    async def async_trips() -> tuple[int, int]:
        before = proxy.commands
        paused = await rt.arun({"n": 1})
        middle = proxy.commands
        assert isinstance(paused, Paused)
        assert isinstance(await rt.aresume(paused.token, worker.GOOD), Ok)
        return middle - before, proxy.commands - middle

    apause, aresume = asyncio.run(async_trips())
    by_command = dict(proxy.by_command)
    cache.close()
    print(
        f"\n[postgres round trips] pause {set(pauses)}, resume {set(resumes)} (sync); "
        f"pause {apause}, resume {aresume} (async); requests seen {by_command} on "
        f"{proxy.connections} connections"
    )
    assert set(pauses) == {1} and apause == 1  # INSERT
    assert set(resumes) == {3} and aresume == 3  # SELECT, UPDATE (claim), UPDATE (commit)


# --- 500 sessions paused and resumed by 3 processes, 10 % of replies dropped ---------------


@pytest.mark.slow
def test_lost_replies_never_complete_a_session_twice_nor_lose_one(
    proxy: FaultProxy, pg_url: str, pg_table: str, tmp_path: Path
) -> None:
    started = time.perf_counter()
    direct = PostgresCache(pg_url, table=pg_table)
    direct.set("created", b"")  # the table exists before the workers start
    proxy.drop_rate, proxy.reset_rate = 0.10, 0.01
    url = f"{proxy.route(pg_url)}?table={pg_table}"
    logs = [tmp_path / f"effects{i}.log" for i in range(WORKERS)]
    share = SESSIONS // WORKERS + 1

    # 1. each process pauses its share of the sessions through the proxy
    base = {"cache_url": url, "lease_ttl": LEASE}
    pausers = []
    for i in range(WORKERS):
        spec = {**base, "effects": str(logs[i]), "first": i * share}
        spec["count"] = min(share, SESSIONS - i * share)
        pausers.append(start_worker("pause", spec, tmp_path / f"pause{i}.json"))
    paused_reports = [finish(p) for p in pausers]
    pause_kinds: Counter[str] = Counter()
    anomalies: list[str] = []
    told: list[dict[str, Any]] = []  # every token a pause returned: a promise it can resume
    for report in paused_reports:
        pause_kinds.update(report["kinds"])
        anomalies += report["anomalies"]
        told += report["tokens"]
    tokens = [item["token"] for item in told]
    assert sorted(item["n"] for item in told) == list(range(SESSIONS))

    # 2. each process resumes another's share (a quarter first with input the schema refuses,
    # a quarter first with input that makes the step raise), then strays into a third's
    chunks = [report["tokens"] for report in paused_reports]
    resumers = []
    for i in range(WORKERS):
        spec = {**base, "effects": str(logs[i]), "tokens": chunks[(i + 1) % WORKERS]}
        spec["strays"] = [item["token"] for item in chunks[(i + 2) % WORKERS]]
        resumers.append(start_worker("resume", spec, tmp_path / f"resume{i}.json"))
    reports = [finish(p) for p in resumers]
    commands, dropped, resets = proxy.commands, dict(proxy.dropped_by_command), proxy.resets
    statements = sum(proxy.by_command[name] for name in proxy.droppable)  # not STARTUP, checks
    proxy.drop_rate = proxy.reset_rate = 0.0
    faulty = time.perf_counter() - started

    fresh: Counter[str] = Counter()
    replayed: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    strays: Counter[str] = Counter()
    owner_request: dict[str, str] = {}
    for report in reports:
        anomalies += report["anomalies"]
        kinds.update(report["kinds"])
        strays.update(report["strays"])
        for token, entry in report["tokens"].items():
            fresh[token] += entry["fresh"]
            replayed[token] += entry["replayed"]
            owner_request[token] = entry["request_id"]
        for token in report.get("stray_fresh", []):
            fresh[token] += 1
    worker_retries = sum(r["retries"] for r in reports)
    build_failures = sum(r["build_failures"] for r in paused_reports + reports)

    # 3. PostgreSQL itself: every token completed (by its owner's request or a stray), or still
    # resumable; then, without faults and after any lease left by a lost release ran out, the
    # resumable ones are resumed once each
    store = SessionStore(direct, secret_key=worker.SECRET)
    stored = {t: store.record(t) for t in tokens}
    status = Counter(r.status if r else "absent" for r in stored.values())
    orphans = set(store.tokens()) - set(tokens)  # stored by a pause whose reply was lost
    leftovers = [t for t, r in stored.items() if r is not None and r.status != "completed"]
    time.sleep(LEASE + 0.1)
    rt = worker.runtime(direct, worker.SideEffects(str(tmp_path / "late.log")), LEASE)
    finished_late = 0
    for token in leftovers:
        outcome = rt.resume(token, worker.GOOD)
        assert isinstance(outcome, Ok), outcome
        fresh[token] += 1
        finished_late += 1
    again = Counter(getattr(rt.resume(t, worker.GOOD), "kind", "ok") for t in tokens)
    final = {t: store.record(t) for t in tokens}
    runs = effect_runs([*logs, tmp_path / "late.log"])
    keys_of: dict[int, set[str]] = {}
    runs_of: Counter[int] = Counter()
    for n, key, _pid in runs:
        keys_of.setdefault(n, set()).add(key)
        runs_of[n] += 1
    direct.close()

    completed_twice = [t for t in tokens if fresh[t] > 1]
    lost = [t for t, r in final.items() if r is None or r.status != "completed"]
    # completed by a request that was neither its owner's nor a stray's (which sends none)
    not_ours = [t for t, r in final.items() if r and r.request_id not in (owner_request[t], None)]
    reply_lost_but_completed = sum(1 for t in tokens if fresh[t] == 0)
    reruns = sum(1 for count in runs_of.values() if count > 1)
    print(
        f"\n[postgres lost replies] {SESSIONS} sessions, {WORKERS} processes pausing then "
        f"resuming: {commands} requests through the proxy ({statements} statements, the rest "
        f"connection startups and the pool's checks), {sum(dropped.values())} replies "
        f"dropped after the server committed {dropped}, {resets} requests reset before "
        f"reaching it; pauses {dict(pause_kinds)} ({len(orphans)} sessions stored by a pause "
        f"that answered cache_unavailable: never told, left to expire); "
        f"runtime builds that failed (index_prefix's statement lost, built again): "
        f"{build_failures}; {worker_retries} resume retries; "
        f"outcomes {dict(sorted(kinds.items()))}; "
        f"stray resumes {dict(strays)}; stored before the final pass {dict(status)}; "
        f"completions: {sum(fresh.values())} fresh Ok + {sum(replayed.values())} replays "
        f"({reply_lost_but_completed} completed with their reply lost, then replayed or "
        f"reported already resumed); {finished_late} still resumable, then resumed once; "
        f"a last resume of every token: {dict(again)}; step re-runs after a lost "
        f"claim/commit: {reruns} (same idempotency key); "
        f"completed twice: {len(completed_twice)}; lost: {len(lost)}; "
        f"{faulty:.1f} s under faults"
    )
    assert anomalies == []
    assert completed_twice == []
    assert lost == []
    assert not_ours == []
    assert again == {"session_already_resumed": SESSIONS}
    assert all(len(keys) == 1 for keys in keys_of.values())  # one idempotency key per session
    assert set(keys_of) == set(range(SESSIONS))  # every session's step ran
    assert sum(dropped.values()) > 0.07 * statements  # 10 % of them, drawn at random
