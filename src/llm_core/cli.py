"""The ``llm-core`` command: pause a run in one process, resume it in another.

Sessions live in the cache named by ``--cache URL`` or ``$LLM_CORE_CACHE_URL``; by default a
SQLite file under the user's state directory (``$XDG_STATE_HOME/llm-core/sessions.db``, else
``~/.local/state/llm-core/sessions.db``), so a token printed by ``run`` can be resumed later by
any process on this machine.  ``--json`` prints one JSON document for scripts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from llm_core import __version__
from llm_core import recipes as _recipes  # noqa: F401  (registers the built-in recipes)
from llm_core.cache import Cache, cache_from_url, capabilities_of
from llm_core.errors import CacheUnavailableError, ConfigurationError, LlmCoreError
from llm_core.server._apps import Apps, load_apps, parse_token
from llm_core.sessions import SessionInfo
from llm_core.workflow import Error, Ok, Outcome, Paused, recipe_names

__all__ = ["EXIT_CODES", "default_cache_url", "main"]

CACHE_ENV = "LLM_CORE_CACHE_URL"
SECRET_KEY_ENV = "LLM_CORE_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret
APP_ENV = "LLM_CORE_APP"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CODES: dict[str, int] = {
    "step_failed": 1,
    "session_not_found": 3,
    "session_expired": 4,
    "invalid_token": 5,
    "invalid_resume_input": 6,
    "cache_unavailable": 7,
    "snapshot_not_serializable": 8,
    "session_busy": 9,
    "session_already_resumed": 10,
    "session_cancelled": 11,
    "session_invalid": 12,
    "session_store_full": 13,
}
"""Exit status for each ``Error`` kind; any other kind exits 1, bad usage exits 2."""

_EPILOG = """\
exit status:
  0  ok (run: finished or paused; resume: finished or paused again)
  1  a step failed, or another error
  2  bad usage: unknown option, bad --cache URL, unknown recipe
  3  session not found (unknown token, or already resumed)
  4  session expired
  5  malformed token
  6  invalid resume input (the token stays resumable)
  7  cache unavailable
  8  the paused state could not be stored
  9  session busy (another resume holds it; retry after its lease)
 10  session already resumed (repeat the same --request-id to see its outcome)
 11  session cancelled
 12  session invalid (unreadable, or its signature does not match)
 13  session store full

examples:
  llm-core run hitl-gate "Ship the release notes on Friday"
  llm-core resume TOKEN --decision approve --notes "lgtm"
  llm-core resume TOKEN --decision edit --edited "Ship them on Monday"
  llm-core sessions list
  llm-core sessions show TOKEN
  llm-core sessions cancel TOKEN
  llm-core --app myapp.flows:runtime run tweet "Launch day"
  llm-core serve --app myapp.flows:runtime --port 8000
  LLM_CORE_CACHE_URL=redis://127.0.0.1:6379/0 llm-core sessions list --json
"""


def default_cache_url() -> str:
    """``$LLM_CORE_CACHE_URL``, else a SQLite file under the user's XDG state directory
    (whose folder is created, private to the user, if missing)."""
    from_env = os.environ.get(CACHE_ENV, "").strip()
    if from_env:
        return from_env
    state_home = os.environ.get("XDG_STATE_HOME", "").strip()
    base = Path(state_home) if state_home else Path.home() / ".local" / "state"
    folder = (base / "llm-core").resolve()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return "sqlite:///" + str(folder / "sessions.db")


def _seconds(text: str) -> float:
    """argparse type for --session-ttl: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds > 0, got {text!r}")
    return value


class _UsageError(Exception):
    """Bad usage that argparse itself cannot see (exit 2)."""


