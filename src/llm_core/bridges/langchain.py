"""LangChain ↔ llm-core caches, both ways (needs ``pip install 'llm-core[langchain]'``).

* :func:`to_langchain_cache` exposes an llm-core ``Cache`` as a LangChain
  ``langchain_core.caches.BaseCache``: pass it to ``set_llm_cache(...)`` or to a model's
  ``cache=`` argument and identical calls are answered from SQLite / Redis / memory.  The key is
  ``prefix`` + SHA-256 of ``(prompt, llm_string)``; generations are stored as LangChain's own JSON
  (``langchain_core.load.dumps``) and revived with ``loads`` restricted to generation and message
  classes -- never pickle.  LangChain has no per-key TTL; ``ttl=`` gives every entry one (exact,
  on the llm-core cache).  ``clear()`` needs a cache that lists its keys.  As LangChain's cache
  it never fails a call: an unreadable entry (not generations, a class outside the allow-list) or
  a store that is down is a miss, logged at WARNING (``on_error="raise"`` raises instead).
* :func:`from_langchain_cache` wraps a LangChain cache as an llm-core ``Cache``.  LangChain
  stores ``prompt + llm_string → [Generation]`` and knows no TTL and no per-key delete, so:
  the key is the prompt (under a fixed ``llm_string``), the value and its expiry travel packed
  and base64-encoded in one ``Generation.text``, expiry is checked on read (``ttl="emulated"``),
  and ``delete`` writes an already-expired tombstone (it frees no space; LangChain's ``clear()``
  does).  ``take`` / ``touch`` are a read then a write: not atomic.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from llm_core._log import get_logger
from llm_core.bridges._envelope import (
    BackendCall,
    CallScript,
    Entry,
    EnvelopeCache,
    arun,
    check_prefix,
    pack_entry,
    require_listing,
    run,
    unpack_entry,
)
from llm_core.cache import Cache, CacheCapabilities
from llm_core.cache._validation import check_ttl
from llm_core.errors import (
    CacheFormatError,
    CacheUnavailableError,
    ConfigurationError,
    MissingDependencyError,
)

try:
    from langchain_core import messages as lc_messages
    from langchain_core._api import LangChainBetaWarning
    from langchain_core.caches import BaseCache
    from langchain_core.load import dumps, loads
    from langchain_core.outputs import (
        ChatGeneration,
        ChatGenerationChunk,
        Generation,
        GenerationChunk,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("the LangChain bridge", "langchain", "langchain-core") from exc

# ``loads`` is marked beta; this bridge uses it deliberately, with an explicit allowlist.  The
# filter only matches that one warning when raised from this module's own calls.
warnings.filterwarnings(
    "ignore",
    message=r"The function `loads` is in beta",
    category=LangChainBetaWarning,
    module=r"llm_core\.bridges\.langchain\Z",
)

__all__ = [
    "DEFAULT_ALLOWED_OBJECTS",
    "LangChainCacheAdapter",
    "LlmCoreLangChainCache",
    "from_langchain_cache",
    "to_langchain_cache",
]

DEFAULT_ALLOWED_OBJECTS: tuple[type, ...] = (
    Generation,
    GenerationChunk,
    ChatGeneration,
    ChatGenerationChunk,
    lc_messages.AIMessage,
    lc_messages.AIMessageChunk,
    lc_messages.HumanMessage,
    lc_messages.HumanMessageChunk,
    lc_messages.SystemMessage,
    lc_messages.SystemMessageChunk,
    lc_messages.ToolMessage,
    lc_messages.ToolMessageChunk,
    lc_messages.ChatMessage,
    lc_messages.ChatMessageChunk,
)
"""The only classes :func:`to_langchain_cache` revives from stored JSON (LLM outputs)."""

_TOMBSTONE = Entry(b"", float("-inf"))  # "deleted": an entry that expired before time began
_log = get_logger("bridges")
OnError = Literal["miss", "raise"]
"""What a bridge serving as its host's *cache* does with an unreadable entry or a down store."""


# --- LangChain cache → llm-core Cache ------------------------------------------------


