"""Two thin drivers for the flows of :mod:`llm_core.workflow._core`: one sync, one async.

Each performs the effects a flow yields and sends the results back.  The sync driver also
runs ``async def`` steps and hooks, without ``asyncio.run``:

* no event loop running in this thread (a plain script, or a thread-pool thread of a running
  loop): the awaitable runs on a private event loop, created on first use and closed when
  the call ends;
* a loop already running in this thread (sync ``run`` called from a coroutine): the awaitable
  runs on its own loop in a worker thread, and this thread waits for it.  That blocks the
  caller's loop meanwhile: from async code, prefer ``arun``/``aresume``.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable
from typing import Any

from llm_core.cache import Cache, capabilities_of
from llm_core.sessions import aperform, perform
from llm_core.workflow._effects import CacheOp, CallHook, CallStep, Flow, Interrupted
from llm_core.workflow.outcomes import Outcome
from llm_core.workflow.steps import PauseRequest

__all__ = ["drive_async", "drive_sync"]


def drive_sync(flow: Flow, cache: Cache) -> Outcome:
    """Run ``flow`` to its outcome, performing every effect synchronously."""
    runner: _AwaitableRunner | None = None  # made on the first awaitable
    # A cache with an atomic compare-and-set runs every operation as asked (no emulation).
    native: bool | None = None  # read on the first cache operation
    send = flow.send
    value: Any = None
    try:
        while True:
            try:
                effect = send(value)
            except StopIteration as stop:
                result: Outcome = stop.value
                return result
            while True:  # perform the effect; feed exceptions back in until one is accepted
                try:
                    if type(effect) is CallStep:
                        value = effect.fn(effect.ctx, effect.state)
                        result_kind = type(value)
                        if (
                            result_kind is not dict
                            and result_kind is not PauseRequest
                            and (inspect.isawaitable(value))
                        ):
                            runner = runner or _AwaitableRunner()
                            value = runner.run(value)
                    elif type(effect) is CacheOp:
                        if native is None:
                            native = capabilities_of(cache).compare_and_set
                        if native:
                            value = getattr(cache, effect.method)(*effect.args)
                        else:
                            value = perform(cache, effect)
                    else:
                        assert type(effect) is CallHook
                        value = effect.fn(effect.event)
                        if inspect.isawaitable(value):
                            runner = runner or _AwaitableRunner()
                            value = runner.run(value)
                    break
                except BaseException as exc:  # the flow decides; it re-raises what it cannot handle
                    try:
                        effect = flow.throw(exc)
                    except StopIteration as stop:
                        thrown: Outcome = stop.value
                        return thrown
    finally:
        if runner is not None:
            runner.close()


async def drive_async(flow: Flow, cache: Cache) -> Outcome:
    """Run ``flow`` to its outcome on the running loop, awaiting async steps, hooks and store."""
    # A cache whose async faces run inline (MemoryCache) cannot be cut in two by a cancellation;
    # any other (a worker thread, a server) is awaited through ``_settled``.
    settle = not capabilities_of(cache).async_inline
    try:
        return await _drive(flow, cache, settle)
    except Interrupted as stop:  # cancelled again while undoing: the cancellation wins
        raise stop.cause from None


async def _drive(flow: Flow, cache: Cache, settle: bool) -> Outcome:
    send = flow.send
    value: Any = None
    while True:
        try:
            effect = send(value)
        except StopIteration as stop:
            result: Outcome = stop.value
            return result
        while True:
            try:
                if type(effect) is CallStep:
                    value = effect.fn(effect.ctx, effect.state)
                    result_kind = type(value)
                    if (
                        result_kind is not dict
                        and result_kind is not PauseRequest
                        and (inspect.isawaitable(value))
                    ):
                        value = await value
                elif type(effect) is CacheOp:
                    op = aperform(cache, effect)
                    if settle:
                        op = _settled(op)
                    value = await op
                else:
                    assert type(effect) is CallHook
                    value = effect.fn(effect.event)
                    if inspect.isawaitable(value):
                        value = await value
                break
            except BaseException as exc:  # the flow decides; it re-raises what it cannot handle
                try:
                    effect = flow.throw(exc)
                except StopIteration as stop:
                    thrown: Outcome = stop.value
                    return thrown


async def _settled(op: Awaitable[Any]) -> Any:
    """Await a store operation that cancelling the caller cannot stop (e.g. one running in a
    worker thread): on cancellation, wait for it to finish and throw ``Interrupted`` with its
    result, so the flow can undo it (release a claim, delete an unreported pause)
    before the cancellation propagates."""
    task = asyncio.ensure_future(op)
    try:
        return await asyncio.shield(task)
    except BaseException as interruption:
        while not task.done():
            try:
                await asyncio.wait((task,))
            except asyncio.CancelledError:
                continue
        if task.cancelled() or task.exception() is not None:
            raise  # the operation itself failed (or was cancelled): nothing to undo
        raise Interrupted(interruption, task.result()) from None


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class _AwaitableRunner:
    """Runs awaitables for the sync driver (see the module docstring)."""

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, awaitable: Awaitable[Any]) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: use our private one
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(_await(awaitable))
        return _run_in_worker_thread(awaitable)

    def close(self) -> None:
        if self._loop is not None:
            loop, self._loop = self._loop, None
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()


def _run_in_worker_thread(awaitable: Awaitable[Any]) -> Any:
    outcome: dict[str, Any] = {}

    def work() -> None:
        loop = asyncio.new_event_loop()
        try:
            outcome["value"] = loop.run_until_complete(_await(awaitable))
        except BaseException as exc:  # handed to the waiting thread, which re-raises it
            outcome["error"] = exc
        finally:
            loop.close()

    worker = threading.Thread(target=work, name="llm-core-async-step", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
