"""Paused sessions: the ``ResumeSnapshot`` record, the pure ``SessionStore`` protocol, and the one
bridge from a ``Cache`` to a store, :func:`session_store_from_cache`.

A snapshot is stored as UTF-8 JSON under ``"llm-core:session:" + token`` with the session's TTL,
so an abandoned session expires with its cache entry.  Nothing here imports a cache backend:
the bridge takes any object that satisfies the ``Cache`` protocol.  Never pickle.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeAlias, runtime_checkable

from llm_core.cache import Cache, ListableCache
from llm_core.cache._validation import check_ttl
from llm_core.errors import (
    InvalidSnapshotError,
    InvalidTokenError,
    InvalidTTLError,
    SnapshotSerializationError,
)

__all__ = [
    "SESSION_KEY_PREFIX",
    "SNAPSHOT_VERSION",
    "CacheSessionStore",
    "ListableCacheSessionStore",
    "ListableSessionStore",
    "ResumeSnapshot",
    "SessionStore",
    "Token",
    "check_token",
    "session_store_from_cache",
]

SESSION_KEY_PREFIX = "llm-core:session:"
SNAPSHOT_VERSION = 1
Token: TypeAlias = str | int

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_encode = _ENCODER.encode
_decode = json.loads
_NUMBER = (int, float)
_FIELDS = (
    "token",
    "pause_kind",
    "created_at",
    "last_accessed_at",
    "expires_at",
    "recipe",
    "step",
    "state",
    "payload",
    "version",
)


def check_token(token: object) -> str:
    """The token as a ``str``; ``InvalidTokenError`` unless it is a non-empty str or an int."""
    kind = type(token)
    if kind is str and token:
        return token  # type: ignore[return-value]
    if kind is int:
        return str(token)
    raise InvalidTokenError(
        f"a session token must be a non-empty str or an int, got {type(token).__name__} "
        f"{token!r:.60}"
    )


def _session_ttl(ttl: float | None) -> float:
    checked = check_ttl(ttl)
    if checked is None:
        raise InvalidTTLError("a session always expires: give touch a TTL in seconds, not None")
    return checked


def _check_keys(value: Any) -> None:
    """``TypeError`` for a dict key that is not a str: JSON would store it as another key."""
    if isinstance(value, dict):
        for key in value:
            if type(key) is not str and not isinstance(key, str):
                raise TypeError(f"keys must be str, got {type(key).__name__} key {key!r:.40}")
        items: Any = value.values()
    elif isinstance(value, _SEQUENCES):
        items = value
    else:
        return
    for item in items:
        if isinstance(item, _CONTAINERS):
            _check_keys(item)


_SEQUENCES = (list, tuple)
_CONTAINERS = (dict, list, tuple)


@dataclass(frozen=True, slots=True)
class ResumeSnapshot:
    """Everything needed to resume a paused run, in any process that runs the same recipe.

    Times are wall-clock seconds on the runtime's clock.  ``state`` is the state the paused
    ``step`` received; on resume that step runs again with it.  ``payload`` is what the pause
    showed the outside world (e.g. the draft a human must approve).
    """

    token: str
    pause_kind: str
    created_at: float
    last_accessed_at: float
    expires_at: float
    recipe: str
    step: str
    state: dict[str, Any]
    payload: Any = None
    version: int = SNAPSHOT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON record, field by field."""
        return {
            "token": self.token,
            "pause_kind": self.pause_kind,
            "created_at": self.created_at,
            "last_accessed_at": self.last_accessed_at,
            "expires_at": self.expires_at,
            "recipe": self.recipe,
            "step": self.step,
            "state": self.state,
            "payload": self.payload,
            "version": self.version,
        }

    def to_json(self) -> bytes:
        """UTF-8 JSON bytes; ``SnapshotSerializationError`` names what cannot be stored."""
        try:
            _check_keys(self.state)
            _check_keys(self.payload)
            return _encode(self.to_dict()).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            raise SnapshotSerializationError(self._what_failed(exc)) from exc

    def _what_failed(self, exc: BaseException) -> str:
        parts = []
        for name, value in (("state", self.state), ("payload", self.payload)):
            try:
                _check_keys(value)
                _encode(value).encode("utf-8")
            except (TypeError, ValueError, RecursionError) as part_exc:
                parts.append(f"{name} ({part_exc})")
        what = " and ".join(parts) or f"the snapshot ({exc})"
        return (
            f"cannot pause at step {self.step!r}: {what} cannot be stored as JSON; keep state "
            "and payload to dict/list/str/int/float/bool/None with finite numbers"
        )

    @classmethod
    def from_json(cls, data: bytes) -> ResumeSnapshot:
        """Parse stored bytes; ``InvalidSnapshotError`` if they are not a version-1 snapshot."""
        try:
            record = _decode(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, AttributeError) as exc:
            raise InvalidSnapshotError(f"stored session is not valid UTF-8 JSON: {exc}") from exc
        return cls.from_dict(record)

    @classmethod
    def from_dict(cls, record: object) -> ResumeSnapshot:
        """Build from the JSON record, checking every field's type."""
        if type(record) is not dict:
            raise InvalidSnapshotError("stored session is not a JSON object")
        version = record.get("version")
        if version != SNAPSHOT_VERSION:
            raise InvalidSnapshotError(
                f"stored session has snapshot version {version!r}; "
                f"this llm-core reads version {SNAPSHOT_VERSION}"
            )
        try:
            snapshot = cls(
                record["token"],
                record["pause_kind"],
                record["created_at"],
                record["last_accessed_at"],
                record["expires_at"],
                record["recipe"],
                record["step"],
                record["state"],
                record["payload"],
                version,
            )
        except KeyError:
            missing = [name for name in _FIELDS if name not in record]
            raise InvalidSnapshotError(f"stored session lacks fields {missing}") from None
        if not (
            type(snapshot.token) is str
            and type(snapshot.pause_kind) is str
            and type(snapshot.recipe) is str
            and type(snapshot.step) is str
            and type(snapshot.state) is dict
            and type(snapshot.created_at) in _NUMBER
            and type(snapshot.last_accessed_at) in _NUMBER
            and type(snapshot.expires_at) in _NUMBER
        ):
            raise InvalidSnapshotError("stored session has a field of the wrong type")
        return snapshot


