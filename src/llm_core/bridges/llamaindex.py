"""LlamaIndex ↔ llm-core stores, both ways (needs ``pip install 'llm-core[llamaindex]'``).

* :func:`to_llamaindex_kvstore` exposes an llm-core ``Cache`` as a LlamaIndex ``BaseKVStore``
  (sync and async), so ``KVDocumentStore`` / ``KVIndexStore`` run on SQLite or Redis.  A
  collection is a key prefix (``prefix + escaped collection + "/|" + escaped key``, long keys
  hashed); each value is stored as UTF-8 JSON ``{"key": <original key>, "value": <dict>}``.
  ``get_all`` lists keys, so it needs a cache that can (``CapabilityError`` otherwise); ``put_all``
  writes one entry at a time whatever ``batch_size`` says.  ``ttl=`` optionally expires entries.
* :func:`from_llamaindex_kvstore` wraps a LlamaIndex KV store as an llm-core ``Cache``.
  LlamaIndex has no TTL, so each record is ``{"value_b64": ..., "expires_at": ... | None}``:
  expiry is checked on read (``ttl="emulated"``), an expired record found is deleted, and
  ``sweep()`` -- also run by a write every ``sweep_interval`` seconds -- deletes every expired
  record of the collection via ``get_all``.  Keys can be listed.  ``take`` / ``touch`` are a read
  then a write: not atomic.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llm_core.bridges._envelope import (
    BackendCall,
    CallScript,
    Entry,
    EnvelopeCache,
    arun,
    check_prefix,
    compose_key,
    require_listing,
    run,
    scope_prefix,
)
from llm_core.cache import Cache, CacheCapabilities
from llm_core.cache._validation import check_ttl
from llm_core.errors import CacheFormatError, ConfigurationError, MissingDependencyError

try:
    from llama_index.core.storage.kvstore.types import (
        DEFAULT_BATCH_SIZE,
        DEFAULT_COLLECTION,
        BaseKVStore,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("the LlamaIndex bridge", "llamaindex", "llama-index-core") from exc

__all__ = [
    "LlamaIndexKVStoreAdapter",
    "LlmCoreKVStore",
    "from_llamaindex_kvstore",
    "to_llamaindex_kvstore",
]


# --- LlamaIndex KV store → llm-core Cache --------------------------------------------


def _record(entry: Entry) -> dict[str, Any]:
    return {
        "value_b64": base64.b64encode(entry.value).decode("ascii"),
        "expires_at": entry.expires_at,
    }


def _entry(record: object, where: str) -> Entry:
    expires_at = value = None
    if isinstance(record, Mapping):
        expires_at = record.get("expires_at")
        if expires_at is None or type(expires_at) in (int, float):
            try:
                value = base64.b64decode(record.get("value_b64", None), validate=True)
            except (TypeError, ValueError):  # binascii.Error is a ValueError
                value = None
    if value is None:
        raise CacheFormatError(
            f"{where} is not a record written by llm-core "
            "(expected {'value_b64': str, 'expires_at': number | None})"
        )
    return Entry(value, None if expires_at is None else float(expires_at))


class LlamaIndexKVStoreAdapter(EnvelopeCache):
    """An llm-core ``Cache`` stored in one collection of a LlamaIndex ``BaseKVStore``."""

    _remove_expired_on_read = True

    def __init__(
        self,
        kv: BaseKVStore,
        collection: str,
        *,
        clock: Callable[[], float],
        persistent: bool,
        shared: bool,
        sweep_interval: float | None,
    ) -> None:
        super().__init__(kv, clock)
        self._collection = collection
        self._in = {"collection": collection}
        self._sweep_interval = check_ttl(sweep_interval)
        self._next_sweep = math.inf if sweep_interval is None else clock() + sweep_interval
        self.capabilities = CacheCapabilities(
            ttl="emulated",
            atomic_take=False,
            compare_and_set=False,  # no atomic compare-and-set in the bridged store
            persistent=persistent,
            shared=shared,
            listing=True,
            sweep=sweep_interval is not None,
        )

    def _where(self, key: str) -> str:
        return f"LlamaIndex record {key!r} in collection {self._collection!r}"

    def _read(self, key: str) -> CallScript[Entry | None]:
        record = yield BackendCall("get", (key,), self._in)
        return None if record is None else _entry(record, self._where(key))

    def _write(self, key: str, entry: Entry, ttl: float | None) -> CallScript[None]:
        yield BackendCall("put", (key, _record(entry)), self._in)
        if self._clock() >= self._next_sweep:
            yield from self._sweep()

    def _remove(self, key: str) -> CallScript[None]:
        yield BackendCall("delete", (key,), self._in)

    def _live_keys(self, prefix: str) -> CallScript[list[str]]:
        records: Mapping[str, Any] = yield BackendCall("get_all", (), self._in)
        return [
            key
            for key, record in records.items()
            if key.startswith(prefix) and self._live(_entry(record, self._where(key)))
        ]

    def _sweep(self) -> CallScript[int]:
        if self._sweep_interval is not None:
            self._next_sweep = self._clock() + self._sweep_interval
        records: Mapping[str, Any] = yield BackendCall("get_all", (), self._in)
        expired = [k for k, r in records.items() if not self._live(_entry(r, self._where(k)))]
        for key in expired:
            yield BackendCall("delete", (key,), self._in)
        return len(expired)

    def keys(self, prefix: str = "") -> list[str]:
        """Live keys starting with ``prefix`` (reads the whole collection)."""
        return run(self._target, self._live_keys(prefix))

    async def akeys(self, prefix: str = "") -> list[str]:
        """Async face of :meth:`keys`."""
        return await arun(self._target, self._live_keys(prefix))

    def sweep(self) -> int:
        """Delete every expired record of the collection now; return how many."""
        return run(self._target, self._sweep())

    async def asweep(self) -> int:
        """Async face of :meth:`sweep`."""
        return await arun(self._target, self._sweep())

    def __repr__(self) -> str:
        kind = type(self._target).__name__
        return f"LlamaIndexKVStoreAdapter({kind}, collection={self._collection!r})"


def from_llamaindex_kvstore(
    kv: BaseKVStore,
    collection: str = "llm_core_cache",
    *,
    clock: Callable[[], float] = time.time,
    persistent: bool = False,
    shared: bool = False,
    sweep_interval: float | None = 300.0,
) -> LlamaIndexKVStoreAdapter:
    """Wrap one ``collection`` of a LlamaIndex KV store as an llm-core ``Cache``.

    ``clock``: seconds for the expiry kept in each record (a wall clock when processes share
    the store).  ``persistent`` / ``shared``: what the KV store is (``SimpleKVStore`` is neither).
    ``sweep_interval``: seconds between sweeps run by a write (``None`` = only ``sweep()``).
    """
    if not isinstance(kv, BaseKVStore):
        raise TypeError(
            "from_llamaindex_kvstore needs a llama_index BaseKVStore, got " + type(kv).__name__
        )
    if not isinstance(collection, str) or not collection:
        raise ConfigurationError(f"collection must be a non-empty str, got {collection!r}")
    return LlamaIndexKVStoreAdapter(
        kv,
        collection,
        clock=clock,
        persistent=persistent,
        shared=shared,
        sweep_interval=sweep_interval,
    )


# --- llm-core Cache → LlamaIndex KV store --------------------------------------------


class LlmCoreKVStore(BaseKVStore):
    """A LlamaIndex ``BaseKVStore`` whose collections live in an llm-core ``Cache``."""

    def __init__(self, cache: Cache, *, prefix: str = "llamaindex:", ttl: float | None = None):
        self.cache = cache
        self.prefix = check_prefix(prefix)
        self.ttl = check_ttl(ttl)

    def _key(self, key: str, collection: str) -> str:
        if not isinstance(key, str) or not isinstance(collection, str):
            raise TypeError(
                f"LlamaIndex keys and collections are str, got {type(key).__name__} "
                f"and {type(collection).__name__}"
            )
        return compose_key(self.prefix, (collection,), key)

    @staticmethod
    def _encode(key: str, val: Mapping[str, Any]) -> bytes:
        if not isinstance(val, Mapping):
            raise TypeError(f"LlamaIndex KV values are dicts, got {type(val).__name__}")
        return json.dumps({"key": key, "value": dict(val)}, ensure_ascii=False).encode("utf-8")

    @staticmethod
    def _decode(raw: bytes, where: str) -> tuple[str, dict[str, Any]]:
        try:
            record = json.loads(raw)
            key, value = record["key"], record["value"]
            if not isinstance(key, str) or not isinstance(value, dict):
                raise TypeError("key must be str and value a dict")
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise CacheFormatError(
                f"{where} does not hold a record written by to_llamaindex_kvstore: {exc}"
            ) from exc
        return key, value

    # --- plans ---------------------------------------------------------------

    def _put(
        self, pairs: Sequence[tuple[str, dict[str, Any]]], collection: str
    ) -> CallScript[None]:
        for key, val in pairs:
            yield BackendCall("set", (self._key(key, collection), self._encode(key, val), self.ttl))

    def _get(self, key: str, collection: str) -> CallScript[dict[str, Any] | None]:
        cache_key = self._key(key, collection)
        raw = yield BackendCall("get", (cache_key,))
        return None if raw is None else self._decode(raw, f"cache key {cache_key!r}")[1]

    def _get_all(self, collection: str) -> CallScript[dict[str, dict[str, Any]]]:
        require_listing(self.cache, "LlamaIndex get_all()")
        if not isinstance(collection, str):
            raise TypeError(f"a collection is a str, got {type(collection).__name__}")
        keys: list[str] = yield BackendCall("keys", (scope_prefix(self.prefix, (collection,)),))
        found: dict[str, dict[str, Any]] = {}
        for cache_key in keys:
            raw = yield BackendCall("get", (cache_key,))
            if raw is not None:  # gone since it was listed: skip
                key, value = self._decode(raw, f"cache key {cache_key!r}")
                found[key] = value
        return found

    def _delete(self, key: str, collection: str) -> CallScript[bool]:
        taken = yield BackendCall("take", (self._key(key, collection),))
        return taken is not None

    # --- LlamaIndex's interface ----------------------------------------------

    def put(self, key: str, val: dict[str, Any], collection: str = DEFAULT_COLLECTION) -> None:
        """Store ``val`` (a JSON-able dict) at ``key`` in ``collection``."""
        run(self.cache, self._put([(key, val)], collection))

    async def aput(
        self, key: str, val: dict[str, Any], collection: str = DEFAULT_COLLECTION
    ) -> None:
        """Async face of :meth:`put`."""
        await arun(self.cache, self._put([(key, val)], collection))

    def put_all(
        self,
        kv_pairs: list[tuple[str, dict[str, Any]]],
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Store every pair (one write each, whatever ``batch_size``)."""
        run(self.cache, self._put(kv_pairs, collection))

    async def aput_all(
        self,
        kv_pairs: list[tuple[str, dict[str, Any]]],
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Async face of :meth:`put_all`."""
        await arun(self.cache, self._put(kv_pairs, collection))

    def get(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict[str, Any] | None:
        """The dict at ``key`` in ``collection``, or ``None``."""
        return run(self.cache, self._get(key, collection))

    async def aget(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict[str, Any] | None:
        """Async face of :meth:`get`."""
        return await arun(self.cache, self._get(key, collection))

    def get_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict[str, Any]]:
        """Every live ``key → dict`` of ``collection`` (needs a listing cache)."""
        return run(self.cache, self._get_all(collection))

    async def aget_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict[str, Any]]:
        """Async face of :meth:`get_all`."""
        return await arun(self.cache, self._get_all(collection))

    def delete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        """Remove ``key``; ``True`` if it was there."""
        return run(self.cache, self._delete(key, collection))

    async def adelete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        """Async face of :meth:`delete`."""
        return await arun(self.cache, self._delete(key, collection))

    def __repr__(self) -> str:
        return f"LlmCoreKVStore({self.cache!r}, prefix={self.prefix!r}, ttl={self.ttl})"


def to_llamaindex_kvstore(
    cache: Cache, *, prefix: str = "llamaindex:", ttl: float | None = None
) -> LlmCoreKVStore:
    """Expose ``cache`` as a LlamaIndex KV store: ``KVDocumentStore(to_llamaindex_kvstore(c))``.

    ``prefix`` starts every key; ``ttl`` (seconds) expires every entry (``None`` = never).
    """
    if not isinstance(cache, Cache):
        raise TypeError(
            f"to_llamaindex_kvstore needs an llm-core Cache, got {type(cache).__name__}"
        )
    return LlmCoreKVStore(cache, prefix=prefix, ttl=ttl)
