"""`make demo` runs examples/demo.py (cross-process, through the CLI and the SQLite default);
examples/in_process.py tells the same story with the Python API in one process."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN_LINE = re.compile(r"token: +[0-9a-f]+\.[A-Za-z0-9_-]{22}\n")


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # importing runs nothing
    return module


def test_in_process_example_tells_the_story(capsys: pytest.CaptureFixture[str]) -> None:
    example = load("in_process")
    assert capsys.readouterr().out == ""
    assert example.main() == 0
    out = capsys.readouterr().out
    assert TOKEN_LINE.search(out)
    assert '"draft": "llm-core 1.0 ships on Friday!"' in out
    assert '"final": "llm-core 1.0 is coming soon."' in out
    assert "gate → finalize" in out
    assert "refused: session_already_resumed" in out


def test_demo_pauses_and_resumes_in_separate_processes_on_the_sqlite_default(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LLM_CORE_CACHE_URL"}
    env["XDG_STATE_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"Sessions live in sqlite:///{tmp_path}/llm-core/sessions.db" in out
    assert TOKEN_LINE.search(out)
    assert out.count("(exit status 0)") == 3  # run, sessions list, resume: three processes
    assert '"final": "llm-core 1.0 is coming soon."' in out
    assert "(exit status 10)" in out  # the fourth process: the token was already used
    assert (tmp_path / "llm-core" / "sessions.db").exists()
