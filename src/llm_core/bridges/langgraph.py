"""LangGraph ↔ llm-core caches, both ways (needs ``pip install 'llm-core[langgraph]'``).

* :func:`to_langgraph_cache` exposes any llm-core ``Cache`` as a LangGraph
  ``langgraph.cache.base.BaseCache``, so ``graph.compile(cache=to_langgraph_cache(SQLiteCache(
  "graph.db")))`` caches nodes that carry a ``CachePolicy(ttl=...)`` in SQLite or Redis.
  Values are written in LangGraph's own serde format (``JsonPlusSerializer``, optionally inside an
  ``EncryptedSerializer``) as ``b"<type>:" + data``, and read back through an allow-list
  (:class:`~llm_core.bridges._serde.AllowListSerializer`): stored bytes never make the bridge
  import or call anything beyond it.  An unreadable entry (a type outside the allow-list,
  ``pickle``, a foreign or unencrypted record, a wrong key) or a store that is down is a *miss*,
  logged at WARNING on ``llm_core.bridges``, and LangGraph runs the node again, as with
  LangGraph's own ``RedisCache`` (``on_error="raise"`` raises instead).  LangGraph's
  whole-second TTLs are passed on exactly.  ``clear`` needs a cache that lists its keys.
* :func:`from_langgraph_cache` wraps a LangGraph cache (``InMemoryCache``, ``SqliteCache``,
  ``RedisCache`` ...) as an llm-core ``Cache``.  LangGraph TTLs are whole seconds, so each value
  carries its exact expiry (on the bridge's ``clock``) beside it, checked on every read, while
  LangGraph's native TTL -- the TTL rounded *up* -- only drops the entry from its store.  Each key
  lives in its own namespace, so ``delete`` is a real ``clear`` of one key.  ``take`` and
  ``touch`` are a read then a write: not atomic (``capabilities.atomic_take`` is ``False``).

Key mapping, LangGraph → llm-core: ``prefix + escaped namespace parts + "|" + escaped key``
(``% / | #`` and control characters percent-encoded); a key that would exceed 1024 UTF-8 bytes
becomes ``#`` + its SHA-256 (see :func:`llm_core.bridges._envelope.compose_key`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote

from llm_core._log import get_logger
from llm_core.bridges._envelope import (
    BackendCall,
    CallScript,
    Entry,
    EnvelopeCache,
    arun,
    check_prefix,
    compose_key,
    pack_entry,
    require_listing,
    run,
    scope_prefix,
    unpack_entry,
)
from llm_core.cache import Cache, CacheCapabilities
from llm_core.errors import (
    CacheFormatError,
    CacheUnavailableError,
    ConfigurationError,
    MissingDependencyError,
)

try:
    from langgraph.cache.base import BaseCache, FullKey, Namespace
    from langgraph.checkpoint.serde.base import SerializerProtocol

    from llm_core.bridges._serde import (
        AllowListSerializer,
        SealedSerializer,
        allow_listed,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("the LangGraph bridge", "langgraph", "langgraph") from exc

__all__ = [
    "AllowListSerializer",
    "LangGraphCacheAdapter",
    "LlmCoreLangGraphCache",
    "from_langgraph_cache",
    "to_langgraph_cache",
]

_SAFE_PART = re.compile(r"[A-Za-z0-9_.~-]+")
_VALUE_KEY = "v"
_TYPE_TAG = re.compile(rb"[A-Za-z0-9_.-]+(\+[A-Za-z0-9_.-]+)?")  # "msgpack", "msgpack+aes"
_UNREADABLE = object()
_log = get_logger("bridges")

OnError = Literal["miss", "raise"]
"""What a bridge serving as its host's *cache* does with an unreadable entry or a down store."""


def check_on_error(on_error: OnError) -> OnError:
    if on_error not in ("miss", "raise"):
        raise ConfigurationError(f"on_error must be 'miss' or 'raise', got {on_error!r}")
    return on_error


# --- LangGraph cache → llm-core Cache ------------------------------------------------


