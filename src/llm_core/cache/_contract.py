"""The cache contract: the ``Cache`` and ``ListableCache`` protocols and ``CacheCapabilities``.

These are protocols (structural types): any object with the right methods is a ``Cache``;
nothing needs to inherit from a base class. Validation of keys, TTLs and values lives once in
:mod:`llm_core.cache._validation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol, runtime_checkable

__all__ = [
    "AtomicCache",
    "Cache",
    "CacheCapabilities",
    "IndexedCache",
    "IndexedEntry",
    "Labeler",
    "Labels",
    "ListableCache",
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
    ``evicts``: the backend may drop a live entry before its TTL to make room (an LRU bound, an
    evicting ``maxmemory-policy``).  ``compare_and_set``: the cache is an :class:`AtomicCache`
    whose ``compare_and_set`` is one atomic operation of the backend.  ``index``: the cache is an
    :class:`IndexedCache`: it pages through the entries under a prefix in deadline order
    without reading the others.
    """

    ttl: TTLSupport = "exact"
    atomic_take: bool = True
    persistent: bool = False
    shared: bool = False
    listing: bool = False
    sweep: bool = True
    async_inline: bool = False
    evicts: bool = False
    compare_and_set: bool = False
    index: bool = False


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


@runtime_checkable
class AtomicCache(Cache, Protocol):
    """A cache with an atomic compare-and-set (declared by ``capabilities.compare_and_set``)."""

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        """Set ``key`` to ``new`` (``None`` = delete) only if its live value is ``expected``
        (``None`` = absent or expired), as one atomic step; ``True`` if it did."""
        ...

    async def acompare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        """Async face of :meth:`compare_and_set`."""
        ...


Labels = tuple[str, str]
"""The two labels an indexed entry can be filtered by (sessions: recipe, pause kind)."""

Labeler = Callable[[bytes], "Labels | None"]
"""Labels a value written under an indexed prefix; ``None``: the entry is not listed.  It sees
the raw bytes (hostile: it must not raise on garbage, only return ``None``)."""


class IndexedEntry(NamedTuple):
    """One entry of a page: its key, its value and its deadline (the cache's clock, seconds)."""

    key: str
    value: bytes
    expires_at: float


@runtime_checkable
class IndexedCache(Cache, Protocol):
    """A cache that keeps an index of the entries under a prefix, ordered by deadline.

    After ``index_prefix(prefix, labeler)``, every write of a key under ``prefix`` (through this
    cache object, or any other that registered the same prefix) labels its value; ``page`` then
    walks the live, listed entries by ``(expires_at, key)`` -- ascending, or descending with
    ``newest=True`` -- from just after the position ``after``, keeps those whose labels match
    ``labels`` (``None`` matches anything), and returns at most ``limit``.  An expired,
    deleted or unlisted entry is never returned; an entry without a TTL is never listed.
    Values are returned as stored: the caller verifies them.
    """

    def index_prefix(self, prefix: str, labeler: Labeler) -> None:
        """Index the entries under ``prefix`` written from now on: no I/O, idempotent (a
        runtime registers before its first write).  Entries stored before anyone indexed the
        prefix on this backend are labelled by the first ``page`` of the prefix."""
        ...

    def page(
        self,
        prefix: str,
        *,
        after: tuple[float, str] | None = None,
        newest: bool = False,
        labels: tuple[str | None, str | None] = (None, None),
        limit: int = 50,
    ) -> list[IndexedEntry]:
        """Up to ``limit`` listed entries under ``prefix`` past ``after``, in deadline order."""
        ...

    async def apage(
        self,
        prefix: str,
        *,
        after: tuple[float, str] | None = None,
        newest: bool = False,
        labels: tuple[str | None, str | None] = (None, None),
        limit: int = 50,
    ) -> list[IndexedEntry]:
        """Async face of :meth:`page`."""
        ...


_DEFAULT_CAPABILITIES = CacheCapabilities(sweep=False)


def capabilities_of(cache: object) -> CacheCapabilities:
    """The capabilities a cache declares, or a conservative default for one that declares none."""
    caps = getattr(cache, "capabilities", None)
    if isinstance(caps, CacheCapabilities):
        return caps
    return _DEFAULT_CAPABILITIES