@runtime_checkable
class SessionStore(Protocol):
    """Token → ``ResumeSnapshot`` with a TTL in seconds.  Tokens are ``str`` or ``int``
    (``InvalidTokenError`` otherwise).  ``take`` is atomic: one caller gets the snapshot."""

    def get(self, token: Token) -> ResumeSnapshot | None: ...

    def set(self, token: Token, snapshot: ResumeSnapshot, ttl: float | None) -> None: ...

    def delete(self, token: Token) -> None: ...

    def take(self, token: Token) -> ResumeSnapshot | None: ...

    def touch(self, token: Token, ttl: float | None) -> bool: ...

    async def aget(self, token: Token) -> ResumeSnapshot | None: ...

    async def aset(self, token: Token, snapshot: ResumeSnapshot, ttl: float | None) -> None: ...

    async def adelete(self, token: Token) -> None: ...

    async def atake(self, token: Token) -> ResumeSnapshot | None: ...

    async def atouch(self, token: Token, ttl: float | None) -> bool: ...


@runtime_checkable
class ListableSessionStore(SessionStore, Protocol):
    """A store that can list its pending sessions (for ``llm-core sessions list``)."""

    def tokens(self) -> list[str]: ...

    def sessions(self) -> list[ResumeSnapshot]: ...

    async def atokens(self) -> list[str]: ...

    async def asessions(self) -> list[ResumeSnapshot]: ...


