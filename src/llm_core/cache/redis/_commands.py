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
from typing import Any

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
    "reply_scan",
    "reply_touch",
    "scan_pattern",
    "settings_of",
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
        try:
            key = (raw if isinstance(raw, str) else raw.decode("utf-8"))[strip:]
        except UnicodeDecodeError:
            continue
        if is_valid_key(key):
            into.add(key)
    return int(cursor)


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
        raise ConfigurationError(
            f"not a Redis URL redis-py accepts: {exc}; use redis://[[user]:password@]host[:port]"
            "[/db], rediss://... (TLS) or unix:///path/to/socket[?db=N]"
        ) from exc
