"""The LangGraph bridges' allow-listed serde, on real LangGraph objects (no mocks).

Forged records are built exactly as LangGraph's ``JsonPlusSerializer`` lays out its msgpack
extensions: ``Ext(code, packb((module, name, payload[, method])))``.  Each would create a file if
anything ran it; LangGraph's own (permissive) serde is shown to run it, our bridges never do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import hashlib
import hmac
import ipaddress
import logging
import operator
import os
import pathlib
import sys
import time
import uuid
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypedDict

import ormsgpack
import pytest
from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.serde.base import CipherProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import CachePolicy, Overwrite, Send

from llm_core import MemoryCache, SQLiteCache
from llm_core.bridges._serde import AllowListSerializer, DisallowedDataError, allow_listed
from llm_core.bridges.langgraph import from_langgraph_cache, to_langgraph_cache
from llm_core.cache import Cache
from llm_core.errors import CacheFormatError, ConfigurationError

# --- forged records --------------------------------------------------------------------


def _ext(code: int, *record: Any) -> ormsgpack.Ext:
    return ormsgpack.Ext(code, ormsgpack.packb(record))


def _msgpack(value: Any) -> bytes:
    return ormsgpack.packb(value)


Forgery = Callable[[Path], bytes]
"""Builds msgpack bytes that, decoded by LangGraph's permissive serde, create ``marker``."""

FORGERIES: dict[str, Forgery] = {
    "os.system": lambda m: _msgpack(_ext(0, "os", "system", f"touch '{m}'")),
    "subprocess.Popen-list": lambda m: _msgpack(
        _ext(0, "subprocess", "check_call", ["touch", str(m)])
    ),
    "subprocess.Popen-args": lambda m: _msgpack(
        _ext(1, "subprocess", "Popen", [["touch", str(m)]])
    ),
    "builtins.eval": lambda m: _msgpack(
        _ext(0, "builtins", "eval", f"open({str(m)!r}, 'w').close()")
    ),
    "subprocess.run-kwargs": lambda m: _msgpack(
        _ext(2, "subprocess", "run", {"args": ["touch", str(m)]})
    ),
    "pydantic-v2-slot": lambda m: _msgpack(
        _ext(5, "subprocess", "run", {"args": ["touch", str(m)]}, "model_validate_json")
    ),
    "nested-in-a-message": lambda m: _msgpack(
        [
            [
                "messages",
                _ext(
                    5,
                    "langchain_core.messages.ai",
                    "AIMessage",
                    {
                        "content": "hi",
                        "additional_kwargs": {"x": _ext(0, "os", "system", f"touch '{m}'")},
                    },
                    "model_validate_json",
                ),
            ]
        ]
    ),
}


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


@pytest.fixture
def bridge_errors(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.WARNING, logger="llm_core.bridges"):
        yield caplog


def _bridge_error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "llm_core.bridges" and r.levelno == logging.WARNING
    ]


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_langgraphs_permissive_serde_runs_the_forgery(forgery: str, marker: Path) -> None:
    """The control: these bytes are a live attack on LangGraph's default serde."""
    JsonPlusSerializer(allowed_msgpack_modules=True).loads_typed(
        ("msgpack", FORGERIES[forgery](marker))
    )
    deadline = time.monotonic() + 10  # Popen returns before its child has run
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.exists()


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_entry_is_a_logged_miss_and_nothing_runs(
    forgery: str, marker: Path, bridge_errors: pytest.LogCaptureFixture
) -> None:
    cache = MemoryCache()
    lg = to_langgraph_cache(cache)
    lg.set({(("ns",), "k"): ("legit", None)})
    (key,) = cache.keys()
    cache.set(key, b"msgpack:" + FORGERIES[forgery](marker))
    assert lg.get([(("ns",), "k")]) == {}
    assert not marker.exists()
    (line,) = _bridge_error_lines(bridge_errors)
    assert "served as a miss" in line and "not on the allow-list" in line


