"""Optional encryption at rest of a snapshot's state and payload (AES-256-GCM, extra ``crypto``).

With ``encrypt=True`` (and a ``secret_key``), the state and the payload are each stored as
``{"$sealed": "<base64 nonce + ciphertext>"}``; the storage key is the associated data, so a
sealed value moved under another token does not open.  The AES key is derived from the secret
key (HMAC-SHA256 with a fixed label), so signing and encryption share one configured secret;
``previous_keys`` open older records.  The record's head (token, kind, times, recipe, step) and
its ``expects`` schema stay readable, so listings and forms work without opening anything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence
from typing import Any

from llm_core.errors import ConfigurationError, InvalidSnapshotError, MissingDependencyError

__all__ = ["SEALED", "Sealer", "is_sealed"]

SEALED = "$sealed"
_LABEL = b"llm-core/2 aes-256-gcm"
_NONCE = 12


def _aesgcm() -> tuple[Any, type[Exception]]:
    try:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:  # pragma: no cover - the message is what matters
        raise MissingDependencyError("encrypted sessions", "crypto", "cryptography") from exc
    return AESGCM, InvalidTag


class Sealer:
    """Seals and opens JSON texts with keys derived from the runtime's secret keys."""

    __slots__ = ("_ciphers", "_invalid")

    def __init__(self, secret_keys: Sequence[bytes]) -> None:
        if not secret_keys:
            raise ConfigurationError("encrypt=True needs a secret_key to derive the AES key from")
        aesgcm, self._invalid = _aesgcm()
        self._ciphers = tuple(
            aesgcm(hmac.new(key, _LABEL, hashlib.sha256).digest()) for key in secret_keys
        )

    def seal(self, text: str, storage_key: str) -> str:
        """``{"$sealed": ...}`` JSON text for ``text``, bound to ``storage_key``."""
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[0].encrypt(nonce, text.encode("utf-8"), storage_key.encode())
        return '{"' + SEALED + '":"' + base64.b64encode(nonce + sealed).decode("ascii") + '"}'

    def open(self, value: object, storage_key: str) -> str:
        """The JSON text inside a ``{"$sealed": ...}`` value; ``InvalidSnapshotError`` if it
        is malformed, or opens with none of the keys (edited, moved, or another key's)."""
        sealed = value.get(SEALED) if type(value) is dict and len(value) == 1 else None
        if type(sealed) is not str:
            raise InvalidSnapshotError("stored session has a malformed sealed field")
        try:
            raw = base64.b64decode(sealed.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise InvalidSnapshotError("stored session has a malformed sealed field") from None
        nonce, body = raw[:_NONCE], raw[_NONCE:]
        for cipher in self._ciphers:
            try:
                return str(cipher.decrypt(nonce, body, storage_key.encode()).decode("utf-8"))
            except self._invalid:  # a wrong key, or edited bytes: try the next key
                continue
            except UnicodeDecodeError:
                break
        raise InvalidSnapshotError(
            "stored session's sealed state does not open (edited, moved under another token, "
            "or sealed with a key this runtime does not have)"
        )


def is_sealed(value: object) -> bool:
    """True if ``value`` is a sealed field as stored."""
    return type(value) is dict and len(value) == 1 and SEALED in value
