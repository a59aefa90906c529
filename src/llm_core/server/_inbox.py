"""The web inbox: server-rendered pages (Jinja2, autoescaped), no JavaScript.

A browser session is a signed cookie (the reviewer's name, a session id, an expiry); every
form carries a CSRF token bound to that session id, and a post whose ``Origin`` is another
site is refused as well.  Without API keys (loopback only) everyone is the local reviewer.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import DictLoader, Environment
from markupsafe import Markup

from llm_core.server._auth import Signer
from llm_core.server._forms import answer_of, is_gate, schema_fields, tool_call_view
from llm_core.server._service import Problem, Service
from llm_core.server._templates import TEMPLATES

if TYPE_CHECKING:
    from llm_core.server._app import ServerConfig

__all__ = ["add_inbox", "error_page"]

SESSION_COOKIE = "llm_core_inbox"
PRE_COOKIE = "llm_core_pre"
_PREVIEW = 140


def _template_source(name: str) -> str:
    return TEMPLATES[name]


_env = Environment(
    loader=DictLoader(TEMPLATES),
    autoescape=True,
    auto_reload=False,
)


def _when(stamp: Any) -> str:
    try:
        return datetime.fromtimestamp(float(stamp), UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def render_value(value: Any, depth: int = 0) -> Markup:
    """A stored value, readably: text as text (line breaks kept), a mapping as labelled
    fields, anything else as indented JSON.  Everything escaped."""
    if isinstance(value, str):
        return Markup('<div class="text">{}</div>').format(value)
    if isinstance(value, dict) and value and depth < 2:
        parts = [
            Markup("<dt>{}</dt><dd>{}</dd>").format(str(key), render_value(item, depth + 1))
            for key, item in value.items()
        ]
        return Markup('<dl class="payload">') + Markup("").join(parts) + Markup("</dl>")
    if value is None:
        return Markup('<span class="empty">none</span>')
    if isinstance(value, list) and value and all(_is_message(m) for m in value):
        return _conversation(value)
    return Markup("<pre>{}</pre>").format(_dumps(value))


def _is_message(value: Any) -> bool:
    """A chat message (a LangChain message, or one as the API's JSON has it)."""
    if isinstance(value, dict):
        return isinstance(value.get("type"), str) and "content" in value
    return isinstance(getattr(value, "type", None), str) and hasattr(value, "content")


def _conversation(messages: list[Any]) -> Markup:
    """A conversation, one message a line: who, the text, the tool calls asked for."""
    items = []
    for m in messages:
        get = m.get if isinstance(m, dict) else lambda name, m=m: getattr(m, name, None)
        content = get("content")
        text = content if isinstance(content, str) else _dumps(content)
        name = get("name") if get("type") == "tool" else None
        calls = [
            Markup(" <code>{}({})</code>").format(
                c.get("name"), json.dumps(c.get("args"), ensure_ascii=False, default=str)
            )
            for c in get("tool_calls") or ()
            if isinstance(c, dict)
        ]
        items.append(
            Markup('<li><strong>{}</strong> <span class="text">{}</span>{}</li>').format(
                f"{get('type')} {name}" if name else get("type"), text, Markup("").join(calls)
            )
        )
    return Markup('<ol class="conversation">') + Markup("").join(items) + Markup("</ol>")


def _preview(payload: Any) -> str:
    text: Any = payload
    if isinstance(payload, dict) and isinstance(payload.get("tool"), str):  # a tool call
        arguments = json.dumps(payload.get("arguments"), ensure_ascii=False, default=str)
        text = f"{payload['tool']} {arguments}"
    elif isinstance(payload, dict):
        text = next((v for v in payload.values() if isinstance(v, str) and v), None)
        if text is None:
            text = json.dumps(payload, ensure_ascii=False, default=str)
    if not isinstance(text, str):
        text = json.dumps(text, ensure_ascii=False, default=str)
    flat = " ".join(str(text).split())
    return flat if len(flat) <= _PREVIEW else flat[: _PREVIEW - 1] + "…"


def error_page(request: Request, problem: Problem) -> Response:
    page = _env.get_template("error.html").render(problem=problem, reviewer=None)
    return HTMLResponse(page, status_code=problem.status)


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def add_inbox(app: FastAPI, service: Service, config: ServerConfig, signer: Signer) -> None:
    """The inbox's routes, on ``app``."""
    keys = config.keys

    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    def browser(request: Request) -> tuple[str, str] | None:
        """(reviewer, session id) of a signed-in browser."""
        value = signer.unsign("session", request.cookies.get(SESSION_COOKIE))
        if value is None:
            return None
        name, sid = value.get("n"), value.get("sid")
        if not isinstance(name, str) or not isinstance(sid, str):
            return None
        if keys and name not in keys.names.values():
            return None  # the key was revoked since
        return name, sid

    def set_session(response: Response, request: Request, name: str) -> None:
        sid = uuid.uuid4().hex
        exp = time.time() + config.cookie_ttl
        response.set_cookie(
            SESSION_COOKIE,
            signer.sign("session", {"n": name, "sid": sid, "exp": exp}),
            max_age=int(config.cookie_ttl),
            httponly=True,
            samesite="lax",
            secure=secure(request),
            path="/",
        )

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin") or request.headers.get("referer")
        if not origin or origin == "null":
            return origin != "null"
        parts = urlsplit(origin)
        return parts.netloc == request.headers.get("host", request.url.netloc)

    async def checked_form(request: Request, sid: str) -> dict[str, str]:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if not same_origin(request) or not signer.check_csrf(sid, values.get("csrf")):
            raise Problem("csrf_failed", "this form expired or was posted from another site")
        return values

    def page(
        request: Request, name: str, who: tuple[str, str], status: int = 200, **context: Any
    ) -> HTMLResponse:
        html = _env.get_template(name).render(
            reviewer=who[0],
            csrf=signer.csrf(who[1]),
            can_logout=bool(keys),
            when=_when,
            dumps=_dumps,
            render=render_value,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def require(request: Request) -> tuple[str, str] | Response:
        """The signed-in browser; without keys, a fresh local session; else the login page."""
        who = browser(request)
        if who is not None:
            return who
        if not keys:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response = RedirectResponse(_safe_next(target), status_code=303)
            set_session(response, request, config.local_reviewer)
            return response
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.get("/static/inbox.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(
            _template_source("inbox.css"),
            media_type="text/css",
            headers={"Cache-Control": "max-age=3600"},
        )

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> Response:
        pre = signer.unsign("pre", request.cookies.get(PRE_COOKIE))
        sid = str(pre["sid"]) if pre and isinstance(pre.get("sid"), str) else uuid.uuid4().hex
        html = _env.get_template("login.html").render(
            csrf=signer.csrf(sid), next=_safe_next(next), reviewer=None, error=None
        )
        response = HTMLResponse(html)
        response.set_cookie(
            PRE_COOKIE,
            signer.sign("pre", {"sid": sid, "exp": time.time() + 3600}),
            max_age=3600,
            httponly=True,
            samesite="lax",
            secure=secure(request),
        )
        return response

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        pre = signer.unsign("pre", request.cookies.get(PRE_COOKIE))
        sid = str(pre["sid"]) if pre and isinstance(pre.get("sid"), str) else ""
        values = await checked_form(request, sid)
        name = keys.who(values.get("key", "").strip()) if keys else config.local_reviewer
        if name is None:
            html = _env.get_template("login.html").render(
                csrf=signer.csrf(sid),
                next=_safe_next(values.get("next")),
                reviewer=None,
                error="Unknown API key.",
            )
            return HTMLResponse(html, status_code=401)
        response = RedirectResponse(_safe_next(values.get("next")), status_code=303)
        set_session(response, request, name)
        response.delete_cookie(PRE_COOKIE)
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        who = browser(request)
        if who is not None:
            await checked_form(request, who[1])
        response = RedirectResponse("/login" if keys else "/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/", include_in_schema=False)
    def inbox(request: Request, cursor: str | None = None) -> Response:
        who = require(request)
        if isinstance(who, Response):
            return who
        listing = service.list(limit=100, cursor=cursor)
        now = time.time()
        rows = [
            {
                "token": item["token"],
                "recipe": item["recipe"],
                "pause_kind": item["pause_kind"],
                "status": item["status"],
                "preview": _preview(item["payload"]) if item["status"] != "invalid" else "",
                "age": _duration(now - item["created_at"]) if item["created_at"] else "?",
                "left": _duration(item["seconds_left"])
                if item["seconds_left"] is not None
                else "?",
            }
            for item in listing["items"]
        ]
        return page(request, "inbox.html", who, rows=rows, next_cursor=listing["next_cursor"])

    def session_page(
        request: Request,
        who: tuple[str, str],
        token: str,
        error: str | None = None,
        values: dict[str, str] | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        s = service.show(token)
        now = time.time()
        payload = s.get("payload")
        tool = tool_call_view(payload, s.get("expects"))
        gate = tool is None and is_gate(s.get("expects"))
        draft = payload.get("draft") if isinstance(payload, dict) else None
        return page(
            request,
            "session.html",
            who,
            status=status,
            s=s,
            age=_duration(now - s["created_at"]) if s.get("created_at") else "?",
            left=_duration(s["seconds_left"]) if s.get("seconds_left") is not None else "?",
            tool=tool,
            gate=gate,
            gate_draft=draft if isinstance(draft, str) else "",
            fields=[] if gate or tool else schema_fields(s.get("expects")),
            values=values or {},
            error=error,
            request_id=(values or {}).get("request_id") or uuid.uuid4().hex,
        )

    @app.get("/inbox/{token}", include_in_schema=False)
    def show(request: Request, token: str) -> Response:
        who = require(request)
        if isinstance(who, Response):
            return who
        return session_page(request, who, token)

    @app.post("/inbox/{token}", include_in_schema=False)
    async def answer(request: Request, token: str) -> Response:
        who = browser(request)
        if who is None:
            raise Problem("csrf_failed", "sign in first: this browser has no inbox session")
        values = await checked_form(request, who[1])
        from starlette.concurrency import run_in_threadpool

        s = await run_in_threadpool(service.show, token)
        try:
            resume_input = answer_of(s, values)
            await run_in_threadpool(
                lambda: service.resume(
                    token,
                    resume_input,
                    by=who[0],
                    request_id=values.get("request_id") or None,
                    via="inbox",
                )
            )
        except Problem as problem:
            if problem.kind != "invalid_resume_input":
                raise
            detail = problem.detail
            return await run_in_threadpool(
                lambda: session_page(request, who, token, detail, values, 422)
            )
        return RedirectResponse(f"/inbox/{quote(token)}", status_code=303)

    @app.post("/inbox/{token}/cancel", include_in_schema=False)
    async def cancel(request: Request, token: str) -> Response:
        who = browser(request)
        if who is None:
            raise Problem("csrf_failed", "sign in first: this browser has no inbox session")
        await checked_form(request, who[1])
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(lambda: service.cancel(token, by=who[0], via="inbox"))
        return RedirectResponse(f"/inbox/{quote(token)}", status_code=303)
