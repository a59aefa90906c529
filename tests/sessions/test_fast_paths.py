"""The hot paths of pause/resume give exactly what the plain constructions give."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Any

import pytest

from llm_core import MemoryCache
from llm_core.errors import CacheUnavailableError, InvalidSnapshotError
from llm_core.sessions import ResumeSnapshot, Signer, cas, cas_now, perform
from llm_core.sessions._codec import decode_json
from llm_core.sessions._snapshot import new_snapshot
from llm_core.workflow._invocation import UniqueIds, _ok, _paused, copy_json
from llm_core.workflow.outcomes import Ok, Paused


@pytest.mark.parametrize("size", [16, 32, 63, 64, 65, 200])
def test_signatures_are_hmac_sha256_of_the_storage_key_and_body(size: int) -> None:
    key = bytes(range(size))
    body = b'{"status":"pending"}'
    mac = hmac.new(key, b"llm-core:session:t\n" + body, hashlib.sha256).digest()
    expected = b"llm-core/2 " + base64.urlsafe_b64encode(mac)[:43] + b"\n" + body
    signer = Signer(key)
    assert signer.wrap("llm-core:session:t", body) == expected
    assert signer.unwrap("llm-core:session:t", expected) == body
    with pytest.raises(InvalidSnapshotError):
        signer.unwrap("llm-core:session:u", expected)


def test_rotation_verifies_with_a_previous_key() -> None:
    old, new = b"o" * 20, b"n" * 70
    stored = Signer(old).wrap("k", b"{}")
    assert Signer(new, [old]).unwrap("k", stored) == b"{}"
    with pytest.raises(InvalidSnapshotError):
        Signer(new).unwrap("k", stored)


@pytest.mark.parametrize(
    "text",
    ['{"a":1}', ' {"a":1}', '{"a":1} \n', "[1,2]", '"x"', "2", "1.5"],
)
def test_decode_json_accepts_what_json_accepts(text: str) -> None:
    import json

    assert decode_json(text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    ["", "  ", '{"a":1}x', '{"a": }', "[1e999]", "[-1e400]", "NaN", '{"a":[Infinity]}', "[1,]"],
)
def test_decode_json_refuses_what_it_must(text: str) -> None:
    with pytest.raises(InvalidSnapshotError):
        decode_json(text)


def test_a_snapshot_made_from_its_slots_is_the_constructed_one() -> None:
    fields = ("t", "human", 1.0, 2.0, 3.0, "r", "s", {"a": 1}, [1], {"type": "object"})
    made, built = new_snapshot(*fields), ResumeSnapshot(*fields)
    assert made == built and repr(made) == repr(built) and hash(made.token) == hash(built.token)
    with pytest.raises(AttributeError):
        made.step = "other"  # type: ignore[misc]


def test_outcomes_made_from_their_slots_are_the_constructed_ones() -> None:
    assert _ok({"a": 1}, (), (), True) == Ok({"a": 1}, (), (), True)
    paused = ("t", "human", 5.0, {"p": 1}, (), (), None, False)
    assert _paused(*paused) == Paused(*paused)


def test_copy_json_copies_every_container() -> None:
    value = {"a": [1, {"b": [2, {"c": None}]}], "t": (1, [2])}
    copied = copy_json(value)
    assert copied == value
    assert copied["a"] is not value["a"] and copied["a"][1] is not value["a"][1]
    assert copied["a"][1]["b"][1] is not value["a"][1]["b"][1]
    assert copied["t"][1] is not value["t"][1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_draws_its_own_unique_ids() -> None:
    ids = UniqueIds(9)
    read, write = os.pipe()
    parent = ids()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, ids().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    os.close(write)
    assert child.split(".")[0] != parent.split(".")[0]
    assert ids().split(".")[0] == parent.split(".")[0]
    assert len({ids() for _ in range(1000)}) == 1000


def test_fresh_runs_have_their_own_idempotency_keys() -> None:
    from llm_core import Workflow

    keys: list[str] = []

    def step(ctx: Any, state: dict[str, Any]) -> dict[str, Any]:
        keys.append(ctx.idempotency_key)
        return state

    runtime = Workflow("keys", [step]).build()
    for _ in range(100):
        runtime.run({})
    assert len(set(keys)) == 100


def _fresh_record_variants() -> list[tuple[str, bytes]]:
    """A fresh pause's record as stored, and edits of it around the layout's edges."""
    from llm_core import Workflow

    def gate(ctx: Any, state: dict[str, Any]) -> Any:
        return ctx.pause(payload={"draft": state["input"], "n": [1.5, 2, {"d": None}]})

    runtime = Workflow("fresh", [gate]).build()
    token = runtime.run("text").token  # type: ignore[union-attr]
    data = runtime.cache.get(runtime.session_store.space.key(token))
    assert data is not None
    body = data.split(b"\n", 1)[1]
    snapshot = body[body.index(b'"snapshot":') + 11 : -1]
    deep = b"[" * 120 + b"]" * 120
    bodies = {
        "as stored": body,
        "space before the last brace": body[:-1] + b" }",
        "trailing space": body + b" ",
        "an extra member": body[:-1] + b',"extra":1}',
        "a second snapshot": body[:-1] + b',"snapshot":' + snapshot + b"}",
        "not json after the head": body[: body.index(b'"snapshot":') + 11] + b"{]}",
        "nan in the payload": body.replace(b"1.5", b"NaN"),
        "huge number in the payload": body.replace(b"1.5", b"1e999"),
        "deep payload": body.replace(b"1.5", deep),
        "another token": body.replace(token.encode(), b"1a2b.AAAAAAAAAAAAAAAAAAAAAA"),
        "attempts 1": body.replace(b'"attempts":0', b'"attempts":1'),
        "nothing after the head": body[: body.index(b'"snapshot":') + 11] + b"}",
    }
    return [(token, b"llm-core/2 -\n" + b) for b in bodies.values()]


@pytest.mark.parametrize("case", range(12))
def test_a_fresh_record_reads_as_the_full_parse_reads_it(
    case: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_core.sessions import Keyspace, StateTypes, _lifecycle

    token, data = _fresh_record_variants()[case]
    space = Keyspace("llm-core:session:", Signer(), types=StateTypes())
    key = space.key(token)

    def read() -> object:
        try:
            return space.parse(key, token, data)
        except InvalidSnapshotError as exc:
            return ("invalid", str(exc))

    fast = read()
    monkeypatch.setattr(_lifecycle, "_FRESH_HEAD", "\0never")  # every record: the full parse
    assert read() == fast


class _LossyCache(MemoryCache):
    """Runs each compare-and-set, then answers as ``reply`` says (a lost or wrong reply)."""

    reply = "ok"

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        if self.reply == "lost before":
            raise CacheUnavailableError("not sent")
        swapped = super().compare_and_set(key, expected, new, ttl)
        if self.reply == "lost after":
            raise CacheUnavailableError("reply lost")
        return swapped if self.reply == "ok" else False


@pytest.mark.parametrize("reply", ["ok", "lost after", "says no", "lost before"])
@pytest.mark.parametrize("holds", ["expected", "other"])
def test_cas_now_answers_as_the_cas_steps_do(reply: str, holds: str) -> None:
    def outcome(run: Callable[[_LossyCache], bool]) -> tuple[object, bytes | None]:
        cache = _LossyCache()
        cache.set("k", b"old" if holds == "expected" else b"someone else's", 60.0)
        cache.reply = reply
        try:
            answer: object = run(cache)
        except CacheUnavailableError as exc:
            answer = str(exc)
        return answer, cache.get("k")

    def driven(cache: _LossyCache) -> bool:  # as a driver runs the steps
        steps, value, error = cas("k", b"old", b"new", 60.0), None, None
        while True:
            try:
                op = steps.send(value) if error is None else steps.throw(error)
            except StopIteration as done:
                return bool(done.value)
            value, error = None, None
            try:
                value = perform(cache, op)
            except CacheUnavailableError as exc:
                error = exc

    assert outcome(lambda c: cas_now(c, "k", b"old", b"new", 60.0)) == outcome(driven)
