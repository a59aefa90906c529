"""A session cache without an atomic compare-and-set is reported, and refused in strict mode."""

from __future__ import annotations

from langchain_core.caches import InMemoryCache

from llm_core import Error, MemoryCache, Paused, recipes
from llm_core.bridges.langchain import from_langchain_cache


def test_a_cache_without_compare_and_set_is_a_warning_on_every_outcome() -> None:
    runtime = recipes.hitl_gate(cache=from_langchain_cache(InMemoryCache()))
    outcome = runtime.run("draft")
    assert isinstance(outcome, Paused)
    codes = [(d.level, d.code) for d in outcome.diagnostics]
    assert ("warn", "adapter.cache.no_compare_and_set") in codes


def test_strict_mode_refuses_a_session_cache_without_compare_and_set() -> None:
    runtime = recipes.hitl_gate(cache=from_langchain_cache(InMemoryCache()), strict=True)
    outcome = runtime.run("draft")
    assert isinstance(outcome, Error)
    assert outcome.kind == "invalid_workflow"
    assert "no atomic compare-and-set" in outcome.message
    assert any(d.code == "adapter.cache.no_compare_and_set" for d in outcome.diagnostics)


def test_atomic_caches_get_no_such_warning() -> None:
    outcome = recipes.hitl_gate(cache=MemoryCache(), strict=True).run("draft")
    assert isinstance(outcome, Paused)
    assert outcome.diagnostics == ()
