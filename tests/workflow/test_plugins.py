"""Plugins: keys and modes, adapter merging, steps, hooks, requirements, explain, strict mode."""

from __future__ import annotations

from typing import Any

import pytest

from llm_core import AdapterBundle, Error, MemoryCache, Ok, Paused, Plugin, Step, Workflow
from llm_core.errors import ConfigurationError, WorkflowError
from llm_core.sessions import SESSION_KEY_PREFIX
from llm_core.workflow import StepContext, TraceEvent
from tests.clock import ManualClock
from tests.workflow.support import cache_plugin


def tag(name: str) -> Step:
    def fn(ctx: StepContext, state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "path": [*state.get("path", []), name]}

    return Step(name, fn)


def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
    return state if ctx.resumed else ctx.pause()


def test_override_replaces_a_plugin_in_place_and_extend_duplicates_are_ignored(
    clock: ManualClock,
) -> None:
    first, second = MemoryCache(clock=clock), MemoryCache(clock=clock)
    runtime = (
        Workflow("w", [tag("a")])
        .use(Plugin(key="adapter.cache", adapters=AdapterBundle(cache=first)))
        .use(Plugin(key="extra", steps=[tag("b")]))
        .use(Plugin(key="adapter.cache", mode="override", adapters=AdapterBundle(cache=second)))
        .use(Plugin(key="extra", steps=[tag("ignored")]))
        .build(clock=clock)
    )
    assert runtime.cache is second
    explained = runtime.explain()
    assert [p["key"] for p in explained["plugins"]] == ["w.steps", "adapter.cache", "extra"]
    assert explained["overrides"] == [{"kind": "plugin", "key": "adapter.cache"}]
    assert explained["ignored"] == [{"key": "extra", "reason": "duplicate key with mode='extend'"}]
    outcome = runtime.run({})
    assert isinstance(outcome, Ok)
    assert outcome.artefact == {"path": ["a", "b"]}
    assert [(d.level, d.code) for d in outcome.diagnostics] == [
        ("warn", "plugin.duplicate_ignored")
    ]


def test_single_valued_adapters_last_plugin_wins_and_tools_merge() -> None:
    runtime = (
        Workflow("w", [tag("a")])
        .use(Plugin(key="m1", adapters=AdapterBundle(model="model-1", tools={"x": 1})))
        .use(Plugin(key="m2", adapters=AdapterBundle(model="model-2", tools={"y": 2})))
        .build()
    )
    declared = runtime.declared_adapters()
    assert declared.model == "model-2"
    assert dict(declared.tools) == {"x": 1, "y": 2}
    assert declared.cache is None
    assert runtime.explain()["adapters"]["model"] == "str"
    assert runtime.explain()["adapters"]["tools"] == ["x", "y"]


def test_steps_are_placed_before_after_or_replaced_in_place() -> None:
    runtime = (
        Workflow("w", [tag("a"), tag("c")])
        .use(Plugin(key="p", steps=[Step("b", tag("b").fn, after="a")]))
        .use(Plugin(key="q", steps=[Step("start", tag("start").fn, before="a")]))
        .use(Plugin(key="r", steps=[Step("c", tag("C").fn)]))  # same name: replaces c
        .build()
    )
    outcome = runtime.run({})
    assert isinstance(outcome, Ok)
    assert outcome.artefact == {"path": ["start", "a", "b", "C"]}
    explained = runtime.explain()
    assert [s["name"] for s in explained["steps"]] == ["start", "a", "b", "c"]
    assert explained["steps"][3]["plugin"] == "r"
    assert {"kind": "step", "step": "c", "replaced": "w.steps", "by": "r"} in explained["overrides"]


def test_workflow_step_adds_and_replaces_steps() -> None:
    runtime = (
        Workflow("w", [tag("a")])
        .step(tag("b").fn, name="b")
        .step(tag("z").fn, name="first", before="a")
        .build()
    )
    outcome = runtime.run({})
    assert isinstance(outcome, Ok) and outcome.artefact == {"path": ["z", "a", "b"]}


def test_a_step_placed_next_to_an_unknown_step_fails_at_build() -> None:
    with pytest.raises(ConfigurationError, match="'nowhere', which is not a step"):
        Workflow("w", [tag("a")]).use(
            Plugin(key="p", steps=[Step("b", tag("b").fn, after="nowhere")])
        ).build()


def test_a_workflow_without_steps_fails_at_build() -> None:
    with pytest.raises(ConfigurationError, match="has no steps"):
        Workflow("empty").build()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": ""}, "non-empty str"),
        ({"key": "k", "mode": "replace"}, "'extend' or 'override'"),
        ({"key": "k", "adapters": {"cache": 1}}, "AdapterBundle"),
        ({"key": "k", "hooks": {"step.begin": print}}, "no hook event 'step.begin'"),
        ({"key": "k", "hooks": {"run.end": [1]}}, "not callable"),
        ({"key": "k", "requires": ["database"]}, "unknown adapters"),
        ({"key": "k", "steps": [lambda ctx, s: s]}, "wrap it as Step"),
        ({"key": "k", "steps": [42]}, "a Step or a function"),
    ],
)
def test_plugin_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Plugin(**kwargs)


def test_use_only_takes_plugins() -> None:
    with pytest.raises(ConfigurationError, match="Plugin objects"):
        Workflow("w", [tag("a")]).use("adapter.cache")  # type: ignore[arg-type]


