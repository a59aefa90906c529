"""The ``llm_core`` logger family (private; the logger names are the public part).

``llm_core`` is the root, with a ``NullHandler`` (added in the package ``__init__``) so a library
user sees nothing until they configure logging.  Each layer logs under its own child
(``llm_core.cache``, ``llm_core.sessions``, ``llm_core.workflow``, ``llm_core.bridges``), so
``logging.getLogger("llm_core.workflow").setLevel(...)`` tunes one layer.

What is logged:

* every ``warn`` diagnostic, at ``WARNING``;
* every failure that is swallowed and only reported (a hook that raised, a session that could not
  be put back or discarded), at ``ERROR`` with the exception (``exc_info``).

A resume token is a bearer secret and is never logged: where a record needs to name a session it
carries :func:`token_id` (the first 12 hex digits of the token's SHA-256), which the
``llm-core sessions`` commands and the diagnostics' tokens can be matched against.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any, Protocol


class Diagnostic(Protocol):
    """What is logged of a diagnostic (``llm_core.workflow.Diagnostic`` has these fields;
    typed structurally so this module imports no layer)."""

    @property
    def level(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def data(self) -> Mapping[str, Any] | None: ...


__all__ = ["ROOT", "get_logger", "log_diagnostic", "redacted", "token_id"]

ROOT = "llm_core"

_LEVELS = {"warn": logging.WARNING, "error": logging.ERROR}


def get_logger(layer: str) -> logging.Logger:
    """The logger of one layer: ``llm_core.<layer>``."""
    return logging.getLogger(f"{ROOT}.{layer}")


def token_id(token: object) -> str:
    """A short, non-reversible name for a resume token, safe to log."""
    text = token if isinstance(token, str) else str(token)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def redacted(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """``data`` with any ``token`` replaced by its ``token_id``."""
    if not data:
        return {}
    clean = {k: v for k, v in data.items() if k != "token"}
    if "token" in data:
        clean["token_id"] = token_id(data["token"])
    return clean


def log_diagnostic(
    logger: logging.Logger,
    diagnostic: Diagnostic,
    exc: BaseException | None = None,
    *,
    level: int | None = None,
    token: object = None,
) -> None:
    """Log ``diagnostic`` at its own level (``warn`` → WARNING, ``error`` → ERROR) unless
    ``level`` is given; ``exc`` is attached as ``exc_info``.  ``token`` (or a ``token`` in the
    diagnostic's data) is replaced by its ``token_id`` wherever it would appear in the message.
    The record carries the redacted diagnostic as ``record.llm_core_diagnostic`` for structured
    handlers."""
    at = _LEVELS.get(diagnostic.level, logging.WARNING) if level is None else level
    if not logger.isEnabledFor(at):
        return
    data = redacted(diagnostic.data)
    message = diagnostic.message
    for secret in (token, (diagnostic.data or {}).get("token")):
        if secret is not None and str(secret) and str(secret) in message:
            message = message.replace(str(secret), f"<token {token_id(secret)}>")
    where = "".join(f" {k}={v}" for k, v in data.items())
    logger.log(
        at,
        "[%s] %s%s",
        diagnostic.code,
        message,
        f" ({where.strip()})" if where else "",
        exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None,
        extra={
            "llm_core_diagnostic": {
                "level": diagnostic.level,
                "kind": diagnostic.kind,
                "code": diagnostic.code,
                "message": message,
                "data": data or None,
            }
        },
    )
