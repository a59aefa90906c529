"""What every part of the ``llm-core`` command shares: exit codes, defaults, usage errors,
the signing key, and output that is always safe to print."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

CACHE_ENV = "LLM_CORE_CACHE_URL"
SECRET_KEY_ENV = "LLM_CORE_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret
APP_ENV = "LLM_CORE_APP"
MODEL_ENV = "LLM_CORE_MODEL"

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
  2  bad usage: unknown option, bad --cache URL, unknown recipe, a --model that cannot be made
  3  session not found (unknown token, or finished longer ago than results are kept)
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
  llm-core --model openai:gpt-4o-mini run hitl-gate "Announce the 2.4 release"
  llm-core --app myapp.agent:workflow --model openai:gpt-4o run tool-approval "Email Ada"
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


def _fail(message: str, code: int, as_json: bool, kind: str) -> int:
    if as_json:
        print(json.dumps({"status": "error", "kind": kind, "error": {"message": message}}))
    else:
        print(_safe(f"llm-core: error: {message}"), file=sys.stderr)
    return code
