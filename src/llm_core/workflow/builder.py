"""``Workflow``: the builder, and the recipe registry (name → builder of plugins).

::

    runtime = Workflow.recipe("hitl-gate").use(my_cache_plugin).build()
    runtime = Workflow("greet", [draft, review]).build(session_ttl=3600)

A builder is immutable: ``use`` and ``step`` return a new one.  ``build`` calls the recipe's
factory afresh, so every runtime gets its own default adapters (e.g. a private MemoryCache).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from llm_core.errors import ConfigurationError
from llm_core.workflow.plugins import Plugin, compose
from llm_core.workflow.runtime import (
    DEFAULT_LEASE_TTL,
    DEFAULT_RESULT_TTL,
    DEFAULT_SESSION_TTL,
    Runtime,
    private_memory_cache,
)
from llm_core.workflow.steps import Step, StepFn, as_step

__all__ = ["BuildOptions", "RecipeFactory", "Workflow", "recipe_names", "register_recipe"]


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """The runtime options a recipe factory may need (e.g. to put its cache on ``clock``).

    ``clock`` is ``None`` when the runtime uses the real wall clock.
    """

    session_ttl: float
    clock: Callable[[], float] | None
    strict: bool
    secret_key: str | bytes | None = None


RecipeFactory = Callable[[BuildOptions], Sequence[Plugin]]
"""Makes a recipe's plugins (steps, default adapters, hooks) for one runtime."""

_RECIPES: dict[str, RecipeFactory] = {}
_LOCK = threading.Lock()


def register_recipe(name: str, factory: RecipeFactory, *, replace: bool = False) -> None:
    """Make ``Workflow.recipe(name)`` build from ``factory``.  Re-registering a name needs
    ``replace=True``."""
    if type(name) is not str or not name:
        raise ConfigurationError(f"a recipe name must be a non-empty str, got {name!r}")
    if not callable(factory):
        raise ConfigurationError(f"recipe {name!r}: factory must be callable")
    with _LOCK:
        if name in _RECIPES and not replace and _RECIPES[name] is not factory:
            raise ConfigurationError(
                f"recipe {name!r} is already registered; pass replace=True to replace it"
            )
        _RECIPES[name] = factory


def recipe_names() -> list[str]:
    """The names ``Workflow.recipe`` knows, sorted."""
    with _LOCK:
        return sorted(_RECIPES)


