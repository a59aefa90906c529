"""Plugins bundle adapters, steps and lifecycle hooks; :func:`compose` merges a list of them.

Rules (DESIGN.md, Workflow):

* Plugins are identified by ``key``.  A later plugin with an existing key and
  ``mode="override"`` replaces the earlier one **in place**; with ``mode="extend"`` it is
  ignored and a ``plugin.duplicate_ignored`` warning says so.
* Adapters merge in plugin order; for single-valued fields the last plugin that sets one wins.
* Steps keep plugin order; a step whose name exists replaces it in place, a new one goes
  ``before``/``after`` the step it names, or at the end.
* Hooks subscribe to trace event names (``run.start``, ``step.end``, ...) and all run, in order.
* ``requires`` names adapter fields a plugin needs; a missing one is a ``requirement.missing``
  error reported by every call (the cache is never missing: the runtime has a fallback).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

from llm_core.cache import Cache
from llm_core.errors import ConfigurationError
from llm_core.workflow.outcomes import EVENT_NAMES, Diagnostic, TraceEvent
from llm_core.workflow.steps import Step, StepFn, as_step

__all__ = [
    "ADAPTER_FIELDS",
    "AdapterBundle",
    "Composition",
    "Hook",
    "KVStore",
    "Mode",
    "Plugin",
    "Storage",
    "compose",
]

Mode = Literal["extend", "override"]
Hook: TypeAlias = Callable[[TraceEvent], Awaitable[None] | None]
ADAPTER_FIELDS = ("cache", "kv", "storage", "model", "tools")


@runtime_checkable
class KVStore(Protocol):
    """A persistent key → JSON-able document store without TTL (LlamaIndex-style)."""

    def put(self, key: str, value: Mapping[str, Any], collection: str = "data") -> None: ...

    def get(self, key: str, collection: str = "data") -> dict[str, Any] | None: ...

    def delete(self, key: str, collection: str = "data") -> bool: ...

    def get_all(self, collection: str = "data") -> dict[str, dict[str, Any]]: ...


@runtime_checkable
class Storage(Protocol):
    """A blob store for larger artefacts, addressed by path-like names."""

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes) -> None: ...

    def remove(self, name: str) -> None: ...

    def names(self, prefix: str = "") -> Iterable[str]: ...


@dataclass(frozen=True, slots=True)
class AdapterBundle:
    """The adapters a plugin declares. ``None`` means "not provided by this plugin".

    When plugins are merged, a field set by a later plugin replaces the earlier one.
    ``model`` and ``tools`` are left open for the model and tool adapters to come.
    """

    cache: Cache | None = None
    kv: KVStore | None = None
    storage: Storage | None = None
    model: Any | None = None
    tools: Mapping[str, Any] = field(default_factory=dict)

    def merged_with(self, later: AdapterBundle) -> AdapterBundle:
        """A bundle where each field ``later`` sets overrides this one's; tools merge by name."""
        return AdapterBundle(
            cache=later.cache if later.cache is not None else self.cache,
            kv=later.kv if later.kv is not None else self.kv,
            storage=later.storage if later.storage is not None else self.storage,
            model=later.model if later.model is not None else self.model,
            tools={**self.tools, **later.tools},
        )


@dataclass(frozen=True, slots=True)
class Plugin:
    """Adapters, steps and hooks under one ``key``.

    >>> from llm_core import AdapterBundle, MemoryCache
    >>> Plugin(key="adapter.cache", mode="override", adapters=AdapterBundle(cache=MemoryCache()))
    Plugin(key='adapter.cache', mode='override', ...)
    """

    key: str
    mode: Mode = "extend"
    adapters: AdapterBundle = field(default_factory=AdapterBundle)
    steps: Sequence[Step | StepFn] = ()
    hooks: Mapping[str, Hook | Sequence[Hook]] = field(default_factory=dict)
    requires: Sequence[str] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if type(self.key) is not str or not self.key:
            raise ConfigurationError(f"a plugin key must be a non-empty str, got {self.key!r}")
        if self.mode not in ("extend", "override"):
            raise ConfigurationError(
                f"plugin {self.key!r}: mode must be 'extend' or 'override', got {self.mode!r}"
            )
        if not isinstance(self.adapters, AdapterBundle):
            raise ConfigurationError(
                f"plugin {self.key!r}: adapters must be an AdapterBundle, "
                f"got {type(self.adapters).__name__}"
            )
        object.__setattr__(self, "steps", tuple(as_step(s) for s in self.steps))
        object.__setattr__(self, "hooks", _normalise_hooks(self.key, self.hooks))
        if isinstance(self.requires, str):
            raise ConfigurationError(
                f"plugin {self.key!r}: requires takes a sequence of adapter names, e.g. "
                f"({self.requires!r},), not a str"
            )
        unknown = [name for name in self.requires if name not in ADAPTER_FIELDS]
        if unknown:
            raise ConfigurationError(
                f"plugin {self.key!r}: requires names unknown adapters {unknown}; "
                f"allowed: {list(ADAPTER_FIELDS)}"
            )
        object.__setattr__(self, "requires", tuple(self.requires))

    def __repr__(self) -> str:
        return f"Plugin(key={self.key!r}, mode={self.mode!r}, ...)"


