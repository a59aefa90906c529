"""Resume tokens: 128 random bits from :mod:`secrets`, prefixed with their expiry.

A token looks like ``m5x2k9qz.Qx3L...`` (the expiry in milliseconds since the epoch in base 36,
a dot, then ``secrets.token_urlsafe(16)``).  Because the expiry travels in the token, a resume
that finds nothing stored can still tell an **expired** session from an **unknown or already
used** one, and a string of the wrong shape is **malformed** before any cache is asked.  The
expiry is not secret and needs no signature: it is part of the cache key, so a forged expiry
names a key that does not exist.
"""

from __future__ import annotations

import math
import re
import secrets

__all__ = ["TOKEN_RANDOM_BYTES", "describe_token_shape", "mint_token", "token_expiry"]

TOKEN_RANDOM_BYTES = 16  # 128 bits
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_SHAPE = re.compile(r"([0-9a-z]{1,13})\.[A-Za-z0-9_-]{22}")
_token_urlsafe = secrets.token_urlsafe


def _base36(number: int) -> str:
    if number <= 0:
        return "0"
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_DIGITS[rest])
    return "".join(reversed(digits))


def mint_token(expires_at: float) -> str:
    """A fresh token for a session that expires at ``expires_at`` (wall-clock seconds)."""
    return f"{_base36(math.ceil(expires_at * 1000))}.{_token_urlsafe(TOKEN_RANDOM_BYTES)}"


def token_expiry(token: str) -> float | None:
    """The expiry (seconds) a well-formed token carries, or ``None`` if it is malformed."""
    match = _SHAPE.fullmatch(token)
    if match is None:
        return None
    return int(match.group(1), 36) / 1000


def describe_token_shape() -> str:
    """What a well-formed token looks like, for error messages."""
    return "'<expiry in base 36>.<22 URL-safe characters>' as returned in Paused.token"
