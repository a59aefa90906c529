"""to_langgraph_checkpointer: what "reads refresh the TTL" means (the deadline is kept within the
refresh slack of now + ttl), what a change that changes nothing does, a saver whose memo of a
thread is behind what another saver wrote, and one process's writers of a thread taking turns."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from llm_core import MemoryCache, SQLiteCache
from llm_core.bridges._thread_store import refresh_slack
from llm_core.bridges.checkpointer import (
    NoPendingInterruptError,
    ThreadExpiredError,
    resume_once,
    to_langgraph_checkpointer,
)
from tests.clock import ManualClock

TTL = 1000.0  # the slack is 1 % of it: 10 s


class State(TypedDict):
    topic: str
    answer: str


def _graph(saver: Any) -> Any:
    def ask(state: State) -> dict[str, str]:
        return {"answer": str(interrupt("ok?"))}

    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=saver)


def _config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


def _alive(cache: MemoryCache, thread: str) -> bool:
    """Whether the thread's record is in the cache (looked at without reading it as a saver)."""
    return cache.get(f"lgcp:t:{thread}") is not None


def test_the_slack() -> None:
    assert refresh_slack(3600) == 36
    assert refresh_slack(1000) == 10
    assert refresh_slack(60) == 1  # at least 1 s
    assert refresh_slack(1) == 0.5  # at most half the TTL


def test_a_read_moves_the_deadline_only_once_it_ran_down_by_the_slack() -> None:
    clock = ManualClock(0.0)
    cache = MemoryCache(clock=clock)
    saver = to_langgraph_checkpointer(cache, ttl=TTL, clock=clock)
    _graph(saver).invoke({"topic": "a", "answer": ""}, _config("a"))  # at 0: deadline 1000
    clock.advance(9)
    assert saver.get_tuple(_config("a")) is not None  # 1000 >= 9 + 1000 - 10: left as it is
    elsewhere = to_langgraph_checkpointer(cache, ttl=TTL, clock=clock)  # another process
    assert elsewhere.get_tuple(_config("a")) is not None  # knows the deadline from the record
    clock.advance(991.5)
    assert not _alive(cache, "a")  # 1000.5: neither read moved the deadline the write gave

    _graph(saver).invoke({"topic": "b", "answer": ""}, _config("b"))  # deadline now + 1000
    clock.advance(10.5)
    assert saver.get_tuple(_config("b")) is not None  # ran down by more than 10 s: refreshed
    clock.advance(999)
    assert _alive(cache, "b")  # 1009.5 s after the write, 999 s after the read


def test_after_any_read_the_thread_lives_between_ttl_minus_slack_and_ttl() -> None:
    clock = ManualClock(0.0)
    cache = MemoryCache(clock=clock)
    saver = to_langgraph_checkpointer(cache, ttl=TTL, clock=clock, remember_expired=100)
    graph = _graph(saver)
    graph.invoke({"topic": "c", "answer": ""}, _config("c"))
    for _ in range(400):  # a thread polled every 3 s for 20 minutes: longer than its TTL
        clock.advance(3)
        assert saver.get_tuple(_config("c")) is not None
    last_read = clock()
    clock.advance(TTL - refresh_slack(TTL) - 0.5)
    assert _alive(cache, "c")  # at least ttl - slack after the last read
    clock.advance(refresh_slack(TTL) + 1)
    assert not _alive(cache, "c")  # and at most ttl
    assert clock() > last_read + TTL
    with pytest.raises(ThreadExpiredError):  # the tomb kept pace with the refreshes
        resume_once(graph, _config("c"), "late")


def test_a_change_that_changes_nothing_writes_nothing() -> None:
    clock = ManualClock(0.0)
    cache = MemoryCache(clock=clock)
    saver = to_langgraph_checkpointer(cache, ttl=TTL, clock=clock)
    _graph(saver).invoke({"topic": "d", "answer": ""}, _config("d"))
    saver.prune(["d"], strategy="keep_latest")  # writes nothing from here on
    before = cache.get("lgcp:t:d")
    clock.advance(500)
    saver.prune(["d"], strategy="keep_latest")  # one checkpoint already
    saver.delete_for_runs(["no-such-run"])
    assert cache.get("lgcp:t:d") == before
    clock.advance(500.5)
    assert not _alive(cache, "d")  # and the TTL was not refreshed by them


def _put(saver: Any, thread: str, step: int) -> str:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid6(clock_seq=step))
    checkpoint["channel_values"] = {"step": step}
    checkpoint["channel_versions"] = {"step": step + 1}
    config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    saver.put(config, checkpoint, {"source": "loop", "step": step}, {"step": step + 1})
    return checkpoint["id"]


def test_a_saver_behind_another_ones_writes_loses_none_of_them() -> None:
    cache = MemoryCache()
    first, second = to_langgraph_checkpointer(cache), to_langgraph_checkpointer(cache)
    ids = [_put(first, "t", 0), _put(second, "t", 1)]
    ids.append(_put(first, "t", 2))  # first starts from the bytes it wrote: stale, so it re-reads
    listed = [t.checkpoint["id"] for t in second.list(_config("t"))]
    assert listed == sorted(ids, reverse=True)


def test_a_resume_decided_on_stale_bytes_is_decided_again() -> None:
    cache = MemoryCache()
    here, there = _graph(to_langgraph_checkpointer(cache)), _graph(to_langgraph_checkpointer(cache))
    here.invoke({"topic": "e", "answer": ""}, _config("e"))
    assert resume_once(here, _config("e"), "first")["answer"] == "first"
    # here remembers the thread finished; there runs it again, and it pauses again
    there.invoke({"topic": "e2", "answer": ""}, _config("e"))
    assert resume_once(here, _config("e"), "second")["answer"] == "second"  # not "no interrupt"
    with pytest.raises(NoPendingInterruptError):
        resume_once(there, _config("e"), "third")


class _CountingCache(SQLiteCache):
    """A SQLiteCache that counts compare-and-sets that did not land."""

    lost = 0

    def compare_and_set(self, key: str, expected: Any, new: Any, ttl: Any = None) -> bool:
        done = super().compare_and_set(key, expected, new, ttl)
        self.lost += not done
        return done


class Fan(TypedDict):
    hits: Annotated[list[str], operator.add]


def test_one_process_writers_of_a_thread_take_turns(tmp_path: Path) -> None:
    names = [f"n{i}" for i in range(8)]
    graph = StateGraph(Fan)
    for name in names:
        graph.add_node(name, lambda state, name=name: {"hits": [name]})
        graph.add_edge(START, name)
        graph.add_edge(name, END)
    with _CountingCache(tmp_path / "fan.db") as cache:
        compiled = graph.compile(checkpointer=to_langgraph_checkpointer(cache))
        for i in range(10):  # parallel tasks write the thread from parallel threads
            out = compiled.invoke({"hits": []}, _config(f"fan-{i}"))
            assert sorted(out["hits"]) == names
        assert cache.lost == 0  # none lost a race and had to read and try again
