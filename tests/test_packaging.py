"""What `pip install llm-core` gets: a py3-none-any wheel, honest metadata, an sdist without tests,
every extra with a tested lower bound, and ``llm-core --version``.

The build tests (marked ``packaging``) build from a copy of the project with ``build
--no-isolation`` (``build`` and ``setuptools`` come with the dev extra): a few seconds each.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import llm_core
from llm_core.cli import main

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
FRAMEWORK_EXTRAS = (
    "redis",
    "langchain",
    "langgraph",
    "llamaindex",
    "postgres",
    "crypto",
    "server",
    "otel",
)


# --- llm-core --version -------------------------------------------------------------------


def test_version_flag_prints_name_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"llm-core {llm_core.__version__}\n"


def test_version_flag_of_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llm_core", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"llm-core {llm_core.__version__}\n"


def test_the_version_has_one_source() -> None:
    assert "version" not in PROJECT
    assert "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "llm_core.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+([a-z]+\d+)?", llm_core.__version__)


# --- metadata ------------------------------------------------------------------------------


def test_license_file_matches_the_license_field() -> None:
    assert PROJECT["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text
    assert PROJECT["license-files"] == ["LICENSE"]


def test_project_urls_and_classifiers() -> None:
    urls = PROJECT["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues"}
    assert all(url.startswith("https://github.com/llm-core/llm-core") for url in urls.values())
    classifiers = PROJECT["classifiers"]
    for wanted in ("Typing :: Typed", "Operating System :: OS Independent"):
        assert wanted in classifiers
    assert not any(c.startswith("License ::") for c in classifiers), "license = 'MIT' says it"


def test_every_extra_dependency_has_a_lower_bound() -> None:
    extras = PROJECT["optional-dependencies"]
    for name in FRAMEWORK_EXTRAS:
        for requirement in extras[name]:
            assert re.fullmatch(r"[a-z0-9-]+(\[[a-z]+\])?>=\d+(\.\d+)+", requirement), requirement
    assert extras["all"] == [f"llm-core[{','.join(FRAMEWORK_EXTRAS)}]"]


def test_the_langgraph_extra_carries_what_both_langgraph_bridges_need() -> None:
    # from_langgraph_cache with LangGraph's SqliteCache, and examples/bridges/langgraph_*.py
    names = {re.split(r"[<>=]", r)[0] for r in PROJECT["optional-dependencies"]["langgraph"]}
    assert {"langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite"} <= names


def test_the_lower_bound_job_reads_the_same_pins() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "lower-bounds"), "--print-constraints"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pins = set(done.stdout.split())
    for name in FRAMEWORK_EXTRAS:
        for requirement in PROJECT["optional-dependencies"][name]:
            assert re.sub(r"\[.*\]", "", requirement).replace(">=", "==") in pins


# --- the built artefacts -------------------------------------------------------------------


def _build(kind: str, tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        shutil.copy(ROOT / name, project / name)
    for folder in ("src", "tests"):
        shutil.copytree(
            ROOT / folder,
            project / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"),
        )
    out = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "build", f"--{kind}", "--no-isolation", "--outdir", str(out)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (artefact,) = out.iterdir()
    return artefact


def _sources() -> set[str]:
    return {
        path.relative_to(ROOT / "src").as_posix()
        for path in (ROOT / "src" / "llm_core").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in {".py", ".typed"}
    }


@pytest.mark.packaging
def test_the_wheel_is_pure_python_and_typed(tmp_path: Path) -> None:
    wheel = _build("wheel", tmp_path)
    assert wheel.name == f"llm_core-{llm_core.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"llm_core-{llm_core.__version__}.dist-info"
        wheel_file = archive.read(f"{info}/WHEEL").decode()
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert "Root-Is-Purelib: true" in wheel_file
    assert "Tag: py3-none-any" in wheel_file
    assert "llm_core/py.typed" in names
    compiled = [n for n in names if n.endswith((".c", ".so", ".pyd", ".dylib", ".h"))]
    assert compiled == []
    assert {n for n in names if n.startswith("llm_core/")} == _sources()
    assert not any(n.startswith("tests/") for n in names)
    assert f"{info}/licenses/LICENSE" in names
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata.get_all("Requires-Dist") and all(
        "extra ==" in r for r in metadata.get_all("Requires-Dist")
    ), "llm-core itself depends on nothing"
    urls = {url.split(",")[0] for url in metadata.get_all("Project-URL")}
    assert urls == {"Homepage", "Documentation", "Source", "Issues"}
    assert "llm-core = llm_core.cli:main" in entry_points


@pytest.mark.packaging
def test_the_sdist_carries_no_tests(tmp_path: Path) -> None:
    # decided: none (the suite needs examples/, docs/, a Redis server and .ci/; it runs from
    # the repository).  setuptools alone would have shipped tests/test_*.py without their
    # conftest and helpers: a suite that cannot run.
    sdist = _build("sdist", tmp_path)
    assert sdist.name == f"llm_core-{llm_core.__version__}.tar.gz"
    with tarfile.open(sdist) as archive:
        top = f"llm_core-{llm_core.__version__}/"
        names = {m.name.removeprefix(top) for m in archive.getmembers() if m.isfile()}
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n]
    assert {"LICENSE", "README.md", "pyproject.toml", "PKG-INFO", "MANIFEST.in"} <= names
    assert {n.removeprefix("src/") for n in names if n.startswith("src/llm_core/")} == _sources()
    assert not [n for n in names if n.endswith((".c", ".so", "setup.py"))]
