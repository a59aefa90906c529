"""``cache_from_url``: one string names a cache backend (for configs, env vars and the CLI).

==========================================  ==================================================
``memory://``                               a new ``MemoryCache`` (private to this process)
``sqlite:///relative/path.db``              ``SQLiteCache`` on a path relative to the cwd
``sqlite:////absolute/path.db``             ``SQLiteCache`` on an absolute path
``sqlite:///~/path.db``                     ``SQLiteCache`` under the user's home (``~`` expanded)
``redis://[[user]:password@]host[:port][/db]``  ``RedisCache`` (port 6379 and db 0 by default)
``rediss://...``                            the same over TLS
``unix:///path/to/redis.sock[?db=N]``       ``RedisCache`` over a Unix socket
``redis+cluster://host:port``               ``RedisCache`` on a Redis Cluster (any node; the
                                            client finds the others); ``rediss+cluster://``
                                            over TLS; ``redis://host:port?cluster=true`` too
``postgresql://[user[:pw]@]host[:port]/db``  ``PostgresCache`` (``postgres://`` too)
==========================================  ==================================================

Query options configure the backend: ``memory://?max_entries=1000``,
``sqlite:///c.db?busy_timeout=5&sweep_interval=60&synchronous=FULL``,
``redis://host/0?prefix=myapp:&socket_timeout=2`` (``prefix`` is the key namespace; the others
are redis-py's URL options),
``postgresql://host/db?table=llm_core_cache&prefix=myapp:&pool_timeout=5`` (``table``,
``prefix``, ``pool_timeout``, ``min_size``, ``max_size``, ``sweep_interval``, ``sweep_batch``
are PostgresCache's; the others, e.g. ``sslmode`` or ``connect_timeout``, go to libpq).
Keyword ``options`` are passed to the constructor and win over the query (e.g. ``clock=`` for
tests).  Percent-escapes in paths and values are decoded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from llm_core.cache._contract import Cache
from llm_core.cache._memory import MemoryCache
from llm_core.cache._sqlite import SQLiteCache
from llm_core.cache.postgres import PostgresCache
from llm_core.cache.redis._cache import DEFAULT_PREFIX, RedisCache
from llm_core.errors import ConfigurationError

__all__ = ["ACCEPTED_FORMS", "cache_from_url"]

ACCEPTED_FORMS = (
    "memory://",
    "sqlite:///relative/path.db",
    "sqlite:////absolute/path.db",
    "sqlite:///~/path.db",
    "redis://[[user]:password@]host[:port][/db][?prefix=...]",
    "rediss://host[:port][/db]",
    "unix:///path/to/redis.sock[?db=N]",
    "redis+cluster://host:port[?prefix=...]",
    "postgresql://[user[:password]@]host[:port]/dbname[?table=...&prefix=...]",
)

_MEMORY_OPTIONS: dict[str, Callable[[str], Any]] = {
    "max_entries": lambda v: None if v.lower() == "none" else int(v),
}
_SQLITE_OPTIONS: dict[str, Callable[[str], Any]] = {
    "busy_timeout": float,
    "sweep_interval": float,
    "synchronous": str.upper,
}
# Redis URL options redis-py parses itself (redis.connection.URL_QUERY_ARGUMENT_PARSERS).
_REDIS_URL_OPTIONS = frozenset(
    {
        "db", "socket_timeout", "socket_connect_timeout", "socket_read_size", "socket_keepalive",
        "retry_on_timeout", "max_connections", "health_check_interval", "ssl_check_hostname",
        "ssl_min_version", "timeout", "protocol", "ssl_cert_reqs", "ssl_ca_certs",
        "ssl_certfile", "ssl_keyfile", "client_name",
    }
)  # fmt: skip


def _number(convert: Callable[[str], Any]) -> Callable[[str, str], Any]:
    def parse(url: str, value: str) -> Any:
        if value.lower() == "none" and convert is float:
            return None
        try:
            return convert(value)
        except ValueError as exc:
            raise ConfigurationError(f"bad value {value!r} in {_redact(url)!r}") from exc

    return parse


_REDIS_CACHE_OPTIONS = {"pool_timeout": _number(float), "retries": _number(int)}


def cache_from_url(url: str, **options: Any) -> Cache:
    """Build the cache ``url`` names; ``options`` go to its constructor.

    >>> cache_from_url("memory://?max_entries=10")
    MemoryCache(entries=0, max_entries=10)
    """
    if not isinstance(url, str):
        raise ConfigurationError(_problem(f"a cache URL must be a str, got {type(url).__name__}"))
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigurationError(
            _problem(f"cannot parse cache URL {_redact(url)!r}: {exc}")
        ) from exc
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return _memory(url, parts.netloc, parts.path, parts.query, options)
    if scheme == "sqlite":
        return _sqlite(url, parts.netloc, parts.path, parts.query, options)
    if scheme in ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster"):
        return _redis(url, scheme, parts.path, parts.query, options)
    if scheme in ("postgresql", "postgres"):
        return _postgres(url, parts.query, options)
    raise ConfigurationError(_problem(f"unknown cache URL {_redact(url)!r}"))


def _memory(url: str, netloc: str, path: str, query: str, options: dict[str, Any]) -> Cache:
    if netloc or path not in ("", "/"):
        raise ConfigurationError(_problem(f"memory:// takes no host or path, got {url!r}"))
    return MemoryCache(**_typed_query(url, query, _MEMORY_OPTIONS), **options)


def _sqlite(url: str, netloc: str, path: str, query: str, options: dict[str, Any]) -> Cache:
    if netloc:
        raise ConfigurationError(
            _problem(
                f"{url!r} names a host ({netloc!r}); SQLite URLs have three slashes before a "
                "relative path and four before an absolute one"
            )
        )
    relative = unquote(path[1:])  # drop the slash that ends "sqlite://"
    if not relative:
        raise ConfigurationError(_problem(f"{url!r} names no file"))
    file_path = os.path.expanduser(relative) if relative.startswith("~") else relative
    return SQLiteCache(file_path, **{**_typed_query(url, query, _SQLITE_OPTIONS), **options})


def _redis(url: str, scheme: str, path: str, query: str, options: dict[str, Any]) -> Cache:
    prefix = DEFAULT_PREFIX
    passed: list[tuple[str, str]] = []  # the options redis-py reads from the URL itself
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "prefix":
            prefix = value
        elif name in _REDIS_CACHE_OPTIONS:  # RedisCache's own: pool_timeout, retries
            options = {name: _REDIS_CACHE_OPTIONS[name](url, value), **options}
        elif name in _REDIS_URL_OPTIONS or name == "cluster":  # RedisCache reads cluster=
            passed.append((name, value))
        else:
            raise ConfigurationError(
                f"unknown option {name!r} in {_redact(url)!r}; Redis URLs accept prefix, "
                "pool_timeout, retries, cluster and redis-py's options: "
                f"{', '.join(sorted(_REDIS_URL_OPTIONS))}"
            )
    if scheme != "unix" and path not in ("", "/") and not path[1:].isdigit():
        raise ConfigurationError(
            _problem(f"the database in {_redact(url)!r} must be a number, e.g. redis://host:6379/0")
        )
    base = url.split("?", 1)[0]
    redis_url = f"{base}?{urlencode(passed)}" if passed else base
    return RedisCache(url=redis_url, **{"prefix": prefix, **options})


_POSTGRES_OPTIONS: dict[str, Callable[[str, str], Any]] = {
    "table": lambda url, v: v,
    "prefix": lambda url, v: v,
    "pool_timeout": _number(float),
    "sweep_interval": _number(float),
    "min_size": _number(int),
    "max_size": _number(int),
    "sweep_batch": _number(int),
}


def _postgres(url: str, query: str, options: dict[str, Any]) -> Cache:
    own: dict[str, Any] = {}
    passed: list[tuple[str, str]] = []  # libpq's own parameters (sslmode, connect_timeout, ...)
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in _POSTGRES_OPTIONS:
            own[name] = _POSTGRES_OPTIONS[name](url, value)
        else:
            passed.append((name, value))
    base = url.split("?", 1)[0]
    conninfo = f"{base}?{urlencode(passed)}" if passed else base
    return PostgresCache(conninfo, **{**own, **options})


def _typed_query(url: str, query: str, accepted: dict[str, Callable[[str], Any]]) -> dict[str, Any]:
    typed: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        convert = accepted.get(name)
        if convert is None:
            raise ConfigurationError(
                f"unknown option {name!r} in {url!r}; accepted: {', '.join(sorted(accepted))}"
            )
        try:
            typed[name] = convert(value)
        except ValueError as exc:
            raise ConfigurationError(f"bad value {value!r} for {name!r} in {url!r}") from exc
    return typed


def _redact(url: str) -> str:
    """``url`` without a password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _problem(what: str) -> str:
    return f"{what}; accepted forms: {', '.join(ACCEPTED_FORMS)}"
