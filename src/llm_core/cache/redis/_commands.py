"""The sans-I/O core of :class:`~llm_core.cache.redis._cache.RedisCache`: commands and replies.

Each ``cmd_*`` function validates one call and returns the exact Redis command to send; each
``reply_*`` function reads the answer.  Nothing here does I/O, so the sync driver
(``redis.Redis``) and the async one (``redis.asyncio.Redis``) share every decision.  The client
helpers at the end copy connection settings between the two kinds of client without ever
printing a password.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from llm_core.cache._validation import check_key, check_ttl, check_value, is_valid_key
from llm_core.errors import ConfigurationError, MissingDependencyError

__all__ = [
    "SCAN_COUNT",
    "CAS_SCRIPT",
    "CAS_SHA",
    "Command",
    "cmd_cas",
    "cmd_delete",
    "cmd_get",
    "cmd_scan",
    "cmd_set",
    "cmd_take",
    "cmd_touch",
    "describe",
    "client_from_url",
    "glob_escape",
    "import_redis",
    "add_scanned",
    "reply_scan",
    "reply_touch",
    "scan_pattern",
    "settings_of",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_POOL_TIMEOUT",
    "DEFAULT_RETRIES",
    "check_pool_options",
    "pooled_client",
    "retry_policy",
    "policy_of_reply",
    "cluster_url",
    "is_cluster_client",
    "cluster_settings_of",
    "cluster_client",
    "slot_groups",
    "merge_policies",
]

SCAN_COUNT = 1000
Command = tuple[Any, ...]

# --- commands and replies ------------------------------------------------------------------


_FOREVER_MS = 2**53
"""A TTL past this many milliseconds (~285,000 years, beyond what Redis's expiry can count)
is sent as no expiry."""


def ms(ttl: float) -> int:
    """Milliseconds for Redis, rounded up so the entry lives at least ``ttl`` seconds."""
    return max(1, math.ceil(ttl * 1000))


def cmd_get(prefix: str, key: str) -> Command:
    return ("GET", prefix + check_key(key))


def cmd_set(prefix: str, key: str, value: bytes, ttl: float | None) -> Command:
    check_key(key)
    check_value(value)
    if check_ttl(ttl) is None or ttl * 1000 > _FOREVER_MS:  # type: ignore[operator]
        return ("SET", prefix + key, value)
    return ("SET", prefix + key, value, "PX", ms(ttl))  # type: ignore[arg-type]


def cmd_delete(prefix: str, key: str) -> Command:
    return ("DEL", prefix + check_key(key))


def cmd_take(prefix: str, key: str) -> Command:
    return ("GETDEL", prefix + check_key(key))


def cmd_touch(prefix: str, key: str, ttl: float | None) -> Command:
    check_key(key)
    if check_ttl(ttl) is None or ttl * 1000 > _FOREVER_MS:  # type: ignore[operator]
        return ("GETEX", prefix + key, "PERSIST")
    return ("PEXPIRE", prefix + key, ms(ttl))  # type: ignore[arg-type]


CAS_SCRIPT = b"""\
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
return 1
"""
"""Compare-and-set as one script (atomic on the server).  ``KEYS[1]``: the key; ``ARGV``: has
expected (``'1'``/``'0'``), expected, has new (``'0'`` = delete), new, PX ms (``''`` = none).
A missing key reads as ``false``, so ``expected=None`` is "absent" (Redis expires keys itself)."""
CAS_SHA = hashlib.sha1(CAS_SCRIPT, usedforsecurity=False).hexdigest()  # Redis names scripts so


def cmd_cas(
    prefix: str, key: str, expected: bytes | None, new: bytes | None, ttl: float | None
) -> Command:
    """The ``EVALSHA`` of :data:`CAS_SCRIPT`; swap ``EVALSHA``/``CAS_SHA`` for ``EVAL``/the
    script when the server answers ``NOSCRIPT``.  TTLs follow :func:`cmd_set`."""
    check_key(key)
    if expected is not None:
        check_value(expected)
    if new is not None:
        check_value(new)
    seconds = check_ttl(ttl)
    px = "" if seconds is None or seconds * 1000 > _FOREVER_MS else ms(seconds)
    return (
        "EVALSHA", CAS_SHA, 1, prefix + key,
        "0" if expected is None else "1", b"" if expected is None else expected,
        "0" if new is None else "1", b"" if new is None else new,
        px,
    )  # fmt: skip


def reply_touch(reply: object) -> bool:
    """``PEXPIRE`` answers 1/0 (or ``True``/``False``); ``GETEX`` the value or ``None``."""
    return isinstance(reply, bytes) or bool(reply)


def glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis glob pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def cmd_scan(cursor: int, pattern: str) -> Command:
    return ("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)


def reply_scan(reply: Any, strip: int, into: set[str]) -> int:
    """Add the page's keys (without the namespace prefix) to ``into``; return the next cursor.

    A key under the prefix that is not a valid cache key (written by someone else) is left out.
    """
    cursor, page = reply
    for raw in page:
        add_scanned(raw, strip, into)
    return int(cursor)


def add_scanned(raw: bytes | str, strip: int, into: set[str]) -> None:
    """Add one scanned name (without the namespace prefix) to ``into`` if it is a cache key."""
    try:
        key = (raw if isinstance(raw, str) else raw.decode("utf-8"))[strip:]
    except UnicodeDecodeError:
        return
    if is_valid_key(key):
        into.add(key)


def scan_pattern(namespace: str, prefix: str) -> str | None:
    """The SCAN MATCH pattern for ``prefix``; ``None`` when no key can start with it (a prefix
    that is not valid UTF-8, e.g. a lone surrogate, as SQLiteCache answers: no keys)."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be str, got {type(prefix).__name__}")
    try:
        prefix.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return glob_escape(namespace + prefix) + "*"


