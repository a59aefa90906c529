"""``llm-core serve --webhook URL --webhook-secret-file FILE``: the server's own transitions
(paused through the API, resumed, cancelled) reach a local receiver, signed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from llm_core.webhooks import new_webhook_secret, verify_webhook
from tests.server.support import serve
from tests.test_webhooks import Receiver

pytestmark = pytest.mark.slow


def test_serve_signs_paused_resumed_and_cancelled(tmp_path: Path) -> None:
    receiver = Receiver()
    secret = new_webhook_secret()
    (tmp_path / "whsec").write_text(secret + "\n")
    try:
        args = ("--webhook", receiver.url, "--webhook-secret-file", str(tmp_path / "whsec"))
        with serve(tmp_path, *args) as server, server.client() as api:
            first = api.post("/runs", json={"recipe": "hitl-gate", "input": "a"}).json()
            second = api.post("/runs", json={"recipe": "tweet", "input": "b"}).json()
            api.post(f"/sessions/{first['token']}/resume", json={"input": {"decision": "approve"}})
            api.delete(f"/sessions/{second['token']}")
            deadline = time.monotonic() + 10
            while len(receiver.received) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
        events = [verify_webhook(secret, h, b) for h, b in receiver.received]
        kinds = sorted((e["type"], e["data"]["token"]) for e in events)
        assert kinds == sorted(
            [
                ("session.paused", first["token"]),
                ("session.paused", second["token"]),
                ("session.resumed", first["token"]),
                ("session.cancelled", second["token"]),
            ]
        )
        resumed = next(e for e in events if e["type"] == "session.resumed")
        assert resumed["data"]["by"] == "Ada Lovelace" and resumed["data"]["recipe"] == "hitl-gate"
        assert resumed["data"]["links"]["self"] == f"/sessions/{first['token']}"
    finally:
        receiver.close()
