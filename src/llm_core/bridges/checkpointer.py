"""A LangGraph checkpointer on any llm-core cache (needs ``pip install 'llm-core[langgraph]'``).

``builder.compile(checkpointer=to_langgraph_checkpointer(cache, ttl=3600))`` keeps each thread's
checkpoints, pending writes and metadata in *one* entry of ``cache`` (memory, SQLite, Redis ...),
changed by the cache's atomic compare-and-set: the thread expires whole, ``ttl`` seconds after
its last write (or read, with ``refresh_on_read``).  Stored values are read through an allow-list
(never unpickled, no name taken from stored bytes imported); ``EncryptedSerializer`` works.

:func:`resume_once` resumes a thread's pending ``interrupt()`` so that, of several workers
resuming one thread, exactly one runs it; an expired thread and an unknown one are distinct
errors.
"""

from __future__ import annotations

from llm_core.errors import MissingDependencyError

try:
    from llm_core.bridges._checkpointer import LlmCoreCheckpointSaver, to_langgraph_checkpointer
    from llm_core.bridges._resume import (
        InterruptBusyError,
        NoPendingInterruptError,
        ThreadExpiredError,
        ThreadNotFoundError,
        aresume_once,
        resume_once,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    if getattr(exc, "name", "") and str(exc.name).startswith("llm_core"):
        raise
    raise MissingDependencyError("the LangGraph checkpointer", "langgraph", "langgraph") from exc

__all__ = [
    "InterruptBusyError",
    "LlmCoreCheckpointSaver",
    "NoPendingInterruptError",
    "ThreadExpiredError",
    "ThreadNotFoundError",
    "aresume_once",
    "resume_once",
    "to_langgraph_checkpointer",
]
