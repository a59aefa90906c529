"""A LangGraph checkpointer on any llm-core cache whose threads expire whole.

Each thread is one cache entry (:mod:`llm_core.bridges._thread_record`) changed by the cache's
atomic compare-and-set, so concurrent writers (parallel tasks, several processes) never lose a
write, and a TTL takes a thread's checkpoints, writes and metadata together.  With ``ttl`` set,
every write gives the thread ``ttl`` seconds again, and so does every read that names the thread
when ``refresh_on_read``.  A small *tomb* entry outlives an expiring thread by ``remember_expired``
seconds so that :func:`~llm_core.bridges.checkpointer.resume_once` can tell "expired" from
"never existed".

Every operation is written once as a plan of cache calls (``llm_core.bridges._envelope``), run by
the sync methods or awaited by the async ones.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.types import Command, Interrupt

from llm_core.bridges import _thread_record as tr
from llm_core.bridges._envelope import arun, check_prefix, run
from llm_core.bridges._serde import allow_listed
from llm_core.bridges._thread_memo import Known, ThreadMemo
from llm_core.bridges._thread_store import ThreadStore, refresh_slack
from llm_core.bridges._thread_store import thread_ids_of as _ids
from llm_core.cache import Cache, capabilities_of
from llm_core.cache._validation import check_ttl
from llm_core.errors import CapabilityError

__all__ = ["LlmCoreCheckpointSaver", "to_langgraph_checkpointer"]

CHECKPOINT_TYPES: tuple[type, ...] = (Interrupt, Command)
"""Types LangGraph itself stores in checkpoints and writes, read beside the bridges' allow-list."""


_LOCKS = 64  # threads hash onto these: writes of two threads rarely wait for each other


def _write_order(w: list[Any]) -> tuple[str, str, int]:
    """LangGraph's order of a checkpoint's pending writes: ``(task_path, task_id, idx)``."""
    return w[4], w[0], w[5]


