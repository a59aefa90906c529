"""Listing sessions by page: the labels a record is indexed by, cursors, and the walk.

On an :class:`~llm_core.cache.IndexedCache` a page walks the cache's deadline index (pending
and claimed records only, labelled ``(recipe, pause kind)`` by :func:`session_labels`), reading
only the records it shows; any other listable cache is read whole and sorted (fine for a
``MemoryCache``, slow at scale).  Labels are read from unverified bytes, so every record a page
shows is verified again: a forged label can hide nothing and show nothing that is not there.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal

from llm_core.cache import IndexedEntry, Labels

__all__ = [
    "ORDERS",
    "PageRequest",
    "SessionOrder",
    "decode_cursor",
    "encode_cursor",
    "session_labels",
    "walk",
]

SessionOrder = Literal["expiring", "newest"]
"""``expiring``: the soonest deadline first; ``newest``: the latest deadline first (for sessions
of one TTL, the most recently paused first)."""
ORDERS: tuple[SessionOrder, ...] = ("expiring", "newest")

_FINISHED = (b'{"status":"completed",', b'{"status":"cancelled",')
_HEAD = b'"snapshot":{"head":'
_HEAD_WINDOW = 4096  # bytes after the head's start that hold it (longer heads: decoded whole)
_UNREADABLE: Labels = ("", "")  # listed (and shown as invalid once read), matching no filter
_head_decoder = json.JSONDecoder()


def session_labels(value: bytes) -> Labels | None:
    """``(recipe, pause kind)`` of a pending or claimed record; ``None`` (not listed) for a
    completed or cancelled one; ``("", "")`` for bytes it cannot read, so that a listing shows
    them as invalid, as it would without an index.  Reads only the head; never raises."""
    body_at = value.find(b"\n") + 1
    if body_at and value.startswith(_FINISHED, body_at):
        return None
    try:
        at = value.find(_HEAD, body_at)
        if at < 0:
            return _UNREADABLE
        start = at + len(_HEAD)
        window = value[start : start + _HEAD_WINDOW].decode("utf-8", "replace")
        try:
            head, _ = _head_decoder.raw_decode(window)
        except ValueError:
            head, _ = _head_decoder.raw_decode(value[start:].decode("utf-8", "replace"))
        if type(head) is list and len(head) == 7:
            kind, recipe = head[1], head[5]
            if type(kind) is str and type(recipe) is str and kind and recipe:
                recipe.encode("utf-8"), kind.encode("utf-8")  # a lone surrogate: unreadable
                return (recipe, kind)
    except Exception:  # hostile bytes: shown as invalid when the listing reads them
        return _UNREADABLE
    return _UNREADABLE


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One call of ``IndexedCache.page`` a walk needs (performed by a sync or async driver)."""

    after: tuple[float, str] | None
    newest: bool
    labels: tuple[str | None, str | None]
    limit: int


def walk(
    after: tuple[float, str] | None,
    newest: bool,
    labels: tuple[str | None, str | None],
    limit: int,
    show: Callable[[IndexedEntry], Any],
) -> Generator[PageRequest, list[IndexedEntry], tuple[list[Any], tuple[float, str] | None]]:
    """Collect up to ``limit`` shown items (``show(entry)`` returns the item, or ``None`` to
    skip it); returns them and the position to continue from (``None``: nothing more)."""
    items: list[Any] = []
    position = after
    chunk = limit + 1  # one more than needed: tells whether another page exists
    while True:
        entries = yield PageRequest(position, newest, labels, chunk)
        for entry in entries:
            if len(items) == limit:
                return items, position
            position = (entry.expires_at, entry.key)
            item = show(entry)
            if item is not None:
                items.append(item)
        if len(entries) < chunk:
            return items, None


def encode_cursor(order: SessionOrder, position: tuple[float, str]) -> str:
    """An opaque cursor for the page after ``position``."""
    raw = json.dumps([order, position[0], position[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, order: SessionOrder) -> tuple[float, str]:
    """The position a cursor continues from; ``ValueError`` if it is malformed or was made
    for the other order."""
    problem = "malformed cursor: pass the cursor of the previous page as it was returned"
    if not isinstance(cursor, str) or len(cursor) > 4096:
        raise ValueError(problem)
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise ValueError(problem) from None
    if not (type(value) is list and len(value) == 3):
        raise ValueError(problem)
    made_for, deadline, key = value
    if made_for != order:
        raise ValueError(f"this cursor was made for order={made_for!r:.20}, not {order!r}")
    if type(deadline) not in (int, float) or not isinstance(key, str):
        raise ValueError(problem)
    if not -1e300 < deadline < 1e300:
        raise ValueError(problem)
    return float(deadline), key
