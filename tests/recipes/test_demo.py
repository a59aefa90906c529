"""`make demo` runs examples/demo.py: it must pause, resume and print the artefact."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_the_demo_is_importable_and_tells_the_story(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("demo", DEMO)
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)  # importing runs nothing
    assert capsys.readouterr().out == ""
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert re.search(r"token: +[0-9a-f]+\.[A-Za-z0-9_-]{22}\n", out)
    assert '"draft": "llm-core 1.0 ships on Friday!"' in out
    assert '"final": "llm-core 1.0 is coming soon."' in out
    assert "gate → finalize" in out
    assert "refused: session_not_found" in out


def test_the_demo_runs_as_make_demo_runs_it() -> None:
    done = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert '"status": "approved"' in done.stdout
