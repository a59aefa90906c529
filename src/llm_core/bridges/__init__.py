"""Bridges between llm-core's ``Cache`` and the ecosystem's caches and stores, both directions.

``from_*`` wraps their cache or store as our ``Cache``; ``to_*`` exposes one of ours as theirs.
Each bridge imports its framework only when first used, so ``import llm_core.bridges`` works
with no extra installed; a missing extra is a ``MissingDependencyError`` naming it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = [
    "aresume_once",
    "from_langchain_cache",
    "from_langgraph_cache",
    "from_llamaindex_kvstore",
    "resume_once",
    "to_langchain_cache",
    "to_langgraph_cache",
    "to_langgraph_checkpointer",
    "to_llamaindex_kvstore",
]

# The ecosystem bridges import their framework, so they load only when one of these names is
# first used: ``from llm_core.bridges import to_langgraph_cache`` needs LangGraph, ``import
# llm_core`` does not.  (``from llm_core.bridges.langgraph import ...`` works the same.)
_BRIDGES = {
    "from_langgraph_cache": "langgraph",
    "to_langgraph_cache": "langgraph",
    "from_langchain_cache": "langchain",
    "to_langchain_cache": "langchain",
    "from_llamaindex_kvstore": "llamaindex",
    "to_llamaindex_kvstore": "llamaindex",
    "to_langgraph_checkpointer": "checkpointer",
    "resume_once": "checkpointer",
    "aresume_once": "checkpointer",
}


if TYPE_CHECKING:  # type checkers see the real signatures; at run time __getattr__ loads them
    from llm_core.bridges.checkpointer import aresume_once as aresume_once
    from llm_core.bridges.checkpointer import resume_once as resume_once
    from llm_core.bridges.checkpointer import (
        to_langgraph_checkpointer as to_langgraph_checkpointer,
    )
    from llm_core.bridges.langchain import from_langchain_cache as from_langchain_cache
    from llm_core.bridges.langchain import to_langchain_cache as to_langchain_cache
    from llm_core.bridges.langgraph import from_langgraph_cache as from_langgraph_cache
    from llm_core.bridges.langgraph import to_langgraph_cache as to_langgraph_cache
    from llm_core.bridges.llamaindex import from_llamaindex_kvstore as from_llamaindex_kvstore
    from llm_core.bridges.llamaindex import to_llamaindex_kvstore as to_llamaindex_kvstore


def __getattr__(name: str) -> object:
    """Load a bridge function on first use (see ``_BRIDGES``)."""
    module = _BRIDGES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
