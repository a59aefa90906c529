"""``--model``: the chat model of ``run``, ``resume`` and ``serve``.

``provider:name`` goes through LangChain's real ``init_chat_model``: with ``openai`` the real
``ChatOpenAI`` talks to a loopback stand-in for the service (tests/openai_stub.py), so hitl-gate
drafts and tool-approval pauses and resumes, across processes, with a provider model; a
provider whose package is missing, a provider LangChain does not know, a malformed spec and a
LangChain without ``init_chat_model`` are one-line usage errors (exit 2), never a traceback.
``package.module:attr`` hands the same code path LangChain's fake chat model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_core.cli import main
from llm_core.server._model import ModelSpecError, load_model, parse_model_spec

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.server.tool_app:workflow"
FAKE = "tests.server.tool_app:model"
EMAIL = "Tell Ada the release moves to Monday"


def llm_core(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    for name in ("LLM_CORE_CACHE_URL", "LLM_CORE_APP", "LLM_CORE_MODEL"):
        full.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "llm_core", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full,
        timeout=120,
        check=False,
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sessions.db'}"


def send(text: str) -> tuple[str, dict[str, str]]:
    """What the OpenAI stand-in asks for in tool-approval: an email with the user's text."""
    return "send_email", {"to": "ada@example.com", "body": text}


@pytest.fixture
def openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dict[str, str]]]:
    """A loopback OpenAI stand-in, and the environment that points ``langchain-openai`` at it
    (set in this process too)."""
    pytest.importorskip("langchain.chat_models")
    pytest.importorskip("langchain_openai")  # the dev extra's: absent in the lower-bound jobs
    from tests.openai_stub import openai_stub

    with openai_stub(reply_to_user="The release moves to Monday.") as stub:
        env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": stub.base_url}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("OPENAI_API_BASE", raising=False)
        yield stub, env


# --- the spec ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("openai:gpt-4o-mini", ("openai", "gpt-4o-mini")),
        ("ollama:llama3.1:8b", ("ollama", "llama3.1:8b")),
        ("Azure-OpenAI:my-deployment", ("azure_openai", "my-deployment")),
        ("huggingface:meta-llama/Llama-3-8B", ("huggingface", "meta-llama/Llama-3-8B")),
    ],
)
def test_a_spec_is_provider_and_name(spec: str, parsed: tuple[str, str]) -> None:
    assert parse_model_spec(spec) == parsed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gpt-4o", "expected provider:name"),
        ("openai:", "expected provider:name"),
        (":gpt-4o", "expected provider:name"),
        ("9x:model", "is not a provider name"),
        ("open ai:gpt", "is not a provider name"),
        ("openai:gpt 4o", "spaces or control characters"),
        ("openai:gpt\x1b[2J", "spaces or control characters"),
    ],
)
def test_a_malformed_spec_is_a_usage_error(
    spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ModelSpecError) as raised:
        load_model(spec)
    assert message in str(raised.value)
    code = main(["--cache", "memory://", "run", "hitl-gate", "Hi", "--model", spec])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("llm-core: error: --model ") and message in err
    assert "Traceback" not in err and "\x1b" not in err


