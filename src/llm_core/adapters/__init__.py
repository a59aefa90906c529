"""Adapters: the ``Cache`` contract, its validation, backends and ecosystem bridges.

Nothing here imports :mod:`llm_core.workflow`.  Optional backends and bridges import their
third-party package lazily, so this package imports with no extra installed.
"""

from __future__ import annotations

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