class LangChainCacheAdapter(EnvelopeCache):
    """An llm-core ``Cache`` stored in a LangChain ``BaseCache`` (see the module docstring)."""

    # LangChain caches cannot delete one key; overwriting an expired entry with a tombstone
    # would free nothing, so reads just ignore it.
    _remove_expired_on_read = False

    def __init__(
        self,
        cache: BaseCache,
        llm_string: str,
        *,
        clock: Callable[[], float],
        persistent: bool,
        shared: bool,
    ) -> None:
        super().__init__(cache, clock)
        self._llm_string = llm_string
        self.capabilities = CacheCapabilities(
            ttl="emulated",
            atomic_take=False,
            compare_and_set=False,  # no atomic compare-and-set in the bridged store
            persistent=persistent,
            shared=shared,
            listing=False,
            sweep=False,
        )

    def _read(self, key: str) -> CallScript[Entry | None]:
        generations = yield BackendCall("lookup", (key, self._llm_string))
        if not generations:  # None, or an empty list some caches return for "nothing"
            return None
        where = f"LangChain cache entry ({key!r}, {self._llm_string!r})"
        text = getattr(generations[0], "text", None)
        if len(generations) != 1 or not isinstance(text, str):
            raise CacheFormatError(f"{where} is not one Generation written by llm-core")
        try:
            packed = base64.b64decode(text.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error) as exc:
            raise CacheFormatError(f"{where} is not base64 written by llm-core") from exc
        return unpack_entry(packed, where)

    def _write(self, key: str, entry: Entry, ttl: float | None) -> CallScript[None]:
        text = base64.b64encode(pack_entry(entry)).decode("ascii")
        yield BackendCall("update", (key, self._llm_string, [Generation(text=text)]))

    def _remove(self, key: str) -> CallScript[None]:
        yield from self._write(key, _TOMBSTONE, None)

    def __repr__(self) -> str:
        kind = type(self._target).__name__
        return f"LangChainCacheAdapter({kind}, llm_string={self._llm_string!r})"


def from_langchain_cache(
    cache: BaseCache,
    *,
    llm_string: str = "llm-core:cache/v1",
    clock: Callable[[], float] = time.time,
    persistent: bool = False,
    shared: bool = False,
) -> LangChainCacheAdapter:
    """Wrap a LangChain cache as an llm-core ``Cache`` (TTL emulated, see the module docstring).

    ``llm_string``: the fixed LangChain "model" under which our keys are stored (pick another to
    keep two llm-core caches apart in one LangChain cache).  ``clock``: seconds for the expiry
    kept beside each value; use a wall clock when several processes share the LangChain cache.
    ``persistent`` / ``shared``: what the LangChain cache is (``InMemoryCache`` is neither).
    """
    if not isinstance(cache, BaseCache):
        raise TypeError(
            "from_langchain_cache needs a langchain_core.caches.BaseCache, "
            f"got {type(cache).__name__}"
        )
    if not isinstance(llm_string, str) or not llm_string:
        raise TypeError(f"llm_string must be a non-empty str, got {llm_string!r}")
    return LangChainCacheAdapter(
        cache, llm_string, clock=clock, persistent=persistent, shared=shared
    )


# --- llm-core Cache → LangChain cache ------------------------------------------------


