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

import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
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


def _fast_encoder() -> Callable[[Any], str]:
    """``_encoder.encode`` without its per-call set-up: the C encoder ``JSONEncoder`` builds on
    every call, built once with the same options.  No cycle check (``markers=None``): every
    value is walked first by :func:`_tree_problem`, which refuses a cycle as too deep.  Falls
    back to ``_encoder.encode`` where there is no C encoder (or it changed shape)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    try:
        chunks = make(  # type: ignore[misc]
            None, _encoder.default, json.encoder.encode_basestring, None, ":", ",",
            False, False, False,
        )  # fmt: skip
        sample: list[Any] = [{"a": [1, 2.5, None, True]}, "é\u2028"]
        if "".join(chunks(sample, 0)) != _encoder.encode(sample):
            raise ValueError("not the same JSON")
    except Exception:  # no C encoder: the public path
        return _encoder.encode
    join = "".join
    return lambda value: join(chunks(value, 0))


_encode = _fast_encoder()


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in stored JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf - inf is nan (the only way JSON text reads as non-finite)
        raise ValueError(f"number {text[:20]} is out of float range")
    return value


_decoder = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)
_decode = _decoder.decode
_scan = _decoder.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__
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
    if types is not None and (
        problem == "" or (type(value) not in _PLAIN and not isinstance(value, _CONTAINERS))
    ):  # a tree of plain JSON (problem None) needs no tags: no walk
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
        try:  # the scanner itself: JSON text as llm-core writes it (no surrounding whitespace)
            value, end = _scan(text, 0)
        except StopIteration:
            end = -1
        if end != len(text):  # the full decoder: whitespace allowed, or its precise error
            value = _decode(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidSnapshotError(f"stored session is not valid JSON: {exc}"[:300]) from None
    limit = MAX_DEPTH + 4  # + the record's own levels
    # fewer openers than the limit cannot nest past it: skip the walk (the common case)
    if text.count("[") + text.count("{") > limit and not json_depth_ok(value, limit):
        raise InvalidSnapshotError(f"stored session nests deeper than {MAX_DEPTH} levels")
    return value


NOT_EXACT: Any = object()
"""What :func:`decode_last_member` returns when the text is not in the exact layout."""


def decode_last_member(text: str, start: int) -> Any:
    """The JSON value from ``start`` to the closing ``}`` that ends ``text`` (the last member
    of an object whose members before ``start`` the caller has matched), checked as
    :func:`decode_json` checks; :data:`NOT_EXACT` for anything else, even valid JSON (then
    decode the whole text, for its value or its precise error)."""
    try:
        value, end = _scan(text, start)
    except (StopIteration, ValueError, RecursionError):
        return NOT_EXACT
    if end != len(text) - 1 or text[end] != "}":
        return NOT_EXACT
    limit = MAX_DEPTH + 4  # as decode_json
    if text.count("[") + text.count("{") > limit and not json_depth_ok(value, limit):
        return NOT_EXACT
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

    __slots__ = ("_keys", "_pads", "signing")

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
        self._pads = tuple(map(_hmac_pads, keys))
        self.signing = bool(keys)

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The secret keys, the signing one first (for deriving the encryption keys)."""
        return self._keys

    def wrap(self, storage_key: str, body: bytes) -> bytes:
        """The stored bytes for ``body`` under ``storage_key``."""
        sig = _mac(self._pads[0], storage_key, body) if self._pads else _UNSIGNED
        return b"".join((MAGIC, sig, b"\n", body))

    def wrap_text(self, storage_key: str, body: str) -> bytes:
        """:meth:`wrap` for a body of JSON text (``SnapshotSerializationError`` if it is not
        UTF-8: a lone surrogate)."""
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate: JSON text, but not UTF-8
            raise SnapshotSerializationError(
                f"a string holds a lone surrogate ({exc.object[exc.start : exc.end]!r}), which "
                "cannot be stored as UTF-8; encode it or drop it before pausing"
            ) from None
        sig = _mac(self._pads[0], storage_key, data) if self._pads else _UNSIGNED
        return b"".join((MAGIC, sig, b"\n", data))

    def unwrap(self, storage_key: str, data: bytes) -> bytes:
        """The verified body; ``InvalidSnapshotError`` if the envelope or signature is wrong."""
        if not data.startswith(MAGIC):
            raise InvalidSnapshotError("stored session is not an llm-core/2 record")
        end = data.find(b"\n", len(MAGIC))
        if end < 0:
            raise InvalidSnapshotError("stored session record is truncated")
        sig, body = data[len(MAGIC) : end], data[end + 1 :]
        if not self._pads:
            return body
        if sig == _UNSIGNED:
            raise InvalidSnapshotError("stored session is not signed, and this runtime has a key")
        for pads in self._pads:
            if hmac.compare_digest(sig, _mac(pads, storage_key, body)):
                return body
        raise InvalidSnapshotError(
            "stored session's signature does not match (edited, copied under another key, "
            "or signed with a key this runtime does not have)"
        )


# HMAC-SHA256 (RFC 2104) with the key's inner and outer hash states computed once per key:
# each MAC then copies two states instead of keying a fresh HMAC (the same bytes as
# ``hmac.digest(key, msg, "sha256")``, in half the time).
_BLOCK = 64  # SHA-256's block size
_Pads = tuple[Any, Any]  # (inner, outer): hashlib sha256 objects, keyed


def _hmac_pads(key: bytes) -> _Pads:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(key.translate(hmac.trans_36)), hashlib.sha256(
        key.translate(hmac.trans_5C)
    )


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_b64 = binascii.b2a_base64


def _mac(pads: _Pads, storage_key: str, body: bytes) -> bytes:
    """The signature of ``body`` under ``storage_key``: urlsafe base64 of the HMAC, unpadded."""
    inner, outer = pads[0].copy(), pads[1].copy()
    inner.update(storage_key.encode("utf-8") + b"\n" + body)
    outer.update(inner.digest())
    return _b64(outer.digest(), newline=False)[:_SIG_LEN].translate(_URLSAFE)
