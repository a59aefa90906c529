"""Listing sessions by page: order, cursors, filters, and what is never listed.

Each test runs on a SQLiteCache (an indexed cache: pages read only what they show) and on a
MemoryCache (no index: every record read); both give the same pages.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_core import MemoryCache, Ok, Paused, SQLiteCache, StepContext, Workflow
from llm_core.errors import ConfigurationError
from llm_core.sessions import SESSION_KEY_PREFIX, SessionStore, page_stores, session_labels
from llm_core.workflow import Runtime
from tests.clock import ManualClock
from tests.workflow.support import cache_plugin

SECRET = "listing-secret-key-0123456789"


def gate_flow(recipe: str, kind: str) -> Workflow:
    def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause(kind=kind, payload={"draft": state["input"]})
        return {**state, "decision": ctx.resume_input}

    return Workflow(recipe, [gate])


@pytest.fixture(params=["sqlite", "memory"])
def cache(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryCache(clock=clock)
        return
    made = SQLiteCache(tmp_path / "sessions.db", clock=clock)
    yield made
    made.close()


def runtime(cache: Any, clock: ManualClock, recipe: str = "a", kind: str = "human") -> Runtime:
    flow = gate_flow(recipe, kind).use(cache_plugin(cache))
    return flow.build(clock=clock, secret_key=SECRET, session_ttl=3600)


def pause_many(rt: Runtime, clock: ManualClock, n: int) -> list[str]:
    tokens = []
    for i in range(n):
        outcome = rt.run(f"draft {i}")
        assert isinstance(outcome, Paused)
        tokens.append(outcome.token)
        clock.advance(1.0)  # distinct deadlines: the order is the pause order
    return tokens


def every_page(store: SessionStore, **options: Any) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = store.page(cursor=cursor, **options)
        pages.append([info.token for info in page.items])
        if page.cursor is None:
            return pages
        cursor = page.cursor


def test_pages_walk_every_session_once_in_deadline_order(cache: Any, clock: ManualClock) -> None:
    rt = runtime(cache, clock)
    tokens = pause_many(rt, clock, 7)
    store = rt.session_store
    assert store.indexed is isinstance(cache, SQLiteCache)
    assert every_page(store, limit=3) == [tokens[0:3], tokens[3:6], tokens[6:7]]
    assert every_page(store, limit=3, order="newest") == [
        tokens[6:3:-1],
        tokens[3:0:-1],
        tokens[0:1],
    ]
    first = store.page(limit=2).items[0]
    assert first.status == "pending"
    assert first.snapshot is not None and first.snapshot.recipe == "a"
    assert first.deadline is not None and first.deadline == pytest.approx(first.snapshot.expires_at)
    assert every_page(store, limit=7) == [tokens]  # exactly a page: no empty page after it


def test_filters_by_recipe_and_pause_kind(cache: Any, clock: ManualClock) -> None:
    a_human = pause_many(runtime(cache, clock, "a", "human"), clock, 2)
    b_human = pause_many(runtime(cache, clock, "b", "human"), clock, 2)
    a_tool = pause_many(runtime(cache, clock, "a", "tool_call"), clock, 2)
    store = runtime(cache, clock).session_store
    assert every_page(store, recipe="a") == [a_human + a_tool]
    assert every_page(store, kind="human", limit=3) == [a_human + b_human[:1], b_human[1:]]
    assert every_page(store, recipe="a", kind="tool_call") == [a_tool]
    assert every_page(store, recipe="c") == [[]]


def test_finished_expired_and_cancelled_sessions_are_never_listed(
    cache: Any, clock: ManualClock
) -> None:
    rt = runtime(cache, clock)
    tokens = pause_many(rt, clock, 5)
    assert isinstance(rt.resume(tokens[0], "yes"), Ok)
    rt.cancel(tokens[1])
    listed = rt.session_store.page().items
    assert [info.token for info in listed] == tokens[2:]
    clock.advance(3600 - 5 + 3.5)  # tokens[2] and [3] expired, [4] has 0.5 s left
    assert [info.token for info in rt.session_store.page().items] == tokens[4:]
    if isinstance(cache, SQLiteCache):  # the index keeps nothing for finished sessions
        with sqlite3.connect(cache.path) as conn:
            listed_rows = conn.execute(
                "SELECT key FROM llm_core_cache WHERE ix = ? ORDER BY expires_at",
                (SESSION_KEY_PREFIX,),
            ).fetchall()
        assert [key for (key,) in listed_rows] == [SESSION_KEY_PREFIX + t for t in tokens[2:]]


def test_a_claimed_session_is_listed_as_claimed(cache: Any, clock: ManualClock) -> None:
    seen: list[str] = []

    def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause(kind="human", payload={})
        store = ctx_store[0]
        seen.extend(f"{i.token}:{i.status}" for i in store.page().items)
        return state

    rt = Workflow("a", [gate]).use(cache_plugin(cache)).build(clock=clock, secret_key=SECRET)
    ctx_store = [rt.session_store]
    paused = rt.run("x")
    assert isinstance(paused, Paused)
    assert isinstance(rt.resume(paused.token, None), Ok)
    assert seen == [f"{paused.token}:claimed"]
    assert rt.session_store.page().items == []


def test_an_edited_record_is_listed_as_invalid_and_stays_stored(
    cache: Any, clock: ManualClock
) -> None:
    rt = runtime(cache, clock)
    tokens = pause_many(rt, clock, 2)
    key = SESSION_KEY_PREFIX + tokens[0]
    edited = cache.get(key).replace(b'"step":', b'"step" :').replace(b"draft 0", b"draft X")
    cache.set(key, edited, 3000)  # its deadline is now the soonest
    listed = rt.session_store.page().items
    assert [(info.token, info.status) for info in listed] == [
        (tokens[0], "invalid"),
        (tokens[1], "pending"),
    ]
    assert listed[0].problem is not None and "signature" in listed[0].problem
    assert cache.get(key) == edited  # a listing never drops what it cannot read


def test_bad_arguments_are_clear_errors(cache: Any, clock: ManualClock) -> None:
    store = runtime(cache, clock).session_store
    pause_many(runtime(cache, clock), clock, 3)
    cursor = store.page(limit=1).cursor
    assert cursor is not None
    with pytest.raises(ConfigurationError, match="order='expiring'"):
        store.page(cursor=cursor, order="newest")
    for bad in ("garbage!", "", "W10", cursor[:-3]):
        with pytest.raises(ConfigurationError, match="cursor"):
            store.page(cursor=bad)
    for limit in (0, 1001, True):
        with pytest.raises(ConfigurationError, match="limit"):
            store.page(limit=limit)
    with pytest.raises(ConfigurationError, match="order"):
        store.page(order="oldest")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="recipe"):
        store.page(recipe="")


def test_the_async_face_gives_the_same_pages(cache: Any, clock: ManualClock) -> None:
    rt = runtime(cache, clock)
    tokens = pause_many(rt, clock, 5)
    store = rt.session_store

    async def pages() -> list[list[str]]:
        first = await store.apage(limit=3, order="newest")
        assert first.cursor is not None
        second = await store.apage(limit=3, order="newest", cursor=first.cursor)
        assert second.cursor is None
        return [[i.token for i in first.items], [i.token for i in second.items]]

    assert asyncio.run(pages()) == [tokens[4:1:-1], tokens[1::-1]]


def test_one_listing_over_several_stores(tmp_path: Path, clock: ManualClock) -> None:
    first = SQLiteCache(tmp_path / "one.db", clock=clock)
    second = MemoryCache(clock=clock)
    a, b = runtime(first, clock, "a"), runtime(second, clock, "b")
    tokens = []
    for i in range(6):
        tokens += pause_many(a if i % 2 else b, clock, 1)
    stores = [a.session_store, b.session_store]
    pages, cursor = [], None
    while True:
        page = page_stores(stores, limit=4, cursor=cursor)
        pages.append([i.token for i in page.items])
        if page.cursor is None:
            break
        cursor = page.cursor
    assert pages == [tokens[:4], tokens[4:]]
    assert [i.token for i in page_stores(stores, recipe="a").items] == tokens[1::2]
    first.close()


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"\n",
        b"not json",
        b"llm-core/2 -\n",
        b'llm-core/2 -\n{"status":"pending","snapshot":{"head":',
        b'llm-core/2 -\n{"status":"pending","snapshot":{"head":[1,2,3,4,5,6,7]}}',
        b'llm-core/2 -\n{"status":"pending","snapshot":{"head":["t","k",1,1,1,"r"]}}',
        b'llm-core/2 -\n{"status":"pending","snapshot":{"head":["t","\\ud800",1,1,1,"r",""]}}',
        b'llm-core/2 -\n{"status":"pending","snapshot":{"head":' + b"[" * 100_000,
        b"\xff\xfe\n\xff",
    ],
    ids=repr,
)
def test_the_labeler_lists_what_it_cannot_read_as_unreadable(value: bytes) -> None:
    assert session_labels(value) == ("", "")  # listed; shown as invalid once read


def test_the_labeler_does_not_list_finished_records() -> None:
    for status in (b"completed", b"cancelled"):
        assert session_labels(b'llm-core/2 -\n{"status":"' + status + b'","token":"t"}') is None


def test_the_labeler_reads_a_real_record_and_a_long_head(cache: Any, clock: ManualClock) -> None:
    rt = runtime(cache, clock, "r" * 5000, "k")
    (token,) = pause_many(rt, clock, 1)
    assert session_labels(cache.get(SESSION_KEY_PREFIX + token)) == ("r" * 5000, "k")


def test_a_runtime_pages_its_own_recipe(cache: Any, clock: ManualClock) -> None:
    mine = runtime(cache, clock, "mine", "human")
    other = runtime(cache, clock, "other", "human")
    tokens = pause_many(mine, clock, 3)
    pause_many(other, clock, 2)
    page = mine.sessions_page(limit=2, order="newest")
    assert [i.token for i in page.items] == [tokens[2], tokens[1]]
    rest = asyncio.run(mine.asessions_page(limit=2, order="newest", cursor=page.cursor))
    assert ([i.token for i in rest.items], rest.cursor) == ([tokens[0]], None)
    assert mine.sessions_page(kind="tool").items == []
