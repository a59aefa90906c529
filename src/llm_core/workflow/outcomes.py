"""What every ``run``/``resume`` returns: ``Ok``, ``Paused`` or ``Error``, with trace and
diagnostics.

Outcomes are frozen dataclasses, so they pattern-match::

    match runtime.run("hello"):
        case Paused(token=token, payload=payload): ...
        case Ok(artefact=artefact): ...
        case Error(kind=kind, error=error): ...

``TraceEvent`` and ``Diagnostic`` are named tuples: cheap to create on the hot path, immutable,
and ``_asdict()`` gives their JSON form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypeAlias

__all__ = [
    "DIAGNOSTIC_KINDS",
    "EVENT_NAMES",
    "Diagnostic",
    "DiagnosticKind",
    "Error",
    "Level",
    "Ok",
    "Outcome",
    "Paused",
    "TraceEvent",
]

EVENT_NAMES = (
    "run.start",
    "step.start",
    "step.end",
    "run.paused",
    "run.ok",
    "run.error",
    "run.end",
)
"""Every trace event name, in the order a run can emit them.  Hooks subscribe by these names."""

Level = Literal["warn", "error"]
DiagnosticKind = Literal["workflow", "requirement", "resume", "adapter", "session"]
DIAGNOSTIC_KINDS: tuple[DiagnosticKind, ...] = (
    "workflow",
    "requirement",
    "resume",
    "adapter",
    "session",
)


class TraceEvent(NamedTuple):
    """One thing that happened during a call, stamped with the runtime's wall clock (seconds)."""

    name: str
    at: float
    step: str | None = None
    data: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"name", "at", "step", "data"}``."""
        return {
            "name": self.name,
            "at": self.at,
            "step": self.step,
            "data": dict(self.data) if self.data else None,
        }


class Diagnostic(NamedTuple):
    """A problem worth reporting, with a stable ``code`` (e.g. ``resume.invalid_token``)."""

    level: Level
    kind: DiagnosticKind
    code: str
    message: str
    data: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"level", "kind", "code", "message", "data"}``."""
        return {
            "level": self.level,
            "kind": self.kind,
            "code": self.code,
            "message": self.message,
            "data": dict(self.data) if self.data else None,
        }

    def as_error(self) -> Diagnostic:
        """The same diagnostic at level ``error`` (what ``strict=True`` does to warnings)."""
        return self._replace(level="error")


@dataclass(frozen=True, slots=True)
class Ok:
    """The run finished; ``artefact`` is its final state.  ``replayed``: this is the recorded
    outcome of an earlier resume with the same ``request_id``, returned again."""

    artefact: Any
    trace: tuple[TraceEvent, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    replayed: bool = False

    status = "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the artefact as is; it is JSON-able when the steps keep state JSON-able)."""
        return {
            "status": "ok",
            "artefact": self.artefact,
            "replayed": self.replayed,
            "trace": [e.to_dict() for e in self.trace],
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


@dataclass(frozen=True, slots=True)
class Paused:
    """The run is waiting; pass ``token`` to ``resume`` before ``expires_at`` (wall clock, s).
    ``expects`` is the JSON Schema the resume input must match (``None``: anything);
    ``replayed`` as for :class:`Ok`."""

    token: str
    pause_kind: str
    expires_at: float
    payload: Any
    trace: tuple[TraceEvent, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    expects: dict[str, Any] | None = None
    replayed: bool = False

    status = "paused"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "status": "paused",
            "token": self.token,
            "pause_kind": self.pause_kind,
            "expires_at": self.expires_at,
            "payload": self.payload,
            "expects": self.expects,
            "replayed": self.replayed,
            "trace": [e.to_dict() for e in self.trace],
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


@dataclass(frozen=True, slots=True)
class Error:
    """The call failed.  ``kind`` is a stable word (``session_expired``, ``step_failed``, ...);
    ``error`` is the exception behind it; ``diagnostics`` hold at least one ``error`` entry."""

    error: BaseException
    kind: str
    trace: tuple[TraceEvent, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()

    status = "error"

    @property
    def message(self) -> str:
        """The error's message."""
        return str(self.error)

    @property
    def resumable(self) -> bool:
        """True if this call's token was put back and can be resumed again."""
        return any(d.data is not None and d.data.get("resumable") is True for d in self.diagnostics)

    def to_dict(self) -> dict[str, Any]:
        """JSON form; the exception becomes ``{"type", "message"}``."""
        return {
            "status": "error",
            "kind": self.kind,
            "error": {"type": type(self.error).__name__, "message": str(self.error)},
            "trace": [e.to_dict() for e in self.trace],
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


Outcome: TypeAlias = Ok | Paused | Error
"""What ``Runtime.run`` / ``resume`` (and their async faces) return."""
