"""``Runtime``: a built workflow.  ``run``/``resume`` and their async faces share one logic.

Every call returns an ``Outcome`` (``Ok``, ``Paused`` or ``Error``) and never raises for a
problem it can report; programming errors in how it was built raise at ``build()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llm_core._log import get_logger, log_diagnostic
from llm_core.cache import Cache, MemoryCache, capabilities_of
from llm_core.sessions import CacheSessionStore, session_store_from_cache
from llm_core.workflow._core import resume_flow, run_flow
from llm_core.workflow._drivers import drive_async, drive_sync
from llm_core.workflow._effects import Blueprint
from llm_core.workflow.outcomes import Diagnostic, Outcome
from llm_core.workflow.plugins import AdapterBundle, Composition

__all__ = ["DEFAULT_SESSION_TTL", "Runtime"]

_logger = get_logger("workflow")

DEFAULT_SESSION_TTL = 24 * 60 * 60.0
"""How long a paused session can wait for ``resume``: 24 hours."""


class Runtime:
    """Runs one workflow.  Build it with ``Workflow....build()`` or a recipe such as
    ``recipes.hitl_gate()``; it is thread-safe and can serve many runs at once."""

    __slots__ = ("_composition", "_fallback_cache", "_plan", "_store", "_store_cache")

    def __init__(
        self,
        recipe: str,
        composition: Composition,
        *,
        session_ttl: float,
        clock: Callable[[], float],
        strict: bool,
        fallback_cache: Callable[[], Cache],
    ) -> None:
        self._composition = composition
        self._fallback_cache: Cache | None = (
            fallback_cache() if composition.adapters.cache is None else None
        )
        cache = composition.adapters.cache
        if cache is None:  # (not `or`: an empty cache is falsy)
            cache = self._fallback_cache
        assert cache is not None
        adapters = AdapterBundle(
            cache=cache,
            kv=composition.adapters.kv,
            storage=composition.adapters.storage,
            model=composition.adapters.model,
            tools=composition.adapters.tools,
        )
        self._plan = Blueprint(
            recipe=recipe,
            steps=composition.steps,
            index={step.name: i for i, step in enumerate(composition.steps)},
            adapters=adapters,
            hooks=composition.hooks,
            session_ttl=session_ttl,
            clock=clock,
            strict=strict,
            diagnostics=composition.diagnostics + _cache_diagnostics(cache),
        )
        for diagnostic in self._plan.diagnostics:  # logged once, at build (each call repeats them)
            log_diagnostic(_logger, diagnostic)
        self._store_cache: Cache = cache
        self._store: CacheSessionStore = session_store_from_cache(cache, clock=clock)

    # --- the four faces ----------------------------------------------------------------

    def run(self, input: Any) -> Outcome:
        """Start a run; ``input`` is a mapping (the initial state) or a value (``{"input": …}``)."""
        return drive_sync(run_flow(self._plan, input), self._resolve_store())

    def resume(self, token: str | int, resume_input: Any = None) -> Outcome:
        """Resume the paused session ``token`` (exactly once) with ``resume_input``."""
        return drive_sync(resume_flow(self._plan, token, resume_input), self._resolve_store())

    async def arun(self, input: Any) -> Outcome:
        """Async face of :meth:`run`."""
        return await drive_async(run_flow(self._plan, input), self._resolve_store())

    async def aresume(self, token: str | int, resume_input: Any = None) -> Outcome:
        """Async face of :meth:`resume`."""
        return await drive_async(
            resume_flow(self._plan, token, resume_input), self._resolve_store()
        )

    def _resolve_store(self) -> CacheSessionStore:
        """The session store over this call's ``adapters.cache`` (plugins', else the private
        fallback).  The bundle is fixed at build time, so the store is made once."""
        return self._store

    # --- introspection -----------------------------------------------------------------

    @property
    def recipe(self) -> str:
        """The recipe (workflow) name recorded in every snapshot this runtime stores."""
        return self._plan.recipe

    @property
    def session_ttl(self) -> float:
        """Seconds a paused session waits for ``resume`` before it expires."""
        return self._plan.session_ttl

    @property
    def session_store(self) -> CacheSessionStore:
        """The store holding this runtime's paused sessions (listable when the cache is)."""
        return self._store

    @property
    def cache(self) -> Cache:
        """The cache sessions live in (a plugin's, else this runtime's private MemoryCache)."""
        return self._store_cache

    def declared_adapters(self) -> AdapterBundle:
        """The adapters the plugins declare, merged (without the runtime's fallback cache)."""
        return self._composition.adapters

    def explain(self) -> dict[str, Any]:
        """A JSON-able account of how this runtime was composed and what it would need."""
        c = self._composition
        cache = self._store_cache
        caps = capabilities_of(cache)
        return {
            "recipe": self._plan.recipe,
            "steps": [{"name": s.name, "plugin": c.step_sources[s.name]} for s in c.steps],
            "plugins": [
                {
                    "key": p.key,
                    "mode": p.mode,
                    "description": p.description,
                    "adapters": _adapter_names(p.adapters),
                    "steps": [s.name for s in p.steps],  # type: ignore[union-attr]
                    "hooks": sorted(p.hooks),
                    "requires": list(p.requires),
                }
                for p in c.plugins
            ],
            "overrides": [dict(o) for o in c.overrides],
            "ignored": [dict(i) for i in c.ignored],
            "missing_requirements": [dict(m) for m in c.missing],
            "adapters": {
                "cache": {
                    "type": type(cache).__name__,
                    "source": "plugin" if self._fallback_cache is None else "runtime fallback",
                    "capabilities": {
                        "ttl": caps.ttl,
                        "atomic_take": caps.atomic_take,
                        "persistent": caps.persistent,
                        "shared": caps.shared,
                        "listing": caps.listing,
                    },
                },
                **{
                    name: sorted(value) if name == "tools" else type(value).__name__
                    for name, value in _adapter_items(c.adapters)
                    if name != "cache"
                },
            },
            "session_ttl": self._plan.session_ttl,
            "strict": self._plan.strict,
            "diagnostics": [d.to_dict() for d in c.diagnostics],
        }

    def __repr__(self) -> str:
        steps = " → ".join(s.name for s in self._plan.steps)
        return f"Runtime({self._plan.recipe!r}: {steps}; cache={type(self._store_cache).__name__})"


