"""Loading the user's workflows (``--app package.module:attr``) and finding the runtime for a token.

No web framework is imported here: the CLI uses this module without the ``server`` extra.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_core.cache import Cache
from llm_core.errors import ConfigurationError, InvalidTokenError, LlmCoreError
from llm_core.sessions import (
    Record,
    SessionInfo,
    SessionStore,
    describe_token_shape,
    token_expiry,
)
from llm_core.workflow import AdapterBundle, Plugin, Runtime, Workflow, recipe_names

__all__ = ["AppError", "Apps", "parse_token", "load_apps", "load_target"]

CACHE_PLUGIN_KEY = "adapter.cache"


class AppError(ConfigurationError):
    """``--app`` names nothing importable, or something that is not a workflow."""


def load_target(spec: str) -> Any:
    """Import ``package.module:attr`` (``attr`` may be dotted) and return the attribute.

    The current directory is importable, as for ``uvicorn`` and ``celery``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise AppError(f"--app {spec!r}: expected 'package.module:attr'")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AppError(f"--app {spec!r}: cannot import {module_name!r}: {exc}") from None
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise AppError(f"--app {spec!r}: {module_name!r} has no attribute {attr!r}") from None
    return value


def parse_token(token: str) -> tuple[str, float]:
    """``(token, expiry)``; ``InvalidTokenError`` for a malformed token (no cache is asked)."""
    expiry = token_expiry(token) if isinstance(token, str) else None
    if expiry is None:
        raise InvalidTokenError(
            f"malformed token {str(token)[:40]!r}: expected {describe_token_shape()}"
        )
    return token, expiry


Builder = Callable[[float | None], Runtime]


@dataclass
class Apps:
    """The workflows one command or server can run, by recipe name.

    A prebuilt ``Runtime`` keeps its own cache and key; a ``Workflow`` (and the built-in
    recipes) is built on the command's cache and key, once per session TTL."""

    cache: Cache
    secret_key: str | None = None
    spec: str | None = None
    builders: dict[str, Builder] = field(default_factory=dict)
    prebuilt: dict[str, Runtime] = field(default_factory=dict)
    _built: dict[tuple[str, float | None], Runtime] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return sorted(self.builders)

    def has(self, recipe: str) -> bool:
        return recipe in self.builders

    def runtime(self, recipe: str, session_ttl: float | None = None) -> Runtime:
        """The runtime of ``recipe``; ``ConfigurationError`` if there is none."""
        builder = self.builders.get(recipe)
        if builder is None:
            raise ConfigurationError(
                f"no recipe named {recipe!r}; known recipes: {self.names}"
                + ("" if self.spec else " (load your own with --app package.module:attr)")
            )
        key = (recipe, session_ttl)
        made = self._built.get(key)
        if made is None:
            made = self._built[key] = builder(session_ttl)
        return made

    def default(self) -> Runtime:
        """A runtime for tokens whose recipe is unknown (it reports the exact error)."""
        if "hitl-gate" in self.builders:
            return self.runtime("hitl-gate")
        return self.runtime(self.names[0])

    def stores(self) -> list[SessionStore]:
        """One session store per distinct cache the runtimes use (the command's first)."""
        found: dict[int, SessionStore] = {}
        runtimes = [self.runtime(name) for name in self.names]
        runtimes.sort(key=lambda r: r.cache is not self.cache)
        for runtime in runtimes:
            found.setdefault(id(runtime.cache), runtime.session_store)
        return list(found.values())

    def locate(self, token: str) -> tuple[Runtime, Record | None]:
        """The runtime for ``token`` (by the recipe its record names) and the record itself.

        An unknown, finished, expired or malformed token gets the runtime of the store that
        holds it (or the default), whose resume or cancel reports exactly which it is.  A
        record of a recipe not loaded here is a ``ConfigurationError``."""
        for store in self.stores():
            try:
                record = store.record(token)
            except LlmCoreError:
                continue
            if record is None:
                continue
            snapshot = record.snapshot
            if snapshot is None:  # completed or cancelled: any runtime on that store replays it
                return self._runtime_on(store.cache), record
            if not self.has(snapshot.recipe):
                raise ConfigurationError(
                    f"the session belongs to recipe {snapshot.recipe!r}, which is not loaded; "
                    f"known recipes: {self.names} (give --app package.module:attr)"
                )
            return self.runtime(snapshot.recipe), record
        return self.default(), None

    def _runtime_on(self, cache: Cache) -> Runtime:
        for name in self.names:
            runtime = self.runtime(name)
            if runtime.cache is cache:
                return runtime
        return self.default()

    def info(self, token: str) -> tuple[SessionStore, SessionInfo] | None:
        """The first store holding ``token``, and what it holds."""
        for store in self.stores():
            info = store.info(token)
            if info is not None:
                return store, info
        return None

    def sessions(self, include_finished: bool = False) -> list[SessionInfo]:
        """Sessions of every listable store, oldest first."""
        found: list[SessionInfo] = []
        for store in self.stores():
            if store.listable:
                found += store.sessions(include_finished=include_finished)
        return sorted(found, key=lambda i: (i.snapshot.created_at if i.snapshot else 0.0, i.token))

    @property
    def listable(self) -> bool:
        return any(store.listable for store in self.stores())


