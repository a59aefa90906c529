"""A small LangGraph graph whose ``slow_square`` node is cached (imported by both processes:
LangGraph's cache key names the node function by module and qualified name)."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import CachePolicy

CALLS = {"slow_square": 0}
TTL_SECONDS = 30


class State(TypedDict):
    x: int
    y: int


def slow_square(state: State) -> dict[str, int]:
    """The node whose runs we count: a cache hit must not call it."""
    CALLS["slow_square"] += 1
    return {"y": state["x"] * state["x"]}


def build(cache: Any, ttl: int | None = TTL_SECONDS) -> Any:
    """``START → slow_square → END`` compiled with ``cache``; the node has a ``CachePolicy``."""
    graph = StateGraph(State)
    graph.add_node("slow_square", slow_square, cache_policy=CachePolicy(ttl=ttl))
    graph.add_edge(START, "slow_square")
    graph.add_edge("slow_square", END)
    return graph.compile(cache=cache)
