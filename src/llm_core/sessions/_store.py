"""``SessionStore``: a runtime's paused sessions in a ``Cache`` -- look up, list, cancel.

The lifecycle's transitions (:mod:`._lifecycle`) are generators of cache operations; this module
performs them on a cache, synchronously (:func:`perform`) or not (:func:`aperform`), and is the
one place a cache without an atomic compare-and-set gets an emulated one (get, compare, write:
*not* atomic, so the runtime warns about such caches and ``strict`` refuses them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llm_core.cache import (
    Cache,
    CacheCapabilities,
    IndexedCache,
    IndexedEntry,
    ListableCache,
    capabilities_of,
)
from llm_core.errors import ConfigurationError, InvalidSnapshotError, InvalidTokenError
from llm_core.sessions._codec import Signer
from llm_core.sessions._lifecycle import CacheOp, Keyspace, Record, Steps, cas, load
from llm_core.sessions._listing import (
    ORDERS,
    PageRequest,
    SessionOrder,
    decode_cursor,
    encode_cursor,
    session_labels,
    walk,
)
from llm_core.sessions._snapshot import ResumeSnapshot
from llm_core.sessions._types import StateTypes

__all__ = [
    "DEFAULT_LEASE_TTL",
    "DEFAULT_RESULT_TTL",
    "SESSION_KEY_PREFIX",
    "SessionInfo",
    "SessionPage",
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


def _with_deadline(info: SessionInfo, deadline: float) -> SessionInfo:
    return SessionInfo(info.token, info.status, info.snapshot, info.problem, deadline)


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
    deadline: float | None = None
    """When a listing shows it: the deadline it is ordered by (the cache's, else the expiry)."""


@dataclass(frozen=True, slots=True)
class SessionPage:
    """One page of a listing; pass ``cursor`` back for the next (``None``: this is the last)."""

    items: list[SessionInfo]
    cursor: str | None


class SessionStore:
    """The sessions of one cache and prefix, read and cancelled without running a workflow.

    ``secret_key``/``previous_keys`` must be the runtime's, or signed records read as invalid.
    """

    __slots__ = ("cache", "clock", "indexed", "space")

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
        self.indexed = capabilities_of(cache).index and isinstance(cache, IndexedCache)
        """True if the cache indexes this store's sessions: pages read only what they show."""
        if self.indexed:
            cache.index_prefix(prefix, session_labels)  # type: ignore[attr-defined]

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

    def page(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        recipe: str | None = None,
        kind: str | None = None,
        order: SessionOrder = "expiring",
    ) -> SessionPage:
        """Pending and claimed sessions, one page at a time, by deadline (``order``:
        ``"expiring"`` soonest first, ``"newest"`` latest first), filtered by recipe and pause
        kind.  On an indexed cache it reads only the records it shows; on another listable
        cache it reads every record.  An unreadable record is listed as ``invalid``."""
        after, newest, labels = self.page_args(limit, cursor, recipe, kind, order)
        items, position = self.page_at(after, newest, labels, limit)
        return self._made_page(items, position, order)

    def page_at(
        self,
        after: tuple[float, str] | None,
        newest: bool,
        labels: tuple[str | None, str | None],
        limit: int,
    ) -> tuple[list[SessionInfo], tuple[float, str] | None]:
        """A page from the position ``after`` (checked arguments; see :func:`page_stores`):
        the sessions and the position of the last one, ``None`` if nothing follows."""
        if not self.indexed:
            return self._page_by_reading_all(after, newest, labels, limit)
        steps = walk(after, newest, labels, limit, self._shown(labels))
        found: list[IndexedEntry] | None = None
        try:
            while True:
                request = steps.send(found)  # type: ignore[arg-type]
                found = self._request(request)
        except StopIteration as stop:
            result: tuple[list[SessionInfo], tuple[float, str] | None] = stop.value
            return result

    async def apage(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        recipe: str | None = None,
        kind: str | None = None,
        order: SessionOrder = "expiring",
    ) -> SessionPage:
        """Async face of :meth:`page`."""
        if not self.indexed:
            return await asyncio.to_thread(
                lambda: self.page(limit=limit, cursor=cursor, recipe=recipe, kind=kind, order=order)
            )
        after, newest, labels = self.page_args(limit, cursor, recipe, kind, order)
        steps = walk(after, newest, labels, limit, self._shown(labels))
        found: list[IndexedEntry] | None = None
        try:
            while True:
                request = steps.send(found)  # type: ignore[arg-type]
                found = await self._arequest(request)
        except StopIteration as stop:
            items, position = stop.value
            return self._made_page(items, position, order)

    def _request(self, request: PageRequest) -> list[IndexedEntry]:
        cache: Any = self.cache
        found: list[IndexedEntry] = cache.page(
            self.prefix,
            after=request.after,
            newest=request.newest,
            labels=request.labels,
            limit=request.limit,
        )
        return found

    async def _arequest(self, request: PageRequest) -> list[IndexedEntry]:
        cache: Any = self.cache
        found: list[IndexedEntry] = await cache.apage(
            self.prefix,
            after=request.after,
            newest=request.newest,
            labels=request.labels,
            limit=request.limit,
        )
        return found

    def page_args(
        self,
        limit: object,
        cursor: object,
        recipe: object,
        kind: object,
        order: object,
    ) -> tuple[tuple[float, str] | None, bool, tuple[str | None, str | None]]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ConfigurationError(f"limit is an int from 1 to 1000, got {limit!r:.40}")
        if order not in ORDERS:
            raise ConfigurationError(f"order is one of {ORDERS}, got {order!r:.40}")
        for name, value in (("recipe", recipe), ("kind", kind)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigurationError(f"{name} is a non-empty str or None, got {value!r:.40}")
        if not self.indexed and not isinstance(self.cache, ListableCache):
            raise ConfigurationError(f"{type(self.cache).__name__} cannot list its sessions")
        try:
            after = None if cursor is None else decode_cursor(cursor, order)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        return after, order == "newest", (recipe, kind)  # type: ignore[return-value]

    def _made_page(
        self, items: list[SessionInfo], position: tuple[float, str] | None, order: SessionOrder
    ) -> SessionPage:
        return SessionPage(items, None if position is None else encode_cursor(order, position))

    def _shown(
        self, labels: tuple[str | None, str | None]
    ) -> Callable[[IndexedEntry], SessionInfo | None]:
        """What a page shows of an indexed entry: verified again, since labels are not."""
        space, cut = self.space, len(self.prefix)
        recipe, kind = labels

        def show(entry: IndexedEntry) -> SessionInfo | None:
            token = entry.key[cut:]
            try:
                record = space.parse(entry.key, token, entry.value)
            except InvalidSnapshotError as exc:
                return SessionInfo(token, "invalid", None, str(exc), entry.expires_at)
            snapshot = record.snapshot
            if snapshot is None or record.status not in ("pending", "claimed"):
                return None
            if (recipe is not None and snapshot.recipe != recipe) or (
                kind is not None and snapshot.pause_kind != kind
            ):
                return None
            return SessionInfo(token, record.status, snapshot, None, entry.expires_at)

        return show

    def _page_by_reading_all(
        self,
        after: tuple[float, str] | None,
        newest: bool,
        labels: tuple[str | None, str | None],
        limit: int,
    ) -> tuple[list[SessionInfo], tuple[float, str] | None]:
        """A page of a cache without an index: every record read, sorted, cut."""
        recipe, kind = labels
        listed: list[tuple[tuple[float, str], SessionInfo]] = []
        for info in self.sessions():
            s = info.snapshot
            if s is not None and (
                (recipe is not None and s.recipe != recipe)
                or (kind is not None and s.pause_kind != kind)
            ):
                continue
            deadline = s.expires_at if s is not None else 0.0
            position = (deadline, self.prefix + info.token)
            if after is not None and (position <= after if not newest else position >= after):
                continue
            listed.append((position, _with_deadline(info, deadline)))
        listed.sort(key=lambda item: item[0], reverse=newest)
        shown = listed[:limit]
        more = len(listed) > limit
        return [info for _, info in shown], (shown[-1][0] if more else None)

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None
    ) -> bool:
        """A confirmed compare-and-set on this store's cache (see :func:`._lifecycle.cas`)."""
        result: bool = _run(cas(key, expected, new, ttl), self.cache)
        return result

    def __repr__(self) -> str:
        return f"SessionStore({self.cache!r}, prefix={self.prefix!r})"
