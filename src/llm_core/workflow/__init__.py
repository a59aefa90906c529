"""The workflow runtime: steps, plugins, runs that pause and resume, outcomes, sessions.

See ``docs/workflow.md``.  The run/resume logic lives once in :mod:`._core` (sans-I/O); the
sync and async faces of :class:`Runtime` are thin drivers over it (:mod:`._drivers`).
"""

from __future__ import annotations

from llm_core.workflow.builder import (
    BuildOptions,
    RecipeFactory,
    Workflow,
    recipe_names,
    register_recipe,
)
from llm_core.workflow.models import ChatModel, ChatReply, ToolCall
from llm_core.workflow.outcomes import (
    EVENT_NAMES,
    Diagnostic,
    Error,
    Ok,
    Outcome,
    Paused,
    TraceEvent,
)
from llm_core.workflow.plugins import AdapterBundle, Hook, KVStore, Plugin, Storage
from llm_core.workflow.runtime import (
    DEFAULT_LEASE_TTL,
    DEFAULT_RESULT_TTL,
    DEFAULT_SESSION_TTL,
    Runtime,
)
from llm_core.workflow.steps import PauseRequest, Step, StepContext

__all__ = [
    "DEFAULT_LEASE_TTL",
    "DEFAULT_RESULT_TTL",
    "DEFAULT_SESSION_TTL",
    "EVENT_NAMES",
    "AdapterBundle",
    "BuildOptions",
    "ChatModel",
    "ChatReply",
    "Diagnostic",
    "Error",
    "Hook",
    "KVStore",
    "Ok",
    "Outcome",
    "PauseRequest",
    "Paused",
    "Plugin",
    "RecipeFactory",
    "Runtime",
    "Step",
    "Storage",
    "StepContext",
    "ToolCall",
    "TraceEvent",
    "Workflow",
    "recipe_names",
    "register_recipe",
]
