"""The ``llm-core`` argument parser."""

from __future__ import annotations

import argparse
from typing import Any

from llm_core import __version__
from llm_core.cli._common import _EPILOG, APP_ENV, CACHE_ENV, MODEL_ENV, SECRET_KEY_ENV, _seconds
from llm_core.workflow import recipe_names

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
        "--model",
        metavar="PROVIDER:NAME",
        default=argparse.SUPPRESS,
        help=f"the chat model for run, resume and serve, made by LangChain's init_chat_model "
        f"(e.g. openai:gpt-4o-mini; needs langchain and the provider's package), or "
        f"package.module:attr naming a model or a factory (default: ${MODEL_ENV})",
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
    listing = actions.add_parser(
        "list", parents=[common], help="pending tokens, pause kind, time left, one page at a time"
    )
    listing.add_argument(
        "--limit", type=_page_size, default=50, metavar="N", help="sessions per page (1-1000)"
    )
    listing.add_argument("--cursor", metavar="CURSOR", help="the next page (printed by the last)")
    listing.add_argument("--recipe", metavar="NAME", help="only this recipe's sessions")
    listing.add_argument("--kind", metavar="KIND", help="only sessions paused with this kind")
    listing.add_argument(
        "--order",
        choices=("expiring", "newest"),
        default="expiring",
        help="expiring: soonest deadline first (default); newest: latest deadline first",
    )
    show = actions.add_parser(
        "show", parents=[common], help="one session: status, payload, what it expects, time left"
    )
    show.add_argument("token", metavar="TOKEN")
    actions.add_parser("sweep", parents=[common], help="delete expired entries now")
    cancel = actions.add_parser("cancel", parents=[common], help="cancel a pending session")
    cancel.add_argument("token", metavar="TOKEN")
    _serve_parser(commands, common)
    return parser


def _page_size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        size = 0
    if not 1 <= size <= 1000:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 1000, got {text!r}")
    return size


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
        "--sweep-interval",
        metavar="SECONDS",
        type=_seconds,
        default=60.0,
        help="with --webhook: look for sessions that expired unanswered this often and send "
        "session.expired (default 60)",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="add a few sample pending sessions first (when none are pending)",
    )
