"""The cache bridges behave as their hosts expect of a cache (issue 12, part 3).

* LangChain's standard cache tests (``langchain-tests``: ``SyncCacheTestSuite`` and
  ``AsyncCacheTestSuite``) run against ``to_langchain_cache`` on memory, SQLite and Redis.
* What LangGraph's own ``RedisCache`` tests expect of a node cache -- batches, TTLs, namespaces,
  clear, empty calls, and above all that an unreachable store or a corrupted entry is a *miss*,
  never an exception -- checked against ``to_langgraph_cache`` on the same three backends.
* ``on_error="raise"`` keeps failing loudly; the default logs a WARNING.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.caches import BaseCache as LangChainBaseCache
from langchain_core.outputs import Generation

from llm_core import MemoryCache, SQLiteCache
from llm_core.bridges.langchain import to_langchain_cache
from llm_core.bridges.langgraph import to_langgraph_cache
from llm_core.cache import Cache, RedisCache
from llm_core.errors import CacheFormatError, CacheUnavailableError

DOWN_URL = "redis://127.0.0.1:9/0?socket_connect_timeout=0.2&socket_timeout=0.2"


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cache]:
    if request.param == "memory":
        yield MemoryCache()
    elif request.param == "sqlite":
        with SQLiteCache(tmp_path / "c.db") as cache:
            yield cache
    else:
        yield request.getfixturevalue("redis_cache")


@pytest.fixture
def down() -> Iterator[RedisCache]:
    pytest.importorskip("redis")
    cache = RedisCache.from_url(DOWN_URL, retries=0)  # nothing listens on port 9
    yield cache
    cache.close()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "llm_core.bridges" and r.levelno == logging.WARNING
    ]


# --- LangChain's standard cache tests ------------------------------------------------

try:
    from langchain_tests.integration_tests.cache import AsyncCacheTestSuite, SyncCacheTestSuite
except ImportError:  # a dev dependency; absent in the lower-bounds jobs

    def test_langchain_standard_tests_need_langchain_tests() -> None:
        pytest.skip("langchain-tests is not installed")

else:

    class TestLangChainStandardSync(SyncCacheTestSuite):
        @pytest.fixture
        def cache(self, backend: Cache) -> LangChainBaseCache:
            return to_langchain_cache(backend)

    class TestLangChainStandardAsync(AsyncCacheTestSuite):
        @pytest.fixture
        async def cache(self, backend: Cache) -> LangChainBaseCache:
            return to_langchain_cache(backend)


# --- to_langchain_cache: a miss, not an exception -------------------------------------


def test_langchain_unreadable_entries_are_logged_misses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from langchain_core.load import dumps
    from langchain_core.messages import FunctionMessage
    from langchain_core.outputs import ChatGeneration

    cache = MemoryCache()
    lc = to_langchain_cache(cache)
    lc.update("p", "m", [Generation(text="x")])
    (key,) = cache.keys()
    outside = ChatGeneration(message=FunctionMessage(content="f", name="n"))  # not allow-listed
    with caplog.at_level(logging.WARNING, logger="llm_core.bridges"):
        for raw in (dumps([outside]).encode(), b"\x80not json", b'{"lc": 99}', b"[1, 2]"):
            cache.set(key, raw)
            assert lc.lookup("p", "m") is None
            assert asyncio.run(lc.alookup("p", "m")) is None
    assert len(_warnings(caplog)) == 8
    loud = to_langchain_cache(cache, on_error="raise")
    with pytest.raises(CacheFormatError):
        loud.lookup("p", "m")


def test_langchain_on_a_down_store_misses_and_skips_writes(
    down: RedisCache, caplog: pytest.LogCaptureFixture
) -> None:
    lc = to_langchain_cache(down)
    with caplog.at_level(logging.WARNING, logger="llm_core.bridges"):
        assert lc.lookup("p", "m") is None
        lc.update("p", "m", [Generation(text="x")])
        assert asyncio.run(lc.alookup("p", "m")) is None
        asyncio.run(lc.aupdate("p", "m", [Generation(text="x")]))
        lc.clear()
    assert len(_warnings(caplog)) == 5
    with pytest.raises(CacheUnavailableError):
        to_langchain_cache(down, on_error="raise").lookup("p", "m")


def test_a_langchain_model_keeps_answering_when_the_store_is_down(down: RedisCache) -> None:
    from langchain_core.language_models.fake import FakeListLLM

    llm = FakeListLLM(responses=["a", "b"], cache=to_langchain_cache(down))
    assert [llm.invoke("q"), llm.invoke("q")] == ["a", "b"]  # no cache, no failure


# --- to_langgraph_cache: what LangGraph's RedisCache tests expect ----------------------


def test_langgraph_node_cache_contract(backend: Cache) -> None:
    lg = to_langgraph_cache(backend)
    k1, k2, k3 = (("graph", "node1"), "key1"), (("graph", "node2"), "key2"), (("other",), "k3")
    lg.set({k1: ({"result": 1}, None), k2: ({"result": 2}, 60), k3: ({"result": 3}, None)})
    assert lg.get([k1, k2, k3]) == {k1: {"result": 1}, k2: {"result": 2}, k3: {"result": 3}}
    assert lg.get([]) == {}
    lg.set({})
    assert lg.get([(("graph", "node1"), "missing")]) == {}
    same1, same2 = (("g1", "n"), "same"), (("g2", "n"), "same")
    lg.set({same1: ({"graph": 1}, None), same2: ({"graph": 2}, None)})
    assert lg.get([same1, same2]) == {same1: {"graph": 1}, same2: {"graph": 2}}
    odd = ((), "empty-namespace"), (("graph:with:colons", "node-with-dashes"), "key_*?[")
    lg.set({k: ({"data": i}, None) for i, k in enumerate(odd)})
    assert lg.get(list(odd)) == {odd[0]: {"data": 0}, odd[1]: {"data": 1}}
    big = {"large_list": list(range(1000)), "nested": {"data": "x" * 1000}}
    lg.set({k1: (big, None)})
    assert lg.get([k1]) == {k1: big}
    lg.clear([("graph", "node1"), ("graph", "node2")])
    assert set(lg.get([k1, k2, k3])) == {k3}
    lg.clear()
    assert lg.get([k1, k2, k3, same1, *odd]) == {}


def test_langgraph_ttl_is_seconds(backend: Cache) -> None:
    lg = to_langgraph_cache(backend)
    key = (("graph", "node"), "ttl_key")
    lg.set({key: ({"data": "expires_soon"}, 1)})
    assert lg.get([key]) == {key: {"data": "expires_soon"}}
    time.sleep(1.1)
    assert lg.get([key]) == {}


async def test_langgraph_async_faces(backend: Cache) -> None:
    lg = to_langgraph_cache(backend)
    key = (("graph", "node"), "async_key")
    await lg.aset({key: ({"async": True}, None)})
    assert await lg.aget([key]) == {key: {"async": True}}
    await lg.aclear()
    assert await lg.aget([key]) == {}


def test_langgraph_down_store_is_a_logged_miss(
    down: RedisCache, caplog: pytest.LogCaptureFixture
) -> None:
    lg = to_langgraph_cache(down)
    key = (("graph", "node"), "key")
    with caplog.at_level(logging.WARNING, logger="llm_core.bridges"):
        assert lg.get([key]) == {}
        lg.set({key: ({"data": "test"}, None)})
        assert asyncio.run(lg.aget([key])) == {}
        asyncio.run(lg.aset({key: ({"data": "test"}, None)}))
        lg.clear()
    assert len(_warnings(caplog)) == 5
    loud = to_langgraph_cache(down, on_error="raise")
    with pytest.raises(CacheUnavailableError):
        loud.get([key])
    with pytest.raises(CacheUnavailableError):
        loud.set({key: ({"data": "test"}, None)})


def test_langgraph_corrupted_entries_are_skipped(
    backend: Cache, caplog: pytest.LogCaptureFixture
) -> None:
    lg = to_langgraph_cache(backend)
    good, bad = (("graph", "node"), "valid_key"), (("graph", "node"), "corrupted_key")
    lg.set({good: ({"data": "valid"}, None), bad: ({"data": "soon corrupted"}, None)})
    raw_key = lg._key(bad)
    with caplog.at_level(logging.WARNING, logger="llm_core.bridges"):
        for raw in (b"invalid:data:format:too:many:colons", b"msgpack:\xc1", b"pickle:\x80."):
            backend.set(raw_key, raw)
            assert lg.get([good, bad]) == {good: {"data": "valid"}}
    assert len(_warnings(caplog)) == 3
    with pytest.raises(CacheFormatError):
        to_langgraph_cache(backend, on_error="raise").get([bad])


def test_a_graph_runs_its_node_when_the_node_cache_is_down(down: RedisCache) -> None:
    from tests.bridges import graphs

    before = graphs.CALLS["slow_square"]
    graph = graphs.build(to_langgraph_cache(down))
    assert graph.invoke({"x": 3}) == {"x": 3, "y": 9}
    assert graph.invoke({"x": 3}) == {"x": 3, "y": 9}
    assert graphs.CALLS["slow_square"] == before + 2


def test_on_error_is_checked() -> None:
    from llm_core.errors import ConfigurationError

    bad: Any = "ignore"
    with pytest.raises(ConfigurationError):
        to_langgraph_cache(MemoryCache(), on_error=bad)
    with pytest.raises(ConfigurationError):
        to_langchain_cache(MemoryCache(), on_error=bad)
