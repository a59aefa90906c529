"""The ``tool-approval`` recipe: the model proposes tool calls; a human approves, edits or rejects
the ones that need it; the loop ends with the model's answer (docs/recipes.md).

* **prepare**: the input (a str, ``{"input", "system"?}`` or ``{"messages": [...]}``) becomes
  the conversation.
* **agent**: calls the model (``ctx.adapters.model``) with the tools (``ctx.adapters.tools``),
  runs the calls that need no approval, pauses (kind ``"tool_call"``) at the first that does
  -- payload ``{"tool", "arguments", "tool_call_id", "description", "message"}``, ``expects``
  approve / edit with ``arguments`` / reject with a ``reason`` -- and on resume runs it,
  runs it with the new arguments, or tells the model why not.  Artefact: ``{"messages",
  "answer", "decisions", "model_calls"}``.

**Progress survives the pause**: the step keeps the conversation in the state the snapshot
stores, so a resume repeats no model call or tool run made before the pause; a tool run by a
resumed step is recorded under ``ctx.idempotency_key`` so a retried resume reuses its result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from llm_core.bridges.models import acall_tool, as_chat_model, tool_name, tool_parameters
from llm_core.cache import Cache, MemoryCache
from llm_core.errors import (
    ConfigurationError,
    InvalidInputError,
    InvalidResumeInputError,
    MissingDependencyError,
    WorkflowError,
)
from llm_core.sessions import schema_errors, to_schema
from llm_core.workflow import (
    DEFAULT_LEASE_TTL,
    DEFAULT_RESULT_TTL,
    DEFAULT_SESSION_TTL,
    AdapterBundle,
    BuildOptions,
    Plugin,
    Runtime,
    Step,
    StepContext,
    Workflow,
    register_recipe,
)
from llm_core.workflow.models import message_text
from llm_core.workflow.steps import StepResult

__all__ = [
    "DECISIONS",
    "NAME",
    "PAUSE_KIND",
    "decision_schema",
    "tool_approval",
    "tool_approval_workflow",
]

NAME = "tool-approval"
PAUSE_KIND = "tool_call"
CACHE_PLUGIN_KEY = "adapter.cache"
DECISIONS = ("approve", "edit", "reject")
DEFAULT_MAX_MODEL_CALLS = 25
_MARKER = "llm-core:tool-approval:"


def _lc() -> Any:
    try:
        import langchain_core.messages as messages
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError(
            "the tool-approval recipe", "langchain", "langchain-core"
        ) from exc
    return messages


def decision_schema(arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the pause accepts; ``arguments`` is the tool's argument schema (for ``edit``)."""
    args: dict[str, Any] = {"type": "object"}
    if arguments is not None:
        with contextlib.suppress(ConfigurationError):  # unusable for the checker: any object
            args = to_schema(dict(arguments)) or args
    return {
        "title": "Tool call decision",
        "type": "object",
        "properties": {
            "decision": {"enum": list(DECISIONS), "description": "run, change or refuse the call"},
            "arguments": {**args, "description": "the arguments to run it with (only with edit)"},
            "reason": {
                "type": ["string", "null"],
                "description": "why (required with reject: the model is told)",
            },
        },
        "required": ["decision"],
        "additionalProperties": False,
    }


def prepare(ctx: StepContext, state: dict[str, Any]) -> StepResult:
    """The conversation to start from."""
    lc = _lc()
    unknown = state.keys() - {"input", "system", "messages"}
    if unknown:
        raise InvalidInputError(
            f"tool-approval input has unknown keys {sorted(unknown)}; give a str, "
            "{'input': str, 'system'?: str} or {'messages': [LangChain messages]}"
        )
    if "messages" in state:
        messages = state["messages"]
        if (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, lc.BaseMessage) for m in messages)
        ):
            raise InvalidInputError("'messages' must be a non-empty list of LangChain messages")
        conversation = list(messages)
    else:
        text, system = state.get("input"), state.get("system")
        if type(text) is not str or not text:
            raise InvalidInputError(
                f"tool-approval input must be a non-empty str, got {text!r:.80}"
            )
        if system is not None and type(system) is not str:
            raise InvalidInputError("'system' must be a str")
        conversation = [lc.SystemMessage(system)] if system else []
        conversation.append(lc.HumanMessage(text))
    return {"messages": conversation, "decisions": [], "model_calls": 0}


