"""The ``llm_core`` loggers, on real runs: warnings at WARNING, swallowed failures at ERROR with
the exception, and never a resume token (a bearer secret) in any record."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import pytest

import llm_core
from llm_core import AdapterBundle, Error, MemoryCache, Ok, Paused, Plugin, StepContext, Workflow
from llm_core.errors import CacheUnavailableError
from llm_core.workflow.outcomes import TraceEvent

LOGGER = "llm_core"


class FlakyCache(MemoryCache):
    """A real MemoryCache that goes away once ``down`` is true: every write and read fails,
    except the first compare-and-set (the claim of a resume, so its release is what fails)."""

    down = False
    claims_left = 1

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        if self.down:
            raise CacheUnavailableError("the cache went away")
        super().set(key, value, ttl)

    def get(self, key: str) -> bytes | None:
        if self.down and self.claims_left == 0:
            raise CacheUnavailableError("the cache went away")
        return super().get(key)

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        if self.down:
            if self.claims_left == 0:
                raise CacheUnavailableError("the cache went away")
            self.claims_left -= 1
        return super().compare_and_set(key, expected, new, ttl)


def gated(hooks: dict[str, Any] | None = None, cache: MemoryCache | None = None) -> Workflow:
    """draft → gate (pauses, then on resume fails when asked to)."""

    def draft(ctx: StepContext, state: dict[str, Any]) -> Any:
        return {**state, "draft": "hello"}

    def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause(kind="human", payload={"draft": state["draft"]})
        if ctx.resume_input == "explode":
            raise RuntimeError("the step failed on resume")
        return {**state, "decision": ctx.resume_input}

    flow = Workflow("logged", [draft, gate])
    plugins = []
    if cache is not None:
        plugins.append(Plugin(key="cache", adapters=AdapterBundle(cache=cache)))
    if hooks:
        plugins.append(Plugin(key="hooks", hooks=hooks))
    return flow.use(*plugins) if plugins else flow


def rendered(record: logging.LogRecord) -> str:
    """Everything a handler could write for ``record``: message, exception, extras."""
    text = logging.Formatter("%(message)s").format(record)
    return text + repr(record.__dict__)


def assert_no_token(records: list[logging.LogRecord], token: str) -> None:
    for record in records:
        assert token not in rendered(record), record


def test_the_package_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger(LOGGER).handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
    assert llm_core.__name__ == LOGGER


def test_a_failing_hook_is_logged_at_error_with_the_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def on_paused(event: TraceEvent) -> None:
        raise ValueError("the hook broke")

    runtime = gated({"run.paused": on_paused}).build()
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        outcome = runtime.run("hi")
    assert isinstance(outcome, Paused)
    assert [d.code for d in outcome.diagnostics] == ["hook.failed"]
    [record] = [r for r in caplog.records if r.name.startswith(LOGGER)]
    assert record.name == "llm_core.workflow"
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)
    assert "hook.failed" in record.getMessage() and "the hook broke" in record.getMessage()
    assert record.llm_core_diagnostic["code"] == "hook.failed"
    assert_no_token(caplog.records, outcome.token)


def test_a_failing_hook_is_logged_on_the_async_face_too(caplog: pytest.LogCaptureFixture) -> None:
    def on_end(event: TraceEvent) -> None:
        raise KeyError("missing")

    runtime = gated({"run.end": on_end}).build()
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        outcome = asyncio.run(runtime.arun("hi"))
    assert isinstance(outcome, Paused)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert_no_token(caplog.records, outcome.token)


def test_a_hook_message_naming_the_token_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    def on_paused(event: TraceEvent) -> None:
        assert event.data is not None
        raise ValueError(f"cannot notify about {event.data['token']}")

    runtime = gated({"run.paused": on_paused}).build()
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        outcome = runtime.run("hi")
    assert isinstance(outcome, Paused)
    [record] = caplog.records
    short = hashlib.sha256(outcome.token.encode()).hexdigest()[:12]
    assert outcome.token not in record.getMessage()
    assert f"<token {short}>" in record.getMessage()
    assert outcome.token not in repr(record.llm_core_diagnostic)


def test_a_warning_diagnostic_is_logged_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    twice = [Plugin(key="audit"), Plugin(key="audit")]  # the second is ignored: a warning
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        runtime = gated().use(*twice).build()
        outcome = runtime.run("hi")
    assert isinstance(outcome, Paused)
    assert [d.code for d in outcome.diagnostics] == ["plugin.duplicate_ignored"]
    [record] = [r for r in caplog.records if r.name.startswith(LOGGER)]
    assert record.levelno == logging.WARNING and record.name == "llm_core.workflow"
    assert "plugin.duplicate_ignored" in record.getMessage()
    assert record.exc_info is None
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=LOGGER):  # logged once, at build, not per call
        runtime.run("again")
    assert caplog.records == []


def test_a_failed_release_is_logged_at_error_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = FlakyCache()
    runtime = gated(cache=cache).build()
    first = runtime.run("hi")
    assert isinstance(first, Paused)
    cache.down = True
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        outcome = runtime.resume(first.token, "explode")
    assert isinstance(outcome, Error) and outcome.kind == "step_failed"
    assert not outcome.resumable
    assert "session.release_failed" in [d.code for d in outcome.diagnostics]
    [record] = [r for r in caplog.records if r.name.startswith(LOGGER)]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], CacheUnavailableError)
    short = hashlib.sha256(first.token.encode()).hexdigest()[:12]
    assert f"token_id={short}" in record.getMessage()
    assert record.llm_core_diagnostic["data"] == {"token_id": short}
    assert_no_token(caplog.records, first.token)


def test_a_clean_run_and_resume_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    runtime = gated().build()
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        first = runtime.run("hi")
        assert isinstance(first, Paused)
        assert isinstance(runtime.resume(first.token, "approve"), Ok)
    assert [r for r in caplog.records if r.name.startswith(LOGGER)] == []
