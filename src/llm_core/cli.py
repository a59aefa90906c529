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
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from llm_core import __version__
from llm_core import recipes as _recipes  # noqa: F401  (registers the built-in recipes)
from llm_core.cache import Cache, cache_from_url, capabilities_of
from llm_core.errors import CacheUnavailableError, LlmCoreError
from llm_core.sessions import SessionStore
from llm_core.workflow import (
    AdapterBundle,
    Error,
    Ok,
    Outcome,
    Paused,
    Plugin,
    Runtime,
    Workflow,
    recipe_names,
)

__all__ = ["EXIT_CODES", "default_cache_url", "main"]

CACHE_ENV = "LLM_CORE_CACHE_URL"
SECRET_KEY_ENV = "LLM_CORE_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret

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
  llm-core sessions cancel TOKEN
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
    run.add_argument("recipe", metavar="RECIPE", help=f"one of: {', '.join(recipe_names())}")
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
    actions.add_parser("sweep", parents=[common], help="delete expired entries now")
    cancel = actions.add_parser("cancel", parents=[common], help="cancel a pending session")
    cancel.add_argument("token", metavar="TOKEN")
    return parser


# --- commands ----------------------------------------------------------------------------


def _runtime(recipe: str, cache: Cache, session_ttl: float | None, key: str | None) -> Runtime:
    if recipe not in recipe_names():
        raise _UsageError(f"no recipe named {recipe!r}; known recipes: {recipe_names()}")
    plugin = Plugin(key="adapter.cache", mode="override", adapters=AdapterBundle(cache=cache))
    return Workflow.recipe(recipe).use(plugin).build(session_ttl=session_ttl, secret_key=key)


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


def _run(args: argparse.Namespace, cache: Cache) -> Outcome:
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
    return _runtime(args.recipe, cache, args.session_ttl, _secret_key(args)).run(value)


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


def _resume(args: argparse.Namespace, cache: Cache) -> Outcome:
    resume_input = _resume_input(args)
    runtime = _runtime_for(args, cache, args.session_ttl)
    return runtime.resume(args.token, resume_input, request_id=args.request_id)


def _runtime_for(args: argparse.Namespace, cache: Cache, session_ttl: float | None) -> Runtime:
    """A runtime for the recipe ``args.token``'s record names.  An unknown, used, expired or
    malformed token falls through to the default recipe, whose resume or cancel reports exactly
    which of those it is."""
    key = _secret_key(args)
    try:
        record = SessionStore(cache, secret_key=key).record(args.token)
    except LlmCoreError:
        record = None
    snapshot = record.snapshot if record is not None else None
    recipe = snapshot.recipe if snapshot is not None else "hitl-gate"
    return _runtime(recipe if recipe in recipe_names() else "hitl-gate", cache, session_ttl, key)


def _cancel(args: argparse.Namespace, cache: Cache) -> Outcome:
    runtime = _runtime_for(args, cache, None)
    return runtime.cancel(args.token)


def _sessions_list(args: argparse.Namespace, cache: Cache, as_json: bool, out: TextIO) -> int:
    store = SessionStore(cache, secret_key=_secret_key(args))
    if not store.listable:
        raise _UsageError(f"{type(cache).__name__} cannot list its keys; use SQLite or Redis")
    now = time.time()
    rows: list[dict[str, Any]] = []
    for info in store.sessions():
        s = info.snapshot
        rows.append(
            {
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
        )
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


def _report(outcome: Outcome, as_json: bool, out: TextIO, err: TextIO) -> int:
    if as_json:
        document = outcome.to_dict()
        document.pop("trace", None)
        print(json.dumps(document, default=str), file=out)  # ensure_ascii: always printable
    elif isinstance(outcome, Paused):
        try:
            expires = datetime.fromtimestamp(outcome.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        except (OverflowError, OSError, ValueError):  # past datetime's range (year 9999)
            expires = f"{outcome.expires_at:.0f} s after the epoch"
        left = _duration(max(0.0, outcome.expires_at - time.time()))
        # kind and token may come from a stored record (a replayed outcome): escaped too
        kind, token = _safe(outcome.pause_kind), _safe(outcome.token)
        print(f"paused ({kind}); resume before {expires} (in {left})", file=out)
        print(f"token: {token}", file=out)
        print("payload:", file=out)
        print(_pretty(outcome.payload), file=out)
        print(f"next: llm-core resume {token} --decision approve", file=out)
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
        if args.command == "sessions" and args.action == "list":
            return _sessions_list(args, cache, as_json, sys.stdout)
        if args.command == "sessions" and args.action == "sweep":
            return _sessions_sweep(cache, as_json, sys.stdout)
        if args.command == "sessions":
            outcome = _cancel(args, cache)
        else:
            outcome = _run(args, cache) if args.command == "run" else _resume(args, cache)
        if isinstance(outcome, Paused) and not capabilities_of(cache).persistent:
            print(
                f"llm-core: warning: {url} keeps sessions in this process only: once it exits, "
                "this token cannot be resumed; use sqlite:// or redis://",
                file=sys.stderr,
            )
        return _report(outcome, as_json, sys.stdout, sys.stderr)
    except _UsageError as exc:
        return _fail(str(exc), EXIT_USAGE, as_json, "usage")
    except CacheUnavailableError as exc:
        return _fail(str(exc), EXIT_CODES["cache_unavailable"], as_json, "cache_unavailable")
    except LlmCoreError as exc:  # e.g. a corrupt stored session met by `sessions list`
        return _fail(str(exc), EXIT_FAILED, as_json, "error")
    finally:
        close = getattr(cache, "close", None)
        if callable(close):
            close()
