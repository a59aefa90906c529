"""The web inbox over HTTP (no browser): sign-in, pages, forms, CSRF, escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.server.support import ADA, Server, serve

pytestmark = pytest.mark.slow

HOSTILE = '<script>alert("x")</script> "><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("inbox")) as running:
        yield running


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


@contextmanager
def signed_in(server: Server, key: str = ADA) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        form = browser.get("/login")
        assert form.status_code == 200
        done = browser.post(
            "/login",
            data={"key": key, "csrf": csrf_of(form.text), "next": "/"},
            follow_redirects=True,
        )
        assert done.status_code == 200 and "Ada Lovelace" in done.text
        yield browser


def pause(server: Server, recipe: str, value: object) -> str:
    with server.client() as api:
        response = api.post("/runs", json={"recipe": recipe, "input": value})
        assert response.status_code == 201, response.text
        return str(response.json()["token"])


def test_the_inbox_needs_a_sign_in(server: Server) -> None:
    anonymous = httpx.get(server.url + "/")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    with httpx.Client(base_url=server.url) as browser:
        form = browser.get("/login")
        wrong = browser.post("/login", data={"key": "nope", "csrf": csrf_of(form.text)})
        assert wrong.status_code == 401 and "Unknown API key" in wrong.text
        assert browser.get("/").status_code == 303


def test_stored_values_are_escaped_and_answered_by_form(server: Server) -> None:
    token = pause(server, "hitl-gate", HOSTILE)
    with signed_in(server) as browser:
        listing = browser.get("/")
        assert token in listing.text
        assert "<script>" not in listing.text and "&lt;script&gt;" in listing.text
        page = browser.get(f"/inbox/{token}")
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script" not in csp
        answer = browser.post(
            f"/inbox/{token}",
            data={"csrf": csrf_of(page.text), "decision": "approve", "notes": "", "edited": "x"},
            headers={"origin": server.url},
        )
        assert answer.status_code == 303
        outcome = browser.get(answer.headers["location"])
        assert "Decided" in outcome.text and "Ada Lovelace" in outcome.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in outcome.text
    with server.client() as api:
        audit = api.get(f"/sessions/{token}").json()["audit"]
        assert audit["by"] == "Ada Lovelace" and audit["via"] == "inbox"


def test_a_cross_site_post_without_the_csrf_token_is_refused(server: Server) -> None:
    token = pause(server, "hitl-gate", "Draft")
    with signed_in(server) as browser:
        page = browser.get(f"/inbox/{token}")
        # no token (the cookie alone, as a cross-site form would send it)
        refused = browser.post(f"/inbox/{token}", data={"decision": "approve"})
        assert refused.status_code == 403 and "csrf_failed" in refused.text
        # another browser session's token
        forged = browser.post(f"/inbox/{token}", data={"decision": "approve", "csrf": "x" * 43})
        assert forged.status_code == 403
        # the right token, but posted from another site
        cross = browser.post(
            f"/inbox/{token}",
            data={"decision": "approve", "csrf": csrf_of(page.text)},
            headers={"origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        refused_cancel = browser.post(f"/inbox/{token}/cancel", data={})
        assert refused_cancel.status_code == 403
    with server.client() as api:
        assert api.get(f"/sessions/{token}").json()["status"] == "pending"  # untouched
    # without any inbox session at all
    assert (
        httpx.post(f"{server.url}/inbox/{token}", data={"decision": "approve"}).status_code == 403
    )


def test_a_form_generated_from_expects(server: Server) -> None:
    token = pause(server, "tweet", "Launch <b>day</b>")
    with signed_in(server) as browser:
        page = browser.get(f"/inbox/{token}")
        assert 'name="f.approved"' in page.text and 'name="f.priority"' in page.text
        assert 'type="number"' in page.text  # retries: an integer
        csrf = csrf_of(page.text)
        bad = browser.post(
            f"/inbox/{token}", data={"csrf": csrf, "f.approved": "true", "f.retries": "-3"}
        )
        assert bad.status_code == 422 and "error" in bad.text
        done = browser.post(
            f"/inbox/{token}",
            data={"csrf": csrf, "f.approved": "true", "f.text": "Go", "f.priority": '"high"'},
        )
        assert done.status_code == 303
        outcome = browser.get(f"/inbox/{token}").text
        assert "published" in outcome and "Ada Lovelace" in outcome


def test_cancel_from_the_inbox(server: Server) -> None:
    token = pause(server, "hitl-gate", "Draft")
    with signed_in(server) as browser:
        page = browser.get(f"/inbox/{token}")
        done = browser.post(f"/inbox/{token}/cancel", data={"csrf": csrf_of(page.text)})
        assert done.status_code == 303
        assert "Cancelled by" in browser.get(f"/inbox/{token}").text
        gone = browser.get("/inbox/not-a-token")
        assert gone.status_code == 400 and "text/html" in gone.headers["content-type"]
