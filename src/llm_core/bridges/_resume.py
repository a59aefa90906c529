"""Exactly-once resume of a LangGraph interrupt stored by :class:`LlmCoreCheckpointSaver`.

``resume_once(graph, config, value)`` first *claims* the thread's pending interrupt -- the newest
root checkpoint that holds an ``__interrupt__`` write -- by compare-and-set on the thread's record
(the claim names that checkpoint, an owner and a lease deadline), and only the worker whose claim
landed runs ``graph.invoke(Command(resume=value), config)``.  A second worker gets
:class:`InterruptBusyError` while the claim's lease runs, :class:`NoPendingInterruptError` once the
run has moved past the interrupt; a thread that expired is :class:`ThreadExpiredError`, one that
never existed (or was deleted) :class:`ThreadNotFoundError` -- never a silent fresh run.

If the resumed run raises, the claim is released (the interrupt can be resumed again); if the
worker dies, the claim lapses after ``lease`` seconds.  So the resumed node runs at least once
and, while runs finish within their lease, exactly once.  A run that succeeds leaves its claim
in place: it names a checkpoint that is no longer the newest, so it blocks nothing (the next
interrupt is a new checkpoint) and costs no write.
"""

from __future__ import annotations

import secrets
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.types import INTERRUPT
from langgraph.types import Command

from llm_core.bridges import _thread_record as tr
from llm_core.bridges._checkpointer import LlmCoreCheckpointSaver
from llm_core.bridges._envelope import BackendCall, CallScript, arun, run
from llm_core.bridges._thread_store import UNCHANGED
from llm_core.errors import (
    SessionAlreadyResumedError,
    SessionBusyError,
    SessionExpiredError,
    SessionNotFoundError,
)

__all__ = [
    "InterruptBusyError",
    "NoPendingInterruptError",
    "ThreadExpiredError",
    "ThreadNotFoundError",
    "aresume_once",
    "resume_once",
]


class ThreadNotFoundError(SessionNotFoundError):
    """No such thread: it never existed, was deleted, or expired longer ago than remembered."""


class ThreadExpiredError(SessionExpiredError):
    """The thread's TTL ran out: its checkpoints and its pending interrupt are gone."""


class InterruptBusyError(SessionBusyError):
    """Another worker claimed this interrupt and its lease has not run out."""


class NoPendingInterruptError(SessionAlreadyResumedError):
    """The thread has no pending interrupt: it was resumed already, or never paused."""


class _Missing(Exception):
    pass


def _saver(graph: Any) -> LlmCoreCheckpointSaver:
    saver = getattr(graph, "checkpointer", None)
    if not isinstance(saver, LlmCoreCheckpointSaver):
        raise TypeError(
            "resume_once needs a graph compiled with checkpointer=to_langgraph_checkpointer(...), "
            f"got checkpointer {type(saver).__name__}"
        )
    return saver


def _claim(saver: LlmCoreCheckpointSaver, thread_id: str, owner: str, lease: float) -> Any:
    def change(record: tr.Record | None) -> tuple[tr.Record, str]:
        if record is None:
            raise _Missing
        ns = record["n"].get("")
        found = None if ns is None else tr.newest(ns, thread_id, trusted=True)  # checked in full
        latest = None if found is None else found[0]
        writes = {} if found is None else found[1][2]
        if latest is None or not any(w[1] == INTERRUPT for w in writes.values()):
            raise NoPendingInterruptError(
                f"thread {thread_id!r} has no pending interrupt (resumed already, or never paused)"
            )
        now = saver._clock()
        claim = record["k"]
        if claim is not None and claim[0] == latest and claim[2] > now:
            raise InterruptBusyError(
                f"thread {thread_id!r}: another worker is resuming this interrupt "
                f"(its lease ends in {claim[2] - now:.1f} s)"
            )
        record["k"] = [latest, owner, now + lease]
        return record, latest

    return saver._update(thread_id, change)


def _release(saver: LlmCoreCheckpointSaver, thread_id: str, owner: str) -> CallScript[None]:
    def change(record: tr.Record | None) -> tuple[tr.Record | None, None]:
        if record is None or record["k"] is None or record["k"][1] != owner:
            return UNCHANGED, None
        record["k"] = None
        return record, None

    yield from saver._update(thread_id, change)


def _missing(saver: LlmCoreCheckpointSaver, thread_id: str) -> CallScript[Exception]:
    tomb = yield BackendCall("get", (saver.tomb_key(thread_id),))
    if tomb is not None:
        return ThreadExpiredError(
            f"thread {thread_id!r} expired (ttl={saver.ttl} s): its pending interrupt is gone"
        )
    return ThreadNotFoundError(f"no thread {thread_id!r} (never created, or deleted)")


def _check(config: RunnableConfig, lease: float) -> str:
    if not (isinstance(lease, (int, float)) and lease > 0):
        raise ValueError(f"lease must be a number of seconds > 0, got {lease!r}")
    return str(config["configurable"]["thread_id"])


def resume_once(
    graph: Any,
    config: RunnableConfig,
    value: Any,
    *,
    lease: float = 600.0,
    **kwargs: Any,
) -> Any:
    """Resume the thread's pending interrupt with ``value``, unless another worker already does.

    Returns what ``graph.invoke(Command(resume=value), config, **kwargs)`` returns.  ``lease``:
    seconds after which a claim whose worker never finished can be taken by another worker.
    """
    saver = _saver(graph)
    thread_id = _check(config, lease)
    owner = secrets.token_hex(16)
    try:
        run(saver.cache, _claim(saver, thread_id, owner, lease))
    except _Missing:
        raise run(saver.cache, _missing(saver, thread_id)) from None
    try:
        return graph.invoke(Command(resume=value), config, **kwargs)
    except BaseException:
        run(saver.cache, _release(saver, thread_id, owner))
        raise


async def aresume_once(
    graph: Any,
    config: RunnableConfig,
    value: Any,
    *,
    lease: float = 600.0,
    **kwargs: Any,
) -> Any:
    """Async face of :func:`resume_once` (runs ``graph.ainvoke``)."""
    saver = _saver(graph)
    thread_id = _check(config, lease)
    owner = secrets.token_hex(16)
    try:
        await arun(saver.cache, _claim(saver, thread_id, owner, lease))
    except _Missing:
        raise await arun(saver.cache, _missing(saver, thread_id)) from None
    try:
        return await graph.ainvoke(Command(resume=value), config, **kwargs)
    except BaseException:
        await arun(saver.cache, _release(saver, thread_id, owner))
        raise
