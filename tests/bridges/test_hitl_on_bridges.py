"""The hitl-gate recipe pauses and resumes with its sessions in each ``from_*`` bridge."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.caches import InMemoryCache as LangChainInMemoryCache
from langgraph.cache.memory import InMemoryCache as LangGraphInMemoryCache
from langgraph.cache.sqlite import SqliteCache as LangGraphSqliteCache
from llama_index.core.storage.kvstore import SimpleKVStore

from llm_core import Error, Ok, Paused, recipes
from llm_core.bridges.langchain import from_langchain_cache
from llm_core.bridges.langgraph import from_langgraph_cache
from llm_core.bridges.llamaindex import from_llamaindex_kvstore
from llm_core.cache import Cache
from tests.clock import ManualClock

BridgeFactory = Callable[[Path, ManualClock], Cache]

BRIDGES: dict[str, BridgeFactory] = {
    "langgraph-inmemory": lambda tmp, clock: from_langgraph_cache(
        LangGraphInMemoryCache(), clock=clock
    ),
    "langgraph-sqlite": lambda tmp, clock: from_langgraph_cache(
        LangGraphSqliteCache(path=str(tmp / "lg.db")), clock=clock
    ),
    "langchain-inmemory": lambda tmp, clock: from_langchain_cache(
        LangChainInMemoryCache(), clock=clock
    ),
    "llamaindex-simplekv": lambda tmp, clock: from_llamaindex_kvstore(SimpleKVStore(), clock=clock),
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


@pytest.fixture(params=sorted(BRIDGES), ids=str)
def bridge(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Cache:
    return BRIDGES[request.param](tmp_path, clock)


def test_run_pauses_and_resume_approves_exactly_once(bridge: Cache, clock: ManualClock) -> None:
    runtime = recipes.hitl_gate(cache=bridge, clock=clock)
    paused = runtime.run("Release notes for v2")
    assert isinstance(paused, Paused)
    assert paused.payload["draft"] == "Release notes for v2"

    done = runtime.resume(paused.token, {"decision": "approve", "notes": "ship it"})
    assert isinstance(done, Ok)
    assert done.artefact["status"] == "approved"
    assert done.artefact["final"] == "Release notes for v2"

    again = runtime.resume(paused.token, {"decision": "approve"})
    assert isinstance(again, Error)
    assert again.kind == "session_already_resumed"


def test_the_runtime_shows_the_bridges_weaker_take(bridge: Cache) -> None:
    capabilities = recipes.hitl_gate(cache=bridge).explain()["adapters"]["cache"]["capabilities"]
    assert capabilities["atomic_take"] is False
    assert capabilities["ttl"] in ("exact", "emulated")


async def test_async_run_and_resume(bridge: Cache, clock: ManualClock) -> None:
    runtime = recipes.hitl_gate(cache=bridge, clock=clock)
    paused = await runtime.arun({"input": "Draft", "policy": "two-person rule"})
    assert isinstance(paused, Paused)
    done = await runtime.aresume(paused.token, {"decision": "reject", "notes": "no"})
    assert isinstance(done, Ok)
    assert done.artefact["status"] == "rejected"


def test_bad_resume_input_leaves_the_token_resumable(bridge: Cache, clock: ManualClock) -> None:
    runtime = recipes.hitl_gate(cache=bridge, clock=clock)
    paused = runtime.run("Draft")
    assert isinstance(paused, Paused)
    bad = runtime.resume(paused.token, {"decision": "maybe"})
    assert isinstance(bad, Error)
    good = runtime.resume(paused.token, {"decision": "edit", "edited": "Better draft"})
    assert isinstance(good, Ok)
    assert good.artefact["final"] == "Better draft"


def test_session_expires_on_the_bridges_clock(bridge: Cache, clock: ManualClock) -> None:
    runtime = recipes.hitl_gate(cache=bridge, session_ttl=60, clock=clock)
    paused = runtime.run("Draft")
    assert isinstance(paused, Paused)
    clock.advance(61)
    late = runtime.resume(paused.token, {"decision": "approve"})
    assert isinstance(late, Error)
    assert late.kind == "session_expired"
