"""A tool-approval app for the server tests, loaded the way a user would:

    llm-core serve --app tests.server.tool_app:workflow --model tests.server.tool_app:model

The model is LangChain's fake chat model emitting real tool calls: a user's message gets a
call to ``send_email`` (the message's text as the body), anything after a tool result gets the
answer.  The ``@tool`` tools append each run to the JSON-lines file ``$TOOL_LOG`` (when set),
so a test in another process can count the runs and see their arguments.
"""

from __future__ import annotations

import json
import os
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool

from llm_core import recipes


def _log(name: str, args: dict[str, Any]) -> None:
    path = os.environ.get("TOOL_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"tool": name, "args": args}) + "\n")


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    _log("send_email", {"to": to, "body": body})
    return f"sent to {to}"


@tool
def lookup(name: str) -> str:
    """Look up a contact's email address."""
    _log("lookup", {"name": name})
    return f"{name.lower()}@example.com"


class EmailingFake(FakeMessagesListChatModel):
    """LangChain's fake chat model, its next reply chosen from the conversation: a call to
    ``send_email`` after the user's message, the answer after a tool's result."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        last = messages[-1]
        if isinstance(last, HumanMessage):
            call = {
                "name": "send_email",
                "args": {"to": "ada@example.com", "body": last.content},
                "id": f"call_{len(messages)}",
                "type": "tool_call",
            }
            reply = AIMessage("I will email Ada.", tool_calls=[call])
        elif isinstance(last, ToolMessage):
            reply = AIMessage(f"Done ({last.status}): {last.content}")
        else:
            reply = AIMessage("Nothing to do.")
        self.responses = [reply]
        self.i = 0
        return super()._generate(messages, *args, **kwargs)


def model() -> EmailingFake:
    """The ``--model tests.server.tool_app:model`` factory."""
    return EmailingFake(responses=[AIMessage("unused")])


workflow = recipes.tool_approval_workflow([lookup, send_email], require_approval=["send_email"])
"""tool-approval with these tools; the model comes from ``--model``."""
