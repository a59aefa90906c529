"""The cache layer: the ``Cache`` contract, its validation, and the backends.

``MemoryCache`` (in-process), ``SQLiteCache`` (a file, shared by the processes of one host),
``RedisCache`` and ``PostgresCache`` (shared by hosts) and :func:`cache_from_url`.  Third-party
backends check their inputs with :func:`check_key`, :func:`check_ttl` and :func:`check_value`
and prove themselves with :class:`llm_core.cache.testing.CacheConformance`.  Nothing here
imports a layer above.
"""

from __future__ import annotations

from llm_core.cache._contract import (
    AtomicCache,
    Cache,
    CacheCapabilities,
    IndexedCache,
    IndexedEntry,
    Labeler,
    Labels,
    ListableCache,
    TTLSupport,
    capabilities_of,
)
from llm_core.cache._memory import MemoryCache
from llm_core.cache._sqlite import SQLiteCache
from llm_core.cache._url import cache_from_url
from llm_core.cache._validation import MAX_KEY_BYTES, check_key, check_ttl, check_value
from llm_core.cache.postgres import PostgresCache
from llm_core.cache.redis import RedisCache

__all__ = [
    "MAX_KEY_BYTES",
    "AtomicCache",
    "Cache",
    "CacheCapabilities",
    "IndexedCache",
    "IndexedEntry",
    "Labeler",
    "Labels",
    "ListableCache",
    "MemoryCache",
    "PostgresCache",
    "RedisCache",
    "SQLiteCache",
    "TTLSupport",
    "cache_from_url",
    "capabilities_of",
    "check_key",
    "check_ttl",
    "check_value",
]
