"""Async steps and hooks, through both faces, from plain threads, loop threads and pool threads."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from llm_core import Error, Ok, Paused, Plugin, StepContext, Workflow
from llm_core.workflow import Runtime, TraceEvent
from tests.clock import ManualClock
from tests.workflow.support import SwitchableCache, cache_plugin


def async_flow(loops: list[asyncio.AbstractEventLoop] | None = None) -> Workflow:
    """fetch (async) → review (async, pauses) → publish (sync)."""

    async def fetch(ctx: StepContext, state: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        if loops is not None:
            loops.append(asyncio.get_running_loop())
        return {**state, "fetched": state["input"].upper()}

    async def review(ctx: StepContext, state: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        if loops is not None:
            loops.append(asyncio.get_running_loop())
        if not ctx.resumed:
            return ctx.pause(kind="human", payload={"text": state["fetched"]})
        if ctx.resume_input == "explode":
            raise RuntimeError("async step failed")
        return {**state, "verdict": ctx.resume_input}

    def publish(ctx: StepContext, state: dict[str, Any]) -> dict[str, Any]:
        return {"published": state["fetched"], "verdict": state["verdict"]}

    return Workflow("async-flow", [fetch, review, publish])


def round_trip_sync(runtime: Runtime) -> Any:
    first = runtime.run("hello")
    assert isinstance(first, Paused), first
    assert first.payload == {"text": "HELLO"}
    return runtime.resume(first.token, "approve")


async def test_arun_and_aresume_run_async_steps_inside_a_loop(clock: ManualClock) -> None:
    loops: list[asyncio.AbstractEventLoop] = []
    runtime = async_flow(loops).build(clock=clock)
    first = await runtime.arun("hello")
    assert isinstance(first, Paused)
    done = await runtime.aresume(first.token, "approve")
    assert isinstance(done, Ok)
    assert done.artefact == {"published": "HELLO", "verdict": "approve"}
    running = asyncio.get_running_loop()
    assert loops == [running] * 3  # the caller's loop, not a private one


async def test_arun_with_sync_steps_inside_a_loop(clock: ManualClock) -> None:
    def step(ctx: StepContext, state: dict[str, Any]) -> Any:
        return {**state, "sync": True} if ctx.resumed else ctx.pause()

    runtime = Workflow("sync-steps", [step]).build(clock=clock)
    first = await runtime.arun({})
    assert isinstance(first, Paused)
    done = await runtime.aresume(first.token)
    assert isinstance(done, Ok) and done.artefact == {"sync": True}


def test_sync_run_of_async_steps_uses_a_private_loop_and_closes_it(clock: ManualClock) -> None:
    loops: list[asyncio.AbstractEventLoop] = []
    runtime = async_flow(loops).build(clock=clock)
    done = round_trip_sync(runtime)
    assert isinstance(done, Ok)
    assert done.artefact == {"published": "HELLO", "verdict": "approve"}
    # one private loop per call (fetch+review share the first call's loop), closed after
    assert len(loops) == 3
    assert loops[0] is loops[1]
    assert loops[2] is not loops[0]
    assert all(loop.is_closed() for loop in loops)


async def test_sync_run_from_a_thread_pool_thread_of_a_running_loop(clock: ManualClock) -> None:
    loops: list[asyncio.AbstractEventLoop] = []
    runtime = async_flow(loops).build(clock=clock)
    loop = asyncio.get_running_loop()
    done = await loop.run_in_executor(None, round_trip_sync, runtime)
    assert isinstance(done, Ok)
    assert done.artefact["verdict"] == "approve"
    assert loop not in loops  # the pool thread ran them on its own private loop
    also = await asyncio.to_thread(round_trip_sync, runtime)
    assert isinstance(also, Ok)


async def test_sync_run_called_inside_a_running_loop_runs_async_steps_in_a_worker_thread(
    clock: ManualClock,
) -> None:
    threads: list[str] = []

    async def step(ctx: StepContext, state: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        return {**state, "ran": True}

    runtime = Workflow("nested", [step]).build(clock=clock)
    outcome = runtime.run({})  # blocking call from a coroutine: allowed, just not ideal
    assert isinstance(outcome, Ok) and outcome.artefact == {"ran": True}
    assert threads == ["llm-core-async-step"]


async def test_an_async_step_that_raises_leaves_the_token_resumable(clock: ManualClock) -> None:
    runtime = async_flow().build(clock=clock)
    first = await runtime.arun("x")
    assert isinstance(first, Paused)
    failed = await runtime.aresume(first.token, "explode")
    assert isinstance(failed, Error) and failed.kind == "step_failed"
    assert failed.resumable
    failed_sync = runtime.resume(first.token, "explode")  # same logic through the sync face
    assert isinstance(failed_sync, Error) and failed_sync.kind == "step_failed"
    done = await runtime.aresume(first.token, "fine")
    assert isinstance(done, Ok) and done.artefact["verdict"] == "fine"


async def test_concurrent_aresumes_of_one_token_give_exactly_one_ok(clock: ManualClock) -> None:
    runtime = async_flow().build(clock=clock)
    first = await runtime.arun("x")
    assert isinstance(first, Paused)
    outcomes = await asyncio.gather(*(runtime.aresume(first.token, "ok") for _ in range(16)))
    kinds = sorted(o.status if isinstance(o, Ok) else o.kind for o in outcomes)  # type: ignore[union-attr]
    assert kinds[0] == "ok"
    assert set(kinds[1:]) <= {"session_busy", "session_already_resumed"}


def test_a_sync_step_may_return_an_awaitable(clock: ManualClock) -> None:
    async def later(state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "later": True}

    def step(ctx: StepContext, state: dict[str, Any]) -> Any:
        return later(state)

    runtime = Workflow("awaitable", [step]).build(clock=clock)
    outcome = runtime.run({})
    assert isinstance(outcome, Ok) and outcome.artefact == {"later": True}


def test_async_hooks_run_on_both_faces(clock: ManualClock) -> None:
    seen: list[str] = []

    async def on_step_end(event: TraceEvent) -> None:
        await asyncio.sleep(0)
        seen.append(f"{event.name}:{event.step}")

    def on_paused(event: TraceEvent) -> None:
        seen.append(event.name)

    hooks = Plugin(key="hooks", hooks={"step.end": on_step_end, "run.paused": on_paused})
    runtime = async_flow().use(hooks).build(clock=clock)
    first = runtime.run("x")
    assert isinstance(first, Paused)
    assert seen == ["step.end:fetch", "step.end:review", "run.paused"]
    seen.clear()
    done = asyncio.run(runtime.aresume(first.token, "ok"))
    assert isinstance(done, Ok)
    assert seen == ["step.end:review", "step.end:publish"]


class Interrupted(BaseException):
    """Like KeyboardInterrupt: not an Exception, so it must propagate."""


def test_an_interrupt_during_a_resumed_step_propagates_and_puts_the_session_back(
    clock: ManualClock,
) -> None:
    interrupt = {"on": True}

    def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause()
        if interrupt["on"]:
            raise Interrupted
        return {"done": True}

    runtime = Workflow("interruptible", [gate]).build(clock=clock)
    first = runtime.run({})
    assert isinstance(first, Paused)
    try:
        runtime.resume(first.token)
    except Interrupted:
        pass
    else:
        raise AssertionError("the interrupt must propagate")
    interrupt["on"] = False
    assert isinstance(runtime.resume(first.token), Ok)


async def test_cancelling_an_aresume_mid_step_puts_the_session_back(clock: ManualClock) -> None:
    started = asyncio.Event()
    block = {"on": True}

    async def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause()
        if block["on"]:
            started.set()
            await asyncio.Event().wait()  # forever, until cancelled
        return {"done": True}

    runtime = Workflow("cancellable", [gate]).build(clock=clock)
    first = await runtime.arun({})
    assert isinstance(first, Paused)
    task = asyncio.create_task(runtime.aresume(first.token))
    await started.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the cancellation must propagate")
    block["on"] = False
    done = await runtime.aresume(first.token)
    assert isinstance(done, Ok) and done.artefact == {"done": True}


class ThreadedTakeCache(SwitchableCache):
    """``acompare_and_set`` (the claim) runs in a worker thread, as SQLiteCache's async face
    does; the thread waits for ``release`` so a test can cancel the caller while it runs."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.started, self.release, self.finished = (threading.Event() for _ in range(3))

    def _gated_cas(self, *args: Any) -> bool:
        if self.started.is_set():  # only the first (the claim) is gated
            return self.inner.compare_and_set(*args)
        self.started.set()
        self.release.wait(5)
        try:
            return self.inner.compare_and_set(*args)
        finally:
            self.finished.set()

    async def acompare_and_set(self, *args: Any) -> bool:  # type: ignore[override]
        return await asyncio.to_thread(self._gated_cas, *args)


