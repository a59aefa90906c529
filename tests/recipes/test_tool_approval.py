"""The tool-approval recipe with LangChain's fake chat model emitting real tool calls and real
``@tool`` tools: approve, edit, reject; nothing made before a pause is repeated; resumed from
another process (SQLite)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from llm_core import Error, Ok, Paused, SQLiteCache, Workflow, recipes
from llm_core.recipes.tool_approval import PAUSE_KIND

ROOT = Path(__file__).resolve().parents[2]
EXECUTED: list[tuple[str, dict[str, Any]]] = []


class ToolCallingFake(FakeMessagesListChatModel):
    """LangChain's fake chat model, replying with scripted AIMessages (real ``tool_calls``);
    it counts its calls, keeps what it was sent, and binds tools as a provider model would."""

    calls: int = 0
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    bound: list[str] = Field(default_factory=list)
    fail_on: int | None = None

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        specs = [convert_to_openai_tool(t) for t in tools]
        self.bound = [s["function"]["name"] for s in specs]
        return self.bind(tools=specs, **kwargs)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.seen = [*self.seen, list(messages)]
        if self.fail_on == self.calls:
            raise RuntimeError("the model is down")
        return super()._generate(messages, *args, **kwargs)


@tool
def lookup(name: str) -> str:
    """Look up a contact's email address."""
    EXECUTED.append(("lookup", {"name": name}))
    return f"{name.lower()}@example.com"


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    EXECUTED.append(("send_email", {"to": to, "body": body}))
    return f"sent to {to}"


def call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


LOOKUP = AIMessage("", tool_calls=[call("lookup", {"name": "Ada"}, "c1")])
SEND = AIMessage(
    "I will send it.",
    tool_calls=[call("send_email", {"to": "ada@example.com", "body": "Hi"}, "c2")],
)
DONE = AIMessage("Done: the email is sent.")


def fake(*responses: BaseMessage, fail_on: int | None = None) -> ToolCallingFake:
    return ToolCallingFake(responses=list(responses), fail_on=fail_on)


@pytest.fixture(autouse=True)
def _clear() -> None:
    EXECUTED.clear()


