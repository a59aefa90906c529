"""LangGraph bridge, both ways, on real LangGraph objects (StateGraph and its caches)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.caches import InMemoryCache as LangChainInMemoryCache
from langgraph.cache.memory import InMemoryCache
from langgraph.cache.sqlite import SqliteCache
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from llm_core import MemoryCache, SQLiteCache
from llm_core.bridges.langchain import from_langchain_cache
from llm_core.bridges.langgraph import from_langgraph_cache, to_langgraph_cache
from llm_core.errors import CacheFormatError, CapabilityError, ConfigurationError
from tests.bridges import graphs
from tests.bridges.support import run_python
from tests.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


@pytest.fixture
def sqlite_cache(tmp_path: Path, clock: ManualClock) -> Iterator[SQLiteCache]:
    with SQLiteCache(tmp_path / "graph.db", clock=clock) as cache:
        yield cache


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    graphs.CALLS["slow_square"] = 0


# --- to_langgraph_cache in a real StateGraph ---------------------------------------------


def test_cached_node_is_skipped_then_runs_again_after_its_ttl(
    sqlite_cache: SQLiteCache, clock: ManualClock
) -> None:
    graph = graphs.build(to_langgraph_cache(sqlite_cache))
    assert graph.invoke({"x": 7}) == {"x": 7, "y": 49}
    assert graphs.CALLS["slow_square"] == 1
    assert graph.invoke({"x": 7}) == {"x": 7, "y": 49}
    assert graphs.CALLS["slow_square"] == 1  # served from SQLite, node not run
    assert graph.invoke({"x": 8})["y"] == 64
    assert graphs.CALLS["slow_square"] == 2  # another input is another key

    clock.advance(graphs.TTL_SECONDS - 0.01)
    graph.invoke({"x": 7})
    assert graphs.CALLS["slow_square"] == 2  # still inside the TTL
    clock.advance(0.02)
    assert graph.invoke({"x": 7})["y"] == 49
    assert graphs.CALLS["slow_square"] == 3  # expired: the node ran again


async def test_async_graph_uses_the_async_faces(sqlite_cache: SQLiteCache) -> None:
    graph = graphs.build(to_langgraph_cache(sqlite_cache))
    assert (await graph.ainvoke({"x": 5}))["y"] == 25
    assert (await graph.ainvoke({"x": 5}))["y"] == 25
    assert graphs.CALLS["slow_square"] == 1
    # what the async run stored, the sync run reads
    assert graph.invoke({"x": 5})["y"] == 25
    assert graphs.CALLS["slow_square"] == 1


def test_second_process_sees_the_first_ones_entry(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with SQLiteCache(path) as cache:  # the real wall clock: both processes share it
        graph = graphs.build(to_langgraph_cache(cache))
        assert graph.invoke({"x": 12})["y"] == 144
        assert graphs.CALLS["slow_square"] == 1
    out = run_python(
        """
        import sys
        from llm_core import SQLiteCache
        from llm_core.bridges.langgraph import to_langgraph_cache
        from tests.bridges import graphs

        with SQLiteCache(sys.argv[1]) as cache:
            graph = graphs.build(to_langgraph_cache(cache))
            first = graph.invoke({"x": 12})["y"]
            other = graph.invoke({"x": 13})["y"]
        print(first, other, graphs.CALLS["slow_square"])
        """,
        str(path),
    )
    # 144 came from the first process's entry (0 runs for it); 169 was computed here (1 run)
    assert out.split() == ["144", "169", "1"]


def test_clear_cache_of_a_graph_clears_exactly_its_node(sqlite_cache: SQLiteCache) -> None:
    sqlite_cache.set("unrelated", b"kept")
    lg_cache = to_langgraph_cache(sqlite_cache)
    graph = graphs.build(lg_cache)
    graph.invoke({"x": 2})
    graph.clear_cache()
    graph.invoke({"x": 2})
    assert graphs.CALLS["slow_square"] == 2  # cleared, so it ran again
    assert sqlite_cache.get("unrelated") == b"kept"


def test_node_without_ttl_never_expires(sqlite_cache: SQLiteCache, clock: ManualClock) -> None:
    graph = graphs.build(to_langgraph_cache(sqlite_cache), ttl=None)
    graph.invoke({"x": 4})
    clock.advance(10 * 365 * 24 * 3600)
    graph.invoke({"x": 4})
    assert graphs.CALLS["slow_square"] == 1


# --- to_langgraph_cache: keys, values, clear ---------------------------------------------


def test_namespaces_map_injectively_and_clear_is_exact() -> None:
    cache = MemoryCache()
    lg = to_langgraph_cache(cache)
    pairs = {
        (("a",), "k"): ("a", None),
        (("a", "b"), "k"): ("a/b", None),
        (("a/b",), "k"): ("a%2Fb", None),
        (("a|b",), "k"): ("a|b", None),
        ((), "a/|k"): ("root", None),
        (("",), "a/|k"): ("empty-part", None),
        (("ns",), ""): ("empty-key", None),
    }
    lg.set(pairs)
    assert len(cache.keys("langgraph:")) == len(pairs)  # no two FullKeys share a key
    assert lg.get(list(pairs)) == {key: value for key, (value, _) in pairs.items()}

    lg.clear([("a",)])  # exactly namespace ("a",): not ("a", "b"), not ("a/b",)
    left = lg.get(list(pairs))
    assert (("a",), "k") not in left
    assert len(left) == len(pairs) - 1
    lg.clear()
    assert lg.get(list(pairs)) == {}


def test_long_keys_and_namespaces_are_hashed_within_the_key_limit() -> None:
    cache = MemoryCache()
    lg = to_langgraph_cache(cache)
    long_ns = ("n" * 600, "ü" * 300)
    long_key = "k" * 2000
    lg.set({(long_ns, long_key): ({"v": 1}, None), (long_ns, long_key + "x"): ({"v": 2}, None)})
    keys = cache.keys("langgraph:")
    assert len(keys) == 2
    assert all(len(k.encode()) <= 1024 and "#" in k for k in keys)
    assert lg.get([(long_ns, long_key)]) == {(long_ns, long_key): {"v": 1}}
    lg.clear([long_ns])
    assert cache.keys("langgraph:") == []


def test_ttl_is_passed_on_in_seconds_and_zero_means_do_not_keep() -> None:
    clock = ManualClock()
    cache = MemoryCache(clock=clock)
    lg = to_langgraph_cache(cache)
    lg.set({(("ns",), "short"): ("s", 2), (("ns",), "gone"): ("g", 0)})
    assert lg.get([(("ns",), "gone")]) == {}
    clock.advance(2)
    assert lg.get([(("ns",), "short")]) == {(("ns",), "short"): "s"}
    clock.advance(0.01)
    assert lg.get([(("ns",), "short")]) == {}


async def test_async_faces_of_to_langgraph_cache() -> None:
    lg = to_langgraph_cache(MemoryCache())
    await lg.aset({(("ns",), "k"): ([1, "two", {"three": 3.0}], None)})
    assert await lg.aget([(("ns",), "k"), (("ns",), "missing")]) == {
        (("ns",), "k"): [1, "two", {"three": 3.0}]
    }
    await lg.aclear([("ns",)])
    assert await lg.aget([(("ns",), "k")]) == {}


def test_stored_pickle_is_an_unpickled_logged_miss(caplog: pytest.LogCaptureFixture) -> None:
    cache = MemoryCache()
    lg = to_langgraph_cache(cache)
    lg.set({(("ns",), "k"): ("fine", None)})
    (key,) = cache.keys()
    assert (cache.get(key) or b"").startswith(b"msgpack:")  # LangGraph's serde, type-tagged
    with caplog.at_level(logging.WARNING, logger="llm_core.bridges"):
        for raw in (b"pickle:\x80\x04K\x01.", b"pickle+aes:\x00", b"no separator", b"j s:{}"):
            cache.set(key, raw)  # what a pickling serde, or nothing of ours, would have written
            assert lg.get([(("ns",), "k")]) == {}  # a miss: LangGraph runs the node again
    messages = [r.getMessage() for r in caplog.records if r.name == "llm_core.bridges"]
    assert len(messages) == 4 and all("served as a miss" in m for m in messages)
    assert "never pickle" in messages[0]


def test_a_pickling_serde_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="pickle_fallback"):
        to_langgraph_cache(MemoryCache(), serde=JsonPlusSerializer(pickle_fallback=True))


def test_clear_needs_a_listing_cache() -> None:
    not_listable = from_langchain_cache(LangChainInMemoryCache())
    lg = to_langgraph_cache(not_listable)
    lg.set({(("ns",), "k"): ("v", None)})  # get/set work without listing
    assert lg.get([(("ns",), "k")]) == {(("ns",), "k"): "v"}
    with pytest.raises(CapabilityError, match="lists its keys"):
        lg.clear()


def test_to_langgraph_cache_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="llm-core Cache"):
        to_langgraph_cache(InMemoryCache())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="prefix"):
        to_langgraph_cache(MemoryCache(), prefix="")


# --- from_langgraph_cache ------------------------------------------------------------------


def test_from_langgraph_capabilities_say_what_is_exact() -> None:
    in_memory = from_langgraph_cache(InMemoryCache())
    caps = in_memory.capabilities
    assert (caps.ttl, caps.atomic_take, caps.listing) == ("exact", False, False)
    assert (caps.persistent, caps.shared, caps.sweep) == (False, False, False)


def test_from_langgraph_sqlite_is_persistent_and_shared(tmp_path: Path) -> None:
    path = str(tmp_path / "lg.db")
    first = from_langgraph_cache(SqliteCache(path=path))
    assert first.capabilities.persistent
    assert first.capabilities.shared
    first.set("session:1", b"\x00payload", ttl=60)
    out = run_python(
        """
        import sys
        from langgraph.cache.sqlite import SqliteCache
        from llm_core.bridges.langgraph import from_langgraph_cache

        print(from_langgraph_cache(SqliteCache(path=sys.argv[1])).get("session:1"))
        """,
        path,
    )
    assert out.strip() == repr(b"\x00payload")


def test_expiry_is_exact_below_a_second_and_native_ttl_is_rounded_up() -> None:
    clock = ManualClock(start=0.0)
    lg = InMemoryCache()
    cache = from_langgraph_cache(lg, clock=clock)
    cache.set("k", b"v", ttl=0.25)
    ((_, _, native_expiry),) = lg._cache[("llm-core", "k")].values()
    assert native_expiry is not None  # LangGraph got a whole-second TTL: ceil(0.25) = 1 s
    clock.advance(0.25)
    assert cache.get("k") == b"v"
    clock.advance(0.001)
    assert cache.get("k") is None  # our clock says expired, though LangGraph still holds it
    assert ("llm-core", "k") in lg._cache


def test_delete_removes_one_key_only_even_with_glob_and_separator_characters() -> None:
    lg = InMemoryCache()
    cache = from_langgraph_cache(lg, namespace=("app", "sessions"))
    for key in ("a*", "abc", "a,b", "a:b", "a/b", "a"):
        cache.set(key, key.encode())
    cache.delete("a*")
    cache.delete("a,b")
    assert [cache.get(k) for k in ("a*", "abc", "a,b", "a:b", "a/b", "a")] == [
        None,
        b"abc",
        None,
        b"a:b",
        b"a/b",
        b"a",
    ]
    assert all(ns[:2] == ("app", "sessions") for ns in lg._cache)


def test_foreign_values_are_a_format_error() -> None:
    lg = InMemoryCache()
    cache = from_langgraph_cache(lg)
    lg.set({(("llm-core", "k"), "v"): ({"not": "ours"}, None)})
    with pytest.raises(CacheFormatError, match="did not write"):
        cache.get("k")


@pytest.mark.parametrize("namespace", [(), ("",), ("a:b",), ("a,b",), ("sp ace",), "a*"])
def test_namespace_must_be_safe_in_every_langgraph_store(namespace: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError, match="namespace"):
        from_langgraph_cache(InMemoryCache(), namespace=namespace)


def test_from_langgraph_cache_checks_its_argument() -> None:
    with pytest.raises(TypeError, match="BaseCache"):
        from_langgraph_cache(MemoryCache())  # type: ignore[arg-type]


def test_the_two_directions_compose() -> None:
    """llm-core → LangGraph → llm-core: a round trip through both adapters keeps the contract."""
    inner = MemoryCache()
    outer = from_langgraph_cache(to_langgraph_cache(inner))
    outer.set("k", b"v", ttl=5)
    assert outer.get("k") == b"v"
    assert outer.take("k") == b"v"
    assert outer.get("k") is None
    assert inner.keys() == []  # delete went all the way down