def _cache_plugin(cache: Cache) -> Plugin:
    return Plugin(key=CACHE_PLUGIN_KEY, mode="override", adapters=AdapterBundle(cache=cache))


def _workflow_builder(
    workflow: Workflow, cache: Cache, key: str | None, plugins: tuple[Plugin, ...]
) -> Builder:
    def build(session_ttl: float | None) -> Runtime:
        return workflow.use(_cache_plugin(cache), *plugins).build(
            session_ttl=session_ttl, secret_key=key
        )

    return build


def _prebuilt_builder(runtime: Runtime) -> Builder:
    def build(session_ttl: float | None) -> Runtime:
        if session_ttl is not None and session_ttl != runtime.session_ttl:
            raise ConfigurationError(
                f"recipe {runtime.recipe!r} is a prebuilt Runtime: its session TTL is fixed at "
                f"{runtime.session_ttl:g} s (export a Workflow to choose it per run)"
            )
        return runtime

    return build


def _flatten(value: Any, spec: str, depth: int = 0) -> Iterable[Runtime | Workflow]:
    if isinstance(value, Runtime | Workflow):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _flatten(item, spec, depth + 1)
    elif callable(value) and depth == 0:
        try:
            made = value()
        except TypeError as exc:
            raise AppError(f"--app {spec!r}: the factory must take no arguments ({exc})") from None
        yield from _flatten(made, spec, depth + 1)
    else:
        raise AppError(
            f"--app {spec!r}: expected a Runtime, a Workflow, a list of them or a zero-argument "
            f"factory returning one, got {type(value).__name__}"
        )


def load_apps(
    spec: str | None,
    cache: Cache,
    secret_key: str | None,
    plugins: tuple[Plugin, ...] = (),
    model: Any | None = None,
) -> Apps:
    """The built-in recipes on ``cache``, plus (and overridden by) what ``spec`` names.

    ``model`` (``--model``): a ``provider:name`` or ``package.module:attr`` spec, or a chat model
    object, given to every workflow built here (not to prebuilt runtimes); see ``_model``."""
    if model is not None:
        from llm_core.server._model import load_model, model_plugin

        plugins = (*plugins, model_plugin(load_model(model) if isinstance(model, str) else model))
    apps = Apps(cache=cache, secret_key=secret_key, spec=spec)
    for name in recipe_names():
        apps.builders[name] = _workflow_builder(Workflow.recipe(name), cache, secret_key, plugins)
    if spec is None:
        return apps
    for item in _flatten(load_target(spec), spec):
        if isinstance(item, Runtime):
            apps.builders[item.recipe] = _prebuilt_builder(item)
            apps.prebuilt[item.recipe] = item
        else:
            apps.builders[item.name] = _workflow_builder(item, cache, secret_key, plugins)
    return apps
