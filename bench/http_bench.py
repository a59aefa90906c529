"""The HTTP round trip of ``llm-core serve`` beside the same work in-process.

HTTP: ``llm-core serve`` (uvicorn, in a subprocess) on a free loopback port, sessions in a
SQLite file in a temporary directory, one API key; one httpx client (keep-alive) sends N
``POST /runs`` (hitl-gate, which pauses) and then N ``POST /sessions/{token}/resume``, one at a
time, each timed alone.  In-process: the same hitl-gate runtime on the same kind of SQLite
cache, called directly (``run`` / ``resume``).  p50 and p99 µs per request, one run (after a
short warm-up); the ratio column is HTTP over in-process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.harness import Row, print_table
from llm_core import Ok, Paused, SQLiteCache

N = 1_000
WARMUP = 50
KEY = "bench-api-key-0123456789abcdef"
SECRET = "bench-secret-key-0123456789abcdef"
DECISION = {"decision": "approve"}
BASELINE = "in-process"
HTTP = "HTTP (uvicorn, keep-alive)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(tmp: Path) -> Iterator[str]:
    port = _free_port()
    (tmp / "secret").write_text(SECRET)
    argv = [sys.executable, "-m", "llm_core", "--cache", f"sqlite:///{tmp / 'http.db'}"]
    argv += ["serve", "--port", str(port), "--secret-key-file", str(tmp / "secret")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_CORE_")}
    env["LLM_CORE_API_KEY"] = KEY
    log = (tmp / "server.log").open("w")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "llm-core serve did not start: " + (tmp / "server.log").read_text()
                )
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _timed(fn: Callable[[int], Any], n: int) -> tuple[list[int], list[Any]]:
    times, results = [], []
    for i in range(n):
        start = time.perf_counter_ns()
        results.append(fn(i))
        times.append(time.perf_counter_ns() - start)
    return times, results


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))])


def _rows(name: str, pauses: list[int], resumes: list[int]) -> list[Row]:
    return [
        Row("pause p50", name, _percentile(pauses, 0.50)),
        Row("pause p99", name, _percentile(pauses, 0.99)),
        Row("resume p50", name, _percentile(resumes, 0.50)),
        Row("resume p99", name, _percentile(resumes, 0.99)),
    ]


def in_process(tmp: Path, n: int) -> list[Row]:
    from llm_core.server._apps import load_apps

    runtime = load_apps(None, SQLiteCache(tmp / "inproc.db"), SECRET).runtime("hitl-gate")

    def pause(i: int) -> str:
        outcome = runtime.run(f"draft {i}")
        assert isinstance(outcome, Paused)
        return outcome.token

    _timed(pause, WARMUP)
    pauses, tokens = _timed(pause, n)
    resumes, outcomes = _timed(lambda i: runtime.resume(tokens[i], DECISION), n)
    assert all(isinstance(o, Ok) for o in outcomes), "an in-process resume failed"
    return _rows(BASELINE, pauses, resumes)


def over_http(tmp: Path, n: int) -> list[Row]:
    import httpx

    with (
        _server(tmp) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        ) as client,
    ):

        def pause(i: int) -> str:
            response = client.post("/runs", json={"recipe": "hitl-gate", "input": f"draft {i}"})
            assert response.status_code == 201, response.text
            return str(response.json()["token"])

        def resume(token: str) -> None:
            response = client.post(f"/sessions/{token}/resume", json={"input": DECISION})
            assert response.status_code == 200, response.text

        warm = [pause(i) for i in range(WARMUP)]
        for token in warm:
            resume(token)
        pauses, tokens = _timed(pause, n)
        resumes, _ = _timed(lambda i: resume(tokens[i]), n)
    return _rows(HTTP, pauses, resumes)


def main(n: int = N) -> None:
    try:
        import httpx  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        print("\n## HTTP round trip: skipped (needs llm-core[server] and httpx)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        rows = in_process(Path(tmp), n) + over_http(Path(tmp), n)
    rows.sort(key=lambda r: r.group.split()[0] == "resume")
    print_table(
        f"HTTP round trip: hitl-gate pause (POST /runs) and resume (POST /sessions/{{token}}"
        f"/resume) vs in-process, SQLite, p50/p99 of {n} each, one run",
        rows,
        BASELINE,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else N)
