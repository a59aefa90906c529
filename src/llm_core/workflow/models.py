"""The chat-model protocol a step sees in ``ctx.adapters.model``: messages in, one message out.

::

    reply = ctx.adapters.model.invoke(messages, tools=tools)        # or: await ...ainvoke(...)
    reply.content, reply.tool_calls   # an AIMessage-like: text (or content blocks), tool calls

``messages`` are LangChain messages (``SystemMessage``, ``HumanMessage``, ``AIMessage`` with
``tool_calls``, ``ToolMessage``): the conversation a paused state can hold (docs/state.md).
``tools`` are the tool objects the workflow was given (LangChain tools, LlamaIndex tools or
OpenAI-style tool dicts); the model may answer with calls to them, it never runs them.

Any object with these two methods satisfies :class:`ChatModel` structurally.  The adapters in
:mod:`llm_core.bridges.models` wrap a LangChain ``BaseChatModel`` (``bind_tools``) and a
LlamaIndex ``LLM`` (``chat``/``achat``, ``chat_with_tools``); ``as_chat_model`` picks one.
A class of your own opts in by subclassing :class:`ChatModel` (recipes then know it takes
messages, not the older ``model(prompt)`` duck).

This module imports no framework: the types below describe shapes, not classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypedDict, runtime_checkable

__all__ = ["ChatModel", "ChatReply", "ToolCall", "is_chat_model", "message_text"]


class ToolCall(TypedDict):
    """One tool call in a reply, as LangChain's ``AIMessage.tool_calls`` holds it."""

    name: str
    args: dict[str, Any]
    id: str | None


@runtime_checkable
class ChatReply(Protocol):
    """An ``AIMessage``-like reply: ``content`` (a str or content blocks) and ``tool_calls``."""

    @property
    def content(self) -> Any: ...

    @property
    def tool_calls(self) -> Sequence[Mapping[str, Any]]: ...


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: the conversation so far in, the model's next message out (sync and async).

    ``tools`` (default none) are offered to the model for this call; calls it wants to make
    come back in the reply's ``tool_calls`` (``{"name", "args", "id"}`` each).
    """

    def invoke(self, messages: Sequence[Any], *, tools: Sequence[Any] = ()) -> ChatReply: ...

    async def ainvoke(self, messages: Sequence[Any], *, tools: Sequence[Any] = ()) -> ChatReply: ...


def is_chat_model(model: object) -> bool:
    """True for an object that declared itself a :class:`ChatModel` (by subclassing it) or is
    one of the bridge adapters; ``False`` for other objects, even those with an ``invoke``
    (a LangChain model not yet wrapped, the ``model(prompt)`` duck)."""
    cls = type(model)
    if ChatModel in cls.__mro__:
        return True
    return bool(getattr(cls, "llm_core_chat_model", False))


def message_text(message: object) -> str:
    """The text of a message (or a str): its ``content`` if a str, else its text blocks joined.

    Raises ``TypeError`` for anything without text content.
    """
    if isinstance(message, str):
        return message
    content = getattr(message, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type") == "text":
                text = block.get("text")
                if isinstance(text, str):
                    parts.append(text)
        return "".join(parts)
    raise TypeError(
        f"expected a str or a message with str (or content-block) .content, got "
        f"{type(message).__name__}"
    )
