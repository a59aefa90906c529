"""The LangGraph checkpointer: ``put`` / ``get_tuple`` / ``list`` µs and the interrupt → resume
round trip, ``to_langgraph_checkpointer`` on memory, SQLite and Redis beside LangGraph's own
``InMemorySaver`` and ``SqliteSaver`` (WAL), one run.

``put``: a checkpoint with 3 channels (one new value each time) on a thread that already holds
``HISTORY`` checkpoints; ``get_tuple``: the latest checkpoint of that thread; ``get_tuple, new
saver``: the same through a saver made anew on the same store each round (what another process
sees: ours has no memo of the thread); ``list``: its newest ``LIST_LIMIT`` checkpoints.  Round
trip: a real ``StateGraph`` whose node calls ``interrupt()``, paused then resumed with
``Command(resume=...)``, one thread each (ours through ``resume_once``, theirs through
``graph.invoke``).  Best of several rounds.  Ours run with their defaults (``refresh_on_read``,
``ttl=3600``).

``SqliteSaver`` runs as LangGraph documents it plus WAL, so SQLite's default
``synchronous=FULL``: every commit waits for an fsync.  ``SQLiteCache`` defaults to
``synchronous=NORMAL`` (survives a process crash, not a power loss), so the row "SqliteSaver
NORMAL" gives SqliteSaver that same durability.
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypedDict

from bench.harness import Row, per_op, print_table

HISTORY = 10
LIST_LIMIT = 5
N = 300
GRAPH_N = 60
BASELINE = "SqliteSaver"


class GateState(TypedDict, total=False):
    draft: str
    decision: str


def gate_graph(checkpointer: Any) -> Any:
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    def gate(state: GateState) -> GateState:
        return {"decision": str(interrupt({"draft": state["draft"]}))}

    graph = StateGraph(GateState)
    graph.add_node("gate", gate)
    graph.add_edge(START, "gate")
    graph.add_edge("gate", END)
    return graph.compile(checkpointer=checkpointer)


class Contender(NamedTuple):
    name: str
    saver: Any
    ours: bool
    reopen: Callable[[], Any]  # another saver on the same store


@contextmanager
def contenders(tmp: Path) -> Iterator[list[Contender]]:
    """Every contender that can run here."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.sqlite import SqliteSaver

    from llm_core import MemoryCache, SQLiteCache
    from llm_core.bridges.checkpointer import to_langgraph_checkpointer

    def ours(name: str, cache: Any) -> Contender:
        return Contender(
            name,
            to_langgraph_checkpointer(cache, ttl=3600),
            True,
            lambda: to_langgraph_checkpointer(cache, ttl=3600),
        )

    conns = []
    for synchronous in ("FULL", "NORMAL"):
        conn = sqlite3.connect(tmp / f"lg-{synchronous}.db", check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conns.append(conn)
    memory_saver = InMemorySaver()
    found = [
        Contender("InMemorySaver", memory_saver, False, lambda: memory_saver),
        Contender(BASELINE, SqliteSaver(conns[0]), False, lambda: SqliteSaver(conns[0])),
        Contender(
            "SqliteSaver NORMAL", SqliteSaver(conns[1]), False, lambda: SqliteSaver(conns[1])
        ),
        ours("llm-core memory", MemoryCache()),
    ]
    sqlite_cache = SQLiteCache(tmp / "ours.db")
    found.append(ours("llm-core SQLite", sqlite_cache))
    redis_cache = None
    try:
        from llm_core.cache import RedisCache

        redis_cache = RedisCache.from_url(
            "redis://127.0.0.1:6379/0", prefix=f"bench-cp-{uuid.uuid4().hex[:8]}:"
        )
        redis_cache.get("ping")
        found.append(ours("llm-core Redis", redis_cache))
    except Exception as exc:  # no redis-py or no server: the row is left out, and said so
        print(f"(llm-core Redis left out: {type(exc).__name__}: {exc})")
        redis_cache = None
    try:
        yield found
    finally:
        sqlite_cache.close()
        for conn in conns:
            conn.close()
        if redis_cache is not None:
            for key in redis_cache.keys(""):
                redis_cache.delete(key)
            redis_cache.close()


def _checkpoint(step: int, parent: str | None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.base.id import uuid6

    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid6(clock_seq=step))
    checkpoint["channel_values"] = {"messages": [f"m{i}" for i in range(step % 7)], "step": step}
    checkpoint["channel_versions"] = {"messages": step + 1, "step": step + 1, "static": 1}
    metadata = {"source": "loop", "step": step, "parents": {}}
    return checkpoint, metadata, {"messages": step + 1, "step": step + 1}


def _thread(saver: Any, thread_id: str, n: int) -> Any:
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    for step in range(n):
        checkpoint, metadata, versions = _checkpoint(step, None)
        config = saver.put(config, checkpoint, metadata, versions)
    return config


def primitives(name: str, saver: Any, reopen: Callable[[], Any]) -> list[Row]:
    rows = []
    tag = uuid.uuid4().hex[:6]
    threads = [f"{tag}-{i}" for i in range(N)]
    heads = {t: _thread(saver, t, HISTORY) for t in threads}
    step = iter(range(HISTORY, 10**9))

    def put() -> int:
        for thread in threads:
            checkpoint, metadata, versions = _checkpoint(next(step), None)
            saver.put(heads[thread], checkpoint, metadata, versions)
        return len(threads)

    def get() -> int:
        for thread in threads:
            assert saver.get_tuple({"configurable": {"thread_id": thread}}) is not None
        return len(threads)

    others: list[Any] = []  # kept past the timing: what a saver holds is freed outside it

    def get_anew() -> int:
        other = reopen()
        others.append(other)
        for thread in threads:
            assert other.get_tuple({"configurable": {"thread_id": thread}}) is not None
        return len(threads)

    def listing() -> int:
        for thread in threads:
            found = list(saver.list({"configurable": {"thread_id": thread}}, limit=LIST_LIMIT))
            assert len(found) == LIST_LIMIT
        return len(threads)

    for group, run in (
        ("put", put),
        ("get_tuple", get),
        ("get_tuple, new saver", get_anew),
        (f"list (limit {LIST_LIMIT})", listing),
    ):
        rows.append(Row(group, name, per_op(run, rounds=3)))
    return rows


def round_trip(name: str, saver: Any, ours: bool) -> Row:
    from langgraph.types import Command

    from llm_core.bridges.checkpointer import resume_once

    graph = gate_graph(saver)
    resume: Callable[[Any], Any] = (
        (lambda config: resume_once(graph, config, "approve"))
        if ours
        else (lambda config: graph.invoke(Command(resume="approve"), config))
    )

    def run() -> int:
        tag = uuid.uuid4().hex[:8]
        for i in range(GRAPH_N):
            config = {"configurable": {"thread_id": f"{tag}-{i}"}}
            graph.invoke({"draft": "ship it?"}, config)
            assert resume(config)["decision"] == "approve"
        return GRAPH_N

    return Row("interrupt -> resume", name, per_op(run, rounds=3))


def main() -> None:
    try:
        import langgraph.checkpoint.sqlite  # noqa: F401
    except ImportError:
        print("\n## LangGraph checkpointer\n\n(skipped: needs the langgraph extra)")
        return
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, contenders(Path(tmp)) as savers:
        for found in savers:
            rows += primitives(found.name, found.saver, found.reopen)
        for found in savers:
            rows.append(round_trip(found.name, found.saver, found.ours))
    print_table(
        f"LangGraph checkpointer: µs per operation ({N} threads of {HISTORY} checkpoints; "
        f"round trip over {GRAPH_N} threads)",
        rows,
        BASELINE,
    )


if __name__ == "__main__":
    main()