class CacheSessionStore:
    """A ``SessionStore`` over any ``Cache``: JSON bytes under ``prefix + token``.

    ``touch`` re-stores the snapshot with new ``expires_at``/``last_accessed_at`` through an
    atomic ``take`` (so it can never make a session resumable twice); the token keeps the
    expiry it was minted with, which only matters for how a later miss is reported.
    """

    __slots__ = ("_clock", "cache", "prefix")

    def __init__(
        self,
        cache: Cache,
        *,
        prefix: str = SESSION_KEY_PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache
        self.prefix = prefix
        self._clock = clock

    def key(self, token: Token) -> str:
        """The cache key a token's snapshot lives under."""
        if type(token) is str and token:
            return self.prefix + token
        return self.prefix + check_token(token)

    def get(self, token: Token) -> ResumeSnapshot | None:
        """The snapshot, without claiming it (``None`` if absent or expired)."""
        data = self.cache.get(self.key(token))
        return None if data is None else ResumeSnapshot.from_json(data)

    def set(self, token: Token, snapshot: ResumeSnapshot, ttl: float | None) -> None:
        """Store ``snapshot``; it is encoded before the cache is touched, so a snapshot that
        cannot be stored raises ``SnapshotSerializationError`` and stores nothing."""
        key = self.key(token)
        self.cache.set(key, snapshot.to_json(), ttl)

    def delete(self, token: Token) -> None:
        """Forget the session (no error if absent)."""
        self.cache.delete(self.key(token))

    def take(self, token: Token) -> ResumeSnapshot | None:
        """Atomically claim the snapshot: of two concurrent takes, one gets it."""
        data = self.cache.take(self.key(token))
        return None if data is None else ResumeSnapshot.from_json(data)

    def touch(self, token: Token, ttl: float | None) -> bool:
        """Give a pending session a new TTL counted from now; ``False`` if it is absent.

        A session always expires, so ``ttl=None`` raises ``InvalidTTLError``.
        """
        ttl = _session_ttl(ttl)
        snapshot = self.take(token)
        if snapshot is None:
            return False
        self.set(token, self._touched(snapshot, ttl), ttl)
        return True

    def _touched(self, snapshot: ResumeSnapshot, ttl: float) -> ResumeSnapshot:
        now = self._clock()
        return replace(snapshot, last_accessed_at=now, expires_at=now + ttl)

    async def aget(self, token: Token) -> ResumeSnapshot | None:
        """Async face of :meth:`get`."""
        data = await self.cache.aget(self.key(token))
        return None if data is None else ResumeSnapshot.from_json(data)

    async def aset(self, token: Token, snapshot: ResumeSnapshot, ttl: float | None) -> None:
        """Async face of :meth:`set`."""
        key = self.key(token)
        await self.cache.aset(key, snapshot.to_json(), ttl)

    async def adelete(self, token: Token) -> None:
        """Async face of :meth:`delete`."""
        await self.cache.adelete(self.key(token))

    async def atake(self, token: Token) -> ResumeSnapshot | None:
        """Async face of :meth:`take`."""
        data = await self.cache.atake(self.key(token))
        return None if data is None else ResumeSnapshot.from_json(data)

    async def atouch(self, token: Token, ttl: float | None) -> bool:
        """Async face of :meth:`touch`."""
        ttl = _session_ttl(ttl)
        snapshot = await self.atake(token)
        if snapshot is None:
            return False
        await self.aset(token, self._touched(snapshot, ttl), ttl)
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cache!r}, prefix={self.prefix!r})"


class ListableCacheSessionStore(CacheSessionStore):
    """A ``CacheSessionStore`` over a ``ListableCache``: it can also list pending sessions."""

    __slots__ = ()

    cache: ListableCache

    def tokens(self) -> list[str]:
        """Tokens of the sessions pending right now."""
        cut = len(self.prefix)
        return [key[cut:] for key in self.cache.keys(self.prefix)]

    def sessions(self) -> list[ResumeSnapshot]:
        """Pending snapshots, oldest first (a session resumed meanwhile is left out)."""
        found = (self.get(token) for token in self.tokens())
        return sorted((s for s in found if s is not None), key=lambda s: s.created_at)

    async def atokens(self) -> list[str]:
        """Async face of :meth:`tokens`."""
        cut = len(self.prefix)
        return [key[cut:] for key in await self.cache.akeys(self.prefix)]

    async def asessions(self) -> list[ResumeSnapshot]:
        """Async face of :meth:`sessions`."""
        found = [await self.aget(token) for token in await self.atokens()]
        return sorted((s for s in found if s is not None), key=lambda s: s.created_at)


def session_store_from_cache(
    cache: Cache,
    *,
    prefix: str = SESSION_KEY_PREFIX,
    clock: Callable[[], float] = time.time,
) -> CacheSessionStore:
    """The one bridge from a ``Cache`` to a ``SessionStore``.

    When the cache can list its keys (``ListableCache``), the store can list pending sessions
    too (``ListableSessionStore``).  ``clock`` is the wall clock ``touch`` stamps times with.
    """
    if not isinstance(cache, Cache):
        raise TypeError(
            f"session_store_from_cache needs a Cache (get/set/delete/take/touch and their async "
            f"faces), got {type(cache).__name__}"
        )
    if not prefix or not isinstance(prefix, str):
        raise ValueError(f"prefix must be a non-empty str, got {prefix!r}")
    if isinstance(cache, ListableCache):
        return ListableCacheSessionStore(cache, prefix=prefix, clock=clock)
    return CacheSessionStore(cache, prefix=prefix, clock=clock)
