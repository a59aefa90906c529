"""Encryption at rest of state and payload (AES-256-GCM, the ``crypto`` extra)."""

from __future__ import annotations

import base64
import json

import pytest

from llm_core import Error, MemoryCache, Ok, Paused, SQLiteCache, recipes
from llm_core.errors import ConfigurationError, InvalidSnapshotError
from llm_core.sessions import SESSION_KEY_PREFIX, SessionStore

KEY = "an encryption test key, 32 chars"
OLD = "the previous key of this test..."


def body(data: bytes) -> dict:  # type: ignore[type-arg]
    return json.loads(data.split(b"\n", 1)[1])  # type: ignore[no-any-return]


def test_state_and_payload_are_sealed_and_resume_works(tmp_path: object) -> None:
    cache = SQLiteCache(f"{tmp_path}/s.db")
    runtime = recipes.hitl_gate(cache=cache, secret_key=KEY, encrypt=True)
    paused = runtime.run({"input": "the launch date is 12 May", "policy": "secret"})
    assert isinstance(paused, Paused) and paused.payload["draft"] == "the launch date is 12 May"
    stored = cache.get(SESSION_KEY_PREFIX + paused.token)
    assert stored is not None and b"12 May" not in stored and b"secret" not in stored
    snapshot = body(stored)["snapshot"]
    assert set(snapshot["state"]) == {"$sealed"} and set(snapshot["payload"]) == {"$sealed"}
    assert snapshot["head"][6] == "gate" and snapshot["expects"]["title"] == "Decision"
    [info] = SessionStore(cache, secret_key=KEY).sessions()  # listing opens with the key
    assert info.snapshot is not None and info.snapshot.payload == paused.payload
    done = runtime.resume(paused.token, {"decision": "approve"})
    assert isinstance(done, Ok) and done.artefact["final"] == "the launch date is 12 May"
    cache.close()


def test_a_sealed_value_edited_or_moved_or_read_without_the_key_is_invalid() -> None:
    cache = MemoryCache()
    runtime = recipes.hitl_gate(cache=cache, secret_key=KEY, encrypt=True)
    one, two = runtime.run("first").token, runtime.run("second").token
    key_one, key_two = SESSION_KEY_PREFIX + one, SESSION_KEY_PREFIX + two
    stolen = body(cache.get(key_one) or b"")["snapshot"]["state"]["$sealed"]
    reader = SessionStore(cache, secret_key="a different key, 32 characters..")
    assert reader.info(one).status == "invalid"  # type: ignore[union-attr]
    nokey = recipes.hitl_gate(cache=cache)
    refused = nokey.resume(one, {"decision": "approve"})
    assert isinstance(refused, Error) and refused.kind == "session_invalid"
    sealer = runtime.session_store.space.opener()
    flipped = base64.b64decode(stolen)
    flipped = flipped[:-1] + bytes([flipped[-1] ^ 1])
    with pytest.raises(InvalidSnapshotError, match="does not open"):
        sealer.open({"$sealed": base64.b64encode(flipped).decode()}, key_one)
    with pytest.raises(Exception, match="does not open"):  # moved under another token
        sealer.open({"$sealed": stolen}, key_two)
    assert isinstance(runtime.resume(one, {"decision": "approve"}), Ok)  # nothing was lost


def test_rotation_opens_records_sealed_with_a_previous_key() -> None:
    cache = MemoryCache()
    old = recipes.hitl_gate(cache=cache, secret_key=OLD, encrypt=True)
    token = old.run("sealed with the old key").token
    rotated = recipes.hitl_gate(cache=cache, secret_key=KEY, previous_keys=[OLD], encrypt=True)
    done = rotated.resume(token, {"decision": "approve"})
    assert isinstance(done, Ok) and done.artefact["final"] == "sealed with the old key"


def test_encrypt_needs_a_secret_key() -> None:
    with pytest.raises(ConfigurationError, match="needs a secret_key"):
        recipes.hitl_gate(encrypt=True)
