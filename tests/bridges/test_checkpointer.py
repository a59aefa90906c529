"""to_langgraph_checkpointer: LangGraph's own conformance suite on memory, SQLite and Redis, and
what the suite does not check -- threads expiring whole, reads refreshing, the allow-list,
encryption, real graphs."""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from llm_core import MemoryCache, SQLiteCache
from llm_core.bridges._serde import DisallowedDataError
from llm_core.bridges.checkpointer import to_langgraph_checkpointer
from llm_core.cache import Cache, RedisCache
from llm_core.errors import CacheFormatError, CapabilityError
from tests.bridges.test_langgraph_serde import ToyCipher
from tests.clock import ManualClock

KEY = b"0123456789abcdef0123456789abcdef"  # ToyCipher: pycryptodome is not a dependency


def _report(name: str, factory: Callable[[], BaseCheckpointSaver[Any]]) -> Any:
    """LangGraph's conformance suite (``langgraph-checkpoint-conformance``, a dev dependency:
    skipped where it is not installed, as in the lower-bounds jobs) on ``factory()``."""
    conformance = pytest.importorskip("langgraph.checkpoint.conformance")
    from langgraph.checkpoint.conformance.report import ProgressCallbacks

    @conformance.checkpointer_test(name=name)
    async def make() -> AsyncIterator[BaseCheckpointSaver[Any]]:
        yield factory()

    report = asyncio.run(conformance.validate(make, progress=ProgressCallbacks.default()))
    report.print_report()
    return report


def _assert_full(report: Any) -> None:
    failures = {k: r.failures for k, r in report.results.items() if r.failures}
    assert report.conformance_level() == "FULL", failures
    assert all(r.detected and r.passed for r in report.results.values()), report.to_dict()
    assert set(report.results) >= {"delete_for_runs", "copy_thread", "prune"}


@pytest.fixture(params=["memory", "sqlite", "redis"])
def any_cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cache]:
    if request.param == "memory":
        yield MemoryCache()
    elif request.param == "sqlite":
        with SQLiteCache(tmp_path / "cp.db") as cache:
            yield cache
    else:
        yield request.getfixturevalue("redis_cache")


@pytest.mark.parametrize("ttl", [None, 3600])
def test_langgraph_conformance_suite_passes_in_full(
    any_cache: Cache, ttl: float | None, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _report(
        f"llm-core {type(any_cache).__name__} ttl={ttl}",
        lambda: to_langgraph_checkpointer(any_cache, ttl=ttl),
    )
    with capsys.disabled():
        report.print_report()
    _assert_full(report)


def test_conformance_with_encrypted_serde(tmp_path: Path) -> None:
    serde = EncryptedSerializer(ToyCipher(KEY))
    with SQLiteCache(tmp_path / "enc.db") as cache:
        _assert_full(_report("encrypted", lambda: to_langgraph_checkpointer(cache, serde=serde)))


def test_langgraphs_own_savers_detect_less() -> None:
    report = _report("InMemorySaver", InMemorySaver)
    detected = {k for k, r in report.results.items() if r.detected}
    assert not {"delete_for_runs", "copy_thread", "prune"} <= detected


# --- TTL: a thread expires whole ------------------------------------------------


class State(TypedDict):
    topic: str
    answer: str


def ask(state: State) -> dict[str, str]:
    return {"answer": str(interrupt({"question": f"approve {state['topic']}?"}))}


def build(checkpointer: BaseCheckpointSaver[Any]) -> Any:
    graph = StateGraph(State)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph.compile(checkpointer=checkpointer)


def _keys(cache: MemoryCache) -> list[str]:
    return sorted(cache.keys())


def test_a_thread_expires_whole_and_reads_refresh_it() -> None:
    clock = ManualClock()
    cache = MemoryCache(clock=clock)
    saver = to_langgraph_checkpointer(cache, ttl=10, clock=clock, remember_expired=100)
    graph = build(saver)
    config = {"configurable": {"thread_id": "t1"}}
    paused = graph.invoke({"topic": "launch", "answer": ""}, config)
    assert "__interrupt__" in paused
    assert _keys(cache) == ["lgcp:t:t1", "lgcp:x:t1"]  # one record (+ its tomb)
    clock.advance(8)
    assert saver.get_tuple(config) is not None  # a read: 10 s more
    clock.advance(8)
    state = graph.get_state(config)
    assert state.next == ("ask",) and state.tasks[0].interrupts
    clock.advance(10.5)
    assert saver.get_tuple(config) is None
    assert list(saver.list(config)) == []
    assert _keys(cache) == ["lgcp:x:t1"]  # checkpoints, writes, metadata: all gone at once


def test_refresh_on_read_false_lets_a_read_thread_expire() -> None:
    clock = ManualClock()
    cache = MemoryCache(clock=clock)
    saver = to_langgraph_checkpointer(cache, ttl=10, refresh_on_read=False, clock=clock)
    graph = build(saver)
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"topic": "x", "answer": ""}, config)
    clock.advance(9)
    assert saver.get_tuple(config) is not None
    clock.advance(2)
    assert saver.get_tuple(config) is None