def test_errors_as_json_for_scripts(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--json", "--cache", "memory://", "run", "hitl-gate", "Hi", "--model", "x"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2 and doc["status"] == "error" and doc["kind"] == "usage"
    assert "provider:name" in doc["error"]["message"]


# --- LangChain's init_chat_model, for real ---------------------------------------------------


def test_a_provider_langchain_does_not_know(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("langchain.chat_models")
    code = main(["--cache", "memory://", "--model", "nosuchprovider:x", "run", "hitl-gate", "Hi"])
    err = capsys.readouterr().err
    assert code == 2
    assert "LangChain does not know the provider 'nosuchprovider'" in err
    assert "openai" in err  # LangChain's own list of the providers it knows
    assert "Traceback" not in err and err.count("\n") == 1


def test_a_provider_whose_package_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("langchain.chat_models")
    if importlib.util.find_spec("langchain_cohere") is not None:
        pytest.skip("langchain-cohere is installed here")
    code = main(["--cache", "memory://", "--model", "cohere:command-r", "run", "hitl-gate", "Hi"])
    err = capsys.readouterr().err
    assert code == 2
    assert "the package for provider 'cohere' is missing" in err and "langchain-cohere" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_without_init_chat_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # as on a machine without the langchain package: its import fails
    monkeypatch.setitem(sys.modules, "langchain.chat_models", None)
    code = main(["--cache", "memory://", "--model", "openai:gpt-4o-mini", "run", "hitl-gate", "x"])
    err = capsys.readouterr().err
    assert code == 2
    assert "needs LangChain's init_chat_model" in err and "llm-core[langchain]" in err
    assert "Traceback" not in err


def test_a_provider_that_refuses_its_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("langchain.chat_models")
    pytest.importorskip("langchain_openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(["--cache", "memory://", "--model", "openai:gpt-4o-mini", "run", "hitl-gate", "x"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot make the model" in err and "OPENAI_API_KEY" in err
    assert "Traceback" not in err


def test_hitl_gate_drafts_with_an_openai_model(
    openai: tuple[Any, dict[str, str]], url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stub, _ = openai
    document = json.dumps({"input": EMAIL, "policy": "no dates before the announcement"})
    argv = ["--cache", url, "--json", "--model", "openai:gpt-4o-mini"]
    code = main([*argv, "run", "hitl-gate", document, "--input-json"])
    paused = json.loads(capsys.readouterr().out)
    assert code == 0 and paused["status"] == "paused", paused
    assert paused["payload"]["draft"] == "The release moves to Monday."
    (request,) = stub.requests
    assert request["model"] == "gpt-4o-mini"
    system, user = request["messages"]
    assert system["role"] == "system" and "no dates before the announcement" in system["content"]
    assert user == {"role": "user", "content": EMAIL}
    # the gate resumes without calling the model again
    code = main([*argv, "resume", paused["token"], "--decision", "approve"])
    done = json.loads(capsys.readouterr().out)
    assert code == 0 and done["artefact"]["final"] == "The release moves to Monday."
    assert len(stub.requests) == 1


def test_tool_approval_with_an_openai_model_across_processes(
    openai: tuple[Any, dict[str, str]], url: str, tmp_path: Path
) -> None:
    stub, env = openai
    stub.call = send
    log = tmp_path / "tools.jsonl"
    env = {**env, "TOOL_LOG": str(log)}
    ran = llm_core("--cache", url, "--app", APP, "--model", "openai:gpt-4o-mini",
                   "run", "tool-approval", EMAIL, env=env)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("paused (tool_call)")
    assert '"tool": "send_email"' in ran.stdout and EMAIL in ran.stdout
    assert not log.exists()  # nothing ran: it waits for a human
    token = ran.stdout.split("token: ")[1].split()[0]
    hint = next(line for line in ran.stdout.splitlines() if line.startswith("next: "))
    argv = shlex.split(hint.removeprefix("next: "))
    assert argv[argv.index("--model") + 1] == "openai:gpt-4o-mini"
    edited = {"decision": "edit", "arguments": {"to": "ada@example.com", "body": "Monday."}}
    done = llm_core("--cache", url, "--app", APP, "--model", "openai:gpt-4o-mini", "--json",
                    "resume", token, "--input-json", json.dumps(edited), env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    artefact = json.loads(done.stdout)["artefact"]
    assert artefact["answer"] == "Done: sent to ada@example.com"
    assert artefact["model_calls"] == 2
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert runs == [{"tool": "send_email", "args": edited["arguments"]}]
    assert len(stub.requests) == 2
    # the tools were offered to the provider's model as functions
    offered = {t["function"]["name"] for t in stub.requests[0]["tools"]}
    assert offered == {"send_email", "lookup"}


# --- package.module:attr: the same code path with LangChain's fake chat model ---------------


def test_a_model_factory_drives_tool_approval_across_processes(url: str, tmp_path: Path) -> None:
    log = tmp_path / "tools.jsonl"
    env = {"TOOL_LOG": str(log)}
    ran = llm_core("--cache", url, "--app", APP, "--model", FAKE, "run", "tool-approval",
                   "Hi <b>Ada</b>", env=env)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    token = ran.stdout.split("token: ")[1].split()[0]
    assert f"--model {FAKE}" in ran.stdout  # the next: hint
    rejected = {"decision": "reject", "reason": "not before the announcement"}
    done = llm_core("--cache", url, "--app", APP, "--model", FAKE, "--json", "resume", token,
                    "--input-json", json.dumps(rejected), env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    artefact = json.loads(done.stdout)["artefact"]
    assert artefact["answer"].startswith("Done (error): The user rejected this call")
    assert "not before the announcement" in artefact["answer"]
    assert not log.exists()  # rejected: the tool never ran


def test_hitl_gate_drafts_with_the_model_a_factory_makes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["--json", "--cache", "memory://", "--model", FAKE, "run", "hitl-gate", "Hi"])
    paused = json.loads(capsys.readouterr().out)
    # the fake, asked by a user's message, proposes a call; the draft is its reply's text
    assert code == 0 and paused["payload"]["draft"] == "I will email Ada."


def test_the_model_env_var_and_the_sessions_commands(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLM_CORE_MODEL", FAKE)
    assert main(["--json", "--cache", url, "run", "hitl-gate", "Hi"]) == 0
    assert json.loads(capsys.readouterr().out)["payload"]["draft"] == "I will email Ada."
    # listing and showing sessions make no model: a broken one does not stand in the way
    monkeypatch.setenv("LLM_CORE_MODEL", "not-a-spec")
    assert main(["--json", "--cache", url, "sessions", "list"]) == 0
    assert len(json.loads(capsys.readouterr().out)["sessions"]) == 1
    assert main(["--cache", url, "run", "hitl-gate", "Hi"]) == 2
    assert "--model 'not-a-spec'" in capsys.readouterr().err


def test_tool_approval_without_its_tools_says_how_to_give_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the built-in recipe has no tools: --model alone is not enough, and the error says so
    code = main(["--cache", "memory://", "--model", FAKE, "run", "tool-approval", "Hi"])
    err = capsys.readouterr().err
    assert code == 2 and "tool-approval has no tools:" in err
    assert "--app" in err and "recipes.tool_approval_workflow" in err
    code = main(["--cache", "memory://", "run", "tool-approval", "Hi"])
    assert code == 2 and "has no tools and no model" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.server.nope:model", "cannot import 'tests.server.nope'"),
        ("tests.server.tool_app:missing", "has no attribute 'missing'"),
        ("tests.server.tool_app:APP_NOTE", "has no attribute"),
        ("tests.server.tool_app:workflow", "is not a chat model"),
    ],
)
def test_a_bad_model_target_is_a_usage_error(
    spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--cache", "memory://", "--model", spec, "run", "hitl-gate", "Hi"])
    err = capsys.readouterr().err
    assert code == 2 and f"--model {spec!r}" in err and message in err, err


def test_serve_refuses_a_bad_model_before_it_listens(url: str) -> None:
    pytest.importorskip("fastapi")
    done = llm_core("--cache", url, "serve", "--port", "0", "--model", "openai")
    assert done.returncode == 2
    assert "llm-core: error: --model 'openai'" in done.stderr and "Traceback" not in done.stderr
