"""``RedisCache``: the shared ``Cache`` on a Redis server (redis-py; extra ``redis``).

One implementation, two thin drivers.  The module-level ``_cmd_*`` functions validate a call
and build the exact Redis command; ``_reply_*`` functions read the answer.  Neither does I/O.
The sync face sends the command with ``redis.Redis.execute_command``, the async face with
``redis.asyncio.Redis.execute_command`` — one round trip per operation:

====================  ===============================================================
``get``               ``GET p+key``
``set``               ``SET p+key value [PX ms]`` (ms rounded up, ≥ 1: alive ≥ ttl)
``delete``            ``DEL p+key``
``take``              ``GETDEL p+key`` (atomic on the server)
``touch(key, ttl)``   ``PEXPIRE p+key ms``
``touch(key, None)``  ``GETEX p+key PERSIST`` (``PERSIST`` alone answers 0 both for
                      "absent" and "had no TTL"; ``GETEX`` tells them apart)
``keys(prefix)``      ``SCAN … MATCH <escaped p+prefix>*`` (never ``KEYS``)
====================  ===============================================================

Redis ≥ 6.2 (``GETDEL``, ``GETEX``).  ``p`` is the namespace prefix (default ``"llm-core:"``),
so several apps share one database.  Redis drops expired keys itself, so ``sweep()`` is a
no-op returning 0.  Any redis-py error (connection refused, timeout, loading, ...) raises
:class:`~llm_core.errors.CacheUnavailableError` with the cause chained.

An asyncio client is bound to the event loop it first ran on, so unless you pass
``async_client`` the cache makes one per running loop, lazily, from the same URL or
connection settings; ``await cache.aclose()`` closes the current loop's client.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import AsyncGenerator
from typing import Any

from llm_core.adapters.types import CacheCapabilities
from llm_core.adapters.validation import check_key, check_ttl, check_value, is_valid_key
from llm_core.errors import CacheUnavailableError, ConfigurationError, MissingDependencyError

__all__ = ["DEFAULT_PREFIX", "DEFAULT_URL", "RedisCache"]

DEFAULT_PREFIX = "llm-core:"
DEFAULT_URL = "redis://127.0.0.1:6379/0"
SCAN_COUNT = 1000
Command = tuple[Any, ...]

# --- the sans-I/O core: validate, build the command, read the reply ---------------------------


def _ms(ttl: float) -> int:
    """Milliseconds for Redis, rounded up so the entry lives at least ``ttl`` seconds."""
    return max(1, math.ceil(ttl * 1000))


def _cmd_get(prefix: str, key: str) -> Command:
    return ("GET", prefix + check_key(key))


def _cmd_set(prefix: str, key: str, value: bytes, ttl: float | None) -> Command:
    check_key(key)
    check_value(value)
    if check_ttl(ttl) is None:
        return ("SET", prefix + key, value)
    return ("SET", prefix + key, value, "PX", _ms(ttl))  # type: ignore[arg-type]


def _cmd_delete(prefix: str, key: str) -> Command:
    return ("DEL", prefix + check_key(key))


def _cmd_take(prefix: str, key: str) -> Command:
    return ("GETDEL", prefix + check_key(key))


def _cmd_touch(prefix: str, key: str, ttl: float | None) -> Command:
    check_key(key)
    if check_ttl(ttl) is None:
        return ("GETEX", prefix + key, "PERSIST")
    return ("PEXPIRE", prefix + key, _ms(ttl))  # type: ignore[arg-type]


def _reply_touch(reply: object) -> bool:
    """``PEXPIRE`` answers 1/0 (or ``True``/``False``); ``GETEX`` the value or ``None``."""
    return isinstance(reply, bytes) or bool(reply)


def _glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis glob pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _cmd_scan(cursor: int, pattern: str) -> Command:
    return ("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)


def _reply_scan(reply: Any, strip: int, into: set[str]) -> int:
    """Add the page's keys (without the namespace prefix) to ``into``; return the next cursor.

    A key under the prefix that is not a valid cache key (written by someone else) is left out.
    """
    cursor, page = reply
    for raw in page:
        try:
            key = (raw if isinstance(raw, str) else raw.decode("utf-8"))[strip:]
        except UnicodeDecodeError:
            continue
        if is_valid_key(key):
            into.add(key)
    return int(cursor)


def _scan_pattern(namespace: str, prefix: str) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be str, got {type(prefix).__name__}")
    return _glob_escape(namespace + prefix) + "*"


# --- client construction -------------------------------------------------------------------

_SHARED_SETTINGS = frozenset(
    {
        "host", "port", "db", "username", "password", "socket_timeout",
        "socket_connect_timeout", "socket_keepalive", "socket_keepalive_options",
        "client_name", "health_check_interval", "credential_provider", "protocol",
    }
)  # fmt: skip


def _import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
    except ImportError as exc:
        raise MissingDependencyError("RedisCache", "redis", "redis") from exc
    return redis


def _settings_of(client: Any) -> dict[str, Any]:
    """Connection settings of a redis-py client (sync or async) that the other kind accepts."""
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    settings = {k: v for k, v in kwargs.items() if k in _SHARED_SETTINGS or k.startswith("ssl_")}
    for name in ("ssl_ocsp_context", "ssl_ocsp_expected_cert", "ssl_validate_ocsp"):
        settings.pop(name, None)  # sync-only options
    settings.pop("ssl_validate_ocsp_stapled", None)
    if "path" in kwargs:
        settings["unix_socket_path"] = kwargs["path"]
    if "SSL" in pool.connection_class.__name__:
        settings["ssl"] = True
    return settings


def _describe(settings: dict[str, Any]) -> str:
    """Where the server is, without credentials."""
    if "unix_socket_path" in settings:
        return f"unix:{settings['unix_socket_path']} db {settings.get('db', 0)}"
    scheme = "rediss" if settings.get("ssl") else "redis"
    host, port = settings.get("host", "localhost"), settings.get("port", 6379)
    return f"{scheme}://{host}:{port}/{settings.get('db', 0)}"


class RedisCache:
    """A TTL cache on Redis, shared by every process that uses the same server and prefix.

    Build it from a URL (``RedisCache(url="redis://host:6379/0")`` or
    ``RedisCache.from_url(...)``), from a ``redis.Redis`` client, or with no argument for
    ``redis://127.0.0.1:6379/0``.  Clients must not decode responses (values are bytes).
    """

    capabilities = CacheCapabilities(
        ttl="exact", atomic_take=True, persistent=True, shared=True, listing=True, sweep=True
    )

    def __init__(
        self,
        client: Any = None,
        *,
        url: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        async_client: Any = None,
        **options: Any,
    ) -> None:
        """Use ``client`` (a ``redis.Redis``), or connect to ``url`` with redis-py ``options``.

        ``async_client``: a ``redis.asyncio.Redis`` for the async face; you then own its event
        loop.  Without one, a client per running loop is made from the same settings.
        """
        redis = _import_redis()
        if not isinstance(prefix, str):
            raise ConfigurationError(f"prefix must be str, got {type(prefix).__name__}")
        if client is not None and url is not None:
            raise ConfigurationError("give RedisCache a client or a url, not both")
        if client is not None and isinstance(client, redis.asyncio.Redis):
            raise ConfigurationError(
                "client must be a sync redis.Redis; pass a redis.asyncio.Redis as async_client"
            )
        self._url = url
        self._options = options
        self._owns_client = client is None
        if client is None:
            if url is None and async_client is not None:
                client = redis.Redis(**_settings_of(async_client), **options)
            else:
                client = _from_url(redis.Redis, url or DEFAULT_URL, options)
        self._settings = _settings_of(client)
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ConfigurationError(
                "RedisCache needs a client with decode_responses=False: values are bytes"
            )
        self._client = client
        self._execute = client.execute_command  # pre-bound: the sync hot path
        self._async_client = async_client
        self._aclients: dict[asyncio.AbstractEventLoop, Any] = {}
        self._guards: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._aclients_lock = threading.Lock()
        self._prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        self._where = _describe(self._settings)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX, **options: Any) -> RedisCache:
        """Connect to ``url`` (``redis://``, ``rediss://``, ``unix://``) with redis-py options."""
        return cls(url=url, prefix=prefix, **options)

    @property
    def prefix(self) -> str:
        """The namespace prepended to every key on the server."""
        return self._prefix

    @property
    def client(self) -> Any:
        """The sync ``redis.Redis`` client."""
        return self._client

    def _unavailable(self, command: str, exc: BaseException) -> CacheUnavailableError:
        return CacheUnavailableError(f"Redis at {self._where}: {command} failed: {exc}")

    # --- sync driver -------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The live value at ``key``, or ``None``."""
        cmd = _cmd_get(self._prefix, key)
        try:
            return self._execute(*cmd)  # type: ignore[no-any-return]
        except self._errors as exc:
            raise self._unavailable("GET", exc) from exc

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` at ``key`` for ``ttl`` seconds (``None`` = until deleted)."""
        cmd = _cmd_set(self._prefix, key, value, ttl)
        try:
            self._execute(*cmd)
        except self._errors as exc:
            raise self._unavailable("SET", exc) from exc

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        cmd = _cmd_delete(self._prefix, key)
        try:
            self._execute(*cmd)
        except self._errors as exc:
            raise self._unavailable("DEL", exc) from exc

    def take(self, key: str) -> bytes | None:
        """Atomically remove and return the value at ``key`` (``GETDEL``)."""
        cmd = _cmd_take(self._prefix, key)
        try:
            return self._execute(*cmd)  # type: ignore[no-any-return]
        except self._errors as exc:
            raise self._unavailable("GETDEL", exc) from exc

    def touch(self, key: str, ttl: float | None) -> bool:
        """Restart a live entry's TTL from now (``None`` = no expiry); ``False`` if absent."""
        cmd = _cmd_touch(self._prefix, key, ttl)
        try:
            return _reply_touch(self._execute(*cmd))
        except self._errors as exc:
            raise self._unavailable(cmd[0], exc) from exc

    def keys(self, prefix: str = "") -> list[str]:
        """Live keys starting with ``prefix`` (``SCAN``, so the server is never blocked)."""
        pattern = _scan_pattern(self._prefix, prefix)
        found: set[str] = set()
        cursor = -1
        try:
            while cursor != 0:
                reply = self._execute(*_cmd_scan(max(cursor, 0), pattern))
                cursor = _reply_scan(reply, len(self._prefix), found)
        except self._errors as exc:
            raise self._unavailable("SCAN", exc) from exc
        return list(found)

    def clear(self) -> None:
        """Delete every key under this cache's prefix (``SCAN`` + ``UNLINK``)."""
        keys = self.keys()
        for start in range(0, len(keys), SCAN_COUNT):
            names = [self._prefix + k for k in keys[start : start + SCAN_COUNT]]
            try:
                self._execute("UNLINK", *names)
            except self._errors as exc:
                raise self._unavailable("UNLINK", exc) from exc

    def sweep(self) -> int:
        """Nothing to do: Redis drops expired keys itself.  Always 0."""
        return 0

    def close(self) -> None:
        """Close the sync client if this cache made it (a client you passed in stays open).

        Async clients belong to their event loops: see :meth:`aclose`.
        """
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RedisCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisCache({self._where!r}, prefix={self._prefix!r})"

    # --- async driver ------------------------------------------------------------------

    def _aclient(self) -> Any:
        if self._async_client is not None:
            return self._async_client
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            client = self._new_async_client(loop)
        return client

    def _new_async_client(self, loop: asyncio.AbstractEventLoop) -> Any:
        redis = _import_redis()
        if self._url is not None:
            client = _from_url(redis.asyncio.Redis, self._url, self._options)
        else:
            client = redis.asyncio.Redis(**self._settings)
        # A started async generator is closed by the loop's shutdown_asyncgens() (asyncio.run
        # and asyncio.Runner call it), which lets the client close its sockets on its own loop.
        guard = _close_with_loop(self._aclients, self._guards, loop, client)
        step: Any = guard.__anext__()
        with contextlib.suppress(StopIteration):
            step.send(None)  # run to the first yield: no I/O happens before it
        with self._aclients_lock:
            for old in [old for old in self._aclients if old.is_closed()]:
                self._aclients.pop(old, None)  # a loop closed without shutdown_asyncgens()
                self._guards.pop(old, None)
            self._aclients[loop] = client
            self._guards[loop] = guard
        return client

    async def aget(self, key: str) -> bytes | None:
        """Async face of :meth:`get`."""
        cmd = _cmd_get(self._prefix, key)
        try:
            return await self._aclient().execute_command(*cmd)  # type: ignore[no-any-return]
        except self._errors as exc:
            raise self._unavailable("GET", exc) from exc

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Async face of :meth:`set`."""
        cmd = _cmd_set(self._prefix, key, value, ttl)
        try:
            await self._aclient().execute_command(*cmd)
        except self._errors as exc:
            raise self._unavailable("SET", exc) from exc

    async def adelete(self, key: str) -> None:
        """Async face of :meth:`delete`."""
        cmd = _cmd_delete(self._prefix, key)
        try:
            await self._aclient().execute_command(*cmd)
        except self._errors as exc:
            raise self._unavailable("DEL", exc) from exc

    async def atake(self, key: str) -> bytes | None:
        """Async face of :meth:`take`."""
        cmd = _cmd_take(self._prefix, key)
        try:
            return await self._aclient().execute_command(*cmd)  # type: ignore[no-any-return]
        except self._errors as exc:
            raise self._unavailable("GETDEL", exc) from exc

    async def atouch(self, key: str, ttl: float | None) -> bool:
        """Async face of :meth:`touch`."""
        cmd = _cmd_touch(self._prefix, key, ttl)
        try:
            return _reply_touch(await self._aclient().execute_command(*cmd))
        except self._errors as exc:
            raise self._unavailable(cmd[0], exc) from exc

    async def akeys(self, prefix: str = "") -> list[str]:
        """Async face of :meth:`keys`."""
        pattern = _scan_pattern(self._prefix, prefix)
        found: set[str] = set()
        cursor = -1
        try:
            client = self._aclient()
            while cursor != 0:
                reply = await client.execute_command(*_cmd_scan(max(cursor, 0), pattern))
                cursor = _reply_scan(reply, len(self._prefix), found)
        except self._errors as exc:
            raise self._unavailable("SCAN", exc) from exc
        return list(found)

    async def asweep(self) -> int:
        """Async face of :meth:`sweep`: always 0."""
        return 0

    async def aclose(self) -> None:
        """Close the running loop's async client (if this cache made it) and the sync client.

        Without this call a loop's client is closed when the loop shuts down its async
        generators, as ``asyncio.run`` does.
        """
        loop = asyncio.get_running_loop()
        with self._aclients_lock:
            guard = self._guards.pop(loop, None)
        if guard is not None:
            await guard.aclose()  # runs its finally: closes the client on this loop
        self.close()

    async def __aenter__(self) -> RedisCache:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _close_with_loop(
    clients: dict[asyncio.AbstractEventLoop, Any],
    guards: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]],
    loop: asyncio.AbstractEventLoop,
    client: Any,
) -> AsyncGenerator[None, None]:
    """Yield once; when closed (by the loop's shutdown or ``aclose``), close ``client``."""
    try:
        yield
    finally:
        if clients.get(loop) is client:
            clients.pop(loop, None)
            guards.pop(loop, None)
        await client.aclose()


def _from_url(factory: Any, url: str, options: dict[str, Any]) -> Any:
    try:
        return factory.from_url(url, **options)
    except ValueError as exc:
        raise ConfigurationError(
            f"not a Redis URL redis-py accepts: {exc}; use redis://[[user]:password@]host[:port]"
            "[/db], rediss://... (TLS) or unix:///path/to/socket[?db=N]"
        ) from exc
