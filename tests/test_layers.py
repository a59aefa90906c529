"""The import-linter contracts in pyproject.toml hold, and they catch a layer importing upwards.

Each test lints a copy of ``src/`` (so a violation can be injected without touching the tree)
with the ``lint-imports`` of this interpreter's environment, as ``make lint`` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (it is in the dev extra)"
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}  # the copy, not the installed tree
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def inject(tree: Path, module: str, line: str) -> None:
    path = tree / "src" / "llm_core" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    done = lint(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_copy_is_what_gets_linted(tree: Path) -> None:
    # a module that exists only in the copy: if lint-imports read the installed tree, it would
    # not see the import below and the contract would be kept
    (tree / "src" / "llm_core" / "cache" / "_only_in_copy.py").write_text(
        "import llm_core.recipes\n", encoding="utf-8"
    )
    done = lint(tree)
    assert done.returncode != 0
    assert "llm_core.cache._only_in_copy -> llm_core.recipes" in done.stdout


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        # cache imports nothing above it
        ("cache._memory", "llm_core.workflow"),
        ("cache._sqlite", "llm_core.sessions"),
        # sessions sit below workflow; workflow below recipes; recipes below the CLI
        ("sessions._tokens", "llm_core.workflow.steps"),
        ("workflow.steps", "llm_core.recipes"),
        ("recipes.hitl_gate", "llm_core.cli"),
        # bridges and workflow are independent of each other
        ("bridges._envelope", "llm_core.workflow"),
        ("workflow.plugins", "llm_core.bridges.langgraph"),
        # errors imports nothing of the package
        ("errors", "llm_core.cache"),
        # below the CLI, nothing imports the package root (its __init__ loads every layer)
        ("sessions._store", "llm_core"),
    ],
)
def test_an_import_upwards_fails_the_lint(tree: Path, module: str, imported: str) -> None:
    inject(tree, module.replace(".", "/") + ".py", f"import {imported}")
    done = lint(tree)
    assert done.returncode != 0, done.stdout
    assert "BROKEN" in done.stdout
    assert f"llm_core.{module} -> {imported}" in done.stdout, done.stdout


def test_an_indirect_import_upwards_fails_too(tree: Path) -> None:
    # cache -> a helper outside every layer -> workflow
    (tree / "src" / "llm_core" / "_helper.py").write_text(
        "import llm_core.workflow.outcomes\n", encoding="utf-8"
    )
    inject(tree, "cache/_validation.py", "import llm_core._helper")
    done = lint(tree)
    assert done.returncode != 0
    assert "llm_core.cache._validation -> llm_core._helper" in done.stdout
