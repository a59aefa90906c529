"""Durable cache get/set: SQLiteCache beside LangGraph's SqliteCache, RedisCache beside LangGraph's
RedisCache and raw redis-py on the same server, all in one run.

Every contender stores the same 256-byte value under the same keys with a 1 h TTL, one key per
call (LangGraph's caches take a batch; here a batch of one, as a runtime storing one session
does).  Baselines: LangGraph's SqliteCache for SQLite rows, raw redis-py ``GET``/``SET PX`` for
the sync Redis rows and raw ``redis.asyncio`` for the async ones.

SQLite durability differs by default: SQLiteCache uses ``synchronous=NORMAL`` (safe against a
crashed process, not a power cut); LangGraph's SqliteCache keeps SQLite's ``FULL`` (an fsync per
commit).  The "FULL sync" rows (``synchronous="FULL"``) compare like with like.

Redis: ``LLM_CORE_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``); keys go under a fresh
prefix, deleted afterwards.  Without a server the Redis tables are skipped with a note.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bench.harness import Row, loop1, print_table
from llm_core import RedisCache, SQLiteCache

ENTRIES = 2_000
TTL = 3600
VALUE = b"v" * 256
REDIS_URL = os.environ.get("LLM_CORE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
NS = ("bench",)


def _workload(ops: int, seed: int = 7) -> tuple[list[str], list[str]]:
    keys = [f"session:{i:08d}" for i in range(ENTRIES)]
    rng = random.Random(seed)
    return keys, [rng.choice(keys) for _ in range(ops)]


def interleaved(group: str, contenders: dict[str, Callable[[], int]], rounds: int = 7) -> list[Row]:
    """Median ns/op per contender over ``rounds``, the rounds taken in turn (A B C A B C ...) so
    that a noisy neighbour slows every contender alike instead of whichever ran during the noise.
    The median, not the best: a round trip to a server has outliers both ways."""
    seen: dict[str, list[float]] = {name: [] for name in contenders}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, run in contenders.items():
                start = time.perf_counter_ns()
                ops = run()
                seen[name].append((time.perf_counter_ns() - start) / ops)
    finally:
        if gc_was_enabled:
            gc.enable()
    return [Row(group, name, statistics.median(times)) for name, times in seen.items()]


# --- SQLite ------------------------------------------------------------------------------


def measure_sqlite(directory: Path) -> list[Row]:
    from langgraph.cache.sqlite import SqliteCache

    keys, fast = _workload(3_000)
    slow = fast[:300]  # an fsync per write: fewer ops, same per-op figure
    ours = SQLiteCache(directory / "ours.db")
    full = SQLiteCache(directory / "ours-full.db", synchronous="FULL")
    lg = SqliteCache(path=str(directory / "langgraph.db"))
    ours_set, full_set, lg_set, lg_get = ours.set, full.set, lg.set, lg.get
    rows = interleaved(
        "set",
        {
            "llm_core SQLiteCache": loop1(lambda k: ours_set(k, VALUE, TTL), fast),
            "llm_core SQLiteCache, FULL sync": loop1(lambda k: full_set(k, VALUE, TTL), slow),
            "langgraph SqliteCache": loop1(lambda k: lg_set({(NS, k): (VALUE, TTL)}), slow),
        },
    )
    for k in keys:  # every key present for the reads
        ours.set(k, VALUE, TTL)
        full.set(k, VALUE, TTL)
    lg.set({(NS, k): (VALUE, TTL) for k in keys})
    rows += interleaved(
        "get",
        {
            "llm_core SQLiteCache": loop1(ours.get, fast),
            "llm_core SQLiteCache, FULL sync": loop1(full.get, fast),
            "langgraph SqliteCache": loop1(lambda k: lg_get([(NS, k)]), fast),
        },
    )
    ours.close()
    full.close()
    return rows


# --- Redis -------------------------------------------------------------------------------


def _redis_up() -> bool:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except (redis.exceptions.RedisError, OSError):
        return False
    finally:
        client.close()


def measure_redis_sync(prefix: str) -> list[Row]:
    import redis
    from langgraph.cache.redis import RedisCache as LangGraphRedisCache

    keys, work = _workload(2_000)
    raw = redis.Redis.from_url(REDIS_URL)
    ours = RedisCache.from_url(REDIS_URL, prefix=prefix + "ours:")
    lg = LangGraphRedisCache(redis.Redis.from_url(REDIS_URL), prefix=prefix + "langgraph:")
    raw_prefix = prefix + "raw:"
    raw_set, raw_get = raw.set, raw.get
    ours_set, lg_set, lg_get = ours.set, lg.set, lg.get
    rows = interleaved(
        "set",
        {
            "redis-py (raw)": loop1(lambda k: raw_set(raw_prefix + k, VALUE, px=TTL * 1000), work),
            "llm_core RedisCache": loop1(lambda k: ours_set(k, VALUE, TTL), work),
            "langgraph RedisCache": loop1(lambda k: lg_set({(NS, k): (VALUE, TTL)}), work),
        },
    )
    for k in keys:
        raw.set(raw_prefix + k, VALUE, px=TTL * 1000)
        ours.set(k, VALUE, TTL)
    lg.set({(NS, k): (VALUE, TTL) for k in keys})
    rows += interleaved(
        "get",
        {
            "redis-py (raw)": loop1(lambda k: raw_get(raw_prefix + k), work),
            "llm_core RedisCache": loop1(ours.get, work),
            "langgraph RedisCache": loop1(lambda k: lg_get([(NS, k)]), work),
        },
    )
    raw.close()
    ours.close()
    return rows


def _aloop(
    runner: asyncio.Runner, fn: Callable[[str], Awaitable[object]], keys: Sequence[str]
) -> Callable[[], int]:
    async def body() -> int:
        for key in keys:
            await fn(key)
        return len(keys)

    return lambda: runner.run(body())


def measure_redis_async(prefix: str) -> list[Row]:
    import redis.asyncio

    keys, work = _workload(1_500, seed=11)
    with asyncio.Runner() as runner:
        raw = redis.asyncio.Redis.from_url(REDIS_URL)
        ours = RedisCache.from_url(REDIS_URL, prefix=prefix + "ours:")
        raw_prefix = prefix + "raw:"
        raw_set, raw_get, ours_aset = raw.set, raw.get, ours.aset

        def raw_put(k: str) -> Awaitable[object]:
            return raw_set(raw_prefix + k, VALUE, px=TTL * 1000)

        rows = interleaved(
            "aset",
            {
                "redis.asyncio (raw)": _aloop(runner, raw_put, work),
                "llm_core RedisCache": _aloop(runner, lambda k: ours_aset(k, VALUE, TTL), work),
            },
        )
        for k in keys:
            runner.run(raw_put(k))
            runner.run(ours.aset(k, VALUE, TTL))
        rows += interleaved(
            "aget",
            {
                "redis.asyncio (raw)": _aloop(runner, lambda k: raw_get(raw_prefix + k), work),
                "llm_core RedisCache": _aloop(runner, ours.aget, work),
            },
        )
        runner.run(raw.aclose())
        runner.run(ours.aclose())
    return rows


def _delete_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        names = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(names), 1000):
            client.unlink(*names[start : start + 1000])
    finally:
        client.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="llm-core-bench-") as directory:
        print_table(
            "SQLite cache (2k entries, 256 B values, 1 h TTL)",
            measure_sqlite(Path(directory)),
            "langgraph SqliteCache",
        )
    if not _redis_up():
        print(f"\n(Redis tables skipped: no server at {REDIS_URL})")
        return
    prefix = f"llm-core-bench-{uuid.uuid4().hex}:"  # hex only: no glob characters to escape
    try:
        print_table(
            "Redis cache, sync (2k entries, 256 B values, 1 h TTL, same server)",
            measure_redis_sync(prefix),
            "redis-py (raw)",
        )
        print_table(
            "Redis cache, async (redis.asyncio, same server)",
            measure_redis_async(prefix),
            "redis.asyncio (raw)",
        )
    finally:
        _delete_prefix(prefix)


if __name__ == "__main__":
    main()
