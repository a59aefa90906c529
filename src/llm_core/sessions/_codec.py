"""Safe JSON for stored sessions, and the signed envelope every record is stored in.

Everything read from a cache is hostile until verified:

* JSON only (never pickle, never a name imported from the data); ``NaN``/``Infinity`` and
  numbers past float range are refused on read as on write; nesting deeper than
  :data:`MAX_DEPTH` is refused at pause (``SnapshotSerializationError``) and on read
  (``InvalidSnapshotError``), so no read path can hit ``RecursionError``.
* The envelope: ``b"llm-core/2 " + signature + b"\\n" + body``.  With a secret key the
  signature is an HMAC-SHA256 of the storage key and the body, so a record edited in the
  cache, or copied under another key, is refused; ``previous_keys`` still verify (rotation).
  Without a key the signature is ``-`` and only the structure is checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llm_core.errors import ConfigurationError, InvalidSnapshotError, SnapshotSerializationError

if TYPE_CHECKING:
    from llm_core.sessions._types import StateTypes

__all__ = ["MAGIC", "MAX_DEPTH", "Signer", "decode_json", "encode_json", "json_depth_ok"]

MAGIC = b"llm-core/2 "
MAX_DEPTH = 100
"""The deepest nesting of lists and dicts a snapshot may hold (state, payload, schema)."""
_UNSIGNED = b"-"
_SIG_LEN = 43  # urlsafe base64 of 32 bytes, unpadded

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_encode = _encoder.encode


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in stored JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of float range")
    return value


_decoder = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)
_decode = _decoder.decode
_CONTAINERS = (dict, list, tuple)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _tree_problem(value: Any, limit: int, str_keys: bool) -> str | None:
    """Why ``value`` cannot be stored as plain JSON (too deep, a non-str dict key), ``""`` if it
    holds values plain JSON cannot (a tuple, a datetime, a ``"$t"`` key: typed encoding needed),
    else ``None``.  Iterative, so a deep structure cannot exhaust the interpreter's stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    push = stack.append
    typed = False
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return f"it nests deeper than {limit} levels"
        if type(item) is dict or isinstance(item, dict):
            if "$t" in item:
                typed = True
            for key, child in item.items():
                if str_keys and not isinstance(key, str):
                    return f"keys must be str, got {type(key).__name__} key {key!r:.40}"
                if type(child) not in _PLAIN:
                    if isinstance(child, _CONTAINERS):
                        push((child, depth + 1))
                    typed = typed or not isinstance(child, dict | list)
        else:
            typed = typed or type(item) is tuple
            for child in item:
                if type(child) not in _PLAIN:
                    if isinstance(child, _CONTAINERS):
                        push((child, depth + 1))
                    typed = typed or not isinstance(child, dict | list)
    return "" if typed else None


def json_depth_ok(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True if ``value`` nests dicts/lists/tuples at most ``limit`` deep."""
    return not isinstance(value, _CONTAINERS) or not _tree_problem(value, limit, False)


def encode_json(value: Any, what: str, types: StateTypes | None = None) -> str:
    """Compact JSON text; ``SnapshotSerializationError`` naming ``what`` if it cannot be stored
    (too deep, a non-str key, a non-finite number, a type that is neither JSON nor allowed by
    ``types``, see :mod:`._types`)."""
    problem = _tree_problem(value, MAX_DEPTH, True) if isinstance(value, _CONTAINERS) else None
    if problem:
        raise SnapshotSerializationError(f"{what} ({problem})")
    if types is not None and (problem == "" or type(value) not in _PLAIN):
        value = types.encode(value, what)
    try:
        return _encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SnapshotSerializationError(
            f"{what} ({exc}) cannot be stored as JSON; keep it to dict/list/str/int/float/"
            "bool/None with str keys and finite numbers"
        ) from None


def decode_json(text: bytes | str) -> Any:
    """Parse stored JSON; ``InvalidSnapshotError`` for anything but plain, finite, bounded JSON."""
    try:
        text = text.decode("utf-8") if isinstance(text, bytes) else text
        value = _decode(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidSnapshotError(f"stored session is not valid JSON: {exc}"[:300]) from None
    limit = MAX_DEPTH + 4  # + the record's own levels
    # fewer openers than the limit cannot nest past it: skip the walk (the common case)
    if text.count("[") + text.count("{") > limit and not json_depth_ok(value, limit):
        raise InvalidSnapshotError(f"stored session nests deeper than {MAX_DEPTH} levels")
    return value


def _as_key(secret: str | bytes, what: str) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes) or len(secret) < 16:
        raise ConfigurationError(
            f"{what} must be str or bytes of at least 16 bytes (e.g. secrets.token_urlsafe(32))"
        )
    return secret


class Signer:
    """Wraps record bodies in the envelope and checks it on the way back."""

    __slots__ = ("_keys", "signing")

    def __init__(
        self, secret_key: str | bytes | None = None, previous_keys: Sequence[str | bytes] = ()
    ) -> None:
        if isinstance(previous_keys, str | bytes):
            raise ConfigurationError("previous_keys is a list of keys, not one key")
        if secret_key is None and previous_keys:
            raise ConfigurationError("previous_keys needs a secret_key to sign new records")
        keys = [] if secret_key is None else [_as_key(secret_key, "secret_key")]
        keys += [_as_key(k, "each of previous_keys") for k in previous_keys]
        self._keys = tuple(keys)
        self.signing = bool(keys)

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The secret keys, the signing one first (for deriving the encryption keys)."""
        return self._keys

    def _mac(self, key: bytes, storage_key: str, body: bytes) -> bytes:
        digest = hmac.new(key, storage_key.encode("utf-8") + b"\n" + body, hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest())[:_SIG_LEN]

    def wrap(self, storage_key: str, body: bytes) -> bytes:
        """The stored bytes for ``body`` under ``storage_key``."""
        sig = self._mac(self._keys[0], storage_key, body) if self._keys else _UNSIGNED
        return b"".join((MAGIC, sig, b"\n", body))

    def unwrap(self, storage_key: str, data: bytes) -> bytes:
        """The verified body; ``InvalidSnapshotError`` if the envelope or signature is wrong."""
        if not data.startswith(MAGIC):
            raise InvalidSnapshotError("stored session is not an llm-core/2 record")
        end = data.find(b"\n", len(MAGIC))
        if end < 0:
            raise InvalidSnapshotError("stored session record is truncated")
        sig, body = data[len(MAGIC) : end], data[end + 1 :]
        if not self._keys:
            return body
        if sig == _UNSIGNED:
            raise InvalidSnapshotError("stored session is not signed, and this runtime has a key")
        for key in self._keys:
            if hmac.compare_digest(sig, self._mac(key, storage_key, body)):
                return body
        raise InvalidSnapshotError(
            "stored session's signature does not match (edited, copied under another key, "
            "or signed with a key this runtime does not have)"
        )
