"""The effects a flow asks its driver to perform, and the ``Blueprint`` a flow runs.

A flow (see :mod:`llm_core.workflow._core`) never calls a step, a hook or a store itself: it
yields one of these and receives the result (or has the exception thrown in) -- except the
operations of an in-process cache (``Blueprint.inline``), which it calls directly.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from llm_core.cache import AtomicCache
from llm_core.sessions._lifecycle import CacheOp, Keyspace
from llm_core.workflow.outcomes import Diagnostic, Outcome, TraceEvent
from llm_core.workflow.plugins import AdapterBundle, Hook
from llm_core.workflow.steps import Step, StepContext, StepFn

__all__ = ["Blueprint", "CacheOp", "CallHook", "CallStep", "Effect", "Flow", "Interrupted"]


class CallStep:
    """Effect: call ``fn(ctx, state)``; send back its result (awaited if awaitable)."""

    __slots__ = ("ctx", "fn", "state")

    def __init__(self, fn: StepFn, ctx: StepContext, state: dict[str, Any]) -> None:
        self.fn, self.ctx, self.state = fn, ctx, state


class CallHook:
    """Effect: call ``fn(event)``; await it if it returns an awaitable."""

    __slots__ = ("event", "fn")

    def __init__(self, fn: Hook, event: TraceEvent) -> None:
        self.fn, self.event = fn, event


class Interrupted(BaseException):
    """Thrown into a flow at a cache operation that completed although the call was cancelled or
    interrupted meanwhile: ``value`` is what it returned, ``cause`` the interruption."""

    def __init__(self, cause: BaseException, value: Any) -> None:
        super().__init__(cause)
        self.cause, self.value = cause, value


Effect: TypeAlias = CallStep | CallHook | CacheOp
Flow: TypeAlias = Generator[Effect, Any, Outcome]


@dataclass(frozen=True, slots=True)
class Blueprint:
    """What a runtime runs: composed steps, hooks and adapters plus its options."""

    recipe: str
    steps: tuple[Step, ...]
    index: Mapping[str, int]
    adapters: AdapterBundle
    hooks: Mapping[str, tuple[Hook, ...]]
    session_ttl: float
    clock: Callable[[], float]
    strict: bool
    diagnostics: tuple[Diagnostic, ...]
    space: Keyspace
    lease_ttl: float
    result_ttl: float
    room: Callable[[], bool] | None = None  # False when the cache would evict to store a pause
    inline: AtomicCache | None = None
    """The session cache when the flows call it directly instead of yielding a ``CacheOp``: a
    ``MemoryCache``, whose operations are in-process, never block and never await (its async
    faces run the same code), so there is nothing for a driver to perform, await or guard."""


# --- results inside a call ---------------------------------------------------------------
