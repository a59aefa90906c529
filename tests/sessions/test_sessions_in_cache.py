"""Where sessions live: the resolved ``adapters.cache``, and what happens when it fails."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from llm_core import Error, MemoryCache, Ok, Paused, SQLiteCache, StepContext, Workflow
from llm_core.errors import CacheUnavailableError, SnapshotSerializationError
from llm_core.sessions import SESSION_KEY_PREFIX
from tests.clock import ManualClock
from tests.workflow.support import (
    Counter,
    SwitchableCache,
    approval_flow,
    cache_plugin,
    stored_record,
)


def pausing_with(payload: Any, state_extra: Any = None) -> Workflow:
    """add (puts ``state_extra`` into the state) → gate (pauses with ``payload``)."""

    def add(ctx: StepContext, state: dict[str, Any]) -> Any:
        return state if state_extra is None else {**state, "extra": state_extra}

    def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        return state if ctx.resumed else ctx.pause(kind="review", payload=payload)

    return Workflow("payloads", [add, gate])


def test_a_user_cache_plugin_holds_the_sessions(
    clock: ManualClock, cache: MemoryCache, counter: Counter
) -> None:
    runtime = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock)
    first = runtime.run("hello")
    assert isinstance(first, Paused)
    assert cache.keys() == [SESSION_KEY_PREFIX + first.token]
    record = stored_record(cache.get(SESSION_KEY_PREFIX + first.token))
    assert record == {
        "status": "pending",
        "attempts": 0,
        "claim": None,
        "snapshot": {
            "head": [
                first.token,
                "human",
                clock.now,
                clock.now,
                clock.now + 24 * 3600,
                "approval",
                "ask",
            ],
            "state": {"input": "hello", "prepared": True},
            "payload": {"question": "hello"},
            "expects": None,
            "version": 2,
        },
    }
    assert isinstance(runtime.resume(first.token, {"ok": True}), Ok)
    done = stored_record(cache.get(SESSION_KEY_PREFIX + first.token))  # kept for replays
    assert done["status"] == "completed"
    assert done["outcome"]["type"] == "unrecorded"  # no request_id: nothing can replay it


def test_the_stored_ttl_is_the_session_ttl(clock: ManualClock, cache: MemoryCache) -> None:
    runtime = pausing_with({"x": 1}).use(cache_plugin(cache)).build(clock=clock, session_ttl=30)
    token = runtime.run({})
    assert isinstance(token, Paused)
    key = SESSION_KEY_PREFIX + token.token
    clock.advance(30)
    assert cache.get(key) is not None
    clock.advance(0.001)
    assert cache.get(key) is None


def test_without_a_cache_plugin_each_runtime_has_a_private_memory_cache(
    clock: ManualClock, counter: Counter
) -> None:
    one = approval_flow(counter).build(clock=clock)
    two = approval_flow(counter).build(clock=clock)
    assert isinstance(one.cache, MemoryCache)
    assert one.cache is not two.cache
    assert one.declared_adapters().cache is None
    assert one.explain()["adapters"]["cache"]["source"] == "runtime fallback"
    first = one.run("x")
    assert isinstance(first, Paused)
    assert one.cache.keys() == [SESSION_KEY_PREFIX + first.token]  # type: ignore[attr-defined]
    elsewhere = two.resume(first.token, {"ok": True})
    assert isinstance(elsewhere, Error) and elsewhere.kind == "session_not_found"
    assert isinstance(one.resume(first.token, {"ok": True}), Ok)


def test_two_runtimes_on_one_cache_share_sessions(
    clock: ManualClock, cache: MemoryCache, counter: Counter
) -> None:
    a = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock)
    b = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock)
    first = a.run("x")
    assert isinstance(first, Paused)
    assert isinstance(b.resume(first.token, {"ok": True}), Ok)


def test_sessions_survive_the_runtime_in_a_sqlite_file(tmp_path: Path, counter: Counter) -> None:
    path = tmp_path / "sessions.db"
    cache = SQLiteCache(path)
    first = approval_flow(counter).use(cache_plugin(cache)).build().run("durable")
    assert isinstance(first, Paused)
    cache.close()

    reopened = SQLiteCache(path)
    later = approval_flow(counter).use(cache_plugin(reopened)).build()
    outcome = later.resume(first.token, {"ok": True})
    assert isinstance(outcome, Ok)
    assert outcome.artefact == {"result": True, "input": "durable"}
    reopened.close()


def test_an_unserialisable_payload_is_an_error_and_nothing_is_stored(
    clock: ManualClock, cache: MemoryCache
) -> None:
    runtime = pausing_with({"when": object()}).use(cache_plugin(cache)).build(clock=clock)
    outcome = runtime.run({})
    assert isinstance(outcome, Error)
    assert outcome.kind == "snapshot_not_serializable"
    assert isinstance(outcome.error, SnapshotSerializationError)
    assert "payload" in outcome.message and "object" in outcome.message
    assert outcome.diagnostics[-1].code == "snapshot.not_serializable"
    assert [e.name for e in outcome.trace][-2:] == ["run.error", "run.end"]
    assert cache.keys() == []


def test_an_unserialisable_state_names_the_state(clock: ManualClock, cache: MemoryCache) -> None:
    outcome = (
        pausing_with("ok", state_extra={1, 2}).use(cache_plugin(cache)).build(clock=clock).run({})
    )
    assert isinstance(outcome, Error) and outcome.kind == "snapshot_not_serializable"
    assert outcome.message.startswith(
        "cannot pause at step 'gate': state: the set at $.extra cannot be stored"
    )  # names the path in the state
    assert cache.keys() == []


def test_non_finite_numbers_and_cycles_cannot_be_stored(
    clock: ManualClock, cache: MemoryCache
) -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    for payload in (math.nan, math.inf, cyclic, "\ud800"):
        runtime = pausing_with(payload).use(cache_plugin(cache)).build(clock=clock)
        outcome = runtime.run({})
        assert isinstance(outcome, Error), payload
        assert outcome.kind == "snapshot_not_serializable"
    assert cache.keys() == []


def test_a_cache_that_fails_to_store_the_pause_gives_an_error_not_a_dead_token(
    clock: ManualClock, counter: Counter
) -> None:
    cache = SwitchableCache(clock)
    cache.down = {"set"}
    runtime = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock)
    outcome = runtime.run("x")
    assert isinstance(outcome, Error)
    assert outcome.kind == "cache_unavailable"
    assert isinstance(outcome.error, CacheUnavailableError)
    assert outcome.diagnostics[-1].code == "cache.unavailable"
    assert outcome.diagnostics[-1].kind == "adapter"
    assert cache.inner.keys() == []


def test_a_cache_that_fails_on_resume_gives_cache_unavailable_and_keeps_the_session(
    clock: ManualClock, counter: Counter
) -> None:
    cache = SwitchableCache(clock)
    runtime = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock)
    first = runtime.run("x")
    assert isinstance(first, Paused)
    for down in ({"get"}, {"compare_and_set", "get"}):
        cache.down = down
        outcome = runtime.resume(first.token, {"ok": True})
        assert isinstance(outcome, Error) and outcome.kind == "cache_unavailable"
    cache.down = set()
    assert isinstance(runtime.resume(first.token, {"ok": True}), Ok)


def test_a_failed_release_is_reported_and_the_lease_runs_out(
    clock: ManualClock, counter: Counter
) -> None:
    cache = SwitchableCache(clock)
    runtime = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock, lease_ttl=30)
    first = runtime.run("x")
    assert isinstance(first, Paused)
    cache.calls.clear()
    real = cache.compare_and_set
    cas_calls = 0

    def cas_once(*args: Any) -> bool:  # the claim lands, then the cache goes down
        nonlocal cas_calls
        cas_calls += 1
        if cas_calls == 2:
            cache.down = {"compare_and_set", "get"}
        return real(*args)

    cache.compare_and_set = cas_once  # type: ignore[method-assign]
    outcome = runtime.resume(first.token, {"ok": "not a bool"})
    assert isinstance(outcome, Error) and outcome.kind == "invalid_resume_input"
    assert not outcome.resumable
    codes = [d.code for d in outcome.diagnostics]
    assert codes == ["session.release_failed", "resume.invalid_input"]
    cache.down = set()
    busy = runtime.resume(first.token, {"ok": True})
    assert isinstance(busy, Error) and busy.kind == "session_busy"  # still claimed
    clock.advance(31)  # the lease runs out: the session is claimable again, nothing lost
    assert isinstance(runtime.resume(first.token, {"ok": True}), Ok)


def test_the_async_faces_use_the_cache_async_methods(clock: ManualClock, counter: Counter) -> None:
    import asyncio

    cache = SwitchableCache(clock)
    runtime = approval_flow(counter).use(cache_plugin(cache)).build(clock=clock)

    async def main() -> Any:
        first = await runtime.arun("x")
        assert isinstance(first, Paused)
        return await runtime.aresume(first.token, {"ok": True})

    assert isinstance(asyncio.run(main()), Ok)
    assert cache.calls == ["aset", "aget", "acompare_and_set", "acompare_and_set"]
    cache.calls.clear()
    first = runtime.run("y")
    assert isinstance(first, Paused)
    runtime.resume(first.token, {"ok": True})
    assert cache.calls == ["set", "get", "compare_and_set", "compare_and_set"]


def test_non_str_dict_keys_cannot_be_stored_rather_than_coming_back_changed(
    clock: ManualClock, cache: MemoryCache
) -> None:
    # JSON would turn 1 into "1" (and {1: .., "1": ..} into one key): the resumed step would
    # see another state than the one that paused
    for payload in ({"scores": {1: 0.5}}, [{None: "x"}], {1: "a", "1": "b"}):
        runtime = pausing_with(payload).use(cache_plugin(cache)).build(clock=clock)
        outcome = runtime.run({})
        assert isinstance(outcome, Error), payload
        assert outcome.kind == "snapshot_not_serializable"
        assert "payload" in outcome.message and "keys must be str" in outcome.message
    runtime = pausing_with("ok", state_extra={2: "b"}).use(cache_plugin(cache)).build(clock=clock)
    outcome = runtime.run({})
    assert isinstance(outcome, Error) and outcome.kind == "snapshot_not_serializable"
    assert outcome.message.startswith("cannot pause at step 'gate': state (keys must be str")
    assert cache.keys() == []
