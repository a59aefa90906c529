"""Memory through a long churn: RSS of one process pausing and resuming 1M sessions.

A fresh child process builds the one-gate workflow of ``bench.hitl_bench`` on a SQLite file and
a MemoryCache, then pauses and resumes ``CHURN`` sessions (batches of 1,000: pause them all,
resume them all), reading its resident set size (``VmRSS``) every tenth of the way.  Flat means
nothing accumulates per session in the process: completed records live in the cache for
``result_ttl`` (1 s here, so the MemoryCache row holds about a second's worth), and nothing else.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from pathlib import Path
from typing import Any

CHURN = int(os.environ.get("LLM_CORE_BENCH_CHURN", "1000000"))
BATCH = 1_000


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _churn(backend: str, where: str, total: int, conn: Any) -> None:
    from bench.hitl_bench import DECISION, one_gate
    from llm_core import MemoryCache, Ok, Paused, SQLiteCache

    cache = SQLiteCache(where) if backend == "SQLite" else MemoryCache(max_entries=None)
    runtime = one_gate(cache, result_ttl=1.0)
    samples = [_rss_mib()]
    start = time.perf_counter()
    done = 0
    while done < total:
        tokens = []
        for _ in range(BATCH):
            outcome = runtime.run("Ship the release notes")
            assert isinstance(outcome, Paused)
            tokens.append(outcome.token)
        for token in tokens:
            assert isinstance(runtime.resume(token, DECISION), Ok)
        done += BATCH
        if done % max(BATCH, total // 10) == 0:
            samples.append(_rss_mib())
    conn.send((samples, time.perf_counter() - start))


def measure(backend: str, total: int) -> tuple[list[float], float]:
    with tempfile.TemporaryDirectory() as tmp:
        parent, child = multiprocessing.Pipe()
        where = str(Path(tmp) / "churn.db")
        process = multiprocessing.get_context("spawn").Process(
            target=_churn, args=(backend, where, total, child)
        )
        process.start()
        samples, seconds = parent.recv()
        process.join()
        return samples, seconds


def main() -> None:
    print(f"\n## RSS through a churn of {CHURN:,} pause + resume (MiB, every tenth)\n")
    print("| backend | seconds | start | " + " | ".join(f"{i}0%" for i in range(1, 11)) + " |")
    print("|---|--:|--:|" + "--:|" * 10)
    for backend in ("SQLite", "MemoryCache"):
        samples, seconds = measure(backend, CHURN)
        cells = " | ".join(f"{s:.1f}" for s in samples)
        print(f"| {backend} | {seconds:.0f} | {cells} |")


if __name__ == "__main__":
    main()
