"""Adapters: the ``Cache`` contract, its validation, backends and ecosystem bridges.

Nothing here imports :mod:`llm_core.workflow`.  Optional backends and bridges import their
third-party package lazily, so this package imports with no extra installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_core.adapters.memory import MemoryCache
from llm_core.adapters.redis import RedisCache
from llm_core.adapters.sqlite import SQLiteCache
from llm_core.adapters.types import (
    AdapterBundle,
    Cache,
    CacheCapabilities,
    KVStore,
    ListableCache,
    Storage,
    capabilities_of,
)
from llm_core.adapters.url import cache_from_url

__all__ = [
    "AdapterBundle",
    "Cache",
    "CacheCapabilities",
    "KVStore",
    "ListableCache",
    "MemoryCache",
    "RedisCache",
    "SQLiteCache",
    "Storage",
    "cache_from_url",
    "capabilities_of",
]

# The ecosystem bridges import their framework, so they load only when one of these names is
# first used: ``from llm_core.adapters import to_langgraph_cache`` needs LangGraph, ``import
# llm_core`` does not.  (``from llm_core.adapters.langgraph import ...`` works the same.)
_BRIDGES = {
    "from_langgraph_cache": "langgraph",
    "to_langgraph_cache": "langgraph",
    "from_langchain_cache": "langchain",
    "to_langchain_cache": "langchain",
    "from_llamaindex_kvstore": "llamaindex",
    "to_llamaindex_kvstore": "llamaindex",
}


if TYPE_CHECKING:  # type checkers see the real signatures; at run time __getattr__ loads them
    from llm_core.adapters.langchain import from_langchain_cache as from_langchain_cache
    from llm_core.adapters.langchain import to_langchain_cache as to_langchain_cache
    from llm_core.adapters.langgraph import from_langgraph_cache as from_langgraph_cache
    from llm_core.adapters.langgraph import to_langgraph_cache as to_langgraph_cache
    from llm_core.adapters.llamaindex import from_llamaindex_kvstore as from_llamaindex_kvstore
    from llm_core.adapters.llamaindex import to_llamaindex_kvstore as to_llamaindex_kvstore


def __getattr__(name: str) -> object:
    """Load a bridge function on first use (see ``_BRIDGES``)."""
    module = _BRIDGES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
