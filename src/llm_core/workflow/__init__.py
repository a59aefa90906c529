"""The workflow runtime: steps, plugins, runs that pause and resume, outcomes, sessions.

See ``docs/workflow.md``.  The run/resume logic lives once in :mod:`.core` (sans-I/O); the
sync and async faces of :class:`Runtime` are thin drivers over it (:mod:`.drivers`).
"""

from __future__ import annotations

from llm_core.workflow.builder import (
    BuildOptions,
    RecipeFactory,
    Workflow,
    recipe_names,
    register_recipe,
)
from llm_core.workflow.outcomes import (
    EVENT_NAMES,
    Diagnostic,
    Error,
    Ok,
    Outcome,
    Paused,
    TraceEvent,
)
from llm_core.workflow.plugins import Hook, Plugin
from llm_core.workflow.runtime import DEFAULT_SESSION_TTL, Runtime
from llm_core.workflow.session import (
    SESSION_KEY_PREFIX,
    CacheSessionStore,
    ListableCacheSessionStore,
    ListableSessionStore,
    ResumeSnapshot,
    SessionStore,
    session_store_from_cache,
)
from llm_core.workflow.steps import PauseRequest, Step, StepContext

__all__ = [
    "DEFAULT_SESSION_TTL",
    "EVENT_NAMES",
    "SESSION_KEY_PREFIX",
    "BuildOptions",
    "CacheSessionStore",
    "Diagnostic",
    "Error",
    "Hook",
    "ListableCacheSessionStore",
    "ListableSessionStore",
    "Ok",
    "Outcome",
    "PauseRequest",
    "Paused",
    "Plugin",
    "RecipeFactory",
    "ResumeSnapshot",
    "Runtime",
    "SessionStore",
    "Step",
    "StepContext",
    "TraceEvent",
    "Workflow",
    "recipe_names",
    "register_recipe",
    "session_store_from_cache",
]
