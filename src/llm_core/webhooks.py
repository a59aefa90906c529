"""Signed webhooks for session events, as the Standard Webhooks specification says.

Events: ``session.paused``, ``session.resumed``, ``session.cancelled``, ``session.expired``.
Each is one JSON POST ``{"type", "timestamp", "data": {...}}`` with the headers
``webhook-id`` (the same on every retry), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, keyed with the
secret ``whsec_<base64 bytes>``; receivers can check it with any Standard Webhooks library or
:func:`verify_webhook`, and refuse replays by the timestamp and the id.

Delivery never blocks or fails a run: events go to a bounded queue served by a background
thread; a failed delivery (an error, a timeout, a status other than 2xx) is retried with
exponential backoff up to ``max_attempts``, then dropped; every failure is logged on the
``llm_core.webhooks`` logger.

    notifier = Notifier("https://example.com/hooks", secret)
    runtime = Workflow("review", steps).use(notifier.plugin()).build(...)   # any worker

The plugin reports every pause of that runtime (``session.paused``); ``llm-core serve``
reports the resumes and cancellations it makes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from llm_core._log import get_logger
from llm_core.errors import ConfigurationError, LlmCoreError
from llm_core.sessions import token_expiry
from llm_core.workflow import Plugin, TraceEvent

__all__ = [
    "EVENTS",
    "WEBHOOK_SECRET_ENV",
    "Notifier",
    "WebhookVerificationError",
    "new_webhook_secret",
    "sign_webhook",
    "verify_webhook",
]

_logger = get_logger("webhooks")

EVENTS = ("session.paused", "session.resumed", "session.cancelled", "session.expired")
WEBHOOK_SECRET_ENV = "LLM_CORE_WEBHOOK_SECRET"  # noqa: S105 - the variable's name
PLUGIN_KEY = "webhooks"
DEFAULT_TOLERANCE = 5 * 60


class WebhookVerificationError(LlmCoreError):
    """A webhook's signature, timestamp or headers do not check out."""


