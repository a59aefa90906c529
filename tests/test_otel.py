"""OpenTelemetry (issue 13, part 4): spans for runs, resumes, steps, pauses and store operations,
captured with the SDK's in-memory exporter, and the same events on the llm_core loggers at DEBUG.
A resume token never appears in a span (name, attribute, event, status) or a log record."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from llm_core import Error, Ok, Paused, Workflow, otel, recipes
from llm_core._log import token_id
from llm_core.cache import AtomicCache, ListableCache, MemoryCache, SQLiteCache
from llm_core.cache.testing import CacheConformance, ManualClock
from llm_core.errors import CacheUnavailableError
from llm_core.otel import TracedCache, traced, tracing

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SQLiteCache]:
    with SQLiteCache(tmp_path / "sessions.db") as cache:
        yield cache


@pytest.fixture(params=["sync", "async"])
def face(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def call(face: str, runtime: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    if face == "sync":
        return getattr(runtime, method)(*args, **kwargs)
    return asyncio.run(getattr(runtime, "a" + method)(*args, **kwargs))


# --- reading the spans -------------------------------------------------------------------------


def children(spans: Sequence[ReadableSpan], parent: ReadableSpan) -> list[str]:
    assert parent.context is not None
    return [
        s.name
        for s in sorted(spans, key=lambda s: s.start_time or 0)
        if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def texts(spans: Sequence[ReadableSpan]) -> list[str]:
    """Every string a span carries: name, attributes, events, status, links."""
    out: list[str] = []
    for span in spans:
        out += [span.name, str(span.status.description)]
        out += [f"{k}={v}" for k, v in (span.attributes or {}).items()]
        for event in span.events:
            out.append(event.name)
            out += [f"{k}={v}" for k, v in (event.attributes or {}).items()]
        out.append(span.to_json())
    return out


def log_texts(records: Sequence[logging.LogRecord]) -> list[str]:
    return [f"{r.getMessage()} {r.__dict__!r}" for r in records]


def assert_no_token(token: str, spans: Sequence[ReadableSpan], records: Sequence[Any]) -> None:
    secret = token.split(".", 1)[1]  # the random part (the expiry half is not secret)
    for text in texts(spans) + log_texts(records):
        assert secret not in text, text


def assert_clean_context() -> None:
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert otel._CALLS.get() == ()


# --- a run that pauses and a resume that completes ---------------------------------------------


def test_pause_and_resume_spans(
    face: str,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    sqlite: SQLiteCache,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="llm_core")
    runtime = recipes.hitl_gate(
        cache=traced(sqlite, tracer_provider=provider),
        plugins=[tracing(provider, recipe="hitl-gate")],
        secret_key="k" * 32,
    )
    paused = call(face, runtime, "run", "Ship it")
    assert isinstance(paused, Paused)
    token, tid = paused.token, token_id(paused.token)
    run_spans = exporter.get_finished_spans()
    exporter.clear()
    done = call(face, runtime, "resume", token, {"decision": "approve"})
    assert isinstance(done, Ok), done
    resume_spans = exporter.get_finished_spans()
    assert_clean_context()
    for outcome in (paused, done):
        assert not [d for d in outcome.diagnostics if d.code == "hook.failed"]

    # the run: one trace, the call span at its root
    root = one(run_spans, "llm_core.run hitl-gate")
    assert root.parent is None
    assert {s.context.trace_id for s in run_spans if s.context} == {root.context.trace_id}
    assert children(run_spans, root) == [
        "llm_core.step draft",
        "llm_core.step gate",
        "llm_core.pause gate",
    ]
    assert dict(root.attributes or {}) == {
        "llm_core.recipe": "hitl-gate",
        "llm_core.call": "run",
        "llm_core.resumed": False,
        "llm_core.outcome.status": "paused",
        "llm_core.outcome.token_id": tid,
    }
    assert root.status.status_code is StatusCode.UNSET
    gate = one(run_spans, "llm_core.step gate")
    assert gate.attributes == {
        "llm_core.recipe": "hitl-gate",
        "llm_core.step": "gate",
        "llm_core.resumed": False,
        "llm_core.step.status": "paused",
    }
    assert one(run_spans, "llm_core.step draft").attributes["llm_core.step.status"] == "ok"  # type: ignore[index]
    pause = one(run_spans, "llm_core.pause gate")
    assert pause.attributes == {
        "llm_core.recipe": "hitl-gate",
        "llm_core.step": "gate",
        "llm_core.token_id": tid,
    }
    assert children(run_spans, pause) == ["llm_core.cache set"]
    stored = one(run_spans, "llm_core.cache set")
    assert stored.kind is trace.SpanKind.CLIENT
    attrs = dict(stored.attributes or {})
    assert attrs["llm_core.cache.operation"] == "set"
    assert attrs["llm_core.cache.backend"] == "SQLiteCache"
    assert attrs["llm_core.cache.key_prefix"] == "llm-core:session:"
    assert attrs["llm_core.token_id"] == attrs["llm_core.cache.key_id"] == tid
    assert attrs["llm_core.cache.async"] is (face == "async")
    assert attrs["llm_core.cache.ttl"] > 0

    # the resume: its own trace; the session it names is hashed from the store's read
    resumed = one(resume_spans, "llm_core.resume hitl-gate")
    assert resumed.parent is None
    assert resumed.context.trace_id != root.context.trace_id
    assert children(resume_spans, resumed) == [
        "llm_core.cache get",
        "llm_core.cache compare_and_set",  # the claim
        "llm_core.step gate",
        "llm_core.step finalize",
        "llm_core.cache compare_and_set",  # the commit
    ]
    assert dict(resumed.attributes or {}) == {
        "llm_core.recipe": "hitl-gate",
        "llm_core.call": "resume",
        "llm_core.resumed": True,
        "llm_core.token_id": tid,
        "llm_core.outcome.status": "ok",
    }
    read = one(resume_spans, "llm_core.cache get")
    assert read.attributes["llm_core.cache.hit"] is True  # type: ignore[index]
    swaps = [s for s in resume_spans if s.name == "llm_core.cache compare_and_set"]
    assert [s.attributes["llm_core.cache.swapped"] for s in swaps] == [True, True]  # type: ignore[index]
    assert all(s.attributes["llm_core.token_id"] == tid for s in swaps)  # type: ignore[index]
    gate_again = one(resume_spans, "llm_core.step gate")
    assert gate_again.attributes["llm_core.resumed"] is True  # type: ignore[index]
    assert one(resume_spans, "llm_core.step finalize").attributes["llm_core.resumed"] is False  # type: ignore[index]

    # the same events on the llm_core loggers, at DEBUG, named by token_id only
    events = [getattr(r, "llm_core_event", {}).get("event") for r in caplog.records]
    assert events[:7] == [
        "run.start",
        "step.start",
        "step.end",
        "step.start",
        "step.end",
        "cache.set",
        "run.paused",
    ]
    assert {"cache.get", "cache.compare_and_set", "run.ok", "run.end"} <= set(events)
    assert all(
        r.levelno == logging.DEBUG
        for r in caplog.records
        if r.name != "llm_core.workflow" or hasattr(r, "llm_core_event")
    )
    paused_log = next(
        r for r in caplog.records if getattr(r, "llm_core_event", {}).get("event") == "run.paused"
    )
    assert paused_log.name == "llm_core.workflow"
    assert f"token_id={tid}" in paused_log.getMessage()
    cache_log = next(
        r for r in caplog.records if getattr(r, "llm_core_event", {}).get("event") == "cache.get"
    )
    assert cache_log.name == "llm_core.cache"
    assert f"llm-core:session:<{tid}>" in cache_log.getMessage()

    assert_no_token(token, [*run_spans, *resume_spans], caplog.records)


# --- errors --------------------------------------------------------------------------------------


def fine(ctx: Any, state: dict[str, Any]) -> dict[str, Any]:
    return state


def ask(ctx: Any, state: dict[str, Any]) -> Any:
    if not ctx.resumed:
        return ctx.pause(kind="human", payload={"q": 1})
    if ctx.resume_input == "boom":
        raise RuntimeError("refused")
    return {**state, "a": ctx.resume_input}


def broken(ctx: Any, state: dict[str, Any]) -> dict[str, Any]:
    raise ValueError("no")


def test_a_failing_step_is_an_error_on_its_span_and_the_run(
    face: str, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    runtime = Workflow("boom", [fine, broken], plugins=[tracing(provider, recipe="boom")]).build()
    outcome = call(face, runtime, "run", {"x": 1})
    assert isinstance(outcome, Error) and outcome.kind == "step_failed"
    spans = exporter.get_finished_spans()
    root = one(spans, "llm_core.run boom")
    assert children(spans, root) == ["llm_core.step fine", "llm_core.step broken"]
    step = one(spans, "llm_core.step broken")
    assert step.status.status_code is StatusCode.ERROR
    assert step.status.description == "step_failed"
    assert step.attributes["error.type"] == "step_failed"  # type: ignore[index]
    assert step.attributes["llm_core.step.status"] == "error"  # type: ignore[index]
    assert [e.name for e in step.events] == ["llm_core.error"]
    assert step.end_time is not None and root.end_time is not None
    assert step.end_time <= root.end_time
    assert one(spans, "llm_core.step fine").status.status_code is StatusCode.UNSET
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes["llm_core.outcome.status"] == "error"  # type: ignore[index]
    assert root.attributes["llm_core.outcome.kind"] == "step_failed"  # type: ignore[index]
    assert_clean_context()


def test_a_resume_whose_step_fails_records_the_error_and_the_release(
    face: str,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    sqlite: SQLiteCache,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="llm_core")
    runtime = Workflow(
        "ask",
        [fine, ask],
        plugins=[
            tracing(provider),
            otel_cache_plugin(traced(sqlite, tracer_provider=provider)),
        ],
    ).build()
    paused = call(face, runtime, "run", {})
    assert isinstance(paused, Paused)
    exporter.clear()
    failed = call(face, runtime, "resume", paused.token, "boom")
    assert isinstance(failed, Error) and failed.kind == "step_failed"
    spans = exporter.get_finished_spans()
    root = one(spans, "llm_core.resume")  # (no recipe given to tracing: the bare name)
    assert "llm_core.recipe" not in (root.attributes or {})
    assert root.attributes["llm_core.token_id"] == token_id(paused.token)  # type: ignore[index]
    assert children(spans, root) == [
        "llm_core.cache get",
        "llm_core.cache compare_and_set",  # claim
        "llm_core.step ask",
        "llm_core.cache compare_and_set",  # release
    ]
    step = one(spans, "llm_core.step ask")
    assert step.status.status_code is StatusCode.ERROR
    assert root.status.status_code is StatusCode.ERROR
    assert_no_token(paused.token, spans, caplog.records)
    # the session is still resumable, and the next resume completes
    exporter.clear()
    assert isinstance(call(face, runtime, "resume", paused.token, "yes"), Ok)
    root = one(exporter.get_finished_spans(), "llm_core.resume")
    assert root.attributes["llm_core.outcome.status"] == "ok"  # type: ignore[index]
    assert_clean_context()


def otel_cache_plugin(cache: TracedCache) -> Any:
    from llm_core import AdapterBundle, Plugin

    return Plugin(key="adapter.cache", mode="override", adapters=AdapterBundle(cache=cache))


class Down(MemoryCache):
    """A cache whose reads fail with a message naming the key (as a driver's might)."""

    def get(self, key: str) -> bytes | None:
        raise CacheUnavailableError(f"cannot read {key!r}: connection refused")

    async def aget(self, key: str) -> bytes | None:
        return self.get(key)


def test_a_failing_store_operation_is_recorded_without_the_key(
    face: str,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="llm_core")
    good = recipes.hitl_gate()
    token = good.run("x").token
    runtime = recipes.hitl_gate(
        cache=traced(Down(), tracer_provider=provider), plugins=[tracing(provider)]
    )
    outcome = call(face, runtime, "resume", token, {"decision": "approve"})
    assert isinstance(outcome, Error) and outcome.kind == "cache_unavailable"
    spans = exporter.get_finished_spans()
    read = one(spans, "llm_core.cache get")
    assert read.status.status_code is StatusCode.ERROR
    assert read.attributes["error.type"] == "CacheUnavailableError"  # type: ignore[index]
    (event,) = read.events
    assert event.name == "exception"
    message = str(event.attributes["exception.message"])  # type: ignore[index]
    assert "connection refused" in message and "<key " in message
    root = one(spans, "llm_core.resume")
    assert root.attributes["llm_core.outcome.kind"] == "cache_unavailable"  # type: ignore[index]
    assert_no_token(token, spans, caplog.records)


# --- nesting and concurrency ---------------------------------------------------------------------


def test_a_run_inside_a_step_nests_under_that_step(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    inner = Workflow("inner", [fine], plugins=[tracing(provider, recipe="inner")]).build()

    async def outer_step(ctx: Any, state: dict[str, Any]) -> dict[str, Any]:
        assert isinstance(await inner.arun({}), Ok)
        return state

    outer = Workflow("outer", [outer_step], plugins=[tracing(provider, recipe="outer")]).build()
    for run in (outer.run, lambda x: asyncio.run(outer.arun(x))):
        exporter.clear()
        assert isinstance(run({}), Ok)
        spans = exporter.get_finished_spans()
        step = one(spans, "llm_core.step outer_step")
        assert children(spans, step) == ["llm_core.run inner"]
        assert children(spans, one(spans, "llm_core.run inner")) == ["llm_core.step fine"]
        assert_clean_context()


def test_concurrent_async_runs_keep_their_own_trees(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async def slow(ctx: Any, state: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return state

    runtime = Workflow("slow", [slow, fine], plugins=[tracing(provider)]).build()

    async def main() -> None:
        outcomes = await asyncio.gather(*(runtime.arun({"i": i}) for i in range(5)))
        assert all(isinstance(o, Ok) for o in outcomes)

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.name == "llm_core.run"]
    assert len(roots) == 5 and all(r.parent is None for r in roots)
    for root in roots:
        assert children(spans, root) == ["llm_core.step slow", "llm_core.step fine"]
    assert_clean_context()


def test_a_caller_span_is_the_parent(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    runtime = Workflow("w", [fine], plugins=[tracing(provider)]).build()
    with provider.get_tracer("app").start_as_current_span("request"):
        runtime.run({})
    spans = exporter.get_finished_spans()
    assert children(spans, one(spans, "request")) == ["llm_core.run"]


def test_a_replayed_resume_says_so(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    runtime = recipes.hitl_gate(plugins=[tracing(provider)])
    token = runtime.run("x").token
    assert isinstance(runtime.resume(token, {"decision": "approve"}, request_id="r1"), Ok)
    exporter.clear()
    again = runtime.resume(token, {"decision": "approve"}, request_id="r1")
    assert isinstance(again, Ok) and again.replayed
    root = one(exporter.get_finished_spans(), "llm_core.resume")
    assert root.attributes["llm_core.outcome.replayed"] is True  # type: ignore[index]


def test_the_global_provider_is_used_by_default(exporter: InMemorySpanExporter) -> None:
    plugin = tracing()
    assert plugin.key == "otel"
    # without a configured global provider the spans are no-ops and the run still works
    outcome = Workflow("w", [fine], plugins=[plugin]).build(strict=True).run({})
    assert isinstance(outcome, Ok) and not outcome.diagnostics
    assert_clean_context()


# --- the cache wrapper ---------------------------------------------------------------------------


class Plain:
    """A Cache with neither compare-and-set nor listing."""

    def __init__(self) -> None:
        self.inner = MemoryCache()

    def get(self, key: str) -> bytes | None:
        return self.inner.get(key)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.inner.set(key, value, ttl)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def take(self, key: str) -> bytes | None:
        return self.inner.take(key)

    def touch(self, key: str, ttl: float | None) -> bool:
        return self.inner.touch(key, ttl)

    async def aget(self, key: str) -> bytes | None:
        return self.get(key)

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.set(key, value, ttl)

    async def adelete(self, key: str) -> None:
        self.delete(key)

    async def atake(self, key: str) -> bytes | None:
        return self.take(key)

    async def atouch(self, key: str, ttl: float | None) -> bool:
        return self.touch(key, ttl)


def test_traced_keeps_what_the_wrapped_cache_can_do(tmp_path: Path) -> None:
    memory = MemoryCache(max_entries=10)
    wrapped = traced(memory)
    assert wrapped.capabilities == memory.capabilities
    assert isinstance(wrapped, AtomicCache) and isinstance(wrapped, ListableCache)
    assert wrapped.max_entries == 10 and len(wrapped) == 0 and bool(wrapped)
    plain = traced(Plain())  # type: ignore[arg-type]
    assert not isinstance(plain, AtomicCache) and not isinstance(plain, ListableCache)
    with pytest.raises(AttributeError):
        plain.compare_and_set
    assert repr(plain).startswith("traced(")
    with pytest.raises(TypeError):
        traced(object())  # type: ignore[arg-type]


def test_keys_and_unknown_prefixes_are_hashed(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    cache = traced(MemoryCache(), tracer_provider=provider, key_prefixes=("app:",))
    cache.set("app:secret-1", b"v")
    cache.set("other-secret", b"v")
    assert cache.keys("app:") == ["app:secret-1"]
    assert cache.take("other-secret") == b"v" and cache.get("other-secret") is None
    spans = exporter.get_finished_spans()
    for text in texts(spans):
        assert "secret" not in text, text
    prefixes = [s.attributes.get("llm_core.cache.key_prefix") for s in spans]  # type: ignore[union-attr]
    assert prefixes == ["app:", "", "app:", "", ""]
    assert [s.attributes.get("llm_core.cache.hit") for s in spans][-2:] == [True, False]  # type: ignore[union-attr]
    assert spans[2].attributes["llm_core.cache.count"] == 1  # type: ignore[index]


class TestTracedMemoryCache(CacheConformance):
    ttl = 10.0
    margin = 0.001

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def advance(self, clock: ManualClock) -> Callable[[float], None]:
        return clock.advance

    @pytest.fixture
    def cache(self, clock: ManualClock, provider: TracerProvider) -> TracedCache:
        return traced(MemoryCache(clock=clock), tracer_provider=provider)


class TestTracedSQLiteCache(TestTracedMemoryCache):
    @pytest.fixture
    def cache(  # type: ignore[override]
        self, clock: ManualClock, provider: TracerProvider, tmp_path: Path
    ) -> Iterator[TracedCache]:
        with SQLiteCache(tmp_path / "c.db", clock=clock) as inner:
            yield traced(inner, tracer_provider=provider)


class TestTracedPlainCache(TestTracedMemoryCache):
    ttl = 0.3
    margin = 0.08

    @pytest.fixture
    def advance(self) -> Callable[[float], None]:  # type: ignore[override]
        import time

        return time.sleep

    @pytest.fixture
    def cache(self, provider: TracerProvider) -> TracedCache:  # type: ignore[override]
        return traced(Plain(), tracer_provider=provider)  # type: ignore[arg-type]


# --- the extra ---------------------------------------------------------------------------------


def test_import_llm_core_does_not_load_opentelemetry() -> None:
    code = (
        "import sys, llm_core; assert not [m for m in sys.modules if m.startswith('opentelemetry')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_without_the_extra_the_error_names_it() -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from llm_core.errors import MissingDependencyError\n"
        "try:\n    import llm_core.otel\nexcept MissingDependencyError as e:\n"
        "    assert e.extra == 'otel', e; print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.stdout.strip() == "ok", done.stderr
