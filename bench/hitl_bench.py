"""The human-in-the-loop round trip: pause µs and resume µs for a one-gate workflow.

llm-core: a workflow whose one step pauses (``ctx.pause``) and, on ``resume``, records the
decision.  LangGraph: a real ``StateGraph`` whose one node calls ``interrupt()`` and is resumed
with ``Command(resume=...)``, one ``thread_id`` per run.  Both store the paused run in memory
(``MemoryCache`` / ``InMemorySaver``) and, in the ``-sql`` groups, in a SQLite file
(``SQLiteCache`` / ``SqliteSaver``, both in WAL mode).  Every contender pauses N runs, then
resumes the N tokens / threads; the best of several rounds counts.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

from bench.harness import Row, print_table
from llm_core import Ok, Paused, SQLiteCache, StepContext, Workflow, recipes
from llm_core.workflow import AdapterBundle, Plugin, Runtime

ROUNDS = 5
OURS_N = 3_000
LANGGRAPH_N = 150
DECISION = {"decision": "approve"}
BASELINE = "llm_core"
LANGGRAPH = "langgraph interrupt()"


def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
    """The llm-core gate: pause for a human, then record the decision."""
    if not ctx.resumed:
        return ctx.pause(kind="human", payload={"draft": state["input"]})
    return {**state, "decision": ctx.resume_input["decision"]}


def one_gate(cache: Any = None, **options: Any) -> Runtime:
    workflow = Workflow("one-gate", [gate])
    if cache is not None:
        workflow = workflow.use(
            Plugin(key="adapter.cache", mode="override", adapters=AdapterBundle(cache=cache))
        )
    return workflow.build(**options)


SIGNED = {"secret_key": "bench-secret-key-0123456789abcdef"}


class GateState(TypedDict, total=False):
    input: str
    decision: str


def langgraph_app(checkpointer: Any) -> Any:
    """The LangGraph gate: one node calling ``interrupt()``."""
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    def gate_node(state: GateState) -> GateState:
        answer = interrupt({"draft": state["input"]})
        return {"decision": answer["decision"]}

    graph = StateGraph(GateState)
    graph.add_node("gate", gate_node)
    graph.add_edge(START, "gate")
    graph.add_edge("gate", END)
    return graph.compile(checkpointer=checkpointer)


def measure_pair(
    pause: Callable[[int], object],
    resume: Callable[[object], object],
    n: int,
    rounds: int = ROUNDS,
) -> tuple[float, float]:
    """Best ns per pause and per resume over ``rounds`` rounds of ``n`` runs each."""
    best_pause = best_resume = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            start = time.perf_counter_ns()
            handles = [pause(i) for i in range(n)]
            middle = time.perf_counter_ns()
            for handle in handles:
                resume(handle)
            end = time.perf_counter_ns()
            best_pause = min(best_pause, (middle - start) / n)
            best_resume = min(best_resume, (end - middle) / n)
            gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    return best_pause, best_resume


def ours(runtime: Runtime, n: int) -> tuple[float, float]:
    run, resume = runtime.run, runtime.resume

    def pause(i: int) -> object:
        outcome = run("Ship the release notes")
        assert isinstance(outcome, Paused)
        return outcome.token

    def finish(token: object) -> object:
        outcome = resume(token, DECISION)  # type: ignore[arg-type]
        assert isinstance(outcome, Ok)
        return outcome

    return measure_pair(pause, finish, n)


def ours_async(runtime: Runtime, n: int) -> tuple[float, float]:
    """The async face, timed inside one running loop."""

    async def rounds() -> tuple[float, float]:
        best_pause = best_resume = float("inf")
        for _ in range(ROUNDS):
            start = time.perf_counter_ns()
            tokens = []
            for _i in range(n):
                outcome = await runtime.arun("Ship the release notes")
                assert isinstance(outcome, Paused)
                tokens.append(outcome.token)
            middle = time.perf_counter_ns()
            for token in tokens:
                assert isinstance(await runtime.aresume(token, DECISION), Ok)
            end = time.perf_counter_ns()
            best_pause = min(best_pause, (middle - start) / n)
            best_resume = min(best_resume, (end - middle) / n)
        return best_pause, best_resume

    return asyncio.run(rounds())


def theirs(app: Any, n: int, tag: str) -> tuple[float, float]:
    from langgraph.types import Command

    resume_with = Command(resume=DECISION)
    counter = iter(range(10**9))

    def pause(i: int) -> object:
        config = {"configurable": {"thread_id": f"{tag}-{next(counter)}"}}
        result = app.invoke({"input": "Ship the release notes"}, config)
        assert "__interrupt__" in result
        return config

    def finish(config: object) -> object:
        result = app.invoke(resume_with, config)
        assert result["decision"] == "approve"
        return result

    return measure_pair(pause, finish, n)


def measure() -> list[Row]:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.sqlite import SqliteSaver

    rows: list[Row] = []
    ours(one_gate(), OURS_N // 10)  # warm-up, not counted
    results: list[tuple[str, str, tuple[float, float]]] = [
        ("", BASELINE, ours(one_gate(), OURS_N)),
        ("", "llm_core, async face", ours_async(one_gate(), OURS_N)),
        ("", "llm_core, signed records", ours(one_gate(**SIGNED), OURS_N)),
        ("", "llm_core, hitl-gate recipe (3 steps)", ours(recipes.hitl_gate(), OURS_N)),
        ("", LANGGRAPH, theirs(langgraph_app(InMemorySaver()), LANGGRAPH_N, "mem")),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        cache = SQLiteCache(Path(tmp) / "llm-core.db")
        results.append(("-sql", BASELINE, ours(one_gate(cache), OURS_N // 3)))
        cache.close()
        cache = SQLiteCache(Path(tmp) / "llm-core-signed.db")
        results.append(
            ("-sql", "llm_core, signed records", ours(one_gate(cache, **SIGNED), OURS_N // 3))
        )
        cache.close()
        # SqliteSaver keeps SQLite's default synchronous=FULL; so does this row.
        cache = SQLiteCache(Path(tmp) / "llm-core-full.db", synchronous="FULL")
        results.append(("-sql", "llm_core, FULL sync", ours(one_gate(cache), OURS_N // 10)))
        cache.close()
        conn = sqlite3.connect(Path(tmp) / "langgraph.db", check_same_thread=False)
        app = langgraph_app(SqliteSaver(conn))
        results.append(("-sql", LANGGRAPH, theirs(app, LANGGRAPH_N // 3, "sql")))
        conn.close()
    for suffix, name, (pause_ns, _) in results:
        rows.append(Row("pause" + suffix, name, pause_ns))
    for suffix, name, (_, resume_ns) in results:
        rows.append(Row("resume" + suffix, name, resume_ns))
    order = ["pause", "resume", "pause-sql", "resume-sql"]
    return sorted(rows, key=lambda r: order.index(r.group))


def main() -> None:
    print_table(
        "HITL round trip: one gate, pause then resume (memory: MemoryCache vs InMemorySaver; "
        "-sql: SQLiteCache vs SqliteSaver)",
        measure(),
        BASELINE,
    )


if __name__ == "__main__":
    main()