# --- client construction -------------------------------------------------------------------

_SHARED_SETTINGS = frozenset(
    {
        "host", "port", "db", "username", "password", "socket_timeout",
        "socket_connect_timeout", "socket_keepalive", "socket_keepalive_options",
        "client_name", "health_check_interval", "credential_provider", "protocol",
    }
)  # fmt: skip


def import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
        import redis.asyncio.cluster
        import redis.asyncio.retry
        import redis.backoff
        import redis.cluster
        import redis.retry
    except ImportError as exc:
        raise MissingDependencyError("RedisCache", "redis", "redis") from exc
    return redis


def settings_of(client: Any) -> dict[str, Any]:
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


def describe(settings: dict[str, Any]) -> str:
    """Where the server is, without credentials."""
    if "unix_socket_path" in settings:
        return f"unix:{settings['unix_socket_path']} db {settings.get('db', 0)}"
    scheme = "rediss" if settings.get("ssl") else "redis"
    host, port = settings.get("host", "localhost"), settings.get("port", 6379)
    return f"{scheme}://{host}:{port}/{settings.get('db', 0)}"


def client_from_url(factory: Any, url: str, options: dict[str, Any]) -> Any:
    try:
        return factory.from_url(url, **options)
    except ValueError as exc:
        raise _bad_url(exc) from exc


def _bad_url(exc: ValueError) -> ConfigurationError:
    return ConfigurationError(
        f"not a Redis URL redis-py accepts: {exc}; use redis://[[user]:password@]host[:port]"
        "[/db], rediss://... (TLS) or unix:///path/to/socket[?db=N]"
    )


# --- the client policy: bounded blocking pools, an explicit retry policy -------------------

DEFAULT_MAX_CONNECTIONS = 64
"""Connections per client (one sync client, one async client per event loop)."""
DEFAULT_POOL_TIMEOUT = 10.0
"""Seconds a command waits for a free connection before ``CacheUnavailableError``."""
DEFAULT_RETRIES = 3
"""redis-py retries of a command whose connection failed (reply lost, reset, refused)."""


