"""The bridges on a real Redis: LlamaIndex's docstore, a LangGraph graph and a LangChain model
on ``RedisCache``; LangGraph's own ``RedisCache`` holding llm-core sessions across processes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from langchain_core.language_models.fake import FakeListLLM
from langgraph.cache.redis import RedisCache as LangGraphRedisCache
from llama_index.core.schema import Document
from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore

from llm_core import Ok, Paused, RedisCache, recipes
from llm_core.bridges.langchain import to_langchain_cache
from llm_core.bridges.langgraph import from_langgraph_cache, to_langgraph_cache
from llm_core.bridges.llamaindex import to_llamaindex_kvstore
from tests.bridges import graphs
from tests.bridges.support import run_python

pytestmark = [
    pytest.mark.redis,
    pytest.mark.filterwarnings("ignore:The function `loads` is in beta"),
]

DOCS = [
    Document(text="Redis keeps documents for every process.", id_="doc-redis"),
    Document(text="LlamaIndex reads them back.", id_="doc-llama"),
]


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    graphs.CALLS["slow_square"] = 0


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


# --- LlamaIndex KVDocumentStore on to_llamaindex_kvstore(RedisCache) -----------------------


def test_docstore_on_redis_adds_and_reads_back(redis_cache: RedisCache) -> None:
    docstore = KVDocumentStore(to_llamaindex_kvstore(redis_cache))
    docstore.add_documents(DOCS)
    doc = docstore.get_document("doc-redis")
    assert doc is not None
    assert doc.get_content() == "Redis keeps documents for every process."
    assert sorted(docstore.docs) == ["doc-llama", "doc-redis"]
    docstore.delete_document("doc-llama")
    assert sorted(docstore.docs) == ["doc-redis"]


async def test_async_docstore_on_redis(redis_cache: RedisCache) -> None:
    docstore = KVDocumentStore(to_llamaindex_kvstore(redis_cache))
    await docstore.async_add_documents(DOCS)
    doc = await docstore.aget_document("doc-llama")
    assert doc is not None
    assert doc.get_content() == "LlamaIndex reads them back."
    assert await docstore.adocument_exists("doc-redis")
    await docstore.adelete_document("doc-redis")
    assert not await docstore.adocument_exists("doc-redis")
    assert sorted(docstore.docs) == ["doc-llama"]  # the sync face sees what async did
    await redis_cache.aclose()


def test_second_process_reads_the_documents_from_redis(
    redis_cache: RedisCache, redis_url: str, redis_prefix: str
) -> None:
    KVDocumentStore(to_llamaindex_kvstore(redis_cache)).add_documents(DOCS)
    out = run_python(
        """
        import sys
        from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore
        from llm_core import RedisCache
        from llm_core.bridges.llamaindex import to_llamaindex_kvstore

        cache = RedisCache.from_url(sys.argv[1], prefix=sys.argv[2])
        docstore = KVDocumentStore(to_llamaindex_kvstore(cache))
        print(sorted(docstore.docs))
        print(docstore.get_document("doc-redis").get_content())
        """,
        redis_url,
        redis_prefix,
    )
    assert out.splitlines() == [
        "['doc-llama', 'doc-redis']",
        "Redis keeps documents for every process.",
    ]


# --- a LangGraph graph and a LangChain model on RedisCache -------------------------------


def test_graph_on_redis_skips_the_cached_node_across_processes_and_expires(
    redis_cache: RedisCache, redis_url: str, redis_prefix: str
) -> None:
    graph = graphs.build(to_langgraph_cache(redis_cache))  # CachePolicy(ttl=30)
    assert graph.invoke({"x": 9})["y"] == 81
    out = run_python(
        """
        import sys
        from llm_core import RedisCache
        from llm_core.bridges.langgraph import to_langgraph_cache
        from tests.bridges import graphs

        cache = RedisCache.from_url(sys.argv[1], prefix=sys.argv[2])
        print(graphs.build(to_langgraph_cache(cache)).invoke({"x": 9})["y"])
        print(graphs.CALLS["slow_square"])
        """,
        redis_url,
        redis_prefix,
    )
    assert out.split() == ["81", "0"]  # the other process was served from Redis
    assert graphs.CALLS["slow_square"] == 1

    short = graphs.build(to_langgraph_cache(redis_cache), ttl=1)
    short.invoke({"x": 10})
    short.invoke({"x": 10})
    assert graphs.CALLS["slow_square"] == 2
    time.sleep(1.1)  # Redis counts the 1 s TTL on its own clock
    short.invoke({"x": 10})
    assert graphs.CALLS["slow_square"] == 3


async def test_langchain_model_on_redis(redis_cache: RedisCache) -> None:
    llm = FakeListLLM(responses=["cached", "fresh"], cache=to_langchain_cache(redis_cache, 60))
    assert llm.invoke("q") == llm.invoke("q") == "cached"
    assert await llm.ainvoke("q") == "cached"
    assert llm.i == 1
    await redis_cache.aclose()


# --- LangGraph's own RedisCache as an llm-core Cache (from_langgraph_cache) ----------------


def test_from_langgraph_redis_is_persistent_shared_and_glob_safe(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    cache = from_langgraph_cache(LangGraphRedisCache(redis_client, prefix=redis_prefix))
    caps = cache.capabilities
    assert (caps.ttl, caps.persistent, caps.shared, caps.sweep) == ("exact", True, True, True)
    for key in ("a*", "abc", "a?c", "a[b]c", "a:b"):
        cache.set(key, key.encode(), ttl=30)
    cache.delete("a*")  # LangGraph clears by KEYS pattern: "*" must not match "abc"
    cache.delete("a?c")
    assert [cache.get(k) for k in ("a*", "abc", "a?c", "a[b]c", "a:b")] == [
        None,
        b"abc",
        None,
        b"a[b]c",
        b"a:b",
    ]
    ttl = redis_client.ttl(f"{redis_prefix}llm-core:abc:v")
    assert 0 < ttl <= 30  # LangGraph's native TTL on the server drops entries nobody reads


def test_hitl_session_paused_in_one_process_resumes_in_another(
    redis_url: str, redis_client: redis.Redis, redis_prefix: str
) -> None:
    cache = from_langgraph_cache(LangGraphRedisCache(redis_client, prefix=redis_prefix))
    paused = recipes.hitl_gate(cache=cache, session_ttl=300).run("Deploy on Friday?")
    assert isinstance(paused, Paused)
    out = run_python(
        """
        import sys
        import redis
        from langgraph.cache.redis import RedisCache as LangGraphRedisCache
        from llm_core import recipes
        from llm_core.bridges.langgraph import from_langgraph_cache

        client = redis.Redis.from_url(sys.argv[1])
        cache = from_langgraph_cache(LangGraphRedisCache(client, prefix=sys.argv[2]))
        done = recipes.hitl_gate(cache=cache).resume(sys.argv[3], {"decision": "reject"})
        print(type(done).__name__, done.artefact["status"])
        """,
        redis_url,
        redis_prefix,
        paused.token,
    )
    assert out.split() == ["Ok", "rejected"]
    again = recipes.hitl_gate(cache=cache).resume(paused.token, {"decision": "approve"})
    assert not isinstance(again, Ok)  # the token was used up by the other process
