"""``RedisCache``: the shared ``Cache`` on a Redis server (redis-py; extra ``redis``).

One implementation, two thin drivers.  :mod:`llm_core.cache.redis._commands` validates a call
and builds the exact Redis command, and reads the answer; it does no I/O.
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
``compare_and_set``   ``EVALSHA`` of one Lua script (GET, compare, SET/DEL), atomic on the
                      server; ``EVAL`` once if the server answers ``NOSCRIPT``
``keys(prefix)``      ``SCAN … MATCH <escaped p+prefix>*`` (never ``KEYS``)
====================  ===============================================================

Keys under a prefix given to ``index_prefix`` are written with the index's scripts instead
(``_index``, ``_index_plan``: one script on one server, three steps on a cluster).

Redis ≥ 6.2 (``GETDEL``, ``GETEX``).  ``p`` is the namespace prefix (default ``"llm-core:"``),
so several apps share one database.  Redis drops expired keys itself, so ``sweep()`` is a
no-op returning 0.  Any redis-py error (connection refused, timeout, loading, ...) raises
:class:`~llm_core.errors.CacheUnavailableError` with the cause chained (one helper,
:func:`~llm_core.cache._errors.map_exceptions`, wraps every call).  ``capabilities.evicts``
stays ``False``: whether the server evicts depends on its ``maxmemory-policy``.

On a Redis Cluster (``redis+cluster://host:port``, ``redis://host:port?cluster=true``, or a
``redis.cluster.RedisCluster`` passed in) the same commands go through redis-py's cluster
clients, which route each one-key command to its slot's master and follow MOVED/ASK; the rest
is made slot-safe here: ``keys`` scans every primary, ``clear`` unlinks per slot, ``take`` goes
to the key's master as a named node (never retried), ``eviction_policy`` asks every primary.

An asyncio client is bound to the event loop it first ran on, so unless you pass
``async_client`` the cache makes one per running loop, lazily, from the same URL or
connection settings; ``await cache.aclose()`` closes the current loop's client.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator
from typing import Any

from llm_core._log import get_logger
from llm_core.cache._contract import CacheCapabilities
from llm_core.cache._errors import map_exceptions, unavailable
from llm_core.cache.redis._commands import (
    CAS_SCRIPT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_POOL_TIMEOUT,
    DEFAULT_RETRIES,
    SCAN_COUNT,
    add_scanned,
    check_pool_options,
    cluster_client,
    cluster_settings_of,
    cluster_url,
    cmd_cas,
    cmd_delete,
    cmd_get,
    cmd_scan,
    cmd_set,
    cmd_take,
    cmd_touch,
    describe,
    describe_cluster,
    import_redis,
    is_cluster_client,
    merge_policies,
    policy_of_reply,
    pooled_client,
    reply_scan,
    reply_touch,
    scan_pattern,
    settings_of,
    slot_groups,
)
from llm_core.cache.redis._conn import asend_once, send_once
from llm_core.cache.redis._conn import close_with_loop as _close_with_loop
from llm_core.cache.redis._conn import decodes as _decodes
from llm_core.cache.redis._index import RedisIndex
from llm_core.errors import ConfigurationError

__all__ = ["DEFAULT_PREFIX", "DEFAULT_URL", "RedisCache"]

DEFAULT_PREFIX = "llm-core:"
DEFAULT_URL = "redis://127.0.0.1:6379/0"

_logger = get_logger("cache")


class RedisCache(RedisIndex):
    """A TTL cache on Redis, shared by every process that uses the same server and prefix.

    Build it from a URL (``RedisCache(url="redis://host:6379/0")`` or
    ``RedisCache.from_url(...)``), from a ``redis.Redis`` client, or with no argument for
    ``redis://127.0.0.1:6379/0``.  Clients must not decode responses (values are bytes).
    """

    capabilities = CacheCapabilities(
        ttl="exact",
        atomic_take=True,
        persistent=True,
        shared=True,
        listing=True,
        sweep=True,
        compare_and_set=True,
        index=True,
    )

    def __init__(
        self,
        client: Any = None,
        *,
        url: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        async_client: Any = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        pool_timeout: float | None = DEFAULT_POOL_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        **options: Any,
    ) -> None:
        """Use ``client`` (a ``redis.Redis``), or connect to ``url`` with redis-py ``options``.

        ``async_client``: a ``redis.asyncio.Redis`` for the async face; you then own its event
        loop.  Without one, a client per running loop is made from the same settings.

        Clients the cache makes itself share one policy (see :func:`pooled_client` and
        :func:`retry_policy` in ``_commands``): a *blocking* pool of at most
        ``max_connections`` connections where a command waits up to ``pool_timeout`` seconds
        for a free one (``None``: forever; past it, ``CacheUnavailableError``), and ``retries``
        redis-py retries of a command whose connection failed (``0``: none).  A client you pass
        in keeps its own settings.
        """
        redis = import_redis()
        if not isinstance(prefix, str):
            raise ConfigurationError(f"prefix must be str, got {type(prefix).__name__}")
        if client is not None and url is not None:
            raise ConfigurationError("give RedisCache a client or a url, not both")
        check_pool_options(max_connections, pool_timeout, retries)
        pool_options = {
            name
            for name, value, default in (
                ("max_connections", max_connections, DEFAULT_MAX_CONNECTIONS),
                ("pool_timeout", pool_timeout, DEFAULT_POOL_TIMEOUT),
                ("retries", retries, DEFAULT_RETRIES),
            )
            if value != default
        }
        if client is not None and (options or pool_options):
            raise ConfigurationError(
                f"redis-py options {sorted(set(options) | pool_options)} apply only when "
                "RedisCache makes the client from a url; configure your client instead"
            )
        if client is not None and isinstance(
            client, redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster
        ):
            raise ConfigurationError(
                "client must be a sync redis.Redis (or redis.cluster.RedisCluster); pass a "
                "redis.asyncio.Redis as async_client (or a redis.asyncio.cluster.RedisCluster)"
            )
        cluster, url = (False, None) if url is None else cluster_url(url)
        if client is not None:
            cluster = is_cluster_client(redis, client)
        elif url is None and async_client is not None:
            cluster = is_cluster_client(redis, async_client)
        if async_client is not None and is_cluster_client(redis, async_client) != cluster:
            raise ConfigurationError(
                "client and async_client must both be cluster clients or both not"
            )
        self._cluster = cluster
        self._url = url
        self._options = options
        self._policy = (max_connections, pool_timeout, retries)
        self._owns_client = client is None
        settings_from = cluster_settings_of if cluster else settings_of
        if client is None:
            settings = {} if async_client is None else settings_from(async_client)
            make = cluster_client if cluster else pooled_client
            client = make(
                redis, False, (url or DEFAULT_URL) if not settings else url, settings, options,
                *self._policy,
            )  # fmt: skip
        self._settings = settings_from(client)
        if _decodes(client, cluster):
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
        self._no_script: type[BaseException] = redis.exceptions.NoScriptError
        self._response_error: type[BaseException] = redis.exceptions.ResponseError
        self._where = (describe_cluster if cluster else describe)(self._settings)
        self._unavailable = unavailable(f"Redis at {self._where}")

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX, **options: Any) -> RedisCache:
        """Connect to ``url`` (``redis://``, ``rediss://``, ``unix://``) with redis-py options
        (and ``max_connections``, ``pool_timeout``, ``retries``: see the constructor)."""
        return cls(url=url, prefix=prefix, **options)

    @property
    def prefix(self) -> str:
        """The namespace prepended to every key on the server."""
        return self._prefix

    @property
    def client(self) -> Any:
        """The sync client: a ``redis.Redis``, or a ``redis.cluster.RedisCluster``."""
        return self._client

    @property
    def cluster(self) -> bool:
        """``True`` on a Redis Cluster."""
        return self._cluster

    def _map(self, command: str) -> map_exceptions:
        """Any redis-py error or ``OSError`` in the block → ``CacheUnavailableError``."""
        return map_exceptions(self._errors, self._unavailable, command)

    # --- sync driver -------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The live value at ``key``, or ``None``."""
        cmd = cmd_get(self._prefix, key)
        with self._map("GET"):
            return self._execute(*cmd)  # type: ignore[no-any-return]

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` at ``key`` for ``ttl`` seconds (``None`` = until deleted)."""
        if self._indexes and self._ix_covers(key):
            return self._ix_write("set", key, value, ttl)  # type: ignore[no-any-return]
        cmd = cmd_set(self._prefix, key, value, ttl)
        with self._map("SET"):
            self._execute(*cmd)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        if self._indexes and self._ix_covers(key):
            return self._ix_write("del", key)  # type: ignore[no-any-return]
        cmd = cmd_delete(self._prefix, key)
        with self._map("DEL"):
            self._execute(*cmd)

    def take(self, key: str) -> bytes | None:
        """Atomically remove and return the value at ``key`` (``GETDEL``).

        Sent once, never retried: a ``GETDEL`` whose reply was lost has already removed the
        value, and a retry would answer "absent".  A lost reply is ``CacheUnavailableError``
        (the value may be gone), never a silent miss.
        """
        if self._indexes and self._ix_covers(key):
            return self._ix_write("take", key)  # type: ignore[no-any-return]
        cmd = cmd_take(self._prefix, key)
        with self._map("GETDEL"):  # a named node on a cluster, a raw connection otherwise
            return send_once(self._client, self._cluster, cmd, None, self._no_script)  # type: ignore[no-any-return]

    def touch(self, key: str, ttl: float | None) -> bool:
        """Restart a live entry's TTL from now (``None`` = no expiry); ``False`` if absent."""
        if self._indexes and self._ix_covers(key):
            return self._ix_write("touch", key, ttl)  # type: ignore[no-any-return]
        cmd = cmd_touch(self._prefix, key, ttl)
        with self._map(cmd[0]):
            return reply_touch(self._execute(*cmd))

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        """Set ``key`` to ``new`` (``None`` = delete) only if its value is ``expected``
        (``None`` = absent), atomically (one Lua script); ``True`` if it did."""
        if self._indexes and self._ix_covers(key):
            return self._ix_write("cas", key, expected, new, ttl)  # type: ignore[no-any-return]
        cmd = cmd_cas(self._prefix, key, expected, new, ttl)
        with self._map("EVALSHA"):
            try:
                return bool(self._execute(*cmd))
            except self._no_script:
                return bool(self._execute("EVAL", CAS_SCRIPT, *cmd[2:]))

    def keys(self, prefix: str = "") -> list[str]:
        """Live keys starting with ``prefix`` (``SCAN``, so the server is never blocked)."""
        pattern = scan_pattern(self._prefix, prefix)
        if pattern is None:
            return []
        found: set[str] = set()
        cursor = -1
        with self._map("SCAN"):
            if self._cluster:  # every primary, each with its own cursor
                for raw in self._client.scan_iter(
                    match=pattern, count=SCAN_COUNT, target_nodes=self._client.PRIMARIES
                ):
                    add_scanned(raw, len(self._prefix), found)
                return list(found)
            while cursor != 0:
                reply = self._execute(*cmd_scan(max(cursor, 0), pattern))
                cursor = reply_scan(reply, len(self._prefix), found)
        return list(found)

    def clear(self) -> None:
        """Delete every key under this cache's prefix (``SCAN`` + ``UNLINK``)."""
        keys = self.keys()
        for start in range(0, len(keys), SCAN_COUNT):
            names = [self._prefix + k for k in keys[start : start + SCAN_COUNT]]
            with self._map("UNLINK"):
                if self._cluster:  # one UNLINK per hash slot: never CROSSSLOT
                    for group in slot_groups(self._client.keyslot, names):
                        self._execute("UNLINK", *group)
                else:
                    self._execute("UNLINK", *names)
        self._ix_clear()

    def sweep(self) -> int:
        """Nothing to do: Redis drops expired keys itself.  Always 0."""
        return 0

    def eviction_policy(self) -> str | None:
        """The server's ``maxmemory-policy`` (``CONFIG GET``), e.g. ``"noeviction"`` or
        ``"allkeys-lru"``; ``None`` when the server does not let us read it (``CONFIG``
        renamed or denied by an ACL: logged at INFO).  Anything but ``"noeviction"`` may
        evict pending sessions, and the runtime warns (``adapter.cache.evicts``).

        On a cluster every primary is asked: if any evicts, its policy is returned (and the
        primaries that evict are logged at WARNING); else ``None`` if any did not say."""
        if self._cluster:
            return self._cluster_eviction_policy()
        with self._map("CONFIG GET"):
            try:
                reply = self._execute("CONFIG", "GET", "maxmemory-policy")
            except self._response_error as exc:
                _logger.info("cannot read maxmemory-policy from Redis at %s: %s", self._where, exc)
                return None
        return policy_of_reply(reply)

    def _cluster_eviction_policy(self) -> str | None:
        policies: dict[str, str | None] = {}
        with self._map("CONFIG GET"):
            for node in self._client.get_primaries():
                try:
                    reply = self._execute("CONFIG", "GET", "maxmemory-policy", target_nodes=node)
                except self._response_error as exc:
                    _logger.info("cannot read maxmemory-policy from %s: %s", node.name, exc)
                    policies[node.name] = None
                else:
                    policies[node.name] = policy_of_reply(reply)
        policy, evicting = merge_policies(policies)
        if evicting:
            _logger.warning(
                "Redis Cluster at %s: primaries %s evict keys (maxmemory-policy %s)",
                self._where,
                ", ".join(evicting),
                ", ".join(sorted({str(policies[name]) for name in evicting})),
            )
        return policy

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
        """This loop's async client.  On a cluster, callers ``await client.initialize()``
        before a command (a no-op once done): redis-py's asyncio cluster client, used first by
        many concurrent commands, can fail one of them while it discovers the nodes
        (``AttributeError`` on a half-made connection, seen with redis-py 8.1); discovering
        them first avoids that."""
        if self._async_client is not None:
            return self._async_client
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            client = self._new_async_client(loop)
        return client

    def _new_async_client(self, loop: asyncio.AbstractEventLoop) -> Any:
        redis = import_redis()
        make = cluster_client if self._cluster else pooled_client
        client = make(
            redis, True, self._url, self._settings, self._options if self._url else {},
            *self._policy,
        )  # fmt: skip
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
        cmd = cmd_get(self._prefix, key)
        with self._map("GET"):
            client = self._aclient()
            if self._cluster:
                await client.initialize()  # see _aclient
            return await client.execute_command(*cmd)  # type: ignore[no-any-return]

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Async face of :meth:`set`."""
        if self._indexes and self._ix_covers(key):
            return await self._aix_write("set", key, value, ttl)  # type: ignore[no-any-return]
        cmd = cmd_set(self._prefix, key, value, ttl)
        with self._map("SET"):
            client = self._aclient()
            if self._cluster:
                await client.initialize()  # see _aclient
            await client.execute_command(*cmd)

    async def adelete(self, key: str) -> None:
        """Async face of :meth:`delete`."""
        if self._indexes and self._ix_covers(key):
            return await self._aix_write("del", key)  # type: ignore[no-any-return]
        cmd = cmd_delete(self._prefix, key)
        with self._map("DEL"):
            client = self._aclient()
            if self._cluster:
                await client.initialize()  # see _aclient
            await client.execute_command(*cmd)

    async def atake(self, key: str) -> bytes | None:
        """Async face of :meth:`take` (sent once, never retried)."""
        if self._indexes and self._ix_covers(key):
            return await self._aix_write("take", key)  # type: ignore[no-any-return]
        cmd = cmd_take(self._prefix, key)
        with self._map("GETDEL"):
            client = self._aclient()
            if self._cluster:
                await client.initialize()  # see _aclient
            return await asend_once(client, self._cluster, cmd, None, self._no_script)  # type: ignore[no-any-return]

    async def atouch(self, key: str, ttl: float | None) -> bool:
        """Async face of :meth:`touch`."""
        if self._indexes and self._ix_covers(key):
            return await self._aix_write("touch", key, ttl)  # type: ignore[no-any-return]
        cmd = cmd_touch(self._prefix, key, ttl)
        with self._map(cmd[0]):
            client = self._aclient()
            if self._cluster:
                await client.initialize()  # see _aclient
            return reply_touch(await client.execute_command(*cmd))

    async def acompare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        """Async face of :meth:`compare_and_set`."""
        if self._indexes and self._ix_covers(key):
            return await self._aix_write("cas", key, expected, new, ttl)  # type: ignore[no-any-return]
        cmd = cmd_cas(self._prefix, key, expected, new, ttl)
        with self._map("EVALSHA"):
            client = self._aclient()
            if self._cluster:
                await client.initialize()  # see _aclient
            try:
                return bool(await client.execute_command(*cmd))
            except self._no_script:
                return bool(await client.execute_command("EVAL", CAS_SCRIPT, *cmd[2:]))

    async def akeys(self, prefix: str = "") -> list[str]:
        """Async face of :meth:`keys`."""
        pattern = scan_pattern(self._prefix, prefix)
        if pattern is None:
            return []
        found: set[str] = set()
        cursor = -1
        with self._map("SCAN"):
            client = self._aclient()
            if self._cluster:  # every primary, each with its own cursor
                await client.initialize()  # see _aclient
                async for raw in client.scan_iter(
                    match=pattern, count=SCAN_COUNT, target_nodes=client.PRIMARIES
                ):
                    add_scanned(raw, len(self._prefix), found)
                return list(found)
            while cursor != 0:
                reply = await client.execute_command(*cmd_scan(max(cursor, 0), pattern))
                cursor = reply_scan(reply, len(self._prefix), found)
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
