"""The adapter contracts: ``Cache``, capabilities, ``KVStore``, ``Storage``, ``AdapterBundle``.

These are protocols (structural types): any object with the right methods is a ``Cache``;
nothing needs to inherit from a base class. Validation of keys, TTLs and values lives once in
:mod:`llm_core.adapters.validation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "AdapterBundle",
    "Cache",
    "CacheCapabilities",
    "KVStore",
    "ListableCache",
    "Storage",
    "TTLSupport",
    "capabilities_of",
]

TTLSupport = Literal["exact", "emulated"]
"""How a backend honours per-key TTL: natively (``exact``) or by storing the expiry beside the
value and checking it on read (``emulated``)."""


@dataclass(frozen=True, slots=True)
class CacheCapabilities:
    """What a backend can do, so that weaker semantics are visible rather than silent.

    ``ttl``: per-key TTL honoured natively (``"exact"``) or emulated by the adapter.
    ``atomic_take``: ``take`` is a single atomic operation of the backend (two concurrent
    takes of one key can never both get the value).
    ``persistent``: entries survive the process.  ``shared``: several processes see the
    same entries.  ``listing``: the cache can list its live keys (``ListableCache``).
    ``sweep``: expired entries nobody reads again are dropped by the backend.
    ``async_inline``: the async faces run the sync code without awaiting anything, so an async
    call cannot be cancelled half-way (the runtime then skips guarding it against cancellation).
    """

    ttl: TTLSupport = "exact"
    atomic_take: bool = True
    persistent: bool = False
    shared: bool = False
    listing: bool = False
    sweep: bool = True
    async_inline: bool = False


@runtime_checkable
class Cache(Protocol):
    """Key → bytes with a per-key TTL in seconds (``None`` = no expiry).

    Keys are non-empty ``str`` of at most 1024 UTF-8 bytes with no control characters
    (``InvalidKeyError`` otherwise); values are ``bytes`` (``TypeError`` otherwise); a TTL is
    ``None`` or a finite number > 0 (``InvalidTTLError`` otherwise).  An entry set with
    ``ttl`` is alive for at least ``ttl`` seconds and gone after.  An unreachable backend
    raises ``CacheUnavailableError``; it never answers "missing" for "down".
    """

    def get(self, key: str) -> bytes | None:
        """The live value at ``key``, or ``None`` if absent or expired."""
        ...

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` at ``key``, replacing any previous value and TTL."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` if present (no error if absent)."""
        ...

    def take(self, key: str) -> bytes | None:
        """Atomically get and delete: of two concurrent takes, at most one gets the value."""
        ...

    def touch(self, key: str, ttl: float | None) -> bool:
        """Give a live entry a new TTL counted from now; ``False`` if it is absent or expired."""
        ...

    async def aget(self, key: str) -> bytes | None:
        """Async face of :meth:`get`."""
        ...

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Async face of :meth:`set`."""
        ...

    async def adelete(self, key: str) -> None:
        """Async face of :meth:`delete`."""
        ...

    async def atake(self, key: str) -> bytes | None:
        """Async face of :meth:`take`."""
        ...

    async def atouch(self, key: str, ttl: float | None) -> bool:
        """Async face of :meth:`touch`."""
        ...


@runtime_checkable
class ListableCache(Cache, Protocol):
    """A cache that can list its live keys (used by ``sessions list`` and the LlamaIndex bridge)."""

    def keys(self, prefix: str = "") -> list[str]:
        """Live keys that start with ``prefix``, in no particular order."""
        ...

    async def akeys(self, prefix: str = "") -> list[str]:
        """Async face of :meth:`keys`."""
        ...


_DEFAULT_CAPABILITIES = CacheCapabilities(sweep=False)


def capabilities_of(cache: object) -> CacheCapabilities:
    """The capabilities a cache declares, or a conservative default for one that declares none."""
    caps = getattr(cache, "capabilities", None)
    if isinstance(caps, CacheCapabilities):
        return caps
    return _DEFAULT_CAPABILITIES


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
