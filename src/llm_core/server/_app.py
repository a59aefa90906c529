"""The FastAPI application: the REST API (``/runs``, ``/sessions``...) and the web inbox (``/``).

Needs ``pip install 'llm-core[server]'`` (FastAPI, uvicorn, Jinja2, python-multipart).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llm_core._log import get_logger
from llm_core.server._apps import Apps
from llm_core.server._auth import Keys, Signer
from llm_core.server._service import Problem, Service

try:
    from fastapi import FastAPI, Header, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, Field
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - the extra names itself
    from llm_core.errors import MissingDependencyError

    raise MissingDependencyError("llm-core serve", "server", exc.name or "fastapi") from exc

__all__ = ["ServerConfig", "create_app"]

_logger = get_logger("server")
PROBLEM_JSON = "application/problem+json"


@dataclass
class ServerConfig:
    """What ``create_app`` serves: the workflows, who may answer, and how the server is told."""

    apps: Apps
    keys: Keys = field(default_factory=lambda: Keys({}))
    secret: str | bytes | None = None
    notify: Callable[[str, dict[str, Any]], None] | None = None
    local_reviewer: str = "local"
    cookie_ttl: float = 12 * 3600.0


class RunRequest(BaseModel):
    """Start a run of ``recipe`` with ``input``."""

    recipe: str = Field(description="the workflow to run, e.g. 'hitl-gate'")
    input: Any = Field(default=None, description="the run's input (a mapping or a value)")
    session_ttl: float | None = Field(
        default=None, gt=0, description="seconds a pause waits (default: the workflow's)"
    )


class ResumeRequest(BaseModel):
    """Answer a paused session: ``input`` must match the session's ``expects`` schema."""

    input: Any = Field(default=None, description="the resume input")


