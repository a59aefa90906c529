"""llm-core: workflow runs that pause and resume later, with sessions in a pluggable TTL cache."""

from __future__ import annotations

from llm_core import errors, recipes
from llm_core.cache import (
    AtomicCache,
    Cache,
    CacheCapabilities,
    MemoryCache,
    RedisCache,
    SQLiteCache,
    cache_from_url,
)
from llm_core.workflow import (
    AdapterBundle,
    Error,
    Ok,
    Outcome,
    Paused,
    Plugin,
    Runtime,
    Step,
    StepContext,
    Workflow,
)
from llm_core.sessions import ResumeSnapshot, SessionStore, session_store_from_cache

__version__ = "0.1.0"

__all__ = [
    "AdapterBundle",
    "AtomicCache",
    "Error",
    "Ok",
    "Outcome",
    "Paused",
    "Plugin",
    "ResumeSnapshot",
    "Runtime",
    "SessionStore",
    "Step",
    "StepContext",
    "Workflow",
    "recipes",
    "session_store_from_cache",
    "Cache",
    "CacheCapabilities",
    "MemoryCache",
    "RedisCache",
    "SQLiteCache",
    "cache_from_url",
    "__version__",
    "errors",
]
