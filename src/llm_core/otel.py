"""OpenTelemetry for llm-core (extra ``otel``): spans for runs, resumes, steps, pauses and session
store operations, and the same events on the ``llm_core`` loggers at ``DEBUG``.

Two pieces, used together or apart::

    from llm_core import otel, recipes
    from llm_core.cache import SQLiteCache

    runtime = recipes.hitl_gate(
        cache=otel.traced(SQLiteCache("sessions.db")),       # a span per store operation
        plugins=[otel.tracing(recipe="hitl-gate")],          # run / resume / step / pause spans
    )

* :func:`tracing` is a plugin (``key="otel"``) whose hooks turn the runtime's trace events into
  spans: ``llm_core.run`` / ``llm_core.resume`` / ``llm_core.cancel`` for the call, a child
  ``llm_core.step <name>`` per step and ``llm_core.pause <step>`` while a pause is stored.  The
  call's span is the current span while the call runs, so spans made inside a step (a model
  client's instrumentation) and the store operations nest under it.
* :func:`traced` wraps a ``Cache``: every operation is an ``llm_core.cache <op>`` span.  It
  keeps the wrapped cache's capabilities and passes the conformance kit.

A resume token is a bearer secret: no span name, attribute, event or log record carries it, nor
a cache key holding it.  Sessions are named by ``llm_core.token_id``, the first 12 hex digits
of the token's SHA-256 (the same id the ``llm_core`` log records and ``llm-core sessions`` use).

This module is the only one importing ``opentelemetry``; ``import llm_core`` never loads it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from llm_core._log import get_logger, token_id
from llm_core.cache import AtomicCache, Cache, CacheCapabilities, ListableCache, capabilities_of
from llm_core.errors import MissingDependencyError
from llm_core.sessions import SESSION_KEY_PREFIX
from llm_core.workflow import Plugin, TraceEvent

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
except ImportError as exc:  # pragma: no cover - exercised by the core job (no extra installed)
    raise MissingDependencyError("OpenTelemetry tracing", "otel", "opentelemetry-api") from exc

__all__ = ["DEFAULT_KEY_PREFIXES", "TracedCache", "traced", "tracing"]

T = TypeVar("T")

SCOPE = "llm_core"
"""The instrumentation scope name of every span."""

DEFAULT_KEY_PREFIXES: tuple[str, ...] = (SESSION_KEY_PREFIX, "llm-core:audit:", "llm-core:")
"""Key prefixes a cache span may show (``llm_core.cache.key_prefix``); the rest of a key is
only ever shown hashed (``llm_core.cache.key_id``)."""

_workflow_log = get_logger("workflow")
_cache_log = get_logger("cache")


def _tracer(tracer_provider: TracerProvider | None) -> Tracer:
    from llm_core import __version__

    return trace.get_tracer(SCOPE, __version__, tracer_provider)


# --- the calls in progress: a stack per context ----------------------------------------------


@dataclass(eq=False)
class _Call:
    """One run / resume / cancel in progress, as its hooks see it."""

    tracer: Tracer
    kind: str
    recipe: str | None
    span: Span
    attached: object
    started: float
    steps: int = 0
    step: str | None = None
    step_span: Span | None = None
    step_attached: object = None
    pause_span: Span | None = None
    pause_attached: object = None
    failed: dict[str, tuple[Span, int]] = field(default_factory=dict)
    status: str | None = None
    token_id: str | None = None


# The calls in progress in this context, innermost last.  Every hook of one call runs in the
# context of the call (the sync driver calls hooks in the caller's thread, the async one in the
# caller's task), so a run started inside a step of another pushes on top and pops before the
# outer step ends; concurrent calls (threads, tasks) each have their own context.
_CALLS: ContextVar[tuple[_Call, ...]] = ContextVar("llm_core_otel_calls", default=())


def _current() -> _Call | None:
    calls = _CALLS.get()
    return calls[-1] if calls else None


def _pop(call: _Call) -> None:
    calls = _CALLS.get()
    if call in calls:
        _CALLS.set(tuple(c for c in calls if c is not call))


def _detach(attached: object) -> None:
    if attached is not None:
        otel_context.detach(attached)  # type: ignore[arg-type]


def _debug(logger: logging.Logger, message: str, event: dict[str, Any]) -> None:
    where = " ".join(f"{k}={v}" for k, v in event.items() if v is not None and k != "event")
    logger.debug("%s %s", message, where, extra={"llm_core_event": event})


# --- the plugin ------------------------------------------------------------------------------


def tracing(
    tracer_provider: TracerProvider | None = None,
    *,
    recipe: str | None = None,
    key: str = "otel",
) -> Plugin:
    """A plugin turning the runtime's trace events into OpenTelemetry spans (and ``DEBUG`` log
    records on ``llm_core.workflow``).

    ``tracer_provider``: where spans go (default: the global provider, looked up when a span
    starts).  ``recipe``: the workflow's name for the ``llm_core.recipe`` attribute and the call
    span's name (hooks are not told it).  ``key``: the plugin's key (``"otel"``).
    """
    tracer = _tracer(tracer_provider)
    recipe_attrs: dict[str, str] = {} if recipe is None else {"llm_core.recipe": recipe}

    def run_start(event: TraceEvent) -> None:
        data = event.data or {}
        kind = "resume" if data.get("resume") else "cancel" if data.get("cancel") else "run"
        name = f"llm_core.{kind}" if recipe is None else f"llm_core.{kind} {recipe}"
        span = tracer.start_span(
            name,
            attributes={
                **recipe_attrs,
                "llm_core.call": kind,
                "llm_core.resumed": kind == "resume",
            },
        )
        attached = otel_context.attach(trace.set_span_in_context(span))
        call = _Call(tracer, kind, recipe, span, attached, time.perf_counter())
        _CALLS.set((*_CALLS.get(), call))
        if _workflow_log.isEnabledFor(logging.DEBUG):
            _debug(
                _workflow_log, "run.start", {"event": "run.start", "call": kind, "recipe": recipe}
            )

    def step_start(event: TraceEvent) -> None:
        call = _current()
        if call is None:
            return
        step = event.step or ""
        resumed = call.kind == "resume" and call.steps == 0
        call.steps += 1
        span = tracer.start_span(
            f"llm_core.step {step}",
            attributes={**recipe_attrs, "llm_core.step": step, "llm_core.resumed": resumed},
        )
        call.step, call.step_span = step, span
        call.step_attached = otel_context.attach(trace.set_span_in_context(span))
        if _workflow_log.isEnabledFor(logging.DEBUG):
            _debug(
                _workflow_log,
                "step.start",
                {"event": "step.start", "recipe": recipe, "step": step, "resumed": resumed},
            )

    def step_end(event: TraceEvent) -> None:
        call = _current()
        if call is None or call.step_span is None:
            return
        status = str((event.data or {}).get("status", "ok"))
        step = event.step or call.step or ""
        span = call.step_span
        _detach(call.step_attached)
        call.step_span, call.step_attached = None, None
        span.set_attribute("llm_core.step.status", status)
        if status == "error":  # ended at run.error, which says what went wrong
            call.failed[step] = (span, time.time_ns())
        else:
            span.end()
        if status == "paused":
            call.pause_span = tracer.start_span(
                f"llm_core.pause {step}", attributes={**recipe_attrs, "llm_core.step": step}
            )
            call.pause_attached = otel_context.attach(trace.set_span_in_context(call.pause_span))
        if _workflow_log.isEnabledFor(logging.DEBUG):
            _debug(
                _workflow_log,
                "step.end",
                {"event": "step.end", "recipe": recipe, "step": step, "status": status},
            )

    def run_paused(event: TraceEvent) -> None:
        call = _current()
        if call is None:
            return
        tid = token_id((event.data or {}).get("token"))
        if call.pause_span is not None:
            call.pause_span.set_attribute("llm_core.token_id", tid)
            _detach(call.pause_attached)
            call.pause_span.end()
            call.pause_span, call.pause_attached = None, None
        call.status = "paused"
        call.span.set_attributes(
            {"llm_core.outcome.status": "paused", "llm_core.outcome.token_id": tid}
        )
        if _workflow_log.isEnabledFor(logging.DEBUG):
            _debug(
                _workflow_log,
                "run.paused",
                {"event": "run.paused", "call": call.kind, "recipe": recipe, "token_id": tid},
            )

    def run_ok(event: TraceEvent) -> None:
        call = _current()
        if call is None:
            return
        call.status = "ok"
        call.span.set_attribute("llm_core.outcome.status", "ok")
        if _workflow_log.isEnabledFor(logging.DEBUG):
            _debug(
                _workflow_log, "run.ok", {"event": "run.ok", "call": call.kind, "recipe": recipe}
            )

    def run_error(event: TraceEvent) -> None:
        call = _current()
        if call is None:
            return
        kind = str((event.data or {}).get("kind", "error"))
        call.status = "error"
        error = {"error.type": kind, "llm_core.error.kind": kind}
        if event.step is not None:
            error["llm_core.step"] = event.step
        failed = call.failed.pop(event.step, None) if event.step is not None else None
        if failed is not None:
            span, ended = failed
            span.set_attributes(error)
            span.add_event("llm_core.error", error)
            span.set_status(Status(StatusCode.ERROR, kind))
            span.end(end_time=ended)
        call.span.set_attributes(
            {**error, "llm_core.outcome.status": "error", "llm_core.outcome.kind": kind}
        )
        call.span.add_event("llm_core.error", error)
        call.span.set_status(Status(StatusCode.ERROR, kind))
        if _workflow_log.isEnabledFor(logging.DEBUG):
            _debug(
                _workflow_log,
                "run.error",
                {
                    "event": "run.error",
                    "call": call.kind,
                    "recipe": recipe,
                    "step": event.step,
                    "kind": kind,
                },
            )

    def run_end(event: TraceEvent) -> None:
        call = _current()
        if call is None:
            return
        for span, ended in call.failed.values():  # (a step error run.error did not name)
            span.set_status(Status(StatusCode.ERROR, "step failed"))
            span.end(end_time=ended)
        call.failed.clear()
        for span_, attached in (
            (call.pause_span, call.pause_attached),
            (call.step_span, call.step_attached),
        ):
            if span_ is not None:
                _detach(attached)
                span_.end()
        if call.status is None:  # no ok/paused/error hooks: a recorded outcome, replayed
            call.span.set_attribute("llm_core.outcome.replayed", True)
        _detach(call.attached)
        call.span.end()
        _pop(call)
        if _workflow_log.isEnabledFor(logging.DEBUG):
            _debug(
                _workflow_log,
                "run.end",
                {
                    "event": "run.end",
                    "call": call.kind,
                    "recipe": recipe,
                    "status": call.status or "replayed",
                    "ms": round((time.perf_counter() - call.started) * 1000, 3),
                },
            )

    return Plugin(
        key=key,
        hooks={
            "run.start": run_start,
            "step.start": step_start,
            "step.end": step_end,
            "run.paused": run_paused,
            "run.ok": run_ok,
            "run.error": run_error,
            "run.end": run_end,
        },
        description="OpenTelemetry spans and DEBUG log records for runs, steps and pauses",
    )


# --- the cache wrapper -----------------------------------------------------------------------

_PROTOCOL_ONLY = frozenset({"compare_and_set", "acompare_and_set", "keys", "akeys"})


class TracedCache:
    """A ``Cache`` that makes an ``llm_core.cache <op>`` span (and a ``DEBUG`` record on
    ``llm_core.cache``) per operation of the cache it wraps, then does exactly what that cache
    does.  Made by :func:`traced`, which picks the subclass with the wrapped cache's
    compare-and-set and listing.  Other attributes (``close``, ``sweep``, ``max_entries``…)
    are the wrapped cache's."""

    def __init__(
        self,
        cache: Cache,
        tracer: Tracer,
        key_prefixes: Sequence[str] = DEFAULT_KEY_PREFIXES,
    ) -> None:
        self.wrapped = cache
        self._tracer = tracer
        self._prefixes = tuple(sorted(key_prefixes, key=len, reverse=True))
        self._backend = type(cache).__name__

    @property
    def capabilities(self) -> CacheCapabilities:
        """The wrapped cache's capabilities."""
        return capabilities_of(self.wrapped)

    def __getattr__(self, name: str) -> Any:
        if name in _PROTOCOL_ONLY or name == "wrapped" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    def __len__(self) -> int:
        return len(self.wrapped)  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"traced({self.wrapped!r})"

    # --- spans ---

    def _describe(self, key: object) -> tuple[dict[str, Any], list[str]]:
        """Span attributes naming ``key`` safely, and the strings that must never be shown."""
        if type(key) is not str:
            return {}, []
        prefix = next((p for p in self._prefixes if key.startswith(p)), "")
        rest = key[len(prefix) :]
        attrs: dict[str, Any] = {"llm_core.cache.key_prefix": prefix}
        secrets = [s for s in (key, rest, repr(key)[1:-1], repr(rest)[1:-1]) if s]
        if rest:
            attrs["llm_core.cache.key_id"] = token_id(rest)
            if prefix == SESSION_KEY_PREFIX:
                attrs["llm_core.token_id"] = attrs["llm_core.cache.key_id"]
                call = _current()
                if (
                    call is not None
                    and call.kind != "run"
                    and call.token_id is None
                    and call.steps == 0
                ):  # the session a resume / cancel reads first is the one it names
                    call.token_id = attrs["llm_core.token_id"]
                    call.span.set_attribute("llm_core.token_id", call.token_id)
        return attrs, secrets

    @contextmanager
    def _span(
        self, op: str, key: object, ttl: object = None, is_async: bool = False
    ) -> Iterator[Callable[[str, Any], None]]:
        attrs, secrets = self._describe(key)
        attrs["llm_core.cache.operation"] = op
        attrs["llm_core.cache.backend"] = self._backend
        attrs["llm_core.cache.async"] = is_async
        if type(ttl) in (int, float) and 0 < ttl < 1e18:  # type: ignore[operator]
            attrs["llm_core.cache.ttl"] = float(ttl)  # type: ignore[arg-type]
        results: dict[str, Any] = {}
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            f"llm_core.cache {op}",
            kind=SpanKind.CLIENT,
            attributes=attrs,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:

            def result(name: str, value: Any) -> None:
                results[name] = value
                span.set_attribute(f"llm_core.cache.{name}", value)

            try:
                yield result
            except BaseException as exc:
                message = _redact(str(exc), secrets)
                span.add_event(
                    "exception",
                    {"exception.type": type(exc).__qualname__, "exception.message": message},
                )
                span.set_attribute("error.type", type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
                results["error"] = type(exc).__qualname__
                raise
            finally:
                if _cache_log.isEnabledFor(logging.DEBUG):
                    shown = attrs.get("llm_core.cache.key_prefix", "")
                    if "llm_core.cache.key_id" in attrs:
                        shown += f"<{attrs['llm_core.cache.key_id']}>"
                    _debug(
                        _cache_log,
                        f"cache.{op}",
                        {
                            "event": f"cache.{op}",
                            "backend": self._backend,
                            "key": shown or None,
                            **results,
                            "ms": round((time.perf_counter() - started) * 1000, 3),
                        },
                    )

    def _call(self, op: str, key: object, fn: Callable[[], T], ttl: object = None) -> T:
        with self._span(op, key, ttl) as result:
            value = fn()
            _record(result, op, value)
            return value

    async def _acall(
        self, op: str, key: object, fn: Callable[[], Awaitable[T]], ttl: object = None
    ) -> T:
        with self._span(op, key, ttl, is_async=True) as result:
            value = await fn()
            _record(result, op, value)
            return value

    # --- the Cache faces ---

    def get(self, key: str) -> bytes | None:
        return self._call("get", key, lambda: self.wrapped.get(key))

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._call("set", key, lambda: self.wrapped.set(key, value, ttl), ttl)

    def delete(self, key: str) -> None:
        self._call("delete", key, lambda: self.wrapped.delete(key))

    def take(self, key: str) -> bytes | None:
        return self._call("take", key, lambda: self.wrapped.take(key))

    def touch(self, key: str, ttl: float | None) -> bool:
        return self._call("touch", key, lambda: self.wrapped.touch(key, ttl), ttl)

    async def aget(self, key: str) -> bytes | None:
        return await self._acall("get", key, lambda: self.wrapped.aget(key))

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._acall("set", key, lambda: self.wrapped.aset(key, value, ttl), ttl)

    async def adelete(self, key: str) -> None:
        await self._acall("delete", key, lambda: self.wrapped.adelete(key))

    async def atake(self, key: str) -> bytes | None:
        return await self._acall("take", key, lambda: self.wrapped.atake(key))

    async def atouch(self, key: str, ttl: float | None) -> bool:
        return await self._acall("touch", key, lambda: self.wrapped.atouch(key, ttl), ttl)


class _Atomic(TracedCache):
    """With the wrapped cache's atomic compare-and-set."""

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        inner = cast(AtomicCache, self.wrapped)
        return self._call(
            "compare_and_set", key, lambda: inner.compare_and_set(key, expected, new, ttl), ttl
        )

    async def acompare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        inner = cast(AtomicCache, self.wrapped)
        return await self._acall(
            "compare_and_set", key, lambda: inner.acompare_and_set(key, expected, new, ttl), ttl
        )


class _Listable(TracedCache):
    """With the wrapped cache's listing (the prefix asked for is shown like a key: its known
    prefix, the rest hashed)."""

    def keys(self, prefix: str = "") -> list[str]:
        inner = cast(ListableCache, self.wrapped)
        return self._call("keys", prefix, lambda: inner.keys(prefix))

    async def akeys(self, prefix: str = "") -> list[str]:
        inner = cast(ListableCache, self.wrapped)
        return await self._acall("keys", prefix, lambda: inner.akeys(prefix))


class _AtomicListable(_Listable, _Atomic):
    """Both."""


for _kind in (_Atomic, _Listable, _AtomicListable):  # what diagnostics and reprs call them
    _kind.__name__ = _kind.__qualname__ = "TracedCache"


def _record(result: Callable[[str, Any], None], op: str, value: Any) -> None:
    if op in ("get", "take"):
        result("hit", value is not None)
    elif op == "touch":
        result("found", bool(value))
    elif op == "compare_and_set":
        result("swapped", bool(value))
    elif op == "keys":
        result("count", len(value))


def _redact(message: str, secrets: Sequence[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in message:
            message = message.replace(secret, f"<key {token_id(secret)}>")
    return message


def traced(
    cache: Cache,
    *,
    tracer_provider: TracerProvider | None = None,
    key_prefixes: Sequence[str] = DEFAULT_KEY_PREFIXES,
) -> TracedCache:
    """``cache`` with an ``llm_core.cache <op>`` span per operation (``get``, ``set``,
    ``delete``, ``take``, ``touch``, ``compare_and_set``, ``keys`` and their async faces).

    Attributes: ``llm_core.cache.operation``, ``.backend`` (the wrapped class), ``.async``,
    ``.ttl``, ``.key_prefix`` (the longest of ``key_prefixes`` the key starts with, else
    ``""``), ``.key_id`` (a hash of the rest of the key: never the key, which holds the token),
    ``llm_core.token_id`` for a session key, and the result: ``.hit`` (get/take), ``.found``
    (touch), ``.swapped`` (compare_and_set), ``.count`` (keys).  An exception is recorded with
    any key text in its message replaced by a hash, and re-raised.
    """
    if not isinstance(cache, Cache):
        raise TypeError(f"traced() takes an llm-core Cache, got {type(cache).__name__}")
    tracer = _tracer(tracer_provider)
    atomic = isinstance(cache, AtomicCache)
    listable = isinstance(cache, ListableCache)
    kind: type[TracedCache] = (
        _AtomicListable
        if atomic and listable
        else _Atomic
        if atomic
        else _Listable
        if listable
        else TracedCache
    )
    return kind(cache, tracer, key_prefixes)
