"""Key, TTL and value validation, written once and used by every backend.

Each check raises before any write, so an invalid call never changes a cache.  The common
case (a short printable ``str``, ``bytes``, ``None`` or a plain float TTL) is decided with a few
C-level checks; the slow path only runs to build a precise error message.
"""

from __future__ import annotations

import math
import re
from typing import Any

from llm_core.errors import InvalidKeyError, InvalidTTLError

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_PAGE",
    "check_key",
    "check_page",
    "check_ttl",
    "check_value",
    "is_valid_key",
]

MAX_KEY_BYTES = 1024
MAX_PAGE = 1000
"""The most entries one ``IndexedCache.page`` call returns."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_INF = math.inf


def is_valid_key(key: object) -> bool:
    """True if ``key`` is a non-empty ``str`` of ≤ 1024 UTF-8 bytes without control characters.

    A ``str`` that cannot be encoded as UTF-8 (a lone surrogate) is not a valid key.
    """
    if not isinstance(key, str) or not key:
        return False
    # Fast path: a printable key of ≤ 256 characters is ≤ 1024 UTF-8 bytes and has no control
    # or surrogate characters.  isprintable() also rejects some valid keys (e.g. U+00A0), so
    # a "no" here only sends the key to the precise check below.
    if len(key) <= MAX_KEY_BYTES // 4 and key.isprintable():
        return True
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return size <= MAX_KEY_BYTES and _CONTROL.search(key) is None


def check_key(key: object) -> str:
    """Return ``key`` if valid, else raise :class:`InvalidKeyError` saying why."""
    if is_valid_key(key):
        return key  # type: ignore[return-value]
    raise InvalidKeyError(_key_problem(key))


def _key_problem(key: object) -> str:
    allowed = (
        f"keys must be non-empty str of at most {MAX_KEY_BYTES} UTF-8 bytes "
        "without control characters"
    )
    if not isinstance(key, str):
        return f"invalid cache key of type {type(key).__name__}: {allowed}"
    if not key:
        return f"empty cache key: {allowed}"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:
        return f"cache key {key[:40]!r} is not valid UTF-8 at index {exc.start}: {allowed}"
    if size > MAX_KEY_BYTES:
        return f"cache key of {size} UTF-8 bytes is too long: {allowed}"
    match = _CONTROL.search(key)
    position = match.start() if match else -1
    return f"cache key {key[:40]!r} has a control character at index {position}: {allowed}"


def check_ttl(ttl: object) -> float | None:
    """Return ``ttl`` as float seconds (or ``None``), else raise :class:`InvalidTTLError`.

    ``bool`` is rejected even though it is an ``int``: ``ttl=True`` is almost surely a bug.
    """
    if ttl is None:
        return None
    if type(ttl) is float and 0 < ttl < _INF:
        return ttl
    return _ttl_slow(ttl)


def _ttl_slow(ttl: Any) -> float:
    allowed = "a TTL must be None (no expiry) or a finite number of seconds greater than 0"
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise InvalidTTLError(f"invalid TTL of type {type(ttl).__name__}: {allowed}")
    try:
        seconds = float(ttl)
    except OverflowError:  # an int past float's range: no clock can add it
        raise InvalidTTLError(f"invalid TTL past float range: {allowed}") from None
    if not (0 < seconds < _INF):
        raise InvalidTTLError(f"invalid TTL {ttl!r}: {allowed}")
    return seconds


def check_value(value: object) -> bytes:
    """Return ``value`` if it is ``bytes``, else raise ``TypeError``.

    ``bytearray`` and ``memoryview`` are refused too: they are mutable or borrowed, and a cache
    must hold a value nobody can change after the call.
    """
    if isinstance(value, bytes):
        return value
    raise TypeError(
        f"cache values must be bytes, got {type(value).__name__}; "
        "encode text first (e.g. value.encode('utf-8')) or convert with bytes(value)"
    )


def check_page(
    prefix: object, after: object, labels: object, limit: object
) -> tuple[str, tuple[float, str] | None, tuple[str | None, str | None], int]:
    """The arguments of ``IndexedCache.page``, checked: ``ValueError``/``TypeError`` saying why."""
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"an index prefix is a non-empty str, got {prefix!r:.60}")
    if after is not None:
        if not (
            type(after) is tuple
            and len(after) == 2
            and isinstance(after[0], int | float)
            and not isinstance(after[0], bool)
            and math.isfinite(after[0])
            and isinstance(after[1], str)
        ):
            raise ValueError("after is None or a (deadline: finite float, key: str) position")
        after = (float(after[0]), after[1])
    if not (
        type(labels) is tuple
        and len(labels) == 2
        and all(label is None or isinstance(label, str) for label in labels)
    ):
        raise ValueError("labels is a pair of str-or-None filters, e.g. (None, 'human')")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit is an int from 1 to {MAX_PAGE}, got {limit!r:.40}")
    return prefix, after, labels, limit
