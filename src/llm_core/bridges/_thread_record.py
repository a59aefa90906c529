"""One LangGraph thread as one cache entry: its checkpoints, blobs, pending writes and metadata.

The checkpointer keeps a whole thread -- every namespace, checkpoint, channel blob and pending
write -- in a single record, so the thread expires as one (a TTL can never take half of it) and
every change is one compare-and-set.  The record is msgpack of plain containers only (``str``,
``int``, ``float``, ``bytes``, lists, maps; no extension types), decoded without any hook; the
values inside stay as LangGraph serde ``(type, bytes)`` pairs, decoded through the allow-listed
serde only when a caller reads them.

Layout (``v`` = 2)::

    {"v": 2, "t": thread_id, "x": tomb_until, "d": deadline, "k": claim | None,
     "n": {checkpoint_ns: [head, <body>]}}

    body = {"c": {checkpoint_id: <entry>},
            "b": {blob_key: <[type, data]>},
            "w": {checkpoint_id: <{write_key: write}>}}
    head = [checkpoint_id, entry, [[channel, type, data], ...], {write_key: write}] | None
    entry = [parent_id, ctype, cdata, mtype, mdata, run_id, [blob_key, ...]]
    write = [task_id, channel, type, data, task_path, idx]

``<...>`` is that value packed on its own (a msgpack ``bin`` inside the record).  The *body*
holds every checkpoint; the *head* repeats the namespace's newest one with the blobs it refers to
(as ``[channel, type, data]``, in the entry's order) and its pending writes, so reading the
newest checkpoint -- what LangGraph does on every run --
unpacks the head only, however long the thread.  A read of an older checkpoint unpacks the body
and then only the entries it returns; a write unpacks the body (:func:`namespace`), changes it,
and :func:`encode` packs it again with a new head.  Every part is checked when it is unpacked;
:func:`decode` with ``full=True`` checks every part, and that the head is the body's newest.

``blob_key`` is ``channel + "\\x1f" + repr(version)``; ``write_key`` is ``task_id + "\\x1f" + idx``.
``deadline`` is when the write that stored these bytes made the thread expire, on the writer's
clock (``0`` without a TTL).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import ormsgpack

from llm_core.errors import CacheFormatError

__all__ = [
    "VERSION",
    "blob_key",
    "body",
    "channel_of",
    "checkpoint",
    "decode",
    "encode",
    "namespace",
    "new_record",
    "newest",
    "pack",
    "writes",
]

VERSION = 2
Record = dict[str, Any]
Namespace = dict[str, Any]
"""A namespace's body, unpacked: ``{"c": ..., "b": ..., "w": ...}`` (values still packed)."""
Parts = tuple[list[Any], list[list[Any]], dict[str, list[Any]]]
"""One checkpoint: its entry, its channels' ``[channel, type, data]``, its pending writes."""

pack = ormsgpack.packb
"""Packs an entry, a blob or a checkpoint's writes (plain containers only)."""

_unpackb = ormsgpack.unpackb  # no ext_hook: an extension type is refused; map keys must be str


def blob_key(channel: str, version: object) -> str:
    return f"{channel}\x1f{version!r}"


def channel_of(key: str) -> str:
    """The channel a :func:`blob_key` names (``repr`` never holds a raw ``\\x1f``)."""
    return key.rpartition("\x1f")[0]


def new_record(thread_id: str) -> Record:
    return {"v": VERSION, "t": thread_id, "x": 0.0, "d": 0.0, "k": None, "n": {}}


# --- shapes -----------------------------------------------------------------------


def _typed(pair: object) -> bool:
    return type(pair) is list and len(pair) == 2 and type(pair[0]) is str and type(pair[1]) is bytes


def _checkpoint_ok(entry: object) -> bool:
    return (
        type(entry) is list
        and len(entry) == 7
        and (entry[0] is None or type(entry[0]) is str)
        and type(entry[1]) is str
        and type(entry[2]) is bytes
        and type(entry[3]) is str
        and type(entry[4]) is bytes
        and (entry[5] is None or type(entry[5]) is str)
        and type(entry[6]) is list
        and all(type(key) is str for key in entry[6])
    )


def _write_ok(w: object) -> bool:
    return (
        type(w) is list
        and len(w) == 6
        and type(w[0]) is str
        and type(w[1]) is str
        and type(w[2]) is str
        and type(w[3]) is bytes
        and type(w[4]) is str
        and type(w[5]) is int
    )


def _writes_ok(per_checkpoint: object) -> bool:
    return type(per_checkpoint) is dict and all(map(_write_ok, per_checkpoint.values()))


def _value_ok(value: object) -> bool:
    return (
        type(value) is list
        and len(value) == 3
        and type(value[0]) is str
        and type(value[1]) is str
        and type(value[2]) is bytes
    )