class LangGraphCacheAdapter(EnvelopeCache):
    """An llm-core ``Cache`` stored in a LangGraph ``BaseCache`` (see the module docstring)."""

    # LangGraph's own TTL (rounded up to whole seconds) drops an expired entry; removing it on
    # read could race with a concurrent fresh set, so reads only ignore it.
    _remove_expired_on_read = False

    def __init__(
        self,
        cache: BaseCache[Any],
        namespace: Sequence[str],
        *,
        clock: Callable[[], float],
        persistent: bool,
        shared: bool,
        sweep: bool,
    ) -> None:
        super().__init__(cache, clock)
        self._namespace: Namespace = tuple(namespace)
        self.capabilities = CacheCapabilities(
            ttl="exact",
            atomic_take=False,
            compare_and_set=False,  # no atomic compare-and-set in the bridged store
            persistent=persistent,
            shared=shared,
            listing=False,
            sweep=sweep,
        )

    def _full_key(self, key: str) -> FullKey:
        # quote(safe="") leaves only [A-Za-z0-9_.~-] and %XX: no "," (SqliteCache joins
        # namespaces with it), no ":" or glob characters (RedisCache clears by KEYS pattern).
        return ((*self._namespace, quote(key, safe="")), _VALUE_KEY)

    def _read(self, key: str) -> CallScript[Entry | None]:
        full_key = self._full_key(key)
        found: Mapping[FullKey, Any] = yield BackendCall("get", ([full_key],))
        raw = next(iter(found.values()), None)
        if raw is None:
            return None
        return unpack_entry(raw, f"LangGraph cache key {full_key!r}")

    def _write(self, key: str, entry: Entry, ttl: float | None) -> CallScript[None]:
        native_ttl = None if ttl is None else math.ceil(ttl)  # never shorter than asked
        yield BackendCall("set", ({self._full_key(key): (pack_entry(entry), native_ttl)},))

    def _remove(self, key: str) -> CallScript[None]:
        yield BackendCall("clear", ([self._full_key(key)[0]],))

    def __repr__(self) -> str:
        return f"LangGraphCacheAdapter({type(self._target).__name__}, namespace={self._namespace})"


def _store_traits(cache: BaseCache[Any]) -> tuple[bool, bool, bool]:
    """(persistent, shared, sweeps expired entries itself) for LangGraph's own caches."""
    from langgraph.cache.redis import RedisCache as LangGraphRedisCache
    from langgraph.cache.sqlite import SqliteCache as LangGraphSqliteCache

    if isinstance(cache, LangGraphRedisCache):
        return True, True, True
    if isinstance(cache, LangGraphSqliteCache):
        return True, True, False  # expired rows are dropped only when read
    return False, False, False


def _guard(cache: BaseCache[Any]) -> None:
    """Put the allow-list under ``cache``'s own serde (in place: it reads everything LangGraph
    writes, so the cache keeps working for a graph; a forged record there runs nothing)."""
    if not isinstance(cache.serde, (AllowListSerializer, SealedSerializer)):
        cache.serde = allow_listed(cache.serde, allow_plain=True)


def from_langgraph_cache(
    cache: BaseCache[Any],
    namespace: Sequence[str] = ("llm-core",),
    *,
    clock: Callable[[], float] = time.time,
    persistent: bool | None = None,
    shared: bool | None = None,
) -> LangGraphCacheAdapter:
    """Wrap a LangGraph cache as an llm-core ``Cache`` whose keys live under ``namespace``.

    ``namespace``: non-empty parts of ``[A-Za-z0-9_.~-]`` (safe in every LangGraph cache's key
    format).  ``clock``: wall-clock seconds for the exact expiry kept beside each value (LangGraph
    counts its own, whole-second TTLs on the wall clock).  ``persistent`` / ``shared`` override
    what the capabilities record infers for caches other than LangGraph's own.
    """
    if not isinstance(cache, BaseCache):
        raise TypeError(
            "from_langgraph_cache needs a langgraph.cache.base.BaseCache, "
            f"got {type(cache).__name__}"
        )
    parts = (namespace,) if isinstance(namespace, str) else tuple(namespace)
    if not parts or not all(isinstance(p, str) and _SAFE_PART.fullmatch(p) for p in parts):
        raise ConfigurationError(
            f"namespace must be a non-empty sequence of non-empty str made of letters, digits "
            f"and '_.~-', got {namespace!r}"
        )
    _guard(cache)
    inferred_persistent, inferred_shared, sweeps = _store_traits(cache)
    return LangGraphCacheAdapter(
        cache,
        parts,
        clock=clock,
        persistent=inferred_persistent if persistent is None else persistent,
        shared=inferred_shared if shared is None else shared,
        sweep=sweeps,
    )


