"""The plans behind the checkpointer: one thread = one record, changed by compare-and-set.

:class:`ThreadStore` says where a thread lives (``<prefix>t:<thread>``, and its *tomb*
``<prefix>x:<thread>``) and how each change is made: read the record, change a copy, write it
back by compare-and-set with the thread's TTL, and retry if another writer got there first.  The
tomb -- a tiny entry living ``remember_expired`` seconds longer than the thread -- is re-written
only when its end comes near (the record remembers when that is), so it costs a write rarely.

What this process last wrote or read of a thread is kept in a bounded memo
(:mod:`llm_core.bridges._thread_memo`): a write starts its compare-and-set from those bytes
instead of reading them first, a read of unchanged bytes is not decoded again, and a read
refreshes the TTL only when the thread's known deadline is more than :attr:`refresh_slack`
short of ``now + ttl`` (see :func:`refresh_slack`).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from llm_core.bridges import _thread_record as tr
from llm_core.bridges._envelope import BackendCall, CallScript, escape, run
from llm_core.bridges._thread_memo import Known, ThreadMemo
from llm_core.cache import Cache, ListableCache, capabilities_of
from llm_core.cache._validation import MAX_KEY_BYTES
from llm_core.errors import CacheUnavailableError, CapabilityError, ConfigurationError

__all__ = ["UNCHANGED", "ThreadStore", "refresh_slack", "thread_ids_of"]

T = TypeVar("T")
Change = Callable[["tr.Record | None"], "tuple[tr.Record | None, T]"]
_TOMB = b"1"
_EMPTY = ("empty", b"")  # a channel with a new version and no value

UNCHANGED: tr.Record = {}
"""What a change returns (this very object) when it left the record as it was: nothing is
written, and the thread's TTL is not refreshed."""


def refresh_slack(ttl: float) -> float:
    """How far a thread's deadline may fall behind ``now + ttl`` before a read refreshes it:
    1 % of the TTL, at least 1 s, at most half the TTL."""
    return min(ttl / 2, max(1.0, ttl / 100))


@functools.lru_cache(maxsize=4096)
def _thread_part(thread_id: str) -> str:
    part = escape(thread_id)
    if len(part.encode()) > MAX_KEY_BYTES - 64:
        part = "#" + hashlib.sha256(thread_id.encode("utf-8", "surrogatepass")).hexdigest()
    return part


def _ids(config: RunnableConfig) -> tuple[str, str, str | None]:
    conf = config["configurable"]
    return str(conf["thread_id"]), conf.get("checkpoint_ns", "") or "", get_checkpoint_id(config)


def thread_ids_of(config: RunnableConfig) -> tuple[str, str, str | None]:
    """``(thread_id, checkpoint_ns, checkpoint_id)`` of a LangGraph config."""
    return _ids(config)


