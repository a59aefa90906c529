"""Resume and its session steps, as a sans-I/O flow (see :mod:`._core`): read the record,
check the input against what the pause expects, claim it with a lease, re-run the paused step,
then commit or release (:mod:`._settle`)."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

from llm_core.errors import (
    CacheUnavailableError,
    InvalidResumeInputError,
    InvalidSnapshotError,
    InvalidTokenError,
    SessionAlreadyResumedError,
    SessionBusyError,
    SessionCancelledError,
    SessionExpiredError,
    SessionNotFoundError,
    WorkflowError,
)
from llm_core.sessions import (
    CacheOp,
    Claim,
    Record,
    ResumeSnapshot,
    cas,
    cas_now,
    describe_token_shape,
    schema_errors,
    token_expiry,
)
from llm_core.sessions._tokens import is_token
from llm_core.workflow._core import execute
from llm_core.workflow._effects import Blueprint, Effect, Flow, Interrupted
from llm_core.workflow._invocation import (
    Done,
    Fail,
    Invocation,
    Pause,
    Result,
    UniqueIds,
    copy_json,
)
from llm_core.workflow._settle import Settlement

__all__ = ["resume_flow"]

_new = tuple.__new__  # a Claim from all its fields, skipping NamedTuple's __new__


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
        request = None if request_id is None else _check_request_id(request_id)
        token_str = _parse_token(token)
        key, inline = plan.space.key(token_str), plan.inline
        try:  # (what _read does, inline on this hot path)
            data = inline.get(key) if inline is not None else (yield CacheOp("get", (key,)))
        except Exception as exc:
            raise _cache_failed(exc) from None
        record = None if data is None else _parsed(plan, key, token_str, data)
        now = plan.clock()
        if record is None:
            raise _missing(now, token_str)
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
    """The record of ``token`` (``None``: absent or expired), verified and parsed."""
    key, inline = plan.space.key(token), plan.inline
    try:
        data = inline.get(key) if inline is not None else (yield CacheOp("get", (key,)))
    except Exception as exc:
        raise _cache_failed(exc) from None
    return None if data is None else _parsed(plan, key, token, data)


def _parsed(plan: Blueprint, key: str, token: str, data: object) -> Record:
    try:
        return plan.space.parse(key, token, data)
    except InvalidSnapshotError as exc:
        raise Fail(
            exc, "session_invalid", "session", "session.corrupt", token=token, resumable=False
        ) from None
    except Exception as exc:
        raise Fail(exc, "cache_error", "adapter", "cache.error") from None


def _cache_failed(exc: Exception) -> Fail:
    if isinstance(exc, CacheUnavailableError):
        return Fail(exc, "cache_unavailable", "adapter", "cache.unavailable")
    return Fail(exc, "cache_error", "adapter", "cache.error")


def _claim(
    plan: Blueprint, record: Record, now: float, request: str | None
) -> Generator[Effect, Any, Settlement]:
    """Claim ``record`` with a fresh lease by compare-and-set; ``session_busy`` if another
    resume got there first."""
    snapshot = record.snapshot
    assert snapshot is not None
    claim = _new(Claim, (_claim_id(), now + plan.lease_ttl, request))
    held = plan.space.claim(record, claim)
    ttl = max(snapshot.expires_at - now, plan.lease_ttl) + 1.0
    settle = Settlement(plan, held, claim)
    try:
        if plan.inline is not None:
            won = cas_now(plan.inline, record.key, record.raw, held.raw, ttl)
        else:
            won = yield from cas(record.key, record.raw, held.raw, ttl)
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


def _missing(now: float, token: str) -> Fail:
    """Nothing stored for ``token``: expired if its expiry (carried in it) has passed."""
    stamp = token_expiry(token)
    assert stamp is not None  # (checked by _parse_token)
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


_claim_id = UniqueIds(9)
"""A fresh claim id: unique across processes and hosts, not secret (it is stored in the record)."""


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


def _parse_token(token: object) -> str:
    """The token as a str, checked to have a token's shape (``invalid_token`` otherwise)."""
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
    if not is_token(text):
        raise Fail(
            InvalidTokenError(
                f"malformed resume token {text[:40]!r}: expected {describe_token_shape()}"
            ),
            "invalid_token",
            "resume",
            "resume.invalid_token",
        )
    return text


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
