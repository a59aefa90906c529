"""One LangGraph thread as one cache entry: its checkpoints, blobs, pending writes and metadata.

The checkpointer keeps a whole thread -- every namespace, checkpoint, channel blob and pending
write -- in a single record, so the thread expires as one (a TTL can never take half of it) and
every change is one compare-and-set.  The record is msgpack of plain containers only (``str``,
``int``, ``float``, ``bytes``, lists, maps; no extension types), decoded without any hook; the
values inside stay as LangGraph serde ``(type, bytes)`` pairs, decoded through the allow-listed
serde only when a caller reads them.

Layout (``v`` = 2)::

    {"v": 2, "t": thread_id, "x": tomb_until, "d": deadline, "k": claim | None,
     "n": {checkpoint_ns: {"c": {checkpoint_id: <[parent_id, ctype, cdata, mtype, mdata,
                                                  run_id, [blob_key, ...]]>},
                           "b": {blob_key: <[type, data]>},
                           "w": {checkpoint_id: <{write_key: [task_id, channel, type, data,
                                                               task_path, idx]}>}}}}

``<...>`` is that value packed on its own (a msgpack ``bin`` inside the record): a read unpacks
only the checkpoint, blobs and writes it returns, a write only what it changes, and everything
else is carried through as bytes.  Each is checked when it is unpacked (:func:`entry`,
:func:`blob`, :func:`writes`); :func:`decode` with ``full=True`` checks them all up front.

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
    "blob",
    "blob_key",
    "channel_of",
    "decode",
    "encode",
    "entry",
    "gc_blobs",
    "new_record",
    "ordered_writes",
    "pack",
    "writes",
]

VERSION = 2
Record = dict[str, Any]
Namespace = dict[str, Any]

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


def encode(record: Record) -> bytes:
    return ormsgpack.packb(record)


# --- shapes -----------------------------------------------------------------------


def _typed(pair: object) -> bool:
    return (
        isinstance(pair, list)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], bytes)
    )


def _checkpoint_ok(entry: object) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 7
        and (entry[0] is None or isinstance(entry[0], str))
        and isinstance(entry[1], str)
        and isinstance(entry[2], bytes)
        and isinstance(entry[3], str)
        and isinstance(entry[4], bytes)
        and (entry[5] is None or isinstance(entry[5], str))
        and isinstance(entry[6], list)
        and all(isinstance(key, str) for key in entry[6])
    )


def _write_ok(w: object) -> bool:
    return (
        isinstance(w, list)
        and len(w) == 6
        and isinstance(w[0], str)
        and isinstance(w[1], str)
        and isinstance(w[2], str)
        and isinstance(w[3], bytes)
        and isinstance(w[4], str)
        and type(w[5]) is int
    )


def _writes_ok(per_checkpoint: object) -> bool:
    return isinstance(per_checkpoint, dict) and all(map(_write_ok, per_checkpoint.values()))


def _malformed(thread_id: str, what: str) -> CacheFormatError:
    return CacheFormatError(f"thread {thread_id!r} holds a malformed {what}")


def _unpack(data: object, thread_id: str, what: str) -> Any:
    try:
        return _unpackb(data)  # type: ignore[arg-type]  # anything but bytes is refused
    except Exception:
        raise _malformed(thread_id, what) from None


# --- reading the parts a caller uses (each checked as it is unpacked) ----------------


def entry(ns: Namespace, checkpoint_id: str, thread_id: str) -> list[Any]:
    """The checkpoint's ``[parent_id, ctype, cdata, mtype, mdata, run_id, blob_keys]``."""
    found = _unpack(ns["c"][checkpoint_id], thread_id, f"checkpoint {checkpoint_id!r}")
    if not _checkpoint_ok(found):
        raise _malformed(thread_id, f"checkpoint {checkpoint_id!r}")
    return found  # type: ignore[no-any-return]


def blob(ns: Namespace, key: str, thread_id: str) -> list[Any] | None:
    """The ``[type, data]`` stored for a blob key, or ``None``."""
    data = ns["b"].get(key)
    if data is None:
        return None
    found = _unpack(data, thread_id, f"channel value {key!r}")
    if not _typed(found):
        raise _malformed(thread_id, f"channel value {key!r}")
    return found  # type: ignore[no-any-return]


