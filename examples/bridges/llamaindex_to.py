"""LlamaIndex on llm-core: a KVDocumentStore whose documents live in SQLite (or Redis)."""

import tempfile
from pathlib import Path

from llama_index.core.schema import Document
from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore

from llm_core import SQLiteCache
from llm_core.bridges.llamaindex import to_llamaindex_kvstore

with tempfile.TemporaryDirectory() as tmp, SQLiteCache(Path(tmp) / "docs.db") as cache:
    # with Redis: cache = RedisCache.from_url("redis://127.0.0.1:6379/0", prefix="docs:")
    docstore = KVDocumentStore(to_llamaindex_kvstore(cache))
    docstore.add_documents(
        [
            Document(text="llm-core pauses runs for humans.", id_="intro"),
            Document(text="Sessions live in a TTL cache.", id_="sessions"),
        ]
    )
    intro = docstore.get_document("intro")
    assert intro is not None
    assert sorted(docstore.docs) == ["intro", "sessions"]  # get_all: needs key listing
    print(intro.get_content())
