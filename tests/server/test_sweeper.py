"""The server's sweeper: ``session.expired`` for sessions that expired unanswered since the last
sweep, found from the key names (only the sessions expiring in the window are read)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from llm_core import Ok, SQLiteCache
from llm_core.server._apps import load_apps
from llm_core.server._sweeper import Sweeper
from llm_core.webhooks import new_webhook_secret, verify_webhook
from tests.server.support import serve
from tests.test_webhooks import Receiver

APPROVE = {"decision": "approve"}
KEY = "sweeper-test-key-0123456789abcdef"


def _sweeper(tmp_path: Path) -> tuple[Any, Sweeper, list[tuple[str, dict[str, Any]]]]:
    apps = load_apps(None, SQLiteCache(tmp_path / "s.db"), KEY)
    told: list[tuple[str, dict[str, Any]]] = []
    return apps, Sweeper(apps, lambda e, d: told.append((e, d)), 60), told


def test_reports_each_unanswered_expiry_once_and_reads_only_the_expiring(tmp_path: Path) -> None:
    apps, sweeper, told = _sweeper(tmp_path)
    short = apps.runtime("hitl-gate", 0.4)
    unanswered = short.run("a").token
    answered = short.run("b").token
    for n in range(20):  # long-lived sessions: listed by name, never read
        apps.runtime("hitl-gate", 3600).run(f"long {n}")
    sweeper.sweep()  # the first look: what to watch
    assert told == [] and sweeper.reads == 0
    assert isinstance(short.resume(answered, APPROVE), Ok)
    time.sleep(0.6)
    assert sweeper.sweep() == 1
    assert [(e, d["token"], d["recipe"]) for e, d in told] == [
        ("session.expired", unanswered, None)  # its record is gone: the recipe is not known
    ]
    assert told[0][1]["links"] == {"self": f"/sessions/{unanswered}"}
    assert sweeper.reads == 1  # only the answered session, still stored, was read
    assert sweeper.sweep() == 0  # never twice
    assert sweeper.expired == 1


def test_a_session_gone_before_its_expiry_is_not_reported(tmp_path: Path) -> None:
    apps, sweeper, told = _sweeper(tmp_path)
    runtime = apps.runtime("hitl-gate", 0.6)
    token = runtime.run("a").token
    sweeper.sweep()
    runtime.cache.delete(runtime.session_store.space.key(token))  # e.g. its result aged out
    sweeper.sweep()  # seen gone before its expiry: forgotten
    time.sleep(0.8)
    assert sweeper.sweep() == 0 and told == []


def test_the_interval_must_be_positive(tmp_path: Path) -> None:
    apps = load_apps(None, SQLiteCache(tmp_path / "s.db"), KEY)
    with pytest.raises(ValueError, match="positive"):
        Sweeper(apps, lambda e, d: None, 0)


@pytest.mark.slow
def test_serve_sends_signed_session_expired(tmp_path: Path) -> None:
    receiver = Receiver()
    secret = new_webhook_secret()
    (tmp_path / "whsec").write_text(secret + "\n")
    args = ("--webhook", receiver.url, "--webhook-secret-file", str(tmp_path / "whsec"))
    try:
        with serve(tmp_path, *args, "--sweep-interval", "0.2") as server, server.client() as api:
            body = {"recipe": "hitl-gate", "input": "x", "session_ttl": 1}
            expiring = api.post("/runs", json=body).json()["token"]
            answered = api.post("/runs", json=body).json()["token"]
            api.post("/runs", json={"recipe": "hitl-gate", "input": "y"})  # the default TTL
            resumed = api.post(f"/sessions/{answered}/resume", json={"input": APPROVE})
            assert resumed.status_code == 200
            deadline = time.monotonic() + 10

            def expired() -> list[dict[str, Any]]:
                events = [verify_webhook(secret, h, b) for h, b in receiver.received]
                return [e for e in events if e["type"] == "session.expired"]

            while not expired() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)  # a few more sweeps: nothing else, nothing twice
        events = expired()
        assert [e["data"]["token"] for e in events] == [expiring]
        assert events[0]["data"]["expires_at"] <= time.time()
    finally:
        receiver.close()


def test_serve_rejects_a_bad_sweep_interval(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "llm_core", "serve", "--sweep-interval", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "--sweep-interval" in done.stderr