def test_a_graph_resumes_on_each_backend(any_cache: Cache) -> None:
    graph = build(to_langgraph_checkpointer(any_cache, ttl=60))
    config = {"configurable": {"thread_id": "graph-1"}}
    graph.invoke({"topic": "deploy", "answer": ""}, config)
    assert graph.invoke(Command(resume="yes"), config) == {"topic": "deploy", "answer": "yes"}
    history = list(graph.get_state_history(config))
    assert len(history) >= 3
    assert [h.config["configurable"]["checkpoint_id"] for h in history] == sorted(
        (h.config["configurable"]["checkpoint_id"] for h in history), reverse=True
    )


async def test_async_graph_on_redis(redis_cache: RedisCache) -> None:
    graph = build(to_langgraph_checkpointer(redis_cache, ttl=60))
    config = {"configurable": {"thread_id": "async-1"}}
    await graph.ainvoke({"topic": "a", "answer": ""}, config)
    assert await graph.ainvoke(Command(resume="ok"), config) == {"topic": "a", "answer": "ok"}


class Fan(TypedDict):
    hits: Annotated[list[str], operator.add]


def test_parallel_tasks_lose_no_write() -> None:
    def add(name: str) -> Callable[[Fan], dict[str, list[str]]]:
        return lambda state: {"hits": [name]}

    names = [f"n{i}" for i in range(8)]
    graph = StateGraph(Fan)
    for name in names:
        graph.add_node(name, add(name))
        graph.add_edge(START, name)
        graph.add_edge(name, END)
    compiled = graph.compile(checkpointer=to_langgraph_checkpointer(MemoryCache()))
    out = compiled.invoke({"hits": []}, {"configurable": {"thread_id": "fan"}})
    assert sorted(out["hits"]) == names


# --- the allow-list and the record format -----------------------------------------


def test_stored_bytes_never_import_a_name(caplog: pytest.LogCaptureFixture) -> None:
    cache = MemoryCache()
    saver = to_langgraph_checkpointer(cache)
    graph = build(saver)
    config = {"configurable": {"thread_id": "evil"}}
    graph.invoke({"topic": "x", "answer": ""}, config)
    # a forged pending write naming os.system, written the way LangGraph's serde would
    import ormsgpack

    forged = ormsgpack.packb(ormsgpack.Ext(0, ormsgpack.packb(["os", "system", "echo pwned"])))
    raw = cache.get("lgcp:t:evil")
    assert raw is not None
    record = ormsgpack.unpackb(raw)
    head = record["n"][""][0]  # the newest checkpoint, as get_tuple reads it
    head[3]["x\x1f0"] = ["x", "answer", "msgpack", forged, "", 0]
    cache.set("lgcp:t:evil", ormsgpack.packb(record))
    with pytest.raises(DisallowedDataError):
        saver.get_tuple(config)


def test_a_foreign_record_is_a_format_error() -> None:
    cache = MemoryCache()
    saver = to_langgraph_checkpointer(cache)
    cache.set("lgcp:t:t", b"not msgpack at all \xc1")
    with pytest.raises(CacheFormatError):
        saver.get_tuple({"configurable": {"thread_id": "t"}})


def test_encrypted_threads_refuse_unencrypted_records(tmp_path: Path) -> None:
    cache = MemoryCache()
    sealed = to_langgraph_checkpointer(cache, serde=EncryptedSerializer(ToyCipher(KEY)))
    build(sealed).invoke({"topic": "hush", "answer": ""}, {"configurable": {"thread_id": "s"}})
    assert b"hush" not in (cache.get("lgcp:t:s") or b"")
    assert sealed.get_tuple({"configurable": {"thread_id": "s"}}) is not None
    plain = to_langgraph_checkpointer(cache, prefix="plain:")
    build(plain).invoke({"topic": "p", "answer": ""}, {"configurable": {"thread_id": "p"}})
    cache.set("lgcp:t:p", cache.get("plain:t:p") or b"")
    with pytest.raises(DisallowedDataError):
        sealed.get_tuple({"configurable": {"thread_id": "p"}})


def test_needs_an_atomic_cache() -> None:
    from langgraph.cache.memory import InMemoryCache

    from llm_core.bridges.langgraph import from_langgraph_cache

    with pytest.raises(CapabilityError):
        to_langgraph_checkpointer(from_langgraph_cache(InMemoryCache()))
    with pytest.raises(TypeError):
        to_langgraph_checkpointer(object())  # type: ignore[arg-type]


def test_list_without_a_thread_reads_only_thread_records(caplog: pytest.LogCaptureFixture) -> None:
    cache = MemoryCache()
    cache.set("unrelated", b"\x00")
    saver = to_langgraph_checkpointer(cache)
    for thread in ("a", "b"):
        build(saver).invoke(
            {"topic": thread, "answer": ""}, {"configurable": {"thread_id": thread}}
        )
    threads = {t.config["configurable"]["thread_id"] for t in saver.list(None)}
    assert threads == {"a", "b"}
    assert len(list(saver.list(None, limit=1))) == 1
    with caplog.at_level(logging.WARNING):
        assert saver.get_tuple({"configurable": {"thread_id": "nope"}}) is None
