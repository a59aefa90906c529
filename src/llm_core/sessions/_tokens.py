"""Resume tokens: 128 random bits (``os.urandom``, as :mod:`secrets`), prefixed with their expiry.

A token looks like ``18bcfe6eea0.SKuzH-HIm9yJTV4A_2D0zA``: the expiry in milliseconds since
the epoch in hexadecimal, a dot, then 16 random bytes in URL-safe base64, unpadded (what
``secrets.token_urlsafe(16)`` gives).  Because the expiry travels in the token, a resume that
finds nothing stored can still tell an **expired** session from an **unknown or already used**
one, and a string of the wrong shape is **malformed** before any cache is asked.  The expiry
is not secret and needs no signature: it is part of the cache key, so a forged expiry names a
key that does not exist.
"""

from __future__ import annotations

import binascii
import math
import os
import re

__all__ = ["TOKEN_RANDOM_BYTES", "describe_token_shape", "is_token", "mint_token", "token_expiry"]

TOKEN_RANDOM_BYTES = 16  # 128 bits
_SHAPE = re.compile(r"([0-9a-f]{1,16})\.[A-Za-z0-9_-]{22}")
_shape = re.compile(r"[0-9a-f]{1,16}\.[\w-]{22}", re.ASCII).fullmatch  # the same, no group
_urandom = os.urandom
_b64 = binascii.b2a_base64
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_RANDOM_CHARS = 22  # 16 bytes in base64, without its "==" padding
_ceil = math.ceil
_MAX_STAMP = 0xFFFF_FFFF_FFFF_FFFF  # 16 hex digits, the most the shape allows (~5.8e8 years)


def mint_token(expires_at: float) -> str:
    """A fresh token for a session that expires at ``expires_at`` (wall-clock seconds); an
    expiry past what 16 hex digits hold is written as that maximum."""
    stamp = max(0, _ceil(min(expires_at * 1000, _MAX_STAMP)))
    # secrets.token_urlsafe(16), without its layers: os.urandom is what secrets draws from
    random = _b64(_urandom(TOKEN_RANDOM_BYTES), newline=False).translate(_URLSAFE)
    return f"{stamp:x}.{random[:_RANDOM_CHARS].decode('ascii')}"


def is_token(text: str) -> bool:
    """True if ``text`` has a token's shape (a quicker test than :func:`token_expiry`)."""
    return _shape(text) is not None


def token_expiry(token: str) -> float | None:
    """The expiry (seconds) a well-formed token carries, or ``None`` if it is malformed."""
    match = _SHAPE.fullmatch(token)
    if match is None:
        return None
    return int(match.group(1), 16) / 1000


def describe_token_shape() -> str:
    """What a well-formed token looks like, for error messages."""
    return "'<expiry in hex>.<22 URL-safe characters>' as returned in Paused.token"
