"""resume_once: a StateGraph paused by interrupt() in one process, resumed in another (Redis and
SQLite); after the TTL the whole thread is gone and resuming says so; processes racing to resume
one thread -> exactly one runs the resumed node."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llm_core import MemoryCache
from llm_core.bridges.checkpointer import (
    InterruptBusyError,
    NoPendingInterruptError,
    ThreadExpiredError,
    ThreadNotFoundError,
    aresume_once,
    resume_once,
    to_langgraph_checkpointer,
)
from llm_core.errors import SessionError
from tests.bridges.support import ROOT, run_python
from tests.clock import ManualClock

# The child: builds the same graph on the cache named by argv and runs one action on threads.
CHILD = """
import json, sys, time, os
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from llm_core.cache import cache_from_url
from llm_core.bridges.checkpointer import resume_once, to_langgraph_checkpointer

url, action, log, ttl, offset, *threads = sys.argv[1:]
clock = lambda: time.time() + float(offset)
cache = cache_from_url(url) if not url.startswith("sqlite") else None
if cache is None:
    from llm_core import SQLiteCache
    cache = SQLiteCache(url.removeprefix("sqlite:///"), clock=clock)

class State(TypedDict):
    topic: str
    answer: str

def ask(state):
    answer = interrupt({"question": "approve " + state["topic"] + "?"})
    with open(log, "a") as f:  # the side effect that must happen once per thread
        f.write(f"{os.getpid()} {state['topic']} {answer}\\n")
    time.sleep(0.05)
    return {"answer": answer}

builder = StateGraph(State)
builder.add_node("ask", ask)
builder.add_edge(START, "ask")
builder.add_edge("ask", END)
graph = builder.compile(
    checkpointer=to_langgraph_checkpointer(cache, ttl=float(ttl), clock=clock)
)
if action == "wait":  # start together
    while not os.path.exists(log + ".go"):
        time.sleep(0.001)
for thread in threads:
    config = {"configurable": {"thread_id": thread}}
    if action == "pause":
        out = graph.invoke({"topic": thread, "answer": ""}, config)
        print(json.dumps({"thread": thread, "interrupt": out["__interrupt__"][0].value}))
        continue
    try:
        out = resume_once(graph, config, "yes-" + str(os.getpid()))
        print(json.dumps({"thread": thread, "ran": out["answer"]}))
    except Exception as exc:
        print(json.dumps({"thread": thread, "error": type(exc).__name__}))
