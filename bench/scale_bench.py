"""Throughput with many worker processes, and the HITL round trip against LangGraph's PostgresSaver.

Scale table: for SQLite (one file), PostgreSQL (one table) and Redis (one prefix), 1, 2 and 4 worker
processes share one store.  Each worker builds the one-gate workflow of ``bench.hitl_bench`` on its
own cache object, warms up, and pauses its share of ``SCALE_RUNS`` runs (all workers start together
at a barrier); the tokens are then handed round (worker *i* resumes the tokens worker *i+1* paused,
so every token is resumed exactly once, by another process when there are several) and all workers
resume together.  Aggregate ops/s = runs / the slowest worker's time.

Side by side: the same pause → resume round trip in one process on the same PostgreSQL, llm-core's
``PostgresCache`` beside LangGraph's ``PostgresSaver`` (a ``StateGraph`` whose node calls
``interrupt()``), one run each.  ``langgraph-checkpoint-postgres`` is not an llm-core extra; the
row is skipped when it is not installed.

Every table, schema, prefix and file made here is removed afterwards.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.harness import Row, print_table

PG_URL = os.environ.get("LLM_CORE_BENCH_POSTGRES", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LLM_CORE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
WORKERS = (1, 2, 4)
SCALE_RUNS = 2_000
"""Runs per worker count (split evenly between the workers)."""
WARMUP = 20
OURS_PG_N = 1_000
LANGGRAPH_PG_N = 200
TEXT = "Ship the release notes"


def _open_cache(backend: str, where: str) -> Any:
    from llm_core import SQLiteCache
    from llm_core.cache import RedisCache, cache_from_url

    if backend == "SQLite":
        return SQLiteCache(where)
    if backend == "Postgres":
        return cache_from_url(where)
    return RedisCache.from_url(REDIS_URL, prefix=where)


def _worker(backend: str, where: str, n: int, barrier: Any, conn: Any) -> None:
    """One worker process: pause ``n`` runs, send the tokens, resume the tokens it is sent."""
    from bench.hitl_bench import DECISION, one_gate
    from llm_core import Ok, Paused

    cache = _open_cache(backend, where)
    try:
        runtime = one_gate(cache)
        run, resume = runtime.run, runtime.resume
        for _ in range(WARMUP):
            paused = run(TEXT)
            assert isinstance(paused, Paused)
            assert isinstance(resume(paused.token, DECISION), Ok)
        barrier.wait()
        start = time.perf_counter()
        tokens = []
        for _ in range(n):
            outcome = run(TEXT)
            assert isinstance(outcome, Paused), outcome
            tokens.append(outcome.token)
        conn.send((time.perf_counter() - start, tokens))
        mine = conn.recv()
        barrier.wait()
        start = time.perf_counter()
        for token in mine:
            outcome = resume(token, DECISION)
            assert isinstance(outcome, Ok), outcome
        conn.send((time.perf_counter() - start, len(mine)))
    except BaseException as exc:  # the parent must not wait forever on a broken worker
        barrier.abort()
        conn.send(exc)
        raise
    finally:
        close = getattr(cache, "close", None)
        if close is not None:
            close()


def _receive(conn: Any) -> Any:
    message = conn.recv()
    if isinstance(message, BaseException):
        raise RuntimeError(f"a bench worker failed: {message!r}") from message
    return message


def run_workers(backend: str, where: str, workers: int, runs: int) -> tuple[float, float]:
    """Aggregate (pauses/s, resumes/s) of ``workers`` processes sharing one store."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    share = runs // workers
    pipes = [ctx.Pipe() for _ in range(workers)]
    procs = [
        ctx.Process(target=_worker, args=(backend, where, share, barrier, child), daemon=True)
        for _, child in pipes
    ]
    for proc in procs:
        proc.start()
    try:
        paused = [_receive(parent) for parent, _ in pipes]
        for i, (parent, _) in enumerate(pipes):
            parent.send(paused[(i + 1) % workers][1])  # resume another worker's tokens
        resumed = [_receive(parent) for parent, _ in pipes]
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    total = share * workers
    assert sum(count for _, count in resumed) == total
    return total / max(t for t, _ in paused), total / max(t for t, _ in resumed)


# --- stores made for the bench, and removed after -------------------------------------------


def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(PG_URL, autocommit=True)


@contextmanager
def sqlite_store() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "scale.db")
        _open_cache("SQLite", path).close()  # WAL mode and schema before the workers race
        yield path


@contextmanager
def postgres_store() -> Iterator[str]:
    from psycopg import sql

    table = f"llm_core_bench_{uuid.uuid4().hex[:12]}"
    url = f"{PG_URL}?table={table}"
    try:
        cache = _open_cache("Postgres", url)
        cache.get("schema-first")  # the table exists before the workers race to create it
        cache.close()
        yield url
    finally:
        with _pg_admin() as conn:
            for name in (table, f"{table}_indexed"):  # the cache's table and its index registry
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


