"""Settling a claimed session: commit the outcome, or release the claim, by compare-and-set.

Only the claim holder settles, and only against the exact bytes of its own claim: if its lease
ran out and another resume took the session over, both writes find other bytes and do nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from llm_core._log import get_logger, log_diagnostic
from llm_core.errors import CacheUnavailableError, SessionBusyError
from llm_core.sessions import Claim, Record, cas, cas_now
from llm_core.workflow._effects import Blueprint, Effect, Interrupted
from llm_core.workflow._invocation import Done, Fail, Pause
from llm_core.workflow.outcomes import Diagnostic

__all__ = ["Settlement", "outcome_record"]

_logger = get_logger("sessions")


def outcome_record(result: Any) -> dict[str, Any]:
    """What a completion record keeps of an outcome, to replay it for the same request."""
    if isinstance(result, Pause):
        return {
            "type": "paused",
            "token": result.token,
            "pause_kind": result.kind,
            "expires_at": result.expires_at,
            "payload": result.payload,
            "expects": result.expects,
        }
    return {"type": "ok", "artefact": result.artefact}


class Settlement:
    """The claimed record of one resume and the two ways to end it."""

    __slots__ = ("claim", "plan", "record")

    def __init__(self, plan: Blueprint, record: Record, claim: Claim) -> None:
        self.plan, self.record, self.claim = plan, record, claim

    def release(
        self, diagnostics: list[Diagnostic], data: dict[str, Any]
    ) -> Generator[Effect, Any, None]:
        """Put the session back to pending (an ``Error`` outcome); sets ``data["resumable"]``."""
        plan, record = self.plan, self.record
        snapshot = record.snapshot
        assert snapshot is not None
        now = plan.clock()
        remaining = snapshot.expires_at - now
        data["token"] = record.token
        if remaining <= 0:  # expired meanwhile: nothing to give back
            data["resumable"] = False
            new: bytes | None = None
        else:
            new = plan.space.pending(record.key, record.snapshot_text, record.attempts)
        try:
            ttl = remaining if new else None
            if plan.inline is not None:
                released = cas_now(plan.inline, record.key, record.raw, new, ttl)
            else:
                released = yield from cas(record.key, record.raw, new, ttl)
        except Interrupted as stop:  # released (or not); the cancellation goes on
            data["resumable"] = bool(stop.value) and new is not None
            raise stop.cause from None
        except Exception as exc:
            data["resumable"] = False
            data["resumable_after"] = self.claim.until
            diagnostic = Diagnostic(
                "error",
                "session",
                "session.release_failed",
                "the session could not be released; it stays claimed until its lease runs "
                f"out ({self.claim.until - now:.0f} s), then it can be resumed: "
                f"{type(exc).__name__}: {exc}",
                {"token": record.token},
            )
            log_diagnostic(_logger, diagnostic, exc)
            diagnostics.append(diagnostic)
            return
        if new is not None:
            data["resumable"] = released
            if not released:
                _logger.warning("a claim expired before its release: the session moved on")

    def commit(
        self, result: Done | Pause, discard: Callable[[str], Generator[Effect, Any, None]]
    ) -> Generator[Effect, Any, Done | Pause | Fail]:
        """Record the outcome and complete the session: ``result`` itself once recorded, else a
        ``Fail``: ``session_busy`` if the lease was lost to another resume (a new pause is then
        deleted with ``discard``), ``cache_unavailable``/``cache_error`` if the cache did not
        answer."""
        plan, record, claim = self.plan, self.record, self.claim
        try:
            try:
                outcome = None if claim.request_id is None else outcome_record(result)  # replay
                data = plan.space.completed(record, claim, outcome, plan.clock())
                if plan.inline is not None:
                    done = cas_now(plan.inline, record.key, record.raw, data, plan.result_ttl)
                else:
                    done = yield from cas(record.key, record.raw, data, plan.result_ttl)
            except Interrupted as stop:
                raise stop.cause from None
        except Exception as exc:
            # Unknown whether the commit landed: keep any new pause (a replay may name it);
            # if it did not land, the claim runs out and the session can be resumed again.
            kind, code = (
                ("cache_unavailable", "cache.unavailable")
                if isinstance(exc, CacheUnavailableError)
                else ("cache_error", "cache.error")
            )
            return Fail(exc, kind, "adapter", code, token=record.token, resumable_after=claim.until)
        if done:
            return result
        if isinstance(result, Pause):
            yield from discard(result.token)
        return Fail(
            SessionBusyError(
                "this resume's lease ran out and another resume took the session over; its "
                "outcome stands and this one is discarded"
            ),
            "session_busy",
            "session",
            "session.lease_lost",
            token=record.token,
        )
