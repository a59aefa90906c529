"""LangGraph on llm-core: a StateGraph whose cached node lives in a SQLiteCache file."""

import tempfile
from pathlib import Path
from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import CachePolicy

from llm_core import SQLiteCache
from llm_core.bridges.langgraph import to_langgraph_cache

runs = 0


class State(TypedDict):
    question: str
    answer: str


def expensive(state: State) -> dict[str, str]:
    global runs
    runs += 1
    return {"answer": state["question"].upper()}


builder = StateGraph(State)
builder.add_node("expensive", expensive, cache_policy=CachePolicy(ttl=3600))  # seconds
builder.add_edge(START, "expensive")
builder.add_edge("expensive", END)

with tempfile.TemporaryDirectory() as tmp, SQLiteCache(Path(tmp) / "graph.db") as cache:
    graph = builder.compile(cache=to_langgraph_cache(cache))
    first = graph.invoke({"question": "hello"})
    second = graph.invoke({"question": "hello"})  # served from SQLite: the node is skipped
    assert first == second == {"question": "hello", "answer": "HELLO"}
    assert runs == 1
    print(f"answer={second['answer']} node runs={runs} cached keys={len(cache.keys())}")
