"""A real ``llm-core serve`` in a subprocess on a free loopback port, for the server tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"key-ada-0123456789abcdef": "Ada Lovelace", "key-bob-0123456789abcdef": "Bob"}
ADA, BOB = list(KEYS)
SECRET = "s" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    cache_url: str
    process: subprocess.Popen[str]
    log: Path

    def client(self, key: str | None = ADA, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serve(
    tmp: Path,
    *args: str,
    keys: dict[str, str] | None = KEYS,
    app: str | None = "tests.server.sample_app:workflow",
    env: dict[str, str] | None = None,
    cache_url: str | None = None,
) -> Iterator[Server]:
    port = free_port()
    cache_url = cache_url or f"sqlite:///{tmp / 'sessions.db'}"
    (tmp / "secret").write_text(SECRET)
    argv = [sys.executable, "-m", "llm_core", "--cache", cache_url, "serve", "--port", str(port)]
    argv += ["--secret-key-file", str(tmp / "secret")]
    if keys is not None:
        (tmp / "keys.json").write_text(json.dumps(keys))
        argv += ["--api-keys", str(tmp / "keys.json")]
    if app is not None:
        argv += ["--app", app]
    full_env = {**os.environ, **(env or {})}
    for name in ("LLM_CORE_CACHE_URL", "LLM_CORE_API_KEY", "LLM_CORE_APP", "LLM_CORE_WEBHOOK_URL"):
        full_env.pop(name, None)
    log = tmp / f"server-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*argv, *args], cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    server = Server(f"http://127.0.0.1:{port}", cache_url, process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {server.output()}")
            try:
                if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {server.output()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
