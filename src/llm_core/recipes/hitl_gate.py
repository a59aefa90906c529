"""The ``hitl-gate`` recipe: draft → a human approves, rejects or edits → final text.

* **draft**: the model adapter (if any) drafts from the input; without one the input is the draft.
  A chat model (a LangChain ``BaseChatModel``, a LlamaIndex ``LLM``, a bridge adapter, or a
  class subclassing ``llm_core.workflow.models.ChatModel``) gets the policy as a system
  instruction and the input as the user's message; any other model is the older
  ``model(prompt)`` / ``.invoke(prompt)`` duck, given the input alone.
* **gate**: pauses with kind ``"human"`` and payload ``{"draft", "policy"}``; on resume it
  checks the decision ``{"decision": "approve"|"reject"|"edit", "notes"?: str, "edited"?: str}``
  (``edited`` is required for, and only allowed with, ``"edit"``).  Anything else is an
  ``Error(kind="invalid_resume_input")`` that leaves the token resumable.
* **finalize**: the artefact ``{"draft", "decision", "status", "notes", "final"}``.

Its default plugin (``key="adapter.cache"``) gives each runtime a private ``MemoryCache``; a
user's plugin with the same key and ``mode="override"`` replaces it (``hitl_gate(cache=...)``
does exactly that).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from llm_core.bridges.models import wrap_chat_model
from llm_core.cache import Cache, MemoryCache
from llm_core.errors import InvalidInputError, InvalidResumeInputError
from llm_core.workflow import (
    DEFAULT_LEASE_TTL,
    DEFAULT_RESULT_TTL,
    AdapterBundle,
    BuildOptions,
    Plugin,
    Runtime,
    StepContext,
    Workflow,
    register_recipe,
)
from llm_core.workflow.models import is_chat_model, message_text
from llm_core.workflow.steps import StepResult

__all__ = ["CACHE_PLUGIN_KEY", "DECISIONS", "NAME", "RESUME_SCHEMA", "hitl_gate"]

NAME = "hitl-gate"
CACHE_PLUGIN_KEY = "adapter.cache"
DECISIONS = ("approve", "reject", "edit")
_INPUT_KEYS = frozenset({"input", "policy"})
_RESUME_KEYS = frozenset({"decision", "notes", "edited"})
_RESUME_SHAPE = "{'decision': 'approve'|'reject'|'edit', 'notes'?: str, 'edited'?: str}"
RESUME_SCHEMA: dict[str, Any] = {
    "title": "Decision",
    "type": "object",
    "properties": {
        "decision": {"enum": list(DECISIONS), "description": "approve, reject or edit the draft"},
        "notes": {"type": ["string", "null"], "description": "why, for the record"},
        "edited": {
            "type": ["string", "null"],
            "description": "the corrected text (only with decision 'edit')",
        },
    },
    "required": ["decision"],
    "additionalProperties": False,
}
"""What the gate's pause accepts (checked before the session is claimed; the step then checks
that ``edited`` goes with ``edit``)."""


def draft(ctx: StepContext, state: dict[str, Any]) -> StepResult | Awaitable[StepResult]:
    """Check the input; draft with the model adapter if there is one, else use the input."""
    unknown = state.keys() - _INPUT_KEYS
    if unknown:
        raise InvalidInputError(
            f"hitl-gate input has unknown keys {sorted(unknown)}; give a str or "
            "{'input': str, 'policy'?: any JSON value}"
        )
    text = state.get("input")
    if type(text) is not str or not text:
        raise InvalidInputError(
            f"hitl-gate input must be a non-empty str (or {{'input': str}}), got {text!r:.80}"
        )
    policy = state.get("policy")
    model = ctx.adapters.model
    if model is None:
        return {"input": text, "policy": policy, "draft": text}
    chat = model if is_chat_model(model) else wrap_chat_model(model)
    if chat is not None:
        return _drafted_later(chat.ainvoke(_draft_messages(text, policy)), text, policy)
    produced = _call_model(model, text)
    if hasattr(produced, "__await__"):
        return _drafted_later(produced, text, policy)
    return {"input": text, "policy": policy, "draft": _as_text(produced)}


async def _drafted_later(produced: Any, text: str, policy: Any) -> StepResult:
    return {"input": text, "policy": policy, "draft": _as_text(await produced)}


SYSTEM_INSTRUCTION = "Draft the text the user asks for. Reply with the draft only."


def _draft_messages(text: str, policy: Any) -> list[Any]:
    """The chat: the instruction (and the policy) as the system message, the input as the user's."""
    try:
        from langchain_core.messages import HumanMessage, SystemMessage
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        from llm_core.errors import MissingDependencyError

        raise MissingDependencyError(
            "drafting with a chat model", "langchain", "langchain-core"
        ) from exc
    system = SYSTEM_INSTRUCTION
    if policy is not None:
        rules = policy if isinstance(policy, str) else json.dumps(policy, ensure_ascii=False)
        system += f"\nFollow this policy:\n{rules}"
    return [SystemMessage(system), HumanMessage(text)]