class ThreadStore:
    """Where threads live in the cache and the plans that change them."""

    cache: Cache
    serde: SerializerProtocol
    ttl: float | None
    refresh_on_read: bool
    prefix: str
    remember_expired: float | None
    _clock: Callable[[], float]
    _memo: ThreadMemo
    refresh_slack: float

    # --- keys -----------------------------------------------------------------

    def thread_key(self, thread_id: str) -> str:
        return f"{self.prefix}t:{_thread_part(thread_id)}"

    def tomb_key(self, thread_id: str) -> str:
        return f"{self.prefix}x:{_thread_part(thread_id)}"

    def _known(self, key: str, raw: object, *, full: bool) -> Known:
        """The memo's entry for ``raw`` (decoded and remembered if it is new to this process);
        ``full``: checked entry by entry, as a write needs."""
        known = self._memo.get(key)
        if known is not None and known.raw == raw and (known.full or not full):
            return known
        record = tr.decode(raw, f"checkpointer key {key!r}", full=full)
        assert isinstance(raw, bytes)  # decode refused anything else
        until = float(record.get("d", 0.0))
        if known is not None and known.raw == raw:
            until = max(until, known.until)
        return self._memo.put(key, raw, record, full, until)

    def _seen(self, key: str, raw: object, *, full: bool) -> Known | None:
        """What a read of ``key`` that returned ``raw`` found (``None``: no thread)."""
        if raw is None:
            self._memo.drop(key)
            return None
        return self._known(key, raw, full=full)

    def _refresh_due(self, known: Known, refresh: bool) -> float | None:
        """``now`` if this read must refresh the thread's TTL: asked to, and the deadline known
        for these bytes is more than the slack short of ``now + ttl``; else ``None``."""
        ttl = self.ttl
        if not refresh or not self.refresh_on_read or ttl is None:
            return None
        now = self._clock()
        return now if known.until < now + ttl - self.refresh_slack else None

    def _refresh(self, thread_id: str, key: str, known: Known, now: float) -> CallScript[None]:
        ttl = self.ttl
        assert ttl is not None
        if (yield BackendCall("touch", (key, ttl))):
            self._memo.refreshed(key, known.raw, now + ttl)
        if self._tomb_due(known.record):
            yield from self._bury(thread_id)

    def _read(
        self, thread_id: str, *, refresh: bool, full: bool = False
    ) -> CallScript[Known | None]:
        """The thread as read now (its record is never to be changed by the caller), its TTL
        refreshed if asked and due."""
        key = self.thread_key(thread_id)
        known = self._seen(key, (yield BackendCall("get", (key,))), full=full)
        if known is None:
            return None
        now = self._refresh_due(known, refresh)
        if now is not None:
            yield from self._refresh(thread_id, key, known, now)
        return known

    def _read_now(self, thread_id: str, *, refresh: bool) -> Known | None:
        """:meth:`_read` on the cache's sync methods, its ``get`` called directly (the hot path
        of ``get_tuple`` and ``list``; a refresh, when due, runs as a plan)."""
        key = self.thread_key(thread_id)
        try:
            raw = self.cache.get(key)
        except OSError as exc:  # as run() maps it
            raise CacheUnavailableError(
                f"{type(self.cache).__name__}.get failed: {exc} (the store cannot be reached)"
            ) from exc
        known = self._seen(key, raw, full=False)
        if known is None:
            return None
        now = self._refresh_due(known, refresh)
        if now is not None:
            run(self.cache, self._refresh(thread_id, key, known, now))
        return known

    def _tomb_due(self, record: tr.Record) -> bool:
        if self.ttl is None or self.remember_expired is None:
            return False
        return bool(self._clock() + self.ttl > record["x"] - self.remember_expired / 2)

    def _bury(self, thread_id: str) -> CallScript[None]:
        assert self.ttl is not None
        assert self.remember_expired is not None
        tomb_ttl = self.ttl + self.remember_expired
        yield BackendCall("set", (self.tomb_key(thread_id), _TOMB, tomb_ttl))

    def _thread_ids(self) -> CallScript[list[str]]:
        if not isinstance(self.cache, ListableCache) or not capabilities_of(self.cache).listing:
            raise CapabilityError("listing every thread (list(None)) needs a listing cache")
        start = f"{self.prefix}t:"
        keys: list[str] = yield BackendCall("keys", (start,))
        found = []
        for key in sorted(keys):
            raw = yield BackendCall("get", (key,))
            if raw is not None:
                found.append(self._known(key, raw, full=False).record["t"])
        return found

    # --- plans: writing ---------------------------------------------------------

    def _update(self, thread_id: str, change: Change[T]) -> CallScript[T]:
        """Apply ``change`` to a copy of the thread's record and write it by compare-and-set,
        retried until it holds.

        The first attempt starts from the bytes this process last saw (no read).  Those may be
        stale, and only a compare-and-set that lands proves they were not: an outcome decided
        without one (``change`` raised, changed nothing, or the bytes came out the same) is
        decided again on bytes read from the cache."""
        key = self.thread_key(thread_id)
        ttl = self.ttl
        known = self._memo.get(key)
        raw = known.raw if known is not None else (yield BackendCall("get", (key,)))
        verified = known is None
        while True:
            record = None
            if raw is not None:
                mine = known is not None and known.raw == raw and known.full
                record = tr.decode(raw, f"checkpointer key {key!r}", full=not mine)
            try:
                new_record, result = change(record)
            except Exception:
                if verified:
                    raise
                new_record = UNCHANGED  # decided on bytes that may be stale: read, decide again
            if new_record is not None and new_record is not UNCHANGED and tr.is_empty(new_record):
                new_record = None
            if new_record is UNCHANGED or (new_record is None and raw is None):
                if verified:
                    return result
                known, verified = None, True
                raw = yield BackendCall("get", (key,))
                continue
            now = self._clock()
            bury = False
            if new_record is not None:
                if ttl is not None:
                    new_record["d"] = now + ttl
                if self._tomb_due(new_record):
                    assert ttl is not None
                    assert self.remember_expired is not None
                    new_record["x"] = now + ttl + self.remember_expired
                    bury = True
            new = None if new_record is None else tr.encode(new_record)
            if new == raw and verified:  # the same bytes: nothing to write but the TTL
                if raw is not None and ttl is not None:
                    yield BackendCall("touch", (key, ttl))
                    self._memo.refreshed(key, raw, now + ttl)
                return result
            done = new != raw and (yield BackendCall("compare_and_set", (key, raw, new, ttl)))
            if done:
                if new_record is None:
                    self._memo.drop(key)
                    yield BackendCall("delete", (self.tomb_key(thread_id),))
                else:
                    assert new is not None
                    until = math.inf if ttl is None else now + ttl
                    self._memo.put(key, new, new_record, True, until)
                    if bury:
                        yield from self._bury(thread_id)
                return result
            # another writer got there first, or the memo was stale: read, change again
            known, verified = None, True
            raw = yield BackendCall("get", (key,))

    def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> CallScript[RunnableConfig]:
        thread_id, ns_name, parent = _ids(config)
        body: dict[str, Any] = dict(checkpoint)
        values: dict[str, Any] = body.pop("channel_values", {}) or {}
        dumps = self.serde.dumps_typed
        pack = tr.pack
        blobs = {
            tr.blob_key(k, v): pack(dumps(values[k]) if k in values else _EMPTY)
            for k, v in new_versions.items()
        }
        refs = [tr.blob_key(k, v) for k, v in checkpoint["channel_versions"].items()]
        full_metadata = get_checkpoint_metadata(config, metadata)
        run_id = full_metadata.get("run_id")
        entry = pack(
            [
                parent,
                *dumps(body),
                *dumps(full_metadata),
                None if run_id is None else str(run_id),
                refs,
            ]
        )

        def change(record: tr.Record | None) -> tuple[tr.Record, None]:
            record = record or tr.new_record(thread_id)
            ns = tr.namespace(record, ns_name)
            ns["b"].update(blobs)
            ns["c"][checkpoint["id"]] = entry
            return record, None

        yield from self._update(thread_id, change)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": ns_name,
                "checkpoint_id": checkpoint["id"],
            }
        }

    def _put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, path: str
    ) -> CallScript[None]:
        thread_id, ns_name, checkpoint_id = _ids(config)
        if checkpoint_id is None:
            raise ConfigurationError("put_writes needs a config with a checkpoint_id")
        encoded = [
            (WRITES_IDX_MAP.get(channel, idx), channel, *self.serde.dumps_typed(value))
            for idx, (channel, value) in enumerate(writes)
        ]

        def change(record: tr.Record | None) -> tuple[tr.Record, None]:
            record = record or tr.new_record(thread_id)
            ns = tr.namespace(record, ns_name)
            stored = tr.writes(ns, checkpoint_id, thread_id)
            added = False
            for idx, channel, type_, data in encoded:
                write_key = f"{task_id}\x1f{idx}"
                if idx >= 0 and write_key in stored:
                    continue  # LangGraph sent it already: the first one stands
                stored[write_key] = [task_id, channel, type_, data, path, idx]
                added = True
            if not added:
                return UNCHANGED, None
            ns["w"][checkpoint_id] = tr.pack(stored)
            return record, None

        yield from self._update(thread_id, change)

    def _edit(self, thread_id: str, edit: Callable[[tr.Record], bool]) -> CallScript[None]:
        def change(record: tr.Record | None) -> tuple[tr.Record | None, None]:
            if record is None or not edit(record):
                return UNCHANGED, None
            return record, None

        yield from self._update(thread_id, change)

    def _delete_thread(self, thread_id: str) -> CallScript[None]:
        self._memo.drop(self.thread_key(thread_id))
        yield BackendCall("delete", (self.thread_key(thread_id),))
        yield BackendCall("delete", (self.tomb_key(thread_id),))

    def _delete_for_runs(self, run_ids: Sequence[str]) -> CallScript[None]:
        doomed = frozenset(map(str, run_ids))
        if not doomed:
            return
        for thread_id in (yield from self._thread_ids()):
            yield from self._edit(thread_id, lambda record: tr.drop_runs(record, doomed))

    def _copy_thread(self, source: str, target: str) -> CallScript[None]:
        known = yield from self._read(source, refresh=True, full=True)
        if known is None:
            return
        record = known.record

        def change(current: tr.Record | None) -> tuple[tr.Record, None]:
            merged = current or tr.new_record(target)
            for ns_name, packed in record["n"].items():
                ns = tr.body(packed, source)
                into = tr.namespace(merged, ns_name)
                for part in ("c", "b"):
                    into[part].update(ns[part])  # packed entries: copied as bytes
                for cid in ns["w"]:
                    writes = tr.writes(into, cid, target)
                    writes.update(tr.writes(ns, cid, source))
                    into["w"][cid] = tr.pack(writes)
            return merged, None

        yield from self._update(target, change)

    def _prune(self, thread_ids: Sequence[str], strategy: str) -> CallScript[None]:
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r} (keep_latest or delete)")
        for thread_id in thread_ids:
            if strategy == "delete":
                yield from self._delete_thread(thread_id)
            else:
                yield from self._edit(thread_id, tr.keep_latest)