def check_pool_options(max_connections: object, pool_timeout: object, retries: object) -> None:
    """``ConfigurationError`` for pool/retry options redis-py would take but misread."""
    if type(max_connections) is not int or max_connections < 1:
        raise ConfigurationError(f"max_connections must be an int >= 1, got {max_connections!r}")
    if pool_timeout is not None and (
        type(pool_timeout) not in (int, float)
        or not math.isfinite(pool_timeout)  # type: ignore[arg-type]
        or pool_timeout <= 0  # type: ignore[operator]
    ):
        raise ConfigurationError(
            f"pool_timeout must be a number of seconds > 0 (or None: wait forever), "
            f"got {pool_timeout!r}"
        )
    if type(retries) is not int or not 0 <= retries <= 100:
        raise ConfigurationError(f"retries must be an int in 0..100, got {retries!r}")


def retry_policy(redis: Any, retries: int, asynchronous: bool) -> Any:
    """The redis-py ``Retry`` every client this cache makes uses.

    A command whose connection fails (reply lost, connection reset or refused, timeout) is
    sent again up to ``retries`` times on a fresh connection, after a short jittered backoff
    (10 ms doubling, capped at 0.5 s).  That is safe because every command RedisCache sends
    is idempotent or fenced: ``GET``, ``SCAN``, ``CONFIG GET`` read; ``PEXPIRE``,
    ``GETEX PERSIST``, ``DEL``, ``UNLINK`` give the same result when repeated; ``SET`` stores
    the same bytes again (the session layer only sets a fresh token's record, which no
    one else knows yet); the compare-and-set script is fenced: run twice, its second run finds
    the new bytes instead of the expected ones and changes nothing (it answers "no", and the
    session lifecycle confirms every "no" with a read).  The one command that is neither,
    ``GETDEL`` (``take``), is never retried: see :meth:`RedisCache.take`.
    """
    backoff = redis.backoff.EqualJitterBackoff(cap=0.5, base=0.01)
    if retries == 0:
        backoff = redis.backoff.NoBackoff()
    if asynchronous:
        return redis.asyncio.retry.Retry(backoff, retries)
    return redis.retry.Retry(backoff, retries)


def pooled_client(
    redis: Any,
    asynchronous: bool,
    url: str | None,
    settings: dict[str, Any],
    options: dict[str, Any],
    max_connections: int,
    pool_timeout: float | None,
    retries: int,
) -> Any:
    """A redis-py client (``redis.Redis``, or ``redis.asyncio.Redis``) on a **blocking** pool.

    At most ``max_connections`` connections; a command that finds them all busy waits up to
    ``pool_timeout`` seconds for one (then redis-py raises ``ConnectionError("No connection
    available.")``, which the cache maps to ``CacheUnavailableError``), instead of failing at
    once with "Too many connections" as redis-py's default pool does.  Query options of ``url``
    win over the keywords (redis-py's rule): ``?max_connections=`` and ``?timeout=`` (the pool
    timeout) included.
    """
    if "retry" in options or "connection_pool" in options:
        raise ConfigurationError(
            "RedisCache sets redis-py's retry policy and pool itself: use retries=N, "
            "max_connections=N and pool_timeout=SECONDS, or pass your own client"
        )
    client_cls = redis.asyncio.Redis if asynchronous else redis.Redis
    pool_cls = (
        redis.asyncio.BlockingConnectionPool if asynchronous else redis.BlockingConnectionPool
    )
    retry = retry_policy(redis, retries, asynchronous)
    # redis-py before 6 retries only the errors named in retry_on_error, whatever ``retry`` says
    on_error = [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError] if retries else []
    if url is not None:
        kwargs = {"max_connections": max_connections, "timeout": pool_timeout, **options}
        try:
            pool = pool_cls.from_url(url, retry=retry, retry_on_error=on_error, **kwargs)
        except ValueError as exc:
            raise _bad_url(exc) from exc
    else:  # settings: let redis-py turn them into connection kwargs, then pool those
        template = client_cls(
            **settings, **options, retry=retry, retry_on_error=on_error
        ).connection_pool
        pool = pool_cls(
            connection_class=template.connection_class,
            max_connections=max_connections,
            timeout=pool_timeout,
            **template.connection_kwargs,
        )
    client = client_cls(connection_pool=pool)
    client.auto_close_connection_pool = True  # closing the client closes the pool we made
    return client