async def test_cancelling_an_aresume_while_its_claim_runs_in_a_thread_keeps_the_token(
    clock: ManualClock,
) -> None:
    cache = ThreadedTakeCache(clock)
    runtime = async_flow().use(cache_plugin(cache)).build(clock=clock)
    first = await runtime.arun("hello")
    assert isinstance(first, Paused)
    task = asyncio.create_task(runtime.aresume(first.token, "approve"))
    await asyncio.to_thread(cache.started.wait, 5)
    task.cancel()
    cache.release.set()  # the claim in the thread goes on and lands; the flow releases it
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the cancellation must propagate")
    assert await asyncio.to_thread(cache.finished.wait, 5)
    done = await runtime.aresume(first.token, "approve")
    assert isinstance(done, Ok), done
    assert done.artefact == {"published": "HELLO", "verdict": "approve"}


async def test_cancelling_an_aresume_in_a_terminal_hook_loses_nothing(
    clock: ManualClock,
) -> None:
    for event in ("run.paused", "run.ok", "run.end"):
        started, block = asyncio.Event(), {"on": True}

        async def hook(ev: TraceEvent) -> None:
            if block["on"]:
                started.set()
                await asyncio.Event().wait()  # forever, until cancelled

        def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
            if not ctx.resumed:
                return ctx.pause()
            return {"done": True}

        def again(ctx: StepContext, state: dict[str, Any]) -> Any:
            if event == "run.paused" and not ctx.resumed:
                return ctx.pause(kind="second")
            return state

        cache = SwitchableCache(clock)
        runtime = (
            Workflow("hooked", [gate, again])
            .use(cache_plugin(cache), Plugin(key="slow", hooks={event: hook}))
            .build(clock=clock)
        )
        block["on"] = False
        first = await runtime.arun({})
        assert isinstance(first, Paused)
        block["on"] = True
        task = asyncio.create_task(runtime.aresume(first.token, request_id="r1"))
        await started.wait()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("the cancellation must propagate")
        block["on"] = False
        stored = cache.inner.keys("llm-core:session:")
        assert stored == ["llm-core:session:" + first.token], event  # no orphan second pause
        # before the outcome was settled (run.paused, run.ok) the session was released and
        # resumes afresh; once settled (run.end) the same request replays the recorded outcome
        again = await runtime.aresume(first.token, request_id="r1")
        assert not isinstance(again, Error), event
        assert again.replayed is (event == "run.end"), event