class LlmCoreLangChainCache(BaseCache):
    """A LangChain ``BaseCache`` whose entries live in an llm-core ``Cache``."""

    def __init__(
        self,
        cache: Cache,
        *,
        ttl: float | None = None,
        prefix: str = "langchain:",
        allowed_objects: Iterable[type] = DEFAULT_ALLOWED_OBJECTS,
        on_error: OnError = "miss",
    ) -> None:
        if on_error not in ("miss", "raise"):
            raise ConfigurationError(f"on_error must be 'miss' or 'raise', got {on_error!r}")
        self.on_error: OnError = on_error
        self.cache = cache
        self.ttl = check_ttl(ttl)
        self.prefix = check_prefix(prefix)
        self._allowed = list(allowed_objects)

    def _key(self, prompt: str, llm_string: str) -> str:
        pair = json.dumps([prompt, llm_string], ensure_ascii=False)
        return self.prefix + hashlib.sha256(pair.encode("utf-8", "surrogatepass")).hexdigest()

    def _revive(self, raw: bytes, key: str) -> list[Generation]:
        try:
            revived = loads(raw.decode("utf-8"), allowed_objects=self._allowed)
        except Exception as exc:  # bad UTF-8 / JSON, a class outside the allow-list, ...
            raise CacheFormatError(
                f"cache key {key!r} does not hold LangChain generations written by "
                f"to_langchain_cache: {exc}"
            ) from exc
        if not isinstance(revived, list) or not all(isinstance(g, Generation) for g in revived):
            raise CacheFormatError(f"cache key {key!r} does not hold a list of Generations")
        return revived

    # --- plans ---------------------------------------------------------------

    def _lookup(self, prompt: str, llm_string: str) -> CallScript[list[Generation] | None]:
        key = self._key(prompt, llm_string)
        raw = yield BackendCall("get", (key,))
        if raw is None:
            return None
        try:
            return self._revive(raw, key)
        except CacheFormatError as exc:
            if self.on_error == "raise":
                raise
            _log.warning("to_langchain_cache: served as a miss: %s", exc)
            return None

    def _down(self, operation: str, exc: CacheUnavailableError) -> None:
        if self.on_error == "raise":
            raise exc
        _log.warning("to_langchain_cache: %s failed, served as a miss: %s", operation, exc)

    def _update(
        self, prompt: str, llm_string: str, return_val: Sequence[Generation]
    ) -> CallScript[None]:
        data = dumps(list(return_val)).encode("utf-8")
        yield BackendCall("set", (self._key(prompt, llm_string), data, self.ttl))

    def _clear(self) -> CallScript[None]:
        require_listing(self.cache, "LangChain cache clear()")
        keys: list[str] = yield BackendCall("keys", (self.prefix,))
        for key in keys:
            yield BackendCall("delete", (key,))

    # --- LangChain's interface -----------------------------------------------

    def lookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        """The cached generations for this prompt and model configuration, or ``None``."""
        try:
            return run(self.cache, self._lookup(prompt, llm_string))
        except CacheUnavailableError as exc:
            self._down("lookup", exc)
            return None

    async def alookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        """Async face of :meth:`lookup`."""
        try:
            return await arun(self.cache, self._lookup(prompt, llm_string))
        except CacheUnavailableError as exc:
            self._down("lookup", exc)
            return None

    def update(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        """Cache ``return_val`` for this prompt and model configuration (for ``ttl`` seconds)."""
        try:
            run(self.cache, self._update(prompt, llm_string, return_val))
        except CacheUnavailableError as exc:
            self._down("update", exc)

    async def aupdate(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        """Async face of :meth:`update`."""
        try:
            await arun(self.cache, self._update(prompt, llm_string, return_val))
        except CacheUnavailableError as exc:
            self._down("update", exc)

    def clear(self, **kwargs: Any) -> None:
        """Delete every entry under this bridge's prefix (needs a listing cache)."""
        try:
            run(self.cache, self._clear())
        except CacheUnavailableError as exc:
            self._down("clear", exc)

    async def aclear(self, **kwargs: Any) -> None:
        """Async face of :meth:`clear`."""
        try:
            await arun(self.cache, self._clear())
        except CacheUnavailableError as exc:
            self._down("clear", exc)

    def __repr__(self) -> str:
        return f"LlmCoreLangChainCache({self.cache!r}, ttl={self.ttl}, prefix={self.prefix!r})"


def to_langchain_cache(
    cache: Cache,
    ttl: float | None = None,
    *,
    prefix: str = "langchain:",
    allowed_objects: Iterable[type] = DEFAULT_ALLOWED_OBJECTS,
    on_error: OnError = "miss",
) -> LlmCoreLangChainCache:
    """Expose ``cache`` as a LangChain cache (for ``set_llm_cache`` or a model's ``cache=``).

    ``ttl``: seconds every entry lives (``None`` = until deleted).  ``prefix`` starts every key.
    ``allowed_objects``: the classes ``loads`` may revive (default: generations and messages).
    ``on_error``: ``"miss"`` (default) serves an unreadable entry or a down store as a miss,
    logged at WARNING; ``"raise"`` raises ``CacheFormatError`` / ``CacheUnavailableError``.
    """
    if not isinstance(cache, Cache):
        raise TypeError(f"to_langchain_cache needs an llm-core Cache, got {type(cache).__name__}")
    return LlmCoreLangChainCache(
        cache, ttl=ttl, prefix=prefix, allowed_objects=allowed_objects, on_error=on_error
    )
