"""The inbox's form for a tool call (tool-approval's pause), rendered by the FastAPI app in this
process: the tool, its arguments (escaped), the model's message, and approve / edit the
arguments / reject with a reason as the recipe's ``expects`` says.  The model is LangChain's
fake chat model emitting a real tool call, the tools are real ``@tool`` tools, and both reach
the app through ``load_apps(..., model=...)``, the code path of ``llm-core serve --model``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from llm_core import MemoryCache
from llm_core.server import load_apps
from llm_core.server._app import ServerConfig, create_app
from llm_core.server._forms import answer_of, is_gate, tool_call_view
from llm_core.server._service import Problem

APP = "tests.server.tool_app:workflow"
MODEL = "tests.server.tool_app:model"
HOSTILE = 'Hi <script>alert("x")</script> "><img src=x onerror=alert(1)>'


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "tools.jsonl"
    monkeypatch.setenv("TOOL_LOG", str(path))
    return path


@pytest.fixture
def client() -> Iterator[TestClient]:
    apps = load_apps(APP, MemoryCache(), None, model=MODEL)
    with TestClient(create_app(ServerConfig(apps=apps))) as test_client:
        yield test_client


def runs(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def pause(client: TestClient, text: str) -> str:
    response = client.post("/runs", json={"recipe": "tool-approval", "input": text})
    assert response.status_code == 201, response.text
    assert response.json()["pause_kind"] == "tool_call"
    return str(response.json()["token"])


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_the_form_shows_the_call_with_its_arguments_escaped(client: TestClient) -> None:
    token = pause(client, HOSTILE)
    page = client.get(f"/inbox/{token}")
    assert page.status_code == 200
    html = page.text
    assert '<code class="tool-name">send_email</code>' in html
    assert '<p class="tool-description">Send an email.</p>' in html
    assert '<div class="text model-message">I will email Ada.</div>' in html
    # the proposed arguments, shown and pre-filled in their fields, escaped
    assert "<script>" not in html and "<img src=x" not in html
    escaped = "Hi &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &#34;&gt;&lt;img src=x"
    assert f'name="a.body" type="text" value="{escaped}' in html
    assert 'name="a.to" type="text" value="ada@example.com"' in html
    assert '<textarea id="reason" name="reason"' in html
    for decision in ("approve", "edit", "reject"):  # the recipe's expects: decision enum
        assert f'name="decision" value="{decision}"' in html
    assert 'name="notes"' not in html and 'name="edited"' not in html  # not hitl-gate's form
    listing = client.get("/").text
    assert "send_email {&#34;to&#34;: &#34;ada@example.com&#34;" in listing  # the preview


def test_edit_runs_the_tool_once_with_the_edited_arguments(client: TestClient, log: Path) -> None:
    token = pause(client, "Tell Ada the release moves")
    csrf = csrf_of(client.get(f"/inbox/{token}").text)
    form = {"csrf": csrf, "decision": "edit", "a.to": "bob@example.com", "a.body": "Monday <b>"}
    answered = client.post(f"/inbox/{token}", data=form, follow_redirects=False)
    assert answered.status_code == 303
    assert runs(log) == [
        {"tool": "send_email", "args": {"to": "bob@example.com", "body": "Monday <b>"}}
    ]
    session = client.get(f"/sessions/{token}").json()
    assert session["status"] == "completed"
    artefact = session["outcome"]["artefact"]
    assert artefact["answer"] == "Done (success): sent to bob@example.com"
    (decision,) = artefact["decisions"]
    assert decision["decision"] == "edit"
    assert decision["arguments"] == {"to": "bob@example.com", "body": "Monday <b>"}
    assert decision["original_arguments"]["to"] == "ada@example.com"
    page = client.get(f"/inbox/{token}").text  # the outcome: the conversation, escaped
    assert '<ol class="conversation">' in page and "Monday &lt;b&gt;" in page
    assert "<b>" not in page.split("<main>")[1]


def test_reject_needs_a_reason_and_tells_the_model(client: TestClient, log: Path) -> None:
    token = pause(client, "Email Ada")
    csrf = csrf_of(client.get(f"/inbox/{token}").text)
    refused = client.post(f"/inbox/{token}", data={"csrf": csrf, "decision": "reject"})
    assert refused.status_code == 422 and "say why you reject the call" in refused.text
    assert client.get(f"/sessions/{token}").json()["status"] == "pending"  # untouched
    form = {"csrf": csrf, "decision": "reject", "reason": "not before <the> announcement"}
    assert client.post(f"/inbox/{token}", data=form, follow_redirects=False).status_code == 303
    assert runs(log) == []  # the tool never ran
    artefact = client.get(f"/sessions/{token}").json()["outcome"]["artefact"]
    assert artefact["decisions"][0]["reason"] == "not before <the> announcement"
    assert artefact["answer"] == (
        "Done (error): The user rejected this call to send_email: not before <the> announcement"
    )


def test_approve_runs_the_call_as_proposed(client: TestClient, log: Path) -> None:
    token = pause(client, HOSTILE)
    csrf = csrf_of(client.get(f"/inbox/{token}").text)
    # fields edited but Approve clicked: the call runs as the model proposed it
    form = {"csrf": csrf, "decision": "approve", "a.to": "eve@example.com", "a.body": "x"}
    assert client.post(f"/inbox/{token}", data=form, follow_redirects=False).status_code == 303
    assert runs(log) == [{"tool": "send_email", "args": {"to": "ada@example.com", "body": HOSTILE}}]


def test_arguments_the_schema_cannot_describe_are_edited_as_json() -> None:
    expects = {
        "type": "object",
        "properties": {
            "decision": {"enum": ["approve", "edit", "reject"]},
            "arguments": {"type": "object", "properties": {"when": {"type": "string"}}},
            "reason": {"type": ["string", "null"]},
        },
    }
    payload = {"tool": "meet", "arguments": {"when": "Monday", "who": ["ada"]}, "message": None}
    session = {"payload": payload, "expects": expects}
    view = tool_call_view(payload, expects)
    assert view is not None and view["fields"] == [] and not is_gate(expects)
    assert json.loads(view["arguments_json"]) == payload["arguments"]
    answer = answer_of(session, {"decision": "edit", "arguments": '{"when": "Tuesday"}'})
    assert answer == {"decision": "edit", "arguments": {"when": "Tuesday"}}
    with pytest.raises(Problem, match="not valid JSON"):
        answer_of(session, {"decision": "edit", "arguments": "{nope"})
    with pytest.raises(Problem, match="choose Approve"):
        answer_of(session, {"decision": "maybe"})
    # typed fields when the schema describes every argument: numbers, booleans, lists
    expects["properties"]["arguments"] = {
        "type": "object",
        "properties": {
            "when": {"type": "string"},
            "seats": {"type": "integer"},
            "remote": {"type": "boolean"},
            "who": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["when"],
    }
    payload["arguments"] = {"when": "Monday", "seats": 3, "remote": True, "who": ["ada"]}
    view = tool_call_view(payload, expects)
    assert view is not None
    widgets = {f["name"]: (f["widget"], f["value"]) for f in view["fields"]}
    assert widgets == {
        "when": ("text", "Monday"),
        "seats": ("number", "3"),
        "remote": ("select", "true"),
        "who": ("json", '[\n  "ada"\n]'),
    }
    form = {"decision": "edit", "a.when": "Friday", "a.seats": "4", "a.remote": "false"}
    answer = answer_of(session, {**form, "a.who": '["ada", "bob"]'})
    assert answer["arguments"] == {
        "when": "Friday",
        "seats": 4,
        "remote": False,
        "who": ["ada", "bob"],
    }
