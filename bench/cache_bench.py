"""In-process cache get/set: MemoryCache beside a raw dict (the limit), cachetools.TTLCache and
LangGraph's InMemoryCache.  Every contender stores the same bytes with a 1 h TTL."""

from __future__ import annotations

import random

from bench.harness import Row, loop1, per_op, print_table
from llm_core import MemoryCache

ENTRIES = 10_000
OPS = 200_000
TTL = 3600
VALUE = b"v" * 64


def _keys() -> tuple[list[str], list[str]]:
    keys = [f"session:{i:08d}" for i in range(ENTRIES)]
    rng = random.Random(7)
    return keys, [rng.choice(keys) for _ in range(OPS)]


def measure() -> list[Row]:
    from cachetools import TTLCache
    from langgraph.cache.memory import InMemoryCache

    keys, workload = _keys()
    rows: list[Row] = []

    # --- set ---
    raw: dict[str, tuple[bytes, float]] = {}
    raw_set = raw.__setitem__
    entry = (VALUE, 0.0)
    rows.append(Row("set", "dict (limit)", per_op(loop1(lambda k: raw_set(k, entry), workload))))
    ours = MemoryCache(max_entries=ENTRIES * 2)
    ours_set = ours.set
    rows.append(
        Row(
            "set",
            "llm_core MemoryCache",
            per_op(loop1(lambda k: ours_set(k, VALUE, TTL), workload)),
        )
    )
    ttlc: TTLCache[str, bytes] = TTLCache(maxsize=ENTRIES * 2, ttl=TTL)
    ttlc_set = ttlc.__setitem__
    rows.append(
        Row("set", "cachetools TTLCache", per_op(loop1(lambda k: ttlc_set(k, VALUE), workload)))
    )
    lg = InMemoryCache()
    ns = ("bench",)
    lg_set = lg.set
    lg_ops = workload[: OPS // 10]  # an order of magnitude slower: fewer ops, same per-op figure
    rows.append(
        Row(
            "set",
            "langgraph InMemoryCache",
            per_op(loop1(lambda k: lg_set({(ns, k): (VALUE, TTL)}), lg_ops)),
        )
    )

    # --- get (every key present) ---
    for k in keys:
        raw[k] = entry
        ours.set(k, VALUE, TTL)
        ttlc[k] = VALUE
        lg.set({(ns, k): (VALUE, TTL)})
    raw_get = raw.get
    rows.append(Row("get", "dict (limit)", per_op(loop1(raw_get, workload))))
    rows.append(Row("get", "llm_core MemoryCache", per_op(loop1(ours.get, workload))))
    rows.append(Row("get", "cachetools TTLCache", per_op(loop1(ttlc.get, workload))))
    lg_get = lg.get
    rows.append(
        Row("get", "langgraph InMemoryCache", per_op(loop1(lambda k: lg_get([(ns, k)]), lg_ops)))
    )
    return rows


def main() -> None:
    print_table("In-process cache (10k entries, random keys, 1 h TTL)", measure(), "dict (limit)")


if __name__ == "__main__":
    main()