def runtime(model: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("require_approval", ["send_email"])
    return recipes.tool_approval(model=model, tools=[lookup, send_email], **kwargs)


def paused_at_send(model: ToolCallingFake, **kwargs: Any) -> tuple[Any, Paused]:
    rt = runtime(model, **kwargs)
    outcome = rt.run("Email Ada: Hi")
    assert isinstance(outcome, Paused), outcome
    assert outcome.pause_kind == PAUSE_KIND
    assert model.calls == 2 and EXECUTED == [("lookup", {"name": "Ada"})]
    return rt, outcome


def test_the_pause_shows_the_call_and_what_it_accepts() -> None:
    model = fake(LOOKUP, SEND, DONE)
    rt, paused = paused_at_send(model)
    assert model.bound == ["lookup", "send_email"]
    assert paused.payload == {
        "tool": "send_email",
        "arguments": {"to": "ada@example.com", "body": "Hi"},
        "tool_call_id": "c2",
        "description": "Send an email.",
        "message": {
            "content": "I will send it.",
            "tool_calls": [
                {"name": "send_email", "args": {"to": "ada@example.com", "body": "Hi"}, "id": "c2"}
            ],
        },
    }
    info = rt.session_store.info(paused.token)
    assert info is not None and info.snapshot is not None
    schema = info.snapshot.expects
    assert schema["properties"]["decision"]["enum"] == ["approve", "edit", "reject"]
    assert set(schema["properties"]["arguments"]["properties"]) == {"to", "body"}
    assert schema["properties"]["arguments"]["required"] == ["to", "body"]


def test_approve_runs_the_tool_once_and_repeats_nothing() -> None:
    model = fake(LOOKUP, SEND, DONE)
    rt, paused = paused_at_send(model)
    outcome = rt.resume(paused.token, {"decision": "approve"})
    assert isinstance(outcome, Ok), outcome
    assert model.calls == 3  # two before the pause, one after: none repeated
    assert EXECUTED == [
        ("lookup", {"name": "Ada"}),
        ("send_email", {"to": "ada@example.com", "body": "Hi"}),
    ]
    artefact = outcome.artefact
    assert artefact["answer"] == "Done: the email is sent."
    assert artefact["model_calls"] == 3
    assert artefact["decisions"] == [
        {
            "tool": "send_email",
            "tool_call_id": "c2",
            "decision": "approve",
            "arguments": {"to": "ada@example.com", "body": "Hi"},
        }
    ]
    kinds = [type(m).__name__ for m in artefact["messages"]]
    assert kinds == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    last_sent = model.seen[-1]
    assert isinstance(last_sent[-1], ToolMessage)
    assert last_sent[-1].content == "sent to ada@example.com"
    assert last_sent[-1].tool_call_id == "c2"
    again = rt.resume(paused.token, {"decision": "approve"})
    assert isinstance(again, Error) and again.kind == "session_already_resumed"
    assert len(EXECUTED) == 2


def test_edit_runs_the_tool_with_the_edited_arguments() -> None:
    model = fake(LOOKUP, SEND, DONE)
    rt, paused = paused_at_send(model)
    edited = {"to": "bob@example.com", "body": "Hello Bob"}
    outcome = rt.resume(paused.token, {"decision": "edit", "arguments": edited})
    assert isinstance(outcome, Ok), outcome
    assert EXECUTED[1:] == [("send_email", edited)]
    assert model.calls == 3
    messages = outcome.artefact["messages"]
    assert messages[3].tool_calls[0]["args"] == edited  # the call now says what ran
    assert messages[4].content == "sent to bob@example.com"
    decision = outcome.artefact["decisions"][0]
    assert decision["original_arguments"] == {"to": "ada@example.com", "body": "Hi"}
    assert decision["arguments"] == edited


def test_reject_feeds_the_reason_back_and_the_model_answers_without_the_tool() -> None:
    model = fake(LOOKUP, SEND, AIMessage("Understood, I did not send it."))
    rt, paused = paused_at_send(model)
    outcome = rt.resume(paused.token, {"decision": "reject", "reason": "not on a Friday"})
    assert isinstance(outcome, Ok), outcome
    assert [name for name, _ in EXECUTED] == ["lookup"]  # send_email never ran
    assert model.calls == 3
    told = model.seen[-1][-1]
    assert isinstance(told, ToolMessage) and told.status == "error"
    assert "not on a Friday" in told.content and told.tool_call_id == "c2"
    assert outcome.artefact["answer"] == "Understood, I did not send it."


@pytest.mark.parametrize(
    "bad",
    [
        {"decision": "maybe"},
        {"decision": "reject"},
        {"decision": "approve", "arguments": {"to": "x", "body": "y"}},
        {"decision": "edit"},
        {"decision": "edit", "arguments": {"to": 5, "body": "y"}},
        {"decision": "edit", "arguments": {"to": "x"}},
        "approve",
    ],
)
def test_bad_decisions_leave_the_session_resumable(bad: Any) -> None:
    model = fake(LOOKUP, SEND, DONE)
    rt, paused = paused_at_send(model)
    outcome = rt.resume(paused.token, bad)
    assert isinstance(outcome, Error) and outcome.kind == "invalid_resume_input", outcome
    assert model.calls == 2 and len(EXECUTED) == 1
    assert isinstance(rt.resume(paused.token, {"decision": "approve"}), Ok)
    assert len(EXECUTED) == 2


def test_a_retried_resume_does_not_run_the_approved_tool_again() -> None:
    """The model fails after the approved tool ran: the claim is released; the retry reuses the
    tool's recorded result (same idempotency key) instead of sending the email twice."""
    model = fake(LOOKUP, SEND, DONE, fail_on=3)
    rt, paused = paused_at_send(model)
    failed = rt.resume(paused.token, {"decision": "approve"})
    assert isinstance(failed, Error) and failed.kind == "step_failed" and failed.resumable
    assert [name for name, _ in EXECUTED] == ["lookup", "send_email"]
    outcome = rt.resume(paused.token, {"decision": "approve"})
    assert isinstance(outcome, Ok), outcome
    assert [name for name, _ in EXECUTED] == ["lookup", "send_email"]  # not sent twice
    assert outcome.artefact["messages"][4].content == "sent to ada@example.com"
    assert model.calls == 4  # 2 before the pause, the failed one, the retry


def test_two_approvals_in_one_run_and_tools_that_need_none() -> None:
    second = AIMessage("", tool_calls=[call("send_email", {"to": "b@x", "body": "2"}, "c3")])
    model = fake(LOOKUP, SEND, second, DONE)
    rt, paused = paused_at_send(model)
    again = rt.resume(paused.token, {"decision": "approve"})
    assert isinstance(again, Paused) and again.token != paused.token
    assert again.payload["tool_call_id"] == "c3"
    outcome = rt.resume(again.token, {"decision": "reject", "reason": "one is enough"})
    assert isinstance(outcome, Ok) and model.calls == 4
    assert [name for name, _ in EXECUTED] == ["lookup", "send_email"]
    assert [d["decision"] for d in outcome.artefact["decisions"]] == ["approve", "reject"]


def test_by_default_every_tool_needs_approval_and_none_means_none() -> None:
    model = fake(LOOKUP, SEND, DONE)
    rt = recipes.tool_approval(model=model, tools=[lookup, send_email])
    first = rt.run("Email Ada: Hi")
    assert isinstance(first, Paused) and first.payload["tool"] == "lookup" and not EXECUTED
    model = fake(LOOKUP, SEND, DONE)
    free = recipes.tool_approval(model=model, tools=[lookup, send_email], require_approval=())
    outcome = free.run({"input": "Email Ada: Hi", "system": "Be brief."})
    assert isinstance(outcome, Ok) and len(EXECUTED) == 2 and model.calls == 3
    assert type(model.seen[0][0]).__name__ == "SystemMessage"


def test_calls_without_ids_and_unknown_tools() -> None:
    odd = AIMessage("", tool_calls=[call("nope", {}, ""), call("lookup", {"name": "Al"}, "")])
    model = fake(odd, DONE)
    outcome = runtime(model).run("go")
    assert isinstance(outcome, Ok), outcome
    tool_messages = [m for m in outcome.artefact["messages"] if isinstance(m, ToolMessage)]
    assert [m.status for m in tool_messages] == ["error", "success"]
    assert "no tool named 'nope'" in tool_messages[0].content
    assert len({m.tool_call_id for m in tool_messages}) == 2


def test_async_face() -> None:
    model = fake(LOOKUP, SEND, DONE)
    rt = runtime(model)

    async def main() -> Any:
        paused = await rt.arun({"messages": [HumanMessage("Email Ada: Hi")]})
        assert isinstance(paused, Paused)
        return await rt.aresume(paused.token, {"decision": "approve"})

    outcome = asyncio.run(main())
    assert isinstance(outcome, Ok) and model.calls == 3 and len(EXECUTED) == 2


def test_configuration_errors() -> None:
    from llm_core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="unknown tools"):
        recipes.tool_approval(model=fake(DONE), tools=[lookup], require_approval=["send_email"])
    with pytest.raises(ConfigurationError, match="not a chat model"):
        recipes.tool_approval(model=object(), tools=[lookup])
    missing = Workflow.recipe("tool-approval").build().run("hi")
    assert isinstance(missing, Error) and missing.kind == "missing_requirement"
    bad_input = runtime(fake(DONE)).run({"input": "x", "other": 1})
    assert isinstance(bad_input, Error) and bad_input.kind == "invalid_input"
    looping = runtime(fake(LOOKUP), max_model_calls=3).run("go")
    assert isinstance(looping, Error) and "max_model_calls" in looping.message