def new_webhook_secret() -> str:
    """A fresh secret, ``whsec_`` + 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    text = secret.strip()
    text = text.removeprefix("whsec_")
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            "a webhook secret is 'whsec_' + base64 bytes (make one with "
            "llm_core.webhooks.new_webhook_secret())"
        ) from None
    if len(key) < 16:
        raise ConfigurationError("a webhook secret needs at least 16 random bytes")
    return key


def sign_webhook(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: ``v1,<base64 HMAC-SHA256>``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_webhook(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a received webhook and return its JSON body; ``WebhookVerificationError`` if the
    signature does not match, the timestamp is more than ``tolerance`` seconds off (a replay),
    or a header is missing.  ``headers`` may use any case."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old or too new (a replay?)")
    data = body.encode("utf-8") if isinstance(body, str) else body
    expected = sign_webhook(secret, msg_id, timestamp, data).encode()
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected):
            try:
                value = json.loads(data)
            except ValueError:
                raise WebhookVerificationError("the body is not JSON") from None
            if not isinstance(value, dict):
                raise WebhookVerificationError("the body is not a JSON object")
            return value
    raise WebhookVerificationError("no signature matches")


class _Delivery:
    __slots__ = ("attempt", "body", "msg_id", "url")

    def __init__(self, url: str, msg_id: str, body: bytes) -> None:
        self.url, self.msg_id, self.body, self.attempt = url, msg_id, body, 0


Sender = Callable[[str, bytes, dict[str, str], float], int]


def _urllib_send(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Notifier:
    """Posts signed session events to ``urls`` from a background thread.

    ``max_attempts`` deliveries per event and URL (backoff ``backoff`` * 2**n seconds, at most
    ``max_backoff``), each with ``timeout`` seconds; at most ``max_queue`` events wait (more
    are dropped and logged).  ``send`` replaces the HTTP client (tests)."""

    def __init__(
        self,
        urls: str | Sequence[str],
        secret: str | bytes,
        *,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        timeout: float = 5.0,
        max_queue: int = 10_000,
        send: Sender | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        for url in self.urls:
            if not url.startswith(("http://", "https://")):
                raise ConfigurationError(f"a webhook URL must be http(s)://, got {url!r}")
        if max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        self._secret = _key(secret)
        self.max_attempts, self.backoff, self.max_backoff = max_attempts, backoff, max_backoff
        self.timeout, self.max_queue = timeout, max_queue
        self._send = send or _urllib_send
        self._clock = clock
        self._heap: list[tuple[float, int, _Delivery]] = []
        self._seq = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._busy = False
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self.attempts = 0

    # --- producing --------------------------------------------------------------------

    def emit(self, event: str, data: Mapping[str, Any]) -> None:
        """Queue ``event`` for every URL; returns at once and never raises."""
        try:
            body = json.dumps(
                {
                    "type": event,
                    "timestamp": datetime.fromtimestamp(self._clock(), UTC).isoformat(),
                    "data": dict(data),
                },
                default=str,
                separators=(",", ":"),
            ).encode("utf-8")
        except (TypeError, ValueError):
            _logger.exception("webhook %s: the event could not be encoded", event)
            return
        with self._cond:
            if self._closed:
                return
            for url in self.urls:
                if len(self._heap) >= self.max_queue:
                    self.dropped += 1
                    _logger.warning("webhook queue full: %s to %s dropped", event, url)
                    continue
                self._push(time.monotonic(), _Delivery(url, f"msg_{uuid.uuid4().hex}", body))
            self._ensure_thread()
            self._cond.notify()

    def plugin(self) -> Plugin:
        """A plugin that reports each pause of the runtime it is used in (``session.paused``)."""

        def paused(event: TraceEvent) -> None:
            token = (event.data or {}).get("token")
            if isinstance(token, str):
                self.emit("session.paused", {"token": token, "expires_at": token_expiry(token)})

        return Plugin(
            key=PLUGIN_KEY,
            hooks={"run.paused": paused},
            description="signed webhooks for session events",
        )

    def server_events(self, apps: Any) -> Callable[[str, dict[str, Any]], None]:
        """What ``llm-core serve`` calls for its own transitions.  A pause made by a runtime
        that already uses :meth:`plugin` is reported once, by the plugin."""
        with_plugin = set()
        for name in getattr(apps, "names", ()):
            runtime = apps.runtime(name)
            if any(p["key"] == PLUGIN_KEY for p in runtime.explain()["plugins"]):
                with_plugin.add(name)

        def notify(event: str, data: dict[str, Any]) -> None:
            if event == "session.paused" and data.get("recipe") in with_plugin:
                return
            self.emit(event, data)

        return notify

    # --- delivering -------------------------------------------------------------------

    def _push(self, due: float, delivery: _Delivery) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, delivery))

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._serve, name="llm-core-webhooks", daemon=True
            )
            self._thread.start()

    def _serve(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed and not self._heap:
                        return
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            _, _, delivery = heapq.heappop(self._heap)
                            self._busy = True
                            break
                        if self._closed:
                            return
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
            try:
                self._deliver(delivery)
            finally:
                with self._cond:
                    self._busy = False

    def _deliver(self, delivery: _Delivery) -> None:
        delivery.attempt += 1
        self.attempts += 1
        stamp = int(self._clock())
        headers = {
            "content-type": "application/json",
            "user-agent": "llm-core-webhooks",
            "webhook-id": delivery.msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign_webhook(self._secret, delivery.msg_id, stamp, delivery.body),
        }
        problem: str
        try:
            status = self._send(delivery.url, delivery.body, headers, self.timeout)
            if 200 <= status < 300:
                self.delivered += 1
                return
            problem = f"HTTP {status}"
        except Exception as exc:  # any failure of the receiver is logged, never raised
            problem = f"{type(exc).__name__}: {exc}"
        if delivery.attempt >= self.max_attempts:
            self.failed += 1
            _logger.error(
                "webhook %s to %s failed %d times (%s); giving up",
                delivery.msg_id,
                delivery.url,
                delivery.attempt,
                problem,
            )
            return
        delay = min(self.max_backoff, self.backoff * 2 ** (delivery.attempt - 1))
        _logger.warning(
            "webhook %s to %s failed (%s); retry %d/%d in %.1f s",
            delivery.msg_id,
            delivery.url,
            problem,
            delivery.attempt,
            self.max_attempts - 1,
            delay,
        )
        with self._cond:
            if not self._closed:
                self._push(time.monotonic() + delay, delivery)
                self._cond.notify()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or being retried (tests, shutdown); True if so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                if not self._heap and not self._busy:
                    return True
            time.sleep(0.02)
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Stop after the deliveries due now (retries still waiting are dropped)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
