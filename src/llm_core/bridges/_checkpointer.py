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
from llm_core.bridges._thread_memo import ThreadMemo
from llm_core.bridges._thread_store import ThreadStore, refresh_slack
from llm_core.bridges._thread_store import thread_ids_of as _ids
from llm_core.cache import Cache, capabilities_of
from llm_core.cache._validation import check_ttl
from llm_core.errors import CapabilityError

__all__ = ["LlmCoreCheckpointSaver", "to_langgraph_checkpointer"]

CHECKPOINT_TYPES: tuple[type, ...] = (Interrupt, Command)
"""Types LangGraph itself stores in checkpoints and writes, read beside the bridges' allow-list."""


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
        self.refresh_slack = 0.0 if self.ttl is None else refresh_slack(self.ttl)

    def with_allowlist(self, extra_allowlist: Any) -> LlmCoreCheckpointSaver:
        """LangGraph's msgpack allow-list is not used: this saver reads stored values only
        through its own allow-list (pass your classes as ``allowed_types``)."""
        return self

    # --- plans: reading ---------------------------------------------------------

    def _tuple(self, record: tr.Record, ns_name: str, checkpoint_id: str) -> CheckpointTuple:
        ns = record["n"][ns_name]
        thread_id: str = record["t"]
        parent, ctype, cdata, mtype, mdata, _run, refs = tr.entry(ns, checkpoint_id, thread_id)
        loads = self.serde.loads_typed
        checkpoint: Checkpoint = loads((ctype, cdata))
        values: dict[str, Any] = {}
        for key in refs:
            blob = tr.blob(ns, key, thread_id)
            if blob is not None and blob[0] != "empty":
                values[tr.channel_of(key)] = loads((blob[0], blob[1]))
        checkpoint["channel_values"] = values
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
                (w[0], w[1], loads((w[2], w[3])))
                for w in tr.ordered_writes(ns, checkpoint_id, thread_id)
            ],
        )

    def _pick(self, record: tr.Record | None, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names (its namespace's newest without a checkpoint_id)."""
        if record is None:
            return None
        _thread, ns_name, checkpoint_id = _ids(config)
        ns = record["n"].get(ns_name)
        if ns is None or not ns["c"]:
            return None
        if checkpoint_id is None:
            checkpoint_id = max(ns["c"])
        elif checkpoint_id not in ns["c"]:
            return None
        return self._tuple(record, ns_name, checkpoint_id)

    def _matches(
        self,
        record: tr.Record,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
    ) -> Iterator[tuple[str, str]]:
        conf = config["configurable"] if config else {}
        want_ns = conf.get("checkpoint_ns")
        want_id = conf.get("checkpoint_id")
        before_id = get_checkpoint_id(before) if before else None
        for ns_name, ns in record["n"].items():
            if want_ns is not None and ns_name != want_ns:
                continue
            for checkpoint_id in sorted(ns["c"], reverse=True):
                if want_id is not None and checkpoint_id != want_id:
                    continue
                if before_id is not None and checkpoint_id >= before_id:
                    continue
                if filter:
                    entry = tr.entry(ns, checkpoint_id, record["t"])
                    metadata = self.serde.loads_typed((entry[3], entry[4]))
                    if not all(metadata.get(k) == v for k, v in filter.items()):
                        continue
                yield ns_name, checkpoint_id

    # --- LangGraph's interface: sync ---------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._pick(self._read_now(_ids(config)[0], refresh=True), config)

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
            record = self._read_now(thread_id, refresh=config is not None)
            if record is None:
                continue
            for ns_name, checkpoint_id in self._matches(record, config, filter, before):
                if limit is not None and limit <= 0:
                    return
                yield self._tuple(record, ns_name, checkpoint_id)
                if limit is not None:
                    limit -= 1

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return run(self.cache, self._put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
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
        record = await arun(self.cache, self._read(_ids(config)[0], refresh=True))
        return self._pick(record, config)

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
            record = await arun(self.cache, self._read(thread_id, refresh=config is not None))
            if record is None:
                continue
            for ns_name, checkpoint_id in self._matches(record, config, filter, before):
                if limit is not None and limit <= 0:
                    return
                yield self._tuple(record, ns_name, checkpoint_id)
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