def _normalise_hooks(
    key: str, hooks: Mapping[str, Hook | Sequence[Hook]]
) -> dict[str, tuple[Hook, ...]]:
    out: dict[str, tuple[Hook, ...]] = {}
    for name, value in hooks.items():
        if name not in EVENT_NAMES:
            raise ConfigurationError(
                f"plugin {key!r}: no hook event {name!r}; allowed: {list(EVENT_NAMES)}"
            )
        fns = (value,) if callable(value) else tuple(value)
        for fn in fns:
            if not callable(fn):
                raise ConfigurationError(f"plugin {key!r}: hook for {name!r} is not callable")
        out[name] = fns
    return out


@dataclass(frozen=True, slots=True)
class Composition:
    """The result of merging plugins: what a runtime is built from, and what ``explain`` shows."""

    plugins: tuple[Plugin, ...]
    adapters: AdapterBundle
    steps: tuple[Step, ...]
    step_sources: Mapping[str, str]
    hooks: Mapping[str, tuple[Hook, ...]]
    overrides: tuple[dict[str, Any], ...]
    ignored: tuple[dict[str, Any], ...]
    missing: tuple[dict[str, Any], ...]
    diagnostics: tuple[Diagnostic, ...]


def compose(plugins: Iterable[Plugin]) -> Composition:
    """Merge ``plugins`` in order (see the module docstring for the rules)."""
    chosen: list[Plugin] = []
    position: dict[str, int] = {}
    overrides: list[dict[str, Any]] = []
    ignored: list[dict[str, Any]] = []
    diagnostics: list[Diagnostic] = []
    for plugin in plugins:
        if not isinstance(plugin, Plugin):
            raise ConfigurationError(f"use() takes Plugin objects, got {type(plugin).__name__}")
        at = position.get(plugin.key)
        if at is None:
            position[plugin.key] = len(chosen)
            chosen.append(plugin)
        elif plugin.mode == "override":
            chosen[at] = plugin
            overrides.append({"kind": "plugin", "key": plugin.key})
        else:
            ignored.append({"key": plugin.key, "reason": "duplicate key with mode='extend'"})
            diagnostics.append(
                Diagnostic(
                    "warn",
                    "workflow",
                    "plugin.duplicate_ignored",
                    f"plugin {plugin.key!r} was already used; this one is ignored "
                    "(give it mode='override' to replace the earlier one)",
                    {"key": plugin.key},
                )
            )

    adapters = AdapterBundle()
    for plugin in chosen:
        adapters = adapters.merged_with(plugin.adapters)
    steps, sources = _merge_steps(chosen, overrides)
    hooks: dict[str, tuple[Hook, ...]] = {}
    for plugin in chosen:
        for name, fns in plugin.hooks.items():
            hooks[name] = hooks.get(name, ()) + tuple(fns)  # type: ignore[arg-type]

    missing: list[dict[str, Any]] = []
    for plugin in chosen:
        for need in plugin.requires:
            value = getattr(adapters, need)
            if need != "cache" and (value is None or (need == "tools" and not value)):
                missing.append({"plugin": plugin.key, "adapter": need})
                diagnostics.append(
                    Diagnostic(
                        "error",
                        "requirement",
                        "requirement.missing",
                        f"plugin {plugin.key!r} requires a {need!r} adapter and no plugin "
                        f"provides one; use a plugin with adapters=AdapterBundle({need}=...)",
                        {"plugin": plugin.key, "adapter": need},
                    )
                )
    return Composition(
        plugins=tuple(chosen),
        adapters=adapters,
        steps=tuple(steps),
        step_sources=sources,
        hooks=hooks,
        overrides=tuple(overrides),
        ignored=tuple(ignored),
        missing=tuple(missing),
        diagnostics=tuple(diagnostics),
    )


def _merge_steps(
    plugins: Sequence[Plugin], overrides: list[dict[str, Any]]
) -> tuple[list[Step], dict[str, str]]:
    steps: list[Step] = []
    sources: dict[str, str] = {}
    for plugin in plugins:
        for step in plugin.steps:
            assert isinstance(step, Step)  # normalised by Plugin.__post_init__
            names = [s.name for s in steps]
            if step.name in sources:
                steps[names.index(step.name)] = step
                overrides.append(
                    {
                        "kind": "step",
                        "step": step.name,
                        "replaced": sources[step.name],
                        "by": plugin.key,
                    }
                )
            elif step.before is not None or step.after is not None:
                anchor = step.before if step.before is not None else step.after
                if anchor not in names:
                    raise ConfigurationError(
                        f"plugin {plugin.key!r}: step {step.name!r} is placed next to "
                        f"{anchor!r}, which is not a step; steps so far: {names}"
                    )
                index = names.index(anchor) + (0 if step.before is not None else 1)
                steps.insert(index, step)
            else:
                steps.append(step)
            sources[step.name] = plugin.key
    return steps, sources
