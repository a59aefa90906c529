"""Hypothesis over stored bytes: real records (paused hitl-gate and custom runs, claimed,
completed and cancelled ones) edited in a real MemoryCache and a real SQLite file, then
resumed (sync and async), listed and inspected.

Whatever the edit: no exception escapes; an ``Error`` of a session kind runs no step and
leaves the stored bytes where they were; an untouched second session still resumes.  With a
secret key every edit is ``session_invalid``; without one, an edit that still makes a valid
record may resume as that record says (a legitimate outcome of the edit).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_core import MemoryCache
from llm_core.cache import Cache, SQLiteCache
from llm_core.cli import main as cli_main
from llm_core.recipes import hitl_gate
from llm_core.sessions import SESSION_KEY_PREFIX, SessionStore
from llm_core.workflow import AdapterBundle, Error, Ok, Outcome, Paused, Plugin, Runtime, Workflow
from llm_core.workflow.steps import StepContext, StepResult
from tests.clock import ManualClock

SESSION_ERRORS = frozenset(
    {
        "session_invalid",
        "invalid_token",
        "invalid_resume_input",
        "session_not_found",
        "session_expired",
        "session_busy",
        "session_already_resumed",
        "session_cancelled",
    }
)
KEY = "k" * 32
OLD_KEY = "o" * 32
FAST = settings(
    max_examples=int(os.environ.get("LLM_CORE_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- a custom workflow that counts every step call ------------------------------------------


@dataclass
class Calls:
    n: int = 0
    claimed_bytes: list[bytes] = field(default_factory=list)


def counting_runtime(
    cache: Cache, clock: ManualClock, calls: Calls, key: str | None, previous: tuple[str, ...] = ()
) -> Runtime:
    def prep(ctx: StepContext, state: dict[str, Any]) -> StepResult:
        calls.n += 1
        return {**state, "prepared": True}

    def gate(ctx: StepContext, state: dict[str, Any]) -> StepResult:
        calls.n += 1
        if not ctx.resumed:
            return ctx.pause(
                kind="review",
                payload={"text": state.get("input")},
                expects={"type": "object", "required": ["ok"]},
            )
        if ctx.resume_input.get("grab"):  # keep the real claimed record, then fail (release)
            claimed = cache.get(SESSION_KEY_PREFIX + ctx.resume_input["grab"])
            assert claimed is not None
            calls.claimed_bytes.append(claimed)
            raise RuntimeError("released on purpose")
        return {**state, "ok": ctx.resume_input["ok"]}

    def after(ctx: StepContext, state: dict[str, Any]) -> StepResult:
        calls.n += 1
        return {"done": state["ok"], "input": state["input"]}

    plugin = Plugin(key="adapter.cache", adapters=AdapterBundle(cache=cache))
    return (
        Workflow("counting", [prep, gate, after])
        .use(plugin)
        .build(clock=clock, secret_key=key, previous_keys=previous)
    )


def counted_hitl(cache: Cache, clock: ManualClock, calls: Calls, key: str | None) -> Runtime:
    def count(event: Any) -> None:
        if event.name == "step.start":
            calls.n += 1

    hook = Plugin(key="test.count", hooks={"step.start": count})
    return hitl_gate(cache=cache, clock=clock, secret_key=key, plugins=[hook])


# --- real records ---------------------------------------------------------------------------


@dataclass
class World:
    cache: Cache
    clock: ManualClock
    key: str | None
    calls: Calls
    custom: Runtime
    hitl: Runtime

    def record(self, kind: str) -> tuple[Runtime, str, bytes]:
        """A fresh real record of ``kind``: (its runtime, its token, its stored bytes)."""
        if kind == "hitl":
            paused = self.hitl.run("Ship it")
            assert isinstance(paused, Paused), paused
            return self.hitl, paused.token, self.stored(paused.token)
        paused = self.custom.run({"input": "text"})
        assert isinstance(paused, Paused), paused
        token = paused.token
        if kind == "claimed":
            outcome = self.custom.resume(token, {"ok": 1, "grab": token})
            assert isinstance(outcome, Error) and outcome.kind == "step_failed"
            return self.custom, token, self.calls.claimed_bytes.pop()
        if kind == "completed":
            assert isinstance(self.custom.resume(token, {"ok": 1}, request_id="req-1"), Ok)
        elif kind == "cancelled":
            assert isinstance(self.custom.cancel(token), Ok)
        return self.custom, token, self.stored(token)

    def stored(self, token: str) -> bytes:
        data = self.cache.get(SESSION_KEY_PREFIX + token)
        assert type(data) is bytes
        return data


def make_world(cache: Cache, clock: ManualClock, key: str | None) -> World:
    calls = Calls()
    return World(
        cache,
        clock,
        key,
        calls,
        counting_runtime(cache, clock, calls, key),
        counted_hitl(cache, clock, calls, key),
    )


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Cache, ManualClock]]:
    clock = ManualClock(start=time.time())
    if request.param == "memory":
        yield MemoryCache(clock=clock), clock
    else:
        cache = SQLiteCache(tmp_path / "sessions.db", clock=clock)
        yield cache, clock
        cache.close()


# --- edits ----------------------------------------------------------------------------------

RECORD_KINDS = ["hitl", "custom", "claimed", "completed", "cancelled"]
HUGE = ["9" * 5000, "1" + "0" * 400, "-" + "1" * 5000, "1e999", "-1e999", "1E400"]
NON_FINITE = ["NaN", "Infinity", "-Infinity"]
DEEP = ["[" * 1200 + "]" * 1200, '{"a":' * 1100 + "1" + "}" * 1100, "[" * 101 + "]" * 101]
RAW_VALUES = HUGE + NON_FINITE + DEEP
PLAIN_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, 2**31, 2**70, 1e308, -1e308, "", "x", "\x1b[2J\u2028",
    "\ud800", [], [1], {}, {"a": 1}, ["gate"], {"type": 5}, 7.0,
]  # fmt: skip
PATHS = [
    ("status",), ("attempts",), ("claim",), ("claim", "id"), ("claim", "until"),
    ("claim", "request_id"), ("snapshot",), ("snapshot", "head"), ("snapshot", "state"),
    ("snapshot", "payload"), ("snapshot", "expects"), ("snapshot", "version"), ("token",),
    ("request_id",), ("finished_at",), ("outcome",), ("outcome", "type"),
    ("outcome", "artefact"), ("snapshot", "expects", "type"), ("snapshot", "expects", "required"),
    *[("snapshot", "head", i) for i in range(7)],
]  # fmt: skip


class Raw:
    """A JSON token written as is (NaN, 1e999, a 5000-digit int, deep nesting)."""

    def __init__(self, text: str) -> None:
        self.text = text


def dumps(value: Any, compact: bool = True) -> bytes:
    raws: list[str] = []

    def swap(node: Any) -> Any:
        if isinstance(node, Raw):
            raws.append(node.text)
            return f"\x00RAW{len(raws) - 1}\x00"
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    text = json.dumps(swap(value), separators=(",", ":") if compact else None)
    for i, raw in enumerate(raws):
        text = text.replace(f'"\\u0000RAW{i}\\u0000"', raw)
    return text.encode("utf-8", "surrogatepass")


def split(data: bytes) -> tuple[bytes, Any]:
    head, body = data.split(b"\n", 1)
    return head, json.loads(body)


def set_path(record: Any, path: tuple[Any, ...], value: Any) -> bool:
    node = record
    for part in path[:-1]:
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not (in_dict or in_list):
            return False
        node = node[part]
    last = path[-1]
    if isinstance(node, dict) and isinstance(last, str):
        node[last] = value
        return True
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value
        return True
    return False


def drop_path(record: Any, path: tuple[Any, ...]) -> bool:
    node = record
    for part in path[:-1]:
        if not (isinstance(node, dict) and part in node):
            return False
        node = node[part]
    if isinstance(node, dict) and path[-1] in node:
        del node[path[-1]]
        return True
    return False


@st.composite
def byte_edits(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    how = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
    where = draw(st.floats(0, 1))
    mask = draw(st.integers(1, 255))
    junk = draw(st.binary(min_size=1, max_size=8))

    def edit(data: bytes) -> bytes:
        i = min(int(where * len(data)), len(data) - 1)
        if how == "flip":
            return data[:i] + bytes([data[i] ^ mask]) + data[i + 1 :]
        if how == "truncate":
            return data[:i]
        if how == "insert":
            return data[:i] + junk + data[i:]
        return data[:i] + data[i + len(junk) :]

    return edit


@st.composite
def json_edits(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    path = draw(st.sampled_from(PATHS))
    how = draw(st.sampled_from(["set", "set", "raw", "drop", "reformat"]))
    value = draw(st.sampled_from(PLAIN_VALUES))
    raw = draw(st.sampled_from(RAW_VALUES))

    def edit(data: bytes) -> bytes:
        head, record = split(data)
        if how == "reformat":
            return head + b"\n" + dumps(record, compact=False)
        if how == "drop":
            drop_path(record, path)
        else:
            set_path(record, path, Raw(raw) if how == "raw" else value)
        return head + b"\n" + dumps(record)

    return edit


def semantic(name: str, world: World, token: str, other: str) -> Callable[[bytes], bytes]:
    """The meaningful forgeries: each is what an attacker with write access would try."""
    now = world.clock()

    def edit(data: bytes) -> bytes:
        head, record = split(data)
        snap = record.get("snapshot") or {}
        if name == "step_after_gate" and snap:
            snap["head"][6] = "finalize" if snap["head"][5] == "hitl-gate" else "after"
            snap["state"].update(decision="approve", notes=None, edited=None, ok=True)
        elif name == "recipe" and snap:
            snap["head"][5] = "counting" if snap["head"][5] == "hitl-gate" else "hitl-gate"
        elif name == "swap_token":
            if snap:
                snap["head"][0] = other
            else:
                record["token"] = other
        elif name == "forged_completion":
            record = {
                "status": "completed", "token": token, "claim": "x", "request_id": "req-1",
                "finished_at": now, "outcome": {"type": "ok", "artefact": {"final": "forged"}},
            }  # fmt: skip
        elif name in ("past_lease", "future_lease") and snap:
            until = now - 5 if name == "past_lease" else now + 50
            record.update(status="claimed", claim={"id": "c", "until": until, "request_id": None})
        elif name == "expired" and snap:
            snap["head"][4] = now - 1
        return head + b"\n" + dumps(record)

    return edit


SEMANTIC = [
    "step_after_gate", "recipe", "swap_token", "forged_completion", "past_lease",
    "future_lease", "expired",
]  # fmt: skip


# --- checks ---------------------------------------------------------------------------------


def resume(runtime: Runtime, token: str, value: Any, face: str, request: str | None) -> Outcome:
    if face == "sync":
        return runtime.resume(token, value, request_id=request)
    return asyncio.run(runtime.aresume(token, value, request_id=request))


def good_input(runtime: Runtime) -> dict[str, Any]:
    return {"decision": "approve"} if runtime.recipe == "hitl-gate" else {"ok": 1}


def check_edited(
    world: World,
    runtime: Runtime,
    token: str,
    edited: bytes,
    original: bytes,
    face: str,
    request: str | None,
    capsys: pytest.CaptureFixture[str] | None = None,
    url: str | None = None,
) -> Outcome:
    key = SESSION_KEY_PREFIX + token
    world.cache.set(key, edited, 3600)
    store = SessionStore(world.cache, secret_key=world.key, clock=world.clock)
    info = store.info(token)  # never raises
    assert info is None or info.status in {
        "pending",
        "claimed",
        "completed",
        "cancelled",
        "invalid",
    }
    listed = store.sessions(include_finished=True)
    assert all(i.status != "invalid" or i.problem for i in listed)
    if capsys is not None and url is not None:
        code = cli_main(["--cache", url, "sessions", "list"])
        out, err = capsys.readouterr()
        assert code == 0 and "Traceback" not in out + err and "\x1b" not in out + err
        code = cli_main(["--cache", url, "sessions", "list", "--json"])
        out, err = capsys.readouterr()
        assert code == 0 and "Traceback" not in err
        json.loads(out)

    before = world.calls.n
    outcome = resume(runtime, token, good_input(runtime), face, request)
    ran = world.calls.n - before
    assert isinstance(outcome, Ok | Paused | Error)
    signed_edit = world.key is not None and edited != original
    if signed_edit:
        assert isinstance(outcome, Error) and outcome.kind == "session_invalid", outcome
    if isinstance(outcome, Error) and outcome.kind in SESSION_ERRORS:
        assert ran == 0, f"{ran} step(s) ran on {outcome.kind}"
        assert world.cache.get(key) == edited  # a failed read drops nothing
    elif isinstance(outcome, Error):
        assert outcome.kind == "step_failed" and world.key is None and edited != original, outcome
    if info is not None and info.status == "invalid":
        assert isinstance(outcome, Error) and outcome.kind == "session_invalid"
    return outcome


def check_bystander(world: World) -> None:
    """An untouched session beside the edited ones still resumes, exactly once."""
    runtime, token, _ = world.record("custom")
    before = world.calls.n
    outcome = runtime.resume(token, {"ok": 2})
    assert isinstance(outcome, Ok) and outcome.artefact == {"done": 2, "input": "text"}
    assert world.calls.n - before == 2


# --- the properties -------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, KEY], ids=["unsigned", "signed"])
@FAST
@given(
    kind=st.sampled_from(RECORD_KINDS),
    edit=st.one_of(byte_edits(), json_edits()),
    face=st.sampled_from(["sync", "async"]),
    request=st.sampled_from([None, "req-1"]),
)
def test_edited_bytes_are_refused_or_mean_what_they_say(
    backend: tuple[Cache, ManualClock],
    key: str | None,
    kind: str,
    edit: Callable[[bytes], bytes],
    face: str,
    request: str | None,
) -> None:
    world = make_world(*backend, key)
    runtime, token, original = world.record(kind)
    try:
        edited = edit(original)
    except (ValueError, KeyError, IndexError, TypeError):  # the edit does not apply here
        edited = original
    check_edited(world, runtime, token, edited, original, face, request)
    check_bystander(world)


@pytest.mark.parametrize("key", [None, KEY], ids=["unsigned", "signed"])
@FAST
@given(
    kind=st.sampled_from(RECORD_KINDS),
    name=st.sampled_from(SEMANTIC),
    face=st.sampled_from(["sync", "async"]),
)
def test_forged_snapshots(
    backend: tuple[Cache, ManualClock],
    key: str | None,
    kind: str,
    name: str,
    face: str,
) -> None:
    world = make_world(*backend, key)
    runtime, token, original = world.record(kind)
    _, other, _ = world.record("custom")
    edited = semantic(name, world, token, other)(original)
    outcome = check_edited(world, runtime, token, edited, original, face, "req-1")
    if key is None and kind in ("hitl", "custom"):  # unsigned: what the edit means
        if name == "swap_token":
            assert isinstance(outcome, Error) and outcome.kind == "session_invalid"
        if name == "future_lease":
            assert isinstance(outcome, Error) and outcome.kind == "session_busy"
        if name == "expired":
            assert isinstance(outcome, Error) and outcome.kind == "session_expired"
    check_bystander(world)


def test_sessions_list_survives_every_edit_on_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`llm-core sessions list` (text and JSON) over a file full of forged records."""
    monkeypatch.delenv("LLM_CORE_SECRET_KEY", raising=False)
    path = tmp_path / "list.db"
    url = f"sqlite:///{path}"
    clock = ManualClock(start=time.time())
    cache = SQLiteCache(path, clock=clock)
    try:
        world = make_world(cache, clock, None)
        edits: list[Callable[[bytes], bytes]] = [
            lambda d: d[: len(d) // 2],
            lambda d: d.replace(b'"review"', b'"\\u001b[2J\\u009b\\ud800"'),
            lambda d: d.replace(b'"counting"', b'"\\u001b]0;owned\\u0007"'),
        ]
        edits += [_raw_edit(path_, raw) for path_ in PATHS for raw in RAW_VALUES]
        for edit in edits:
            runtime, token, original = world.record("custom")
            check_edited(world, runtime, token, edit(original), original, "sync", None, capsys, url)
        check_bystander(world)
    finally:
        cache.close()


def _raw_edit(path: tuple[Any, ...], raw: str) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        head, record = split(data)
        set_path(record, path, Raw(raw))
        return head + b"\n" + dumps(record)

    return edit


# --- explicit cases -------------------------------------------------------------------------


def test_unsigned_step_after_the_gate_is_what_the_edit_says_and_is_warned_about(
    tmp_path: Path,
) -> None:
    """Without a key a writer can skip the gate (that is what the edit means); on a shared
    cache the runtime says so at build."""
    clock = ManualClock(start=time.time())
    cache = SQLiteCache(tmp_path / "s.db", clock=clock)
    try:
        world = make_world(cache, clock, None)
        runtime, token, original = world.record("hitl")
        edited = semantic("step_after_gate", world, token, token)(original)
        outcome = check_edited(world, runtime, token, edited, original, "sync", None)
        assert isinstance(outcome, Ok) and outcome.artefact["status"] == "approved"
        codes = [d.code for d in runtime.run("x").diagnostics]
        assert "session.unsigned_shared" in codes
    finally:
        cache.close()


@pytest.mark.parametrize("face", ["sync", "async"])
def test_signed_step_after_the_gate_and_a_copied_record_run_nothing(
    backend: tuple[Cache, ManualClock], face: str
) -> None:
    world = make_world(*backend, KEY)
    runtime, token, original = world.record("hitl")
    edited = semantic("step_after_gate", world, token, token)(original)
    outcome = check_edited(world, runtime, token, edited, original, face, None)
    assert isinstance(outcome, Error) and outcome.kind == "session_invalid"
    # a victim's record copied, byte for byte, under another (pending) token's key
    _, victim, victim_bytes = world.record("hitl")
    _, thief, thief_bytes = world.record("hitl")
    outcome = check_edited(world, runtime, thief, victim_bytes, thief_bytes, face, None)
    assert isinstance(outcome, Error) and outcome.kind == "session_invalid"
    before = world.calls.n
    assert isinstance(resume(runtime, victim, {"decision": "reject"}, face, None), Ok)
    assert world.calls.n - before == 2  # gate and finalize, once
    world.cache.set(SESSION_KEY_PREFIX + token, original, 3600)  # the real bytes back
    assert isinstance(resume(runtime, token, {"decision": "approve"}, face, None), Ok)


def test_unsigned_copied_record_is_refused(backend: tuple[Cache, ManualClock]) -> None:
    world = make_world(*backend, None)
    _, victim, victim_bytes = world.record("custom")
    runtime, thief, thief_bytes = world.record("custom")
    outcome = check_edited(world, runtime, thief, victim_bytes, thief_bytes, "sync", None)
    assert isinstance(outcome, Error) and outcome.kind == "session_invalid"
    _, _done, done_bytes = world.record("completed")
    outcome = check_edited(world, runtime, thief, done_bytes, thief_bytes, "sync", "req-1")
    assert isinstance(outcome, Error) and outcome.kind == "session_invalid"
    assert isinstance(runtime.resume(victim, {"ok": 3}), Ok)


def test_key_rotation(backend: tuple[Cache, ManualClock]) -> None:
    cache, clock = backend
    calls = Calls()
    old = counting_runtime(cache, clock, calls, OLD_KEY)
    rotated = counting_runtime(cache, clock, calls, KEY, (OLD_KEY,))
    new_only = counting_runtime(cache, clock, calls, KEY)
    unsigned_writer = counting_runtime(cache, clock, calls, None)
    tokens = []
    for _ in range(3):
        paused = old.run({"input": "t"})
        assert isinstance(paused, Paused)
        tokens.append(paused.token)
    for token in tokens:  # not without the old key: refused, nothing runs, nothing lost
        before = calls.n
        outcome = new_only.resume(token, {"ok": 1})
        assert isinstance(outcome, Error) and outcome.kind == "session_invalid"
        assert calls.n == before
    assert isinstance(asyncio.run(rotated.aresume(tokens[0], {"ok": 1})), Ok)
    assert isinstance(rotated.resume(tokens[1], {"ok": 1}), Ok)
    # a release by the rotated runtime re-signs with the new key: new_only can then resume it
    failed = rotated.resume(tokens[2], {"ok": 1, "grab": tokens[2]})
    assert isinstance(failed, Error) and failed.kind == "step_failed" and failed.resumable
    assert isinstance(new_only.resume(tokens[2], {"ok": 1}), Ok)
    # unsigned records are refused by a signed runtime; new records by the old one alone
    paused = unsigned_writer.run({"input": "t"})
    assert isinstance(paused, Paused)
    outcome = rotated.resume(paused.token, {"ok": 1})
    assert isinstance(outcome, Error) and outcome.kind == "session_invalid"
    fresh = rotated.run({"input": "t"})
    assert isinstance(fresh, Paused)
    outcome = old.resume(fresh.token, {"ok": 1})
    assert isinstance(outcome, Error) and outcome.kind == "session_invalid"
    assert isinstance(rotated.resume(fresh.token, {"ok": 1}), Ok)


def test_reformatted_record_is_refused_not_corrupted_by_a_release(
    backend: tuple[Cache, ManualClock],
) -> None:
    """A record whose snapshot is not its last member (reordered, or JSON with spaces) used to
    be accepted, then a release re-wrote it around the wrong text: the session reported
    ``resumable`` was unreadable.  Now it is refused before anything runs, and stays."""
    world = make_world(*backend, None)
    runtime, token, original = world.record("custom")
    head, record = split(original)
    reordered = {"snapshot": record.pop("snapshot"), **record}
    late_claim = b',"claim":{"id":"c","until":1e20,"request_id":null}}'
    variants = [
        head + b"\n" + dumps(record | reordered, compact=False),
        head + b"\n" + dumps(reordered),
        original[:-1] + late_claim,
    ]
    for edited in variants:
        outcome = check_edited(world, runtime, token, edited, original, "sync", None)
        assert isinstance(outcome, Error) and outcome.kind == "session_invalid"
        assert not outcome.resumable
    world.cache.set(SESSION_KEY_PREFIX + token, original, 3600)
    failed = runtime.resume(token, {"ok": 1, "grab": token})
    assert isinstance(failed, Error) and failed.resumable
    assert isinstance(runtime.resume(token, {"ok": 1}), Ok)


@pytest.mark.parametrize(
    "expects",
    [
        {"allOf": 5},
        {"type": {"a": 1}},
        {"type": [[1]]},
        {"required": 5},
        {"required": [[1]]},
        {"properties": {"ok": {"type": {}}}},
        {"properties": {"enum": {"anyOf": 1}}},
        {"$defs": {"x": {"oneOf": {"a": 1}}}},
    ],
)
def test_a_malformed_stored_schema_is_session_invalid(
    backend: tuple[Cache, ManualClock], expects: dict[str, Any]
) -> None:
    """The validator used to raise TypeError/OverflowError out of ``resume`` on these."""
    world = make_world(*backend, None)
    runtime, token, original = world.record("custom")
    head, record = split(original)
    record["snapshot"]["expects"] = expects
    outcome = check_edited(
        world, runtime, token, head + b"\n" + dumps(record), original, "sync", None
    )
    assert isinstance(outcome, Error) and outcome.kind == "session_invalid"


def test_a_schema_with_data_keywords_still_resumes(backend: tuple[Cache, ManualClock]) -> None:
    """``enum``/``const``/``default`` hold values, not schemas: never judged as schemas."""
    cache, clock = backend
    schema = {
        "type": "object",
        "properties": {"type": {"type": "string"}, "ok": {"enum": [{"type": 5}, 1]}},
        "default": {"allOf": 5},
        "required": ["ok"],
    }

    def gate(ctx: StepContext, state: dict[str, Any]) -> StepResult:
        if not ctx.resumed:
            return ctx.pause(kind="k", payload=None, expects=schema)
        return {"ok": ctx.resume_input["ok"]}

    runtime = (
        Workflow("data-kw", [gate])
        .use(Plugin(key="adapter.cache", adapters=AdapterBundle(cache=cache)))
        .build(clock=clock)
    )
    paused = runtime.run({})
    assert isinstance(paused, Paused)
    bad = runtime.resume(paused.token, {"ok": 2})
    assert isinstance(bad, Error) and bad.kind == "invalid_resume_input"
    assert isinstance(runtime.resume(paused.token, {"ok": 1, "type": "t"}), Ok)
