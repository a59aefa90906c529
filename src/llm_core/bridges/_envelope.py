"""Shared machinery of the ecosystem bridges (LangGraph, LangChain, LlamaIndex).

* **One logic, two faces.**  Each bridge operation is written once, as a generator (a *plan*)
  that yields the calls it needs on the wrapped object, e.g. ``BackendCall("get", (key,))``.
  :func:`run` performs them with the sync methods, :func:`arun` awaits the ``a``-prefixed async
  methods (``aget``, ``aset``, ``alookup``, ``aput`` ...: every library bridged here, and our own
  ``Cache``, names them that way).  No event loop is started inside library code.
* **The expiry envelope.**  Stores without a per-key TTL (LangChain, LlamaIndex) or with a
  coarse one (LangGraph's whole seconds) keep an :class:`Entry` -- the value and the moment it
  expires -- and the bridge enforces the expiry on every read, on its own clock.
* :class:`EnvelopeCache` implements the whole ``Cache`` contract over three store hooks (read,
  write, remove one entry); a ``from_*`` bridge only says how an entry is addressed and encoded.
* :func:`compose_key` maps a foreign, scoped key (LangGraph's namespace + key, LlamaIndex's
  collection + key) injectively onto one of our keys.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from llm_core.cache import CacheCapabilities, ListableCache, capabilities_of
from llm_core.cache._errors import ErrorFactory, map_exceptions
from llm_core.cache._validation import (
    MAX_KEY_BYTES,
    check_key,
    check_ttl,
    check_value,
    is_valid_key,
)
from llm_core.errors import (
    CacheFormatError,
    CacheUnavailableError,
    CapabilityError,
    ConfigurationError,
)

__all__ = [
    "BackendCall",
    "Entry",
    "EnvelopeCache",
    "CallScript",
    "arun",
    "check_prefix",
    "compose_key",
    "deadline",
    "escape",
    "pack_entry",
    "require_listing",
    "run",
    "scope_prefix",
    "unpack_entry",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BackendCall:
    """One call a plan asks for: ``target.<method>(*args, **kwargs)`` (or ``a<method>``)."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


CallScript = Generator[BackendCall, Any, T]
"""A generator yielding :class:`BackendCall` s, receiving their results, returning ``T``."""


def _unavailable(target: object) -> ErrorFactory:
    def to_error(method: str, exc: BaseException) -> CacheUnavailableError:
        return CacheUnavailableError(
            f"{type(target).__name__}.{method} failed: {exc} (the store cannot be reached)"
        )

    return to_error


def run(target: Any, plan: CallScript[T]) -> T:
    """Drive ``plan`` with ``target``'s sync methods.  ``OSError`` → ``CacheUnavailableError``."""
    try:
        call = next(plan)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    to_error = _unavailable(target)
    while True:
        with map_exceptions(OSError, to_error, call.method):
            result = getattr(target, call.method)(*call.args, **call.kwargs)
        try:
            call = plan.send(result)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def arun(target: Any, plan: CallScript[T]) -> T:
    """Drive ``plan`` with ``target``'s async (``a``-prefixed) methods."""
    try:
        call = next(plan)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    to_error = _unavailable(target)
    while True:
        with map_exceptions(OSError, to_error, call.method):
            result = await getattr(target, "a" + call.method)(*call.args, **call.kwargs)
        try:
            call = plan.send(result)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


# --- the expiry envelope ----------------------------------------------------------


class Entry(NamedTuple):
    """A stored value and when it expires on the bridge's clock (``None`` = never)."""

    value: bytes
    expires_at: float | None


_MAGIC = b"llmc\x01"
_DEADLINE = struct.Struct(">d")
_HEADER = len(_MAGIC) + _DEADLINE.size


def pack_entry(entry: Entry) -> bytes:
    """``entry`` as bytes: a 5-byte magic, the expiry as a big-endian float64, the value."""
    deadline = math.inf if entry.expires_at is None else entry.expires_at
    return _MAGIC + _DEADLINE.pack(deadline) + entry.value


