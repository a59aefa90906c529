"""A tool call answered in a real browser: ``llm-core serve --app tests.server.tool_app:workflow
--model tests.server.tool_app:model`` (uvicorn in a subprocess; the model is LangChain's fake
chat model emitting a real tool call, the tools real ``@tool`` tools that log each run to a
file), driven by Playwright on Debian's Chromium.  Edit the arguments in the form, reject with a
reason, and HTML in the arguments shown as text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server import test_browser
from tests.server.support import ADA, Server, serve

pytestmark = pytest.mark.slow
browser = test_browser.browser  # the module-scoped Chromium fixture (Debian's, by path)

HOSTILE = 'Hi <script>alert("pwned")</script> "><img src=x onerror=alert(1)>'
APP = "tests.server.tool_app:workflow"
MODEL = "tests.server.tool_app:model"


@pytest.fixture(scope="module")
def tool_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tools") / "tools.jsonl"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tool_log: Path) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("browser-tools")
    with serve(tmp, "--model", MODEL, app=APP, env={"TOOL_LOG": str(tool_log)}) as running:
        yield running


def runs(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def pause(server: Server, text: str) -> str:
    with server.client() as api:
        response = api.post("/runs", json={"recipe": "tool-approval", "input": text})
        assert response.status_code == 201, response.text
        return str(response.json()["token"])


def session(server: Server, token: str) -> dict[str, Any]:
    with server.client() as api:
        document: dict[str, Any] = api.get(f"/sessions/{token}").json()
        return document


def open_page(browser: Any, server: Server, token: str) -> tuple[Any, list[str]]:
    """A signed-in page on the session, and the list any dialog or script error lands in."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    alarms: list[str] = []
    page.on("dialog", lambda dialog: (alarms.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda exc: alarms.append(str(exc)))
    page.goto(f"{server.url}/inbox/{token}")
    page.fill("#key", ADA)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/inbox/{token}")
    return page, alarms


def test_edit_the_arguments_in_the_form(browser: Any, server: Server, tool_log: Path) -> None:
    before = len(runs(tool_log))
    token = pause(server, "Tell Ada the release moves to Monday")
    page, alarms = open_page(browser, server, token)
    assert page.locator("code.tool-name").inner_text() == "send_email"
    assert page.locator(".model-message").inner_text() == "I will email Ada."
    assert page.locator("[name='a.to']").input_value() == "ada@example.com"
    assert page.locator("[name='a.body']").input_value() == "Tell Ada the release moves to Monday"

    page.fill("[name='a.to']", "team@example.com")
    page.fill("[name='a.body']", "The release moves to Monday.")
    page.click("button[value=edit]")
    page.wait_for_url(f"**/inbox/{token}")
    outcome = page.locator(".outcome")
    assert "Decided" in outcome.inner_text()
    assert page.locator(".reviewer").inner_text() == "Ada Lovelace"
    assert "Done (success): sent to team@example.com" in outcome.inner_text()

    edited = {"to": "team@example.com", "body": "The release moves to Monday."}
    assert runs(tool_log)[before:] == [{"tool": "send_email", "args": edited}]  # once, edited
    done = session(server, token)
    assert done["status"] == "completed" and done["audit"]["via"] == "inbox"
    assert done["outcome"]["artefact"]["decisions"][0]["arguments"] == edited
    assert alarms == []
    page.close()


def test_reject_with_a_reason(browser: Any, server: Server, tool_log: Path) -> None:
    before = len(runs(tool_log))
    token = pause(server, "Email everyone the draft")
    page, alarms = open_page(browser, server, token)
    page.click("button[value=reject]")  # no reason: the form comes back and says why
    assert "say why you reject the call" in page.locator("[role=alert]").inner_text()
    assert session(server, token)["status"] == "pending"

    page.fill("#reason", "Not before the announcement.")
    page.click("button[value=reject]")
    page.wait_for_url(f"**/inbox/{token}")
    assert "Decided" in page.locator(".outcome").inner_text()
    assert runs(tool_log)[before:] == []  # the tool never ran
    artefact = session(server, token)["outcome"]["artefact"]
    assert artefact["decisions"][0] == {
        "tool": "send_email",
        "tool_call_id": artefact["decisions"][0]["tool_call_id"],
        "decision": "reject",
        "reason": "Not before the announcement.",
    }
    assert "rejected this call to send_email: Not before the announcement." in artefact["answer"]
    assert alarms == []
    page.close()


def test_html_in_the_arguments_is_shown_as_text(
    browser: Any, server: Server, tool_log: Path
) -> None:
    before = len(runs(tool_log))
    token = pause(server, HOSTILE)
    page, alarms = open_page(browser, server, token)
    assert page.locator("[name='a.body']").input_value() == HOSTILE
    assert json.loads(page.locator("pre.arguments").inner_text())["body"] == HOSTILE
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0

    page.click("button[value=approve]")
    page.wait_for_url(f"**/inbox/{token}")
    assert HOSTILE in page.locator(".outcome").inner_text()  # the conversation, as text
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert runs(tool_log)[before:] == [
        {"tool": "send_email", "args": {"to": "ada@example.com", "body": HOSTILE}}
    ]
    assert alarms == []  # no script ran, no dialog opened
    page.close()
