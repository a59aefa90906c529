"""In-process cache get/set: MemoryCache (pure Python) beside a raw dict (the limit),
cachetools.TTLCache and LangGraph's InMemoryCache, in one run.  Every contender stores the same
bytes with a 1 h TTL; MemoryCache runs with ``max_entries`` (LRU) on, as TTLCache has ``maxsize``.

Each contender gets its own tight loop calling a pre-bound method with its natural arguments,
so no harness overhead (lambdas, ``*args``) dilutes the ratios.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from bench.harness import Row, per_op, print_table
from llm_core.cache import MemoryCache

ENTRIES = 10_000
OPS = 200_000
TTL = 3600
VALUE = b"v" * 64
NS = ("bench",)


def _workload() -> tuple[list[str], list[str]]:
    keys = [f"session:{i:08d}" for i in range(ENTRIES)]
    rng = random.Random(7)
    return keys, [rng.choice(keys) for _ in range(OPS)]


def _sets(name: str, set_: Callable[..., object], keys: list[str]) -> Row:
    def body() -> int:
        for key in keys:
            set_(key, VALUE, TTL)
        return len(keys)

    return Row("set", name, per_op(body))


def _gets(name: str, get: Callable[[str], object], keys: list[str]) -> Row:
    def body() -> int:
        for key in keys:
            get(key)
        return len(keys)

    return Row("get", name, per_op(body))


def measure() -> list[Row]:
    from cachetools import TTLCache
    from langgraph.cache.memory import InMemoryCache

    keys, workload = _workload()
    slow_workload = workload[: OPS // 20]  # LangGraph: fewer ops, same per-op figure
    raw: dict[str, tuple[bytes, float]] = {}
    ours = MemoryCache(max_entries=ENTRIES * 2)
    ttlc: TTLCache[str, bytes] = TTLCache(maxsize=ENTRIES * 2, ttl=TTL)
    lg = InMemoryCache()

    def dict_set() -> int:
        set_, entry = raw.__setitem__, (VALUE, 0.0)
        for key in workload:
            set_(key, entry)
        return len(workload)

    def ttlcache_set() -> int:
        set_ = ttlc.__setitem__
        for key in workload:
            set_(key, VALUE)
        return len(workload)

    def langgraph_set() -> int:
        set_ = lg.set
        for key in slow_workload:
            set_({(NS, key): (VALUE, TTL)})
        return len(slow_workload)

    def langgraph_get() -> int:
        get = lg.get
        for key in slow_workload:
            get([(NS, key)])
        return len(slow_workload)

    rows = [
        Row("set", "dict (limit)", per_op(dict_set)),
        _sets("llm_core MemoryCache", ours.set, workload),
        Row("set", "cachetools TTLCache", per_op(ttlcache_set)),
        Row("set", "langgraph InMemoryCache", per_op(langgraph_set)),
    ]
    for key in keys:  # every get below is a hit
        raw[key] = (VALUE, 0.0)
        ours.set(key, VALUE, TTL)
        ttlc[key] = VALUE
        lg.set({(NS, key): (VALUE, TTL)})
    rows += [
        _gets("dict (limit)", raw.get, workload),
        _gets("llm_core MemoryCache", ours.get, workload),
        _gets("cachetools TTLCache", ttlc.get, workload),
        Row("get", "langgraph InMemoryCache", per_op(langgraph_get)),
    ]
    return rows


OURS = "llm_core MemoryCache"
PEERS = ("cachetools TTLCache", "langgraph InMemoryCache")


def verdict(rows: list[Row]) -> list[str]:
    """One line per operation: is MemoryCache faster than every peer (the issue's bar)?"""
    lines = []
    for group in ("get", "set"):
        cost = {r.name: r.ns_per_op for r in rows if r.group == group}
        slower = [p for p in PEERS if cost[OURS] >= cost[p]]
        if slower:
            lines.append(f"- {group}: MemoryCache is NOT faster than {', '.join(slower)}")
        else:
            best = min(cost[p] for p in PEERS)
            ratio = best / cost[OURS]
            lines.append(f"- {group}: MemoryCache faster than both peers ({ratio:.1f}x)")
    return lines


def main() -> None:
    rows = measure()
    print_table("In-process cache (10k entries, random keys, 1 h TTL)", rows, "dict (limit)")
    print("\n".join(verdict(rows)))


if __name__ == "__main__":
    main()
