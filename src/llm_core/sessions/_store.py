"""``SessionStore``: a runtime's paused sessions in a ``Cache`` -- look up, list, cancel.

The lifecycle's transitions (:mod:`._lifecycle`) are generators of cache operations; this module
performs them on a cache, synchronously (:func:`perform`) or not (:func:`aperform`), and is the
one place a cache without an atomic compare-and-set gets an emulated one (get, compare, write:
*not* atomic, so the runtime warns about such caches and ``strict`` refuses them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llm_core.cache import Cache, CacheCapabilities, ListableCache
from llm_core.errors import ConfigurationError, InvalidSnapshotError, InvalidTokenError
from llm_core.sessions._codec import Signer
from llm_core.sessions._lifecycle import CacheOp, Keyspace, Record, Steps, cas, load
from llm_core.sessions._snapshot import ResumeSnapshot
from llm_core.sessions._types import StateTypes

__all__ = [
    "DEFAULT_LEASE_TTL",
    "DEFAULT_RESULT_TTL",
    "SESSION_KEY_PREFIX",
    "SessionInfo",
    "SessionStore",
    "aperform",
    "check_token",
    "perform",
]

SESSION_KEY_PREFIX = "llm-core:session:"
DEFAULT_LEASE_TTL = 300.0
"""Seconds a resume holds a claimed session before another resume may take it over."""
DEFAULT_RESULT_TTL = 900.0
"""Seconds a completed or cancelled session's record is kept (replays, clear errors)."""


def check_token(token: object) -> str:
    """The token as a ``str``; ``InvalidTokenError`` unless it is a non-empty str or an int."""
    kind = type(token)
    if kind is str and token:
        return token  # type: ignore[return-value]
    if kind is int:
        return str(token)
    raise InvalidTokenError(
        f"a session token must be a non-empty str or an int, got {type(token).__name__}"
    )


def _native_cas(cache: Cache) -> bool:
    """True if ``cache`` declares an atomic compare-and-set."""
    caps = getattr(cache, "capabilities", None)
    return caps.compare_and_set if isinstance(caps, CacheCapabilities) else False


def perform(cache: Cache, op: CacheOp) -> Any:
    """Run one cache operation on the sync face."""
    if op.method == "compare_and_set" and not _native_cas(cache):
        key, expected, new, ttl = op.args
        if cache.get(key) != expected:
            return False
        if new is None:
            cache.delete(key)
        else:
            cache.set(key, new, ttl)
        return True
    return getattr(cache, op.method)(*op.args)


async def aperform(cache: Cache, op: CacheOp) -> Any:
    """Run one cache operation on the async face."""
    if op.method == "compare_and_set" and not _native_cas(cache):
        key, expected, new, ttl = op.args
        if await cache.aget(key) != expected:
            return False
        if new is None:
            await cache.adelete(key)
        else:
            await cache.aset(key, new, ttl)
        return True
    return await getattr(cache, "a" + op.method)(*op.args)


def _run(steps: Steps, cache: Cache) -> Any:
    value: Any = None
    error: Exception | None = None
    while True:
        try:
            op = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            return stop.value
        error = None
        try:
            value = perform(cache, op)
        except Exception as exc:  # the steps decide; they re-raise what they cannot handle
            error = exc


async def _arun(steps: Steps, cache: Cache) -> Any:
    value: Any = None
    error: Exception | None = None
    while True:
        try:
            op = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            return stop.value
        error = None
        try:
            value = await aperform(cache, op)
        except Exception as exc:  # the steps decide; they re-raise what they cannot handle
            error = exc


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What a listing shows of one session: its token, status and snapshot (or the problem)."""

    token: str
    status: str  # pending | claimed | completed | cancelled | invalid
    snapshot: ResumeSnapshot | None
    problem: str | None = None


class SessionStore:
    """The sessions of one cache and prefix, read and cancelled without running a workflow.

    ``secret_key``/``previous_keys`` must be the runtime's, or signed records read as invalid.
    """

    __slots__ = ("cache", "clock", "space")

    def __init__(
        self,
        cache: Cache,
        *,
        prefix: str = SESSION_KEY_PREFIX,
        secret_key: str | bytes | None = None,
        previous_keys: Sequence[str | bytes] = (),
        clock: Callable[[], float] = time.time,
        state_types: Sequence[type] = (),
    ) -> None:
        if not isinstance(cache, Cache):
            raise ConfigurationError(
                f"a SessionStore needs a Cache (get/set/delete/take/touch and async faces), "
                f"got {type(cache).__name__}"
            )
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationError(f"prefix must be a non-empty str, got {prefix!r}")
        self.cache = cache
        self.space = Keyspace(
            prefix, Signer(secret_key, previous_keys), types=StateTypes(state_types)
        )
        self.clock = clock

    @property
    def prefix(self) -> str:
        """The key prefix of this store's records."""
        return self.space.prefix

    @property
    def listable(self) -> bool:
        """True if the cache can list keys, so :meth:`sessions` works."""
        return isinstance(self.cache, ListableCache)

    def record(self, token: str | int) -> Record | None:
        """The stored record of ``token`` (``None``: absent or expired)."""
        result: Record | None = _run(load(self.space, check_token(token)), self.cache)
        return result

    async def arecord(self, token: str | int) -> Record | None:
        """Async face of :meth:`record`."""
        result: Record | None = await _arun(load(self.space, check_token(token)), self.cache)
        return result

    def info(self, token: str | int) -> SessionInfo | None:
        """One session as a listing shows it; an unreadable record is ``status="invalid"``."""
        text = check_token(token)
        try:
            found = self.record(text)
        except InvalidSnapshotError as exc:
            return SessionInfo(text, "invalid", None, str(exc))
        return None if found is None else SessionInfo(text, found.status, found.snapshot)

    def tokens(self) -> list[str]:
        """Tokens with a record right now (any status)."""
        cache = self.cache
        if not isinstance(cache, ListableCache):
            raise ConfigurationError(f"{type(cache).__name__} cannot list its keys")
        cut = len(self.prefix)
        return [key[cut:] for key in cache.keys(self.prefix)]

    def sessions(self, *, include_finished: bool = False) -> list[SessionInfo]:
        """Pending and claimed sessions, oldest first (and finished ones if asked); a record
        that cannot be read is listed as ``invalid``, and stays stored."""
        found = [info for info in map(self.info, self.tokens()) if info is not None]
        if not include_finished:
            found = [i for i in found if i.status not in ("completed", "cancelled")]
        return sorted(found, key=lambda i: i.snapshot.created_at if i.snapshot else 0.0)

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None
    ) -> bool:
        """A confirmed compare-and-set on this store's cache (see :func:`._lifecycle.cas`)."""
        result: bool = _run(cas(key, expected, new, ttl), self.cache)
        return result

    def __repr__(self) -> str:
        return f"SessionStore({self.cache!r}, prefix={self.prefix!r})"
