"""Per-call bookkeeping shared by the flows: results, trace, hooks, diagnostics, outcomes.

``Invocation.finish`` is the one place a call becomes a frozen ``Ok``/``Paused``/``Error``; ``Fail``
is the internal exception that unwinds a flow to an ``Error``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Generator
from dataclasses import replace
from typing import Any, TypeAlias

from llm_core._log import get_logger, log_diagnostic
from llm_core.errors import WorkflowError
from llm_core.sessions._store import ResumeSnapshot
from llm_core.workflow._effects import Blueprint, CallHook, Effect, Interrupted, StoreOp
from llm_core.workflow.outcomes import Diagnostic, DiagnosticKind, Error, Ok, Outcome, Paused
from llm_core.workflow.outcomes import TraceEvent as _Event

__all__ = ["Invocation", "Done", "Fail", "Pause", "Result", "copy_json", "restore"]


class Done:
    __slots__ = ("artefact",)

    def __init__(self, artefact: Any) -> None:
        self.artefact = artefact


class Pause:
    __slots__ = ("expires_at", "kind", "payload", "token")

    def __init__(self, token: str, kind: str, expires_at: float, payload: Any) -> None:
        self.token, self.kind, self.expires_at, self.payload = token, kind, expires_at, payload


class Fail(Exception):
    """Unwinds a call to an ``Error`` outcome (internal control flow, never escapes)."""

    def __init__(
        self,
        error: BaseException,
        kind: str,
        dkind: DiagnosticKind,
        code: str,
        step: str | None = None,
        **data: Any,
    ) -> None:
        super().__init__(kind)
        self.error, self.kind, self.dkind, self.code, self.step = error, kind, dkind, code, step
        self.data: dict[str, Any] = data
        if step is not None:
            data["step"] = step

    def diagnostic(self) -> Diagnostic:
        return Diagnostic("error", self.dkind, self.code, str(self.error), self.data or None)


Result: TypeAlias = Done | Pause | Fail

_STRICT_KINDS = {
    "hook.failed": "hook_failed",
    "plugin.duplicate_ignored": "invalid_workflow",
    "adapter.cache.take_not_atomic": "invalid_workflow",
}
_new = tuple.__new__
_logger = get_logger("workflow")
_ATOMIC = frozenset({str, int, float, bool, type(None)})


def copy_json(value: Any) -> Any:
    """A deep copy, fast for JSON-shaped data (dicts and lists of scalars); anything else, or a
    structure with a cycle, goes through ``copy.deepcopy``."""
    try:
        return _copy(value)
    except RecursionError:
        return copy.deepcopy(value)


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind in _ATOMIC:
        return value
    if kind is dict:
        return {k: v if type(v) in _ATOMIC else _copy(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _ATOMIC else _copy(v) for v in value]
    return copy.deepcopy(value)


class Invocation:
    """Per-call bookkeeping: the trace, diagnostics, and hook calls."""

    __slots__ = ("clock", "diagnostics", "hook_failed", "hooks", "plan", "trace")

    def __init__(self, plan: Blueprint) -> None:
        self.plan = plan
        self.clock = plan.clock
        self.trace: list[_Event] = []
        self.diagnostics: list[Diagnostic] = list(plan.diagnostics)
        self.hooks = plan.hooks
        self.hook_failed: Diagnostic | None = None

    def event(self, name: str, step: str | None = None, data: Any = None) -> _Event:
        event = _new(_Event, (name, self.clock(), step, data))  # skips NamedTuple's __new__
        self.trace.append(event)
        return event

    def run_hooks(self, event: _Event) -> Generator[Effect, Any, None]:
        """Call the hooks for ``event``; a failing hook is a ``hook.failed`` warning."""
        for fn in self.hooks.get(event.name, ()):
            try:
                yield CallHook(fn, event)
            except Exception as exc:
                diagnostic = Diagnostic(
                    "warn",
                    "workflow",
                    "hook.failed",
                    f"hook {getattr(fn, '__name__', fn)!r} for {event.name!r} raised "
                    f"{type(exc).__name__}: {exc}",
                    {"event": event.name, "step": event.step},
                )
                if self.plan.strict:
                    diagnostic = diagnostic.as_error()
                # swallowed (reported as a diagnostic): logged at ERROR with the exception
                token = (event.data or {}).get("token") if event.name == "run.paused" else None
                log_diagnostic(_logger, diagnostic, exc, level=logging.ERROR, token=token)
                self.diagnostics.append(diagnostic)
                if self.hook_failed is None:
                    self.hook_failed = diagnostic

    def start(self, data: Any) -> Generator[Effect, Any, None]:
        """``run.start``, then refuse to run a workflow with build errors (or, in strict mode,
        build warnings)."""
        event = self.event("run.start", None, data)
        if self.hooks:
            yield from self.run_hooks(event)
        for diagnostic in self.plan.diagnostics:
            if diagnostic.level == "error" or self.plan.strict:
                kind = "missing_requirement" if diagnostic.kind == "requirement" else "strict"
                kind = _STRICT_KINDS.get(diagnostic.code, kind)
                self.diagnostics.remove(diagnostic)  # re-added as the error below
                raise Fail(
                    WorkflowError(diagnostic.message),
                    kind,
                    diagnostic.kind,
                    diagnostic.code,
                    **dict(diagnostic.data or {}),
                )

    def finish(
        self, result: Result, original: ResumeSnapshot | None = None
    ) -> Generator[Effect, Any, Outcome]:
        """Terminal events and hooks, strict-mode conversion, then the frozen ``Outcome``."""
        hooks = self.hooks
        if type(result) is not Fail:
            if isinstance(result, Pause):
                event = self.event("run.paused", None, {"token": result.token})
            else:
                event = self.event("run.ok")
            if hooks:
                yield from self._terminal_hooks(event, result, original)
                if self.plan.strict and self.hook_failed is not None:
                    # strict: a failed hook fails the call; its diagnostic becomes the error's
                    failed = self.hook_failed
                    self.diagnostics.remove(failed)
                    fail = Fail(
                        WorkflowError(failed.message),
                        "hook_failed",
                        "workflow",
                        "hook.failed",
                        **dict(failed.data or {}),
                    )
                    if isinstance(result, Pause):
                        yield from self._discard(result.token)
                    if original is not None:
                        yield from restore(self, original, fail)
                    result, original = fail, None
        if isinstance(result, Fail):
            self.diagnostics.append(result.diagnostic())
            event = self.event("run.error", result.step, {"kind": result.kind})
            if hooks:
                yield from self._terminal_hooks(event, result, original)
        event = self.event("run.end")
        if hooks:  # run.end hooks run once the outcome is settled: failures only warn
            yield from self._terminal_hooks(event, result, original)
        trace, diagnostics = tuple(self.trace), tuple(self.diagnostics)
        if isinstance(result, Done):
            return Ok(result.artefact, trace, diagnostics)
        if isinstance(result, Pause):
            return Paused(
                result.token, result.kind, result.expires_at, result.payload, trace, diagnostics
            )
        return Error(result.error, result.kind, trace, diagnostics)

    def _terminal_hooks(
        self, event: _Event, result: Result, original: ResumeSnapshot | None
    ) -> Generator[Effect, Any, None]:
        """Run ``event``'s hooks; if one is cancelled or interrupted before the outcome is
        returned, discard the unreported pause and put the resumed session back, then let the
        interruption propagate (as for an interrupted step)."""
        try:
            yield from self.run_hooks(event)
        except GeneratorExit:
            raise
        except BaseException as exc:
            if isinstance(result, Pause):
                yield from self._discard(result.token)
            if original is not None:
                interrupted = Fail(exc, "interrupted", "session", "interrupted")
                yield from restore(self, original, interrupted)
            raise

    def _discard(self, token: str) -> Generator[Effect, Any, None]:
        """Delete a stored pause that will not be reported."""
        try:
            yield StoreOp("delete", (token,))
        except Interrupted as stop:  # deleted; the cancellation goes on
            raise stop.cause from None
        except Exception as exc:
            diagnostic = Diagnostic(
                "error",
                "session",
                "session.discard_failed",
                f"could not delete the discarded session: {exc}",
                {"token": token},
            )
            log_diagnostic(_logger, diagnostic, exc)
            self.diagnostics.append(diagnostic)


# --- the flows ---------------------------------------------------------------------------


def restore(call: Invocation, snapshot: ResumeSnapshot, fail: Fail) -> Generator[Effect, Any, None]:
    """Put a claimed snapshot back with its remaining TTL so its token stays resumable."""
    now = call.plan.clock()
    remaining = snapshot.expires_at - now
    fail.data["token"] = snapshot.token
    if remaining <= 0:
        fail.data["resumable"] = False
        return
    try:
        yield StoreOp("set", (snapshot.token, replace(snapshot, last_accessed_at=now), remaining))
    except Interrupted as stop:  # put back; the cancellation goes on
        fail.data["resumable"] = True
        raise stop.cause from None
    except Exception as exc:
        fail.data["resumable"] = False
        diagnostic = Diagnostic(
            "error",
            "session",
            "session.restore_failed",
            f"the session could not be put back, so its token is lost: {type(exc).__name__}: {exc}",
            {"token": snapshot.token},
        )
        log_diagnostic(_logger, diagnostic, exc)
        call.diagnostics.append(diagnostic)
    else:
        fail.data["resumable"] = True
