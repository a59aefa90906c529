"""An allow-listed LangGraph serde for the bridges: stored bytes never name code to run.

LangGraph's ``JsonPlusSerializer`` writes non-JSON values as msgpack *extension* records
``(module, name, payload[, method])`` and, on read, imports ``module`` and calls ``name`` -- both
taken from the data.  Whoever can write to the store can therefore run ``os.system`` in the reader.
(LangGraph's own ``allowed_msgpack_modules`` / ``LANGGRAPH_STRICT_MSGPACK`` turns a blocked record
into its raw payload -- a wrong value served as a hit -- and still resolves allowed names with
``importlib``.)

:class:`AllowListSerializer` writes exactly what LangGraph writes (it encodes with
``JsonPlusSerializer``), but decodes msgpack with its own extension hook: each ``(module, name)``
is looked up in a fixed table of builders (:data:`SAFE_TYPES`: datetime types, UUID, Decimal, sets,
deques, ip addresses, paths, ``langgraph.types.Send``/``TimeoutPolicy``/``Overwrite``, the
LangChain message classes and ``Document``) plus the classes the caller registered (dataclasses,
named tuples, enums, pydantic models).  Nothing else is imported or called: a record naming any
other type makes the *whole* value unreadable (:class:`DisallowedDataError`), never a partial value.

:func:`allow_listed` puts this guard under a caller's serde (``JsonPlusSerializer`` or
``EncryptedSerializer``); :class:`SealedSerializer` is an ``EncryptedSerializer`` whose failures
are :class:`DisallowedDataError` s and which can refuse unencrypted records.
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import pathlib
import uuid
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ormsgpack
from langgraph.checkpoint.serde.base import CipherProtocol, SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from llm_core.errors import CacheFormatError, ConfigurationError

__all__ = [
    "SAFE_TYPES",
    "AllowListSerializer",
    "DisallowedDataError",
    "SealedSerializer",
    "allow_listed",
]

# JsonPlusSerializer's extension codes (langgraph.checkpoint.serde.jsonplus).
_SINGLE_ARG, _POS_ARGS, _KW_ARGS, _METHOD_ARG, _PYDANTIC_V1, _PYDANTIC_V2 = range(6)
_CONSTRUCTOR_CODES = frozenset({_SINGLE_ARG, _POS_ARGS, _KW_ARGS, _PYDANTIC_V1, _PYDANTIC_V2})
_PLAIN_TYPES = frozenset({"null", "bytes", "bytearray", "msgpack"})
_OPTIONS = ormsgpack.OPT_NON_STR_KEYS


class DisallowedDataError(CacheFormatError):
    """Stored bytes name a type outside the allow-list, or are not a record this serde reads."""


class _Refused(Exception):
    """Raised inside the extension hook (ormsgpack replaces it by a bare ``ValueError``)."""


Builder = Callable[[int, Any], Any]
"""Rebuilds one value from ``(extension code, payload)``; raises to refuse."""


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise _Refused(what)


def _str_arg(factory: Callable[[str], Any]) -> Builder:
    def build(code: int, arg: Any) -> Any:
        _need(code == _SINGLE_ARG and isinstance(arg, str), "a str argument")
        return factory(arg)

    return build


def _items(factory: Callable[[list[Any]], Any]) -> Builder:
    def build(code: int, arg: Any) -> Any:
        _need(code == _SINGLE_ARG and isinstance(arg, list), "a list of items")
        return factory(arg)

    return build


def _int_args(factory: Callable[..., Any]) -> Builder:
    def build(code: int, args: Any) -> Any:
        _need(code == _POS_ARGS and isinstance(args, list), "positional arguments")
        _need(all(type(a) is int for a in args), "int arguments")
        return factory(*args)

    return build


def _timezone(code: int, args: Any) -> Any:
    _need(code == _POS_ARGS and isinstance(args, list) and 1 <= len(args) <= 2, "(offset[, name])")
    _need(isinstance(args[0], dt.timedelta), "a timedelta offset")
    _need(len(args) == 1 or isinstance(args[1], str), "a str name")
    return dt.timezone(*args)


_TIME_FIELDS = frozenset({"hour", "minute", "second", "microsecond", "tzinfo", "fold"})


def _time(code: int, kwargs: Any) -> Any:
    _need(code == _KW_ARGS and isinstance(kwargs, dict), "keyword arguments")
    _need(set(kwargs) <= _TIME_FIELDS, "time fields")
    tz = kwargs.get("tzinfo")
    _need(tz is None or isinstance(tz, dt.tzinfo), "a tzinfo")
    return dt.time(**kwargs)


def _path(cls: type[pathlib.PurePath]) -> Builder:
    def build(code: int, parts: Any) -> Any:
        _need(code == _POS_ARGS and isinstance(parts, list), "path parts")
        _need(all(isinstance(p, str) for p in parts), "str path parts")
        return cls(*parts)

    return build


def _send(code: int, args: Any) -> Any:
    from langgraph.types import Send, TimeoutPolicy

    _need(code == _POS_ARGS and isinstance(args, list) and len(args) in (2, 3), "(node, arg)")
    _need(isinstance(args[0], str), "a str node")
    if len(args) == 2:
        return Send(args[0], args[1])
    timeout = args[2]
    _need(isinstance(timeout, (int, float, dt.timedelta, TimeoutPolicy)), "a timeout")
    return Send(args[0], args[1], timeout=timeout)


def _fields(cls: type) -> Builder:
    """``cls(**kwargs)`` for a dataclass, named tuple or pydantic model (keyword arguments only)."""

    def build(code: int, kwargs: Any) -> Any:
        _need(code in (_KW_ARGS, _PYDANTIC_V1, _PYDANTIC_V2), "a record of fields")
        _need(isinstance(kwargs, dict) and all(isinstance(k, str) for k in kwargs), "fields")
        return cls(**kwargs)

    return build


def _registered(cls: type) -> Builder:
    """How a caller-registered class is rebuilt, by the extension code JsonPlus used for it."""

    fields = _fields(cls)

    def build(code: int, arg: Any) -> Any:
        if code == _SINGLE_ARG:  # enums, secrets: cls(value)
            return cls(arg)
        if code == _POS_ARGS:
            _need(isinstance(arg, list), "positional arguments")
            return cls(*arg)
        return fields(code, arg)

    return build


def _name_of(cls: type) -> tuple[str, str]:
    return (cls.__module__, cls.__name__)


def _builtin_table() -> dict[tuple[str, str], Builder]:
    table: dict[tuple[str, str], Builder] = {
        ("datetime", "date"): _int_args(dt.date),
        ("datetime", "timedelta"): _int_args(dt.timedelta),
        ("datetime", "timezone"): _timezone,
        ("datetime", "time"): _time,
        ("uuid", "UUID"): _str_arg(lambda text: uuid.UUID(hex=text)),
        ("decimal", "Decimal"): _str_arg(decimal.Decimal),
        ("zoneinfo", "ZoneInfo"): _str_arg(zoneinfo.ZoneInfo),
        ("builtins", "set"): _items(set),
        ("builtins", "frozenset"): _items(frozenset),
        ("collections", "deque"): _items(deque),
        ("langgraph.types", "Send"): _send,
    }
    for ip in (
        ipaddress.IPv4Address,
        ipaddress.IPv4Interface,
        ipaddress.IPv4Network,
        ipaddress.IPv6Address,
        ipaddress.IPv6Interface,
        ipaddress.IPv6Network,
    ):
        table[_name_of(ip)] = _str_arg(ip)
    for path in (pathlib.Path, pathlib.PosixPath, pathlib.WindowsPath):
        table[_name_of(path)] = _path(path)
        table[("pathlib", path.__name__)] = _path(path)

    from langchain_core.documents import Document
    from langchain_core.messages import (
        AIMessage,
        AIMessageChunk,
        ChatMessage,
        ChatMessageChunk,
        FunctionMessage,
        FunctionMessageChunk,
        HumanMessage,
        HumanMessageChunk,
        RemoveMessage,
        SystemMessage,
        SystemMessageChunk,
        ToolMessage,
        ToolMessageChunk,
    )
    from langgraph.types import Overwrite, TimeoutPolicy

    for model in (
        AIMessage,
        AIMessageChunk,
        ChatMessage,
        ChatMessageChunk,
        FunctionMessage,
        FunctionMessageChunk,
        HumanMessage,
        HumanMessageChunk,
        RemoveMessage,
        SystemMessage,
        SystemMessageChunk,
        ToolMessage,
        ToolMessageChunk,
        Document,
        Overwrite,
        TimeoutPolicy,
    ):
        table[_name_of(model)] = _fields(model)
    return table


SAFE_TYPES: Mapping[tuple[str, str], Builder] = _builtin_table()
"""``(module, name)`` → builder: every type the bridges rebuild without being asked to.
``datetime.datetime`` is rebuilt only through ``datetime.datetime.fromisoformat``."""

_DATETIME = ("datetime", "datetime", "fromisoformat")


def _check_registrable(cls: object) -> type:
    if not isinstance(cls, type) or issubclass(cls, BaseException):
        raise ConfigurationError(
            f"allowed_types takes classes (dataclasses, named tuples, enums, pydantic models), "
            f"got {cls!r}"
        )
    return cls


class AllowListSerializer(SerializerProtocol):
    """LangGraph's serde format, decoded without importing or calling anything named by the data.

    ``allowed_types``: extra classes to rebuild (matched by ``(cls.__module__, cls.__name__)``,
    as ``JsonPlusSerializer`` records them).  Only ``null``, ``bytes``, ``bytearray`` and
    ``msgpack`` records are read (never ``json`` or ``pickle``).
    """

    def __init__(self, allowed_types: Iterable[type] = ()) -> None:
        self._encoder = JsonPlusSerializer(pickle_fallback=False)
        self.registered: tuple[type, ...] = tuple(map(_check_registrable, allowed_types))
        extra = {_name_of(cls): _registered(cls) for cls in self.registered}
        self._table: dict[tuple[str, str], Builder] = {**extra, **SAFE_TYPES}
        self.allowed_names = tuple(sorted(".".join(name) for name in self._table))

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return self._encoder.dumps_typed(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        type_, payload = data
        if type_ not in _PLAIN_TYPES:
            raise DisallowedDataError(f"a {type_!r} record is never read")
        if type_ == "null":
            return None
        if type_ == "bytes":
            return bytes(payload)
        if type_ == "bytearray":
            return bytearray(payload)
        try:  # the common case, without a closure per call
            return ormsgpack.unpackb(payload, ext_hook=self._hook, option=_OPTIONS)
        except Exception:  # refused or malformed: the same again, to say why
            return self._loads_explained(payload)

    def _hook(self, code: int, raw: bytes) -> Any:
        return self._revive(code, raw, self._hook)

    def _loads_explained(self, payload: bytes) -> Any:
        refusals: list[str] = []

        def hook(code: int, raw: bytes) -> Any:
            try:
                return self._revive(code, raw, hook)
            except Exception as exc:
                refusals.append(f"{exc}" if isinstance(exc, _Refused) else f"{exc!r}")
                raise

        try:
            return ormsgpack.unpackb(payload, ext_hook=hook, option=_OPTIONS)
        except Exception as exc:
            reason = refusals[0] if refusals else f"not valid msgpack ({exc})"
            raise DisallowedDataError(f"unreadable msgpack record: {reason}") from None

    def _revive(self, code: int, raw: bytes, hook: Callable[[int, bytes], Any]) -> Any:
        if code != _METHOD_ARG and code not in _CONSTRUCTOR_CODES:
            raise _Refused(f"msgpack extension code {code} is not allowed")
        record = ormsgpack.unpackb(raw, ext_hook=hook, option=ormsgpack.OPT_NON_STR_KEYS)
        if not (
            isinstance(record, list)
            and len(record) in (3, 4)
            and isinstance(record[0], str)
            and isinstance(record[1], str)
        ):
            raise _Refused(f"malformed extension record (code {code})")
        module, name, arg = record[0], record[1], record[2]
        if code == _METHOD_ARG:
            named = (module, name, record[3] if len(record) == 4 else None)
            if named != _DATETIME or not isinstance(arg, str):
                raise _Refused(f"type {'.'.join(map(str, named))} is not on the allow-list")
            return dt.datetime.fromisoformat(arg)
        builder = self._table.get((module, name))
        if builder is None:
            raise _Refused(f"type {module}.{name} is not on the allow-list")
        try:
            return builder(code, arg)
        except _Refused as exc:
            raise _Refused(f"{module}.{name} needs {exc}") from None
        except Exception as exc:
            raise _Refused(f"{module}.{name} could not be rebuilt ({type(exc).__name__})") from None


class SealedSerializer(EncryptedSerializer):
    """An ``EncryptedSerializer`` whose failures are :class:`DisallowedDataError` s.

    ``allow_plain=False`` (the bridges' node cache) also refuses records written without a
    cipher: whoever can write to the store but lacks the key cannot plant a value.
    """

    def __init__(
        self, cipher: CipherProtocol, serde: SerializerProtocol, *, allow_plain: bool = False
    ) -> None:
        super().__init__(cipher, serde)
        self.allow_plain = allow_plain

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        if "+" not in data[0] and not self.allow_plain:
            raise DisallowedDataError(
                f"an unencrypted {data[0]!r} record where every record is encrypted"
            )
        try:
            return super().loads_typed(data)
        except DisallowedDataError:
            raise
        except Exception as exc:  # a wrong key, a forged or truncated ciphertext
            raise DisallowedDataError(
                f"a {data[0]!r} record could not be decrypted ({type(exc).__name__}: {exc})"
            ) from None


def allow_listed(
    serde: SerializerProtocol | None,
    allowed_types: Iterable[type] = (),
    *,
    allow_plain: bool = False,
) -> SerializerProtocol:
    """``serde`` with :class:`AllowListSerializer` doing its decoding.

    ``None`` or a ``JsonPlusSerializer`` (same format; its own msgpack allow-list is not used:
    pass ``allowed_types``) → an :class:`AllowListSerializer`; an ``EncryptedSerializer`` over one
    of those → a :class:`SealedSerializer` with the same cipher (``allow_plain``: whether it still
    reads unencrypted records, as ``EncryptedSerializer`` does).  Any other serde could decode by
    names taken from the data, so it is refused (``ConfigurationError``).
    """
    allowed = tuple(allowed_types)
    if serde is None or type(serde) is JsonPlusSerializer:
        if getattr(serde, "pickle_fallback", False):
            raise ConfigurationError(
                "a serde with pickle_fallback=True is refused: llm-core never unpickles cached "
                "data; use JsonPlusSerializer(pickle_fallback=False)"
            )
        return AllowListSerializer(allowed)
    if isinstance(serde, AllowListSerializer):
        return AllowListSerializer((*serde.registered, *allowed)) if allowed else serde
    if isinstance(serde, EncryptedSerializer):
        inner = allow_listed(serde.serde, allowed)
        return SealedSerializer(serde.cipher, inner, allow_plain=allow_plain)
    raise ConfigurationError(
        f"the LangGraph bridges cannot guard a serde of type {type(serde).__name__}: use "
        "LangGraph's JsonPlusSerializer or EncryptedSerializer (their records are decoded "
        "through an allow-list), or llm_core.bridges.langgraph.AllowListSerializer"
    )
