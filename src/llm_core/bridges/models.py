"""Chat-model adapters: a LangChain ``BaseChatModel`` or a LlamaIndex ``LLM`` as the chat-model
protocol of ``llm_core.workflow.models`` (which this layer does not import: the adapters fit it
structurally).

* ``invoke(messages, tools=())`` / ``ainvoke``: LangChain messages in, one ``AIMessage`` out,
  with ``tool_calls`` (``{"name", "args", "id"}``) when the model asks for tools.
* :class:`LangChainChatModel` binds the tools with the model's own ``bind_tools``.
* :class:`LlamaIndexChatModel` converts the messages to LlamaIndex ``ChatMessage``s, calls
  ``chat``/``achat`` -- or, with tools, ``chat_with_tools``/``achat_with_tools`` of a
  ``FunctionCallingLLM`` and reads the calls back with ``get_tool_calls_from_response`` -- and
  converts the reply to an ``AIMessage``.
* :func:`as_chat_model` picks the adapter for a model (an adapter is returned as is).
* :func:`tool_name`, :func:`tool_parameters`, :func:`acall_tool`: the recipes' view of a tool
  (a LangChain tool, a LlamaIndex tool, a plain function, or an OpenAI-style dict to describe).

Both adapters need ``langchain-core`` (the conversation is LangChain messages); the LlamaIndex
one needs ``llama-index-core`` too.  Nothing is imported before a model of that kind is used.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from llm_core.errors import ConfigurationError, MissingDependencyError

__all__ = [
    "LangChainChatModel",
    "LlamaIndexChatModel",
    "acall_tool",
    "as_chat_model",
    "tool_name",
    "tool_parameters",
    "wrap_chat_model",
]


def _langchain() -> Any:
    try:
        import langchain_core.messages as messages
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError("chat-model adapters", "langchain", "langchain-core") from exc
    return messages


def _loaded_class(module: str, name: str) -> type | None:
    """``module.name`` if ``module`` is already imported (a model of that kind exists only then)."""
    loaded = sys.modules.get(module)
    found = getattr(loaded, name, None) if loaded is not None else None
    return found if isinstance(found, type) else None


class LangChainChatModel:
    """A LangChain ``BaseChatModel`` as a chat model (tools bound with ``bind_tools``)."""

    llm_core_chat_model = True
    __slots__ = ("_bound", "model")

    def __init__(self, model: Any) -> None:
        self.model = model
        self._bound: dict[tuple[int, ...], Any] = {}

    def _runnable(self, tools: Sequence[Any]) -> Any:
        if not tools:
            return self.model
        key = tuple(id(t) for t in tools)
        bound = self._bound.get(key)
        if bound is None:
            try:
                bound = self.model.bind_tools([_for_langchain(t) for t in tools])
            except NotImplementedError:
                raise ConfigurationError(
                    f"{type(self.model).__name__} does not implement bind_tools: it cannot "
                    "be offered tools"
                ) from None
            if len(self._bound) < 64:
                self._bound[key] = bound
        return bound

    def invoke(self, messages: Sequence[Any], *, tools: Sequence[Any] = ()) -> Any:
        return _reply(self._runnable(tools).invoke(list(messages)))

    async def ainvoke(self, messages: Sequence[Any], *, tools: Sequence[Any] = ()) -> Any:
        return _reply(await self._runnable(tools).ainvoke(list(messages)))

    def __repr__(self) -> str:
        return f"LangChainChatModel({type(self.model).__name__})"


def _reply(result: Any) -> Any:
    lc = _langchain()
    if isinstance(result, lc.AIMessage):
        return result
    if isinstance(result, lc.BaseMessage):  # e.g. a chunk type of another class
        return lc.AIMessage(content=result.content, tool_calls=getattr(result, "tool_calls", []))
    if isinstance(result, str):
        return lc.AIMessage(content=result)
    raise TypeError(f"the chat model returned {type(result).__name__}, not a message")


def _for_langchain(tool: Any) -> Any:
    """LangChain's ``bind_tools`` takes its tools, functions and dicts; a LlamaIndex tool is
    described by its OpenAI-style dict."""
    metadata = getattr(tool, "metadata", None)
    if metadata is not None and callable(getattr(metadata, "to_openai_tool", None)):
        return metadata.to_openai_tool()
    return tool


class LlamaIndexChatModel:
    """A LlamaIndex ``LLM`` as a chat model: ``chat``/``achat``; with tools, a
    ``FunctionCallingLLM``'s ``chat_with_tools``/``achat_with_tools``."""

    llm_core_chat_model = True
    __slots__ = ("llm",)

    def __init__(self, llm: Any) -> None:
        self.llm = llm

    def _check_tools(self, tools: Sequence[Any]) -> list[Any]:
        if not callable(getattr(self.llm, "chat_with_tools", None)):
            raise ConfigurationError(
                f"the LlamaIndex LLM {type(self.llm).__name__} is not a FunctionCallingLLM: it "
                "cannot be offered tools"
            )
        return [_for_llamaindex(t) for t in tools]

    def invoke(self, messages: Sequence[Any], *, tools: Sequence[Any] = ()) -> Any:
        history = _to_llamaindex(messages)
        if not tools:
            return self._reply(self.llm.chat(history), ())
        llama_tools = self._check_tools(tools)
        response = self.llm.chat_with_tools(
            llama_tools, chat_history=history, allow_parallel_tool_calls=True
        )
        return self._reply(response, llama_tools)

    async def ainvoke(self, messages: Sequence[Any], *, tools: Sequence[Any] = ()) -> Any:
        history = _to_llamaindex(messages)
        if not tools:
            return self._reply(await self.llm.achat(history), ())
        llama_tools = self._check_tools(tools)
        response = await self.llm.achat_with_tools(
            llama_tools, chat_history=history, allow_parallel_tool_calls=True
        )
        return self._reply(response, llama_tools)

    def _reply(self, response: Any, tools: Sequence[Any]) -> Any:
        lc = _langchain()
        message = response.message
        content = message.content or ""
        calls: list[dict[str, Any]] = []
        if tools:
            for selection in self.llm.get_tool_calls_from_response(
                response, error_on_no_tool_call=False
            ):
                calls.append(_selection(selection))
        return lc.AIMessage(content=content, tool_calls=calls)

    def __repr__(self) -> str:
        return f"LlamaIndexChatModel({type(self.llm).__name__})"


