"""The ``llm-core`` command: pause a run in one process, resume it in another.

Sessions live in the cache named by ``--cache URL`` or ``$LLM_CORE_CACHE_URL``; by default a
SQLite file under the user's state directory (``$XDG_STATE_HOME/llm-core/sessions.db``, else
``~/.local/state/llm-core/sessions.db``), so a token printed by ``run`` can be resumed later by
any process on this machine.  ``--json`` prints one JSON document for scripts.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from llm_core import recipes as _recipes  # noqa: F401  (registers the built-in recipes)
from llm_core.cache import cache_from_url, capabilities_of
from llm_core.cli._commands import (
    _cancel,
    _next_hint,
    _report,
    _resume,
    _run,
    _sessions_list,
    _sessions_show,
    _sessions_sweep,
)
from llm_core.cli._common import (
    APP_ENV,
    CACHE_ENV,
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_USAGE,
    MODEL_ENV,
    _fail,
    _safe,
    _secret_key,
    _UsageError,
    default_cache_url,
)
from llm_core.cli._parser import _parser
from llm_core.cli._serve import _serve
from llm_core.errors import CacheUnavailableError, ConfigurationError, LlmCoreError
from llm_core.server._apps import load_apps
from llm_core.workflow import Paused

__all__ = ["EXIT_CODES", "default_cache_url", "main"]


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
        model = getattr(args, "model", None) or os.environ.get(MODEL_ENV, "").strip() or None
        if args.command == "serve":
            return _serve(args, cache, url, spec, model)
        # only a run or a resume calls the model: the sessions commands do not make one
        model = model if args.command in ("run", "resume") else None
        apps = load_apps(spec, cache, _secret_key(args), model=model)
        if args.command == "sessions" and args.action == "list":
            return _sessions_list(args, apps, cache, as_json, sys.stdout)
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
