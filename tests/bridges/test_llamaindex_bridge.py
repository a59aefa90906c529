"""LlamaIndex bridge, both ways, with LlamaIndex's real stores (KVDocumentStore, KVIndexStore,
SimpleKVStore) on llm-core backends.  The Redis variants live in test_llamaindex_redis.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.caches import InMemoryCache as LangChainInMemoryCache
from llama_index.core.data_structs.data_structs import IndexList
from llama_index.core.schema import Document, TextNode
from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore
from llama_index.core.storage.index_store.keyval_index_store import KVIndexStore
from llama_index.core.storage.kvstore import SimpleKVStore

from llm_core import MemoryCache, SQLiteCache
from llm_core.bridges.langchain import from_langchain_cache
from llm_core.bridges.llamaindex import from_llamaindex_kvstore, to_llamaindex_kvstore
from llm_core.errors import CacheFormatError, CapabilityError, ConfigurationError
from tests.bridges.support import run_python
from tests.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


@pytest.fixture
def sqlite_cache(tmp_path: Path, clock: ManualClock) -> Iterator[SQLiteCache]:
    with SQLiteCache(tmp_path / "docs.db", clock=clock) as cache:
        yield cache


DOCS = [
    Document(text="The cat sat on the mat.", id_="doc-cat", metadata={"topic": "pets"}),
    Document(text="Paris is the capital of France.", id_="doc-paris"),
]


# --- to_llamaindex_kvstore under LlamaIndex's own stores ---------------------------------


def test_docstore_on_sqlite_adds_reads_and_deletes(sqlite_cache: SQLiteCache) -> None:
    docstore = KVDocumentStore(to_llamaindex_kvstore(sqlite_cache))
    docstore.add_documents(DOCS)
    cat = docstore.get_document("doc-cat")
    assert cat is not None
    assert cat.get_content() == "The cat sat on the mat."
    assert cat.metadata == {"topic": "pets"}
    assert sorted(docstore.docs) == ["doc-cat", "doc-paris"]  # get_all over listed keys
    assert docstore.document_exists("doc-paris")
    assert docstore.get_document_hash("doc-cat") == DOCS[0].hash

    docstore.delete_document("doc-cat")
    assert not docstore.document_exists("doc-cat")
    assert sorted(docstore.docs) == ["doc-paris"]


def test_nodes_keep_their_reference_document(sqlite_cache: SQLiteCache) -> None:
    docstore = KVDocumentStore(to_llamaindex_kvstore(sqlite_cache), namespace="app")
    nodes = [
        TextNode(text="first chunk", id_="n1"),
        TextNode(text="second chunk", id_="n2"),
    ]
    for node in nodes:
        node.relationships = {"1": DOCS[0].as_related_node_info()}  # SOURCE
    docstore.add_documents(nodes)
    info = docstore.get_ref_doc_info("doc-cat")
    assert info is not None
    assert sorted(info.node_ids) == ["n1", "n2"]
    assert set(docstore.get_all_ref_doc_info() or {}) == {"doc-cat"}
    docstore.delete_ref_doc("doc-cat")
    assert docstore.docs == {}


async def test_async_docstore_faces(sqlite_cache: SQLiteCache) -> None:
    docstore = KVDocumentStore(to_llamaindex_kvstore(sqlite_cache))
    await docstore.async_add_documents(DOCS)
    paris = await docstore.aget_document("doc-paris")
    assert paris is not None
    assert paris.get_content() == "Paris is the capital of France."
    assert await docstore.adocument_exists("doc-cat")
    await docstore.adelete_document("doc-cat")
    assert not await docstore.adocument_exists("doc-cat")
    # what the async face wrote, the sync face reads
    assert sorted(docstore.docs) == ["doc-paris"]


def test_a_second_process_reads_the_documents(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with SQLiteCache(path) as cache:
        KVDocumentStore(to_llamaindex_kvstore(cache)).add_documents(DOCS)
    out = run_python(
        """
        import sys
        from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore
        from llm_core import SQLiteCache
        from llm_core.bridges.llamaindex import to_llamaindex_kvstore

        with SQLiteCache(sys.argv[1]) as cache:
            docstore = KVDocumentStore(to_llamaindex_kvstore(cache))
            print(sorted(docstore.docs))
            print(docstore.get_document("doc-paris").get_content())
        """,
        str(path),
    )
    assert out.splitlines() == ["['doc-cat', 'doc-paris']", "Paris is the capital of France."]


def test_index_store_keeps_index_structs(sqlite_cache: SQLiteCache) -> None:
    index_store = KVIndexStore(to_llamaindex_kvstore(sqlite_cache))
    struct = IndexList(index_id="summary")
    struct.add_node(TextNode(text="x", id_="node-x"))
    index_store.add_index_struct(struct)
    again = index_store.get_index_struct("summary")
    assert isinstance(again, IndexList)
    assert again.nodes == ["node-x"]
    assert [s.index_id for s in index_store.index_structs()] == ["summary"]


# --- to_llamaindex_kvstore: collections, TTL, errors --------------------------------------


def test_collections_are_separate_key_prefixes() -> None:
    cache = MemoryCache()
    kv = to_llamaindex_kvstore(cache)
    kv.put("k", {"v": 1}, collection="a")
    kv.put("k", {"v": 2}, collection="a/b")
    kv.put("k|x", {"v": 3}, collection="a")
    kv.put("k", {"v": 4}, collection="a|b")
    assert kv.get_all("a") == {"k": {"v": 1}, "k|x": {"v": 3}}
    assert kv.get_all("a/b") == {"k": {"v": 2}}
    assert kv.get("k", collection="a|b") == {"v": 4}
    assert kv.get("k") is None  # default collection "data" is yet another one


def test_long_keys_are_hashed_and_listed_under_their_original_name() -> None:
    kv = to_llamaindex_kvstore(MemoryCache())
    long_key = "node-" + "ü" * 700
    kv.put(long_key, {"text": "long"}, collection="c")
    assert kv.get(long_key, collection="c") == {"text": "long"}
    assert kv.get_all("c") == {long_key: {"text": "long"}}


def test_put_all_delete_and_batches() -> None:
    kv = to_llamaindex_kvstore(MemoryCache())
    kv.put_all([(f"k{i}", {"i": i}) for i in range(5)], collection="c", batch_size=3)
    assert len(kv.get_all("c")) == 5
    assert kv.delete("k0", collection="c") is True
    assert kv.delete("k0", collection="c") is False


async def test_async_faces_of_the_kvstore() -> None:
    kv = to_llamaindex_kvstore(MemoryCache())
    await kv.aput_all([("a", {"n": 1}), ("b", {"n": 2})], collection="c")
    await kv.aput("c", {"n": 3}, collection="c")
    assert await kv.aget("a", collection="c") == {"n": 1}
    assert await kv.aget_all("c") == {"a": {"n": 1}, "b": {"n": 2}, "c": {"n": 3}}
    assert await kv.adelete("a", collection="c") is True
    assert await kv.aget("a", collection="c") is None


def test_ttl_expires_entries(clock: ManualClock) -> None:
    kv = to_llamaindex_kvstore(MemoryCache(clock=clock), ttl=10)
    kv.put("k", {"v": 1})
    clock.advance(10)
    assert kv.get("k") == {"v": 1}
    clock.advance(0.01)
    assert kv.get("k") is None
    assert kv.get_all() == {}


def test_get_all_needs_a_listing_cache() -> None:
    not_listable = from_langchain_cache(LangChainInMemoryCache())
    docstore = KVDocumentStore(to_llamaindex_kvstore(not_listable))
    docstore.add_documents(DOCS)
    assert docstore.get_document("doc-cat") is not None  # put/get work without listing
    with pytest.raises(CapabilityError, match="lists its keys"):
        _ = docstore.docs


def test_values_are_json_dicts() -> None:
    cache = MemoryCache()
    kv = to_llamaindex_kvstore(cache)
    with pytest.raises(TypeError, match="dicts"):
        kv.put("k", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        kv.put("k", {"not json": object()})
    kv.put("k", {"v": 1})
    (key,) = cache.keys()
    assert cache.get(key) == b'{"key": "k", "value": {"v": 1}}'
    cache.set(key, b"garbage")
    with pytest.raises(CacheFormatError):
        kv.get("k")


# --- from_llamaindex_kvstore ---------------------------------------------------------------


def test_from_llamaindex_capabilities() -> None:
    caps = from_llamaindex_kvstore(SimpleKVStore()).capabilities
    assert (caps.ttl, caps.atomic_take, caps.listing, caps.sweep) == ("emulated", False, True, True)
    no_sweep = from_llamaindex_kvstore(SimpleKVStore(), sweep_interval=None)
    assert no_sweep.capabilities.sweep is False


def test_record_holds_base64_value_and_expiry(clock: ManualClock) -> None:
    kv = SimpleKVStore()
    cache = from_llamaindex_kvstore(kv, collection="sessions", clock=clock)
    cache.set("k", b"\x00\xff", ttl=5)
    assert kv.get("k", collection="sessions") == {
        "value_b64": "AP8=",
        "expires_at": clock.now + 5,
    }
    cache.set("forever", b"x")
    assert kv.get("forever", collection="sessions") == {"value_b64": "eA==", "expires_at": None}


def test_expired_record_is_deleted_when_found(clock: ManualClock) -> None:
    kv = SimpleKVStore()
    cache = from_llamaindex_kvstore(kv, clock=clock)
    cache.set("k", b"v", ttl=1)
    clock.advance(1.5)
    assert kv.get("k", collection="llm_core_cache") is not None  # still stored...
    assert cache.get("k") is None
    assert kv.get("k", collection="llm_core_cache") is None  # ...until read


async def test_sweep_deletes_every_expired_record(clock: ManualClock) -> None:
    kv = SimpleKVStore()
    cache = from_llamaindex_kvstore(kv, clock=clock, sweep_interval=None)
    for i in range(4):
        cache.set(f"short{i}", b"x", ttl=1)
    cache.set("long", b"y", ttl=100)
    clock.advance(2)
    assert cache.sweep() == 4
    assert list(kv.get_all("llm_core_cache")) == ["long"]
    cache.set("again", b"z", ttl=1)
    clock.advance(2)
    assert await cache.asweep() == 1


def test_a_write_sweeps_once_per_interval(clock: ManualClock) -> None:
    kv = SimpleKVStore()
    cache = from_llamaindex_kvstore(kv, clock=clock, sweep_interval=60)
    cache.set("old", b"x", ttl=1)
    clock.advance(30)
    cache.set("new", b"y")
    assert "old" in kv.get_all("llm_core_cache")  # interval not reached: no sweep yet
    clock.advance(31)
    cache.set("newer", b"z")
    assert sorted(kv.get_all("llm_core_cache")) == ["new", "newer"]


def test_keys_lists_live_keys(clock: ManualClock) -> None:
    cache = from_llamaindex_kvstore(SimpleKVStore(), clock=clock)
    cache.set("s:1", b"1")
    cache.set("s:2", b"2", ttl=1)
    cache.set("t:1", b"3")
    clock.advance(2)
    assert cache.keys("s:") == ["s:1"]
    assert sorted(cache.keys()) == ["s:1", "t:1"]


def test_foreign_records_are_a_format_error() -> None:
    kv = SimpleKVStore()
    cache = from_llamaindex_kvstore(kv)
    kv.put("k", {"text": "a LlamaIndex node"}, collection="llm_core_cache")
    with pytest.raises(CacheFormatError, match="not a record written by llm-core"):
        cache.get("k")
    kv.put("k", {"value_b64": "!!", "expires_at": None}, collection="llm_core_cache")
    with pytest.raises(CacheFormatError):
        cache.get("k")


def test_from_llamaindex_kvstore_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="BaseKVStore"):
        from_llamaindex_kvstore(MemoryCache())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="collection"):
        from_llamaindex_kvstore(SimpleKVStore(), collection="")


def test_llamaindex_cache_on_llm_core_sqlite(sqlite_cache: SQLiteCache, clock: ManualClock) -> None:
    """Both directions at once: our Cache in a LlamaIndex store that itself lives in SQLite."""
    cache = from_llamaindex_kvstore(to_llamaindex_kvstore(sqlite_cache), clock=clock)
    cache.set("k", b"v", ttl=5)
    assert cache.take("k") == b"v"
    assert cache.get("k") is None
    assert sqlite_cache.keys() == []
