"""LangChain bridge, both ways, with LangChain's own fake models and InMemoryCache (no mocks)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.load import dumps
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation
from langchain_core.prompts import PromptTemplate

from llm_core import MemoryCache, SQLiteCache
from llm_core.bridges.langchain import from_langchain_cache, to_langchain_cache
from llm_core.bridges.llamaindex import from_llamaindex_kvstore
from llm_core.errors import CacheFormatError, CapabilityError, InvalidTTLError
from tests.bridges.support import run_python
from tests.clock import ManualClock

# Outside pytest the bridge silences this one LangChain warning for its own ``loads`` calls;
# pytest resets warning filters per test, so say it again here.
pytestmark = pytest.mark.filterwarnings("ignore:The function `loads` is in beta")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


@pytest.fixture
def sqlite_cache(tmp_path: Path, clock: ManualClock) -> Iterator[SQLiteCache]:
    with SQLiteCache(tmp_path / "llm.db", clock=clock) as cache:
        yield cache


@pytest.fixture
def global_llm_cache() -> Iterator[None]:
    """Restore LangChain's process-wide cache after a test that sets it."""
    before = get_llm_cache()
    yield
    set_llm_cache(before)


# --- to_langchain_cache with real (fake) models -----------------------------------------------


def test_set_llm_cache_serves_the_second_call_from_sqlite(
    sqlite_cache: SQLiteCache, global_llm_cache: None
) -> None:
    set_llm_cache(to_langchain_cache(sqlite_cache))
    llm = FakeListLLM(responses=["first", "second", "third"])
    assert llm.invoke("What is 6 x 7?") == "first"
    assert llm.invoke("What is 6 x 7?") == "first"
    assert llm.i == 1  # the fake's next response was not consumed
    assert llm.invoke("Another prompt") == "second"
    assert len(sqlite_cache.keys("langchain:")) == 2


def test_model_cache_argument_takes_a_bridge(sqlite_cache: SQLiteCache) -> None:
    chat = FakeListChatModel(responses=["hello", "goodbye"], cache=to_langchain_cache(sqlite_cache))
    first = chat.invoke("hi")
    second = chat.invoke("hi")
    assert first.content == second.content == "hello"
    assert chat.i == 1
    assert chat.invoke("bye").content == "goodbye"


def test_chat_generations_round_trip_through_langchain_json() -> None:
    cache = MemoryCache()
    replies = iter(
        [AIMessage(content="Paris", id="m-1", response_metadata={"model": "fake"}), "unused"]
    )
    chat = GenericFakeChatModel(messages=replies, cache=to_langchain_cache(cache))
    first = chat.invoke("Capital of France?")
    second = chat.invoke("Capital of France?")
    assert second.content == first.content == "Paris"
    assert second.response_metadata["model"] == "fake"
    assert next(replies) == "unused"  # the second call never reached the model
    (key,) = cache.keys("langchain:")
    stored = (cache.get(key) or b"").decode()
    assert '"ChatGeneration"' in stored  # LangChain's own JSON, not pickle
    assert '"AIMessage"' in stored


async def test_async_calls_use_the_async_faces(sqlite_cache: SQLiteCache) -> None:
    llm = FakeListLLM(responses=["a1", "a2"], cache=to_langchain_cache(sqlite_cache))
    assert await llm.ainvoke("async prompt") == "a1"
    assert await llm.ainvoke("async prompt") == "a1"
    assert llm.i == 1
    assert llm.invoke("async prompt") == "a1"  # the sync face reads what async wrote
    chat = FakeListChatModel(responses=["c1", "c2"], cache=to_langchain_cache(sqlite_cache))
    assert (await chat.ainvoke("q")).content == "c1"
    assert (await chat.ainvoke("q")).content == "c1"
    assert chat.i == 1


def test_ttl_expires_cached_generations(sqlite_cache: SQLiteCache, clock: ManualClock) -> None:
    llm = FakeListLLM(responses=["fresh", "refreshed"], cache=to_langchain_cache(sqlite_cache, 60))
    assert llm.invoke("weather?") == "fresh"
    clock.advance(60)
    assert llm.invoke("weather?") == "fresh"  # alive for the whole TTL
    clock.advance(0.01)
    assert llm.invoke("weather?") == "refreshed"  # expired: the model was called again
    assert llm.i == 0  # both responses consumed (the fake cycles)