def _open_calls(lc: Any, messages: list[Any]) -> tuple[int, list[dict[str, Any]]]:
    """The last AI message's index and its tool calls no ToolMessage answers yet."""
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], lc.AIMessage):
            answered = {m.tool_call_id for m in messages[i + 1 :] if isinstance(m, lc.ToolMessage)}
            return i, [c for c in messages[i].tool_calls if c.get("id") not in answered]
    return -1, []


def _with_ids(reply: Any, position: int) -> Any:
    """The reply, with an id for every tool call (ToolMessages answer calls by id)."""
    calls = list(getattr(reply, "tool_calls", None) or ())
    seen: set[str] = set()
    fixed = []
    for j, call in enumerate(calls):
        call_id = call.get("id")
        if not call_id or call_id in seen:
            call = {**call, "id": f"call_{position}_{j}"}
        seen.add(call["id"])
        fixed.append(call)
    if fixed == calls:
        return reply
    return reply.model_copy(update={"tool_calls": fixed})


def _payload(message: Any, call: Mapping[str, Any], tools: Mapping[str, Any]) -> dict[str, Any]:
    tool = tools.get(call["name"])
    description = getattr(tool, "description", None) or getattr(
        getattr(tool, "metadata", None), "description", None
    )
    return {
        "tool": call["name"],
        "arguments": call["args"],
        "tool_call_id": call["id"],
        "description": description if isinstance(description, str) else None,
        "message": {
            "content": message_text(message),
            "tool_calls": [
                {"name": c["name"], "args": c["args"], "id": c["id"]} for c in message.tool_calls
            ],
        },
    }


def _check(value: Any, tool: Any) -> tuple[str, dict[str, Any] | None, str | None]:
    if not isinstance(value, dict) or value.get("decision") not in DECISIONS:
        raise InvalidResumeInputError(
            "tool-approval resumes with {'decision': 'approve'} | {'decision': 'edit', "
            f"'arguments': {{...}}}} | {{'decision': 'reject', 'reason': str}}; got {value!r:.80}"
        )
    decision, arguments, reason = value["decision"], value.get("arguments"), value.get("reason")
    if decision == "edit":
        if not isinstance(arguments, dict):
            raise InvalidResumeInputError("decision 'edit' needs 'arguments': an object")
        if tool is not None:
            errors = schema_errors(
                decision_schema(tool_parameters(tool))["properties"]["arguments"], arguments
            )
            if errors:
                raise InvalidResumeInputError(f"the edited arguments do not fit the tool: {errors}")
    elif arguments is not None:
        raise InvalidResumeInputError(f"'arguments' only goes with 'edit' (got {decision!r})")
    if decision == "reject" and (not isinstance(reason, str) or not reason.strip()):
        raise InvalidResumeInputError("decision 'reject' needs a 'reason' (the model is told)")
    return decision, arguments, reason


