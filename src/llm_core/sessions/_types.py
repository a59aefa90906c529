"""Typed state that survives a pause: an allow-listed, versioned encoding inside plain JSON.

A value JSON cannot hold is stored as ``{"$t": TAG, "v": ...}`` (models also carry ``"name"``).
The tags are a fixed list: ``datetime``, ``date``, ``time``, ``uuid``, ``decimal``, ``bytes``,
``tuple``, ``lc_message`` (every LangChain message type, with tool calls and content blocks,
rebuilt by LangChain's own fixed type → class table), ``model`` (a pydantic model the runtime
registered with ``state_types=[...]``, looked up by name in that registry) and ``dict`` (a
user dict that itself has a ``"$t"`` key, escaped).  Nothing read is imported or constructed
unless its tag -- and, for models, its name -- is on the list: anything else is
``InvalidSnapshotError`` (``session_invalid``).  A value of an unregistered type is refused at
pause with ``SnapshotSerializationError`` naming its path in the state.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import sys
import uuid
from collections.abc import Iterable
from typing import Any

from llm_core.errors import ConfigurationError, InvalidSnapshotError, SnapshotSerializationError

__all__ = ["TAG", "StateTypes"]

TAG = "$t"
_PLAIN = frozenset({str, int, float, bool, type(None)})
_SIMPLE: dict[type, tuple[str, Any]] = {
    dt.datetime: ("datetime", dt.datetime.isoformat),
    dt.date: ("date", dt.date.isoformat),
    dt.time: ("time", dt.time.isoformat),
    uuid.UUID: ("uuid", str),
    decimal.Decimal: ("decimal", str),
    bytes: ("bytes", lambda b: base64.b64encode(b).decode("ascii")),
}
_REVIVE: dict[str, Any] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "uuid": uuid.UUID,
    "decimal": decimal.Decimal,
    "bytes": lambda s: base64.b64decode(s.encode("ascii"), validate=True),
}


def _langchain_message_type() -> type | None:
    """LangChain's ``BaseMessage`` if LangChain is loaded (a state cannot hold one otherwise)."""
    module = sys.modules.get("langchain_core.messages")
    return getattr(module, "BaseMessage", None) if module is not None else None


class StateTypes:
    """The allow-list of typed values a runtime's snapshots may hold beyond plain JSON."""

    __slots__ = ("_by_type", "_models")

    def __init__(self, models: Iterable[type] = ()) -> None:
        self._models: dict[str, type] = {}
        self._by_type: dict[type, str] = {}
        for model in models:
            if not (
                isinstance(model, type)
                and callable(getattr(model, "model_validate", None))
                and callable(getattr(model, "model_dump", None))
            ):
                raise ConfigurationError(
                    f"state_types takes pydantic model classes, got {model!r:.80}"
                )
            name = f"{model.__module__}.{model.__qualname__}"
            self._models[name] = model
            self._by_type[model] = name

    # --- at pause ------------------------------------------------------------------------

    def encode(self, value: Any, where: str) -> Any:
        """``value`` as plain JSON values with tags; ``SnapshotSerializationError`` names the
        path of a value that is not allowed."""
        return self._encode(value, where, "$")

    def _encode(self, value: Any, where: str, path: str) -> Any:
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is dict or isinstance(value, dict):
            items = {k: self._encode(v, where, f"{path}.{k}") for k, v in value.items()}
            return {TAG: "dict", "v": items} if TAG in value else items
        if kind is list or isinstance(value, list):
            return [self._encode(v, where, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind is tuple:
            members = [self._encode(v, where, f"{path}[{i}]") for i, v in enumerate(value)]
            return {TAG: "tuple", "v": members}
        simple = _SIMPLE.get(kind)
        if simple is not None:
            return {TAG: simple[0], "v": simple[1](value)}
        name = self._by_type.get(kind)
        if name is not None:
            data = value.model_dump()
            return {TAG: "model", "name": name, "v": self._encode(data, where, path)}
        message = _langchain_message_type()
        if message is not None and isinstance(value, message):
            to_dict: Any = sys.modules["langchain_core.messages"].message_to_dict
            return {TAG: "lc_message", "v": self._encode(to_dict(value), where, path)}
        raise SnapshotSerializationError(
            f"{where}: the {kind.__name__} at {path} cannot be stored; keep state to JSON "
            "values, datetime/date/time/UUID/Decimal/bytes/tuple, LangChain messages, or a "
            "pydantic model registered with state_types=[...]"
        )

    # --- at resume -----------------------------------------------------------------------

    def decode(self, value: Any) -> Any:
        """Revive tagged values; ``InvalidSnapshotError`` for a tag or name not allowed."""
        kind = type(value)
        if kind is list:
            return [self.decode(v) for v in value]
        if kind is not dict:
            return value
        tag = value.get(TAG)
        if tag is None:
            return {k: self.decode(v) for k, v in value.items()}
        inner = value.get("v")
        try:
            return self._revive(tag, inner, value)
        except InvalidSnapshotError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as exc:
            raise InvalidSnapshotError(f"stored {tag!r:.40} value is malformed: {exc}") from None

    def _revive(self, tag: object, inner: Any, value: dict[str, Any]) -> Any:
        if tag == "dict" and type(inner) is dict:
            return {k: self.decode(v) for k, v in inner.items()}
        if tag == "tuple" and type(inner) is list:
            return tuple(self.decode(v) for v in inner)
        revive = _REVIVE.get(tag) if type(tag) is str else None
        if revive is not None and type(inner) is str:
            return revive(inner)
        if tag == "model":
            model = self._models.get(value.get("name"))  # type: ignore[arg-type]
            if model is None:
                raise InvalidSnapshotError(
                    f"stored state names a model this runtime does not allow: "
                    f"{value.get('name')!r:.80} (register it with state_types=[...])"
                )
            return model.model_validate(self.decode(inner))  # type: ignore[attr-defined]
        if tag == "lc_message" and type(inner) is dict:
            try:
                from langchain_core.messages import messages_from_dict
            except ImportError:
                raise InvalidSnapshotError(
                    "stored state holds LangChain messages; install langchain-core to read it"
                ) from None
            return messages_from_dict([self.decode(inner)])[0]  # a fixed type → class table
        raise InvalidSnapshotError(f"stored state has a value tagged {tag!r:.40}, not allowed")
