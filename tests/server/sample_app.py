"""A user's own workflows, loaded with ``--app tests.server.sample_app:ATTR``."""

from __future__ import annotations

import os
from typing import Any

from llm_core import AdapterBundle, Plugin, Runtime, StepContext, Workflow, cache_from_url

SCHEMA: dict[str, Any] = {
    "title": "Review",
    "type": "object",
    "properties": {
        "approved": {"type": "boolean", "description": "publish it?"},
        "text": {"type": "string", "maxLength": 280, "description": "the text to publish"},
        "priority": {"enum": ["low", "high"]},
        "retries": {"type": "integer", "minimum": 0},
    },
    "required": ["approved"],
    "additionalProperties": False,
}


def compose(ctx: StepContext, state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "draft": str(state["input"])[:280]}


def review(ctx: StepContext, state: dict[str, Any]) -> Any:
    if not ctx.resumed:
        return ctx.pause(kind="review", payload={"draft": state["draft"]}, expects=SCHEMA)
    answer = dict(ctx.resume_input)
    return {**state, "approved": answer["approved"], "text": answer.get("text", state["draft"])}


def publish(ctx: StepContext, state: dict[str, Any]) -> dict[str, Any]:
    return {"published": state["approved"], "text": state["text"] if state["approved"] else None}


workflow = Workflow("tweet", [compose, review, publish])
"""A Workflow: built on the command's --cache and key."""


def runtimes() -> list[Runtime]:
    """A zero-argument factory of prebuilt runtimes with their own cache ($SAMPLE_CACHE_URL)."""
    cache = cache_from_url(os.environ["SAMPLE_CACHE_URL"])
    plugin = Plugin(key="adapter.cache", mode="override", adapters=AdapterBundle(cache=cache))
    return [workflow.use(plugin).build(secret_key=os.environ.get("SAMPLE_SECRET_KEY"))]


not_a_workflow = 42