class _Agent:
    """The ``agent`` step, for one approval policy (``None``: every tool needs approval)."""

    def __init__(self, approval: frozenset[str] | None, max_model_calls: int, ttl: float) -> None:
        self.approval = approval
        self.max_model_calls = max_model_calls
        self.ttl = ttl
        self.__name__ = "agent"

    def needs_approval(self, name: str) -> bool:
        return self.approval is None or name in self.approval

    async def __call__(self, ctx: StepContext, state: dict[str, Any]) -> StepResult:
        lc = _lc()
        if ctx.adapters.model is None:
            raise ConfigurationError("tool-approval needs a chat model (model=...)")
        model = as_chat_model(ctx.adapters.model)
        tools = dict(ctx.adapters.tools)
        # Progress (the conversation, the model calls) goes into the state the pause stores.
        messages: list[Any] = state["messages"]
        if ctx.resumed:
            await self._settle(ctx, lc, state, tools)
        while True:
            at, calls = _open_calls(lc, messages)
            for call in calls:
                if self.needs_approval(call["name"]) and call["name"] in tools:
                    payload = _payload(messages[at], call, tools)
                    expects = decision_schema(tool_parameters(tools[call["name"]]))
                    return ctx.pause(PAUSE_KIND, payload, expects, state=state)
                content, status = await self._run(ctx, tools, call, call["args"])
                messages.append(_tool_message(lc, call, content, status))
            if at == len(messages) - 1:  # an AI message asking for nothing: the answer
                return {
                    "messages": messages,
                    "answer": message_text(messages[at]),
                    "decisions": state["decisions"],
                    "model_calls": state["model_calls"],
                }
            if state["model_calls"] >= self.max_model_calls:
                raise WorkflowError(
                    f"tool-approval: the model was called {self.max_model_calls} times without "
                    "an answer (max_model_calls)"
                )
            reply = await model.ainvoke(messages, tools=list(tools.values()))
            state["model_calls"] += 1
            messages.append(_with_ids(reply, len(messages)))

    async def _settle(
        self, ctx: StepContext, lc: Any, state: dict[str, Any], tools: Mapping[str, Any]
    ) -> None:
        """Apply the human's decision to the call the run paused at."""
        messages = state["messages"]
        at, calls = _open_calls(lc, messages)
        # calls run in order, so the one the run paused at is the first still open
        if not calls or not self.needs_approval(calls[0]["name"]) or calls[0]["name"] not in tools:
            raise WorkflowError("tool-approval resumed with no tool call awaiting a decision")
        call = calls[0]
        decision, arguments, reason = _check(ctx.resume_input, tools.get(call["name"]))
        record: dict[str, Any] = {"tool": call["name"], "tool_call_id": call["id"]}
        record["decision"] = decision
        if decision == "reject":
            content = f"The user rejected this call to {call['name']}: {reason}"
            messages.append(_tool_message(lc, call, content, "error"))
            record["reason"] = reason
        else:
            args = call["args"]
            if decision == "edit" and arguments is not None:
                record["original_arguments"] = args
                args = arguments
                edited = [
                    {**c, "args": args} if c["id"] == call["id"] else c
                    for c in messages[at].tool_calls
                ]
                messages[at] = messages[at].model_copy(update={"tool_calls": edited})
                call = {**call, "args": args}
            record["arguments"] = args
            content, status = await self._run(ctx, tools, call, args)
            messages.append(_tool_message(lc, call, content, status))
        state["decisions"].append(record)

    async def _run(
        self, ctx: StepContext, tools: Mapping[str, Any], call: Mapping[str, Any], args: Any
    ) -> tuple[str, str]:
        """Run one call (at most once per resumed session: see the module docstring)."""
        tool = tools.get(call["name"])
        if tool is None:
            return f"there is no tool named {call['name']!r}; tools: {sorted(tools)}", "error"
        cache = ctx.adapters.cache if ctx.resumed else None
        key = ""
        if cache is not None:
            digest = hashlib.sha256(str(call["id"]).encode("utf-8", "surrogatepass")).hexdigest()
            key = f"{_MARKER}{ctx.idempotency_key}:{digest[:32]}"
            done = await cache.aget(key)
            if done is not None:
                recorded = json.loads(done)
                return str(recorded["content"]), str(recorded["status"])
        try:
            content, status = await acall_tool(tool, args), "success"
        except Exception as exc:  # the model is told, as LangChain's ToolNode does
            content, status = f"Error: {type(exc).__name__}: {exc}", "error"
        if cache is not None:
            data = json.dumps({"content": content, "status": status}).encode()
            await cache.aset(key, data, self.ttl)
        return content, status


def _tool_message(lc: Any, call: Mapping[str, Any], content: str, status: str) -> Any:
    return lc.ToolMessage(content, tool_call_id=call["id"], name=call["name"], status=status)


def _agent_step(approval: Collection[str] | None, max_model_calls: int, ttl: float) -> Step:
    policy = None if approval is None else frozenset(approval)
    return Step("agent", _Agent(policy, max_model_calls, ttl))


