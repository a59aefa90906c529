"""The ``llm-core`` command, called in-process (cross-process runs: tests/durability)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from llm_core.cli import EXIT_CODES, default_cache_url, main


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sessions.db'}"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def paused_token(capsys: pytest.CaptureFixture[str], url: str, text: str = "Draft") -> str:
    code, out, _ = cli(capsys, "--cache", url, "run", "hitl-gate", text, "--json")
    assert code == 0
    return str(json.loads(out)["token"])


def test_run_prints_token_kind_expiry_and_payload(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, out, _ = cli(capsys, "--cache", url, "run", "hitl-gate", "Ship it")
    assert code == 0
    assert out.startswith("paused (human); resume before ")
    assert "(in 23h59m)" in out
    token = out.split("token: ")[1].split()[0]
    assert '"draft": "Ship it"' in out
    assert f"next: llm-core resume {token} --decision approve" in out


def test_options_work_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, out, _ = cli(capsys, "run", "hitl-gate", "x", "--cache", url, "--json")
    assert code == 0 and json.loads(out)["status"] == "paused"


def test_json_input_and_policy(capsys: pytest.CaptureFixture[str], url: str) -> None:
    document = json.dumps({"input": "Refund 40 EUR", "policy": "refunds > 20 EUR need a human"})
    code, out, _ = cli(capsys, "--cache", url, "run", "hitl-gate", document, "--input-json")
    assert code == 0 and '"policy": "refunds > 20 EUR need a human"' in out
    code, _, err = cli(capsys, "--cache", url, "run", "hitl-gate", "{oops", "--input-json")
    assert code == 2 and "not valid JSON" in err


def test_resume_with_each_decision(capsys: pytest.CaptureFixture[str], url: str) -> None:
    for decision, extra, status, final in [
        ("approve", [], "approved", "Draft"),
        ("reject", ["--notes", "tone"], "rejected", None),
        ("edit", ["--edited", "Better"], "approved", "Better"),
    ]:
        token = paused_token(capsys, url)
        code, out, _ = cli(
            capsys, "--cache", url, "resume", token, "--decision", decision, *extra, "--json"
        )
        assert code == 0
        artefact = json.loads(out)["artefact"]
        assert (artefact["decision"], artefact["status"]) == (decision, status)
        if final is not None:
            assert artefact["final"] == final


def test_exit_codes_tell_errors_apart(capsys: pytest.CaptureFixture[str], url: str) -> None:
    token = paused_token(capsys, url)
    code, _, err = cli(capsys, "--cache", url, "resume", token, "--decision", "edit")
    assert code == EXIT_CODES["invalid_resume_input"] == 6
    assert "still resumable" in err
    assert cli(capsys, "--cache", url, "resume", token, "--decision", "approve")[0] == 0
    assert cli(capsys, "--cache", url, "resume", token, "--decision", "approve")[0] == 10
    assert cli(capsys, "--cache", url, "resume", "not-a-token", "--decision", "approve")[0] == 5
    code, out, _ = cli(
        capsys, "--cache", url, "resume", "123.abc", "--decision", "approve", "--json"
    )
    assert code == 5 and json.loads(out)["kind"] == "invalid_token"


def test_expired_session_exits_4(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, _ = cli(
        capsys, "--cache", url, "run", "hitl-gate", "x", "--session-ttl", "0.05", "--json"
    )
    token = json.loads(out)["token"]
    import time

    time.sleep(0.1)  # the session TTL is on the wall clock of another "process"
    code, _, err = cli(capsys, "--cache", url, "resume", token, "--decision", "approve")
    assert code == 4 and "session_expired" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, _, err = cli(capsys, "--cache", "ftp://nope", "sessions", "list")
    assert code == 2 and "sqlite://" in err  # names the accepted forms
    code, _, err = cli(capsys, "--cache", url, "run", "no-such-recipe", "x")
    assert code == 2 and "hitl-gate" in err
    code, _, err = cli(capsys, "--cache", url, "resume", "tok")
    assert code == 2 and "--decision" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["resume", "tok", "--decision", "maybe"])
    assert exit_info.value.code == 2


def test_cache_unavailable_exits_7(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.redis_support import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    code, _, err = cli(capsys, "--cache", dead, "run", "hitl-gate", "x")
    assert code == 7 and "cache_unavailable" in err


def test_sessions_list_and_sweep(capsys: pytest.CaptureFixture[str], url: str) -> None:
    assert cli(capsys, "--cache", url, "sessions", "list")[1] == "no pending sessions\n"
    tokens = {paused_token(capsys, url, f"d{i}") for i in range(3)}
    code, out, _ = cli(capsys, "--cache", url, "sessions", "list")
    assert code == 0 and out.splitlines()[0].split() == [
        "TOKEN",
        "RECIPE",
        "KIND",
        "STATUS",
        "TIME",
        "LEFT",
    ]
    assert {line.split()[0] for line in out.splitlines()[1:]} == tokens
    code, out, _ = cli(capsys, "--cache", url, "sessions", "list", "--json")
    rows = json.loads(out)["sessions"]
    assert {r["token"] for r in rows} == tokens
    assert all(r["pause_kind"] == "human" and 86_000 < r["seconds_left"] <= 86_400 for r in rows)
    code, out, _ = cli(capsys, "--cache", url, "sessions", "sweep", "--json")
    assert code == 0 and json.loads(out) == {"swept": 0}


def test_default_cache_is_a_private_sqlite_file_under_xdg_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LLM_CORE_CACHE_URL", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    expected = tmp_path / "state" / "llm-core" / "sessions.db"
    assert default_cache_url() == f"sqlite:///{expected}"
    paused_token(capsys, default_cache_url())
    assert stat.S_IMODE(expected.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(expected.stat().st_mode) == 0o600
    monkeypatch.setenv("LLM_CORE_CACHE_URL", "memory://")
    assert default_cache_url() == "memory://"


def test_help_reads_well() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llm_core", "--help"], capture_output=True, text=True, check=True
    )
    for expected in ("run", "resume", "sessions", "exit status:", "examples:", "--cache URL"):
        assert expected in done.stdout


@pytest.mark.parametrize("ttl", ["0", "-1", "nan", "inf", "soon"])
def test_a_bad_session_ttl_is_a_usage_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], url: str, ttl: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--cache", url, "run", "hitl-gate", "x", f"--session-ttl={ttl}"])
    assert exit_info.value.code == 2
    assert "--session-ttl" in capsys.readouterr().err


@pytest.mark.parametrize("ttl", ["1e12", "1e20"])
def test_a_pause_expiring_past_year_9999_is_printed_not_a_traceback(
    capsys: pytest.CaptureFixture[str], url: str, ttl: str
) -> None:
    code, out, _ = cli(capsys, "--cache", url, "run", "hitl-gate", "x", "--session-ttl", ttl)
    assert code == 0 and out.startswith("paused (human); resume before ")
    token = out.split("token: ")[1].split()[0]
    assert cli(capsys, "--cache", url, "resume", token, "--decision", "approve")[0] == 0


def test_a_default_state_folder_that_cannot_be_made_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.delenv("LLM_CORE_CACHE_URL", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    code, _, err = cli(capsys, "sessions", "list")
    assert code == EXIT_CODES["cache_unavailable"]
    assert str(blocker) in err and "--cache" in err


def test_a_corrupt_stored_session_is_listed_as_invalid_and_kept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from llm_core.cache._sqlite import SQLiteCache
    from llm_core.sessions import SESSION_KEY_PREFIX

    path = tmp_path / "sessions.db"
    cache = SQLiteCache(str(path))
    cache.set(SESSION_KEY_PREFIX + "junk", b"not json", 60)
    cache.close()
    code, out, _ = cli(capsys, "--cache", f"sqlite:///{path}", "sessions", "list", "--json")
    assert code == 0
    [row] = json.loads(out)["sessions"]
    assert row["token"] == "junk" and row["status"] == "invalid"
    assert "not an llm-core/2 record" in row["problem"]
    assert SQLiteCache(str(path)).get(SESSION_KEY_PREFIX + "junk") == b"not json"  # kept


def test_input_dash_without_a_stdin_is_a_usage_error() -> None:
    script = 'exec "$0" -m llm_core --cache memory:// run hitl-gate - <&-'  # stdin closed
    done = subprocess.run(["sh", "-c", script, sys.executable], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "stdin" in done.stderr


def test_a_pause_in_a_memory_cache_warns_that_its_token_dies_with_the_process(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, out, err = cli(capsys, "--cache", "memory://", "run", "hitl-gate", "x", "--json")
    assert code == 0 and json.loads(out)["status"] == "paused"
    assert "memory://" in err and "cannot be resumed" in err
    code, _, err = cli(capsys, "--cache", url, "run", "hitl-gate", "x")
    assert code == 0 and err == ""


def test_a_reader_that_goes_away_is_no_traceback(url: str) -> None:
    """`llm-core sessions list | head -1`: the closed pipe ends the command quietly."""
    from llm_core import SQLiteCache, recipes

    runtime = recipes.hitl_gate(cache=SQLiteCache(url.removeprefix("sqlite:///")))
    for i in range(1_500):  # more than a pipe's buffer of output lines
        runtime.run(f"draft {i}")
    child = subprocess.Popen(
        [sys.executable, "-m", "llm_core", "--cache", url, "sessions", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader goes away before the listing is written
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 1
    assert "Traceback" not in err


def test_sessions_list_pages_with_a_cursor(capsys: pytest.CaptureFixture[str], url: str) -> None:
    tokens = [paused_token(capsys, url, f"d{i}") for i in range(5)]
    listed, cursor = [], None
    while True:
        extra = ["--cursor", cursor] if cursor else []
        code, out, _ = cli(
            capsys, "--cache", url, "sessions", "list", "--limit", "2", "--json", *extra
        )
        assert code == 0
        page = json.loads(out)
        assert len(page["sessions"]) <= 2
        listed += [row["token"] for row in page["sessions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert listed == tokens  # soonest deadline first: the pause order
    code, out, err = cli(
        capsys, "--cache", url, "sessions", "list", "--limit", "2", "--order", "newest"
    )
    assert [line.split()[0] for line in out.splitlines()[1:]] == tokens[:2:-1]
    assert err.startswith("more: llm-core sessions list --cursor ")
    code, out, _ = cli(capsys, "--cache", url, "sessions", "list", "--kind", "tool_call", "--json")
    assert json.loads(out) == {"sessions": [], "next_cursor": None}
    code, out, _ = cli(
        capsys, "--cache", url, "sessions", "list", "--recipe", "hitl-gate", "--json"
    )
    assert [row["token"] for row in json.loads(out)["sessions"]] == tokens


def test_sessions_list_refuses_a_bad_cursor_or_limit(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, _, err = cli(capsys, "--cache", url, "sessions", "list", "--cursor", "%%%")
    assert code == 2 and "cursor" in err and "Traceback" not in err
    for limit in ("0", "1001", "ten"):
        with pytest.raises(SystemExit) as exit_info:
            main(["--cache", url, "sessions", "list", "--limit", limit])
        assert exit_info.value.code == 2