"""


def _child(*args: str) -> list[dict[str, str]]:
    import json

    return [json.loads(line) for line in run_python(CHILD, *args).splitlines()]


@pytest.fixture(params=["sqlite", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'threads.db'}"
    redis_url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    return f"{redis_url}?prefix={prefix}"


def test_paused_in_one_process_resumed_in_another(url: str, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    paused = _child(url, "pause", log, "3600", "0", "t1", "t2")
    assert paused[0] == {"thread": "t1", "interrupt": {"question": "approve t1?"}}
    resumed = _child(url, "resume", log, "3600", "0", "t1", "t1", "ghost")
    assert resumed[0]["ran"].startswith("yes-")
    assert resumed[1] == {"thread": "t1", "error": "NoPendingInterruptError"}
    assert resumed[2] == {"thread": "ghost", "error": "ThreadNotFoundError"}
    assert len(Path(log).read_text().splitlines()) == 1


def test_after_the_ttl_the_thread_is_gone_and_resuming_says_so(url: str, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    if url.startswith("sqlite"):  # SQLiteCache takes a clock: the second process is 1 h later
        _child(url, "pause", log, "3600", "0", "t1")
        resumed = _child(url, "resume", log, "3600", "3601", "t1")
    else:  # Redis counts its own TTL: a short real one
        _child(url, "pause", log, "1", "0", "t1")
        time.sleep(1.6)
        resumed = _child(url, "resume", log, "1", "0", "t1")
    assert resumed == [{"thread": "t1", "error": "ThreadExpiredError"}]
    assert not Path(log).exists()


def test_racing_processes_resume_each_thread_exactly_once(url: str, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    threads = [f"race-{i}" for i in range(12)]
    _child(url, "pause", log, "3600", "0", *threads)
    env_path = f"{ROOT / 'src'}:{ROOT}"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CHILD), url, "wait", log, "3600", "0", *threads],
            cwd=ROOT,
            env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    time.sleep(1.5)  # let all three import and build the graph
    Path(log + ".go").touch()
    outputs = [r.communicate(timeout=120) for r in racers]
    assert all(r.returncode == 0 for r in racers), [err for _, err in outputs]
    import json

    results = [json.loads(line) for out, _ in outputs for line in out.splitlines()]
    for thread in threads:
        mine = [r for r in results if r["thread"] == thread]
        assert len(mine) == 3
        assert sum("ran" in r for r in mine) == 1, mine
        assert {r.get("error") for r in mine if "error" in r} <= {
            "InterruptBusyError",
            "NoPendingInterruptError",
        }
    lines = Path(log).read_text().splitlines()
    assert sorted(line.split()[1] for line in lines) == sorted(threads)  # each node ran once


# --- in process: the claim, its lease and its release ---------------------------------


def _graph(cache: MemoryCache, clock: ManualClock, calls: list[str], fail: bool = False) -> object:
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    class State(TypedDict):
        answer: str

    def ask(state: State) -> dict[str, str]:
        answer = str(interrupt("ok?"))
        calls.append(answer)
        if fail and len(calls) == 1:
            raise RuntimeError("node failed")
        return {"answer": answer}

    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    saver = to_langgraph_checkpointer(cache, ttl=60, clock=clock)
    return builder.compile(checkpointer=saver)


def test_a_failed_resume_releases_the_claim() -> None:
    clock = ManualClock(1000.0)
    calls: list[str] = []
    graph = _graph(MemoryCache(clock=clock), clock, calls, fail=True)
    config = {"configurable": {"thread_id": "f"}}
    graph.invoke({"answer": ""}, config)  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError):
        resume_once(graph, config, "first")
    # claimable again; LangGraph already recorded the first resume value, and re-runs with it
    assert resume_once(graph, config, "second") == {"answer": "first"}
    assert calls == ["first", "first"]
    with pytest.raises(NoPendingInterruptError):
        resume_once(graph, config, "third")


def test_a_live_claim_is_busy_and_a_lapsed_one_is_claimable() -> None:
    from llm_core.bridges._envelope import run
    from llm_core.bridges._resume import _claim

    clock = ManualClock(1000.0)
    calls: list[str] = []
    cache = MemoryCache(clock=clock)
    graph = _graph(cache, clock, calls)
    config = {"configurable": {"thread_id": "b"}}
    graph.invoke({"answer": ""}, config)  # type: ignore[attr-defined]
    saver = graph.checkpointer  # type: ignore[attr-defined]
    run(cache, _claim(saver, "b", "a-dead-worker", 30.0))  # a worker that died mid-run
    with pytest.raises(InterruptBusyError):
        resume_once(graph, config, "now")
    clock.advance(31)
    assert resume_once(graph, config, "later") == {"answer": "later"}
    assert calls == ["later"]


async def test_async_resume_and_errors_are_session_errors() -> None:
    clock = ManualClock(1000.0)
    calls: list[str] = []
    cache = MemoryCache(clock=clock)
    graph = _graph(cache, clock, calls)
    config = {"configurable": {"thread_id": "a"}}
    await graph.ainvoke({"answer": ""}, config)  # type: ignore[attr-defined]
    assert await aresume_once(graph, config, "async") == {"answer": "async"}
    with pytest.raises(ThreadNotFoundError):
        await aresume_once(graph, {"configurable": {"thread_id": "nope"}}, 1)
    await graph.ainvoke({"answer": ""}, {"configurable": {"thread_id": "e"}})  # type: ignore[attr-defined]
    clock.advance(61)
    with pytest.raises(ThreadExpiredError) as expired:
        await aresume_once(graph, {"configurable": {"thread_id": "e"}}, 1)
    assert isinstance(expired.value, SessionError)


def test_resume_once_needs_our_checkpointer() -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import START, StateGraph

    builder = StateGraph(dict)
    builder.add_node("n", lambda s: s)
    builder.add_edge(START, "n")
    with pytest.raises(TypeError):
        resume_once(builder.compile(checkpointer=InMemorySaver()), {"configurable": {}}, 1)
