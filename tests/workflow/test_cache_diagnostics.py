"""A session cache whose take is not atomic is reported, and refused in strict mode."""

from __future__ import annotations

from langchain_core.caches import InMemoryCache

from llm_core import Error, MemoryCache, Paused, recipes
from llm_core.bridges.langchain import from_langchain_cache


def test_non_atomic_take_is_a_warning_on_every_outcome() -> None:
    runtime = recipes.hitl_gate(cache=from_langchain_cache(InMemoryCache()))
    outcome = runtime.run("draft")
    assert isinstance(outcome, Paused)
    codes = [(d.level, d.code) for d in outcome.diagnostics]
    assert ("warn", "adapter.cache.take_not_atomic") in codes


def test_strict_mode_refuses_a_non_atomic_session_cache() -> None:
    runtime = recipes.hitl_gate(cache=from_langchain_cache(InMemoryCache()), strict=True)
    outcome = runtime.run("draft")
    assert isinstance(outcome, Error)
    assert outcome.kind == "invalid_workflow"
    assert "take is not atomic" in outcome.message
    assert any(d.code == "adapter.cache.take_not_atomic" for d in outcome.diagnostics)


def test_atomic_caches_get_no_such_warning() -> None:
    outcome = recipes.hitl_gate(cache=MemoryCache(), strict=True).run("draft")
    assert isinstance(outcome, Paused)
    assert outcome.diagnostics == ()