@contextmanager
def redis_store() -> Iterator[str]:
    prefix = f"llm-core-bench-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        cache = _open_cache("Redis", prefix)
        cache.clear()
        cache.close()


STORES: dict[str, Callable[[], Any]] = {
    "SQLite": sqlite_store,
    "Postgres": postgres_store,
    "Redis": redis_store,
}


def scale_table() -> list[tuple[str, int, int, float, float]]:
    results = []
    for backend, store in STORES.items():
        for workers in WORKERS:
            with store() as where:
                pauses, resumes = run_workers(backend, where, workers, SCALE_RUNS)
            results.append((backend, workers, SCALE_RUNS // workers * workers, pauses, resumes))
    return results


def print_scale(results: list[tuple[str, int, int, float, float]]) -> None:
    cells = [("backend", "workers", "runs", "pauses/s", "resumes/s")]
    for backend, workers, runs, pauses, resumes in results:
        cells.append((backend, str(workers), str(runs), f"{pauses:,.0f}", f"{resumes:,.0f}"))
    widths = [max(len(line[i]) for line in cells) for i in range(5)]
    print(
        f"\n## Throughput: one-gate pause / resume, aggregate over worker processes "
        f"({os.cpu_count()} CPUs on this machine; other work on it skews the figures)\n"
    )
    for n, line in enumerate(cells):
        print("| " + " | ".join(f"{c:<{w}}" for c, w in zip(line, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


# --- side by side with LangGraph's PostgresSaver ----------------------------------------------


def _round_trip(pause: Callable[[int], object], resume: Callable[[object], object], n: int) -> Any:
    for i in range(WARMUP):
        resume(pause(-1 - i))
    start = time.perf_counter_ns()
    handles = [pause(i) for i in range(n)]
    middle = time.perf_counter_ns()
    for handle in handles:
        resume(handle)
    end = time.perf_counter_ns()
    return (middle - start) / n, (end - middle) / n


def ours_postgres() -> tuple[float, float]:
    from bench.hitl_bench import DECISION, one_gate
    from llm_core import Ok, Paused

    with postgres_store() as url:
        cache = _open_cache("Postgres", url)
        runtime = one_gate(cache)

        def pause(_i: int) -> object:
            outcome = runtime.run(TEXT)
            assert isinstance(outcome, Paused)
            return outcome.token

        def finish(token: object) -> None:
            assert isinstance(runtime.resume(token, DECISION), Ok)  # type: ignore[arg-type]

        try:
            return _round_trip(pause, finish, OURS_PG_N)
        finally:
            cache.close()


def langgraph_postgres() -> tuple[float, float]:
    """LangGraph with ``PostgresSaver`` in a schema of its own (its tables have fixed names)."""
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.types import Command
    from psycopg import sql

    from bench.hitl_bench import DECISION, langgraph_app

    schema = f"llm_core_bench_lg_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        with PostgresSaver.from_conn_string(url) as saver:
            saver.setup()
            app = langgraph_app(saver)
            resume_with = Command(resume=DECISION)
            tag = uuid.uuid4().hex[:8]

            def pause(i: int) -> object:
                config = {"configurable": {"thread_id": f"{tag}-{i}"}}
                assert "__interrupt__" in app.invoke({"input": TEXT}, config)
                return config

            def finish(config: object) -> None:
                assert app.invoke(resume_with, config)["decision"] == "approve"

            return _round_trip(pause, finish, LANGGRAPH_PG_N)
    finally:
        with _pg_admin() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def side_by_side() -> None:
    title = "HITL round trip on PostgreSQL: PostgresCache vs LangGraph PostgresSaver (one run)"
    try:
        import langgraph.checkpoint.postgres  # noqa: F401
    except ImportError:
        print(f"\n## {title}\n\nskipped: langgraph-checkpoint-postgres not installed")
        return
    baseline = "llm_core PostgresCache"
    theirs_name = "langgraph interrupt() + PostgresSaver"
    ours_pause, ours_resume = ours_postgres()
    lg_pause, lg_resume = langgraph_postgres()
    rows = [
        Row("pause", baseline, ours_pause),
        Row("pause", theirs_name, lg_pause),
        Row("resume", baseline, ours_resume),
        Row("resume", theirs_name, lg_resume),
        Row("pause+resume", baseline, ours_pause + ours_resume),
        Row("pause+resume", theirs_name, lg_pause + lg_resume),
    ]
    print_table(
        f"{title}; {OURS_PG_N} vs {LANGGRAPH_PG_N} runs, {os.cpu_count()} CPUs, shared machine",
        rows,
        baseline,
    )


def main() -> None:
    print_scale(scale_table())
    side_by_side()


if __name__ == "__main__":
    main()