def test_hooks_see_every_event_in_order(clock: ManualClock) -> None:
    seen: list[tuple[str, str | None]] = []
    other: list[str] = []

    def record(event: TraceEvent) -> None:
        seen.append((event.name, event.step))

    from llm_core.workflow import EVENT_NAMES

    runtime = (
        Workflow("w", [tag("a"), Step("gate", gate)])
        .use(Plugin(key="h1", hooks={name: record for name in EVENT_NAMES}))
        .use(Plugin(key="h2", hooks={"run.end": [lambda e: other.append(e.name)]}))
        .build(clock=clock)
    )
    first = runtime.run({})
    assert isinstance(first, Paused)
    assert seen == [(e.name, e.step) for e in first.trace]
    assert other == ["run.end"]


def test_a_failing_hook_is_a_warning_by_default(clock: ManualClock) -> None:
    def broken(event: TraceEvent) -> None:
        raise RuntimeError("hook bug")

    runtime = Workflow("w", [tag("a")]).use(Plugin(key="h", hooks={"step.start": broken}))
    outcome = runtime.build(clock=clock).run({})
    assert isinstance(outcome, Ok)
    assert [(d.level, d.code) for d in outcome.diagnostics] == [("warn", "hook.failed")]
    assert "hook bug" in outcome.diagnostics[0].message


def test_strict_mode_turns_a_failing_hook_into_an_error_and_discards_the_pause(
    clock: ManualClock,
) -> None:
    cache = MemoryCache(clock=clock)

    def broken(event: TraceEvent) -> None:
        raise RuntimeError("hook bug")

    runtime = (
        Workflow("w", [Step("gate", gate)])
        .use(cache_plugin(cache), Plugin(key="h", hooks={"run.paused": broken}))
        .build(clock=clock, strict=True)
    )
    outcome = runtime.run({})
    assert isinstance(outcome, Error)
    assert outcome.kind == "hook_failed"
    assert [(d.level, d.code) for d in outcome.diagnostics] == [("error", "hook.failed")]
    assert cache.keys() == []  # no dead token left behind


def test_strict_mode_on_resume_puts_the_session_back(clock: ManualClock) -> None:
    cache = MemoryCache(clock=clock)
    fail = {"on": False}

    def flaky(event: TraceEvent) -> None:
        if fail["on"]:
            raise RuntimeError("hook bug")

    runtime = (
        Workflow("w", [Step("gate", gate)])
        .use(cache_plugin(cache), Plugin(key="h", hooks={"run.ok": flaky}))
        .build(clock=clock, strict=True)
    )
    first = runtime.run({"x": 1})
    assert isinstance(first, Paused)
    fail["on"] = True
    failed = runtime.resume(first.token)
    assert isinstance(failed, Error) and failed.kind == "hook_failed" and failed.resumable
    assert cache.keys() == [SESSION_KEY_PREFIX + first.token]
    fail["on"] = False
    assert isinstance(runtime.resume(first.token), Ok)


def test_strict_mode_refuses_a_workflow_with_build_warnings(clock: ManualClock) -> None:
    ran: list[str] = []

    def side_effect(ctx: StepContext, state: dict[str, Any]) -> dict[str, Any]:
        ran.append("ran")
        return state

    workflow = Workflow("w", [side_effect]).use(Plugin(key="x"), Plugin(key="x"))
    lenient = workflow.build(clock=clock).run({})
    assert isinstance(lenient, Ok) and lenient.diagnostics[0].level == "warn"
    strict = workflow.build(clock=clock, strict=True).run({})
    assert isinstance(strict, Error)
    assert strict.kind == "invalid_workflow"
    assert isinstance(strict.error, WorkflowError)
    assert [(d.level, d.code) for d in strict.diagnostics] == [
        ("error", "plugin.duplicate_ignored")
    ]
    assert ran == ["ran"]  # only the lenient run ran the step


def test_a_missing_requirement_is_reported_by_explain_and_every_call(clock: ManualClock) -> None:
    runtime = (
        Workflow("w", [tag("a")])
        .use(Plugin(key="needs-model", requires=["model", "cache"]))
        .build(clock=clock)
    )
    assert runtime.explain()["missing_requirements"] == [
        {"plugin": "needs-model", "adapter": "model"}
    ]
    outcome = runtime.run({})
    assert isinstance(outcome, Error)
    assert outcome.kind == "missing_requirement"
    assert outcome.diagnostics[-1].code == "requirement.missing"
    assert outcome.diagnostics[-1].kind == "requirement"
    resumed = runtime.resume("whatever")
    assert isinstance(resumed, Error) and resumed.kind == "missing_requirement"
    satisfied = runtime = (
        Workflow("w", [tag("a")])
        .use(Plugin(key="needs-model", requires=["model"]))
        .use(Plugin(key="model", adapters=AdapterBundle(model=object())))
        .build(clock=clock)
    )
    assert isinstance(satisfied.run({}), Ok)


def test_explain_is_json_and_names_the_parts() -> None:
    import json

    runtime = Workflow("w", [tag("a"), Step("gate", gate)]).build(session_ttl=60)
    explained = json.loads(json.dumps(runtime.explain()))
    assert explained["recipe"] == "w"
    assert explained["session_ttl"] == 60
    assert explained["strict"] is False
    assert explained["adapters"]["cache"]["type"] == "MemoryCache"
    assert explained["adapters"]["cache"]["capabilities"]["atomic_take"] is True
    assert "w" in repr(runtime) and "a → gate" in repr(runtime)


def test_requires_given_as_a_bare_str_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"requires takes a sequence .*\('model',\)"):
        Plugin(key="p", requires="model")  # type: ignore[arg-type]
