"""One listing over several session stores (a server whose recipes use different caches)."""

from __future__ import annotations

from collections.abc import Sequence

from llm_core.sessions._listing import SessionOrder, encode_cursor
from llm_core.sessions._store import SessionInfo, SessionPage, SessionStore

__all__ = ["page_stores"]


def page_stores(
    stores: Sequence[SessionStore],
    *,
    limit: int = 50,
    cursor: str | None = None,
    recipe: str | None = None,
    kind: str | None = None,
    order: SessionOrder = "expiring",
) -> SessionPage:
    """A page of the sessions of every store, merged by deadline: each store pages from the
    cursor's position and the first ``limit`` of them are kept (see ``SessionStore.page``)."""
    if not stores:
        return SessionPage([], None)
    if len(stores) == 1:
        return stores[0].page(limit=limit, cursor=cursor, recipe=recipe, kind=kind, order=order)
    merged: list[tuple[tuple[float, str], SessionInfo]] = []
    more = False
    for store in stores:
        after, newest, labels = store.page_args(limit, cursor, recipe, kind, order)
        items, position = store.page_at(after, newest, labels, limit)
        more = more or position is not None
        merged += [((info.deadline or 0.0, store.prefix + info.token), info) for info in items]
    merged.sort(key=lambda item: item[0], reverse=order == "newest")
    shown = merged[:limit]
    more = more or len(merged) > limit
    next_cursor = encode_cursor(order, shown[-1][0]) if more and shown else None
    return SessionPage([info for _, info in shown], next_cursor)
