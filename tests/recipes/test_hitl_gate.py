"""The hitl-gate recipe: draft → human gate → finalize, its decisions, its cache plugin."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llm_core import AdapterBundle, Error, MemoryCache, Ok, Paused, Plugin, Workflow, recipes
from llm_core.errors import InvalidInputError, InvalidResumeInputError
from llm_core.sessions import SESSION_KEY_PREFIX
from tests.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


def pause(runtime: Any, value: Any = "Ship the release notes") -> Paused:
    outcome = runtime.run(value)
    assert isinstance(outcome, Paused), outcome
    return outcome


def test_a_run_pauses_for_a_human_with_the_draft_and_policy(clock: ManualClock) -> None:
    runtime = recipes.hitl_gate(clock=clock)
    first = pause(runtime, {"input": "Ship it", "policy": "no dates"})
    assert first.pause_kind == "human"
    assert first.payload == {"draft": "Ship it", "policy": "no dates"}
    assert [e.step for e in first.trace if e.name == "step.start"] == ["draft", "gate"]
    bare = pause(runtime, "Ship it")
    assert bare.payload == {"draft": "Ship it", "policy": None}


@pytest.mark.parametrize(
    ("decision", "artefact"),
    [
        (
            {"decision": "approve"},
            {
                "draft": "D",
                "decision": "approve",
                "status": "approved",
                "notes": None,
                "final": "D",
            },
        ),
        (
            {"decision": "approve", "notes": "lgtm"},
            {
                "draft": "D",
                "decision": "approve",
                "status": "approved",
                "notes": "lgtm",
                "final": "D",
            },
        ),
        (
            {"decision": "reject", "notes": "off-tone"},
            {
                "draft": "D",
                "decision": "reject",
                "status": "rejected",
                "notes": "off-tone",
                "final": None,
            },
        ),
        (
            {"decision": "edit", "edited": "D, better", "notes": None},
            {
                "draft": "D",
                "decision": "edit",
                "status": "approved",
                "notes": None,
                "final": "D, better",
            },
        ),
    ],
)
def test_decisions_give_the_artefact(
    clock: ManualClock, decision: dict[str, Any], artefact: dict[str, Any]
) -> None:
    runtime = recipes.hitl_gate(clock=clock)
    outcome = runtime.resume(pause(runtime, "D").token, decision)
    assert isinstance(outcome, Ok), outcome
    assert outcome.artefact == artefact


@pytest.mark.parametrize(
    ("resume_input", "message"),
    [
        # refused by the pause's expects schema, before the session is claimed
        (None, "$: expected object, got null"),
        ("approve", "$: expected object, got string"),
        ({}, "$: missing required field 'decision'"),
        ({"decision": "maybe"}, "$.decision: must be one of ['approve', 'reject', 'edit']"),
        ({"decision": "approve", "note": "typo"}, "$: unexpected field 'note'"),
        ({"decision": "approve", "notes": 3}, "$.notes: expected string or null, got number"),
        # refused by the gate step itself (rules the schema does not say), then released
        ({"decision": "edit"}, "decision 'edit' needs 'edited'"),
        ({"decision": "edit", "edited": ""}, "decision 'edit' needs 'edited'"),
        ({"decision": "approve", "edited": "x"}, "'edited' only goes with decision 'edit'"),
    ],
)
def test_bad_decisions_are_clear_errors_and_leave_the_token_resumable(
    clock: ManualClock, resume_input: Any, message: str
) -> None:
    runtime = recipes.hitl_gate(clock=clock)
    token = pause(runtime).token
    outcome = runtime.resume(token, resume_input)
    assert isinstance(outcome, Error)
    assert outcome.kind == "invalid_resume_input"
    assert isinstance(outcome.error, InvalidResumeInputError)
    assert message in outcome.message
    assert outcome.resumable
    assert isinstance(runtime.resume(token, {"decision": "approve"}), Ok)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "non-empty str"),
        (42, "non-empty str"),
        ({"policy": "x"}, "non-empty str"),
        ({"input": "x", "extra": 1}, "unknown keys ['extra']"),
    ],
)
def test_bad_input_is_invalid_input(clock: ManualClock, value: Any, message: str) -> None:
    runtime = recipes.hitl_gate(clock=clock)
    outcome = runtime.run(value)
    assert isinstance(outcome, Error)
    assert outcome.kind == "invalid_input"
    assert isinstance(outcome.error, InvalidInputError)
    assert message in outcome.message
    assert runtime.cache.keys() == []  # type: ignore[attr-defined]


def test_the_default_plugin_is_a_private_memory_cache_per_runtime(clock: ManualClock) -> None:
    one, two = recipes.hitl_gate(clock=clock), recipes.hitl_gate(clock=clock)
    assert isinstance(one.cache, MemoryCache) and one.cache is not two.cache
    explained = one.explain()
    assert [p["key"] for p in explained["plugins"]] == ["recipe.hitl-gate", "adapter.cache"]
    assert explained["adapters"]["cache"]["source"] == "plugin"
    assert one.declared_adapters().cache is one.cache


def test_a_user_cache_plugin_overrides_the_default_and_holds_the_sessions(
    clock: ManualClock,
) -> None:
    mine = MemoryCache(clock=clock)
    runtime = (
        Workflow.recipe("hitl-gate")
        .use(Plugin(key="adapter.cache", mode="override", adapters=AdapterBundle(cache=mine)))
        .build(clock=clock)
    )
    assert runtime.cache is mine
    assert runtime.explain()["overrides"] == [{"kind": "plugin", "key": "adapter.cache"}]
    first = pause(runtime)
    assert mine.keys() == [SESSION_KEY_PREFIX + first.token]
    assert isinstance(runtime.resume(first.token, {"decision": "approve"}), Ok)
    assert mine.keys() == [SESSION_KEY_PREFIX + first.token]  # the completion, for replays


def test_hitl_gate_cache_argument_does_the_same(clock: ManualClock) -> None:
    mine = MemoryCache(clock=clock)
    runtime = recipes.hitl_gate(cache=mine, clock=clock)
    first = pause(runtime)
    assert mine.keys() == [SESSION_KEY_PREFIX + first.token]
    # a second runtime over the same cache resumes it (as another process would)
    other = recipes.hitl_gate(cache=mine, clock=clock)
    assert isinstance(other.resume(first.token, {"decision": "reject"}), Ok)


def test_an_extend_cache_plugin_with_the_same_key_is_ignored_with_a_warning(
    clock: ManualClock,
) -> None:
    mine = MemoryCache(clock=clock)
    runtime = (
        Workflow.recipe("hitl-gate")
        .use(Plugin(key="adapter.cache", adapters=AdapterBundle(cache=mine)))
        .build(clock=clock)
    )
    assert runtime.cache is not mine
    first = pause(runtime)
    assert [d.code for d in first.diagnostics] == ["plugin.duplicate_ignored"]


def test_session_ttl_and_expiry(clock: ManualClock) -> None:
    runtime = recipes.hitl_gate(session_ttl=120, clock=clock)
    first = pause(runtime)
    assert first.expires_at == clock.now + 120
    clock.advance(121)
    outcome = runtime.resume(first.token, {"decision": "approve"})
    assert isinstance(outcome, Error) and outcome.kind == "session_expired"


class ChatMessage:
    def __init__(self, content: str) -> None:
        self.content = content


class InvokeModel:
    def __init__(self) -> None:
        self.prompts: list[str] = []

    def invoke(self, prompt: str) -> ChatMessage:
        self.prompts.append(prompt)
        return ChatMessage(f"Draft: {prompt}")


def test_a_model_adapter_drafts(clock: ManualClock) -> None:
    runtime = recipes.hitl_gate(model=lambda prompt: prompt.upper(), clock=clock)
    assert pause(runtime, "hello").payload["draft"] == "HELLO"
    model = InvokeModel()
    runtime = recipes.hitl_gate(model=model, clock=clock)
    first = pause(runtime, {"input": "hello", "policy": {"tone": "warm"}})
    assert first.payload == {"draft": "Draft: hello", "policy": {"tone": "warm"}}
    assert model.prompts == ["hello"]
    done = runtime.resume(first.token, {"decision": "approve"})
    assert isinstance(done, Ok) and done.artefact["final"] == "Draft: hello"


def test_an_async_model_adapter_drafts_on_both_faces(clock: ManualClock) -> None:
    async def model(prompt: str) -> str:
        await asyncio.sleep(0)
        return f"async {prompt}"

    runtime = recipes.hitl_gate(model=model, clock=clock)
    assert pause(runtime, "hi").payload["draft"] == "async hi"
    outcome = asyncio.run(runtime.arun("there"))
    assert isinstance(outcome, Paused) and outcome.payload["draft"] == "async there"


def test_a_model_returning_something_odd_is_a_step_error(clock: ManualClock) -> None:
    runtime = recipes.hitl_gate(model=lambda prompt: 42, clock=clock)
    outcome = runtime.run("x")
    assert isinstance(outcome, Error) and outcome.kind == "step_failed"
    assert "expected a str" in outcome.message
    not_a_model = recipes.hitl_gate(model=object(), clock=clock).run("x")
    assert isinstance(not_a_model, Error) and "must be callable" in not_a_model.message


def test_the_recipe_is_registered_and_explained() -> None:
    assert "hitl-gate" in recipes.recipe_names()
    runtime = Workflow.recipe("hitl-gate").build()
    assert [s["name"] for s in runtime.explain()["steps"]] == ["draft", "gate", "finalize"]
    assert runtime.recipe == "hitl-gate"
