"""Typed state that survives a pause: allow-listed tags, never an import from stored bytes."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_core import Error, MemoryCache, Ok, Paused, SQLiteCache
from llm_core.sessions import SESSION_KEY_PREFIX, StateTypes
from llm_core.workflow import StepContext, Workflow
from tests.workflow.support import cache_plugin

pydantic = pytest.importorskip("pydantic")
messages = pytest.importorskip("langchain_core.messages")


class Order(pydantic.BaseModel):  # type: ignore[name-defined,misc]
    id: uuid.UUID
    placed: dt.datetime
    total: decimal.Decimal
    lines: list[str]


def conversation() -> list[Any]:
    return [
        messages.SystemMessage("You approve refunds."),
        messages.HumanMessage("Refund order 42, please."),
        messages.AIMessage(
            "",
            tool_calls=[{"name": "refund", "args": {"order": 42, "amount": "9.99"}, "id": "c1"}],
        ),
        messages.ToolMessage("refunded", tool_call_id="c1"),
        messages.AIMessage([{"type": "text", "text": "Done."}]),
    ]


def typed_state() -> dict[str, Any]:
    return {
        "messages": conversation(),
        "order": Order(
            id=uuid.UUID(int=42),
            placed=dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.UTC),
            total=decimal.Decimal("9.99"),
            lines=["a", "b"],
        ),
        "when": dt.date(2026, 11, 25),
        "at": dt.time(9, 30),
        "raw": b"\x00\xffbytes",
        "pair": (1, "two"),
        "$t": "a user key that looks like a tag",
        "nested": {"$t": "dict", "v": [1, (2, 3)]},
    }


def echo_flow() -> Workflow:
    def hold(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause(kind="review", payload={"last": state["messages"][-1]})
        return {**state, "answer": ctx.resume_input}

    return Workflow("typed", [hold])


def test_typed_state_round_trips_in_process(cache: MemoryCache) -> None:
    runtime = echo_flow().use(cache_plugin(cache)).build(state_types=[Order])
    state = typed_state()
    paused = runtime.run(state)
    assert isinstance(paused, Paused), paused
    assert paused.payload == {"last": conversation()[-1]}
    done = runtime.resume(paused.token, "ok")
    assert isinstance(done, Ok), done
    artefact = {k: v for k, v in done.artefact.items() if k != "answer"}
    assert artefact == state
    assert [type(m) for m in artefact["messages"]] == [type(m) for m in conversation()]
    assert artefact["messages"][2].tool_calls[0]["args"] == {"order": 42, "amount": "9.99"}
    assert type(artefact["order"]) is Order and type(artefact["pair"]) is tuple


def test_an_unregistered_type_is_refused_at_pause_naming_its_path(cache: MemoryCache) -> None:
    runtime = echo_flow().use(cache_plugin(cache)).build()  # Order not registered
    outcome = runtime.run({**typed_state(), "messages": conversation()})
    assert isinstance(outcome, Error) and outcome.kind == "snapshot_not_serializable"
    assert "the Order at $.order cannot be stored" in outcome.message
    assert cache.keys() == []


def _forge(cache: MemoryCache, token: str, edit: Any) -> None:
    key = SESSION_KEY_PREFIX + token
    head, body = (cache.get(key) or b"").split(b"\n", 1)
    record = json.loads(body)
    edit(record["snapshot"]["state"])
    cache.set(key, head + b"\n" + json.dumps(record).encode(), 3600)


@pytest.mark.parametrize(
    "forged",
    [
        {"$t": "model", "name": "os.system", "v": {}},
        {"$t": "model", "name": "subprocess.Popen", "v": {"args": "touch /tmp/x"}},
        {"$t": "lc_message", "v": {"type": "constructor", "data": {}}},
        {"$t": "lc_message", "v": {"lc": 1, "type": "constructor", "id": ["os", "system"]}},
        {"$t": "pickle", "v": "gASVAAAAAAAAAACMAm9zlIwGc3lzdGVtlJOULg=="},
        {"$t": "datetime", "v": 12},
        {"$t": "bytes", "v": "***"},
    ],
)
def test_forged_tags_are_session_invalid_and_run_nothing(
    cache: MemoryCache, forged: dict[str, Any]
) -> None:
    runtime = echo_flow().use(cache_plugin(cache)).build(state_types=[Order])
    token = runtime.run({"messages": conversation()}).token
    _forge(cache, token, lambda state: state.__setitem__("evil", forged))
    outcome = runtime.resume(token, "ok")
    assert isinstance(outcome, Error) and outcome.kind == "session_invalid", outcome
    assert cache.get(SESSION_KEY_PREFIX + token) is not None  # kept, for inspection


def test_nothing_is_imported_from_a_forged_record(tmp_path: Path) -> None:
    """In a fresh interpreter, a record naming modules that were never imported: an import
    hook proves none of them is imported while the record is read."""
    script = tmp_path / "probe.py"
    script.write_text(
        """