def _head_ok(head: object) -> bool:
    return (
        type(head) is list
        and len(head) == 4
        and type(head[0]) is str
        and _checkpoint_ok(head[1])
        and type(head[2]) is list
        and all(map(_value_ok, head[2]))
        and _writes_ok(head[3])
    )


def _body_ok(ns: object) -> bool:
    return (
        type(ns) is dict
        and type(ns.get("c")) is dict
        and type(ns.get("b")) is dict
        and type(ns.get("w")) is dict
    )


def _malformed(thread_id: str, what: str) -> CacheFormatError:
    return CacheFormatError(f"thread {thread_id!r} holds a malformed {what}")


def _unpack(data: object, thread_id: str, what: str) -> Any:
    try:
        return _unpackb(data)  # type: ignore[arg-type]  # anything but bytes is refused
    except Exception:
        raise _malformed(thread_id, what) from None


# --- reading (a namespace as decoded, [head, <body>], or a body a write unpacked) ------


def body(ns: Any, thread_id: str) -> Namespace:
    """The namespace's body (unpacked anew from a decoded namespace: never change it)."""
    if type(ns) is dict:
        return ns
    found = _unpack(ns[1], thread_id, "namespace")
    if not _body_ok(found):
        raise _malformed(thread_id, "namespace")
    return found  # type: ignore[no-any-return]


def newest(ns: Any, thread_id: str, *, trusted: bool = False) -> tuple[str, Parts] | None:
    """The namespace's newest checkpoint (uuid6 ids sort by time) and its parts, or ``None``;
    from a decoded namespace's head, checked unless ``trusted`` (a record this process wrote or
    checked in full).  The parts are the record's own: never change them."""
    if type(ns) is dict:
        if not ns["c"]:
            return None
        checkpoint_id = max(ns["c"])
        parts = _from_body(ns, checkpoint_id, thread_id)
        assert parts is not None
        return checkpoint_id, parts
    head = ns[0]
    if head is None:
        return None
    if not trusted and not _head_ok(head):
        raise _malformed(thread_id, "newest checkpoint")
    return head[0], (head[1], head[2], head[3])


def _from_body(
    ns: Namespace, checkpoint_id: str, thread_id: str, trusted: bool = False
) -> Parts | None:
    packed = ns["c"].get(checkpoint_id)
    if packed is None:
        return None
    entry = _unpack(packed, thread_id, f"checkpoint {checkpoint_id!r}")
    if not trusted and not _checkpoint_ok(entry):
        raise _malformed(thread_id, f"checkpoint {checkpoint_id!r}")
    values = []
    for key in entry[6]:
        data = ns["b"].get(key)
        if data is not None:
            blob = _unpack(data, thread_id, f"channel value {key!r}")
            if not trusted and not _typed(blob):
                raise _malformed(thread_id, f"channel value {key!r}")
            values.append([channel_of(key), blob[0], blob[1]])
    return entry, values, writes(ns, checkpoint_id, thread_id, trusted)


def checkpoint(
    ns: Any, checkpoint_id: str, thread_id: str, *, trusted: bool = False
) -> Parts | None:
    """The checkpoint's entry, blobs and writes, or ``None`` if absent (never change them)."""
    if type(ns) is not dict:
        found = newest(ns, thread_id, trusted=trusted)
        if found is not None and found[0] == checkpoint_id:
            return found[1]
        ns = body(ns, thread_id)
    return _from_body(ns, checkpoint_id, thread_id, trusted)


def writes(
    ns: Namespace, checkpoint_id: str, thread_id: str, trusted: bool = False
) -> dict[str, list[Any]]:
    """A body's pending writes of one checkpoint, by write key (a new dict)."""
    data = ns["w"].get(checkpoint_id)
    if data is None:
        return {}
    found = _unpack(data, thread_id, f"pending write of {checkpoint_id!r}")
    if not trusted and not _writes_ok(found):
        raise _malformed(thread_id, f"pending write of {checkpoint_id!r}")
    return found  # type: ignore[no-any-return]


# --- the record -----------------------------------------------------------------------


def _namespace_frame_ok(ns: object) -> bool:
    return (
        type(ns) is list
        and len(ns) == 2
        and (ns[0] is None or type(ns[0]) is list)
        and type(ns[1]) is bytes
    )


def _head_of(ns: Namespace) -> list[Any] | None:
    """The head of a body: its newest checkpoint, the blobs that one refers to, its writes."""
    if not ns["c"]:
        return None
    checkpoint_id = max(ns["c"])
    entry = _unpackb(ns["c"][checkpoint_id])
    blobs = ns["b"]
    values = [[channel_of(key), *_unpackb(blobs[key])] for key in entry[6] if key in blobs]
    packed = ns["w"].get(checkpoint_id)
    return [checkpoint_id, entry, values, {} if packed is None else _unpackb(packed)]