class Workflow:
    """A workflow under construction: a name, a recipe factory (optional) and plugins."""

    __slots__ = ("_factory", "_plugins", "name")

    def __init__(
        self,
        name: str,
        steps: Iterable[Step | StepFn] = (),
        *,
        plugins: Iterable[Plugin] = (),
    ) -> None:
        """A workflow called ``name`` (recorded in its snapshots) running ``steps`` in order."""
        if type(name) is not str or not name:
            raise ConfigurationError(f"a workflow name must be a non-empty str, got {name!r}")
        self.name = name
        self._factory: RecipeFactory | None = None
        own = tuple(as_step(s) for s in steps)
        base = (Plugin(key=f"{name}.steps", steps=own),) if own else ()
        self._plugins: tuple[Plugin, ...] = base + tuple(plugins)

    @classmethod
    def recipe(cls, name: str) -> Workflow:
        """A builder for the registered recipe ``name`` (e.g. ``"hitl-gate"``)."""
        with _LOCK:
            factory = _RECIPES.get(name)
        if factory is None:
            raise ConfigurationError(f"no recipe named {name!r}; known recipes: {recipe_names()}")
        made = cls(name)
        made._factory = factory
        return made

    def _with(self, plugins: tuple[Plugin, ...]) -> Workflow:
        made = Workflow(self.name)
        made._factory = self._factory
        made._plugins = plugins
        return made

    def use(self, *plugins: Plugin) -> Workflow:
        """A builder with ``plugins`` added after the current ones."""
        for plugin in plugins:
            if not isinstance(plugin, Plugin):
                raise ConfigurationError(f"use() takes Plugin objects, got {type(plugin).__name__}")
        return self._with(self._plugins + plugins)

    def step(
        self,
        fn: StepFn,
        *,
        name: str | None = None,
        before: str | None = None,
        after: str | None = None,
    ) -> Workflow:
        """A builder with one more step (at the end, or ``before``/``after`` a named step).
        A step with an existing name replaces that step in place."""
        step = Step(name, fn, before, after) if name is not None else as_step(fn)
        if name is None and (before is not None or after is not None):
            step = Step(step.name, fn, before, after)
        plugin = Plugin(key=f"{self.name}.step.{step.name}", mode="override", steps=(step,))
        return self._with((*self._plugins, plugin))

    def build(
        self,
        *,
        session_ttl: float | None = None,
        clock: Callable[[], float] | None = None,
        strict: bool = False,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        result_ttl: float = DEFAULT_RESULT_TTL,
        secret_key: str | bytes | None = None,
        previous_keys: Sequence[str | bytes] = (),
        encrypt: bool = False,
        state_types: Sequence[type] = (),
    ) -> Runtime:
        """The ``Runtime``.

        ``session_ttl``: seconds a pause waits (default 24 h).  ``clock``: the wall clock in
        seconds (inject one in tests).  ``strict``: warnings are errors.  ``lease_ttl``: seconds
        a resume holds its claim before another may take over (default 5 min, at least 1 s).
        ``result_ttl``: seconds a completed session's outcome is kept for replays (15 min).
        ``secret_key`` (+ ``previous_keys`` for rotation): HMAC-sign every stored record.
        ``encrypt``: also encrypt each snapshot's state and payload (AES-256-GCM, a key derived
        from ``secret_key``; needs ``pip install 'llm-core[crypto]'``).
        ``state_types``: pydantic model classes a paused state may hold (besides JSON values,
        datetime/date/time/UUID/Decimal/bytes/tuple and LangChain messages); see docs/state.md.
        """
        if encrypt and secret_key is None:
            raise ConfigurationError("encrypt=True needs a secret_key to derive the AES key from")
        ttl = _seconds("session_ttl", DEFAULT_SESSION_TTL if session_ttl is None else session_ttl)
        lease = _seconds("lease_ttl", lease_ttl, minimum=1.0)
        keep = _seconds("result_ttl", result_ttl, minimum=1.0)
        if clock is not None and not callable(clock):
            raise ConfigurationError("clock must be a callable returning seconds")
        options = BuildOptions(
            session_ttl=ttl, clock=clock, strict=bool(strict), secret_key=secret_key
        )
        base = tuple(self._factory(options)) if self._factory is not None else ()
        composition = compose(base + self._plugins)
        if not composition.steps:
            raise ConfigurationError(
                f"workflow {self.name!r} has no steps; give Workflow(name, steps) or use a "
                "plugin with steps"
            )
        return Runtime(
            self.name,
            composition,
            session_ttl=options.session_ttl,
            clock=clock if clock is not None else time.time,
            strict=options.strict,
            fallback_cache=private_memory_cache(clock),
            lease_ttl=lease,
            result_ttl=keep,
            secret_key=secret_key,
            previous_keys=previous_keys,
            encrypt=bool(encrypt),
            state_types=tuple(state_types),
        )

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, plugins={[p.key for p in self._plugins]})"


def _seconds(name: str, value: object, minimum: float = 0.0) -> float:
    """``value`` as finite seconds > 0 (and ≥ ``minimum``), else ``ConfigurationError``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (value > 0 and value >= minimum and math.isfinite(value))
    ):
        floor = f" and at least {minimum:g}" if minimum else ""
        raise ConfigurationError(
            f"{name} must be a finite number of seconds > 0{floor}, got {value!r}"
        )
    return float(value)
