"""The ``run``, ``resume`` and ``sessions`` commands, and how their outcomes are printed."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from llm_core.cache import Cache
from llm_core.cli._common import (
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_OK,
    _duration,
    _fail,
    _pretty,
    _safe,
    _UsageError,
)
from llm_core.errors import LlmCoreError
from llm_core.server._apps import Apps, parse_token
from llm_core.sessions import SessionInfo, page_stores
from llm_core.workflow import Error, Ok, Outcome, Paused

# --- commands ----------------------------------------------------------------------------


def _run(args: argparse.Namespace, apps: Apps) -> Outcome:
    if args.input == "-" and sys.stdin is None:
        raise _UsageError("INPUT '-' reads stdin, but this process has none")
    try:
        text = sys.stdin.read() if args.input == "-" else args.input
    except UnicodeDecodeError as exc:
        raise _UsageError(f"INPUT '-': stdin is not valid text: {exc}") from None
    value: Any = text
    if args.input_json:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise _UsageError(f"--input-json: INPUT is not valid JSON: {exc}") from exc
    if not apps.has(args.recipe):
        raise _UsageError(
            f"no recipe named {args.recipe!r}; known recipes: {apps.names}"
            + ("" if apps.spec else " (load your own with --app package.module:attr)")
        )
    outcome = apps.runtime(args.recipe, args.session_ttl).run(value)
    if args.recipe == "tool-approval" and isinstance(outcome, Error):
        missing = [d.data["adapter"] for d in outcome.diagnostics if d.data and "adapter" in d.data]
        if outcome.kind == "missing_requirement" and missing:  # nothing ran, nothing is stored
            raise _UsageError(
                f"tool-approval has no {' and no '.join(map(str, missing))}: give the model "
                "with --model provider:name and your tools with --app, a Workflow made by "
                "recipes.tool_approval_workflow([...]) (see docs/cli.md)"
            )
    return outcome


def _resume_input(args: argparse.Namespace) -> Any:
    if args.input_json is not None:
        if args.decision or args.notes is not None or args.edited is not None:
            raise _UsageError("give either --input-json or --decision/--notes/--edited, not both")
        try:
            return _utf8(json.loads(args.input_json), "--input-json")
        except (ValueError, RecursionError) as exc:
            raise _UsageError(f"--input-json is not valid JSON: {exc}") from None
    if args.decision is None:
        raise _UsageError("resume needs --decision approve|reject|edit (or --input-json)")
    value: dict[str, Any] = {"decision": args.decision}
    if args.notes is not None:
        value["notes"] = args.notes
    if args.edited is not None:
        value["edited"] = args.edited
    return _utf8(value, "--notes/--edited")


def _utf8(value: Any, what: str) -> Any:
    """``value`` if its text is UTF-8 (argv bytes that are not decode to lone surrogates, and
    an outcome holding one cannot be recorded for a ``--request-id`` replay); else bad usage,
    before the session is touched."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _UsageError(f"{what} is not valid UTF-8 text") from None
    return value


def _resume(args: argparse.Namespace, apps: Apps) -> Outcome:
    resume_input = _resume_input(args)
    runtime, record = apps.locate(args.token)
    snapshot = record.snapshot if record is not None else None
    if snapshot is not None and args.session_ttl is not None:
        runtime = apps.runtime(snapshot.recipe, args.session_ttl)
    return runtime.resume(args.token, resume_input, request_id=args.request_id)


def _cancel(args: argparse.Namespace, apps: Apps) -> Outcome:
    runtime, _ = apps.locate(args.token)
    return runtime.cancel(args.token)


def _row(info: SessionInfo, now: float) -> dict[str, Any]:
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
        "problem": info.problem,
    }


def _sessions_list(
    args: argparse.Namespace, apps: Apps, cache: Cache, as_json: bool, out: TextIO
) -> int:
    """One page of pending and claimed sessions; the cursor of the next page, if any."""
    stores = [store for store in apps.stores() if store.indexed or store.listable]
    if not stores:
        raise _UsageError(f"{type(cache).__name__} cannot list its keys; use SQLite or Redis")
    page = page_stores(
        stores,
        limit=args.limit,
        cursor=args.cursor,
        recipe=args.recipe,
        kind=args.kind,
        order=args.order,
    )
    now = time.time()
    rows = [_row(info, now) for info in page.items]
    if as_json:
        print(json.dumps({"sessions": rows, "next_cursor": page.cursor}), file=out)
        return EXIT_OK
    if not rows:
        print("no pending sessions", file=out)
    else:
        print(f"{'TOKEN':<40}  {'RECIPE':<12}  {'KIND':<8}  {'STATUS':<8}  TIME LEFT", file=out)
    for row in rows:
        left = "-" if row["seconds_left"] is None else _duration(row["seconds_left"])
        print(
            _safe(
                f"{row['token']:<40}  {row['recipe'] or '?':<12}  {row['pause_kind'] or '?':<8}  "
                f"{row['status']:<8}  {left}"
            ),
            file=out,
        )
    if page.cursor is not None:
        print(f"more: llm-core sessions list --cursor {page.cursor}", file=sys.stderr)
    return EXIT_OK