def _check_all(record: Record) -> None:
    thread_id = record["t"]
    for ns in record["n"].values():
        found = body(ns, thread_id)
        for checkpoint_id in found["c"]:
            _from_body(found, checkpoint_id, thread_id)
        for key in found["b"]:
            if not _typed(_unpack(found["b"][key], thread_id, f"channel value {key!r}")):
                raise _malformed(thread_id, f"channel value {key!r}")
        for checkpoint_id in found["w"]:
            writes(found, checkpoint_id, thread_id)
        if ns[0] != _head_of(found):
            raise _malformed(thread_id, "newest checkpoint (not the newest of the namespace)")


def decode(raw: object, where: str, *, full: bool = True) -> Record:
    """The record in ``raw``; :class:`CacheFormatError` for anything this module did not write.

    ``full=False`` (reads) checks the record's frame only; each part a read unpacks is checked
    then.  Writes check every part (``full=True``)."""
    if not isinstance(raw, bytes):
        raise CacheFormatError(f"{where} holds {type(raw).__name__}, not a thread record")
    try:
        record = _unpackb(raw)
    except Exception as exc:
        raise CacheFormatError(f"{where} is not a checkpointer thread record ({exc})") from None
    if not (
        type(record) is dict
        and record.get("v") == VERSION
        and type(record.get("t")) is str
        and type(record.get("x")) in (int, float)
        and type(record.get("d")) in (int, float)
        and type(record.get("n")) is dict
        and all(map(_namespace_frame_ok, record["n"].values()))
        and _check_claim(record.get("k"))
    ):
        raise CacheFormatError(f"{where} is not a version-{VERSION} checkpointer thread record")
    if full:
        _check_all(record)
    return record


def _check_claim(claim: object) -> bool:
    return claim is None or (
        type(claim) is list
        and len(claim) == 3
        and type(claim[0]) is str
        and type(claim[1]) is str
        and type(claim[2]) in (int, float)
    )


def encode(record: Record) -> bytes:
    """``record`` as bytes.  Each body a write unpacked is packed again with its new head, and
    ``record`` keeps that packed form (as :func:`decode` gives it); a body with neither
    checkpoints nor writes is dropped."""
    spaces = record["n"]
    for name, ns in list(spaces.items()):
        if type(ns) is not dict:
            continue
        if ns["c"] or ns["w"]:
            spaces[name] = [_head_of(ns), pack(ns)]
        else:
            del spaces[name]
    return pack(record)


def is_empty(record: Record) -> bool:
    """No namespace holds a checkpoint or a write (a stored namespace always does)."""
    return not any(type(ns) is not dict or ns["c"] or ns["w"] for ns in record["n"].values())


# --- changes (on a record a write decoded for itself) ----------------------------------


def namespace(record: Record, checkpoint_ns: str) -> Namespace:
    """The namespace's body, unpacked into ``record`` to be changed (created if absent)."""
    found = record["n"].get(checkpoint_ns)
    if found is None:
        found = {"c": {}, "b": {}, "w": {}}
    elif type(found) is not dict:
        found = body(found, record["t"])
    record["n"][checkpoint_ns] = found
    return found  # type: ignore[no-any-return]


def gc_blobs(ns: Namespace) -> None:
    """Drop the blobs no remaining checkpoint refers to."""
    live = {key for packed in ns["c"].values() for key in _unpackb(packed)[6]}
    ns["b"] = {key: blob for key, blob in ns["b"].items() if key in live}


def drop_checkpoints(record: Record, doomed: Iterable[tuple[str, str]]) -> bool:
    """Remove these ``(checkpoint_ns, checkpoint_id)`` with their writes; ``True`` if any was."""
    changed = False
    touched: set[str] = set()
    for ns_name, checkpoint_id in doomed:
        if ns_name not in record["n"]:
            continue
        ns = namespace(record, ns_name)
        if checkpoint_id not in ns["c"]:
            continue
        del ns["c"][checkpoint_id]
        ns["w"].pop(checkpoint_id, None)
        touched.add(ns_name)
        changed = True
    for ns_name in touched:
        ns = record["n"][ns_name]
        if ns["c"]:
            gc_blobs(ns)
        else:
            del record["n"][ns_name]
    return changed


def keep_latest(record: Record) -> bool:
    """Keep only each namespace's newest checkpoint (and its writes)."""
    doomed = [
        (name, cid)
        for name in list(record["n"])
        for cid in sorted(namespace(record, name)["c"])[:-1]  # uuid6 ids sort by time
    ]
    return drop_checkpoints(record, doomed)


def drop_runs(record: Record, run_ids: frozenset[str]) -> bool:
    doomed = [
        (name, cid)
        for name in list(record["n"])
        for cid, packed in namespace(record, name)["c"].items()
        if _unpackb(packed)[5] in run_ids
    ]
    return drop_checkpoints(record, doomed)