class LlmCoreCheckpointSaver(ThreadStore, BaseCheckpointSaver[str]):
    """A LangGraph ``BaseCheckpointSaver`` whose threads live in an llm-core cache."""

    def __init__(
        self,
        cache: Cache,
        *,
        ttl: float | None = None,
        refresh_on_read: bool = True,
        serde: SerializerProtocol | None = None,
        allowed_types: Iterable[type] = (),
        prefix: str = "lgcp:",
        remember_expired: float = 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not capabilities_of(cache).compare_and_set or not hasattr(cache, "compare_and_set"):
            raise CapabilityError(
                f"to_langgraph_checkpointer needs a cache with an atomic compare_and_set "
                f"(capabilities.compare_and_set), which {type(cache).__name__} does not declare: "
                "parallel LangGraph tasks write one thread concurrently"
            )
        allowed = (*CHECKPOINT_TYPES, *allowed_types)
        super().__init__(serde=allow_listed(serde, allowed, allow_plain=False))
        self.cache = cache
        self.ttl = check_ttl(ttl)
        self.refresh_on_read = bool(refresh_on_read)
        self.prefix = check_prefix(prefix)
        self.remember_expired = check_ttl(remember_expired)
        self._clock = clock
        self._memo = ThreadMemo()
        self._locks = [threading.Lock() for _ in range(_LOCKS)]
        self.refresh_slack = 0.0 if self.ttl is None else refresh_slack(self.ttl)

    def _lock_of(self, config: RunnableConfig) -> threading.Lock:
        """The lock this process's sync writes of the thread take turns on: LangGraph writes a
        step's checkpoint and its tasks' writes from parallel threads, and compare-and-sets that
        wait their turn do not fail and retry (async writes and other processes still may)."""
        return self._locks[hash(str(config["configurable"]["thread_id"])) % len(self._locks)]

    def with_allowlist(self, extra_allowlist: Any) -> LlmCoreCheckpointSaver:
        """LangGraph's msgpack allow-list is not used: this saver reads stored values only
        through its own allow-list (pass your classes as ``allowed_types``)."""
        return self

    # --- plans: reading ---------------------------------------------------------

    def _tuple(
        self, thread_id: str, ns_name: str, checkpoint_id: str, parts: tr.Parts
    ) -> CheckpointTuple:
        entry, values, writes = parts
        parent, ctype, cdata, mtype, mdata, _run, _refs = entry
        loads = self.serde.loads_typed
        checkpoint: Checkpoint = loads((ctype, cdata))
        checkpoint["channel_values"] = {
            channel: loads((type_, data)) for channel, type_, data in values if type_ != "empty"
        }
        return CheckpointTuple(
            config={
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns_name,
                    "checkpoint_id": checkpoint_id,
                }
            },
            checkpoint=checkpoint,
            metadata=loads((mtype, mdata)),
            parent_config=(
                {
                    "configurable": {
                        "thread_id": thread_id,
                        "checkpoint_ns": ns_name,
                        "checkpoint_id": parent,
                    }
                }
                if parent
                else None
            ),
            pending_writes=[
                (w[0], w[1], loads((w[2], w[3]))) for w in sorted(writes.values(), key=_write_order)
            ],
        )

    def _pick(
        self, known: Known | None, thread_id: str, ns_name: str, checkpoint_id: str | None
    ) -> CheckpointTuple | None:
        """The checkpoint named (the namespace's newest if ``checkpoint_id`` is ``None``)."""
        if known is None:
            return None
        ns = known.record["n"].get(ns_name)
        if ns is None:
            return None
        if checkpoint_id is None:
            found = tr.newest(ns, thread_id, trusted=known.full)
            if found is None:
                return None
            checkpoint_id, parts = found
            return self._tuple(thread_id, ns_name, checkpoint_id, parts)
        named = tr.checkpoint(ns, checkpoint_id, thread_id, trusted=known.full)
        return None if named is None else self._tuple(thread_id, ns_name, checkpoint_id, named)

    def _matches(
        self,
        known: Known,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Iterator[CheckpointTuple]:
        conf = config["configurable"] if config else {}
        want_ns = conf.get("checkpoint_ns")
        want_id = conf.get("checkpoint_id")
        before_id = get_checkpoint_id(before) if before else None
        thread_id = known.record["t"]
        for ns_name, packed in known.record["n"].items():
            if want_ns is not None and ns_name != want_ns:
                continue
            head = tr.newest(packed, thread_id, trusted=known.full)
            ns = tr.body(packed, thread_id)
            for checkpoint_id in sorted(ns["c"], reverse=True):
                if want_id is not None and checkpoint_id != want_id:
                    continue
                if before_id is not None and checkpoint_id >= before_id:
                    continue
                if limit is not None and limit <= 0:
                    return
                # the newest comes from the namespace's head, the others from its body
                if head is not None and head[0] == checkpoint_id:
                    parts = head[1]
                else:
                    found = tr.checkpoint(ns, checkpoint_id, thread_id, trusted=known.full)
                    assert found is not None
                    parts = found
                if filter:
                    entry = parts[0]
                    metadata = self.serde.loads_typed((entry[3], entry[4]))
                    if not all(metadata.get(k) == v for k, v in filter.items()):
                        continue
                yield self._tuple(thread_id, ns_name, checkpoint_id, parts)
                if limit is not None:
                    limit -= 1

    # --- LangGraph's interface: sync ---------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id, ns_name, checkpoint_id = _ids(config)
        return self._pick(
            self._read_now(thread_id, refresh=True), thread_id, ns_name, checkpoint_id
        )

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        threads = [_ids(config)[0]] if config else run(self.cache, self._thread_ids())
        for thread_id in threads:
            if limit is not None and limit <= 0:
                return
            known = self._read_now(thread_id, refresh=config is not None)
            if known is None:
                continue
            for found in self._matches(known, config, filter, before, limit):
                yield found
                if limit is not None:
                    limit -= 1

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        with self._lock_of(config):
            return run(self.cache, self._put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        with self._lock_of(config):
            run(self.cache, self._put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        run(self.cache, self._delete_thread(str(thread_id)))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        run(self.cache, self._delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        run(self.cache, self._copy_thread(str(source_thread_id), str(target_thread_id)))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        run(self.cache, self._prune([str(t) for t in thread_ids], strategy))

    # --- LangGraph's interface: async ----------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id, ns_name, checkpoint_id = _ids(config)
        known = await arun(self.cache, self._read(thread_id, refresh=True))
        return self._pick(known, thread_id, ns_name, checkpoint_id)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        threads = [_ids(config)[0]] if config else await arun(self.cache, self._thread_ids())
        for thread_id in threads:
            if limit is not None and limit <= 0:
                return
            known = await arun(self.cache, self._read(thread_id, refresh=config is not None))
            if known is None:
                continue
            for found in self._matches(known, config, filter, before, limit):
                yield found
                if limit is not None:
                    limit -= 1

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await arun(self.cache, self._put(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await arun(self.cache, self._put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await arun(self.cache, self._delete_thread(str(thread_id)))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await arun(self.cache, self._delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await arun(self.cache, self._copy_thread(str(source_thread_id), str(target_thread_id)))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await arun(self.cache, self._prune([str(t) for t in thread_ids], strategy))

    def get_next_version(self, current: str | None, channel: None) -> str:
        """``"<counter, 32 digits>.<random>"``, as LangGraph's own savers write them."""
        if current is None:
            number = 0
        elif isinstance(current, int):
            number = current
        else:
            number = int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

    def __repr__(self) -> str:
        return (
            f"LlmCoreCheckpointSaver({self.cache!r}, ttl={self.ttl}, "
            f"refresh_on_read={self.refresh_on_read}, prefix={self.prefix!r})"
        )


def to_langgraph_checkpointer(
    cache: Cache,
    *,
    ttl: float | None = None,
    refresh_on_read: bool = True,
    serde: SerializerProtocol | None = None,
    allowed_types: Iterable[type] = (),
    prefix: str = "lgcp:",
    remember_expired: float = 86400.0,
    clock: Callable[[], float] = time.time,
) -> LlmCoreCheckpointSaver:
    """``cache`` as a LangGraph checkpointer: ``builder.compile(checkpointer=...)``.

    ``ttl``: seconds a thread lives after its last write (and, with ``refresh_on_read``, after
    its last read); ``None`` = forever.  A thread expires whole.  ``serde``: LangGraph's
    ``JsonPlusSerializer`` format (default) or an ``EncryptedSerializer`` over it (then every
    record must be encrypted); stored values are read only through the allow-list, extended by
    ``allowed_types``.  ``prefix`` starts every key.  ``remember_expired``: how long after a
    thread expired :func:`resume_once` still says "expired" rather than "not found".
    ``clock``: the wall clock the cache counts TTLs on (inject the cache's clock in tests).
    """
    if not isinstance(cache, Cache):
        raise TypeError(
            f"to_langgraph_checkpointer needs an llm-core Cache, got {type(cache).__name__}"
        )
    return LlmCoreCheckpointSaver(
        cache,
        ttl=ttl,
        refresh_on_read=refresh_on_read,
        serde=serde,
        allowed_types=allowed_types,
        prefix=prefix,
        remember_expired=remember_expired,
        clock=clock,
    )