def unpack_entry(data: object, where: str) -> Entry:
    """The :class:`Entry` packed in ``data``; ``CacheFormatError`` naming ``where`` if none."""
    if not isinstance(data, bytes) or len(data) < _HEADER or not data.startswith(_MAGIC):
        raise CacheFormatError(
            f"{where} holds {type(data).__name__} data that llm-core did not write "
            "(expected an llm-core entry envelope); use a namespace no other code writes to"
        )
    (deadline,) = _DEADLINE.unpack_from(data, len(_MAGIC))
    return Entry(data[_HEADER:], None if deadline == math.inf else deadline)


def deadline(now: float, ttl: float | None) -> float | None:
    """When an entry set at ``now`` with ``ttl`` expires (``None`` = never)."""
    return None if ttl is None else now + ttl


# --- Cache over an entry store ----------------------------------------------------


class EnvelopeCache:
    """The ``Cache`` contract over a store of :class:`Entry` s, expiry checked on every read.

    Subclasses provide the three hooks ``_read``, ``_write``, ``_remove`` as plans over the
    wrapped object.  An entry is alive while ``clock() <= expires_at``.  ``take`` is a read then
    a remove and ``touch`` a read then a write: neither is atomic (``atomic_take=False``).
    """

    capabilities: CacheCapabilities
    _remove_expired_on_read = True

    def __init__(self, target: Any, clock: Callable[[], float]) -> None:
        if not callable(clock):
            raise ConfigurationError(f"clock must be a callable returning seconds, got {clock!r}")
        self._target = target
        self._clock = clock

    # --- hooks -----------------------------------------------------------------

    def _read(self, key: str) -> CallScript[Entry | None]:
        raise NotImplementedError

    def _write(self, key: str, entry: Entry, ttl: float | None) -> CallScript[None]:
        raise NotImplementedError

    def _remove(self, key: str) -> CallScript[None]:
        raise NotImplementedError

    # --- plans: the one implementation of each operation ----------------------

    def _live(self, entry: Entry) -> bool:
        return entry.expires_at is None or entry.expires_at >= self._clock()

    def _read_live(self, key: str) -> CallScript[Entry | None]:
        """The entry at ``key`` if it is live; an expired one is removed (when the bridge
        removes expired entries on read) and reads as absent."""
        entry = yield from self._read(key)
        if entry is None:
            return None
        if not self._live(entry):
            if self._remove_expired_on_read:
                yield from self._remove(key)
            return None
        return entry

    def _get(self, key: str) -> CallScript[bytes | None]:
        check_key(key)
        entry = yield from self._read_live(key)
        return None if entry is None else entry.value

    def _set(self, key: str, value: bytes, ttl: float | None) -> CallScript[None]:
        check_key(key)
        check_value(value)
        ttl = check_ttl(ttl)
        yield from self._write(key, Entry(value, deadline(self._clock(), ttl)), ttl)

    def _delete(self, key: str) -> CallScript[None]:
        check_key(key)
        yield from self._remove(key)

    def _take(self, key: str) -> CallScript[bytes | None]:
        check_key(key)
        entry = yield from self._read_live(key)
        if entry is None:
            return None
        yield from self._remove(key)
        return entry.value

    def _touch(self, key: str, ttl: float | None) -> CallScript[bool]:
        check_key(key)
        ttl = check_ttl(ttl)
        entry = yield from self._read_live(key)
        if entry is None:
            return False
        yield from self._write(key, Entry(entry.value, deadline(self._clock(), ttl)), ttl)
        return True

    # --- the two faces ---------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The live value at ``key``, or ``None``."""
        return run(self._target, self._get(key))

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` at ``key`` for ``ttl`` seconds (``None`` = no expiry)."""
        run(self._target, self._set(key, value, ttl))

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        run(self._target, self._delete(key))

    def take(self, key: str) -> bytes | None:
        """Get and remove (a read then a remove: not atomic across callers)."""
        return run(self._target, self._take(key))

    def touch(self, key: str, ttl: float | None) -> bool:
        """Restart a live entry's TTL from now by writing it again; ``False`` if absent."""
        return run(self._target, self._touch(key, ttl))

    async def aget(self, key: str) -> bytes | None:
        """Async face of :meth:`get`."""
        return await arun(self._target, self._get(key))

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Async face of :meth:`set`."""
        await arun(self._target, self._set(key, value, ttl))

    async def adelete(self, key: str) -> None:
        """Async face of :meth:`delete`."""
        await arun(self._target, self._delete(key))

    async def atake(self, key: str) -> bytes | None:
        """Async face of :meth:`take`."""
        return await arun(self._target, self._take(key))

    async def atouch(self, key: str, ttl: float | None) -> bool:
        """Async face of :meth:`touch`."""
        return await arun(self._target, self._touch(key, ttl))


# --- foreign keys onto ours ---------------------------------------------------------

_UNSAFE = re.compile(r"[%/|#\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MAX_PREFIX_BYTES = 256
_MAX_SCOPE_BYTES = 512


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode("utf-8", "surrogatepass"))


def escape(text: str) -> str:
    """``text`` with ``% / | #``, control characters and lone surrogates percent-encoded."""
    return _UNSAFE.sub(_percent, text)


def _digest(text: str) -> str:
    return "#" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def check_prefix(prefix: object) -> str:
    """A bridge's key prefix: a non-empty ``str`` of ≤ 256 UTF-8 bytes valid in a cache key."""
    if (
        isinstance(prefix, str)
        and is_valid_key(prefix)
        and len(prefix.encode("utf-8")) <= _MAX_PREFIX_BYTES
    ):
        return prefix
    raise ConfigurationError(
        f"prefix must be a non-empty str of at most {_MAX_PREFIX_BYTES} UTF-8 bytes "
        f"without control characters, got {prefix!r}"
    )


def scope_prefix(prefix: str, scope: Sequence[str]) -> str:
    """The common start of every key :func:`compose_key` makes for ``scope`` (for listing).

    Each scope part is escaped and ends with ``/``; the scope ends with ``|``, which no escaped
    part contains, so one scope's keys never start with another scope's prefix.  A scope longer
    than 512 bytes is replaced by its SHA-256.
    """
    joined = "".join(escape(part) + "/" for part in scope)
    if len((prefix + joined).encode("utf-8")) > _MAX_SCOPE_BYTES:
        joined = _digest(joined) + "/"
    return prefix + joined + "|"


def compose_key(prefix: str, scope: Sequence[str], key: str) -> str:
    """Our cache key for ``key`` inside ``scope``: injective, valid, at most 1024 bytes.

    ``prefix + escaped scope parts + "|" + escaped key``; when that would exceed 1024 UTF-8
    bytes, the key part is ``#`` + the SHA-256 of the key (``#`` is escaped in readable parts,
    so a hashed key never equals a readable one).
    """
    start = scope_prefix(prefix, scope)
    tail = escape(key)
    if len((start + tail).encode("utf-8")) > MAX_KEY_BYTES:
        tail = _digest(key)
    return start + tail


def require_listing(cache: object, operation: str) -> ListableCache:
    """``cache`` as a ``ListableCache``, or ``CapabilityError`` saying ``operation`` needs one."""
    if isinstance(cache, ListableCache) and capabilities_of(cache).listing:
        return cache
    raise CapabilityError(
        f"{operation} needs a cache that lists its keys (capabilities.listing=True and "
        f"keys()/akeys(), e.g. MemoryCache, SQLiteCache, RedisCache); "
        f"{type(cache).__name__} does not"
    )