class ThreadedSetCache(SwitchableCache):
    """Runs the next ``aset`` after ``armed`` is set in a worker thread that waits for
    ``release``, as SQLiteCache's async face runs its writes in a thread."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.armed = False
        self.started, self.release, self.finished = (threading.Event() for _ in range(3))

    def _gated_set(self, key: str, value: bytes, ttl: float | None) -> None:
        self.started.set()
        self.release.wait(5)
        try:
            self.inner.set(key, value, ttl)
        finally:
            self.finished.set()

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        if not self.armed:
            return await super().aset(key, value, ttl)
        self.armed = False
        await asyncio.to_thread(self._gated_set, key, value, ttl)


async def test_cancelling_an_aresume_while_its_second_pause_is_stored_leaves_one_session(
    clock: ManualClock,
) -> None:
    def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        return {"approved": True} if ctx.resumed else ctx.pause(kind="first")

    def again(ctx: StepContext, state: dict[str, Any]) -> Any:
        return state if ctx.resumed else ctx.pause(kind="second")

    cache = ThreadedSetCache(clock)
    runtime = Workflow("twice", [gate, again]).use(cache_plugin(cache)).build(clock=clock)
    first = await runtime.arun({})
    assert isinstance(first, Paused)
    cache.armed = True
    task = asyncio.create_task(runtime.aresume(first.token))
    await asyncio.to_thread(cache.started.wait, 5)
    task.cancel()
    cache.release.set()  # the second pause's snapshot gets stored in the thread
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the cancellation must propagate")
    assert await asyncio.to_thread(cache.finished.wait, 5)
    # one pending session: the first, put back; the unreported second pause is not left stored
    assert cache.inner.keys("llm-core:session:") == ["llm-core:session:" + first.token]