# --- llm-core Cache → LangGraph cache ------------------------------------------------


class LlmCoreLangGraphCache(BaseCache[Any]):
    """A LangGraph ``BaseCache`` whose entries live in an llm-core ``Cache``.

    As LangGraph's node cache it never fails a read: an entry that cannot be read (not a record
    of this bridge, a type outside the allow-list, a wrong cipher) or a store that is down is a
    miss, logged at WARNING on ``llm_core.bridges``; LangGraph then runs the node again.  A write
    or ``clear`` on a store that is down is logged and skipped.  ``on_error="raise"`` raises
    instead (``CacheFormatError`` / ``CacheUnavailableError``).
    """

    def __init__(
        self,
        cache: Cache,
        *,
        prefix: str = "langgraph:",
        serde: SerializerProtocol | None = None,
        allowed_types: Iterable[type] = (),
        on_error: OnError = "miss",
    ) -> None:
        super().__init__(serde=allow_listed(serde, allowed_types))
        self.cache = cache
        self.prefix = check_prefix(prefix)
        self.on_error = check_on_error(on_error)

    def _key(self, full_key: FullKey) -> str:
        namespace, key = full_key
        return compose_key(self.prefix, namespace, key)

    def _encode(self, value: Any) -> bytes:
        type_, data = self.serde.dumps_typed(value)
        if type_ == "pickle":
            raise TypeError(
                f"LangGraph's serde could only pickle a {type(value).__name__}; "
                "llm-core stores no pickles (return JSON/msgpack-able values from cached nodes)"
            )
        return type_.encode("ascii") + b":" + data

    def _load(self, raw: object) -> Any:
        if not isinstance(raw, bytes):
            raise CacheFormatError(f"holds {type(raw).__name__}, not bytes")
        type_, sep, data = raw.partition(b":")
        if not sep or not _TYPE_TAG.fullmatch(type_) or type_.split(b"+")[0] == b"pickle":
            raise CacheFormatError(
                "not a LangGraph serde record written by to_langgraph_cache "
                "(expected b'<type>:<data>', and never pickle)"
            )
        return self.serde.loads_typed((type_.decode("ascii"), data))

    def _decode(self, raw: object, key: str) -> Any:
        """The value stored at ``key``; ``_UNREADABLE`` (logged) if it cannot be read safely."""
        try:
            return self._load(raw)
        except Exception as exc:  # whatever the bytes are, a read is never an exception
            if self.on_error == "raise":
                if isinstance(exc, CacheFormatError):
                    raise
                raise CacheFormatError(f"cache key {key!r} is unreadable: {exc}") from exc
            _log.warning(
                "to_langgraph_cache: cache key %r is unreadable, served as a miss "
                "(LangGraph runs the node again): %s: %s",
                key,
                type(exc).__name__,
                exc,
            )
            return _UNREADABLE

    # --- plans ---------------------------------------------------------------

    def _get(self, keys: Sequence[FullKey], found: dict[FullKey, Any]) -> CallScript[None]:
        for full_key in keys:
            key = self._key(full_key)
            raw = yield BackendCall("get", (key,))
            if raw is not None:
                value = self._decode(raw, key)
                if value is not _UNREADABLE:
                    found[full_key] = value

    def _set(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> CallScript[None]:
        for full_key, (value, ttl) in pairs.items():
            key = self._key(full_key)
            if ttl is not None and ttl <= 0:  # already expired: nothing to keep
                yield BackendCall("delete", (key,))
                continue
            data = self._encode(value)
            try:
                self._load(data)  # never store what no read could use
            except Exception as exc:
                _log.warning(
                    "to_langgraph_cache: not caching key %r, its value could not be read back "
                    "(%s); pass the classes your nodes return as allowed_types",
                    key,
                    exc,
                )
                yield BackendCall("delete", (key,))
                continue
            yield BackendCall("set", (key, data, ttl))

    def _clear(self, namespaces: Sequence[Namespace] | None) -> CallScript[None]:
        require_listing(self.cache, "LangGraph cache clear()")
        if namespaces is None:
            starts = [self.prefix]
        else:
            starts = [scope_prefix(self.prefix, namespace) for namespace in namespaces]
        for start in starts:
            keys: list[str] = yield BackendCall("keys", (start,))
            for key in keys:
                yield BackendCall("delete", (key,))

    def _down(self, operation: str, exc: CacheUnavailableError) -> None:
        if self.on_error == "raise":
            raise exc
        _log.warning(
            "to_langgraph_cache: %s failed, served as a miss: %s", operation, exc, exc_info=exc
        )

    # --- LangGraph's interface ---------------------------------------------

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        """The live, readable cached values for ``keys`` (anything else is left out)."""
        found: dict[FullKey, Any] = {}
        try:
            run(self.cache, self._get(keys, found))
        except CacheUnavailableError as exc:
            self._down("get", exc)
        return found

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        """Async face of :meth:`get`."""
        found: dict[FullKey, Any] = {}
        try:
            await arun(self.cache, self._get(keys, found))
        except CacheUnavailableError as exc:
            self._down("get", exc)
        return found

    def set(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        """Store each value for its TTL in seconds (``None`` = no expiry).  A value the
        allow-list could not read back is not stored (logged); a store that is down is logged."""
        try:
            run(self.cache, self._set(pairs))
        except CacheUnavailableError as exc:
            self._down("set", exc)

    async def aset(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        """Async face of :meth:`set`."""
        try:
            await arun(self.cache, self._set(pairs))
        except CacheUnavailableError as exc:
            self._down("set", exc)

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Delete the entries of exactly these namespaces (all of this prefix's if ``None``)."""
        try:
            run(self.cache, self._clear(namespaces))
        except CacheUnavailableError as exc:
            self._down("clear", exc)

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Async face of :meth:`clear`."""
        try:
            await arun(self.cache, self._clear(namespaces))
        except CacheUnavailableError as exc:
            self._down("clear", exc)

    def __repr__(self) -> str:
        return f"LlmCoreLangGraphCache({self.cache!r}, prefix={self.prefix!r})"


def to_langgraph_cache(
    cache: Cache,
    *,
    prefix: str = "langgraph:",
    serde: SerializerProtocol | None = None,
    allowed_types: Iterable[type] = (),
    on_error: OnError = "miss",
) -> LlmCoreLangGraphCache:
    """Expose ``cache`` as a LangGraph cache: ``graph.compile(cache=to_langgraph_cache(c))``.

    ``prefix`` starts every key this bridge writes (so one cache can serve several graphs).
    ``serde``: LangGraph's ``JsonPlusSerializer`` format (the default) or an
    ``EncryptedSerializer`` over it; either way records are decoded through the allow-list of
    :class:`AllowListSerializer`, and with an ``EncryptedSerializer`` unencrypted records are
    refused.  ``allowed_types``: your own classes that cached nodes return (dataclasses, named
    tuples, enums, pydantic models) -- any other class a node returns is not cached (logged).
    ``on_error``: ``"miss"`` (default) serves an unreadable entry or a down store as a miss,
    logged at WARNING; ``"raise"`` raises ``CacheFormatError`` / ``CacheUnavailableError``.
    """
    if not isinstance(cache, Cache):
        raise TypeError(f"to_langgraph_cache needs an llm-core Cache, got {type(cache).__name__}")
    return LlmCoreLangGraphCache(
        cache, prefix=prefix, serde=serde, allowed_types=allowed_types, on_error=on_error
    )