def _call_model(model: Any, prompt: str) -> Any:
    invoke = getattr(model, "invoke", None)
    if callable(invoke):  # a LangChain chat model / Runnable
        return invoke(prompt)
    if callable(model):
        return model(prompt)
    raise TypeError(
        f"the model adapter must be callable as model(prompt) or have .invoke(prompt); "
        f"got {type(model).__name__}"
    )


def _as_text(result: Any) -> str:
    try:
        return message_text(result)
    except TypeError:
        raise TypeError(
            f"the model adapter returned {type(result).__name__}; expected a str or a message "
            "with a str .content"
        ) from None


def gate(ctx: StepContext, state: dict[str, Any]) -> StepResult:
    """Pause for a human; on resume, validate and record the decision."""
    if not ctx.resumed:
        payload = {"draft": state["draft"], "policy": state["policy"]}
        return ctx.pause(kind="human", payload=payload, expects=RESUME_SCHEMA)
    decision, notes, edited = _check_decision(ctx.resume_input)
    return {**state, "decision": decision, "notes": notes, "edited": edited}


def _check_decision(value: Any) -> tuple[str, str | None, str | None]:
    if not isinstance(value, dict):
        raise InvalidResumeInputError(
            f"hitl-gate resumes with {_RESUME_SHAPE}, got {type(value).__name__} {value!r:.80}"
        )
    unknown = value.keys() - _RESUME_KEYS
    if unknown:
        raise InvalidResumeInputError(
            f"unknown keys {sorted(map(str, unknown))} in the resume input; "
            f"allowed: {_RESUME_SHAPE}"
        )
    decision = value.get("decision")
    if decision not in DECISIONS:
        raise InvalidResumeInputError(
            f"'decision' must be one of {list(DECISIONS)}, got {decision!r:.80}"
        )
    notes = value.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise InvalidResumeInputError(f"'notes' must be a str, got {type(notes).__name__}")
    edited = value.get("edited")
    if decision == "edit":
        if not isinstance(edited, str) or not edited:
            raise InvalidResumeInputError(
                "decision 'edit' needs 'edited': the corrected text, as a non-empty str"
            )
    elif edited is not None:
        raise InvalidResumeInputError(
            f"'edited' only goes with decision 'edit' (the decision was {decision!r})"
        )
    return decision, notes, edited


def finalize(ctx: StepContext, state: dict[str, Any]) -> StepResult:
    """The artefact: what was drafted, what was decided, and the text that stands."""
    decision = state["decision"]
    if decision == "reject":
        status, final = "rejected", None
    else:
        status = "approved"
        final = state["edited"] if decision == "edit" else state["draft"]
    return {
        "draft": state["draft"],
        "decision": decision,
        "status": status,
        "notes": state["notes"],
        "final": final,
    }


def _plugins(options: BuildOptions) -> Sequence[Plugin]:
    cache = MemoryCache() if options.clock is None else MemoryCache(clock=options.clock)
    return (
        Plugin(
            key=f"recipe.{NAME}",
            steps=(draft, gate, finalize),
            description="draft → human gate → finalize",
        ),
        Plugin(
            key=CACHE_PLUGIN_KEY,
            adapters=AdapterBundle(cache=cache),
            description="private in-process session cache; override with your own",
        ),
    )


register_recipe(NAME, _plugins, replace=True)


def hitl_gate(
    cache: Cache | None = None,
    session_ttl: float | None = None,
    *,
    model: Any | None = None,
    clock: Callable[[], float] | None = None,
    strict: bool = False,
    plugins: Sequence[Plugin] = (),
    secret_key: str | bytes | None = None,
    previous_keys: Sequence[str | bytes] = (),
    lease_ttl: float = DEFAULT_LEASE_TTL,
    result_ttl: float = DEFAULT_RESULT_TTL,
    encrypt: bool = False,
) -> Runtime:
    """A ready ``hitl-gate`` runtime: ``Workflow.recipe("hitl-gate")`` with these options.

    ``cache``: where sessions live (default: a private MemoryCache); ``session_ttl``: seconds a
    pause waits (default 24 h); ``model``: drafts from the input (a chat model -- LangChain,
    LlamaIndex, or ``ChatModel`` -- given the policy as a system instruction, or the older
    ``model(prompt) -> str`` / ``.invoke(prompt)`` duck); ``clock``: wall clock for tests;
    ``plugins``: more plugins;
    ``secret_key``/``previous_keys``/``lease_ttl``/``result_ttl``/``encrypt``: as for
    ``Workflow.build``.
    """
    workflow = Workflow.recipe(NAME)
    if cache is not None:
        workflow = workflow.use(
            Plugin(key=CACHE_PLUGIN_KEY, mode="override", adapters=AdapterBundle(cache=cache))
        )
    if model is not None:
        workflow = workflow.use(Plugin(key="adapter.model", adapters=AdapterBundle(model=model)))
    return workflow.use(*plugins).build(
        session_ttl=session_ttl,
        clock=clock,
        strict=strict,
        secret_key=secret_key,
        previous_keys=previous_keys,
        lease_ttl=lease_ttl,
        result_ttl=result_ttl,
        encrypt=encrypt,
    )
