"""Sessions that outlive their process: pause in one process, resume in another.

Every test here uses real processes (``subprocess``), a real SQLite file and the real Redis.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_core import Error, Ok, Paused, RedisCache, SQLiteCache, recipes
from tests.redis_support import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]


def python(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, **kwargs
    )  # type: ignore[call-overload, no-any-return]


@pytest.fixture(params=["sqlite", "redis"])
def cache_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sessions.db'}"
    else:
        redis_url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        yield f"{redis_url}?prefix={prefix}"


def test_pause_in_one_process_resume_in_another(cache_url: str) -> None:
    paused = python("-m", "llm_core", "--cache", cache_url, "run", "hitl-gate", "Ship it", "--json")
    assert paused.returncode == 0, paused.stderr
    document = json.loads(paused.stdout)
    assert document["status"] == "paused"
    assert document["payload"] == {"draft": "Ship it", "policy": None}
    token = document["token"]

    listed = python("-m", "llm_core", "--cache", cache_url, "sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [s["token"] for s in json.loads(listed.stdout)["sessions"]] == [token]

    resumed = python(
        "-m", "llm_core", "--cache", cache_url, "resume", token,
        "--decision", "edit", "--edited", "Ship it on Monday", "--notes", "not Friday", "--json",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["artefact"] == {
        "draft": "Ship it",
        "decision": "edit",
        "status": "approved",
        "notes": "not Friday",
        "final": "Ship it on Monday",
    }

    again = python("-m", "llm_core", "--cache", cache_url, "resume", token, "--decision", "approve")
    assert again.returncode == 10  # session_already_resumed: a token completes exactly once
    assert "session_already_resumed" in again.stderr


def test_sigkill_while_pausing_loses_no_printed_token(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    url = f"sqlite:///{db}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.durability.worker", "pause", url, "1000000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    tokens = [worker.stdout.readline().strip() for _ in range(300)]
    os.kill(worker.pid, signal.SIGKILL)  # in the middle of pausing: it was still writing
    rest, _ = worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    tokens += [line for line in rest.splitlines() if line.strip()]
    assert len(tokens) >= 300 and all(tokens)

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    runtime = recipes.hitl_gate(cache=SQLiteCache(db))
    outcomes = [runtime.resume(token, {"decision": "approve"}) for token in tokens]
    assert all(isinstance(o, Ok) for o in outcomes), [o for o in outcomes if not isinstance(o, Ok)]


@pytest.mark.slow
def test_four_processes_racing_on_500_tokens_resume_each_once(
    cache_url: str, tmp_path: Path
) -> None:
    from llm_core import cache_from_url

    runtime = recipes.hitl_gate(cache=cache_from_url(cache_url))
    tokens = []
    for i in range(500):
        outcome = runtime.run(f"draft {i}")
        assert isinstance(outcome, Paused)
        tokens.append(outcome.token)

    files = []
    for n in range(4):  # each racer walks the tokens in its own order
        order = tokens[:]
        random.Random(n).shuffle(order)
        path = tmp_path / f"tokens-{n}.txt"
        path.write_text("\n".join(order))
        files.append(path)
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.durability.worker", "resume", cache_url, str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in files
    ]
    results: list[tuple[str, str]] = []
    for racer in racers:
        out, err = racer.communicate(timeout=300)
        assert racer.returncode == 0, err
        results += [tuple(line.split(" ", 1)) for line in out.splitlines()]  # type: ignore[misc]

    assert len(results) == 4 * 500
    oks = Counter(token for token, status in results if status.startswith("ok:"))
    assert oks == Counter({token: 1 for token in tokens})  # every token: exactly one Ok
    others = Counter(status for _, status in results if not status.startswith("ok:"))
    assert sum(others.values()) == 3 * 500  # the losers were told why, each of them
    assert set(others) <= {"session_busy", "session_already_resumed"}


def test_unreachable_redis_gives_cache_unavailable_never_a_dead_token(
    private_redis: PrivateRedis,
) -> None:
    cache = RedisCache.from_url(private_redis.url, prefix="llm-core-test:")
    runtime = recipes.hitl_gate(cache=cache)
    before = runtime.run("while up")
    assert isinstance(before, Paused)

    private_redis.stop()
    down = runtime.run("while down")
    assert isinstance(down, Error) and down.kind == "cache_unavailable"
    resumed_down = runtime.resume(before.token, {"decision": "approve"})
    assert isinstance(resumed_down, Error) and resumed_down.kind == "cache_unavailable"

    private_redis.start()  # same port, empty (no persistence): runs work again
    deadline = time.monotonic() + 10
    after = runtime.run("after restart")
    while isinstance(after, Error) and time.monotonic() < deadline:
        time.sleep(0.05)
        after = runtime.run("after restart")
    assert isinstance(after, Paused)
    done = runtime.resume(after.token, {"decision": "approve"})
    assert isinstance(done, Ok) and done.artefact["final"] == "after restart"
    cache.close()
