"""The inbox in a real browser: Playwright driving Debian's Chromium (launched by path; no
browser is ever downloaded).  Skipped only when Chromium is absent outside CI."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.support import ADA, ROOT, Server, serve

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("LLM_CORE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
HOSTILE = 'Launch <script>alert("pwned")</script> "><img src=x onerror=alert(1)> today'
# The README's screenshot: rewritten only when asked (LLM_CORE_SCREENSHOT=1), so a test run
# leaves the checkout clean; otherwise it goes to a temporary file (still taken, still checked).
SCREENSHOT = (
    ROOT / "docs" / "inbox.png"
    if os.environ.get("LLM_CORE_SCREENSHOT")
    else Path(tempfile.gettempdir()) / f"llm-core-inbox-{os.getpid()}.png"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must install Chromium ({CHROMIUM} is missing; see .ci/run)")
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("browser")) as running:
        yield running


def test_a_hostile_draft_is_shown_as_text_and_approved_by_clicking(
    browser: Any, server: Server
) -> None:
    with server.client() as api:
        token = api.post("/runs", json={"recipe": "hitl-gate", "input": HOSTILE}).json()["token"]
        for text in ("Refund 40 EUR to order #1182", "Release notes for 2.4: faster resumes"):
            api.post("/runs", json={"recipe": "hitl-gate", "input": text})
    page = browser.new_page(viewport={"width": 1100, "height": 640})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(server.url + "/")
    assert "/login" in page.url
    page.fill("#key", ADA)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    assert page.locator("header").inner_text().count("Ada Lovelace") == 1

    row = page.locator("tr", has_text="Launch")
    assert row.count() == 1
    assert '<script>alert("pwned")</script>' in row.inner_text()  # the text, literally
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    row.locator("a").first.click()
    page.wait_for_url(f"**/inbox/{token}")
    shown = page.locator(".payload .text").first.inner_text()
    assert shown == HOSTILE  # shown as text, nothing interpreted
    assert page.locator("img").count() == 0 and page.locator("main script").count() == 0

    page.click("button.approve")
    page.wait_for_url(f"**/inbox/{token}")
    outcome = page.locator(".outcome")
    assert "Decided" in outcome.inner_text()
    assert page.locator(".reviewer").inner_text() == "Ada Lovelace"
    assert HOSTILE in outcome.inner_text()  # the artefact: draft and final text
    assert dialogs == [] and errors == []  # no script ran
    page.close()
