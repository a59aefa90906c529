"""llm-core: workflow runs that pause and resume later, with sessions in a pluggable TTL cache."""

from __future__ import annotations

import logging

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
from llm_core.sessions import ResumeSnapshot, SessionInfo, SessionStore
from llm_core.workflow import (
    AdapterBundle,
    ChatModel,
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

__version__ = "0.1.0"

# A library logs and lets the application decide where records go: nothing is printed until it
# configures logging (``logging.basicConfig()``, or a handler on the ``llm_core`` logger).
logging.getLogger("llm_core").addHandler(logging.NullHandler())

__all__ = [
    "AdapterBundle",
    "AtomicCache",
    "ChatModel",
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
    "SessionInfo",
    "Cache",
    "CacheCapabilities",
    "MemoryCache",
    "RedisCache",
    "SQLiteCache",
    "cache_from_url",
    "__version__",
    "errors",
]
