"""Test helpers for the workflow tests: a real (small) Cache that can be told to fail, and a
few ready workflows built on an injected clock."""

from __future__ import annotations

import json
from typing import Any

from llm_core import CacheCapabilities, MemoryCache
from llm_core.errors import CacheUnavailableError
from llm_core.workflow import AdapterBundle, Plugin, Runtime, StepContext, Workflow
from tests.clock import ManualClock


class SwitchableCache:
    """A ``Cache`` over a MemoryCache whose operations raise ``CacheUnavailableError`` while
    listed in ``down`` (e.g. ``{"set"}``) — our own protocol, implemented for real."""

    def __init__(self, clock: ManualClock) -> None:
        self.inner = MemoryCache(clock=clock)
        self.down: set[str] = set()
        self.calls: list[str] = []

    def _check(self, op: str) -> None:
        self.calls.append(op)
        if op in self.down:
            raise CacheUnavailableError(f"cache is down for {op}")

    def get(self, key: str) -> bytes | None:
        self._check("get")
        return self.inner.get(key)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._check("set")
        self.inner.set(key, value, ttl)

    def delete(self, key: str) -> None:
        self._check("delete")
        self.inner.delete(key)

    def take(self, key: str) -> bytes | None:
        self._check("take")
        return self.inner.take(key)

    def touch(self, key: str, ttl: float | None) -> bool:
        self._check("touch")
        return self.inner.touch(key, ttl)

    async def aget(self, key: str) -> bytes | None:
        self._check("aget")
        return self.inner.get(key)

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._check("aset")
        self.inner.set(key, value, ttl)

    async def adelete(self, key: str) -> None:
        self._check("adelete")
        self.inner.delete(key)

    async def atake(self, key: str) -> bytes | None:
        self._check("atake")
        return self.inner.take(key)

    async def atouch(self, key: str, ttl: float | None) -> bool:
        self._check("atouch")
        return self.inner.touch(key, ttl)

    capabilities = CacheCapabilities(compare_and_set=True)

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        self._check("compare_and_set")
        return self.inner.compare_and_set(key, expected, new, ttl)

    async def acompare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        self._check("acompare_and_set")
        return self.inner.compare_and_set(key, expected, new, ttl)


def stored_record(data: bytes | None) -> dict[str, Any]:
    """The JSON body of a stored session record (after its ``llm-core/2`` envelope line)."""
    assert data is not None and data.startswith(b"llm-core/2 ")
    return json.loads(data.split(b"\n", 1)[1])  # type: ignore[no-any-return]


class Counter:
    """Counts how often each step ran."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def hit(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1


def approval_flow(counter: Counter) -> Workflow:
    """prepare → ask (pauses for a human, needs {"ok": bool}) → done."""

    def prepare(ctx: StepContext, state: dict[str, Any]) -> dict[str, Any]:
        counter.hit("prepare")
        return {**state, "prepared": True}

    def ask(ctx: StepContext, state: dict[str, Any]) -> Any:
        counter.hit("ask")
        if not ctx.resumed:
            return ctx.pause(kind="human", payload={"question": state["input"]})
        answer = ctx.resume_input
        if not isinstance(answer, dict) or type(answer.get("ok")) is not bool:
            from llm_core.errors import InvalidResumeInputError

            raise InvalidResumeInputError("resume with {'ok': bool}")
        return {**state, "answer": answer}

    def done(ctx: StepContext, state: dict[str, Any]) -> dict[str, Any]:
        counter.hit("done")
        return {"result": state["answer"]["ok"], "input": state["input"]}

    return Workflow("approval", [prepare, ask, done])


def cache_plugin(cache: Any) -> Plugin:
    """The plugin a user supplies to put sessions in their own cache."""
    return Plugin(key="adapter.cache", mode="override", adapters=AdapterBundle(cache=cache))


def build(workflow: Workflow, clock: ManualClock, **options: Any) -> Runtime:
    return workflow.build(clock=clock, **options)
