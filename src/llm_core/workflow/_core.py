"""The run/resume logic, written once, as generators that *ask* for effects (sans-I/O).

``run_flow`` here and ``resume_flow`` (:mod:`._resume`) yield ``CallStep`` / ``CallHook`` /
``CacheOp`` effects and return an ``Outcome``; both run their steps with :func:`execute`.
They never call a step, a hook or a cache themselves: the sync and async drivers in
:mod:`llm_core.workflow._drivers` perform each effect and send the result back (or throw its
exception in).  So both faces run the same logic, as h11/httpcore do.  The one exception is an
in-process cache (``Blueprint.inline``, a ``MemoryCache``): it never blocks or awaits, so the
flows call it directly, where its exceptions arise just as a driver would throw them in.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from types import MappingProxyType
from typing import Any

from llm_core.errors import (
    CacheUnavailableError,
    InvalidInputError,
    InvalidResumeInputError,
    SessionStoreFullError,
    SnapshotSerializationError,
    WorkflowError,
)
from llm_core.sessions import CacheOp, mint_token
from llm_core.sessions._snapshot import new_snapshot
from llm_core.workflow._effects import Blueprint, CallStep, Effect, Flow, Interrupted
from llm_core.workflow._invocation import (
    Done,
    Fail,
    Invocation,
    Pause,
    Result,
    UniqueIds,
    copy_json,
)
from llm_core.workflow.outcomes import TraceEvent
from llm_core.workflow.steps import PauseRequest, StepContext

__all__ = ["execute", "run_flow"]

_run_id = UniqueIds(16)
"""A fresh run's id, which seeds its steps' ``ctx.idempotency_key`` (never stored or shown)."""


def run_flow(plan: Blueprint, value: Any) -> Flow:
    """A fresh run of ``plan`` with input ``value`` (a mapping, or anything as ``{"input": …}``)."""
    call = Invocation(plan)
    result: Result
    try:
        yield from call.start(None)
        try:
            if isinstance(value, Mapping):
                state = copy_json(dict(value))
            else:
                state = {"input": copy_json(value)}
        except Exception as exc:
            raise Fail(
                InvalidInputError(f"the run input cannot be copied: {type(exc).__name__}: {exc}"),
                "invalid_input",
                "workflow",
                "input.invalid",
            ) from None
        result = yield from execute(call, state, 0, None, False, _run_id())
    except Fail as fail:
        result = fail
    return (yield from call.finish(result))


def execute(
    call: Invocation,
    state: dict[str, Any],
    start: int,
    resume_input: Any,
    resumed: bool,
    run_id: str,
) -> Generator[Effect, Any, Done | Pause]:
    """Run the steps from ``start``; the first one gets the resume input if ``resumed``.
    ``run_id`` seeds each step's ``ctx.idempotency_key`` (the token, on resume)."""
    plan = call.plan
    steps, recipe, adapters, hooks = plan.steps, plan.recipe, plan.adapters, call.hooks
    trace, clock = call.trace, call.clock
    for i in range(start, len(steps)):
        step = steps[i]
        name = step.name
        if resumed and i == start:
            ctx = StepContext(name, recipe, adapters, resume_input, True, run_id)
        else:
            ctx = StepContext(name, recipe, adapters, None, False, run_id)
        ev = _new(TraceEvent, ("step.start", clock(), name, None))  # as call.event does, inline
        trace.append(ev)
        if hooks:
            yield from call.run_hooks(ev)
        try:
            result = yield CallStep(step.fn, ctx, state)
        except InvalidResumeInputError as exc:
            yield from _step_end(call, name, "error")
            raise Fail(
                exc, "invalid_resume_input", "resume", "resume.invalid_input", name
            ) from None
        except InvalidInputError as exc:
            yield from _step_end(call, name, "error")
            raise Fail(exc, "invalid_input", "workflow", "input.invalid", name) from None
        except Exception as exc:
            yield from _step_end(call, name, "error")
            raise Fail(
                exc, "step_failed", "workflow", "step.failed", name, error_type=type(exc).__name__
            ) from None
        kind = type(result)
        if kind is PauseRequest:
            yield from _step_end(call, name, "paused")
            return (yield from _pause(call, name, state, result))
        if kind is not dict:
            if not isinstance(result, Mapping):
                yield from _step_end(call, name, "error")
                raise Fail(
                    WorkflowError(
                        f"step {name!r} returned {type(result).__name__}; a step returns the "
                        "new state (a dict) or ctx.pause(...)"
                    ),
                    "step_failed",
                    "workflow",
                    "step.invalid_result",
                    name,
                )
            result = dict(result)
        state = result
        ev = _new(TraceEvent, ("step.end", clock(), name, _OK))
        trace.append(ev)
        if hooks:
            yield from call.run_hooks(ev)
    return Done(state)


_new = tuple.__new__
# shared, read-only event data (a trace event's data is never copied on the hot path)
_OK = MappingProxyType({"status": "ok"})
_STATUS = {
    "paused": MappingProxyType({"status": "paused"}),
    "error": MappingProxyType({"status": "error"}),
}


def _step_end(call: Invocation, name: str, status: str) -> Generator[Effect, Any, None]:
    ev = call.event("step.end", name, _STATUS[status])
    if call.hooks:
        yield from call.run_hooks(ev)


def _pause(
    call: Invocation, step: str, state: dict[str, Any], request: PauseRequest
) -> Generator[Effect, Any, Pause]:
    """Mint a token, store the pending record; only a stored record makes a ``Paused``."""
    plan = call.plan
    if plan.room is not None and not plan.room():
        raise Fail(
            SessionStoreFullError(
                "the session cache is full: storing this pause would evict a pending session; "
                "raise max_entries or use SQLiteCache/RedisCache"
            ),
            "session_store_full",
            "session",
            "session.store_full",
            step,
        )
    now = plan.clock()
    ttl = plan.session_ttl
    expires_at = now + ttl
    token = mint_token(expires_at)
    snapshot = new_snapshot(
        token,
        request.kind,
        now,
        now,
        expires_at,
        plan.recipe,
        step,
        state if request.state is None else request.state,
        request.payload,
        request.expects,
    )
    key = plan.space.key(token)
    try:
        space = plan.space
        data = space.pending(key, snapshot.to_json_text(space.sealer, key, space.types))
        if plan.inline is not None:
            plan.inline.set(key, data, ttl)
        else:
            yield CacheOp("set", (key, data, ttl))
    except Interrupted as stop:  # stored, but the call was cancelled: it will not be reported
        yield from call._discard(token)
        raise stop.cause from None
    except SnapshotSerializationError as exc:
        raise Fail(
            exc, "snapshot_not_serializable", "session", "snapshot.not_serializable", step
        ) from None
    except CacheUnavailableError as exc:
        raise Fail(exc, "cache_unavailable", "adapter", "cache.unavailable", step) from None
    except Exception as exc:
        raise Fail(exc, "cache_error", "adapter", "cache.error", step) from None
    return Pause(token, request.kind, expires_at, request.payload, request.expects)