def _plugins(options: BuildOptions) -> Sequence[Plugin]:
    cache = MemoryCache() if options.clock is None else MemoryCache(clock=options.clock)
    return (
        Plugin(
            key=f"recipe.{NAME}",
            steps=(prepare, _agent_step(None, DEFAULT_MAX_MODEL_CALLS, options.session_ttl)),
            requires=("model", "tools"),
            description="model ⇄ tools, with a human deciding the calls that need approval",
        ),
        Plugin(
            key=CACHE_PLUGIN_KEY,
            adapters=AdapterBundle(cache=cache),
            description="private in-process session cache; override with your own",
        ),
    )


register_recipe(NAME, _plugins, replace=True)


def tool_approval_workflow(
    tools: Sequence[Any],
    require_approval: Collection[str] | None = None,
    model: Any | None = None,
    *,
    max_model_calls: int = DEFAULT_MAX_MODEL_CALLS,
    session_ttl: float | None = None,
) -> Workflow:
    """The ``tool-approval`` ``Workflow`` with these tools and this approval policy, not built:
    for ``--app`` (the CLI and the server give it their cache, key and ``--model``).  ``model``
    may be left out when ``--model`` gives one; the arguments are as for :func:`tool_approval`.
    """
    by_name: dict[str, Any] = {}
    for tool in tools:
        name = tool_name(tool)
        if name in by_name:
            raise ConfigurationError(f"two tools are named {name!r}")
        by_name[name] = tool
    if isinstance(require_approval, str):
        raise ConfigurationError("require_approval takes tool names, e.g. ['send_email']")
    unknown = sorted(set(require_approval or ()) - by_name.keys())
    if unknown:
        raise ConfigurationError(f"require_approval names unknown tools {unknown}")
    if type(max_model_calls) is not int or max_model_calls < 1:
        raise ConfigurationError("max_model_calls must be an int >= 1")
    ttl = DEFAULT_SESSION_TTL if session_ttl is None else session_ttl
    chat = None if model is None else as_chat_model(model)
    return Workflow.recipe(NAME).use(
        Plugin(key="adapter.model", adapters=AdapterBundle(model=chat, tools=by_name)),
        Plugin(
            key=f"{NAME}.policy",
            steps=(_agent_step(require_approval, max_model_calls, ttl),),
            description="which tools need approval",
        ),
    )


def tool_approval(
    model: Any,
    tools: Sequence[Any],
    require_approval: Collection[str] | None = None,
    cache: Cache | None = None,
    session_ttl: float | None = None,
    *,
    max_model_calls: int = DEFAULT_MAX_MODEL_CALLS,
    clock: Callable[[], float] | None = None,
    strict: bool = False,
    plugins: Sequence[Plugin] = (),
    secret_key: str | bytes | None = None,
    previous_keys: Sequence[str | bytes] = (),
    lease_ttl: float = DEFAULT_LEASE_TTL,
    result_ttl: float = DEFAULT_RESULT_TTL,
    encrypt: bool = False,
    state_types: Sequence[type] = (),
) -> Runtime:
    """A ready ``tool-approval`` runtime.

    ``model``: a LangChain ``BaseChatModel``, a LlamaIndex ``LLM`` or a chat model of your own;
    ``tools``: LangChain tools, LlamaIndex tools or plain functions; ``require_approval``: the
    names of the tools a human must approve (default: all of them; ``()``: none);
    ``max_model_calls``: model calls per run before it fails.  The rest as for ``hitl_gate`` /
    ``Workflow.build``.
    """
    as_chat_model(model)  # a model that is not one fails here, before the tools are looked at
    workflow = tool_approval_workflow(
        tools, require_approval, model, max_model_calls=max_model_calls, session_ttl=session_ttl
    )
    if cache is not None:
        workflow = workflow.use(
            Plugin(key=CACHE_PLUGIN_KEY, mode="override", adapters=AdapterBundle(cache=cache))
        )
    return workflow.use(*plugins).build(
        session_ttl=session_ttl,
        clock=clock,
        strict=strict,
        secret_key=secret_key,
        previous_keys=previous_keys,
        lease_ttl=lease_ttl,
        result_ttl=result_ttl,
        encrypt=encrypt,
        state_types=state_types,
    )