_PROBLEM_SCHEMA = {
    "content": {
        PROBLEM_JSON: {
            "schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "kind": {"type": "string"},
                    "instance": {"type": "string"},
                },
            }
        }
    }
}


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"description": "a problem (RFC 9457)", **_PROBLEM_SCHEMA} for code in codes}


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    headers = {}
    if problem.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="llm-core"'
    if "retry_after" in problem.extra:
        with contextlib.suppress(TypeError, ValueError):
            headers["Retry-After"] = str(max(1, int(float(problem.extra["retry_after"]) + 0.999)))
    return JSONResponse(
        problem.to_dict(instance),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def create_app(config: ServerConfig) -> FastAPI:
    """The ASGI application (run it with uvicorn, or ``llm-core serve``)."""
    service = Service(config.apps, notify=config.notify)
    signer = Signer(config.secret)
    app = FastAPI(
        title="llm-core",
        summary="Answer paused workflow runs: list, show, resume, cancel.",
        description="Sessions paused by llm-core workflows, and the people who answer them. "
        "Errors are RFC 9457 problem documents whose `kind` is the llm-core error kind.",
        version=_version(),
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    app.state.config = config
    app.state.signer = signer

    def reviewer(request: Request, authorization: str | None) -> str:
        """The reviewer a bearer key names (or the local reviewer when there are no keys)."""
        if not config.keys:
            return config.local_reviewer
        scheme, _, key = (authorization or "").partition(" ")
        name = config.keys.who(key.strip()) if scheme.lower() == "bearer" else None
        if name is None:
            raise Problem(
                "unauthorized",
                "missing or unknown API key: send 'Authorization: Bearer <key>'",
            )
        return name

    # --- errors -----------------------------------------------------------------------

    @app.exception_handler(Problem)
    async def _on_problem(request: Request, exc: Problem) -> Response:
        if request.url.path.startswith(("/inbox", "/login", "/logout")) or request.url.path == "/":
            from llm_core.server._inbox import error_page

            return error_page(request, exc)
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        # pydantic 2 says json_invalid; FastAPI before 0.100 (pydantic 1) value_error.jsondecode
        malformed = any(
            e.get("type") in ("json_invalid", "value_error.jsondecode") for e in exc.errors()
        )
        problem = Problem(
            "invalid_request",
            "the request body is not valid JSON" if malformed else "the request is not valid",
            status=400 if malformed else 422,
            errors=errors,
        )
        return problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(request: Request, exc: StarletteHTTPException) -> Response:
        kind = "not_found" if exc.status_code == 404 else "invalid_request"
        return problem_response(Problem(kind, str(exc.detail), status=exc.status_code), request)

    @app.exception_handler(Exception)
    async def _on_bug(request: Request, exc: Exception) -> Response:
        _logger.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        problem = Problem("internal_error", "an internal error; the server log has the details")
        return problem_response(problem, request)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        html = response.headers.get("content-type", "").startswith("text/html")
        if html and request.url.path != "/docs":  # Swagger UI loads its own scripts
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'",
            )
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    # --- the API ----------------------------------------------------------------------

    @app.get("/healthz", tags=["meta"], summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(
        "/runs",
        tags=["runs"],
        summary="Start a run",
        status_code=201,
        responses={
            200: {"description": "the run finished without pausing"},
            201: {"description": "the run paused: its token, expiry, payload and links"},
            **_problems(401, 404, 422, 500, 503, 507),
        },
    )
    def start_run(
        request: Request,
        body: RunRequest,
        authorization: str | None = Header(default=None),
    ) -> Response:
        reviewer(request, authorization)
        status, document = service.run(body.recipe, body.input, body.session_ttl)
        headers = {"Location": document["links"]["self"]} if status == 201 else {}
        return JSONResponse(document, status_code=status, headers=headers)

    @app.get(
        "/sessions",
        tags=["sessions"],
        summary="List pending and claimed sessions by deadline (soonest first, or newest), paged",
        responses=_problems(401, 422, 503),
    )
    def list_sessions(
        request: Request,
        limit: int = Query(default=50, ge=1, le=500),
        cursor: str | None = Query(default=None, description="next_cursor of the last page"),
        recipe: str | None = Query(default=None),
        kind: str | None = Query(default=None, description="the pause kind"),
        status: str | None = Query(default=None, description="pending | claimed | invalid"),
        order: str = Query(
            default="expiring", description="expiring (soonest deadline first) | newest"
        ),
        authorization: str | None = Header(default=None),
    ) -> dict[str, Any]:
        reviewer(request, authorization)
        return service.list(
            limit=limit, cursor=cursor, recipe=recipe, kind=kind, status=status, order=order
        )

    @app.get(
        "/sessions/{token}",
        tags=["sessions"],
        summary="One session: payload, expects, time left; outcome and audit once decided",
        responses=_problems(400, 401, 404, 410, 503),
    )
    def show_session(
        request: Request, token: str, authorization: str | None = Header(default=None)
    ) -> dict[str, Any]:
        reviewer(request, authorization)
        return service.show(token)

    @app.post(
        "/sessions/{token}/resume",
        tags=["sessions"],
        summary="Answer a paused session (exactly once; Idempotency-Key makes retries safe)",
        responses=_problems(400, 401, 404, 409, 410, 422, 500, 503),
    )
    def resume_session(
        request: Request,
        token: str,
        body: ResumeRequest,
        authorization: str | None = Header(default=None),
        idempotency_key: str | None = Header(
            default=None,
            alias="Idempotency-Key",
            description="a retry with the same key returns the recorded outcome",
        ),
    ) -> dict[str, Any]:
        by = reviewer(request, authorization)
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 200:
            raise Problem("invalid_request", "Idempotency-Key must be 1 to 200 characters")
        return service.resume(token, body.input, by=by, request_id=idempotency_key, via="api")

    @app.delete(
        "/sessions/{token}",
        tags=["sessions"],
        summary="Cancel a pending session",
        responses=_problems(400, 401, 404, 409, 410, 503),
    )
    def cancel_session(
        request: Request, token: str, authorization: str | None = Header(default=None)
    ) -> dict[str, Any]:
        by = reviewer(request, authorization)
        return service.cancel(token, by=by, via="api")

    from llm_core.server._inbox import add_inbox

    add_inbox(app, service, config, signer)
    return app


def _version() -> str:
    from llm_core import __version__

    return __version__


def new_sid() -> str:
    return secrets.token_urlsafe(18)


def now() -> float:
    return time.time()


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