# --- argument parsing --------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--cache",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"where sessions live: memory://, sqlite:///path.db, redis://host:6379/0 "
        f"(default: ${CACHE_ENV}, else a SQLite file under $XDG_STATE_HOME/llm-core)",
    )
    common.add_argument(
        "--secret-key-file",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"a UTF-8 text file holding the key that signs stored sessions "
        f"(default: ${SECRET_KEY_ENV}; without one, records are unsigned)",
    )
    common.add_argument(
        "--app",
        metavar="MODULE:ATTR",
        default=argparse.SUPPRESS,
        help=f"load your workflows: a Runtime, a Workflow, a list of them or a zero-argument "
        f"factory, as package.module:attr (default: ${APP_ENV}; the built-in recipes stay)",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts"
    )
    parser = argparse.ArgumentParser(
        prog="llm-core",
        description="Run llm-core workflows that pause for a decision and resume later, "
        "from this or any other process that shares the cache.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"llm-core {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run", parents=[common], help="start a run; prints the token if it pauses"
    )
    run.add_argument(
        "recipe",
        metavar="RECIPE",
        help=f"one of: {', '.join(recipe_names())}, or one loaded with --app",
    )
    run.add_argument("input", metavar="INPUT", help="the run's input text ('-' reads stdin)")
    run.add_argument(
        "--input-json", action="store_true", help="parse INPUT as JSON (e.g. with a policy)"
    )
    run.add_argument("--session-ttl", type=_seconds, metavar="SECONDS", help="default 24 h")

    resume = commands.add_parser(
        "resume", parents=[common], help="resume a paused session with a decision"
    )
    resume.add_argument("token", metavar="TOKEN", help="the token printed by 'run'")
    resume.add_argument("--decision", choices=["approve", "reject", "edit"])
    resume.add_argument("--notes", help="a note kept with the decision")
    resume.add_argument("--edited", metavar="TEXT", help="the corrected text (with edit)")
    resume.add_argument(
        "--input-json",
        metavar="JSON",
        help="the whole resume input as JSON, for recipes other than hitl-gate",
    )
    resume.add_argument(
        "--session-ttl", type=_seconds, metavar="SECONDS", help="if it pauses again"
    )
    resume.add_argument(
        "--request-id",
        metavar="ID",
        help="makes the resume idempotent: repeat it with the same ID to see the outcome again",
    )

    sessions = commands.add_parser("sessions", parents=[common], help="inspect pending sessions")
    actions = sessions.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", parents=[common], help="pending tokens, pause kind, time left")
    show = actions.add_parser(
        "show", parents=[common], help="one session: status, payload, what it expects, time left"
    )
    show.add_argument("token", metavar="TOKEN")
    actions.add_parser("sweep", parents=[common], help="delete expired entries now")
    cancel = actions.add_parser("cancel", parents=[common], help="cancel a pending session")
    cancel.add_argument("token", metavar="TOKEN")
    _serve_parser(commands, common)
    return parser


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return value


def _serve_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="the HTTP API and the web inbox (needs llm-core[server])",
        description="Serve the REST API (/runs, /sessions, /openapi.json) and the web inbox (/) "
        "over the same sessions as the workers.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (loopback)")
    serve.add_argument("--port", type=_port, default=8000, help="default 8000")
    serve.add_argument(
        "--api-keys",
        metavar="FILE",
        help="JSON or TOML table of API key = reviewer name (default: $LLM_CORE_API_KEY); "
        "required on a non-loopback host",
    )
    serve.add_argument(
        "--webhook",
        metavar="URL",
        action="append",
        help="POST session events here, signed (Standard Webhooks); repeatable "
        "(default: $LLM_CORE_WEBHOOK_URL)",
    )
    serve.add_argument(
        "--webhook-secret-file",
        metavar="PATH",
        help="the webhook signing secret, whsec_<base64> (default: $LLM_CORE_WEBHOOK_SECRET)",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="add a few sample pending sessions first (when none are pending)",
    )


# --- commands ----------------------------------------------------------------------------


def _secret_key(args: argparse.Namespace) -> str | None:
    """The signing key: ``--secret-key-file`` (UTF-8 text, trailing newline dropped), else
    ``$LLM_CORE_SECRET_KEY``, else none."""
    path = getattr(args, "secret_key_file", None)
    if path is not None:
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _UsageError(f"--secret-key-file {path!r}: {exc}") from None
        return text.rstrip("\r\n") or None
    return os.environ.get(SECRET_KEY_ENV) or None


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
    return apps.runtime(args.recipe, args.session_ttl).run(value)


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


