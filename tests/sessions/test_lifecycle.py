"""The session lifecycle: leases, fencing, idempotent resume, cancel, validated input, signing."""

from __future__ import annotations

from typing import Any

import pytest

from llm_core import Error, MemoryCache, Ok, Paused, SQLiteCache, recipes
from llm_core.sessions import SESSION_KEY_PREFIX, Claim, SessionStore, cas, load
from llm_core.sessions._store import _run
from llm_core.workflow import StepContext, Workflow
from tests.clock import ManualClock
from tests.workflow.support import cache_plugin, stored_record

KEY = "k" * 32


class Calls:
    """What the steps saw, attempt by attempt."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.fail_next = False
        self.during: Any = None


def flow(calls: Calls) -> Workflow:
    def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause(kind="human", payload={"q": state.get("input")})
        calls.keys.append(ctx.idempotency_key)
        if calls.during is not None:
            during, calls.during = calls.during, None
            during()
        if calls.fail_next:
            calls.fail_next = False
            raise RuntimeError("the side effect failed")
        return {**state, "answer": ctx.resume_input}

    def second(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed and state.get("twice"):
            return ctx.pause(kind="second", payload={"again": True})
        return state

    return Workflow("lifecycle", [gate, second])


@pytest.fixture
def calls() -> Calls:
    return Calls()


def build(calls: Calls, cache: Any, clock: ManualClock, **options: Any) -> Any:
    return flow(calls).use(cache_plugin(cache)).build(clock=clock, **options)


def test_a_claim_whose_resumer_died_runs_out_and_the_step_runs_again_with_the_same_key(
    calls: Calls, cache: MemoryCache, clock: ManualClock
) -> None:
    runtime = build(calls, cache, clock, lease_ttl=30)
    token = runtime.run("x").token
    # a resumer claims the session, then dies before settling it
    store = SessionStore(cache, clock=clock)
    record = store.record(token)
    claimed = store.space.claimed(record, Claim("dead-resumer", clock.now + 30, None))
    assert _run(cas(record.key, record.raw, claimed, 100), cache)
    busy = runtime.resume(token, "yes")
    assert isinstance(busy, Error) and busy.kind == "session_busy"
    assert calls.keys == []  # nothing ran while the lease held
    clock.advance(31)
    calls.fail_next = True  # this attempt fails: released, still resumable
    failed = runtime.resume(token, "yes")
    assert isinstance(failed, Error) and failed.kind == "step_failed" and failed.resumable
    done = runtime.resume(token, "yes")
    assert isinstance(done, Ok) and done.artefact["answer"] == "yes"
    assert len(calls.keys) == 2 and calls.keys[0] == calls.keys[1]  # at least once, one key
    assert stored_record(cache.get(SESSION_KEY_PREFIX + token))["status"] == "completed"


def test_a_late_commit_after_a_takeover_changes_nothing(
    calls: Calls, cache: MemoryCache, clock: ManualClock
) -> None:
    runtime = build(calls, cache, clock, lease_ttl=10)
    token = runtime.run({"input": "x", "twice": True}).token
    taken_over: list[Any] = []

    def meanwhile() -> None:  # resumer A is slow: its lease runs out and B takes over
        clock.advance(11)
        taken_over.append(runtime.resume(token, "from B"))

    calls.during = meanwhile
    late = runtime.resume(token, "from A")
    [b] = taken_over
    assert isinstance(b, Paused)  # B completed the session (and paused at the second gate)
    assert isinstance(late, Error) and late.kind == "session_busy"
    assert [d.code for d in late.diagnostics][-1] == "session.lease_lost"
    keys = cache.keys(SESSION_KEY_PREFIX)
    assert sorted(keys) == sorted([SESSION_KEY_PREFIX + token, SESSION_KEY_PREFIX + b.token])
    assert calls.keys[0] == calls.keys[1]  # both attempts of the step shared one key
    assert isinstance(runtime.resume(b.token, "fine"), Ok)  # A's own second pause was discarded


def test_request_id_replays_the_recorded_outcome_and_other_repeats_are_refused(
    calls: Calls, cache: MemoryCache, clock: ManualClock
) -> None:
    runtime = build(calls, cache, clock)
    token = runtime.run({"input": "x", "twice": True}).token
    first = runtime.resume(token, "yes", request_id="req-1")
    assert isinstance(first, Paused) and not first.replayed
    again = runtime.resume(token, "yes", request_id="req-1")
    assert isinstance(again, Paused) and again.replayed
    assert (again.token, again.payload) == (first.token, first.payload)
    other = runtime.resume(token, "yes", request_id="req-2")
    assert isinstance(other, Error) and other.kind == "session_already_resumed"
    assert len(calls.keys) == 1  # the replay ran nothing
    clock.advance(901)  # past result_ttl: the completion record is gone
    gone = runtime.resume(token, "yes", request_id="req-1")
    assert isinstance(gone, Error) and gone.kind == "session_not_found"


@pytest.mark.parametrize("bad", ["", "x" * 201, "tab\there", 5])
def test_a_bad_request_id_is_refused_before_anything_is_touched(
    calls: Calls, cache: MemoryCache, clock: ManualClock, bad: Any
) -> None:
    runtime = build(calls, cache, clock)
    token = runtime.run("x").token
    outcome = runtime.resume(token, "yes", request_id=bad)
    assert isinstance(outcome, Error) and outcome.kind == "invalid_resume_input"
    assert isinstance(runtime.resume(token, "yes"), Ok)


def test_cancel_pending_busy_and_completed(
    calls: Calls, cache: MemoryCache, clock: ManualClock
) -> None:
    runtime = build(calls, cache, clock)
    token = runtime.run("x").token
    done = runtime.cancel(token)
    assert isinstance(done, Ok) and done.artefact == {"token": token, "status": "cancelled"}
    assert isinstance(runtime.cancel(token), Ok)  # idempotent
    refused = runtime.resume(token, "yes")
    assert isinstance(refused, Error) and refused.kind == "session_cancelled"
    assert calls.keys == []
    other = runtime.run("y").token
    assert isinstance(runtime.resume(other, "yes"), Ok)
    late = runtime.cancel(other)
    assert isinstance(late, Error) and late.kind == "session_already_resumed"
    unknown = runtime.cancel(token[:-4] + "AAAA")
    assert isinstance(unknown, Error) and unknown.kind == "session_not_found"


async def test_acancel_while_a_resume_holds_the_lease_is_busy(
    calls: Calls, cache: MemoryCache, clock: ManualClock
) -> None:
    runtime = build(calls, cache, clock)
    token = (await runtime.arun("x")).token
    seen: list[Any] = []
    calls.during = lambda: seen.append(runtime.cancel(token))
    assert isinstance(await runtime.aresume(token, "yes"), Ok)
    [busy] = seen
    assert isinstance(busy, Error) and busy.kind == "session_busy"


def test_expects_a_pydantic_model_refuses_bad_input_before_the_claim(
    cache: MemoryCache, clock: ManualClock
) -> None:
    pydantic = pytest.importorskip("pydantic")  # an optional dependency (via the extras)

    class Decision(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        approve: bool
        reason: str | None = None

    ran: list[Any] = []

    def ask(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause(kind="approval", payload={}, expects=Decision)
        ran.append(Decision.model_validate(ctx.resume_input))
        return state

    runtime = Workflow("typed", [ask]).use(cache_plugin(cache)).build(clock=clock)
    paused = runtime.run({})
    assert isinstance(paused, Paused) and paused.expects is not None
    assert paused.expects["required"] == ["approve"]
    key = SESSION_KEY_PREFIX + paused.token
    before = cache.get(key)
    for bad in ({"approve": "yes"}, {}, ["approve"], {"approve": True, "reason": 3}):
        outcome = runtime.resume(paused.token, bad)
        assert isinstance(outcome, Error) and outcome.kind == "invalid_resume_input"
        assert outcome.resumable
        assert cache.get(key) == before  # not even claimed
    assert ran == []
    assert isinstance(runtime.resume(paused.token, {"approve": True}), Ok)
    assert ran == [Decision(approve=True)]


def test_a_full_memory_cache_refuses_a_pause_instead_of_evicting_a_session(
    calls: Calls, clock: ManualClock
) -> None:
    cache = MemoryCache(max_entries=3, clock=clock)
    runtime = build(calls, cache, clock)
    tokens = [runtime.run(str(i)).token for i in range(3)]
    full = runtime.run("one too many")
    assert isinstance(full, Error) and full.kind == "session_store_full"
    assert all(isinstance(runtime.resume(t, "yes"), Ok) for t in tokens)  # none was evicted


def test_pause_refuses_a_state_nested_too_deep(cache: MemoryCache, clock: ManualClock) -> None:
    deep: Any = "leaf"
    for _ in range(980):
        deep = [deep]

    def nest(ctx: StepContext, state: dict[str, Any]) -> Any:
        return ctx.pause(payload={"deep": deep})

    outcome = Workflow("deep", [nest]).use(cache_plugin(cache)).build(clock=clock).run({})
    assert isinstance(outcome, Error) and outcome.kind == "snapshot_not_serializable"
    assert "nests deeper than 100 levels" in outcome.message
    assert cache.keys() == []


def test_signed_records_refuse_edits_and_copies_and_rotate(tmp_path: Any) -> None:
    cache = SQLiteCache(tmp_path / "s.db")
    old = recipes.hitl_gate(cache=cache, secret_key="old-key-" + "x" * 16)
    kept = old.run("keep me").token
    edited = old.run("edit me").token
    edited_key = SESSION_KEY_PREFIX + edited
    data = cache.get(edited_key)
    assert data is not None
    cache.set(edited_key, data.replace(b'"gate"', b'"finalize"'), 100)  # skip the human
    bad = old.resume(edited, {"decision": "approve"})
    assert isinstance(bad, Error) and bad.kind == "session_invalid"
    assert cache.get(edited_key) is not None  # refused, and kept for inspection
    cache.set(edited_key, cache.get(SESSION_KEY_PREFIX + kept) or b"", 100)  # a copy
    copied = old.resume(edited, {"decision": "approve"})
    assert isinstance(copied, Error) and copied.kind == "session_invalid"
    new_key = "new-key-" + "y" * 16
    without = recipes.hitl_gate(cache=cache, secret_key=new_key)
    refused = without.resume(kept, {"decision": "approve"})
    assert isinstance(refused, Error) and refused.kind == "session_invalid"
    rotated = recipes.hitl_gate(
        cache=cache, secret_key=new_key, previous_keys=["old-key-" + "x" * 16]
    )
    assert isinstance(rotated.resume(kept, {"decision": "approve"}), Ok)
    unsigned = recipes.hitl_gate(cache=cache)
    assert unsigned.run("x").diagnostics[0].code == "session.unsigned_shared"
    cache.close()


def test_a_short_secret_key_is_a_configuration_error() -> None:
    from llm_core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        recipes.hitl_gate(secret_key="short")
    with pytest.raises(ConfigurationError, match="previous_keys"):
        recipes.hitl_gate(previous_keys=["x" * 16])


def test_lease_and_result_ttls_are_checked() -> None:
    from llm_core.errors import ConfigurationError

    for bad in (0, 0.5, -1, float("nan"), True):
        with pytest.raises(ConfigurationError, match="lease_ttl"):
            recipes.hitl_gate(lease_ttl=bad)
    with pytest.raises(ConfigurationError, match="result_ttl"):
        recipes.hitl_gate(result_ttl=0)


def test_load_reads_without_touching(cache: MemoryCache, clock: ManualClock) -> None:
    runtime = recipes.hitl_gate(cache=cache, clock=clock)
    token = runtime.run("x").token
    store = SessionStore(cache, clock=clock)
    before = cache.get(SESSION_KEY_PREFIX + token)
    record = _run(load(store.space, token), cache)
    assert record.status == "pending" and record.snapshot.step == "gate"
    assert cache.get(SESSION_KEY_PREFIX + token) == before
    [info] = store.sessions()
    assert (info.token, info.status) == (token, "pending")


def test_a_schema_that_would_take_forever_is_refused_quickly(
    cache: MemoryCache, clock: ManualClock
) -> None:
    from llm_core.errors import InvalidSnapshotError
    from llm_core.sessions import schema_errors

    bomb: dict[str, Any] = {"anyOf": [{"$ref": "#"}, {"$ref": "#"}]}
    with pytest.raises(InvalidSnapshotError, match="too complex to check"):
        schema_errors(bomb, 1)
    redos = {"type": "string", "pattern": "^(a+)+$"}  # stored patterns are not run
    assert schema_errors(redos, "a" * 64 + "!") == []


def test_pause_refuses_an_expects_schema_the_checker_cannot_use(
    cache: MemoryCache, clock: ManualClock
) -> None:
    def ask(ctx: StepContext, state: dict[str, Any]) -> Any:
        return ctx.pause(expects={"type": {"not": "a type"}})

    outcome = Workflow("bad-schema", [ask]).use(cache_plugin(cache)).build(clock=clock).run({})
    assert isinstance(outcome, Error) and outcome.kind == "step_failed"
    assert "expects must be a JSON Schema" in outcome.message
    assert cache.keys() == []


def test_a_pause_may_store_the_progress_the_step_made(
    cache: MemoryCache, clock: ManualClock
) -> None:
    calls: list[str] = []

    def work(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            calls.append("expensive")  # e.g. a model call, done once
            return ctx.pause(payload={}, state={**state, "draft": "made before the pause"})
        return {**state, "decision": ctx.resume_input}

    runtime = Workflow("progress", [work]).use(cache_plugin(cache)).build(clock=clock)
    token = runtime.run({"input": "x"}).token
    done = runtime.resume(token, "ok")
    assert isinstance(done, Ok)
    assert done.artefact == {"input": "x", "draft": "made before the pause", "decision": "ok"}
    assert calls == ["expensive"]