def _selection(selection: Any) -> dict[str, Any]:
    """A LlamaIndex ``ToolSelection`` (or its dict form) as a LangChain tool call."""
    fields: Mapping[str, Any] = (
        selection
        if isinstance(selection, Mapping)
        else {k: getattr(selection, k, None) for k in ("tool_id", "tool_name", "tool_kwargs")}
    )
    get = fields.get
    args = get("tool_kwargs")
    if isinstance(args, str):
        args = json.loads(args or "{}")
    return {
        "name": str(get("tool_name")),
        "args": dict(args or {}),
        "id": get("tool_id") or None,
        "type": "tool_call",
    }


def _to_llamaindex(messages: Sequence[Any]) -> list[Any]:
    from llama_index.core.base.llms import types

    lc = _langchain()
    tool_call_block = getattr(types, "ToolCallBlock", None)
    out: list[Any] = []
    for message in messages:
        text = message.content if isinstance(message.content, str) else _text(message.content)
        if isinstance(message, lc.SystemMessage):
            out.append(types.ChatMessage(role=types.MessageRole.SYSTEM, content=text))
        elif isinstance(message, lc.HumanMessage):
            out.append(types.ChatMessage(role=types.MessageRole.USER, content=text))
        elif isinstance(message, lc.AIMessage):
            calls = list(message.tool_calls)
            if calls and tool_call_block is not None:
                blocks: list[Any] = [types.TextBlock(text=text)] if text else []
                blocks += [
                    tool_call_block(
                        tool_call_id=c.get("id"), tool_name=c["name"], tool_kwargs=c["args"]
                    )
                    for c in calls
                ]
                out.append(types.ChatMessage(role=types.MessageRole.ASSISTANT, blocks=blocks))
            else:
                extra = {"tool_calls": [_openai_call(c) for c in calls]} if calls else {}
                out.append(
                    types.ChatMessage(
                        role=types.MessageRole.ASSISTANT, content=text, additional_kwargs=extra
                    )
                )
        elif isinstance(message, lc.ToolMessage):
            out.append(
                types.ChatMessage(
                    role=types.MessageRole.TOOL,
                    content=text,
                    additional_kwargs={"tool_call_id": message.tool_call_id, "name": message.name},
                )
            )
        else:
            raise TypeError(f"no LlamaIndex role for a {type(message).__name__}")
    return out


def _openai_call(call: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": call.get("id"),
        "type": "function",
        "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
    }


