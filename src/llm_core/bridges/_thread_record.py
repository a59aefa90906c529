"""One LangGraph thread as one cache entry: its checkpoints, blobs, pending writes and metadata.

The checkpointer keeps a whole thread -- every namespace, checkpoint, channel blob and pending
write -- in a single record, so the thread expires as one (a TTL can never take half of it) and
every change is one compare-and-set.  The record is msgpack of plain containers only (``str``,
``int``, ``bytes``, lists, maps; no extension types), decoded without any hook; the values
inside stay as LangGraph serde ``(type, bytes)`` pairs, decoded through the allow-listed serde
only when a caller reads them.

Layout (``v`` = 1)::

    {"v": 1, "t": thread_id, "x": tomb_until, "k": claim | None,
     "n": {checkpoint_ns: {"c": {checkpoint_id: [parent_id, ctype, cdata, mtype, mdata,
                                                  run_id, [blob_key, ...]]},
                           "b": {blob_key: [type, data]},
                           "w": {checkpoint_id: {write_key: [task_id, channel, type, data,
                                                              task_path, idx]}}}}}

``blob_key`` is ``channel + "\\x1f" + repr(version)``; ``write_key`` is ``task_id + "\\x1f" + idx``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import ormsgpack

from llm_core.errors import CacheFormatError

__all__ = [
    "VERSION",
    "blob_key",
    "check_checkpoint",
    "decode",
    "encode",
    "gc_blobs",
    "new_record",
    "ordered_writes",
]

VERSION = 1
Record = dict[str, Any]
Namespace = dict[str, Any]


def blob_key(channel: str, version: object) -> str:
    return f"{channel}\x1f{version!r}"


def new_record(thread_id: str) -> Record:
    return {"v": VERSION, "t": thread_id, "x": 0.0, "k": None, "n": {}}


def encode(record: Record) -> bytes:
    return ormsgpack.packb(record)


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
        and _typed(entry[1:3])
        and _typed(entry[3:5])
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
        and _typed(w[2:4])
        and isinstance(w[4], str)
        and type(w[5]) is int
    )


def _writes_ok(per_checkpoint: object) -> bool:
    return isinstance(per_checkpoint, dict) and all(map(_write_ok, per_checkpoint.values()))


def _shape_ok(ns: object) -> bool:
    return (
        isinstance(ns, dict)
        and isinstance(ns.get("c"), dict)
        and isinstance(ns.get("b"), dict)
        and isinstance(ns.get("w"), dict)
    )


def _namespace_ok(ns: Namespace) -> bool:
    return (
        all(map(_checkpoint_ok, ns["c"].values()))
        and all(map(_typed, ns["b"].values()))
        and all(map(_writes_ok, ns["w"].values()))
    )


def check_checkpoint(ns: Namespace, checkpoint_id: str, where: str) -> list[Any]:
    """The checkpoint's entry, after checking it, its blobs and its writes (a read checks only
    what it uses; a write checks the whole record)."""
    entry = ns["c"][checkpoint_id]
    blobs = ns["b"]
    if not (
        _checkpoint_ok(entry)
        and all(_typed(blobs[key]) for key in entry[6] if key in blobs)
        and _writes_ok(ns["w"].get(checkpoint_id, {}))
    ):
        raise CacheFormatError(f"{where} holds a malformed checkpoint {checkpoint_id!r}")
    return entry  # type: ignore[no-any-return]


def decode(raw: object, where: str, *, full: bool = True) -> Record:
    """The record in ``raw``; :class:`CacheFormatError` for anything this module did not write.

    ``full=False`` (reads) checks the record's frame only; :func:`check_checkpoint` then checks
    each checkpoint a read uses.  Writes check every entry (``full=True``)."""
    if not isinstance(raw, bytes):
        raise CacheFormatError(f"{where} holds {type(raw).__name__}, not a thread record")
    try:
        record = ormsgpack.unpackb(raw)  # no ext_hook: an extension type is refused
    except Exception as exc:
        raise CacheFormatError(f"{where} is not a checkpointer thread record ({exc})") from None
    if not (
        isinstance(record, dict)
        and record.get("v") == VERSION
        and isinstance(record.get("t"), str)
        and isinstance(record.get("x"), (int, float))
        and isinstance(record.get("n"), dict)
        and all(isinstance(name, str) for name in record["n"])
        and all(map(_shape_ok, record["n"].values()))
        and _check_claim(record.get("k"))
        and (not full or all(map(_namespace_ok, record["n"].values())))
    ):
        raise CacheFormatError(f"{where} is not a version-{VERSION} checkpointer thread record")
    return record


def _check_claim(claim: object) -> bool:
    return claim is None or (
        isinstance(claim, list)
        and len(claim) == 3
        and isinstance(claim[0], str)
        and isinstance(claim[1], str)
        and isinstance(claim[2], (int, float))
    )


def namespace(record: Record, checkpoint_ns: str) -> Namespace:
    """The namespace's entry, created empty if absent."""
    found: Namespace | None = record["n"].get(checkpoint_ns)
    if found is None:
        found = {"c": {}, "b": {}, "w": {}}
        record["n"][checkpoint_ns] = found
    return found


def ordered_writes(ns: Namespace, checkpoint_id: str) -> list[list[Any]]:
    """The checkpoint's pending writes in LangGraph's order: ``(task_path, task_id, idx)``."""
    stored: Mapping[str, list[Any]] = ns["w"].get(checkpoint_id, {})
    return sorted(stored.values(), key=lambda w: (w[4], w[0], w[5]))


def gc_blobs(ns: Namespace) -> None:
    """Drop the blobs no remaining checkpoint refers to."""
    live = {key for entry in ns["c"].values() for key in entry[6]}
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
        for cid, entry in ns["c"].items()
        if entry[5] in run_ids
    ]
    return drop_checkpoints(record, doomed)


def is_empty(record: Record) -> bool:
    return not any(ns["c"] or ns["w"] for ns in record["n"].values())