async def test_the_async_face_refuses_too(
    marker: Path, bridge_errors: pytest.LogCaptureFixture
) -> None:
    cache = MemoryCache()
    lg = to_langgraph_cache(cache)
    await lg.aset({(("ns",), "k"): ("legit", None)})
    (key,) = cache.keys()
    await cache.aset(key, b"msgpack:" + FORGERIES["os.system"](marker))
    assert await lg.aget([(("ns",), "k")]) == {}
    assert not os.path.exists(marker)  # noqa: ASYNC240 - a test's own check
    assert _bridge_error_lines(bridge_errors)


def test_a_forged_module_is_never_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing a module runs its code: a record naming one must not even import it."""
    trap = tmp_path / "imported"
    (tmp_path / "llmc_trap_module.py").write_text(
        f"open({str(trap)!r}, 'w').close()\ndef f(x):\n    return x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for code in (0, 1, 2, 4, 5):
        data = _msgpack(_ext(code, "llmc_trap_module", "f", {"a": 1}))
        with pytest.raises(DisallowedDataError, match=r"llmc_trap_module\.f is not on the allow"):
            AllowListSerializer().loads_typed(("msgpack", data))
    assert not trap.exists()
    assert "llmc_trap_module" not in sys.modules


@pytest.mark.parametrize(
    ("type_", "data"),
    [
        ("pickle", b"\x80\x04K\x01."),
        ("json", b'{"lc": 2, "type": "constructor", "id": ["os", "system"], "args": ["true"]}'),
        ("msgpack", _msgpack(ormsgpack.Ext(6, _msgpack(["O", [1], "C", b"x"])))),  # numpy
        ("msgpack", _msgpack(ormsgpack.Ext(7, _msgpack(1)))),  # delta snapshot
        ("msgpack", b"\xc1"),  # not msgpack
        ("msgpack", _msgpack(_ext(0, "uuid", "UUID", 12))),  # an allowed type, wrong argument
        ("msgpack", _msgpack(_ext(3, "datetime", "datetime", "2020-01-01", "fromtimestamp"))),
        ("msgpack", _msgpack(_ext(3, "os", "system", "true", "__call__"))),
        ("msgpack", b"\x91" * 200_000 + b"\xc0"),  # nesting deeper than any real value
    ],
)
def test_allow_list_serializer_refuses_everything_else(type_: str, data: bytes) -> None:
    with pytest.raises(DisallowedDataError):
        AllowListSerializer().loads_typed((type_, data))


# --- it still reads what LangGraph writes ---------------------------------------------------


class Colour(Enum):
    RED = "r"


@dataclasses.dataclass
class Point:
    x: int
    when: dt.date


VALUES: list[Any] = [
    None,
    b"\x00raw",
    bytearray(b"ba"),
    1,
    2.5,
    "text",
    [1, (2, 3)],
    {"a": {1: 2}},
    (1, "two"),
    dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    dt.datetime(2024, 6, 1, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    dt.datetime(2024, 1, 2, 3, 4),
    dt.date(2024, 1, 2),
    dt.time(1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=2), "X")),
    dt.timedelta(days=1, seconds=3, microseconds=7),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("1.25"),
    {1, 2},
    frozenset({"a"}),
    deque([1, 2]),
    ipaddress.ip_address("::1"),
    ipaddress.ip_network("10.0.0.0/8"),
    pathlib.Path("/a/b"),
    AIMessage(content="hi", tool_calls=[{"name": "f", "args": {"x": 1}, "id": "c1"}]),
    AIMessageChunk(content="part"),
    HumanMessage("yo", id="h1"),
    SystemMessage("be brief"),
    ToolMessage("result", tool_call_id="c1"),
    RemoveMessage(id="h1"),
    Document(page_content="p", metadata={"seen": dt.date(2020, 1, 1)}),
    Send("node", {"arg": 1}),
    Overwrite([1, 2]),
    [("messages", [AIMessage("z")]), ("when", dt.datetime(2020, 1, 1))],
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_reads_what_jsonplus_writes_exactly_as_jsonplus_does(value: Any) -> None:
    record = JsonPlusSerializer().dumps_typed(value)
    theirs = JsonPlusSerializer().loads_typed(record)
    ours = AllowListSerializer().loads_typed(record)
    assert ours == theirs
    assert type(ours) is type(theirs)


def test_registered_classes_are_rebuilt_and_others_are_not() -> None:
    for value in (Colour.RED, Point(1, dt.date(2020, 1, 2))):
        record = JsonPlusSerializer().dumps_typed(value)
        with pytest.raises(DisallowedDataError, match="not on the allow-list"):
            AllowListSerializer().loads_typed(record)
        assert AllowListSerializer([Colour, Point]).loads_typed(record) == value
    with pytest.raises(ConfigurationError, match="allowed_types takes classes"):
        AllowListSerializer([print])  # type: ignore[list-item]


# --- a real graph through the bridge ----------------------------------------------------------

CALLS = {"rich": 0}


class RichState(TypedDict, total=False):
    question: str
    messages: Annotated[list[AnyMessage], add_messages]
    when: dt.datetime
    pair: tuple[int, str]
    ident: uuid.UUID
    amount: decimal.Decimal
    tags: set[str]
    log: Annotated[list[str], operator.add]


def rich_node(state: RichState) -> dict[str, Any]:
    CALLS["rich"] += 1
    return {
        "messages": [AIMessage(content=f"answer to {state['question']}", id="a1")],
        "when": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
        "pair": (1, "one"),
        "ident": uuid.UUID(int=7),
        "amount": decimal.Decimal("9.99"),
        "tags": {"x", "y"},
        "log": ["ran"],
    }


def build_rich(cache: Any) -> Any:
    graph = StateGraph(RichState)
    graph.add_node("rich", rich_node, cache_policy=CachePolicy(ttl=60))
    graph.add_edge(START, "rich")
    graph.add_edge("rich", END)
    return graph.compile(cache=cache)


def _first_and_cached(cache: Any) -> tuple[Any, Any]:
    CALLS["rich"] = 0
    graph = build_rich(cache)
    question = {"question": "q", "messages": [HumanMessage("q", id="h1")]}
    first = graph.invoke(question)
    cached = graph.invoke(question)
    assert CALLS["rich"] == 1  # the second run was served from the cache
    return first, cached


@pytest.fixture(params=["memory", "sqlite"])
def llm_cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cache]:
    if request.param == "memory":
        yield MemoryCache()
    else:
        with SQLiteCache(tmp_path / "graph.db") as cache:
            yield cache


def test_a_graph_round_trips_messages_datetimes_and_tuples(llm_cache: Cache) -> None:
    first, cached = _first_and_cached(to_langgraph_cache(llm_cache))
    _, reference = _first_and_cached(InMemoryCache())  # LangGraph's own cache, same graph
    assert cached == reference
    assert cached["messages"] == first["messages"]
    assert isinstance(cached["messages"][1], AIMessage)
    assert cached["when"] == first["when"] and isinstance(cached["when"], dt.datetime)
    assert cached["pair"] == [1, "one"]  # msgpack has no tuple: LangGraph's own cache agrees
    assert (cached["ident"], cached["amount"], cached["tags"]) == (
        first["ident"],
        first["amount"],
        first["tags"],
    )


def test_a_forged_entry_under_a_graphs_key_reruns_the_node(
    marker: Path, bridge_errors: pytest.LogCaptureFixture
) -> None:
    cache = MemoryCache()
    graph = build_rich(to_langgraph_cache(cache))
    CALLS["rich"] = 0
    good = graph.invoke({"question": "q"})
    (key,) = cache.keys()
    cache.set(key, b"msgpack:" + FORGERIES["os.system"](marker))
    assert graph.invoke({"question": "q"}) == good
    assert CALLS["rich"] == 2  # a miss: LangGraph ran the node again
    assert not marker.exists()
    assert any(key in line for line in _bridge_error_lines(bridge_errors))


def test_a_node_returning_an_unregistered_class_is_not_cached(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = {"n": 0}

    class PointState(TypedDict, total=False):
        x: int
        point: Point

    def make_point(state: PointState) -> dict[str, Any]:
        calls["n"] += 1
        return {"point": Point(state["x"], dt.date(2020, 1, 1))}

    def build(cache: Any) -> Any:
        graph = StateGraph(PointState)
        graph.add_node("make_point", make_point, cache_policy=CachePolicy(ttl=60))
        graph.add_edge(START, "make_point")
        graph.add_edge("make_point", END)
        return graph.compile(cache=cache)

    cache = MemoryCache()
    with caplog.at_level(logging.WARNING, logger="llm_core.bridges"):
        graph = build(to_langgraph_cache(cache))
        assert graph.invoke({"x": 1})["point"] == Point(1, dt.date(2020, 1, 1))
        assert graph.invoke({"x": 1})["point"] == Point(1, dt.date(2020, 1, 1))
    assert calls["n"] == 2 and cache.keys() == []  # nothing stored that no read could use
    assert any("allowed_types" in r.getMessage() for r in caplog.records)

    registered = build(to_langgraph_cache(MemoryCache(), allowed_types=[Point]))
    assert registered.invoke({"x": 2})["point"] == registered.invoke({"x": 2})["point"]
    assert calls["n"] == 3  # registered: the second run came from the cache


def test_a_store_that_is_down_is_a_logged_miss(bridge_errors: pytest.LogCaptureFixture) -> None:
    from llm_core.cache.redis import RedisCache

    down = RedisCache.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    lg = to_langgraph_cache(down)
    assert lg.get([(("ns",), "k")]) == {}
    lg.set({(("ns",), "k"): ("v", 5)})  # logged, not raised
    assert len(_bridge_error_lines(bridge_errors)) == 2


# --- EncryptedSerializer ---------------------------------------------------------------------


class ToyCipher(CipherProtocol):
    """An authenticated stream cipher from the standard library (SHAKE-256 keystream + HMAC),
    standing in for pycryptodome's AES, which is not installed here."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def _stream(self, nonce: bytes, n: int) -> bytes:
        return hashlib.shake_256(self.key + nonce).digest(n)

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        nonce = hashlib.sha256(plaintext + self.key).digest()[:16]
        body = bytes(a ^ b for a, b in zip(plaintext, self._stream(nonce, len(plaintext))))
        tag = hmac.new(self.key, nonce + body, "sha256").digest()
        return "toy", nonce + tag + body

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        assert ciphername == "toy", f"Unsupported cipher: {ciphername}"
        nonce, tag, body = ciphertext[:16], ciphertext[16:48], ciphertext[48:]
        if not hmac.compare_digest(tag, hmac.new(self.key, nonce + body, "sha256").digest()):
            raise ValueError("MAC check failed")
        return bytes(a ^ b for a, b in zip(body, self._stream(nonce, len(body))))


