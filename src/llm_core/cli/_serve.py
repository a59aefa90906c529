"""``llm-core serve``: the HTTP API and the web inbox on uvicorn."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from llm_core.cache import Cache
from llm_core.cli._common import EXIT_OK, _safe, _secret_key, _UsageError
from llm_core.server._apps import Apps, load_apps


def _serve(
    args: argparse.Namespace, cache: Cache, url: str, spec: str | None, model: str | None = None
) -> int:
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
    apps = load_apps(spec, cache, key, plugins, model=model)
    if args.demo:
        _demo_sessions(apps)
    config = ServerConfig(
        apps=apps,
        keys=keys,
        secret=key,
        notify=notifier.server_events(apps) if notifier is not None else None,
    )
    app = create_app(config)
    sweeper = None
    if config.notify is not None:
        from llm_core.server._sweeper import Sweeper

        sweeper = Sweeper(apps, config.notify, args.sweep_interval)
        sweeper.start()
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"llm-core: inbox at http://{shown}:{args.port}/  (API docs: /docs, "
        f"OpenAPI: /openapi.json; sessions in {_safe(url)}; "
        f"{'API keys required' if keys else 'no API keys: loopback only'})",
        file=sys.stderr,
        flush=True,
    )
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    finally:
        if sweeper is not None:
            sweeper.stop()
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
