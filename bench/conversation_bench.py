"""Pause/resume of a 50-message conversation state: llm-core beside LangGraph's interrupt/resume.

The state is one LangChain conversation of 50 messages, built deterministically: a system
message, then twelve turns of (human, AI with a tool call, tool result, AI answer), then a last
human message.  llm-core: a one-gate workflow (``ctx.pause`` / ``resume``) whose state holds
the messages, encoded by the allow-listed typed state (no pickle).  LangGraph: a real
``StateGraph`` with a ``messages`` channel (``add_messages``) holding the same 50 messages, whose
one node calls ``interrupt()`` and is resumed with ``Command(resume=...)``.  Both store the
paused run in memory (``MemoryCache`` / ``InMemorySaver``) and, in the ``-sql`` groups, in a
SQLite file (``SQLiteCache`` / ``SqliteSaver``).  Each contender pauses N runs, then resumes the
N tokens / threads; the best of several rounds counts.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Annotated, Any, TypedDict

from bench.harness import Row, print_table
from bench.hitl_bench import measure_pair
from llm_core import MemoryCache, Ok, Paused, SQLiteCache, StepContext, Workflow
from llm_core.workflow import AdapterBundle, Plugin, Runtime

ROUNDS = 3
OURS_N = 300
LANGGRAPH_N = 60
MESSAGES = 50
DECISION = {"decision": "approve"}
BASELINE = "llm_core"
LANGGRAPH = "langgraph interrupt()"


def conversation() -> list[Any]:
    """Fifty LangChain messages, the same every call (ids included)."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

    out: list[Any] = [SystemMessage("You are a support agent; refunds need approval.", id="m0")]
    turn = 0
    while len(out) < MESSAGES - 1:
        call_id = f"call-{turn}"
        out += [
            HumanMessage(f"Please look up order {1000 + turn} and refund it.", id=f"h{turn}"),
            AIMessage(
                "",
                id=f"a{turn}",
                tool_calls=[
                    {
                        "name": "lookup_order",
                        "args": {"order": 1000 + turn, "fields": ["total", "status"]},
                        "id": call_id,
                    }
                ],
            ),
            ToolMessage(
                f'{{"order": {1000 + turn}, "total": "{turn}.99", "status": "shipped"}}',
                tool_call_id=call_id,
                id=f"t{turn}",
            ),
            AIMessage(f"Order {1000 + turn} totals {turn}.99; refund drafted.", id=f"r{turn}"),
        ]
        turn += 1
    out.append(HumanMessage("Approve all of them.", id="last"))
    assert len(out) == MESSAGES
    return out


def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
    """The llm-core gate: pause with the last message, then record the decision."""
    if not ctx.resumed:
        return ctx.pause(kind="human", payload={"last": state["messages"][-1]})
    return {**state, "decision": ctx.resume_input["decision"]}


def one_gate(cache: Any) -> Runtime:
    workflow = Workflow("one-gate-conversation", [gate]).use(
        Plugin(key="adapter.cache", mode="override", adapters=AdapterBundle(cache=cache))
    )
    return workflow.build()


def langgraph_app(checkpointer: Any) -> Any:
    """The LangGraph gate: one node calling ``interrupt()``, a ``messages`` channel."""
    from langchain_core.messages import AnyMessage
    from langgraph.graph import END, START, StateGraph
    from langgraph.graph.message import add_messages
    from langgraph.types import interrupt

    # the functional form on purpose: evaluated now, while class syntax here would leave
    # string annotations naming this function's locals, which LangGraph cannot resolve
    conversation_state = TypedDict(  # type: ignore[misc]  # noqa: UP013
        "ConversationState",
        {"messages": Annotated[list[AnyMessage], add_messages], "decision": str},
        total=False,
    )

    def gate_node(state: dict[str, Any]) -> dict[str, Any]:
        answer = interrupt({"last": state["messages"][-1]})
        return {"decision": answer["decision"]}

    graph = StateGraph(conversation_state)
    graph.add_node("gate", gate_node)
    graph.add_edge(START, "gate")
    graph.add_edge("gate", END)
    return graph.compile(checkpointer=checkpointer)


def ours(runtime: Runtime, messages: list[Any], n: int) -> tuple[float, float]:
    run, resume = runtime.run, runtime.resume

    def pause(i: int) -> object:
        outcome = run({"messages": messages})
        assert isinstance(outcome, Paused), outcome
        return outcome.token

    def finish(token: object) -> object:
        outcome = resume(token, DECISION)  # type: ignore[arg-type]
        assert isinstance(outcome, Ok), outcome
        assert outcome.artefact["decision"] == "approve"
        return outcome

    # the round trip gives back equal messages of the same types
    done = finish(pause(-1))
    assert done.artefact["messages"] == messages  # type: ignore[attr-defined]
    return measure_pair(pause, finish, n, ROUNDS)


def theirs(app: Any, messages: list[Any], n: int, tag: str) -> tuple[float, float]:
    from langgraph.types import Command

    resume_with = Command(resume=DECISION)
    counter = iter(range(10**9))

    def pause(i: int) -> object:
        config = {"configurable": {"thread_id": f"{tag}-{next(counter)}"}}
        result = app.invoke({"messages": messages}, config)
        assert "__interrupt__" in result
        return config

    def finish(config: object) -> object:
        result = app.invoke(resume_with, config)
        assert result["decision"] == "approve"
        return result

    done = finish(pause(-1))
    assert done["messages"] == messages  # type: ignore[index]
    return measure_pair(pause, finish, n, ROUNDS)


def measure() -> list[Row]:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.sqlite import SqliteSaver

    messages = conversation()
    ours(one_gate(MemoryCache()), messages, OURS_N // 10)  # warm-up, not counted
    results: list[tuple[str, str, tuple[float, float]]] = [
        ("", BASELINE, ours(one_gate(MemoryCache()), messages, OURS_N)),
        ("", LANGGRAPH, theirs(langgraph_app(InMemorySaver()), messages, LANGGRAPH_N, "mem")),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        cache = SQLiteCache(Path(tmp) / "llm-core.db")
        results.append(("-sql", BASELINE, ours(one_gate(cache), messages, OURS_N // 3)))
        cache.close()
        # SqliteSaver keeps SQLite's default synchronous=FULL; so does this row.
        cache = SQLiteCache(Path(tmp) / "llm-core-full.db", synchronous="FULL")
        results.append(
            ("-sql", "llm_core, FULL sync", ours(one_gate(cache), messages, OURS_N // 10))
        )
        cache.close()
        conn = sqlite3.connect(Path(tmp) / "langgraph.db", check_same_thread=False)
        app = langgraph_app(SqliteSaver(conn))
        results.append(("-sql", LANGGRAPH, theirs(app, messages, LANGGRAPH_N // 3, "sql")))
        conn.close()
    rows: list[Row] = []
    for suffix, name, (pause_ns, _) in results:
        rows.append(Row("pause" + suffix, name, pause_ns))
    for suffix, name, (_, resume_ns) in results:
        rows.append(Row("resume" + suffix, name, resume_ns))
    order = ["pause", "resume", "pause-sql", "resume-sql"]
    return sorted(rows, key=lambda r: order.index(r.group))


def main() -> None:
    print_table(
        f"pause/resume of a {MESSAGES}-message conversation state: one gate (memory: "
        "MemoryCache vs InMemorySaver; -sql: SQLiteCache vs SqliteSaver)",
        measure(),
        BASELINE,
    )


if __name__ == "__main__":
    main()
