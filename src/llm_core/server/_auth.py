"""API keys (bearer), the inbox's signed session cookie and CSRF tokens: stdlib only (HMAC).

A key file is JSON or TOML mapping each key to the reviewer's name (top level or under
``[keys]``); ``LLM_CORE_API_KEY`` gives one key (reviewer ``$LLM_CORE_API_KEY_NAME`` or
``"reviewer"``).  Cookies and CSRF tokens are HMAC-SHA256 signed with a key derived from the
server's secret (so several server processes with the same secret accept each other's), or a
random one per process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from llm_core.errors import ConfigurationError

__all__ = [
    "API_KEY_ENV",
    "Keys",
    "Signer",
    "is_loopback",
    "load_keys",
]

API_KEY_ENV = "LLM_CORE_API_KEY"
API_KEY_NAME_ENV = "LLM_CORE_API_KEY_NAME"
MIN_KEY_LENGTH = 16


@dataclass(frozen=True)
class Keys:
    """API key → reviewer name.  Empty: no authentication (loopback only)."""

    names: dict[str, str]

    def __bool__(self) -> bool:
        return bool(self.names)

    def who(self, key: str | None) -> str | None:
        """The reviewer holding ``key`` (compared in constant time), else ``None``."""
        if not key:
            return None
        found = None
        given = key.encode("utf-8", "surrogatepass")
        for candidate, name in self.names.items():
            if hmac.compare_digest(candidate.encode("utf-8"), given):
                found = name
        return found


def load_keys(path: str | None) -> Keys:
    """Keys from ``path`` (JSON or TOML), else ``$LLM_CORE_API_KEY``, else none."""
    if path is None:
        key = os.environ.get(API_KEY_ENV, "").strip()
        if not key:
            return Keys({})
        _check_key(key, API_KEY_ENV)
        return Keys({key: os.environ.get(API_KEY_NAME_ENV, "").strip() or "reviewer"})
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"--api-keys {path!r}: {exc}") from None
    try:
        data: object = json.loads(text)
    except ValueError:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"--api-keys {path!r}: neither JSON nor TOML: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("keys"), dict):
        data = data["keys"]
    if not isinstance(data, dict) or not data:
        raise ConfigurationError(f"--api-keys {path!r}: expected a table of key = reviewer name")
    names: dict[str, str] = {}
    for key, name in data.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"--api-keys {path!r}: each key maps to a reviewer's name")
        _check_key(key, f"--api-keys {path!r}")
        names[key] = name.strip()
    return Keys(names)


def _check_key(key: str, where: str) -> None:
    if len(key) < MIN_KEY_LENGTH or not key.isprintable() or " " in key:
        raise ConfigurationError(
            f"{where}: an API key must be at least {MIN_KEY_LENGTH} printable characters "
            "without spaces (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')"
        )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs the inbox's cookies and CSRF tokens (HMAC-SHA256, purpose-bound)."""

    def __init__(self, secret: str | bytes | None) -> None:
        if secret is None:
            self._key = secrets.token_bytes(32)
        else:
            raw = secret.encode("utf-8") if isinstance(secret, str) else secret
            self._key = hashlib.sha256(b"llm-core inbox cookies\x00" + raw).digest()

    def _mac(self, purpose: str, data: bytes) -> bytes:
        return hmac.new(self._key, purpose.encode() + b"\x00" + data, hashlib.sha256).digest()

    def sign(self, purpose: str, value: dict[str, object]) -> str:
        body = json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return _b64(body) + "." + _b64(self._mac(purpose, body))

    def unsign(self, purpose: str, text: str | None) -> dict[str, object] | None:
        """The signed value, or ``None`` if missing, forged, malformed or expired (``exp``)."""
        if not text or text.count(".") != 1:
            return None
        try:
            body, mac = (_unb64(part) for part in text.split("."))
            if not hmac.compare_digest(mac, self._mac(purpose, body)):
                return None
            value = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(value, dict):
            return None
        exp = value.get("exp")
        if not isinstance(exp, int | float) or exp < time.time():
            return None
        return value

    def csrf(self, sid: str) -> str:
        """The CSRF token of the browser session ``sid``."""
        return _b64(self._mac("csrf", sid.encode("utf-8")))

    def check_csrf(self, sid: str | None, token: str | None) -> bool:
        if not sid or not token:
            return False
        return hmac.compare_digest(self.csrf(sid).encode(), token.encode("utf-8", "replace"))