def policy_of_reply(reply: Any) -> str | None:
    """The value of ``CONFIG GET maxmemory-policy`` (a RESP2 list or dict, or a RESP3 map)."""
    if isinstance(reply, dict):
        items = list(reply.values())
    elif isinstance(reply, list | tuple) and len(reply) >= 2:
        items = [reply[1]]
    else:
        return None
    if not items:
        return None
    value = items[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# --- Redis Cluster -------------------------------------------------------------------------
#
# Every command RedisCache sends names at most one key (GET, SET, DEL, GETDEL, PEXPIRE, GETEX,
# and the compare-and-set script with KEYS[1] only), so redis-py routes each to the master of
# that key's slot and no hash tag is needed: keys spread over the masters by their own hash.
# The commands that name several keys or none are split here: UNLINK by slot
# (:func:`slot_groups`), SCAN and CONFIG GET sent to every primary.

_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


def cluster_url(url: str) -> tuple[bool, str]:
    """Whether ``url`` names a Redis Cluster, and the URL to give redis-py.

    ``redis+cluster://host:port`` (``rediss+cluster://`` over TLS) or
    ``redis://host:port?cluster=true`` name a cluster (any node: the client discovers the
    others); the ``+cluster`` and ``cluster=`` parts are removed for redis-py.  A cluster has
    one database: a path other than ``/`` or ``/0`` is a ``ConfigurationError``.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return False, url  # redis-py reports it
    scheme = parts.scheme.lower()
    query = parse_qsl(parts.query, keep_blank_values=True)
    flags = [value.lower() for name, value in query if name == "cluster"]
    for flag in flags:
        if flag not in _TRUE | _FALSE:
            raise ConfigurationError(f"cluster= takes true or false, got {flag!r}")
    cluster = scheme in _CLUSTER_SCHEMES or (bool(flags) and flags[-1] in _TRUE)
    if not flags and scheme not in _CLUSTER_SCHEMES:
        return False, url
    if cluster and scheme not in ("redis", "rediss", *_CLUSTER_SCHEMES):
        raise ConfigurationError(f"a Redis Cluster is reached over TCP, not {scheme}://")
    if cluster and parts.path not in ("", "/", "/0"):
        raise ConfigurationError(
            "a Redis Cluster has one database (0): drop the path, e.g. redis+cluster://host:port"
        )
    rest = [(name, value) for name, value in query if name != "cluster"]
    parts = parts._replace(
        scheme=_CLUSTER_SCHEMES.get(scheme, scheme),
        query=urlencode(rest),
        path="" if cluster else parts.path,
    )
    return cluster, parts.geturl()


def is_cluster_client(redis: Any, client: Any) -> bool:
    """``client`` is a redis-py cluster client (sync or asyncio)."""
    return isinstance(client, redis.cluster.RedisCluster | redis.asyncio.cluster.RedisCluster)


def cluster_settings_of(client: Any) -> dict[str, Any]:
    """Settings of a cluster client (sync or async) the other kind accepts: one node to start
    from (the default node, else a startup node) and the shared connection settings."""
    manager = client.nodes_manager
    kwargs = manager.connection_kwargs
    settings = {
        k: v
        for k, v in kwargs.items()
        if (k in _SHARED_SETTINGS or k.startswith("ssl_")) and k not in ("db", "host", "port")
    }
    for name in ("ssl_ocsp_context", "ssl_ocsp_expected_cert", "ssl_validate_ocsp"):
        settings.pop(name, None)
    settings.pop("ssl_validate_ocsp_stapled", None)
    node = manager.default_node or next(iter(manager.startup_nodes.values()), None)
    if node is not None:
        settings["host"], settings["port"] = node.host, int(node.port)
    connection_class = kwargs.get("connection_class")
    if connection_class is not None and "SSL" in connection_class.__name__:
        settings["ssl"] = True
    return settings


def describe_cluster(settings: dict[str, Any]) -> str:
    """Where the cluster is (the node we start from), without credentials."""
    scheme = "rediss+cluster" if settings.get("ssl") else "redis+cluster"
    return f"{scheme}://{settings.get('host', 'localhost')}:{settings.get('port', 6379)}"


def _major(redis: Any) -> int:
    try:
        return int(str(redis.__version__).split(".", 1)[0])
    except ValueError:
        return 0


def cluster_client(
    redis: Any,
    asynchronous: bool,
    url: str | None,
    settings: dict[str, Any],
    options: dict[str, Any],
    max_connections: int,
    pool_timeout: float | None,
    retries: int,
) -> Any:
    """A ``redis.cluster.RedisCluster`` (or ``redis.asyncio.cluster.RedisCluster``).

    The same policy as :func:`pooled_client` where redis-py's cluster clients allow it:

    * sync: each node's pool is a **blocking** pool of at most ``max_connections``
      connections waiting up to ``pool_timeout`` s (on redis-py 5, redis-py's default 20 s:
      its cluster client does not pass the wait to its nodes); async: at most ``max_connections``
      connections per node, and a command finding them all busy fails at once
      (redis-py's asyncio cluster has no blocking pool) with ``CacheUnavailableError``;
    * ``retries``: the cluster client's own retries of a command whose connection failed
      (redis-py ≥ 6: ``retry=``; before: ``cluster_error_retry_attempts=``).  Between
      attempts redis-py refreshes the cluster's topology; MOVED and ASK redirects are
      followed by redis-py and do not count.  The node connections themselves never retry.
    """
    if {"retry", "connection_pool", "connection_pool_class"} & set(options):
        raise ConfigurationError(
            "RedisCache sets redis-py's retry policy and pools itself: use retries=N, "
            "max_connections=N and pool_timeout=SECONDS, or pass your own client"
        )
    if _major(redis) >= 6:
        retry_kw: dict[str, Any] = {"retry": retry_policy(redis, retries, asynchronous)}
    else:  # pragma: no cover - redis-py 5
        retry_kw = {"cluster_error_retry_attempts": retries}
    if asynchronous:
        cls = redis.asyncio.cluster.RedisCluster
        kwargs = {"max_connections": max_connections, **retry_kw, **options}
        try:
            if url is not None:
                return cls.from_url(url, **kwargs)
            return cls(**settings, **kwargs)
        except ValueError as exc:
            raise _bad_url(exc) from exc
    kwargs = {
        "connection_pool_class": redis.BlockingConnectionPool,
        "max_connections": max_connections,
        "timeout": pool_timeout,
        **retry_kw,
    }
    if url is None:  # the node pools are made as asked only on redis-py's from-URL path
        settings = dict(settings)
        scheme = "rediss" if settings.pop("ssl", False) else "redis"
        host, port = settings.pop("host", "localhost"), settings.pop("port", 6379)
        url = f"{scheme}://{host}:{port}"
        options = {**settings, **options}
    try:
        return redis.cluster.RedisCluster(url=url, **{**kwargs, **options})
    except ValueError as exc:
        raise _bad_url(exc) from exc


def slot_groups(keyslot: Callable[[str], int], names: Iterable[str]) -> list[list[str]]:
    """``names`` grouped by hash slot: a multi-key command per group cannot be CROSSSLOT."""
    groups: dict[int, list[str]] = {}
    for name in names:
        groups.setdefault(keyslot(name), []).append(name)
    return list(groups.values())


def merge_policies(policies: dict[str, str | None]) -> tuple[str | None, list[str]]:
    """One ``maxmemory-policy`` for a cluster from each primary's: the first evicting one
    (anything but ``noeviction``) if any primary evicts, else ``None`` if any primary did
    not say, else ``"noeviction"``; and the primaries that evict."""
    evicting = sorted(name for name, policy in policies.items() if _evicts(policy))
    if evicting:
        return policies[evicting[0]], evicting
    if not policies or any(policy is None for policy in policies.values()):
        return None, []
    return "noeviction", []


def _evicts(policy: str | None) -> bool:
    return policy is not None and policy != "noeviction"
