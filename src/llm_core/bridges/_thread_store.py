"""The plans behind the checkpointer: one thread = one record, changed by compare-and-set.

:class:`ThreadStore` says where a thread lives (``<prefix>t:<thread>``, and its *tomb*
``<prefix>x:<thread>``) and how each change is made: read the record, change a copy, write it
back by compare-and-set with the thread's TTL, and retry if another writer got there first.  The
tomb -- a tiny entry living ``remember_expired`` seconds longer than the thread -- is re-written
only when its end comes near (the record remembers when that is), so it costs a write rarely.
"""

from __future__ import annotations

import contextlib
import hashlib
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
from llm_core.bridges._envelope import BackendCall, CallScript, escape
from llm_core.cache import Cache, ListableCache, capabilities_of
from llm_core.cache._validation import MAX_KEY_BYTES
from llm_core.errors import CapabilityError, ConfigurationError

__all__ = ["ThreadStore", "thread_ids_of"]

T = TypeVar("T")
Change = Callable[["tr.Record | None"], "tuple[tr.Record | None, T]"]
_TOMB = b"1"
_REMEMBERED = 4096  # records this process wrote, not re-checked in full when read back


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
    _written: dict[tuple[int, int], None]

    # --- keys -----------------------------------------------------------------

    def thread_key(self, thread_id: str) -> str:
        return f"{self.prefix}t:{_thread_part(thread_id)}"

    def tomb_key(self, thread_id: str) -> str:
        return f"{self.prefix}x:{_thread_part(thread_id)}"

    def _read(
        self, thread_id: str, *, refresh: bool, full: bool = False
    ) -> CallScript[tr.Record | None]:
        key = self.thread_key(thread_id)
        raw = yield BackendCall("get", (key,))
        if raw is None:
            return None
        record = tr.decode(raw, f"checkpointer key {key!r}", full=full)
        if refresh and self.refresh_on_read and self.ttl is not None:
            yield BackendCall("touch", (key, self.ttl))
            if self._tomb_due(record):
                yield from self._bury(thread_id)
        return record

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
                found.append(tr.decode(raw, f"checkpointer key {key!r}", full=False)["t"])
        return found

    # --- plans: writing ---------------------------------------------------------

    def _remember(self, raw: bytes) -> None:
        """Note a record this saver wrote itself (it is not checked again when read back)."""
        written = self._written
        written[(len(raw), hash(raw))] = None  # hash() is salted per process: not forgeable
        if len(written) > _REMEMBERED:
            # parallel tasks write from several threads: losing a race here is harmless
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del written[next(iter(written))]

    def _decode_full(self, raw: object, key: str) -> tr.Record:
        mine = isinstance(raw, bytes) and (len(raw), hash(raw)) in self._written
        return tr.decode(raw, f"checkpointer key {key!r}", full=not mine)

    def _update(self, thread_id: str, change: Change[T]) -> CallScript[T]:
        """Apply ``change`` to the thread's record by compare-and-set, retried until it holds."""
        key = self.thread_key(thread_id)
        while True:
            raw = yield BackendCall("get", (key,))
            record = None if raw is None else self._decode_full(raw, key)
            new_record, result = change(record)
            if new_record is not None and tr.is_empty(new_record) and new_record["k"] is None:
                new_record = None
            if new_record is None and raw is None:
                return result
            bury = False
            if new_record is not None and self._tomb_due(new_record):
                assert self.ttl is not None
                assert self.remember_expired is not None
                new_record["x"] = self._clock() + self.ttl + self.remember_expired
                bury = True
            new = None if new_record is None else tr.encode(new_record)
            if new == raw:
                if raw is not None and self.ttl is not None:
                    yield BackendCall("touch", (key, self.ttl))
                return result
            done = yield BackendCall("compare_and_set", (key, raw, new, self.ttl))
            if done:
                if new is not None:
                    self._remember(new)
                if bury:
                    yield from self._bury(thread_id)
                elif new is None:
                    yield BackendCall("delete", (self.tomb_key(thread_id),))
                return result

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
        blobs = {
            tr.blob_key(k, v): list(dumps(values[k])) if k in values else ["empty", b""]
            for k, v in new_versions.items()
        }
        refs = [tr.blob_key(k, v) for k, v in checkpoint["channel_versions"].items()]
        full_metadata = get_checkpoint_metadata(config, metadata)
        run_id = full_metadata.get("run_id")
        entry = [
            parent,
            *dumps(body),
            *dumps(full_metadata),
            None if run_id is None else str(run_id),
            refs,
        ]

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
            stored = tr.namespace(record, ns_name)["w"].setdefault(checkpoint_id, {})
            for idx, channel, type_, data in encoded:
                write_key = f"{task_id}\x1f{idx}"
                if idx >= 0 and write_key in stored:
                    continue
                stored[write_key] = [task_id, channel, type_, data, path, idx]
            return record, None

        yield from self._update(thread_id, change)

    def _edit(self, thread_id: str, edit: Callable[[tr.Record], object]) -> CallScript[None]:
        def change(record: tr.Record | None) -> tuple[tr.Record | None, None]:
            if record is not None:
                edit(record)
            return record, None

        yield from self._update(thread_id, change)

    def _delete_thread(self, thread_id: str) -> CallScript[None]:
        yield BackendCall("delete", (self.thread_key(thread_id),))
        yield BackendCall("delete", (self.tomb_key(thread_id),))

    def _delete_for_runs(self, run_ids: Sequence[str]) -> CallScript[None]:
        doomed = frozenset(map(str, run_ids))
        if not doomed:
            return
        for thread_id in (yield from self._thread_ids()):
            yield from self._edit(thread_id, lambda record: tr.drop_runs(record, doomed))

    def _copy_thread(self, source: str, target: str) -> CallScript[None]:
        record = yield from self._read(source, refresh=True, full=True)
        if record is None:
            return

        def change(current: tr.Record | None) -> tuple[tr.Record, None]:
            merged = current or tr.new_record(target)
            for ns_name, ns in record["n"].items():
                into = tr.namespace(merged, ns_name)
                for part in ("c", "b"):
                    into[part].update(ns[part])
                for cid, writes in ns["w"].items():
                    into["w"].setdefault(cid, {}).update(writes)
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
