"""Run/resume semantics: continue at the paused step, exactly once, tokens, expiry, put-back."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from llm_core import Error, MemoryCache, Ok, Paused, StepContext, Workflow
from llm_core.errors import (
    InvalidResumeInputError,
    InvalidTokenError,
    SessionAlreadyResumedError,
    SessionExpiredError,
)
from llm_core.sessions import SESSION_KEY_PREFIX
from tests.clock import ManualClock
from tests.workflow.support import Counter, approval_flow, cache_plugin, stored_record


def paused(outcome: object) -> Paused:
    assert isinstance(outcome, Paused), outcome
    return outcome


def test_run_pauses_then_resume_continues_at_the_paused_step(
    clock: ManualClock, cache: MemoryCache, counter: Counter
) -> None:
    runtime = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock)
    first = paused(runtime.run("ship it?"))
    assert first.pause_kind == "human"
    assert first.payload == {"question": "ship it?"}
    assert counter.calls == {"prepare": 1, "ask": 1}

    outcome = runtime.resume(first.token, {"ok": True})
    match outcome:
        case Ok(artefact=artefact):
            assert artefact == {"result": True, "input": "ship it?"}
        case _:
            pytest.fail(f"expected Ok, got {outcome}")
    # the paused step ran again; the step before it was not replayed
    assert counter.calls == {"prepare": 1, "ask": 2, "done": 1}


def test_resume_of_the_same_token_twice_is_session_already_resumed(
    clock: ManualClock, counter: Counter
) -> None:
    runtime = approval_flow(counter).build(clock=clock)
    token = paused(runtime.run("x")).token
    assert isinstance(runtime.resume(token, {"ok": False}), Ok)
    second = runtime.resume(token, {"ok": False})
    assert isinstance(second, Error)
    assert second.kind == "session_already_resumed"
    assert isinstance(second.error, SessionAlreadyResumedError)
    assert [d.code for d in second.diagnostics] == ["session.already_resumed"]
    assert counter.calls["done"] == 1


def test_a_token_past_its_ttl_is_session_expired(clock: ManualClock, counter: Counter) -> None:
    runtime = approval_flow(counter).build(clock=clock, session_ttl=60)
    first = paused(runtime.run("x"))
    assert first.expires_at == clock.now + 60
    clock.advance(60)  # exactly at the expiry: still alive
    clock.advance(0.5)
    outcome = runtime.resume(first.token, {"ok": True})
    assert isinstance(outcome, Error)
    assert outcome.kind == "session_expired"
    assert isinstance(outcome.error, SessionExpiredError)
    assert outcome.diagnostics[-1].code == "session.expired"


def test_expiry_boundary_is_inclusive(clock: ManualClock, counter: Counter) -> None:
    runtime = approval_flow(counter).build(clock=clock, session_ttl=60)
    token = paused(runtime.run("x")).token
    clock.advance(60)
    assert isinstance(runtime.resume(token, {"ok": True}), Ok)


def test_expired_is_told_apart_from_used_even_after_the_cache_dropped_the_entry(
    clock: ManualClock, cache: MemoryCache, counter: Counter
) -> None:
    runtime = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock, session_ttl=10)
    token = paused(runtime.run("x")).token
    clock.advance(11)
    assert cache.sweep() == 1  # the entry is gone: only the token knows it expired
    outcome = runtime.resume(token, {"ok": True})
    assert isinstance(outcome, Error) and outcome.kind == "session_expired"


def test_a_snapshot_the_cache_still_holds_after_its_expiry_is_refused(
    clock: ManualClock, counter: Counter
) -> None:
    # a cache with a weaker TTL may keep an entry past its time: the runtime still refuses it
    lenient = MemoryCache()  # on its own (real, monotonic) clock: will not expire the entry
    runtime = approval_flow(counter).use(cache_plugin(lenient)).build(clock=clock, session_ttl=10)
    token = paused(runtime.run("x")).token
    clock.advance(11)
    outcome = runtime.resume(token, {"ok": True})
    assert isinstance(outcome, Error) and outcome.kind == "session_expired"
    assert counter.calls.get("done") is None


@pytest.mark.parametrize(
    "token",
    ["", "nope", "abc.def", "18c0d1e2f3a.too-short", "XYZ." + "a" * 22, 12345, -1],
    ids=repr,
)
def test_malformed_tokens_are_invalid_token(
    clock: ManualClock, counter: Counter, token: object
) -> None:
    runtime = approval_flow(counter).build(clock=clock)
    outcome = runtime.resume(token, {"ok": True})  # type: ignore[arg-type]
    assert isinstance(outcome, Error)
    assert outcome.kind == "invalid_token"
    assert isinstance(outcome.error, InvalidTokenError)
    assert outcome.diagnostics[-1].code == "resume.invalid_token"


@pytest.mark.parametrize("token", [None, 1.5, b"bytes", ["list"], True], ids=repr)
def test_tokens_that_are_not_str_or_int_are_invalid_token(
    clock: ManualClock, counter: Counter, token: object
) -> None:
    runtime = approval_flow(counter).build(clock=clock)
    outcome = runtime.resume(token, {"ok": True})  # type: ignore[arg-type]
    assert isinstance(outcome, Error) and outcome.kind == "invalid_token"
    assert "str" in outcome.message


def test_a_well_formed_but_unknown_token_is_session_not_found(
    clock: ManualClock, counter: Counter
) -> None:
    runtime = approval_flow(counter).build(clock=clock)
    real = paused(runtime.run("x")).token
    stamp = real.split(".")[0]
    outcome = runtime.resume(stamp + "." + "A" * 22, {"ok": True})
    assert isinstance(outcome, Error) and outcome.kind == "session_not_found"


def test_bad_resume_input_is_an_error_and_the_same_token_then_resumes(
    clock: ManualClock, cache: MemoryCache, counter: Counter
) -> None:
    runtime = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock, session_ttl=100)
    first = paused(runtime.run("x"))
    key = SESSION_KEY_PREFIX + first.token
    clock.advance(30)

    bad = runtime.resume(first.token, {"ok": "yes"})
    assert isinstance(bad, Error)
    assert bad.kind == "invalid_resume_input"
    assert isinstance(bad.error, InvalidResumeInputError)
    assert bad.resumable
    assert bad.diagnostics[-1].data is not None
    assert bad.diagnostics[-1].data["resumable"] is True
    # released: pending again, one attempt counted, the snapshot as it was
    stored = stored_record(cache.get(key))
    assert stored["status"] == "pending" and stored["attempts"] == 1
    assert stored["snapshot"]["head"][4] == first.expires_at
    clock.advance(60)
    outcome = runtime.resume(first.token, {"ok": True})
    assert isinstance(outcome, Ok), outcome
    assert outcome.artefact["result"] is True


def test_a_put_back_session_keeps_only_its_remaining_ttl(
    clock: ManualClock, cache: MemoryCache, counter: Counter
) -> None:
    runtime = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock, session_ttl=100)
    token = paused(runtime.run("x")).token
    clock.advance(30)
    assert isinstance(runtime.resume(token, "not a dict"), Error)
    clock.advance(70.5)  # 100.5 s after the pause
    assert cache.get(SESSION_KEY_PREFIX + token) is None
    outcome = runtime.resume(token, {"ok": True})
    assert isinstance(outcome, Error) and outcome.kind == "session_expired"


def test_a_step_that_raises_gives_an_error_with_a_trace_and_the_token_stays_resumable(
    clock: ManualClock,
) -> None:
    attempts: list[int] = []

    def flaky(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause(payload={"n": 1})
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("upstream hiccup")
        return {**state, "done": True}

    runtime = Workflow("flaky", [flaky]).build(clock=clock)
    token = paused(runtime.run({"a": 1})).token
    failed = runtime.resume(token, "go")
    assert isinstance(failed, Error)
    assert failed.kind == "step_failed"
    assert isinstance(failed.error, RuntimeError)
    assert str(failed.error) == "upstream hiccup"
    names = [(e.name, e.step) for e in failed.trace]
    assert names == [
        ("run.start", None),
        ("step.start", "flaky"),
        ("step.end", "flaky"),
        ("run.error", "flaky"),
        ("run.end", None),
    ]
    assert failed.trace[2].data == {"status": "error"}
    assert failed.diagnostics[-1].code == "step.failed"
    assert failed.resumable

    again = runtime.resume(token, "go")
    assert isinstance(again, Ok)
    assert again.artefact == {"a": 1, "done": True}


def test_a_failure_in_a_later_step_also_leaves_the_token_resumable(clock: ManualClock) -> None:
    broken = {"on": True}

    def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        return {**state, "ok": True} if ctx.resumed else ctx.pause()

    def after(ctx: StepContext, state: dict[str, Any]) -> dict[str, Any]:
        if broken["on"]:
            raise ValueError("not yet")
        return {**state, "after": True}

    runtime = Workflow("two", [gate, after]).build(clock=clock)
    token = paused(runtime.run({})).token
    assert isinstance(runtime.resume(token), Error)
    broken["on"] = False
    outcome = runtime.resume(token)
    assert isinstance(outcome, Ok) and outcome.artefact == {"ok": True, "after": True}


def test_a_step_mutating_its_state_before_failing_does_not_change_the_stored_session(
    clock: ManualClock,
) -> None:
    seen: list[Any] = []

    def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause()
        seen.append(json.loads(json.dumps(state)))
        state["items"].append("junk")
        state["junk"] = True
        raise RuntimeError("boom")

    runtime = Workflow("mutating", [gate]).build(clock=clock)
    token = paused(runtime.run({"items": [1]})).token
    runtime.resume(token)
    runtime.resume(token)
    assert seen == [{"items": [1]}, {"items": [1]}]


def test_a_second_pause_mints_a_new_token(clock: ManualClock) -> None:
    def first(ctx: StepContext, state: dict[str, Any]) -> Any:
        return {**state, "first": ctx.resume_input} if ctx.resumed else ctx.pause(payload=1)

    def second(ctx: StepContext, state: dict[str, Any]) -> Any:
        return {**state, "second": ctx.resume_input} if ctx.resumed else ctx.pause(payload=2)

    runtime = Workflow("twice", [first, second]).build(clock=clock)
    one = paused(runtime.run({}))
    two = paused(runtime.resume(one.token, "a"))
    assert two.token != one.token
    assert two.payload == 2
    # the first token is spent
    spent = runtime.resume(one.token, "a")
    assert isinstance(spent, Error) and spent.kind == "session_already_resumed"
    done = runtime.resume(two.token, "b")
    assert isinstance(done, Ok) and done.artefact == {"first": "a", "second": "b"}


def test_resume_input_is_deep_copied_on_entry(clock: ManualClock) -> None:
    captured: list[Any] = []

    def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause()
        captured.append(ctx.resume_input)
        return {"input": ctx.resume_input}

    runtime = Workflow("copy", [gate]).build(clock=clock)
    token = paused(runtime.run({})).token
    given = {"notes": ["keep"], "nested": {"k": "v"}}
    outcome = runtime.resume(token, given)
    given["notes"].append("changed later")
    given["nested"]["k"] = "changed"
    assert isinstance(outcome, Ok)
    assert outcome.artefact == {"input": {"notes": ["keep"], "nested": {"k": "v"}}}
    assert captured[0] is not given


def test_run_input_is_copied_too(clock: ManualClock) -> None:
    def keep(ctx: StepContext, state: dict[str, Any]) -> Any:
        return state

    runtime = Workflow("keep", [keep]).build(clock=clock)
    given = {"list": [1, 2]}
    outcome = runtime.run(given)
    given["list"].append(3)
    assert isinstance(outcome, Ok) and outcome.artefact == {"list": [1, 2]}
    bare = runtime.run("text")
    assert isinstance(bare, Ok) and bare.artefact == {"input": "text"}


def test_sixteen_threads_racing_resume_on_one_token_get_exactly_one_ok(
    clock: ManualClock, counter: Counter
) -> None:
    runtime = approval_flow(counter).build(clock=clock)
    for _round in range(5):
        token = paused(runtime.run("race")).token
        barrier = threading.Barrier(16)
        outcomes: list[Any] = []
        lock = threading.Lock()

        def racer(token: str = token, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            outcome = runtime.resume(token, {"ok": True})
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=racer) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        kinds = sorted(o.status if not isinstance(o, Error) else o.kind for o in outcomes)
        assert kinds[0] == "ok"
        assert set(kinds[1:]) <= {"session_busy", "session_already_resumed"}
    assert counter.calls["done"] == 5


def test_a_step_returning_something_other_than_state_is_an_error(clock: ManualClock) -> None:
    def wrong(ctx: StepContext, state: dict[str, Any]) -> Any:
        return 42

    outcome = Workflow("wrong", [wrong]).build(clock=clock).run({})
    assert isinstance(outcome, Error)
    assert outcome.kind == "step_failed"
    assert outcome.diagnostics[-1].code == "step.invalid_result"
    assert "returned int" in outcome.message


def test_a_step_may_return_any_mapping(clock: ManualClock) -> None:
    from types import MappingProxyType

    def proxy(ctx: StepContext, state: dict[str, Any]) -> Any:
        return MappingProxyType({"a": 1})

    outcome = Workflow("proxy", [proxy]).build(clock=clock).run({})
    assert isinstance(outcome, Ok) and outcome.artefact == {"a": 1}


def test_a_pause_with_an_empty_kind_is_a_step_error(clock: ManualClock) -> None:
    def bad(ctx: StepContext, state: dict[str, Any]) -> Any:
        return ctx.pause(kind="")

    outcome = Workflow("bad", [bad]).build(clock=clock).run({})
    assert isinstance(outcome, Error) and outcome.kind == "step_failed"
    assert "non-empty str" in outcome.message


def test_trace_of_a_pause_and_a_resume(clock: ManualClock, counter: Counter) -> None:
    runtime = approval_flow(counter).build(clock=clock)
    first = paused(runtime.run("x"))
    assert [(e.name, e.step) for e in first.trace] == [
        ("run.start", None),
        ("step.start", "prepare"),
        ("step.end", "prepare"),
        ("step.start", "ask"),
        ("step.end", "ask"),
        ("run.paused", None),
        ("run.end", None),
    ]
    assert all(e.at == clock.now for e in first.trace)
    assert first.trace[5].data == {"token": first.token}
    clock.advance(5)
    done = runtime.resume(first.token, {"ok": True})
    assert isinstance(done, Ok)
    assert [e.name for e in done.trace] == [
        "run.start",
        "step.start",
        "step.end",
        "step.start",
        "step.end",
        "run.ok",
        "run.end",
    ]
    assert done.trace[0].data == {"resume": True}
    assert done.trace[1].step == "ask"


def test_a_token_of_another_recipe_is_refused_and_stays_resumable(
    clock: ManualClock, cache: MemoryCache, counter: Counter
) -> None:
    approval = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock)

    def other_step(ctx: StepContext, state: dict[str, Any]) -> Any:
        return state

    other = Workflow("other", [other_step]).use(cache_plugin(cache)).build(clock=clock)
    token = paused(approval.run("x")).token
    refused = other.resume(token, {"ok": True})
    assert isinstance(refused, Error)
    assert refused.kind == "session_invalid"
    assert refused.diagnostics[-1].code == "session.recipe_mismatch"
    assert refused.resumable
    assert isinstance(approval.resume(token, {"ok": True}), Ok)


def test_a_session_whose_step_no_longer_exists_is_session_invalid(
    clock: ManualClock, cache: MemoryCache, counter: Counter
) -> None:
    old = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock)
    token = paused(old.run("x")).token

    def only(ctx: StepContext, state: dict[str, Any]) -> Any:
        return state

    new = Workflow("approval", [only]).use(cache_plugin(cache)).build(clock=clock)
    outcome = new.resume(token, {"ok": True})
    assert isinstance(outcome, Error) and outcome.kind == "session_invalid"
    assert outcome.diagnostics[-1].code == "session.unknown_step"
    assert "'ask'" in outcome.message


def test_a_corrupt_stored_session_is_session_invalid(
    clock: ManualClock, cache: MemoryCache, counter: Counter
) -> None:
    runtime = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock)
    token = paused(runtime.run("x")).token
    cache.set(SESSION_KEY_PREFIX + token, b"\x80 not json", 60)
    outcome = runtime.resume(token, {"ok": True})
    assert isinstance(outcome, Error) and outcome.kind == "session_invalid"
    assert outcome.diagnostics[-1].code == "session.corrupt"


def test_a_resume_input_that_cannot_be_copied_is_invalid_resume_input(
    clock: ManualClock, counter: Counter
) -> None:
    runtime = approval_flow(counter).build(clock=clock)
    token = paused(runtime.run("x")).token
    outcome = runtime.resume(token, {"lock": threading.Lock()})
    assert isinstance(outcome, Error) and outcome.kind == "invalid_resume_input"
    # nothing was claimed: the token still works
    assert isinstance(runtime.resume(token, {"ok": True}), Ok)


def test_a_restore_after_the_ttl_ran_out_during_the_step_is_not_resumable(
    clock: ManualClock,
) -> None:
    def slow(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause()
        clock.advance(20)  # the step outlives the session
        raise RuntimeError("late")

    runtime = Workflow("slow", [slow]).build(clock=clock, session_ttl=10)
    token = paused(runtime.run({})).token
    outcome = runtime.resume(token)
    assert isinstance(outcome, Error) and outcome.kind == "step_failed"
    assert not outcome.resumable
    again = runtime.resume(token)
    assert isinstance(again, Error) and again.kind == "session_expired"


@pytest.mark.parametrize("session_ttl", [1e17, 1e20, 1e300, 1e308])
def test_a_pause_with_a_very_long_ttl_still_gives_a_resumable_token(
    clock: ManualClock, counter: Counter, session_ttl: float
) -> None:
    runtime = approval_flow(counter).build(clock=clock, session_ttl=session_ttl)
    token = paused(runtime.run("x")).token
    outcome = runtime.resume(token, {"ok": True})
    assert isinstance(outcome, Ok), outcome
    assert outcome.artefact == {"result": True, "input": "x"}


def test_a_run_input_that_cannot_be_copied_is_an_error_not_an_exception(
    clock: ManualClock,
) -> None:
    def keep(ctx: StepContext, state: dict[str, Any]) -> Any:
        return state

    runtime = Workflow("keep", [keep]).build(clock=clock)
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    for given in ({"lock": threading.Lock()}, threading.Lock(), {"deep": deep}):
        outcome = runtime.run(given)
        assert isinstance(outcome, Error), type(given)
        assert outcome.kind == "invalid_input"
        assert outcome.diagnostics[-1].code == "input.invalid"
        assert "copied" in outcome.message
