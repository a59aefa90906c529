"""llm-core: workflow runs that pause and resume later, with sessions in a pluggable TTL cache."""

from __future__ import annotations

from llm_core import errors
from llm_core.adapters import (
    AdapterBundle,
    Cache,
    CacheCapabilities,
    MemoryCache,
    SQLiteCache,
)

__version__ = "0.1.0"

__all__ = [
    "AdapterBundle",
    "Cache",
    "CacheCapabilities",
    "MemoryCache",
    "SQLiteCache",
    "__version__",
    "errors",
]
