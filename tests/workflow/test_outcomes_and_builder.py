"""Outcomes (frozen, pattern-matchable, JSON form) and the builder / recipe registry."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from llm_core import Error, MemoryCache, Ok, Outcome, Paused, Plugin, Workflow
from llm_core.errors import ConfigurationError
from llm_core.workflow import BuildOptions, StepContext, recipe_names, register_recipe
from llm_core.workflow import builder as builder_module
from tests.clock import ManualClock


def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
    if not ctx.resumed:
        return ctx.pause(kind="approval", payload={"ask": state["input"]})
    if ctx.resume_input == "fail":
        raise ValueError("no")
    return {"answer": ctx.resume_input}


def describe(outcome: Outcome) -> str:
    match outcome:
        case Paused(token=token, pause_kind=kind, payload=payload):
            return f"paused {kind} {payload} {len(token)}"
        case Ok(artefact):
            return f"ok {artefact}"
        case Error(kind=kind, error=error):
            return f"error {kind} {type(error).__name__}"
    return "?"


def test_outcomes_pattern_match(clock: ManualClock) -> None:
    runtime = Workflow("match", [gate]).build(clock=clock)
    first = runtime.run("q")
    assert describe(first) == f"paused approval {{'ask': 'q'}} {len(first.token)}"  # type: ignore[union-attr]
    assert isinstance(first, Paused)
    assert describe(runtime.resume(first.token, "fail")) == "error step_failed ValueError"
    assert describe(runtime.resume(first.token, "yes")) == "ok {'answer': 'yes'}"


def test_outcomes_are_frozen_and_have_a_json_form(clock: ManualClock) -> None:
    runtime = Workflow("json", [gate]).build(clock=clock)
    first = runtime.run("q")
    assert isinstance(first, Paused)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.token = "other"  # type: ignore[misc]
    paused = json.loads(json.dumps(first.to_dict()))
    assert paused["status"] == "paused" and paused["token"] == first.token
    assert paused["trace"][0] == {"name": "run.start", "at": clock.now, "step": None, "data": None}
    failed = runtime.resume(first.token, "fail")
    assert isinstance(failed, Error)
    as_json = json.loads(json.dumps(failed.to_dict()))
    assert as_json["error"] == {"type": "ValueError", "message": "no"}
    assert as_json["diagnostics"][-1]["code"] == "step.failed"
    assert as_json["diagnostics"][-1]["data"]["resumable"] is True
    done = runtime.resume(first.token, "yes")
    assert isinstance(done, Ok)
    assert json.loads(json.dumps(done.to_dict()))["artefact"] == {"answer": "yes"}
    assert (first.status, failed.status, done.status) == ("paused", "error", "ok")


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    saved = dict(builder_module._RECIPES)
    yield
    builder_module._RECIPES.clear()
    builder_module._RECIPES.update(saved)


def test_recipes_register_a_name_to_a_builder(scratch_registry: None, clock: ManualClock) -> None:
    made: list[BuildOptions] = []

    def factory(options: BuildOptions) -> Sequence[Plugin]:
        made.append(options)
        return [Plugin(key="steps", steps=[gate])]

    register_recipe("ask", factory)
    assert "ask" in recipe_names() and "hitl-gate" in recipe_names()
    runtime = Workflow.recipe("ask").build(clock=clock, session_ttl=5, strict=True)
    assert made == [BuildOptions(session_ttl=5.0, clock=clock, strict=True)]
    assert runtime.recipe == "ask" and runtime.session_ttl == 5.0
    first = runtime.run("q")
    assert isinstance(first, Paused)
    Workflow.recipe("ask").build()
    assert len(made) == 2  # every build calls the factory afresh

    with pytest.raises(ConfigurationError, match="already registered"):
        register_recipe("ask", lambda options: [])
    register_recipe("ask", lambda options: [Plugin(key="s", steps=[gate])], replace=True)
    with pytest.raises(ConfigurationError, match="no recipe named 'nope'; known recipes"):
        Workflow.recipe("nope")
    with pytest.raises(ConfigurationError, match="non-empty str"):
        register_recipe("", factory)


@pytest.mark.parametrize("ttl", [0, -1, float("inf"), float("nan"), "60", True])
def test_session_ttl_must_be_finite_seconds(ttl: Any) -> None:
    with pytest.raises(ConfigurationError, match="session_ttl"):
        Workflow("w", [gate]).build(session_ttl=ttl)


def test_build_validation() -> None:
    with pytest.raises(ConfigurationError, match="clock"):
        Workflow("w", [gate]).build(clock=42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="workflow name"):
        Workflow("")


def test_the_builder_is_immutable() -> None:
    base = Workflow("w", [gate])
    with_cache = base.use(Plugin(key="c", adapters=_bundle()))
    assert base.build().declared_adapters().cache is None
    assert with_cache.build().declared_adapters().cache is not None
    assert "c" in repr(with_cache) and "c" not in repr(base).split("plugins=")[1]


def _bundle() -> Any:
    from llm_core import AdapterBundle

    return AdapterBundle(cache=MemoryCache())


def test_the_default_session_ttl_is_24_hours(clock: ManualClock) -> None:
    runtime = Workflow("w", [gate]).build(clock=clock)
    assert runtime.session_ttl == 86_400
    first = runtime.run("q")
    assert isinstance(first, Paused) and first.expires_at == clock.now + 86_400