def _cache_diagnostics(cache: Cache) -> tuple[Diagnostic, ...]:
    """Warnings about a session cache whose semantics weaken resume's guarantees."""
    if capabilities_of(cache).atomic_take:
        return ()
    name = type(cache).__name__
    return (
        Diagnostic(
            "warn",
            "adapter",
            "adapter.cache.take_not_atomic",
            f"sessions live in {name}, whose take is not atomic: two concurrent resumes of one "
            "token could both run; keep sessions in MemoryCache, SQLiteCache or RedisCache "
            "(strict=True refuses to run on such a cache)",
            {"cache": name},
        ),
    )


def _adapter_items(bundle: AdapterBundle) -> list[tuple[str, Any]]:
    items = [
        ("cache", bundle.cache),
        ("kv", bundle.kv),
        ("storage", bundle.storage),
        ("model", bundle.model),
    ]
    found = [(name, value) for name, value in items if value is not None]
    if bundle.tools:
        found.append(("tools", dict(bundle.tools)))
    return found


def _adapter_names(bundle: AdapterBundle) -> list[str]:
    return [name for name, _ in _adapter_items(bundle)]


def private_memory_cache(clock: Callable[[], float] | None) -> Callable[[], Cache]:
    """A factory for the runtime's fallback cache (on the runtime's clock when one is injected)."""

    def make() -> Cache:
        return MemoryCache() if clock is None else MemoryCache(clock=clock)

    return make