def _sessions_show(args: argparse.Namespace, apps: Apps, as_json: bool, out: TextIO) -> int:
    """One session: status, recipe, pause kind, time left, payload and the schema it expects."""
    try:
        token, expiry = parse_token(args.token)
    except LlmCoreError as exc:
        return _fail(str(exc), EXIT_CODES["invalid_token"], as_json, "invalid_token")
    found = apps.info(token)
    now = time.time()
    if found is None:
        if now > expiry:
            return _fail("the session expired", EXIT_CODES["session_expired"], as_json,
                         "session_expired")  # fmt: skip
        message = "no session for this token (never stored in this cache, or long finished)"
        return _fail(message, EXIT_CODES["session_not_found"], as_json, "session_not_found")
    store, info = found
    row = _row(info, now)
    s = info.snapshot
    row["payload"] = s.payload if s else None
    row["expects"] = s.expects if s else None
    if info.status in ("completed", "cancelled"):
        record = store.record(token)
        row["finished_at"] = record.finished_at if record else None
        outcome = record.outcome if record else None
        kind = outcome.get("type") if outcome else None
        row["outcome"] = (
            {"status": kind, **{k: v for k, v in outcome.items() if k != "type"}}
            if outcome and kind in ("ok", "paused")
            else None
        )
    if as_json:
        print(json.dumps(row, default=str), file=out)
        return EXIT_OK
    lines = [f"token:     {info.token}", f"status:    {info.status}"]
    if s is not None:
        left = _duration(row["seconds_left"])
        lines += [
            f"recipe:    {s.recipe}",
            f"kind:      {s.pause_kind}",
            f"step:      {s.step}",
            f"created:   {_when(s.created_at)}",
            f"expires:   {_when(s.expires_at)} (in {left})",
        ]
    if info.problem:
        lines.append(f"problem:   {info.problem}")
    if "finished_at" in row and row["finished_at"] is not None:
        lines.append(f"finished:  {_when(row['finished_at'])}")
    print(_safe("\n".join(lines)), file=out)
    if s is not None:
        print("payload:", file=out)
        print(_pretty(s.payload), file=out)
        print("expects:", file=out)
        print(_pretty(s.expects), file=out)
    if row.get("outcome") is not None:
        print("outcome:", file=out)
        print(_pretty(row["outcome"]), file=out)
    return EXIT_OK


def _when(stamp: float) -> str:
    try:
        return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # past datetime's range (year 9999)
        return f"{stamp:.0f} s after the epoch"


def _sessions_sweep(cache: Cache, as_json: bool, out: TextIO) -> int:
    sweep = getattr(cache, "sweep", None)
    swept = int(sweep()) if callable(sweep) else 0
    if as_json:
        print(json.dumps({"swept": swept}), file=out)
    else:
        print(f"swept {swept} expired entr{'y' if swept == 1 else 'ies'}", file=out)
    return EXIT_OK


def _report(
    outcome: Outcome, as_json: bool, out: TextIO, err: TextIO, hint: str = "", example: str = ""
) -> int:
    if as_json:
        document = outcome.to_dict()
        document.pop("trace", None)
        print(json.dumps(document, default=str), file=out)  # ensure_ascii: always printable
    elif isinstance(outcome, Paused):
        expires = _when(outcome.expires_at)
        left = _duration(max(0.0, outcome.expires_at - time.time()))
        # kind and token may come from a stored record (a replayed outcome): escaped too
        kind, token = _safe(outcome.pause_kind), _safe(outcome.token)
        print(f"paused ({kind}); resume before {expires} (in {left})", file=out)
        print(f"token: {token}", file=out)
        print("payload:", file=out)
        print(_pretty(outcome.payload), file=out)
        answer = example or "--decision approve"
        print(_safe(f"next: llm-core resume {token} {answer}{hint}"), file=out)
    elif isinstance(outcome, Ok):
        print("ok (replayed)" if outcome.replayed else "ok", file=out)
        print(_pretty(outcome.artefact), file=out)
    else:
        print(_safe(f"error ({outcome.kind}): {outcome.message}"), file=err)
        if outcome.resumable:
            print("the token is still resumable", file=err)
    if isinstance(outcome, Error):
        return EXIT_CODES.get(outcome.kind, EXIT_FAILED)
    return EXIT_OK


def _next_hint(args: argparse.Namespace, outcome: Outcome) -> tuple[str, str]:
    """What ``next: llm-core resume TOKEN ...`` needs to reach the same session from another
    shell: the options given here (``--cache``, ``--app``, ``--model``, ``--secret-key-file``),
    and an example answer fit for what the pause expects."""
    if not isinstance(outcome, Paused):
        return "", ""
    hint = ""
    for option in ("cache", "app", "model", "secret_key_file"):
        value = getattr(args, option, None)
        if value:
            hint += f" --{option.replace('_', '-')} {shlex.quote(str(value))}"
    expects = outcome.expects or {}
    properties = expects.get("properties") if isinstance(expects, dict) else None
    if isinstance(properties, dict) and "decision" in properties:
        return hint, "--decision approve"
    return hint, "--input-json " + shlex.quote(json.dumps(_example(expects)))


def _example(schema: Any, depth: int = 0) -> Any:
    """A small value shaped like ``schema`` (for the ``next:`` hint only)."""
    if not isinstance(schema, dict) or depth > 4:
        return "..."
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "object" or isinstance(schema.get("properties"), dict):
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {k: _example(props.get(k), depth + 1) for k in required if isinstance(k, str)}
    return {"boolean": True, "integer": 0, "number": 0, "array": [], "null": None}.get(
        str(kind), "..."
    )
