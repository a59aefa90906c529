"""``ResumeSnapshot``, the ``SessionStore`` bridge over a cache, and resume tokens."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_core import MemoryCache, ResumeSnapshot, SessionStore, session_store_from_cache
from llm_core.errors import (
    InvalidSnapshotError,
    InvalidTokenError,
    InvalidTTLError,
    SnapshotSerializationError,
)
from llm_core.sessions import (
    SESSION_KEY_PREFIX,
    CacheSessionStore,
    ListableCacheSessionStore,
    ListableSessionStore,
    mint_token,
    token_expiry,
)
from tests.clock import ManualClock
from tests.workflow.support import SwitchableCache


def snapshot(token: str = "tok", created: float = 100.0, **changes: Any) -> ResumeSnapshot:
    made = ResumeSnapshot(
        token=token,
        pause_kind="human",
        created_at=created,
        last_accessed_at=created,
        expires_at=created + 60,
        recipe="hitl-gate",
        step="gate",
        state={"draft": "héllo ✓", "n": [1, 2.5, None, True]},
        payload={"draft": "héllo ✓"},
    )
    return replace(made, **changes)


def test_snapshot_round_trips_through_utf8_json() -> None:
    original = snapshot()
    data = original.to_json()
    assert isinstance(data, bytes)
    assert "héllo ✓" in data.decode("utf-8")  # UTF-8, not \\u escapes
    assert json.loads(data) == original.to_dict()
    assert ResumeSnapshot.from_json(data) == original


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe", "not valid UTF-8 JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"version": 2}', "version 2"),
        (b'{"version": 1, "token": "t"}', "lacks fields"),
        (
            json.dumps({**snapshot().to_dict(), "created_at": "yesterday"}).encode(),
            "wrong type",
        ),
        (json.dumps({**snapshot().to_dict(), "state": [1]}).encode(), "wrong type"),
    ],
)
def test_invalid_stored_snapshots_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidSnapshotError, match=message):
        ResumeSnapshot.from_json(data)


def test_a_snapshot_that_is_not_json_says_which_part() -> None:
    with pytest.raises(SnapshotSerializationError, match=r"payload \(Object of type bytes"):
        snapshot(payload=b"raw").to_json()
    with pytest.raises(SnapshotSerializationError, match=r"state \(.*and payload"):
        snapshot(state={"x": float("nan")}, payload={1, 2}).to_json()


def test_the_store_keeps_snapshots_under_the_session_prefix(cache: MemoryCache) -> None:
    store = session_store_from_cache(cache)
    assert isinstance(store, SessionStore)
    store.set("tok", snapshot(), 60)
    assert cache.keys() == [SESSION_KEY_PREFIX + "tok"]
    assert store.get("tok") == snapshot()
    assert store.get("tok") == snapshot()  # get does not claim
    assert store.take("tok") == snapshot()
    assert store.take("tok") is None
    store.set(42, snapshot(token="42"), 60)
    assert cache.keys() == [SESSION_KEY_PREFIX + "42"]
    store.delete(42)
    assert store.get(42) is None


@pytest.mark.parametrize("token", [None, 1.5, b"t", "", True, ("t",)], ids=repr)
def test_store_tokens_must_be_str_or_int(cache: MemoryCache, token: Any) -> None:
    store = session_store_from_cache(cache)
    for call in (
        lambda: store.get(token),
        lambda: store.set(token, snapshot(), 60),
        lambda: store.delete(token),
        lambda: store.take(token),
        lambda: store.touch(token, 60),
    ):
        with pytest.raises(InvalidTokenError, match="str or an int"):
            call()


def test_touch_restarts_the_ttl_and_records_the_access(clock: ManualClock) -> None:
    cache = MemoryCache(clock=clock)
    store = session_store_from_cache(cache, clock=clock)
    store.set("tok", snapshot(created=clock.now), 60)
    clock.advance(50)
    assert store.touch("tok", 60) is True
    touched = store.get("tok")
    assert touched is not None
    assert touched.last_accessed_at == clock.now
    assert touched.expires_at == clock.now + 60
    clock.advance(59)
    assert store.get("tok") is not None
    assert store.touch("missing", 60) is False
    with pytest.raises(InvalidTTLError, match="always expires"):
        store.touch("tok", None)


def test_a_listable_cache_gives_a_listable_store(clock: ManualClock) -> None:
    cache = MemoryCache(clock=clock)
    store = session_store_from_cache(cache)
    assert isinstance(store, ListableCacheSessionStore)
    assert isinstance(store, ListableSessionStore)
    cache.set("unrelated", b"x")
    store.set("b", snapshot(token="b", created=20), 60)
    store.set("a", snapshot(token="a", created=10), 30)
    assert sorted(store.tokens()) == ["a", "b"]
    assert [s.token for s in store.sessions()] == ["a", "b"]  # oldest first
    clock.advance(31)
    assert store.tokens() == ["b"]


def test_a_cache_without_listing_gives_a_plain_store(clock: ManualClock) -> None:
    store = session_store_from_cache(SwitchableCache(clock))
    assert type(store) is CacheSessionStore
    assert not isinstance(store, ListableSessionStore)


def test_the_bridge_refuses_what_is_not_a_cache() -> None:
    with pytest.raises(TypeError, match="needs a Cache"):
        session_store_from_cache({})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix"):
        session_store_from_cache(MemoryCache(), prefix="")


def test_a_custom_prefix(cache: MemoryCache) -> None:
    store = session_store_from_cache(cache, prefix="app:s:")
    store.set("t", snapshot(), 60)
    assert cache.keys() == ["app:s:t"]
    assert store.key("t") == "app:s:t"


async def test_async_faces(clock: ManualClock) -> None:
    cache = MemoryCache(clock=clock)
    store = session_store_from_cache(cache, clock=clock)
    assert isinstance(store, ListableCacheSessionStore)
    await store.aset("t", snapshot(token="t"), 60)
    assert await store.aget("t") == snapshot(token="t")
    assert await store.atokens() == ["t"]
    assert [s.token for s in await store.asessions()] == ["t"]
    assert await store.atouch("t", 10) is True
    assert await store.atake("t") is not None
    assert await store.atake("t") is None
    await store.aset("u", snapshot(token="u"), 60)
    await store.adelete("u")
    assert await store.aget("u") is None
    assert await store.atouch("u", 5) is False


def test_tokens_carry_their_expiry_and_128_random_bits() -> None:
    token = mint_token(1_700_000_000.25)
    stamp, random_part = token.split(".")
    assert int(stamp, 16) == 1_700_000_000_250
    assert token_expiry(token) == 1_700_000_000.25
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", random_part)  # 16 bytes, URL-safe base64
    assert len({mint_token(1.0) for _ in range(1000)}) == 1000


def test_token_expiry_rounds_up_to_the_millisecond() -> None:
    assert token_expiry(mint_token(10.0001)) == 10.001


@pytest.mark.parametrize(
    "text",
    ["", ".", "abc", "18c.", "18c." + "a" * 21, "18C." + "a" * 22, "18c." + "a" * 23, "x.y.z"],
)
def test_malformed_tokens_have_no_expiry(text: str) -> None:
    assert token_expiry(text) is None


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(state=st.dictionaries(st.text(max_size=8), JSON, max_size=5), payload=JSON)
def test_any_json_state_and_payload_survive_a_pause_and_resume(
    state: dict[str, Any], payload: Any
) -> None:
    from llm_core import Ok, Paused, StepContext, Workflow

    seen: list[Any] = []

    def gate(ctx: StepContext, given_state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause(payload=payload)
        seen.append((given_state, ctx.resume_input))
        return {"ok": True}

    runtime = Workflow("json", [gate]).build()
    first = runtime.run(state)
    assert isinstance(first, Paused)
    stored = runtime.session_store.get(first.token)
    assert stored is not None and stored.state == state and stored.payload == payload
    assert isinstance(runtime.resume(first.token, payload), Ok)
    assert seen == [(state, payload)]
