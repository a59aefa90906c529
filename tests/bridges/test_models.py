"""Chat-model adapters (llm_core.bridges.models) for LangChain and LlamaIndex models, the protocol
they fit (llm_core.workflow.models), and hitl-gate drafting through it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from llama_index.core.llms.mock import MockLLM

from llm_core import Ok, Paused, recipes
from llm_core.bridges.models import (
    LangChainChatModel,
    LlamaIndexChatModel,
    acall_tool,
    as_chat_model,
    tool_name,
    tool_parameters,
)
from llm_core.errors import ConfigurationError
from llm_core.workflow.models import ChatModel, ChatReply, is_chat_model, message_text
from tests.recipes.test_tool_approval import ToolCallingFake


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


CALL = {"name": "add", "args": {"a": 1, "b": 2}, "id": "t1", "type": "tool_call"}


def test_as_chat_model_picks_the_adapter() -> None:
    lc = ToolCallingFake(responses=[AIMessage("hi")])
    wrapped = as_chat_model(lc)
    assert isinstance(wrapped, LangChainChatModel) and wrapped.model is lc
    assert as_chat_model(wrapped) is wrapped
    assert isinstance(as_chat_model(MockLLM()), LlamaIndexChatModel)
    assert isinstance(wrapped, ChatModel)  # structurally
    assert is_chat_model(wrapped) and not is_chat_model(lc) and not is_chat_model(print)
    with pytest.raises(ConfigurationError, match="not a chat model"):
        as_chat_model(lambda prompt: prompt)


def test_langchain_adapter_binds_tools_and_returns_tool_calls() -> None:
    lc = ToolCallingFake(responses=[AIMessage("", tool_calls=[CALL]), AIMessage("3")])
    model = as_chat_model(lc)
    reply = model.invoke([HumanMessage("1+2?")], tools=[add])
    assert isinstance(reply, AIMessage) and isinstance(reply, ChatReply)
    assert lc.bound == ["add"]
    assert [(c["name"], c["args"], c["id"]) for c in reply.tool_calls] == [
        ("add", {"a": 1, "b": 2}, "t1")
    ]
    later = asyncio.run(
        model.ainvoke([HumanMessage("1+2?"), reply, ToolMessage("3", tool_call_id="t1")])
    )
    assert message_text(later) == "3" and lc.calls == 2


def test_a_langchain_model_without_bind_tools_cannot_be_offered_tools() -> None:
    model = as_chat_model(GenericFakeChatModel(messages=iter([AIMessage("ok"), AIMessage("x")])))
    assert model.invoke([HumanMessage("hi")]).content == "ok"
    with pytest.raises(ConfigurationError, match="bind_tools"):
        model.invoke([HumanMessage("hi")], tools=[add])


def test_llamaindex_adapter_chats_on_every_release() -> None:
    model = as_chat_model(MockLLM())
    reply = model.invoke([SystemMessage("Be brief."), HumanMessage("hello there")])
    assert isinstance(reply, AIMessage) and "hello there" in message_text(reply)
    assert reply.tool_calls == []
    assert "hello there" in message_text(asyncio.run(model.ainvoke([HumanMessage("hello there")])))
    with pytest.raises(ConfigurationError, match="FunctionCallingLLM"):
        model.invoke([HumanMessage("hi")], tools=[add])


def test_llamaindex_function_calling_round_trip() -> None:
    mock = pytest.importorskip("llama_index.core.llms.mock")
    if not hasattr(mock, "MockFunctionCallingLLM"):  # pragma: no cover - old releases
        pytest.skip("this LlamaIndex has no MockFunctionCallingLLM")
    from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock

    sent: list[Any] = []

    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        sent.append((list(messages), kwargs.get("tools")))
        block = ToolCallBlock(tool_call_id="t2", tool_name="add", tool_kwargs={"a": 2, "b": 2})
        return ChatMessage(role=MessageRole.ASSISTANT, blocks=[block])

    model = as_chat_model(mock.MockFunctionCallingLLM(response_generator=respond))
    history = [
        SystemMessage("sys"),
        HumanMessage("1+2?"),
        AIMessage("adding", tool_calls=[CALL]),
        ToolMessage("3", tool_call_id="t1", name="add"),
    ]
    reply = model.invoke(history, tools=[add])
    assert reply.tool_calls == [
        {"name": "add", "args": {"a": 2, "b": 2}, "id": "t2", "type": "tool_call"}
    ]
    messages, tools = sent[0]
    assert [m.role for m in messages] == [
        MessageRole.SYSTEM, MessageRole.USER, MessageRole.ASSISTANT, MessageRole.TOOL,
    ]  # fmt: skip
    calls = [b for b in messages[2].blocks if isinstance(b, ToolCallBlock)]
    assert (calls[0].tool_call_id, calls[0].tool_name, calls[0].tool_kwargs) == (
        "t1", "add", {"a": 1, "b": 2},
    )  # fmt: skip
    assert messages[2].content == "adding"
    assert messages[3].additional_kwargs == {"tool_call_id": "t1", "name": "add"}
    assert tools[0].metadata.name == "add"
    params = tools[0].metadata.get_parameters_dict()
    assert set(params["properties"]) == {"a", "b"}
    assert asyncio.run(model.ainvoke(history, tools=[add])).tool_calls[0]["id"] == "t2"


def test_tool_helpers() -> None:
    from llama_index.core.tools import FunctionTool

    def mul(a: int, b: int) -> int:
        """Multiply."""
        return a * b

    llama = FunctionTool.from_defaults(fn=mul, name="mul")
    assert [tool_name(t) for t in (add, llama, mul)] == ["add", "mul", "mul"]
    for t in (add, llama, mul):
        assert set(tool_parameters(t)["properties"]) == {"a", "b"}
    assert asyncio.run(acall_tool(add, {"a": 2, "b": 3})) == "5"
    assert asyncio.run(acall_tool(llama, {"a": 2, "b": 3})) == "6"
    assert asyncio.run(acall_tool(mul, {"a": 2, "b": 5})) == "10"


# --- hitl-gate drafts through the protocol ------------------------------------------------


def test_hitl_gate_drafts_with_a_chat_model_and_the_policy_as_system_instruction() -> None:
    lc = ToolCallingFake(responses=[AIMessage("Dear Ada, ...")])
    rt = recipes.hitl_gate(model=lc)
    paused = rt.run({"input": "Write to Ada", "policy": {"tone": "formal"}})
    assert isinstance(paused, Paused), paused
    assert paused.payload["draft"] == "Dear Ada, ..."
    system, human = lc.seen[0]
    assert isinstance(system, SystemMessage) and '{"tone": "formal"}' in system.content
    assert isinstance(human, HumanMessage) and human.content == "Write to Ada"
    done = rt.resume(paused.token, {"decision": "approve"})
    assert isinstance(done, Ok) and done.artefact["final"] == "Dear Ada, ..."


def test_hitl_gate_with_a_model_of_ones_own_and_with_llamaindex() -> None:
    class Mine(ChatModel):
        def __init__(self) -> None:
            self.got: list[Any] = []

        def invoke(self, messages: Sequence[Any], *, tools: Sequence[Any] = ()) -> Any:
            raise AssertionError("the recipe uses ainvoke")

        async def ainvoke(self, messages: Sequence[Any], *, tools: Sequence[Any] = ()) -> Any:
            self.got.append(messages)
            return AIMessage([{"type": "text", "text": "drafted"}])

    mine = Mine()
    paused = recipes.hitl_gate(model=mine).run({"input": "x", "policy": "be kind"})
    assert isinstance(paused, Paused) and paused.payload["draft"] == "drafted"
    assert "be kind" in mine.got[0][0].content
    by_llama = recipes.hitl_gate(model=MockLLM()).run("hello")
    assert isinstance(by_llama, Paused) and "hello" in by_llama.payload["draft"]


def test_hitl_gate_keeps_the_prompt_duck_for_other_invoke_objects() -> None:
    # has invoke and ainvoke, but is neither a framework model nor a declared ChatModel: it is
    # the older duck and gets the prompt (a str), as before
    class Duck:
        def __init__(self) -> None:
            self.prompts: list[Any] = []

        def invoke(self, prompt: Any) -> str:
            self.prompts.append(prompt)
            return "from the duck"

        async def ainvoke(self, prompt: Any) -> str:
            raise AssertionError("the duck is called with invoke(prompt)")

    duck = Duck()
    assert not is_chat_model(duck)
    paused = recipes.hitl_gate(model=duck).run("hi")
    assert isinstance(paused, Paused) and paused.payload["draft"] == "from the duck"
    assert duck.prompts == ["hi"]
