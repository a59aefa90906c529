"""The run/resume logic, written once, as generators that *ask* for effects (sans-I/O).

``run_flow`` and ``resume_flow`` yield ``CallStep`` / ``CallHook`` / ``CacheOp`` effects and
return an ``Outcome``.  They never call a step, a hook or a cache themselves: the sync and async
drivers in :mod:`llm_core.workflow._drivers` perform each effect and send the result back (or
throw its exception in).  So both faces run the same logic, as h11/httpcore do.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Generator, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from llm_core.errors import (
    CacheUnavailableError,
    InvalidInputError,
    InvalidResumeInputError,
    InvalidSnapshotError,
    InvalidTokenError,
    SessionAlreadyResumedError,
    SessionBusyError,
    SessionCancelledError,
    SessionExpiredError,
    SessionNotFoundError,
    SessionStoreFullError,
    SnapshotSerializationError,
    WorkflowError,
)
from llm_core.sessions import (
    CacheOp,
    Claim,
    Record,
    ResumeSnapshot,
    cas,
    describe_token_shape,
    mint_token,
    schema_errors,
    token_expiry,
)
from llm_core.workflow._effects import Blueprint, CallStep, Effect, Flow, Interrupted
from llm_core.workflow._invocation import Done, Fail, Invocation, Pause, Result, copy_json
from llm_core.workflow._settle import Settlement
from llm_core.workflow.steps import PauseRequest, StepContext

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
        result = yield from execute(call, state, 0, None, False, secrets.token_hex(8))
    except Fail as fail:
        result = fail
    return (yield from call.finish(result))


def resume_flow(
    plan: Blueprint, token: object, resume_input: Any, request_id: object = None
) -> Flow:
    """Resume the session ``token`` names: read it, check the input against what the pause
    expects, claim it with a lease, re-run its paused step, then commit or release."""
    call = Invocation(plan, resumed=True)
    result: Result
    settle: Settlement | None = None
    try:
        yield from call.start({"resume": True})
        resume_input = _copied_resume_input(resume_input)
        request = _check_request_id(request_id)
        token_str, stamp = _parse_token(token)
        record = yield from _read(plan, token_str)
        now = plan.clock()
        if record is None:
            raise _missing(now, stamp, token_str)
        if record.status in ("completed", "cancelled"):
            replay = _finished(record, request)
            return (yield from call.finish(replay, None, replayed=True))
        snapshot = record.snapshot
        assert snapshot is not None
        if record.claim is not None and record.claim.until > now:
            raise _busy(record.claim, now, token_str)
        if now > snapshot.expires_at:
            raise _expired(snapshot.expires_at, token_str)
        index = plan.index.get(snapshot.step) if snapshot.recipe == plan.recipe else None
        if index is None:
            raise _mismatch(plan, snapshot)
        if snapshot.expects is not None:
            try:
                problems = schema_errors(snapshot.expects, resume_input)
            except InvalidSnapshotError as exc:
                raise Fail(
                    exc, "session_invalid", "session", "session.corrupt", token=token_str
                ) from None
            if problems:
                raise Fail(
                    InvalidResumeInputError(
                        "the resume input does not match what the pause expects: "
                        + "; ".join(problems)
                    ),
                    "invalid_resume_input",
                    "resume",
                    "resume.invalid_input",
                    snapshot.step,
                    problems=problems,
                    resumable=True,
                    token=token_str,
                )
        settle = yield from _claim(plan, record, now, request)
        state = snapshot.state  # decoded from storage just now: already this call's own copy
        try:
            result = yield from execute(call, state, index, resume_input, True, token_str)
        except Fail as fail:
            yield from settle.release(call.diagnostics, fail.data)
            raise
        except GeneratorExit:  # the flow was closed: nothing can be performed any more
            raise
        except BaseException as exc:  # cancelled or interrupted mid-step: release, re-raise
            yield from settle.release(call.diagnostics, {})
            raise exc from None
    except Fail as fail:
        result, settle = fail, None
    return (yield from call.finish(result, settle))


def _read(plan: Blueprint, token: str) -> Generator[Effect, Any, Record | None]:
    space = plan.space
    key = space.key(token)
    try:
        data = yield CacheOp("get", (key,))
        return None if data is None else space.parse(key, token, data)
    except CacheUnavailableError as exc:
        raise Fail(exc, "cache_unavailable", "adapter", "cache.unavailable") from None
    except InvalidSnapshotError as exc:
        raise Fail(
            exc, "session_invalid", "session", "session.corrupt", token=token, resumable=False
        ) from None
    except Exception as exc:
        raise Fail(exc, "cache_error", "adapter", "cache.error") from None


def _claim(
    plan: Blueprint, record: Record, now: float, request: str | None
) -> Generator[Effect, Any, Settlement]:
    """Claim ``record`` with a fresh lease by compare-and-set; ``session_busy`` if another
    resume got there first."""
    snapshot = record.snapshot
    assert snapshot is not None
    claim = Claim(_claim_id(), now + plan.lease_ttl, request)
    claimed = plan.space.claimed(record, claim)
    ttl = max(snapshot.expires_at - now, plan.lease_ttl) + 1.0
    held = Record(
        record.key,
        record.token,
        claimed,
        "claimed",
        record.attempts + 1,
        snapshot,
        record.snapshot_text,
        claim,
    )
    settle = Settlement(plan, held, claim)
    try:
        won = yield from cas(record.key, record.raw, claimed, ttl)
    except Interrupted as stop:  # the claim may have landed: give it back before going on
        yield from settle.release([], {})
        raise stop.cause from None
    except CacheUnavailableError as exc:
        raise Fail(exc, "cache_unavailable", "adapter", "cache.unavailable") from None
    except Exception as exc:
        raise Fail(exc, "cache_error", "adapter", "cache.error") from None
    if not won:
        raise Fail(
            SessionBusyError("another resume claimed this session first"),
            "session_busy",
            "session",
            "session.busy",
            token=record.token,
        )
    return settle


def _finished(record: Record, request: str | None) -> Done | Pause:
    """The recorded outcome, for a repeat of the request that completed the session."""
    outcome = record.outcome or {}
    if record.status == "cancelled":
        raise Fail(
            SessionCancelledError("the session was cancelled; start a new run"),
            "session_cancelled",
            "session",
            "session.cancelled",
            token=record.token,
        )
    if request is None or record.request_id != request or outcome.get("type") == "unrecorded":
        raise Fail(
            SessionAlreadyResumedError(
                "this session was already resumed (a token completes exactly once); repeat "
                "the same request_id to get its outcome again"
            ),
            "session_already_resumed",
            "session",
            "session.already_resumed",
            token=record.token,
        )
    if outcome.get("type") == "paused":
        try:
            return Pause(
                str(outcome["token"]),
                str(outcome["pause_kind"]),
                float(outcome["expires_at"]),
                outcome.get("payload"),
                outcome.get("expects") if isinstance(outcome.get("expects"), dict) else None,
            )
        except (KeyError, TypeError, ValueError):
            pass
    elif outcome.get("type") == "ok":
        return Done(outcome.get("artefact"))
    raise Fail(
        InvalidSnapshotError("the recorded outcome of this session is malformed"),
        "session_invalid",
        "session",
        "session.corrupt",
        token=record.token,
    )


def _missing(now: float, stamp: float, token: str) -> Fail:
    """Nothing stored for ``token``: expired if its expiry (carried in it) has passed."""
    if now > stamp:
        return _expired(stamp, token)
    return Fail(
        SessionNotFoundError(
            "no session for this token: it was never stored in this runtime's cache, "
            "or it finished longer ago than the runtime keeps results"
        ),
        "session_not_found",
        "session",
        "session.not_found",
        token=token,
    )


def _busy(claim: Claim, now: float, token: str) -> Fail:
    return Fail(
        SessionBusyError(
            "another resume is running this session (its lease ends in "
            f"{max(claim.until - now, 0):.0f} s); retry later"
        ),
        "session_busy",
        "session",
        "session.busy",
        token=token,
        retry_after=claim.until,
    )


_claim_ids: dict[int, Iterator[int]] = {}
_claim_prefix: dict[int, str] = {}


def _claim_id() -> str:
    """A claim id unique across processes and hosts: a random prefix drawn once per process
    (per pid, so a forked child draws its own) and a counter.  Unique, not secret."""
    pid = os.getpid()
    counter = _claim_ids.get(pid)
    if counter is None:
        _claim_prefix[pid] = secrets.token_urlsafe(9)
        counter = _claim_ids[pid] = itertools.count()
    return f"{_claim_prefix[pid]}.{next(counter)}"


def _check_request_id(request_id: object) -> str | None:
    if request_id is None:
        return None
    if type(request_id) is str and 0 < len(request_id) <= 200 and request_id.isprintable():
        return request_id
    raise Fail(
        InvalidResumeInputError(
            "request_id must be a printable str of 1-200 characters (e.g. a UUID)"
        ),
        "invalid_resume_input",
        "resume",
        "resume.invalid_request_id",
    )


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
            ctx = StepContext(name, recipe, adapters, resume_input, True, run_id)
        else:
            ctx = StepContext(name, recipe, adapters, None, False, run_id)
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
    snapshot = ResumeSnapshot(
        token,
        request.kind,
        now,
        now,
        expires_at,
        plan.recipe,
        step,
        state,
        request.payload,
        request.expects,
    )
    key = plan.space.key(token)
    try:
        space = plan.space
        data = space.pending(key, snapshot.to_json_text(space.sealer, key, space.types))
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
            token=snapshot.token,
            resumable=True,
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
        token=snapshot.token,
    )
