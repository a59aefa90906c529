"""The tool-approval recipe through the LlamaIndex adapter: LlamaIndex's ``MockFunctionCallingLLM``
emitting real tool calls (``ToolCallBlock``s), with LlamaIndex ``FunctionTool``s and with
LangChain ``@tool`` tools.  (Releases before ``MockFunctionCallingLLM`` -- the 0.9.41 floor --
have no mock that can call tools: these tests skip there; tests/bridges/test_models.py covers
plain chat on every release.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.tools import tool

from llm_core import Error, Ok, Paused, recipes

mock = pytest.importorskip("llama_index.core.llms.mock")
if not hasattr(mock, "MockFunctionCallingLLM"):  # pragma: no cover - old LlamaIndex releases
    pytest.skip("this LlamaIndex has no MockFunctionCallingLLM", allow_module_level=True)

from llama_index.core.base.llms.types import (  # noqa: E402
    ChatMessage,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.tools import FunctionTool  # noqa: E402

RAN: list[tuple[str, dict[str, Any]]] = []


def lookup_fn(name: str) -> str:
    """Look up a contact's email address."""
    RAN.append(("lookup", {"name": name}))
    return f"{name.lower()}@example.com"


def send_fn(to: str, body: str) -> str:
    """Send an email."""
    RAN.append(("send_email", {"to": to, "body": body}))
    return f"sent to {to}"


LLAMA_TOOLS = [
    FunctionTool.from_defaults(fn=lookup_fn, name="lookup"),
    FunctionTool.from_defaults(fn=send_fn, name="send_email"),
]
LC_TOOLS = [tool("lookup")(lookup_fn), tool("send_email")(send_fn)]


class Script:
    """A response generator for MockFunctionCallingLLM: scripted replies, counted calls, and
    the histories (roles) it was sent."""

    def __init__(self, *replies: ChatMessage) -> None:
        self.replies = iter(replies)
        self.calls = 0
        self.histories: list[list[ChatMessage]] = []
        self.tool_names: list[list[str]] = []

    def __call__(self, messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
        self.calls += 1
        self.histories.append(list(messages))
        self.tool_names.append([t.metadata.name for t in kwargs.get("tools") or ()])
        return next(self.replies)


def calling(name: str, args: dict[str, Any], call_id: str, text: str = "") -> ChatMessage:
    blocks: list[Any] = [ToolCallBlock(tool_call_id=call_id, tool_name=name, tool_kwargs=args)]
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks, content=text or None)


def script() -> Script:
    return Script(
        calling("lookup", {"name": "Ada"}, "c1"),
        calling("send_email", {"to": "ada@example.com", "body": "Hi"}, "c2"),
        ChatMessage(role=MessageRole.ASSISTANT, content="Done."),
    )


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


@pytest.mark.parametrize("tools", [LLAMA_TOOLS, LC_TOOLS], ids=["llamaindex-tools", "lc-tools"])
@pytest.mark.parametrize(
    ("decision", "sent"),
    [
        ({"decision": "approve"}, [("send_email", {"to": "ada@example.com", "body": "Hi"})]),
        (
            {"decision": "edit", "arguments": {"to": "bob@example.com", "body": "Yo"}},
            [("send_email", {"to": "bob@example.com", "body": "Yo"})],
        ),
        ({"decision": "reject", "reason": "no"}, []),
    ],
)
def test_approve_edit_reject_through_llamaindex(
    tools: list[Any], decision: dict[str, Any], sent: list[Any]
) -> None:
    generator = script()
    llm = mock.MockFunctionCallingLLM(response_generator=generator)
    rt = recipes.tool_approval(model=llm, tools=tools, require_approval=["send_email"])
    paused = rt.run("Email Ada: Hi")
    assert isinstance(paused, Paused), paused
    assert paused.payload["tool"] == "send_email" and paused.payload["tool_call_id"] == "c2"
    assert generator.calls == 2 and RAN == [("lookup", {"name": "Ada"})]
    assert generator.tool_names[0] == ["lookup", "send_email"]
    outcome = rt.resume(paused.token, decision)
    assert isinstance(outcome, Ok), outcome
    assert generator.calls == 3  # nothing before the pause was asked again
    assert RAN[1:] == sent
    assert outcome.artefact["answer"] == "Done."
    last = generator.histories[-1]
    assert [m.role for m in last] == [
        MessageRole.USER, MessageRole.ASSISTANT, MessageRole.TOOL,
        MessageRole.ASSISTANT, MessageRole.TOOL,
    ]  # fmt: skip
    assert last[-1].additional_kwargs["tool_call_id"] == "c2"
    if decision["decision"] == "reject":
        assert "no" in (last[-1].content or "")
    blocks = [b for b in last[3].blocks if isinstance(b, ToolCallBlock)]
    assert blocks[0].tool_name == "send_email"
    assert blocks[0].tool_kwargs == decision.get(
        "arguments", {"to": "ada@example.com", "body": "Hi"}
    )


def test_async_face_through_llamaindex() -> None:
    generator = script()
    llm = mock.MockFunctionCallingLLM(response_generator=generator)
    rt = recipes.tool_approval(model=llm, tools=LLAMA_TOOLS, require_approval=["send_email"])

    async def main() -> Any:
        paused = await rt.arun("Email Ada: Hi")
        assert isinstance(paused, Paused)
        return await rt.aresume(paused.token, {"decision": "approve"})

    outcome = asyncio.run(main())
    assert isinstance(outcome, Ok) and generator.calls == 3 and len(RAN) == 2


def test_a_llamaindex_llm_that_cannot_call_tools_is_a_step_error() -> None:
    rt = recipes.tool_approval(model=mock.MockLLM(), tools=LLAMA_TOOLS)
    outcome = rt.run("hi")
    assert isinstance(outcome, Error) and "not a FunctionCallingLLM" in outcome.message
