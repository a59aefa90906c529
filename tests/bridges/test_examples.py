"""Every example in examples/bridges/ runs, and docs/bridges.md shows each one verbatim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.bridges.support import ROOT

EXAMPLES = sorted((ROOT / "examples" / "bridges").glob("*.py"))
DOC = ROOT / "docs" / "bridges.md"


def test_there_is_an_example_per_bridge_and_direction() -> None:
    names = {path.stem for path in EXAMPLES}
    for bridge in ("langgraph", "langchain", "llamaindex"):
        assert {f"{bridge}_to", f"{bridge}_from"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(example: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(example)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "an example prints what it shows"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_doc_shows_the_example_verbatim(example: Path) -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert f"python examples/bridges/{example.name}" in doc
    assert f"```python\n{example.read_text(encoding='utf-8')}```" in doc
