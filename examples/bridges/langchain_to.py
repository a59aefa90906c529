"""LangChain on llm-core: identical LLM calls answered from a SQLiteCache, for one hour."""

import tempfile
from pathlib import Path

from langchain_core.globals import set_llm_cache
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from llm_core import SQLiteCache
from llm_core.bridges.langchain import to_langchain_cache

with tempfile.TemporaryDirectory() as tmp, SQLiteCache(Path(tmp) / "llm.db") as cache:
    # process-wide, for every model that does not say otherwise
    set_llm_cache(to_langchain_cache(cache, ttl=3600))
    llm = FakeListLLM(responses=["42", "a different answer"])
    assert llm.invoke("6 x 7?") == llm.invoke("6 x 7?") == "42"  # second call: from the cache

    # or per model, with the cache= argument
    chat = FakeListChatModel(responses=["Bonjour", "Salut"], cache=to_langchain_cache(cache))
    assert chat.invoke("Say hello").content == chat.invoke("Say hello").content == "Bonjour"
    set_llm_cache(None)
    print(f"llm calls={llm.i} chat calls={chat.i} cached entries={len(cache.keys('langchain:'))}")
