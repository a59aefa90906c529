"""The run/resume logic, written once, as generators that *ask* for effects (sans-I/O).

``run_flow`` and ``resume_flow`` yield ``CallStep`` / ``CallHook`` / ``StoreOp`` effects and
return an ``Outcome``.  They never call a step, a hook or a store themselves: the sync and async
drivers in :mod:`llm_core.workflow._drivers` perform each effect and send the result back (or
throw its exception in).  So both faces run the same logic, as h11/httpcore do.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from llm_core.errors import (
    CacheUnavailableError,
    InvalidInputError,
    InvalidResumeInputError,
    InvalidSnapshotError,
    InvalidTokenError,
    SessionExpiredError,
    SessionNotFoundError,
    SnapshotSerializationError,
    WorkflowError,
)
from llm_core.workflow._invocation import Invocation, Done, Fail, Pause, Result, copy_json, restore
from llm_core.workflow._effects import CallStep, Effect, Flow, Interrupted, Blueprint, StoreOp
from llm_core.sessions._store import ResumeSnapshot
from llm_core.workflow.steps import PauseRequest, StepContext
from llm_core.sessions._tokens import describe_token_shape, mint_token, token_expiry

__all__ = ["execute", "resume_flow", "run_flow"]


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
        result = yield from execute(call, state, 0, None, False)
    except Fail as fail:
        result = fail
    return (yield from call.finish(result))


def resume_flow(plan: Blueprint, token: object, resume_input: Any) -> Flow:
    """Resume the session ``token`` names: claim it, re-run its paused step, continue."""
    call = Invocation(plan)
    result: Result
    snapshot: ResumeSnapshot | None = None
    try:
        yield from call.start({"resume": True})
        resume_input = _copied_resume_input(resume_input)
        token_str, stamp = _parse_token(token)
        try:
            snapshot = yield StoreOp("take", (token_str,))
        except Interrupted as stop:  # the take claimed it, but the call was cancelled meanwhile
            if stop.value is not None:
                fail = Fail(stop.cause, "interrupted", "session", "interrupted")
                yield from restore(call, stop.value, fail)
            raise stop.cause from None
        except CacheUnavailableError as exc:
            raise Fail(exc, "cache_unavailable", "adapter", "cache.unavailable") from None
        except InvalidSnapshotError as exc:
            raise Fail(exc, "session_invalid", "session", "session.corrupt") from None
        except Exception as exc:
            raise Fail(exc, "cache_error", "adapter", "cache.error") from None
        now = plan.clock()
        if snapshot is None:
            if now > stamp:
                raise _expired(stamp, token_str)
            raise Fail(
                SessionNotFoundError(
                    "no pending session for this token: it was already resumed (a token resumes "
                    "exactly once) or was never stored in this runtime's cache"
                ),
                "session_not_found",
                "session",
                "session.not_found",
                token=token_str,
            )
        if now > snapshot.expires_at:
            raise _expired(snapshot.expires_at, token_str)
        index = plan.index.get(snapshot.step) if snapshot.recipe == plan.recipe else None
        if index is None:
            fail = _mismatch(plan, snapshot)
            yield from restore(call, snapshot, fail)
            raise fail
        try:
            result = yield from execute(call, copy_json(snapshot.state), index, resume_input, True)
        except Fail as fail:
            yield from restore(call, snapshot, fail)
            raise
        except GeneratorExit:  # the flow was closed: nothing can be performed any more
            raise
        except BaseException as exc:  # cancelled or interrupted mid-step: put it back, re-raise
            yield from restore(call, snapshot, Fail(exc, "interrupted", "session", "interrupted"))
            raise
    except Fail as fail:
        result = fail
    return (yield from call.finish(result, snapshot if type(result) is not Fail else None))


def execute(
    call: Invocation,
    state: dict[str, Any],
    start: int,
    resume_input: Any,
    resumed: bool,
) -> Generator[Effect, Any, Done | Pause]:
    """Run the steps from ``start``; the first one gets the resume input if ``resumed``."""
    plan = call.plan
    steps, recipe, adapters, hooks, event = (
        plan.steps,
        plan.recipe,
        plan.adapters,
        call.hooks,
        call.event,
    )
    for i in range(start, len(steps)):
        step = steps[i]
        name = step.name
        if resumed and i == start:
            ctx = StepContext(name, recipe, adapters, resume_input, True)
        else:
            ctx = StepContext(name, recipe, adapters)
        ev = event("step.start", name)
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
        ev = event("step.end", name, _OK)
        if hooks:
            yield from call.run_hooks(ev)
    return Done(state)


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
    """Mint a token, store the snapshot; only a stored snapshot makes a ``Paused``."""
    plan = call.plan
    now = plan.clock()
    ttl = plan.session_ttl
    expires_at = now + ttl
    token = mint_token(expires_at)
    snapshot = ResumeSnapshot(
        token, request.kind, now, now, expires_at, plan.recipe, step, state, request.payload
    )
    try:
        yield StoreOp("set", (token, snapshot, ttl))
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
    return Pause(token, request.kind, expires_at, request.payload)


def _copied_resume_input(resume_input: Any) -> Any:
    try:
        return copy_json(resume_input)
    except Exception as exc:
        raise Fail(
            InvalidResumeInputError(f"the resume input cannot be copied: {exc}"),
            "invalid_resume_input",
            "resume",
            "resume.invalid_input",
        ) from None


def _parse_token(token: object) -> tuple[str, float]:
    kind = type(token)
    if kind is not str and kind is not int:
        raise Fail(
            InvalidTokenError(
                f"a resume token is a str (or int), got {kind.__name__}; pass Paused.token"
            ),
            "invalid_token",
            "resume",
            "resume.invalid_token",
        )
    text = token if kind is str else str(token)
    assert isinstance(text, str)
    stamp = token_expiry(text)
    if stamp is None:
        raise Fail(
            InvalidTokenError(
                f"malformed resume token {text[:40]!r}: expected {describe_token_shape()}"
            ),
            "invalid_token",
            "resume",
            "resume.invalid_token",
        )
    return text, stamp


def _expired(expires_at: float, token: str) -> Fail:
    try:
        when = datetime.fromtimestamp(expires_at, UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):  # a clock far from the epoch's range
        when = f"{expires_at:.3f} s on the runtime's clock"
    return Fail(
        SessionExpiredError(f"the session expired at {when} (its TTL has passed); start a new run"),
        "session_expired",
        "session",
        "session.expired",
        token=token,
        expires_at=expires_at,
    )


def _mismatch(plan: Blueprint, snapshot: ResumeSnapshot) -> Fail:
    if snapshot.recipe != plan.recipe:
        return Fail(
            WorkflowError(
                f"this token belongs to recipe {snapshot.recipe!r}; this runtime runs "
                f"{plan.recipe!r} — resume it with a {snapshot.recipe!r} runtime"
            ),
            "session_invalid",
            "session",
            "session.recipe_mismatch",
            recipe=snapshot.recipe,
        )
    return Fail(
        WorkflowError(
            f"the session paused at step {snapshot.step!r}, which recipe {plan.recipe!r} no "
            f"longer has; steps: {[s.name for s in plan.steps]}"
        ),
        "session_invalid",
        "session",
        "session.unknown_step",
        step=snapshot.step,
    )
