"""Fuzzing ``llm-core``: argv, stdin, env and stored data, in-process and in real processes.

Whatever comes in: never a traceback, an exit status from the documented set, no raw control
character from stored data in what is printed, and a spent token always has its outcome
printed (a retry with the same ``--request-id`` prints it again).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_core.cache import SQLiteCache
from llm_core.cli import EXIT_CODES, main
from llm_core.sessions import SESSION_KEY_PREFIX

EXITS = {0, 1, 2, 130, *EXIT_CODES.values()}
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
FUZZ = settings(
    max_examples=int(os.environ.get("LLM_CORE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NASTY = "\x1b[2J\x1b]0;owned\x07\x9b31m\u2028\x00\x7f"


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for name in ("LLM_CORE_CACHE_URL", "LLM_CORE_SECRET_KEY", "LLM_CORE_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return f"sqlite:///{tmp_path / 'fuzz.db'}"


def call(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse: usage errors and --help/--version
        code = exit_.code if isinstance(exit_.code, int) else 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, err
    assert code in EXITS, (code, err)
    return code, out, err


def paused(capsys: pytest.CaptureFixture[str], url: str, *extra: str) -> str:
    code, out, _ = call(capsys, ["--cache", url, *extra, "run", "hitl-gate", "Draft", "--json"])
    assert code == 0, out
    return str(json.loads(out)["token"])


def lines_without_raw_control(text: str) -> bool:
    return RAW_CONTROL.search(text.replace("\n", "").replace("\t", "")) is None


# --- argv -----------------------------------------------------------------------------------

WORDS = [
    "run", "resume", "sessions", "list", "sweep", "cancel", "hitl-gate", "-", "--json",
    "--decision", "approve", "reject", "edit", "--notes", "--edited", "--input-json",
    "--request-id", "--session-ttl", "--secret-key-file", "/nonexistent", "1e999", "nan",
    "-1", "0", "{}", "[]", '{"decision":"approve"}', "--", "-h", "--version", "x" * 5000,
    "1a2b3c.AAAAAAAAAAAAAAAAAAAAAA", NASTY, "\ud800", "\udcff",
]  # fmt: skip
argv_items = st.one_of(st.sampled_from(WORDS), st.text(max_size=30))


@FUZZ
@given(argv=st.lists(argv_items, max_size=8))
def test_any_argv(capsys: pytest.CaptureFixture[str], url: str, argv: list[str]) -> None:
    call(capsys, ["--cache", url, *argv])


@FUZZ
@given(
    command=st.sampled_from(["resume", "cancel"]),
    notes=st.one_of(st.text(max_size=40), st.sampled_from([NASTY, "\udcff", "caf\udce9"])),
    request=st.one_of(st.none(), st.text(max_size=20)),
    decision=st.sampled_from(["approve", "reject", "edit"]),
)
def test_resume_and_cancel_with_any_text(
    capsys: pytest.CaptureFixture[str],
    url: str,
    command: str,
    notes: str,
    request: str | None,
    decision: str,
) -> None:
    token = paused(capsys, url)
    if command == "cancel":
        code, out, err = call(capsys, ["--cache", url, "sessions", "cancel", token])
        assert code == 0, err
        return
    argv = ["--cache", url, "resume", token, "--decision", decision, "--notes", notes]
    if decision == "edit":
        argv += ["--edited", notes or "x"]
    if request is not None:
        argv += ["--request-id", request]
    code, out, err = call(capsys, argv)
    assert lines_without_raw_control(out) and lines_without_raw_control(err)
    if code == 0:  # spent: its outcome was printed, and a retry prints it again
        assert out.startswith("ok")
        if request is not None:
            again = call(capsys, argv)
            assert again[0] == 0 and again[1].startswith("ok (replayed)")
            assert again[1].splitlines()[1:] == out.splitlines()[1:]
    else:  # refused before the claim: still resumable
        code, out, _ = call(capsys, ["--cache", url, "resume", token, "--decision", "approve"])
        assert code == 0 and out.startswith("ok")


# --- stdin ----------------------------------------------------------------------------------


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.sampled_from(
            [
                "[" * 5000 + "]" * 5000,
                '{"input":' * 3000 + '"x"' + "}" * 3000,
                json.dumps({"input": NASTY, "policy": [[[[[[1]]]]]]}),
                json.dumps({"input": "x", "policy": 10**400}),
                "1e999",
                "NaN",
                "\x00" * 100,
            ]
        ),
    ),
    as_json=st.booleans(),
)
def test_stdin(
    capsys: pytest.CaptureFixture[str],
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    as_json: bool,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    argv = ["--cache", url, "run", "hitl-gate", "-", *(["--input-json"] if as_json else [])]
    call(capsys, argv)


def test_huge_stdin_round_trips(
    capsys: pytest.CaptureFixture[str], url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = ("Ship it " + NASTY) * (1_000_000 // 20)
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, out, _ = call(capsys, ["--cache", url, "run", "hitl-gate", "-"])
    assert code == 0 and lines_without_raw_control(out)
    token = out.split("token: ")[1].split()[0]
    code, out, _ = call(capsys, ["--cache", url, "resume", token, "--decision", "approve"])
    assert code == 0 and lines_without_raw_control(out) and len(out) > 1_000_000


# --- env ------------------------------------------------------------------------------------


@FUZZ
@given(
    cache_url=st.one_of(
        st.sampled_from(
            [
                "",
                " ",
                "memory://",
                "foo://bar",
                "sqlite://",
                "sqlite:///",
                "redis://127.0.0.1:1/0",
                "sqlite:////nonexistent/dir/x.db",
                "http://x",
                NASTY,
                "sqlite:///" + "a" * 5000,
                "redis://:@127.0.0.1:1/",  # empty credentials; a closed port, so nothing is stored
                "redis://host:99999999/0",
                "redis://h:p/x",
            ]
        ),
        st.text(max_size=30),
    ),
    key=st.one_of(
        st.none(),
        st.sampled_from(["", "short", "k" * 16, "ключ" * 8, "\n" * 20, NASTY * 4, "x" * 100_000]),
        st.text(min_size=1, max_size=40),
    ),
    command=st.sampled_from(
        [["sessions", "list"], ["run", "hitl-gate", "x"], ["sessions", "sweep"]]
    ),
)
def test_env(
    capsys: pytest.CaptureFixture[str],
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    cache_url: str,
    key: str | None,
    command: list[str],
) -> None:
    if "\x00" in cache_url or (key is not None and "\x00" in key):
        return  # an environment cannot hold NUL
    monkeypatch.setenv("LLM_CORE_CACHE_URL", cache_url)
    if key is None:
        monkeypatch.delenv("LLM_CORE_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("LLM_CORE_SECRET_KEY", key)
    _, _, err = call(capsys, command)
    assert lines_without_raw_control(err)


# --- stored data ----------------------------------------------------------------------------


def rewrite(url: str, token: str, edit: Any) -> None:
    cache = SQLiteCache(url.removeprefix("sqlite:///"))
    try:
        key = SESSION_KEY_PREFIX + token
        data = cache.get(key)
        assert data is not None
        head, body = data.split(b"\n", 1)
        cache.set(key, head + b"\n" + edit(body), 3600)
    finally:
        cache.close()


def test_stored_control_characters_are_escaped_everywhere(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    """Forged records (unsigned) carry terminal escapes in every printed field."""
    nasty = json.dumps(NASTY + "\ud800")[1:-1].encode()  # JSON escapes: valid UTF-8 bytes
    listed = paused(capsys, url)
    rewrite(url, listed, lambda b: b.replace(b'"human"', b'"' + nasty + b'"'))
    code, out, err = call(capsys, ["--cache", url, "sessions", "list"])
    assert code == 0 and lines_without_raw_control(out + err) and "\\x1b" in out

    replayed = paused(capsys, url)
    forged = {
        "status": "completed", "token": replayed, "claim": "c", "request_id": "r1",
        "finished_at": 1.0, "outcome": {
            "type": "paused", "token": NASTY, "pause_kind": NASTY + "\ud800",
            "expires_at": 1e300, "payload": {NASTY: NASTY},
        },
    }  # fmt: skip
    rewrite(url, replayed, lambda b: json.dumps(forged).encode())
    argv = ["--cache", url, "resume", replayed, "--decision", "approve", "--request-id", "r1"]
    code, out, err = call(capsys, argv)
    assert code == 0 and lines_without_raw_control(out + err)

    artefact = paused(capsys, url)
    forged["token"] = artefact
    forged["outcome"] = {"type": "ok", "artefact": {NASTY: [NASTY, "\ud800"]}}
    rewrite(url, artefact, lambda b: json.dumps(forged).encode())
    argv[3] = artefact
    code, out, err = call(capsys, argv)
    assert code == 0 and out.startswith("ok (replayed)") and lines_without_raw_control(out)

    invalid = paused(capsys, url)
    rewrite(url, invalid, lambda b: b.replace(b'"hitl-gate"', b'"' + nasty + b'"'))
    for argv in (
        ["--cache", url, "resume", invalid, "--decision", "approve"],
        ["--cache", url, "sessions", "cancel", invalid],
        ["--cache", url, "sessions", "list", "--json"],
    ):
        code, out, err = call(capsys, argv)
        assert lines_without_raw_control(out + err)


# --- real processes -------------------------------------------------------------------------


def cli_process(
    args: Sequence[bytes | str], stdin: bytes = b"", env: dict[str, str] | None = None
) -> tuple[int, bytes, bytes]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_CORE_")}
    full_env.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "llm_core", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=60,
        check=False,
    )
    assert b"Traceback" not in done.stderr, done.stderr
    assert done.returncode in EXITS, (done.returncode, done.stderr)
    return done.returncode, done.stdout, done.stderr


def test_processes_invalid_utf8_and_narrow_encodings(tmp_path: Path) -> None:
    """Invalid UTF-8 on stdin and in argv, and an ASCII-only stdout: the token is never spent
    without its outcome printed, and a retry with the same --request-id prints it again."""
    url = f"sqlite:///{tmp_path / 'proc.db'}"
    code, _, err = cli_process(["--cache", url, "run", "hitl-gate", "-"], stdin=b"\xff\xfe\x80 x")
    assert code in (2, 8) and b"Traceback" not in err
    code, out, _ = cli_process(
        ["--cache", url, "run", "hitl-gate", "-", "--json"], stdin="Café \x1b[31m".encode()
    )
    assert code == 0
    token = json.loads(out)["token"]

    # argv bytes that are not UTF-8: refused before the session is touched
    resume = ["--cache", url, "resume", token, "--decision", "approve"]
    code, _, err = cli_process([*resume, "--notes", b"caf\xe9 \xff"])
    assert code == 2 and b"UTF-8" in err

    # an ASCII-only stdout: the outcome is still printed (escaped), exit 0
    ascii_env = {"PYTHONIOENCODING": "ascii"}
    argv = [*resume, "--notes", "café \x1b[2J\u2028", "--request-id", "r-1"]
    code, out, err = cli_process(argv, env=ascii_env)
    assert code == 0, err
    assert out.startswith(b"ok\n") and b"caf\\xe9" in out and b"\x1b" not in out
    code, again, _ = cli_process(argv, env=ascii_env)
    assert code == 0 and again.startswith(b"ok (replayed)\n")
    assert again.splitlines()[1:] == out.splitlines()[1:]
    code, _, err = cli_process([*resume, "--request-id", "r-2"])
    assert code == EXIT_CODES["session_already_resumed"]

    # junk env, odd keys, a key file that is not UTF-8
    keyfile = tmp_path / "key"
    keyfile.write_bytes(b"\xff" * 40)
    for args, env in [
        (["sessions", "list"], {"LLM_CORE_CACHE_URL": "nope://\x1b"}),
        (["--cache", url, "sessions", "list"], {"LLM_CORE_SECRET_KEY": "short"}),
        (["--cache", url, "--secret-key-file", str(keyfile), "sessions", "list"], {}),
        (["--cache", url, "run", "hitl-gate", "[" * 100_000, "--input-json"], {}),
    ]:
        code, out, err = cli_process(args, env=env)
        assert code != 0 and b"\x1b" not in out + err
