"""``--app package.module:attr``: the CLI runs and resumes a user's own workflow, across
processes; ``sessions show``; the ``next:`` hint names what another shell needs."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.server.sample_app:workflow"


def llm_core(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    full.pop("LLM_CORE_CACHE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "llm_core", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full,
        timeout=60,
        check=False,
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sessions.db'}"


def test_a_custom_workflow_resumes_from_another_process(url: str) -> None:
    ran = llm_core("--cache", url, "--app", APP, "run", "tweet", "Launch day!")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("paused (review)")
    token = ran.stdout.split("token: ")[1].split()[0]
    hint = next(line for line in ran.stdout.splitlines() if line.startswith("next: "))
    argv = shlex.split(hint.removeprefix("next: "))
    assert argv[:3] == ["llm-core", "resume", token]
    assert "--app" in argv and argv[argv.index("--app") + 1] == APP
    assert "--cache" in argv and argv[argv.index("--cache") + 1] == url
    assert json.loads(argv[argv.index("--input-json") + 1]) == {"approved": True}

    # without --app, the other process cannot know the recipe: it says so, and touches nothing
    lost = llm_core("--cache", url, "resume", token, "--input-json", '{"approved": true}')
    assert lost.returncode == 2
    assert "'tweet'" in lost.stderr and "--app" in lost.stderr

    shown = llm_core("--cache", url, "--app", APP, "sessions", "show", token, "--json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert (doc["status"], doc["recipe"], doc["pause_kind"]) == ("pending", "tweet", "review")
    assert doc["payload"] == {"draft": "Launch day!"}
    assert doc["expects"]["required"] == ["approved"]
    assert 0 < doc["seconds_left"] <= 24 * 3600

    # the hint, run as printed (the console script is this interpreter's -m llm_core)
    at = argv.index("--input-json")
    argv[at + 1] = '{"approved": true, "text": "Go!"}'
    done = llm_core(*argv[1:], "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["artefact"] == {"published": True, "text": "Go!"}
    again = llm_core("--cache", url, "--app", APP, "resume", token, "--input-json", "{}")
    assert again.returncode == 10  # already resumed


def test_the_schema_refuses_bad_input_and_the_token_stays(url: str) -> None:
    ran = llm_core("--cache", url, "--app", APP, "run", "tweet", "x", "--json")
    token = json.loads(ran.stdout)["token"]
    bad = llm_core("--cache", url, "--app", APP, "resume", token, "--input-json", '{"no": 1}')
    assert bad.returncode == 6
    listed = llm_core("--cache", url, "--app", APP, "sessions", "list", "--json")
    assert [s["token"] for s in json.loads(listed.stdout)["sessions"]] == [token]
    shown = llm_core("--cache", url, "--app", APP, "sessions", "show", token)
    assert "status:    pending" in shown.stdout and '"draft": "x"' in shown.stdout
    assert "expects:" in shown.stdout and "time" not in shown.stderr


def test_a_factory_of_prebuilt_runtimes_keeps_their_own_cache(tmp_path: Path) -> None:
    env = {
        "SAMPLE_CACHE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "SAMPLE_SECRET_KEY": "k" * 32,
        "LLM_CORE_APP": "tests.server.sample_app:runtimes",
    }
    other = f"sqlite:///{tmp_path / 'cli.db'}"
    ran = llm_core("--cache", other, "run", "tweet", "hi", "--json", env=env)
    assert ran.returncode == 0, ran.stderr
    token = json.loads(ran.stdout)["token"]
    listed = llm_core("--cache", other, "sessions", "list", "--json", env=env)
    assert [s["token"] for s in json.loads(listed.stdout)["sessions"]] == [token]
    done = llm_core(
        "--cache", other, "resume", token, "--input-json", '{"approved": false}', env=env
    )
    assert done.returncode == 0, done.stderr
    assert '"published": false' in done.stdout
    ttl = llm_core("--cache", other, "run", "tweet", "hi", "--session-ttl", "5", env=env)
    assert ttl.returncode == 2 and "fixed" in ttl.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nocolon", "expected 'package.module:attr'"),
        ("tests.server.nowhere:x", "cannot import"),
        ("tests.server.sample_app:missing", "has no attribute"),
        ("tests.server.sample_app:not_a_workflow", "expected a Runtime"),
    ],
)
def test_a_bad_app_is_a_usage_error(url: str, spec: str, message: str) -> None:
    bad = llm_core("--cache", url, "--app", spec, "sessions", "list")
    assert bad.returncode == 2 and message in bad.stderr


def test_sessions_show_tells_unknown_and_malformed_apart(url: str) -> None:
    ran = llm_core("--cache", url, "run", "hitl-gate", "x", "--json")
    token = json.loads(ran.stdout)["token"]
    assert llm_core("--cache", url, "sessions", "show", "nonsense").returncode == 5
    unknown = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert llm_core("--cache", url, "sessions", "show", unknown).returncode == 3
    llm_core("--cache", url, "resume", token, "--decision", "approve", "--request-id", "r1")
    shown = llm_core("--cache", url, "sessions", "show", token, "--json")
    doc = json.loads(shown.stdout)
    assert doc["status"] == "completed" and doc["outcome"]["artefact"]["status"] == "approved"
