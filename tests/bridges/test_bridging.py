"""The shared bridge machinery: key mapping, the expiry envelope, and the two drivers."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_core import MemoryCache
from llm_core.bridges._envelope import (
    BackendCall,
    CallScript,
    Entry,
    arun,
    check_prefix,
    compose_key,
    escape,
    pack_entry,
    require_listing,
    run,
    scope_prefix,
    unpack_entry,
)
from llm_core.cache._validation import is_valid_key
from llm_core.errors import (
    CacheFormatError,
    CacheUnavailableError,
    CapabilityError,
    ConfigurationError,
)

texts = st.text(max_size=300)  # any code point, surrogates and control characters included
scopes = st.lists(texts, max_size=4).map(tuple)


@given(scopes, texts)
def test_composed_keys_are_always_valid(scope: tuple[str, ...], key: str) -> None:
    composed = compose_key("p:", scope, key)
    assert is_valid_key(composed)
    assert composed.startswith(scope_prefix("p:", scope))


@given(scopes, texts, scopes, texts)
def test_composed_keys_are_injective(
    scope_a: tuple[str, ...], key_a: str, scope_b: tuple[str, ...], key_b: str
) -> None:
    same_input = (scope_a, key_a) == (scope_b, key_b)
    assert (compose_key("p:", scope_a, key_a) == compose_key("p:", scope_b, key_b)) == same_input


@given(scopes, scopes, texts)
def test_a_scope_prefix_matches_exactly_its_own_scope(
    scope_a: tuple[str, ...], scope_b: tuple[str, ...], key: str
) -> None:
    listed = compose_key("p:", scope_b, key).startswith(scope_prefix("p:", scope_a))
    assert listed == (scope_a == scope_b)


def test_escape_keeps_readable_text_readable() -> None:
    assert escape("docstore/data") == "docstore%2Fdata"
    assert escape("a|b#c%d") == "a%7Cb%23c%25d"
    assert escape("tab\there") == "tab%09here"
    assert escape("ünï code") == "ünï code"


def test_prefix_must_be_a_short_valid_key() -> None:
    assert check_prefix("app:") == "app:"
    for bad in ("", "x" * 257, "new\nline", 3):
        with pytest.raises(ConfigurationError):
            check_prefix(bad)


@pytest.mark.parametrize("expires_at", [None, 0.0, 1_700_000_000.123456, -math.inf])
def test_entries_round_trip(expires_at: float | None) -> None:
    entry = Entry(b"\x00value\xff", expires_at)
    assert unpack_entry(pack_entry(entry), "here") == entry


@pytest.mark.parametrize("data", [b"", b"llmc\x01short", b"plain value bytes", "text", None])
def test_anything_else_is_a_format_error_naming_where(data: object) -> None:
    with pytest.raises(CacheFormatError, match="the-store"):
        unpack_entry(data, "the-store")


# --- drivers -----------------------------------------------------------------------


def _plan(log: list[Any]) -> CallScript[str]:
    first = yield BackendCall("get", ("a",))
    log.append(first)
    yield BackendCall("set", ("b", b"2"), {"ttl": 5})
    second = yield BackendCall("get", ("b",))
    return f"{first!r}/{second!r}"


def test_sync_and_async_drivers_run_the_same_plan() -> None:
    cache = MemoryCache()
    cache.set("a", b"1")
    log: list[Any] = []
    assert run(cache, _plan(log)) == "b'1'/b'2'"
    assert log == [b"1"]


async def test_async_driver_uses_the_a_methods() -> None:
    cache = MemoryCache()
    await cache.aset("a", b"1")
    log: list[Any] = []
    assert await arun(cache, _plan(log)) == "b'1'/b'2'"


def _nothing() -> CallScript[int]:
    return 7
    yield  # pragma: no cover - makes this a generator


async def test_a_plan_that_asks_for_nothing() -> None:
    assert run(object(), _nothing()) == 7
    assert await arun(object(), _nothing()) == 7


class _Unreachable:
    """A store whose socket is gone: every call raises an OSError (as a driver would)."""

    def get(self, key: str) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    async def aget(self, key: str) -> None:
        raise TimeoutError("timed out")


async def test_os_errors_become_cache_unavailable() -> None:
    def plan() -> CallScript[None]:
        yield BackendCall("get", ("k",))

    with pytest.raises(CacheUnavailableError, match=r"_Unreachable\.get failed"):
        run(_Unreachable(), plan())
    with pytest.raises(CacheUnavailableError, match="timed out"):
        await arun(_Unreachable(), plan())


def test_require_listing_names_what_is_missing() -> None:
    cache = MemoryCache()
    assert require_listing(cache, "x()") is cache
    with pytest.raises(CapabilityError, match=r"clear\(\) needs a cache that lists its keys"):
        require_listing(object(), "clear()")
    with pytest.raises(NotImplementedError):  # CapabilityError is one
        require_listing(object(), "clear()")