def test_encrypted_serializer_round_trips_through_a_graph(llm_cache: Cache) -> None:
    serde = EncryptedSerializer(ToyCipher(b"k" * 32))
    _, cached = _first_and_cached(to_langgraph_cache(llm_cache, serde=serde))
    _, reference = _first_and_cached(InMemoryCache())  # LangGraph's own cache, same graph
    assert cached == reference
    stored = [llm_cache.get(k) or b"" for k in getattr(llm_cache, "keys")()]
    assert stored and all(raw.startswith(b"msgpack+toy:") for raw in stored)
    assert not any(b"answer to" in raw for raw in stored)  # encrypted at rest


def test_encrypted_entries_refuse_plain_forged_and_foreign_keyed_records(
    marker: Path, bridge_errors: pytest.LogCaptureFixture
) -> None:
    cache = MemoryCache()
    lg = to_langgraph_cache(cache, serde=EncryptedSerializer(ToyCipher(b"k" * 32)))
    lg.set({(("ns",), "k"): ({"answer": 42}, None)})
    assert lg.get([(("ns",), "k")]) == {(("ns",), "k"): {"answer": 42}}
    (key,) = cache.keys()
    good = cache.get(key) or b""

    plain = b"msgpack:" + _msgpack({"answer": 666})  # planted by someone without the key
    other_store = MemoryCache()
    other_key = to_langgraph_cache(other_store, serde=EncryptedSerializer(ToyCipher(b"x" * 32)))
    other_key.set({(("ns",), "k"): ({"answer": 666}, None)})
    (okey,) = other_store.keys()
    wrong_key = other_store.get(okey) or b""
    _, sealed = EncryptedSerializer(ToyCipher(b"k" * 32)).cipher.encrypt(
        FORGERIES["os.system"](marker)
    )  # even with the key, a forged type is refused
    for raw in (plain, wrong_key, b"msgpack+toy:" + sealed, b"msgpack+toy:" + good[12:40]):
        cache.set(key, raw)
        assert lg.get([(("ns",), "k")]) == {}
    assert not marker.exists()
    assert len(_bridge_error_lines(bridge_errors)) == 4