def _sessions_list(apps: Apps, cache: Cache, as_json: bool, out: TextIO) -> int:
    if not apps.listable:
        raise _UsageError(f"{type(cache).__name__} cannot list its keys; use SQLite or Redis")
    now = time.time()
    rows = [_row(info, now) for info in apps.sessions()]
    if as_json:
        print(json.dumps({"sessions": rows}), file=out)
        return EXIT_OK
    if not rows:
        print("no pending sessions", file=out)
        return EXIT_OK
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


# --- output ------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _safe(text: str) -> str:
    """``text`` fit for a terminal: control characters escaped, lone surrogates too."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                        else f"\\u{ord(m.group()):04x}", text)  # fmt: skip
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _pretty(value: Any) -> str:
    return _safe(json.dumps(value, indent=2, ensure_ascii=False, default=str))


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
    shell: the options given here (``--cache``, ``--app``, ``--secret-key-file``), and an
    example answer fit for what the pause expects."""
    if not isinstance(outcome, Paused):
        return "", ""
    hint = ""
    for option in ("cache", "app", "secret_key_file"):
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


def _serve(args: argparse.Namespace, cache: Cache, url: str, spec: str | None) -> int:
    from llm_core.server._auth import is_loopback, load_keys

    keys = load_keys(args.api_keys)
    if not is_loopback(args.host) and not keys:
        raise _UsageError(
            f"refusing to serve on {args.host!r} without API keys: anyone who reaches it could "
            "answer every paused run; give --api-keys FILE (or $LLM_CORE_API_KEY), or use "
            "--host 127.0.0.1 behind a reverse proxy"
        )
    try:
        import uvicorn

        from llm_core.server._app import ServerConfig, create_app
    except ImportError as exc:
        message = f"serve needs the server extra: pip install 'llm-core[server]' ({exc})"
        raise _UsageError(message) from None
    key = _secret_key(args)
    notifier = _notifier(args)
    plugins = (notifier.plugin(),) if notifier is not None else ()
    apps = load_apps(spec, cache, key, plugins)
    if args.demo:
        _demo_sessions(apps)
    config = ServerConfig(
        apps=apps,
        keys=keys,
        secret=key,
        notify=notifier.server_events(apps) if notifier is not None else None,
    )
    app = create_app(config)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"llm-core: inbox at http://{shown}:{args.port}/  (API docs: /docs, "
        f"OpenAPI: /openapi.json; sessions in {_safe(url)}; "
        f"{'API keys required' if keys else 'no API keys: loopback only'})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    if notifier is not None:
        notifier.close()
    return EXIT_OK