def test_a_second_process_reads_the_cached_generation(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with SQLiteCache(path) as cache:
        llm = FakeListLLM(responses=["A", "B"], cache=to_langchain_cache(cache))
        assert llm.invoke("shared prompt") == "A"
        assert llm.i == 1
    out = run_python(
        """
        import sys
        from langchain_core.language_models.fake import FakeListLLM
        from llm_core import SQLiteCache
        from llm_core.bridges.langchain import to_langchain_cache

        with SQLiteCache(sys.argv[1]) as cache:
            llm = FakeListLLM(responses=["A", "B"], cache=to_langchain_cache(cache))
            print(llm.invoke("shared prompt"), llm.i)
        """,
        str(path),
    )
    assert out.split() == ["A", "0"]  # answered from process one's entry: the fake never ran


# --- to_langchain_cache: keys, values, clear ---------------------------------------------


def test_keys_separate_prompt_and_llm_string() -> None:
    lc = to_langchain_cache(MemoryCache())
    lc.update("ab", "c", [Generation(text="1")])
    lc.update("a", "bc", [Generation(text="2")])
    assert [g.text for g in lc.lookup("ab", "c") or []] == ["1"]
    assert [g.text for g in lc.lookup("a", "bc") or []] == ["2"]
    assert lc.lookup("abc", "") is None


def test_clear_removes_only_this_prefix() -> None:
    cache = MemoryCache()
    cache.set("other", b"kept")
    lc = to_langchain_cache(cache, prefix="lc-a:")
    other = to_langchain_cache(cache, prefix="lc-b:")
    lc.update("p", "m", [Generation(text="x")])
    other.update("p", "m", [Generation(text="y")])
    lc.clear()
    assert lc.lookup("p", "m") is None
    assert [g.text for g in other.lookup("p", "m") or []] == ["y"]
    assert cache.get("other") == b"kept"


async def test_aclear_and_async_lookup_update() -> None:
    lc = to_langchain_cache(MemoryCache())
    await lc.aupdate("p", "m", [ChatGeneration(message=AIMessage(content="hi"))])
    (generation,) = await lc.alookup("p", "m") or []
    assert isinstance(generation, ChatGeneration)
    assert generation.message.content == "hi"
    await lc.aclear()
    assert await lc.alookup("p", "m") is None


def test_clear_needs_a_listing_cache() -> None:
    lc = to_langchain_cache(from_langchain_cache(InMemoryCache()))
    lc.update("p", "m", [Generation(text="x")])
    assert [g.text for g in lc.lookup("p", "m") or []] == ["x"]
    with pytest.raises(CapabilityError, match="lists its keys"):
        lc.clear()


def test_objects_outside_the_allowlist_are_refused() -> None:
    cache = MemoryCache()
    lc = to_langchain_cache(cache, on_error="raise")  # the default serves them as a miss
    lc.update("p", "m", [Generation(text="x")])
    (key,) = cache.keys()
    # a prompt template is a valid LangChain object, but not an LLM output: never revived
    cache.set(key, dumps([PromptTemplate.from_template("{x}")]).encode())
    with pytest.raises(CacheFormatError):
        lc.lookup("p", "m")
    cache.set(key, b"\x80not json")
    with pytest.raises(CacheFormatError):
        lc.lookup("p", "m")


def test_invalid_ttl_is_refused() -> None:
    with pytest.raises(InvalidTTLError):
        to_langchain_cache(MemoryCache(), ttl=0)


# --- from_langchain_cache ---------------------------------------------------------------


def test_from_langchain_capabilities_say_ttl_is_emulated() -> None:
    caps = from_langchain_cache(InMemoryCache()).capabilities
    assert caps.ttl == "emulated"
    assert caps.atomic_take is False
    assert caps.listing is False


def test_value_and_expiry_travel_in_one_generation(clock: ManualClock) -> None:
    lc = InMemoryCache()
    cache = from_langchain_cache(lc, clock=clock)
    cache.set("session", b"\x00\xffbytes", ttl=30)
    (generation,) = lc.lookup("session", "llm-core:cache/v1") or []
    packed = base64.b64decode(generation.text)
    assert packed.endswith(b"\x00\xffbytes")
    clock.advance(30.001)
    assert cache.get("session") is None  # emulated expiry, enforced on read


def test_delete_writes_a_tombstone(clock: ManualClock) -> None:
    lc = InMemoryCache()
    cache = from_langchain_cache(lc, clock=clock)
    cache.set("k", b"v")
    cache.delete("k")
    assert cache.get("k") is None
    assert lc.lookup("k", "llm-core:cache/v1")  # LangChain has no per-key delete
    cache.set("k", b"again")
    assert cache.get("k") == b"again"


def test_two_llm_strings_keep_two_caches_apart() -> None:
    lc = InMemoryCache()
    one = from_langchain_cache(lc, llm_string="app-one")
    two = from_langchain_cache(lc, llm_string="app-two")
    one.set("k", b"1")
    two.set("k", b"2")
    assert (one.get("k"), two.get("k")) == (b"1", b"2")


def test_foreign_generations_are_a_format_error() -> None:
    lc = InMemoryCache()
    cache = from_langchain_cache(lc)
    lc.update("k", "llm-core:cache/v1", [Generation(text="not base64!")])
    with pytest.raises(CacheFormatError, match="not base64"):
        cache.get("k")
    lc.update("k", "llm-core:cache/v1", [Generation(text="a"), Generation(text="b")])
    with pytest.raises(CacheFormatError, match="one Generation"):
        cache.get("k")


def test_from_langchain_cache_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="BaseCache"):
        from_langchain_cache(MemoryCache())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="llm_string"):
        from_langchain_cache(InMemoryCache(), llm_string="")


def test_llamaindex_store_under_a_langchain_model() -> None:
    """Bridges compose: a LangChain model cached in a LlamaIndex KV store via llm-core."""
    from llama_index.core.storage.kvstore import SimpleKVStore

    kv = SimpleKVStore()
    llm = FakeListLLM(
        responses=["one", "two"], cache=to_langchain_cache(from_llamaindex_kvstore(kv))
    )
    assert llm.invoke("x") == llm.invoke("x") == "one"
    assert len(kv.get_all("llm_core_cache")) == 1
