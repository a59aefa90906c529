"""The ways in over HTTP: ``llm-core serve`` (a REST API and a web inbox, FastAPI + uvicorn),
and the loading of a user's workflows (``--app package.module:attr``) the CLI shares.

``import llm_core.server`` needs no extra; :func:`create_app` needs ``llm-core[server]``.
See ``docs/server.md``.
"""

from __future__ import annotations

from llm_core.server._apps import AppError, Apps, load_apps, load_target, parse_token

__all__ = ["AppError", "Apps", "load_apps", "load_target", "parse_token"]