# --- another process (SQLite) ------------------------------------------------------------


def pause_here(url: str) -> None:
    """Run in a child process: pause, print the token and what ran."""
    model = fake(LOOKUP, SEND)
    rt = runtime(model, cache=SQLiteCache(url))
    paused = rt.run("Email Ada: Hi")
    assert isinstance(paused, Paused), paused
    print(json.dumps({"token": paused.token, "calls": model.calls, "executed": EXECUTED}))


def resume_here(url: str, token: str, decision: str) -> None:
    """Run in a child process: resume, print what ran here."""
    model = fake(DONE)
    rt = runtime(model, cache=SQLiteCache(url))
    outcome = rt.resume(token, json.loads(decision))
    assert isinstance(outcome, Ok), outcome
    answer = outcome.artefact["answer"]
    messages = [type(m).__name__ for m in outcome.artefact["messages"]]
    print(
        json.dumps(
            {"calls": model.calls, "executed": EXECUTED, "answer": answer, "messages": messages}
        )
    )


def child(code: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("decision", "sent"),
    [
        ({"decision": "approve"}, [["send_email", {"to": "ada@example.com", "body": "Hi"}]]),
        (
            {"decision": "edit", "arguments": {"to": "bob@example.com", "body": "Yo"}},
            [["send_email", {"to": "bob@example.com", "body": "Yo"}]],
        ),
        ({"decision": "reject", "reason": "no"}, []),
    ],
)
def test_paused_in_one_process_resumed_in_another(
    tmp_path: Path, decision: dict[str, Any], sent: list[Any]
) -> None:
    path = str(tmp_path / "sessions.db")
    module = "tests.recipes.test_tool_approval"
    first = child(f"from {module} import pause_here; pause_here({path!r})")
    assert first["calls"] == 2 and first["executed"] == [["lookup", {"name": "Ada"}]]
    second = child(
        f"from {module} import resume_here; "
        f"resume_here({path!r}, {first['token']!r}, {json.dumps(decision)!r})"
    )
    assert second["calls"] == 1  # the two model calls before the pause were not repeated
    assert second["executed"] == sent  # nor was lookup
    assert second["answer"] == "Done: the email is sent."
    assert second["messages"] == [
        "HumanMessage", "AIMessage", "ToolMessage", "AIMessage", "ToolMessage", "AIMessage",
    ]  # fmt: skip
