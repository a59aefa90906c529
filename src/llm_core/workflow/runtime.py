"""``Runtime``: a built workflow.  ``run``/``resume`` and their async faces share one logic.

Every call returns an ``Outcome`` (``Ok``, ``Paused`` or ``Error``) and never raises for a
problem it can report; programming errors in how it was built raise at ``build()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llm_core._log import get_logger, log_diagnostic
from llm_core.cache import Cache, MemoryCache, capabilities_of
from llm_core.sessions import (
    DEFAULT_LEASE_TTL,
    DEFAULT_RESULT_TTL,
    SESSION_KEY_PREFIX,
    Keyspace,
    SessionInfo,
    SessionOrder,
    SessionPage,
    SessionStore,
    Signer,
    StateTypes,
)
from llm_core.workflow._cancel import cancel_flow
from llm_core.workflow._core import run_flow
from llm_core.workflow._drivers import drive_async, drive_sync
from llm_core.workflow._effects import Blueprint
from llm_core.workflow._resume import resume_flow
from llm_core.workflow.outcomes import Diagnostic, Outcome
from llm_core.workflow.plugins import AdapterBundle, Composition

__all__ = ["DEFAULT_LEASE_TTL", "DEFAULT_RESULT_TTL", "DEFAULT_SESSION_TTL", "Runtime"]

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
        lease_ttl: float = DEFAULT_LEASE_TTL,
        result_ttl: float = DEFAULT_RESULT_TTL,
        secret_key: str | bytes | None = None,
        previous_keys: Sequence[str | bytes] = (),
        encrypt: bool = False,
        state_types: Sequence[type] = (),
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
            diagnostics=composition.diagnostics + _cache_diagnostics(cache, secret_key),
            space=Keyspace(
                SESSION_KEY_PREFIX,
                Signer(secret_key, previous_keys),
                encrypt,
                StateTypes(state_types),
            ),
            lease_ttl=lease_ttl,
            result_ttl=result_ttl,
            room=_room(cache),
            # MemoryCache's operations are in-process and never block: the flows call them
            # (its subclasses may wrap them differently: those go through the drivers)
            inline=cache if type(cache) is MemoryCache else None,
        )
        for diagnostic in self._plan.diagnostics:  # logged once, at build (each call repeats them)
            log_diagnostic(_logger, diagnostic)
        self._store_cache: Cache = cache
        self._store = SessionStore(
            cache,
            secret_key=secret_key,
            previous_keys=previous_keys,
            clock=clock,
            state_types=state_types,
        )

    # --- the faces ----------------------------------------------------------------------

    def run(self, input: Any) -> Outcome:
        """Start a run; ``input`` is a mapping (the initial state) or a value (``{"input": …}``)."""
        return drive_sync(run_flow(self._plan, input), self._store_cache)

    def resume(
        self, token: str | int, resume_input: Any = None, *, request_id: str | None = None
    ) -> Outcome:
        """Resume the paused session ``token`` with ``resume_input``; it completes exactly once.

        ``request_id`` makes the call idempotent: a repeat with the same id after the session
        completed returns the recorded outcome again (``replayed=True``); any other repeat is
        ``session_already_resumed``.
        """
        flow = resume_flow(self._plan, token, resume_input, request_id)
        return drive_sync(flow, self._store_cache)

    def cancel(self, token: str | int) -> Outcome:
        """Cancel a pending session: ``Ok({"token", "status": "cancelled"})``, or an ``Error``
        (``session_busy`` while a resume runs it, ``session_already_resumed``, ...)."""
        return drive_sync(cancel_flow(self._plan, token), self._store_cache)

    async def arun(self, input: Any) -> Outcome:
        """Async face of :meth:`run`."""
        return await drive_async(run_flow(self._plan, input), self._store_cache)

    async def aresume(
        self, token: str | int, resume_input: Any = None, *, request_id: str | None = None
    ) -> Outcome:
        """Async face of :meth:`resume`."""
        flow = resume_flow(self._plan, token, resume_input, request_id)
        return await drive_async(flow, self._store_cache)

    async def acancel(self, token: str | int) -> Outcome:
        """Async face of :meth:`cancel`."""
        return await drive_async(cancel_flow(self._plan, token), self._store_cache)

    def sessions(self) -> list[SessionInfo]:
        """This runtime's pending and claimed sessions, oldest first (needs a listable cache;
        reads every record: prefer :meth:`sessions_page` on a large store)."""
        return [
            s
            for s in self._store.sessions()
            if s.snapshot is None or s.snapshot.recipe == self.recipe
        ]

    def sessions_page(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        kind: str | None = None,
        order: SessionOrder = "expiring",
    ) -> SessionPage:
        """One page of this recipe's pending and claimed sessions by deadline (``"expiring"``
        soonest first, ``"newest"`` latest first); pass ``page.cursor`` back for the next.  On
        an indexed cache (SQLite, PostgreSQL, Redis) it reads only the records it shows."""
        return self._store.page(
            limit=limit, cursor=cursor, recipe=self.recipe, kind=kind, order=order
        )

    async def asessions_page(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        kind: str | None = None,
        order: SessionOrder = "expiring",
    ) -> SessionPage:
        """Async face of :meth:`sessions_page`."""
        return await self._store.apage(
            limit=limit, cursor=cursor, recipe=self.recipe, kind=kind, order=order
        )

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
    def lease_ttl(self) -> float:
        """Seconds a resume holds its claim before another resume may take the session over."""
        return self._plan.lease_ttl

    @property
    def session_store(self) -> SessionStore:
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


def _cache_diagnostics(cache: Cache, secret_key: object) -> tuple[Diagnostic, ...]:
    """Warnings about a session cache whose semantics weaken the lifecycle's guarantees."""
    caps = capabilities_of(cache)
    name = type(cache).__name__
    found: list[Diagnostic] = []
    if not caps.compare_and_set:
        found.append(
            Diagnostic(
                "warn",
                "adapter",
                "adapter.cache.no_compare_and_set",
                f"sessions live in {name}, which has no atomic compare-and-set: two concurrent "
                "resumes of one token could both run; keep sessions in MemoryCache, SQLiteCache "
                "or RedisCache (strict=True refuses to run on such a cache)",
                {"cache": name},
            )
        )
    if caps.shared and secret_key is None:
        found.append(
            Diagnostic(
                "warn",
                "session",
                "session.unsigned_shared",
                f"sessions live in a shared {name} without a secret_key: anyone who can write "
                "to it can edit a paused run (e.g. skip a human's decision); set secret_key "
                "(or LLM_CORE_SECRET_KEY for the CLI) to sign every record",
                {"cache": name},
            )
        )
    policy = _eviction_policy(cache)
    if policy is not None:
        found.append(
            Diagnostic(
                "warn",
                "adapter",
                "adapter.cache.evicts",
                f"{name} may evict pending sessions before they expire ({policy}); "
                "use a noeviction policy for session storage",
                {"cache": name, "policy": policy},
            )
        )
    return tuple(found)


def _eviction_policy(cache: Cache) -> str | None:
    """What evicts live entries in ``cache`` (``None``: nothing, or guarded by :func:`_room`)."""
    read_policy = getattr(cache, "eviction_policy", None)
    if callable(read_policy):
        try:
            policy = read_policy()
        except Exception as exc:  # a server that does not let us read its config: say so
            _logger.info("could not read the cache's eviction policy: %s", exc)
            return None
        return None if policy in (None, "noeviction") else f"maxmemory-policy {policy}"
    return None


def _room(cache: Cache) -> Callable[[], bool] | None:
    """For a cache bounded by ``max_entries`` (MemoryCache): a check that one more entry fits
    without evicting a pending session (expired entries are swept first)."""
    limit = getattr(cache, "max_entries", None)
    if not capabilities_of(cache).evicts or type(limit) is not int:
        return None
    sized: Any = cache

    def room() -> bool:
        if len(sized) < limit:
            return True
        sweep = getattr(sized, "sweep", None)
        if callable(sweep):
            sweep()
        return bool(len(sized) < limit)

    return room


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
