"""Per-call bookkeeping shared by the flows: results, trace, hooks, diagnostics, outcomes.

``Invocation.finish`` is the one place a call becomes a frozen ``Ok``/``Paused``/``Error``; ``Fail``
is the internal exception that unwinds a flow to an ``Error``.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import logging
import os
import secrets
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from llm_core._log import get_logger, log_diagnostic
from llm_core.errors import WorkflowError
from llm_core.workflow._effects import Blueprint, CacheOp, CallHook, Effect, Interrupted
from llm_core.workflow.outcomes import Diagnostic, DiagnosticKind, Error, Ok, Outcome, Paused
from llm_core.workflow.outcomes import TraceEvent as _Event

if TYPE_CHECKING:
    from llm_core.workflow._settle import Settlement

__all__ = ["Done", "Fail", "Invocation", "Pause", "Result", "UniqueIds", "copy_json"]


class Done:
    __slots__ = ("artefact",)

    def __init__(self, artefact: Any) -> None:
        self.artefact = artefact


class Pause:
    __slots__ = ("expects", "expires_at", "kind", "payload", "token")

    def __init__(
        self,
        token: str,
        kind: str,
        expires_at: float,
        payload: Any,
        expects: dict[str, Any] | None = None,
    ) -> None:
        self.token, self.kind, self.expires_at, self.payload = token, kind, expires_at, payload
        self.expects = expects


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
    "adapter.cache.no_compare_and_set": "invalid_workflow",
    "session.unsigned_shared": "invalid_workflow",
    "adapter.cache.evicts": "invalid_workflow",
}
_new = tuple.__new__
_T = TypeVar("_T")
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
        copied = value.copy()
        for k, v in copied.items():
            if type(v) not in _ATOMIC:
                copied[k] = _copy(v)  # replaces a value: the dict's size does not change
        return copied
    if kind is list:
        copied_list = value.copy()
        for i, v in enumerate(copied_list):
            if type(v) not in _ATOMIC:
                copied_list[i] = _copy(v)
        return copied_list
    return copy.deepcopy(value)


class UniqueIds:
    """Makes ids unique across processes and hosts, cheaply: a random prefix of ``nbytes``
    (from :mod:`secrets`) drawn once per process -- and again in a forked child -- then a
    counter.  Unpredictable to whoever has not seen one of them."""

    __slots__ = ("_counter", "_nbytes", "_prefix")

    def __init__(self, nbytes: int) -> None:
        self._nbytes = nbytes
        self._reset()
        if hasattr(os, "register_at_fork"):  # a forked child must not repeat its parent's ids
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = secrets.token_urlsafe(self._nbytes) + "."
        self._counter = itertools.count()

    def __call__(self) -> str:
        return self._prefix + str(next(self._counter))


class Invocation:
    """Per-call bookkeeping: the trace, diagnostics, and hook calls."""

    __slots__ = ("clock", "diagnostics", "hook_failed", "hooks", "plan", "resumed", "trace")

    def __init__(self, plan: Blueprint, resumed: bool = False) -> None:
        self.plan = plan
        self.resumed = resumed
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

    def start(self, data: Any) -> Iterable[Effect]:
        """``run.start``, then refuse to run a workflow with build errors (or, in strict mode,
        build warnings).  With no hooks and no build diagnostics (the common case) that is all
        done here, and there is nothing to ``yield from``."""
        if not self.hooks and not self.plan.diagnostics:
            self.trace.append(_new(_Event, ("run.start", self.clock(), None, data)))
            return ()
        return self._start(data)

    def _start(self, data: Any) -> Generator[Effect, Any, None]:
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
        self, result: Result, settle: Settlement | None = None, replayed: bool = False
    ) -> Generator[Effect, Any, Outcome]:
        """Terminal events and hooks, strict-mode conversion, settling a resumed session (commit
        its outcome), then the frozen ``Outcome``.  A replayed outcome runs no ok/paused hooks."""
        hooks, trace, clock = self.hooks, self.trace, self.clock
        if type(result) is not Fail:
            if type(result) is Pause:
                event = _new(_Event, ("run.paused", clock(), None, {"token": result.token}))
            else:
                event = _new(_Event, ("run.ok", clock(), None, None))
            trace.append(event)
            if hooks and not replayed:
                yield from self._terminal_hooks(event, result, settle)
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
                    if settle is not None:
                        yield from settle.release(self.diagnostics, fail.data)
                    result, settle = fail, None
            if settle is not None and not isinstance(result, Fail):
                result = yield from settle.commit(result, self._discard)
        if type(result) is Fail:
            self.diagnostics.append(result.diagnostic())
            event = self.event("run.error", result.step, {"kind": result.kind})
            if hooks:
                yield from self._terminal_hooks(event, result, None)
        event = _new(_Event, ("run.end", clock(), None, None))
        trace.append(event)
        if hooks:  # run.end hooks run once the outcome is settled: failures only warn
            yield from self._terminal_hooks(event, result, None, settled=True)
        events, diagnostics = tuple(trace), tuple(self.diagnostics)
        if type(result) is Done:
            return _ok(result.artefact, events, diagnostics, replayed)
        if type(result) is Pause:
            return _paused(
                result.token,
                result.kind,
                result.expires_at,
                result.payload,
                events,
                diagnostics,
                result.expects,
                replayed,
            )
        assert isinstance(result, Fail)
        return Error(result.error, result.kind, events, diagnostics)

    def _terminal_hooks(
        self, event: _Event, result: Result, settle: Settlement | None, settled: bool = False
    ) -> Generator[Effect, Any, None]:
        """Run ``event``'s hooks; if one is cancelled or interrupted before the outcome is
        settled, discard the unreported pause and release the resumed session, then let the
        interruption propagate (as for an interrupted step).  Once settled, a pause stays:
        a replay of the same request reports it."""
        try:
            yield from self.run_hooks(event)
        except GeneratorExit:
            raise
        except BaseException:
            if isinstance(result, Pause) and not (settled and self.resumed):
                yield from self._discard(result.token)
            if settle is not None:
                yield from settle.release(self.diagnostics, {})
            raise

    def _discard(self, token: str) -> Generator[Effect, Any, None]:
        """Delete a stored pause that will not be reported."""
        try:
            key, inline = self.plan.space.key(token), self.plan.inline
            if inline is not None:
                inline.delete(key)
            else:
                yield CacheOp("delete", (key,))
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


# Outcomes made by setting their slots directly: the same frozen objects as ``Ok(...)`` and
# ``Paused(...)`` make, without the frozen dataclasses' per-field ``setattr`` (hot path).
def _maker(cls: type[_T]) -> Callable[..., _T]:
    setters = tuple(
        (i, cls.__dict__[field.name].__set__)
        for i, field in enumerate(dataclasses.fields(cls))  # type: ignore[arg-type]
    )
    new = object.__new__

    def make(*values: Any) -> _T:
        made: _T = new(cls)
        for i, setter in setters:
            setter(made, values[i])
        return made

    return make


_paused: Callable[..., Paused] = _maker(Paused)
_set_artefact, _set_trace, _set_diagnostics, _set_replayed = (
    Ok.__dict__[field.name].__set__ for field in dataclasses.fields(Ok)
)


def _ok(
    artefact: Any, trace: tuple[_Event, ...], diagnostics: tuple[Diagnostic, ...], replayed: bool
) -> Ok:
    """``Ok(artefact, trace, diagnostics, replayed)``, its slots set one by one (as _maker)."""
    ok: Ok = object.__new__(Ok)
    _set_artefact(ok, artefact)
    _set_trace(ok, trace)
    _set_diagnostics(ok, diagnostics)
    _set_replayed(ok, replayed)
    return ok
