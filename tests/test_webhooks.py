"""Signed webhooks (Standard Webhooks): a local receiver gets session events with valid
signatures; a receiver that is down or slow never slows or fails a run; retries stop at the
bound; verify_webhook refuses forgeries and replays."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from llm_core import Workflow
from llm_core.recipes import hitl_gate
from llm_core.webhooks import (
    Notifier,
    WebhookVerificationError,
    new_webhook_secret,
    sign_webhook,
    verify_webhook,
)

SECRET = new_webhook_secret()


class Receiver:
    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status, self.delay = status, delay
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.event = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                time.sleep(outer.delay)
                outer.received.append((dict(self.headers.items()), body))
                self.send_response(outer.status)
                self.end_headers()
                outer.event.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def test_paused_and_resumed_events_with_valid_signatures(receiver: Receiver) -> None:
    notifier = Notifier(receiver.url, SECRET)
    runtime = hitl_gate(plugins=[notifier.plugin()])
    paused = runtime.run("Ship it")
    notifier.emit("session.resumed", {"token": paused.token, "by": "Ada"})  # as serve does
    assert notifier.flush(10)
    events = []
    for headers, body in receiver.received:
        event = verify_webhook(SECRET, headers, body)
        assert headers["Webhook-Id"].startswith("msg_")
        events.append(event)
    assert [e["type"] for e in events] == ["session.paused", "session.resumed"]
    assert events[0]["data"]["token"] == paused.token
    assert events[0]["data"]["expires_at"] == pytest.approx(paused.expires_at, abs=0.01)
    # the signature is the spec's: base64 HMAC-SHA256 of "id.timestamp.body", key = whsec_ bytes
    headers, body = receiver.received[0]
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{headers['Webhook-Id']}.{headers['Webhook-Timestamp']}.".encode() + body
    mac = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["Webhook-Signature"] == f"v1,{mac}"
    notifier.close()


def test_verify_refuses_forgeries_and_replays() -> None:
    body = json.dumps({"type": "session.paused", "data": {}}).encode()
    now = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": sign_webhook(SECRET, "msg_1", now, body),
    }
    assert verify_webhook(SECRET, headers, body)["type"] == "session.paused"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, headers, body + b" ")
    with pytest.raises(WebhookVerificationError):
        verify_webhook(new_webhook_secret(), headers, body)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify_webhook(SECRET, headers, body, now=now + 3600)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, {**headers, "webhook-id": "msg_2"}, body)
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_webhook(SECRET, {}, body)
    several = {**headers, "webhook-signature": "v1,bm9wZQ== " + headers["webhook-signature"]}
    assert verify_webhook(SECRET, several, body)


def test_a_receiver_that_is_down_or_slow_does_not_slow_runs(caplog: Any) -> None:
    slow = Receiver(delay=2.0)
    down = "http://127.0.0.1:9/hooks"  # discard port: nothing listens
    try:
        notifier = Notifier([slow.url, down], SECRET, backoff=0.05, max_attempts=2, timeout=3)
        runtime = hitl_gate(plugins=[notifier.plugin()])
        started = time.perf_counter()
        outcomes = [runtime.run(f"draft {i}") for i in range(20)]
        elapsed = time.perf_counter() - started
        assert all(o.status == "paused" for o in outcomes)
        assert elapsed < 1.0, elapsed  # 40 deliveries queued; the runs never waited
        done = runtime.resume(outcomes[0].token, {"decision": "approve"})
        assert done.status == "ok"
        notifier.close(timeout=0.1)
    finally:
        slow.close()


def test_retries_stop_at_the_bound(caplog: Any) -> None:
    failing = Receiver(status=500)
    try:
        notifier = Notifier(failing.url, SECRET, max_attempts=3, backoff=0.01)
        with caplog.at_level(logging.WARNING, logger="llm_core"):
            notifier.emit("session.paused", {"token": "t"})
            assert notifier.flush(10)
        assert len(failing.received) == 3
        ids = {headers["Webhook-Id"] for headers, _ in failing.received}
        assert len(ids) == 1  # the same id on every retry (receivers deduplicate by it)
        assert notifier.failed == 1 and notifier.delivered == 0
        assert any("giving up" in r.getMessage() for r in caplog.records)
        time.sleep(0.1)
        assert len(failing.received) == 3  # nothing more
    finally:
        failing.close()


def test_an_exception_in_the_sender_is_logged_not_raised(caplog: Any) -> None:
    def explode(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        raise OSError("boom")

    notifier = Notifier("http://127.0.0.1:1/x", SECRET, max_attempts=1, send=explode)
    runtime = Workflow.recipe("hitl-gate").use(notifier.plugin()).build()
    with caplog.at_level(logging.ERROR, logger="llm_core"):
        assert runtime.run("x").status == "paused"
        assert notifier.flush(5)
    assert notifier.failed == 1 and any("boom" in r.getMessage() for r in caplog.records)


def test_bad_configuration_is_refused() -> None:
    from llm_core.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        Notifier("ftp://x", SECRET)
    with pytest.raises(ConfigurationError):
        Notifier("http://x", "whsec_not base64!")
    with pytest.raises(ConfigurationError):
        Notifier("http://x", "whsec_" + base64.b64encode(b"short").decode())