def writes(ns: Namespace, checkpoint_id: str, thread_id: str) -> dict[str, list[Any]]:
    """The checkpoint's pending writes by write key (a new dict: the caller may change it)."""
    data = ns["w"].get(checkpoint_id)
    if data is None:
        return {}
    found = _unpack(data, thread_id, f"pending write of {checkpoint_id!r}")
    if not _writes_ok(found):
        raise _malformed(thread_id, f"pending write of {checkpoint_id!r}")
    return found  # type: ignore[no-any-return]


def ordered_writes(ns: Namespace, checkpoint_id: str, thread_id: str) -> list[list[Any]]:
    """The checkpoint's pending writes in LangGraph's order: ``(task_path, task_id, idx)``."""
    return sorted(writes(ns, checkpoint_id, thread_id).values(), key=lambda w: (w[4], w[0], w[5]))


# --- the record -----------------------------------------------------------------------


def _shape_ok(ns: object) -> bool:
    return (
        isinstance(ns, dict)
        and isinstance(ns.get("c"), dict)
        and isinstance(ns.get("b"), dict)
        and isinstance(ns.get("w"), dict)
    )


def _check_all(record: Record) -> None:
    thread_id = record["t"]
    for ns in record["n"].values():
        for checkpoint_id in ns["c"]:
            entry(ns, checkpoint_id, thread_id)
        for key in ns["b"]:
            blob(ns, key, thread_id)
        for checkpoint_id in ns["w"]:
            writes(ns, checkpoint_id, thread_id)


def decode(raw: object, where: str, *, full: bool = True) -> Record:
    """The record in ``raw``; :class:`CacheFormatError` for anything this module did not write.

    ``full=False`` (reads) checks the record's frame only; :func:`entry`, :func:`blob` and
    :func:`writes` check each part a read unpacks.  Writes check every part (``full=True``)."""
    if not isinstance(raw, bytes):
        raise CacheFormatError(f"{where} holds {type(raw).__name__}, not a thread record")
    try:
        record = _unpackb(raw)
    except Exception as exc:
        raise CacheFormatError(f"{where} is not a checkpointer thread record ({exc})") from None
    if not (
        isinstance(record, dict)
        and record.get("v") == VERSION
        and isinstance(record.get("t"), str)
        and isinstance(record.get("x"), (int, float))
        and isinstance(record.get("d"), (int, float))
        and isinstance(record.get("n"), dict)
        and all(map(_shape_ok, record["n"].values()))
        and _check_claim(record.get("k"))
    ):
        raise CacheFormatError(f"{where} is not a version-{VERSION} checkpointer thread record")
    if full:
        _check_all(record)
    return record


def _check_claim(claim: object) -> bool:
    return claim is None or (
        isinstance(claim, list)
        and len(claim) == 3
        and isinstance(claim[0], str)
        and isinstance(claim[1], str)
        and isinstance(claim[2], (int, float))
    )


# --- changes (on a record a write decoded for itself, checked in full or written here) ----


def namespace(record: Record, checkpoint_ns: str) -> Namespace:
    """The namespace's entry, created empty if absent."""
    found: Namespace | None = record["n"].get(checkpoint_ns)
    if found is None:
        found = {"c": {}, "b": {}, "w": {}}
        record["n"][checkpoint_ns] = found
    return found


def gc_blobs(ns: Namespace) -> None:
    """Drop the blobs no remaining checkpoint refers to."""
    live = {key for packed in ns["c"].values() for key in _unpackb(packed)[6]}
    ns["b"] = {key: blob for key, blob in ns["b"].items() if key in live}


def drop_checkpoints(record: Record, doomed: Iterable[tuple[str, str]]) -> bool:
    """Remove these ``(checkpoint_ns, checkpoint_id)`` with their writes; ``True`` if any was."""
    changed = False
    touched: set[str] = set()
    for ns_name, checkpoint_id in doomed:
        ns = record["n"].get(ns_name)
        if ns is None or checkpoint_id not in ns["c"]:
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
        for name, ns in record["n"].items()
        for cid in sorted(ns["c"])[:-1]  # uuid6 checkpoint ids sort by time
    ]
    return drop_checkpoints(record, doomed)


def drop_runs(record: Record, run_ids: frozenset[str]) -> bool:
    doomed = [
        (name, cid)
        for name, ns in record["n"].items()
        for cid, packed in ns["c"].items()
        if _unpackb(packed)[5] in run_ids
    ]
    return drop_checkpoints(record, doomed)


def is_empty(record: Record) -> bool:
    return not any(ns["c"] or ns["w"] for ns in record["n"].values())
