"""The HTTP API, against a real uvicorn server in a subprocess (httpx over loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llm_core import SessionStore, cache_from_url
from tests.server.support import ADA, BOB, ROOT, SECRET, Server, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("api")) as running:
        yield running


def paused(client: httpx.Client, recipe: str = "hitl-gate", value: object = "Draft") -> dict:
    response = client.post("/runs", json={"recipe": recipe, "input": value})
    assert response.status_code == 201, response.text
    return response.json()


def is_problem(response: httpx.Response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["kind"] == kind
    assert {"type", "title", "detail"} <= body.keys()
    assert "Traceback" not in response.text
    return body


def test_run_paused_list_show_resume_outcome(server: Server) -> None:
    with server.client() as api:
        run = paused(api, "hitl-gate", "Ship it on <Friday>")
        token = run["token"]
        assert run["status"] == "paused" and run["pause_kind"] == "human"
        assert run["payload"] == {"draft": "Ship it on <Friday>", "policy": None}
        assert run["expects"]["required"] == ["decision"]
        assert run["expires_at"] > time.time() + 3600
        assert run["links"]["resume"] == f"/sessions/{token}/resume"

        listed = api.get("/sessions").json()
        assert token in [item["token"] for item in listed["items"]]
        assert api.get("/sessions", params={"recipe": "tweet"}).json()["items"] == [] or all(
            i["recipe"] == "tweet"
            for i in api.get("/sessions", params={"recipe": "tweet"}).json()["items"]
        )

        shown = api.get(f"/sessions/{token}").json()
        assert shown["status"] == "pending" and shown["payload"]["draft"] == "Ship it on <Friday>"
        assert 0 < shown["seconds_left"] <= 24 * 3600

        done = api.post(
            f"/sessions/{token}/resume",
            json={"input": {"decision": "approve", "notes": "ok"}},
            headers={"Idempotency-Key": "req-1"},
        )
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["status"] == "ok" and body["artefact"]["final"] == "Ship it on <Friday>"
        assert body["audit"]["by"] == "Ada Lovelace" and body["audit"]["via"] == "api"

        # an idempotent retry (even by another key) returns the same outcome, not an error
        with server.client(BOB) as bob:
            again = bob.post(
                f"/sessions/{token}/resume",
                json={"input": {"decision": "reject"}},
                headers={"Idempotency-Key": "req-1"},
            )
        assert again.status_code == 200, again.text
        assert again.json()["artefact"] == body["artefact"] and again.json()["replayed"] is True
        assert again.json()["audit"]["by"] == "Ada Lovelace"

        decided = api.get(f"/sessions/{token}").json()
        assert decided["status"] == "completed"
        assert decided["outcome"]["artefact"]["status"] == "approved"
        assert decided["audit"]["by"] == "Ada Lovelace" and decided["audit"]["at"] <= time.time()
        assert token not in [i["token"] for i in api.get("/sessions").json()["items"]]


def test_a_custom_workflow_and_paging(server: Server) -> None:
    with server.client() as api:
        tokens = [paused(api, "tweet", f"t{i}")["token"] for i in range(5)]
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, "recipe": "tweet", "kind": "review"}
            page = api.get("/sessions", params={**params, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            seen += [item["token"] for item in page.json()["items"]]
            assert len(page.json()["items"]) <= 2
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert set(tokens) <= set(seen) and len(seen) == len(set(seen))
        assert [t for t in seen if t in tokens] == tokens  # soonest deadline first
        newest = api.get("/sessions", params={"recipe": "tweet", "order": "newest", "limit": 500})
        assert [i["token"] for i in newest.json()["items"] if i["token"] in tokens] == tokens[::-1]
        is_problem(api.get("/sessions", params={"order": "oldest"}), 422, "invalid_request")
        bad = api.post(f"/sessions/{tokens[0]}/resume", json={"input": {"approved": "yes"}})
        is_problem(bad, 422, "invalid_resume_input")
        assert api.get(f"/sessions/{tokens[0]}").json()["status"] == "pending"  # untouched
        ok = api.post(f"/sessions/{tokens[0]}/resume", json={"input": {"approved": True}})
        assert ok.json()["artefact"] == {"published": True, "text": "t0"}
        is_problem(api.get("/sessions", params={"cursor": "%%%"}), 422, "invalid_request")


def test_every_error_kind_maps_to_its_status(server: Server, tmp_path: Path) -> None:
    with server.client() as api:
        # 400: malformed token; malformed JSON body
        is_problem(api.get("/sessions/not-a-token"), 400, "invalid_token")
        is_problem(
            api.post("/runs", content=b"{nope", headers={"content-type": "application/json"}),
            400,
            "invalid_request",
        )
        # 404: unknown (well-formed) token; unknown recipe
        token = paused(api)["token"]
        unknown = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        is_problem(api.get(f"/sessions/{unknown}"), 404, "session_not_found")
        is_problem(
            api.post(f"/sessions/{unknown}/resume", json={"input": {}}), 404, "session_not_found"
        )
        is_problem(api.post("/runs", json={"recipe": "nope", "input": "x"}), 404, "unknown_recipe")
        # 422: invalid input to a run; invalid resume input (session untouched)
        is_problem(
            api.post("/runs", json={"recipe": "hitl-gate", "input": ""}), 422, "invalid_input"
        )
        bad = api.post(f"/sessions/{token}/resume", json={"input": {"decision": "maybe"}})
        assert is_problem(bad, 422, "invalid_resume_input")["resumable"] is True
        assert api.get(f"/sessions/{token}").json()["status"] == "pending"
        # 409: already resumed (without the same Idempotency-Key)
        assert (
            api.post(
                f"/sessions/{token}/resume", json={"input": {"decision": "approve"}}
            ).status_code
            == 200
        )
        is_problem(
            api.post(f"/sessions/{token}/resume", json={"input": {"decision": "approve"}}),
            409,
            "session_already_resumed",
        )
        # 410: cancelled; expired
        other = paused(api)["token"]
        cancelled = api.delete(f"/sessions/{other}")
        assert cancelled.status_code == 200 and cancelled.json()["audit"]["by"] == "Ada Lovelace"
        is_problem(
            api.post(f"/sessions/{other}/resume", json={"input": {"decision": "approve"}}),
            410,
            "session_cancelled",
        )
        short = api.post(
            "/runs", json={"recipe": "tweet", "input": "x", "session_ttl": 0.05}
        ).json()
        time.sleep(0.2)
        is_problem(api.get(f"/sessions/{short['token']}"), 410, "session_expired")
        is_problem(
            api.post(f"/sessions/{short['token']}/resume", json={"input": {"approved": True}}),
            410,
            "session_expired",
        )
        # 409: busy (a claim held by another resumer)
        busy = paused(api)["token"]
        _claim(server, busy)
        body = is_problem(
            api.post(f"/sessions/{busy}/resume", json={"input": {"decision": "approve"}}),
            409,
            "session_busy",
        )
        assert body["resumable"] is False or "retry_after" in body
        # 404 for a route that does not exist, as a problem too
        is_problem(api.get("/nowhere"), 404, "not_found")


def _claim(server: Server, token: str) -> None:
    """Claim ``token`` from another process-like runtime whose step blocks (a held lease)."""
    cache = cache_from_url(server.cache_url)
    store = SessionStore(cache, secret_key=SECRET)
    record = store.record(token)
    assert record is not None
    from llm_core.sessions import Claim

    claim = Claim("someone-else", time.time() + 300, None)
    claimed = store.space.claimed(record, claim)
    assert store.compare_and_set(record.key, record.raw, claimed, 3600)
    getattr(cache, "close", lambda: None)()


def test_cache_unavailable_is_503(tmp_path: Path) -> None:
    pytest.importorskip("redis")
    # a Redis URL nobody listens on: the server starts (lazy connections) and answers 503
    url = "redis://127.0.0.1:1/0?pool_timeout=1&retries=0"
    with serve(tmp_path, cache_url=url) as down, down.client() as api:
        is_problem(api.get("/sessions"), 503, "cache_unavailable")
        run = api.post("/runs", json={"recipe": "hitl-gate", "input": "x"})
        is_problem(run, 503, "cache_unavailable")


def test_auth_refused_without_or_with_a_wrong_key(server: Server) -> None:
    for key in (None, "wrong-key-0123456789abcdef"):
        with server.client(key) as api:
            for response in (
                api.get("/sessions"),
                api.post("/runs", json={"recipe": "hitl-gate", "input": "x"}),
                api.get("/sessions/1.x"),
            ):
                is_problem(response, 401, "unauthorized")
                assert response.headers["www-authenticate"].startswith("Bearer")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Basic {ADA}"}) as api:
        is_problem(api.get("/sessions"), 401, "unauthorized")
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_openapi_document(server: Server) -> None:
    doc = httpx.get(server.url + "/openapi.json").json()
    assert {"/runs", "/sessions", "/sessions/{token}", "/sessions/{token}/resume"} <= doc[
        "paths"
    ].keys()
    resume = doc["paths"]["/sessions/{token}/resume"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in resume["parameters"])
    assert "application/problem+json" in resume["responses"]["409"]["content"]
    assert "delete" in doc["paths"]["/sessions/{token}"]


def test_refuses_a_public_host_without_keys(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "llm_core", "--cache", f"sqlite:///{tmp_path / 's.db'}", "serve"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update({k: v for k, v in os.environ.items() if k == "PYTHONPATH"})
    refused = subprocess.run(
        [*argv, "--host", "0.0.0.0"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
    )
    assert refused.returncode == 2 and "without API keys" in refused.stderr


def test_without_keys_on_loopback_the_local_reviewer_answers(tmp_path: Path) -> None:
    with serve(tmp_path, keys=None) as open_server, open_server.client(None) as api:
        token = paused(api)["token"]
        done = api.post(f"/sessions/{token}/resume", json={"input": {"decision": "reject"}})
        assert done.json()["audit"]["by"] == "local"


def test_the_server_reads_sessions_paused_by_a_worker(server: Server) -> None:
    # a worker process (the CLI) pauses a run of the same app in the same cache
    ran = subprocess.run(
        [sys.executable, "-m", "llm_core", "--cache", server.cache_url, "--app",
         "tests.server.sample_app:workflow", "--secret-key-file", "/dev/stdin",
         "run", "tweet", "from a worker", "--json"],
        input=SECRET, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    token = json.loads(ran.stdout)["token"]
    with server.client() as api:
        assert api.get(f"/sessions/{token}").json()["payload"] == {"draft": "from a worker"}
        done = api.post(f"/sessions/{token}/resume", json={"input": {"approved": False}})
        assert done.json()["artefact"] == {"published": False, "text": None}
