"""Cancelling a pending session, as a flow of cache operations (sans-I/O, like resume)."""

from __future__ import annotations

from typing import Any

from llm_core.cache import AtomicCache
from llm_core.errors import SessionAlreadyResumedError
from llm_core.sessions import cas, cas_now
from llm_core.workflow._effects import Blueprint, Flow
from llm_core.workflow._invocation import Done, Fail, Invocation, Result
from llm_core.workflow._resume import _busy, _expired, _missing, _parse_token, _read

__all__ = ["cancel_flow"]


def cancel_flow(plan: Blueprint, token: object) -> Flow:
    """Move a pending session to ``cancelled`` by compare-and-set; its record stays for
    ``result_ttl`` so a later resume says ``session_cancelled``."""
    call = Invocation(plan)
    result: Result
    try:
        yield from call.start({"cancel": True})
        token_str = _parse_token(token)
        record = yield from _read(plan, token_str)
        now = plan.clock()
        if record is None:
            raise _missing(now, token_str)
        if record.status == "cancelled":
            result = Done({"token": token_str, "status": "cancelled"})  # already: idempotent
        elif record.status == "completed":
            raise Fail(
                SessionAlreadyResumedError(
                    "the session was already resumed; it cannot be cancelled"
                ),
                "session_already_resumed",
                "session",
                "session.already_resumed",
            )
        else:
            if record.claim is not None and record.claim.until > now:
                raise _busy(record.claim, now, token_str)
            snapshot = record.snapshot
            if snapshot is not None and now > snapshot.expires_at:
                raise _expired(snapshot.expires_at, token_str)
            cancelled = plan.space.cancelled(record, now)
            swap = _swap(record.key, record.raw, cancelled, plan.result_ttl, plan.inline)
            if not (yield from swap):
                raise _busy_now(token_str)
            result = Done({"token": token_str, "status": "cancelled"})
    except Fail as fail:
        result = fail
    return (yield from call.finish(result))


def _swap(key: str, expected: bytes, new: bytes, ttl: float, inline: AtomicCache | None) -> Any:
    try:
        if inline is not None:
            return cas_now(inline, key, expected, new, ttl)
        return (yield from cas(key, expected, new, ttl))
    except Exception as exc:
        raise Fail(exc, "cache_unavailable", "adapter", "cache.unavailable") from None


def _busy_now(token: str) -> Fail:
    from llm_core.errors import SessionBusyError

    return Fail(
        SessionBusyError("a resume claimed the session while it was being cancelled"),
        "session_busy",
        "session",
        "session.busy",
        token=token,
    )