def _text(content: Any) -> str:
    parts = []
    for block in content or ():
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def _for_llamaindex(tool: Any) -> Any:
    """A LlamaIndex tool as is; anything else as a LlamaIndex tool that only describes it (the
    model is offered it; llm-core runs it)."""
    from llama_index.core.tools.types import BaseTool, ToolMetadata

    if isinstance(tool, BaseTool):
        return tool
    spec = _openai_function(tool)
    parameters = spec.get("parameters") or {"type": "object", "properties": {}}

    class _Metadata(ToolMetadata):
        def get_parameters_dict(self) -> dict[str, Any]:
            return dict(parameters)

    metadata = _Metadata(description=spec.get("description") or spec["name"], name=spec["name"])
    metadata.fn_schema = None

    class _Described(BaseTool):
        @property
        def metadata(self) -> Any:
            return metadata

        def __call__(self, input: Any) -> Any:
            raise RuntimeError("llm-core runs this tool itself, not LlamaIndex")

    return _Described()


def _openai_function(tool: Any) -> dict[str, Any]:
    if isinstance(tool, Mapping) and "function" in tool:
        return dict(tool["function"])
    from langchain_core.utils.function_calling import convert_to_openai_tool

    return dict(convert_to_openai_tool(tool)["function"])


def tool_name(tool: Any) -> str:
    """The name a model calls ``tool`` by."""
    metadata = getattr(tool, "metadata", None)
    if metadata is not None and callable(getattr(metadata, "get_name", None)):
        return str(metadata.get_name())  # a LlamaIndex tool
    if isinstance(tool, Mapping) and "function" in tool:
        return str(tool["function"]["name"])
    name = getattr(tool, "name", None) or getattr(tool, "__name__", None)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"cannot tell the name of tool {tool!r}")
    return name


def tool_parameters(tool: Any) -> dict[str, Any]:
    """The JSON Schema of ``tool``'s arguments (an object schema)."""
    metadata = getattr(tool, "metadata", None)
    if metadata is not None and callable(getattr(metadata, "get_parameters_dict", None)):
        return dict(metadata.get_parameters_dict())
    parameters = _openai_function(tool).get("parameters")
    return dict(parameters) if isinstance(parameters, Mapping) else {"type": "object"}


async def acall_tool(tool: Any, args: Mapping[str, Any]) -> str:
    """Run ``tool`` with ``args``; its result as text for a ``ToolMessage``."""
    if callable(getattr(tool, "ainvoke", None)):  # a LangChain tool
        result = await tool.ainvoke(dict(args))
    elif callable(getattr(tool, "acall", None)):  # a LlamaIndex tool
        output = await tool.acall(**args)
        result = getattr(output, "content", output)
    elif callable(tool) and not isinstance(tool, Mapping):
        result = tool(**args)
        if inspect.isawaitable(result):
            result = await result
    else:
        raise ConfigurationError(f"tool {tool_name(tool)!r} cannot be run (it only describes)")
    content = getattr(result, "content", None)  # a ToolMessage from a LangChain tool
    if isinstance(content, str):
        return content
    if isinstance(result, str):
        return result
    return json.dumps(result, default=str, ensure_ascii=False)


def wrap_chat_model(model: Any) -> Any | None:
    """The adapter for ``model`` if it is a LangChain ``BaseChatModel`` or a LlamaIndex ``LLM``
    (an adapter comes back as is); ``None`` for anything else."""
    if getattr(type(model), "llm_core_chat_model", False):
        return model
    base = _loaded_class("langchain_core.language_models.chat_models", "BaseChatModel")
    if base is not None and isinstance(model, base):
        return LangChainChatModel(model)
    llm = _loaded_class("llama_index.core.llms.llm", "LLM")
    if llm is not None and isinstance(model, llm):
        return LlamaIndexChatModel(model)
    return None


def as_chat_model(model: Any) -> Any:
    """``model`` as a chat model: an adapter for a LangChain or LlamaIndex model, or the model
    itself if it already has ``invoke(messages, tools=...)`` and ``ainvoke``."""
    wrapped = wrap_chat_model(model)
    if wrapped is not None:
        return wrapped
    if callable(getattr(model, "invoke", None)) and callable(getattr(model, "ainvoke", None)):
        return model
    raise ConfigurationError(
        f"{type(model).__name__} is not a chat model: give a LangChain BaseChatModel, a "
        "LlamaIndex LLM, or an object with invoke(messages, tools=...) and ainvoke"
    )