import json, sys
from llm_core import MemoryCache, Workflow
from llm_core.sessions import SESSION_KEY_PREFIX

seen = []
class Spy:
    def find_spec(self, name, path=None, target=None):
        seen.append(name)
        return None
sys.meta_path.insert(0, Spy())

def hold(ctx, state):
    return ctx.pause() if not ctx.resumed else state

cache = MemoryCache()
from llm_core.workflow import AdapterBundle, Plugin
runtime = Workflow("t", [hold]).use(Plugin(key="c", adapters=AdapterBundle(cache=cache))).build()
token = runtime.run({}).token
key = SESSION_KEY_PREFIX + token
head, body = cache.get(key).split(b"\\n", 1)
record = json.loads(body)
record["snapshot"]["state"]["x"] = {"$t": "model", "name": "antigravity.fly", "v": {}}
record["snapshot"]["state"]["y"] = {"$t": "lc_message", "v": {"type": "webbrowser", "data": {}}}
cache.set(key, head + b"\\n" + json.dumps(record).encode(), 60)
seen.clear()
print(runtime.resume(token, None).kind)
watched = {"antigravity", "webbrowser", "os", "subprocess"}
print(sorted(n for n in seen if n.split(".")[0] in watched))
"""
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split("\n")[:2] == ["session_invalid", "[]"], done.stdout + done.stderr


def test_typed_state_resumes_in_another_process_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "typed.db"
    runtime = echo_flow().use(cache_plugin(SQLiteCache(path))).build(state_types=[Order])
    token = runtime.run(typed_state()).token
    script = f"""
import sys; sys.path.insert(0, {str(Path.cwd())!r})
from llm_core import SQLiteCache
from tests.sessions.test_typed_state import Order, echo_flow, typed_state
from tests.workflow.support import cache_plugin
runtime = echo_flow().use(cache_plugin(SQLiteCache({str(path)!r}))).build(state_types=[Order])
done = runtime.resume({token!r}, "ok")
artefact = {{k: v for k, v in done.artefact.items() if k != "answer"}}
print(done.status, artefact == typed_state())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["ok", "True"], done.stdout + done.stderr


plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=5)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        | st.tuples(inner, inner)
    ),
    max_leaves=10,
)
typed = (
    st.datetimes(timezones=st.just(dt.UTC))
    | st.dates()
    | st.uuids()
    | st.binary(max_size=8)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
)


@settings(max_examples=150, deadline=None)
@given(
    value=st.recursive(
        plain | typed,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=3), inner, max_size=3)
            | st.tuples(inner, inner)
        ),
        max_leaves=12,
    )
)
def test_allowed_values_round_trip(value: Any) -> None:
    types = StateTypes()
    encoded = types.encode({"v": value}, "state")
    assert types.decode(json.loads(json.dumps(encoded)))["v"] == value
