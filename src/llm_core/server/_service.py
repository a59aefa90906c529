"""What the API and the inbox do, without a web framework: run, list, show, resume, cancel,
with the audit record of who decided; every failure a :class:`Problem` (RFC 9457).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args

from llm_core._log import get_logger
from llm_core.errors import CacheUnavailableError, ConfigurationError, InvalidTokenError
from llm_core.server._apps import Apps, parse_token
from llm_core.sessions import (
    DEFAULT_RESULT_TTL,
    Record,
    SessionInfo,
    SessionOrder,
    SessionStore,
    page_stores,
)
from llm_core.workflow import Error, Ok, Outcome, Paused, Runtime

__all__ = ["AUDIT_PREFIX", "STATUS_OF_KIND", "Problem", "Service"]

_logger = get_logger("server")

AUDIT_PREFIX = "llm-core:audit:"
"""Where the audit record of a decided session lives (same cache, kept ``result_ttl``)."""

STATUS_OF_KIND: dict[str, int] = {
    "invalid_token": 400,
    "unauthorized": 401,
    "csrf_failed": 403,
    "session_not_found": 404,
    "unknown_recipe": 404,
    "not_found": 404,
    "session_busy": 409,
    "session_already_resumed": 409,
    "session_expired": 410,
    "session_cancelled": 410,
    "invalid_resume_input": 422,
    "invalid_input": 422,
    "invalid_request": 422,
    "session_invalid": 500,
    "step_failed": 500,
    "snapshot_not_serializable": 500,
    "internal_error": 500,
    "cache_unavailable": 503,
    "cache_error": 503,
    "session_store_full": 507,
}
"""HTTP status of each error kind (any other kind: 500)."""

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
    507: "Insufficient storage",
}


class Problem(Exception):
    """An RFC 9457 problem: ``status``, the llm-core ``kind``, a ``detail``, extra members."""

    def __init__(self, kind: str, detail: str, status: int | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.kind = kind
        self.status = status if status is not None else STATUS_OF_KIND.get(kind, 500)
        self.detail = detail
        self.extra = extra

    @property
    def title(self) -> str:
        return _TITLES.get(self.status, "Error")

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://llm-core.dev/problems/{self.kind.replace('_', '-')}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "kind": self.kind,
        }
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        return body


def problem_of(outcome: Error) -> Problem:
    """The problem an ``Error`` outcome is (a step's exception text is not sent for
    ``step_failed``: it may hold anything; the server log has it)."""
    detail = outcome.message
    if outcome.kind in ("step_failed", "hook_failed") or STATUS_OF_KIND.get(outcome.kind) is None:
        _logger.error("request failed: %s: %s", outcome.kind, outcome.message)
        detail = f"the workflow failed ({outcome.kind}); the server log has the details"
    extra: dict[str, Any] = {"resumable": outcome.resumable}
    for d in outcome.diagnostics:
        if d.data and "retry_after" in d.data:
            extra["retry_after"] = d.data["retry_after"]
    return Problem(outcome.kind, detail, **extra)


@dataclass
class Service:
    """Sessions over HTTP: the API and the inbox call these (sync: FastAPI runs them in its
    thread pool).  ``notify(event, data)`` is told of every transition this server makes."""

    apps: Apps
    base_path: str = ""
    notify: Callable[[str, dict[str, Any]], None] | None = None
    clock: Callable[[], float] = time.time
    _stores_by_cache: dict[int, SessionStore] = field(default_factory=dict)

    # --- views ------------------------------------------------------------------------

    def links(self, token: str) -> dict[str, str]:
        base = self.base_path
        return {
            "self": f"{base}/sessions/{token}",
            "resume": f"{base}/sessions/{token}/resume",
            "cancel": f"{base}/sessions/{token}",
            "inbox": f"{base}/inbox/{token}",
        }

    def view(self, info: SessionInfo, now: float) -> dict[str, Any]:
        s = info.snapshot
        return {
            "token": info.token,
            "status": info.status,
            "recipe": s.recipe if s else None,
            "pause_kind": s.pause_kind if s else None,
            "step": s.step if s else None,
            "created_at": s.created_at if s else None,
            "expires_at": s.expires_at if s else None,
            "seconds_left": max(0.0, s.expires_at - now) if s else None,
            "payload": s.payload if s else None,
            "expects": s.expects if s else None,
            "problem": info.problem,
            "links": self.links(info.token),
        }

    def outcome_body(self, outcome: Outcome, recipe: str | None = None) -> dict[str, Any]:
        if isinstance(outcome, Paused):
            return {
                "status": "paused",
                "token": outcome.token,
                "recipe": recipe,
                "pause_kind": outcome.pause_kind,
                "expires_at": outcome.expires_at,
                "seconds_left": max(0.0, outcome.expires_at - self.clock()),
                "payload": outcome.payload,
                "expects": outcome.expects,
                "replayed": outcome.replayed,
                "links": self.links(outcome.token),
            }
        if isinstance(outcome, Ok):
            return {"status": "ok", "artefact": outcome.artefact, "replayed": outcome.replayed}
        raise problem_of(outcome)

    # --- reading ----------------------------------------------------------------------

    def list(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        recipe: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        order: str = "expiring",
    ) -> dict[str, Any]:
        if not 1 <= limit <= 500:
            raise Problem("invalid_request", "limit must be between 1 and 500")
        if status not in (None, "pending", "claimed", "invalid"):
            raise Problem("invalid_request", "status is one of pending, claimed, invalid")
        if order not in get_args(SessionOrder):
            raise Problem("invalid_request", "order is one of expiring, newest")
        stores = [store for store in self.apps.stores() if store.indexed or store.listable]
        if not stores:
            raise Problem(
                "invalid_request",
                f"{type(self.apps.cache).__name__} cannot list its keys; use SQLite or Redis",
                status=501,
            )
        try:
            page = self._guard(
                lambda: page_stores(
                    stores,
                    limit=limit,
                    cursor=cursor,
                    recipe=recipe,
                    kind=kind,
                    order=order,  # type: ignore[arg-type]
                )
            )
        except ConfigurationError as exc:
            raise Problem("invalid_request", str(exc)) from None
        now = self.clock()
        items = [self.view(info, now) for info in page.items if status in (None, info.status)]
        return {"items": items, "next_cursor": page.cursor}

    def show(self, token: str) -> dict[str, Any]:
        token, expiry = self._token(token)
        found = self._guard(lambda: self.apps.info(token))
        now = self.clock()
        if found is None:
            if now > expiry:
                raise Problem("session_expired", "the session expired before it was answered")
            raise Problem(
                "session_not_found",
                "no session for this token (never stored here, or finished long ago)",
            )
        store, info = found
        body = self.view(info, now)
        if info.status in ("completed", "cancelled"):
            record = self._guard(lambda: store.record(token))
            body.update(self._finished(record))
            body["audit"] = self.audit(store, token)
        return body

    @staticmethod
    def _finished(record: Record | None) -> dict[str, Any]:
        if record is None:
            return {"finished_at": None, "outcome": None}
        stored = record.outcome
        outcome = None
        if stored is not None and stored.get("type") in ("ok", "paused"):
            outcome = {k: v for k, v in stored.items() if k != "type"}
            outcome = {"status": stored["type"], **outcome}
        return {"finished_at": record.finished_at, "outcome": outcome}

    # --- changing ---------------------------------------------------------------------

    def run(
        self, recipe: str, value: Any, session_ttl: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        if not self.apps.has(recipe):
            raise Problem(
                "unknown_recipe", f"no recipe named {recipe!r}; known recipes: {self.apps.names}"
            )
        try:
            runtime = self.apps.runtime(recipe, session_ttl)
        except ConfigurationError as exc:
            raise Problem("invalid_request", str(exc)) from None
        outcome = runtime.run(value)
        body = self.outcome_body(outcome, recipe)
        if isinstance(outcome, Paused):
            self._tell("session.paused", body, recipe)
            return 201, body
        return 200, body

    def resume(
        self, token: str, value: Any, *, by: str, request_id: str | None, via: str
    ) -> dict[str, Any]:
        token, _ = self._token(token)
        runtime, record = self._locate(token)
        request = request_id or f"srv-{uuid.uuid4()}"
        outcome = runtime.resume(token, value, request_id=request)
        snapshot = record.snapshot if record is not None else None
        recipe = snapshot.recipe if snapshot else runtime.recipe
        store = runtime.session_store
        if isinstance(outcome, Error):
            raise problem_of(outcome)
        if not outcome.replayed:
            at = self.clock()
            entry = {"action": "resumed", "by": by, "at": at, "via": via, "request_id": request}
            self._write_audit(runtime, token, entry)
            self._tell("session.resumed", {"token": token, "by": by, "at": at}, recipe)
        body = self.outcome_body(outcome, recipe)
        if isinstance(outcome, Paused) and not outcome.replayed:
            self._tell("session.paused", body, recipe)
        body.setdefault("token", token)
        body["resumed"] = token
        body["audit"] = self.audit(store, token)
        return body

    def cancel(self, token: str, *, by: str, via: str) -> dict[str, Any]:
        token, _ = self._token(token)
        runtime, record = self._locate(token)
        already = record is not None and record.status == "cancelled"
        outcome = runtime.cancel(token)
        if isinstance(outcome, Error):
            raise problem_of(outcome)
        if not already:
            at = self.clock()
            self._write_audit(
                runtime, token, {"action": "cancelled", "by": by, "at": at, "via": via}
            )
            snapshot = record.snapshot if record is not None else None
            recipe = snapshot.recipe if snapshot else runtime.recipe
            self._tell("session.cancelled", {"token": token, "by": by, "at": at}, recipe)
        return {
            "token": token,
            "status": "cancelled",
            "audit": self.audit(runtime.session_store, token),
        }

    # --- audit ------------------------------------------------------------------------

    def audit(self, store: SessionStore, token: str) -> dict[str, Any] | None:
        """Who decided ``token``, when, and how (``None`` if not decided through a server)."""
        try:
            raw = store.cache.get(AUDIT_PREFIX + token)
        except CacheUnavailableError:
            return None
        if not isinstance(raw, bytes):
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _write_audit(self, runtime: Runtime, token: str, entry: dict[str, Any]) -> None:
        ttl = float(getattr(getattr(runtime, "_plan", None), "result_ttl", DEFAULT_RESULT_TTL))
        try:
            runtime.cache.set(AUDIT_PREFIX + token, json.dumps(entry).encode(), ttl)
        except Exception:  # the decision stands; only its audit line is missing
            _logger.exception("could not record the audit entry of session %s", token)

    # --- helpers ----------------------------------------------------------------------

    def _tell(self, event: str, body: dict[str, Any], recipe: str | None) -> None:
        if self.notify is None:
            return
        keep = ("token", "pause_kind", "expires_at", "by", "at")
        data: dict[str, Any] = {k: body[k] for k in keep if k in body}
        data["recipe"] = recipe
        if "token" in data:
            data["links"] = self.links(str(data["token"]))
        try:
            self.notify(event, data)
        except Exception:  # notifications never fail a decision
            _logger.exception("webhook notification %s failed", event)

    @staticmethod
    def _token(token: str) -> tuple[str, float]:
        try:
            return parse_token(token)
        except InvalidTokenError as exc:
            raise Problem("invalid_token", str(exc)) from None

    def _locate(self, token: str) -> tuple[Runtime, Record | None]:
        try:
            found: tuple[Runtime, Record | None] = self._guard(lambda: self.apps.locate(token))
            return found
        except ConfigurationError as exc:
            raise Problem("unknown_recipe", str(exc)) from None

    @staticmethod
    def _guard(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except CacheUnavailableError as exc:
            raise Problem("cache_unavailable", f"the session cache did not answer: {exc}") from None