def _notifier(args: argparse.Namespace) -> Any:
    """The webhook notifier ``--webhook``/``$LLM_CORE_WEBHOOK_URL`` asks for, else ``None``."""
    urls = list(args.webhook or [])
    if not urls and os.environ.get("LLM_CORE_WEBHOOK_URL", "").strip():
        urls = [os.environ["LLM_CORE_WEBHOOK_URL"].strip()]
    if not urls:
        return None
    from llm_core.webhooks import WEBHOOK_SECRET_ENV, Notifier

    if args.webhook_secret_file is not None:
        try:
            secret = Path(args.webhook_secret_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            message = f"--webhook-secret-file {args.webhook_secret_file!r}: {exc}"
            raise _UsageError(message) from None
    else:
        secret = os.environ.get(WEBHOOK_SECRET_ENV, "").strip()
    if not secret:
        raise _UsageError(
            f"--webhook needs a signing secret: --webhook-secret-file FILE or ${WEBHOOK_SECRET_ENV}"
        )
    return Notifier(urls, secret)


_DEMO_DRAFTS = (
    "Ship the release notes on Friday: 2.4 brings faster resumes and the web inbox.",
    "Refund 40 EUR to order #1182 (damaged in transit). Policy: refunds > 20 EUR need a human.",
    'Tweet: "We are hiring! <b>Backend</b> engineers, remote-friendly."',
)


def _demo_sessions(apps: Apps) -> None:
    """A few pending hitl-gate sessions to look at (only when nothing is pending)."""
    if apps.listable and apps.sessions():
        return
    runtime = apps.runtime("hitl-gate")
    for text in _DEMO_DRAFTS:
        runtime.run({"input": text, "policy": "a human approves every public text"})


def _fail(message: str, code: int, as_json: bool, kind: str) -> int:
    if as_json:
        print(json.dumps({"status": "error", "kind": kind, "error": {"message": message}}))
    else:
        print(_safe(f"llm-core: error: {message}"), file=sys.stderr)
    return code


def _escape_unencodable() -> list[tuple[Any, str | None]]:
    """Make stdout/stderr write what their encoding cannot hold as ``\\x..`` escapes (a
    non-UTF-8 locale, ``PYTHONIOENCODING=ascii``): printing an outcome must never fail after
    the session it reports was spent.  Returns what to restore."""
    changed = []
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        errors = getattr(stream, "errors", None)
        if callable(reconfigure) and errors in ("strict", None):
            try:
                reconfigure(errors="backslashreplace")
            except (OSError, ValueError):
                continue
            changed.append((stream, errors))
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llm-core`` console script; returns the exit status."""
    changed = _escape_unencodable()
    try:
        return _guarded_main(argv)
    finally:
        for stream, errors in changed:
            with contextlib.suppress(OSError, ValueError):
                stream.reconfigure(errors=errors or "strict")


def _guarded_main(argv: Sequence[str] | None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("llm-core: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`llm-core sessions list | head -1`): not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_FAILED
    except Exception as exc:  # a bug of ours: one line, never a traceback (LLM_CORE_DEBUG shows it)
        if os.environ.get("LLM_CORE_DEBUG"):
            raise
        print(_safe(f"llm-core: internal error: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return EXIT_FAILED


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    try:
        url = getattr(args, "cache", None) or default_cache_url()
    except OSError as exc:
        message = f"cannot make the default session folder ({exc}); give --cache or ${CACHE_ENV}"
        return _fail(message, EXIT_CODES["cache_unavailable"], as_json, "cache_unavailable")
    try:
        cache = cache_from_url(url)
    except CacheUnavailableError as exc:
        return _fail(str(exc), EXIT_CODES["cache_unavailable"], as_json, "cache_unavailable")
    except (LlmCoreError, ValueError, OSError) as exc:
        return _fail(f"--cache {url!r}: {exc}", EXIT_USAGE, as_json, "usage")
    try:
        spec = getattr(args, "app", None) or os.environ.get(APP_ENV, "").strip() or None
        if args.command == "serve":
            return _serve(args, cache, url, spec)
        apps = load_apps(spec, cache, _secret_key(args))
        if args.command == "sessions" and args.action == "list":
            return _sessions_list(apps, cache, as_json, sys.stdout)
        if args.command == "sessions" and args.action == "show":
            return _sessions_show(args, apps, as_json, sys.stdout)
        if args.command == "sessions" and args.action == "sweep":
            return _sessions_sweep(cache, as_json, sys.stdout)
        if args.command == "sessions":
            outcome = _cancel(args, apps)
        else:
            outcome = _run(args, apps) if args.command == "run" else _resume(args, apps)
        if isinstance(outcome, Paused) and not capabilities_of(cache).persistent:
            print(
                f"llm-core: warning: {url} keeps sessions in this process only: once it exits, "
                "this token cannot be resumed; use sqlite:// or redis://",
                file=sys.stderr,
            )
        hint, example = _next_hint(args, outcome)
        return _report(outcome, as_json, sys.stdout, sys.stderr, hint, example)
    except (_UsageError, ConfigurationError) as exc:
        return _fail(str(exc), EXIT_USAGE, as_json, "usage")
    except CacheUnavailableError as exc:
        return _fail(str(exc), EXIT_CODES["cache_unavailable"], as_json, "cache_unavailable")
    except LlmCoreError as exc:  # e.g. a corrupt stored session met by `sessions list`
        return _fail(str(exc), EXIT_FAILED, as_json, "error")
    finally:
        close = getattr(cache, "close", None)
        if callable(close):
            close()