def test_pycryptodome_aes_tag_is_accepted() -> None:
    pytest.importorskip("Crypto")
    cache = MemoryCache()
    serde = EncryptedSerializer.from_pycryptodome_aes(key=b"k" * 16)
    lg = to_langgraph_cache(cache, serde=serde)
    lg.set({(("ns",), "k"): ([1, dt.date(2020, 1, 1)], None)})
    (key,) = cache.keys()
    assert (cache.get(key) or b"").startswith(b"msgpack+aes:")
    assert lg.get([(("ns",), "k")]) == {(("ns",), "k"): [1, dt.date(2020, 1, 1)]}


def test_serdes_the_bridge_cannot_guard_are_refused() -> None:
    class Custom:
        def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
            return "x", b""

        def loads_typed(self, data: tuple[str, bytes]) -> Any:
            return None

    with pytest.raises(ConfigurationError, match="cannot guard"):
        to_langgraph_cache(MemoryCache(), serde=Custom())
    with pytest.raises(ConfigurationError, match="pickle_fallback"):
        allow_listed(EncryptedSerializer(ToyCipher(b"k"), JsonPlusSerializer(pickle_fallback=True)))


# --- from_langgraph_cache -------------------------------------------------------------------


def test_from_langgraph_cache_refuses_a_forged_record_and_runs_nothing(marker: Path) -> None:
    lg: InMemoryCache[Any] = InMemoryCache()
    cache = from_langgraph_cache(lg)
    cache.set("k", b"value")
    (namespace,) = lg._cache
    stored = lg._cache[namespace]["v"]
    lg._cache[namespace]["v"] = ("msgpack", FORGERIES["os.system"](marker), stored[2])
    with pytest.raises(CacheFormatError, match="not on the allow-list"):
        cache.get("k")
    assert not marker.exists()
    # the LangGraph cache itself is guarded in place, and still serves a graph
    assert isinstance(lg.serde, AllowListSerializer)
    _, cached = _first_and_cached(lg)
    _, reference = _first_and_cached(InMemoryCache())
    assert cached == reference


def test_from_langgraph_cache_keeps_the_stores_encryption() -> None:
    lg: InMemoryCache[Any] = InMemoryCache(serde=EncryptedSerializer(ToyCipher(b"k" * 32)))
    cache = from_langgraph_cache(lg)
    cache.set("k", b"secret session")
    ((type_, data, _),) = [v for ns in lg._cache.values() for v in ns.values()]
    assert type_ == "bytes+toy" and b"secret session" not in data
    assert cache.get("k") == b"secret session"
    lg_custom: InMemoryCache[Any] = InMemoryCache(serde=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="cannot guard"):
        from_langgraph_cache(lg_custom)
