"""A bounded loopback load test: 1,000 runs and 1,000 resumes through the API from 50
concurrent clients (plus 100 racing duplicate resumes) → every session accounted for, none
answered twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from llm_core import SessionStore, cache_from_url
from tests.server.support import ADA, SECRET, serve

pytestmark = pytest.mark.slow

RUNS = 1000
CLIENTS = 50
RACERS = 100


def test_1000_runs_and_resumes_from_50_clients(tmp_path: Path) -> None:
    local = threading.local()
    clients: list[httpx.Client] = []

    def client(url: str) -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {ADA}"}, timeout=60
            )
            clients.append(local.client)
        return local.client  # type: ignore[no-any-return]

    with serve(tmp_path) as server:

        def pool(fn: Callable[[int], Any], count: int) -> list[Any]:
            with ThreadPoolExecutor(CLIENTS) as executor:
                return list(executor.map(fn, range(count)))

        def run(i: int) -> str:
            response = client(server.url).post(
                "/runs", json={"recipe": "hitl-gate", "input": f"draft {i}"}
            )
            assert response.status_code == 201, response.text
            return str(response.json()["token"])

        started = time.perf_counter()
        tokens = pool(run, RUNS)
        assert len(set(tokens)) == RUNS

        # each token once, plus RACERS tokens a second time by another client, interleaved
        jobs = [(t, f"a-{t}") for t in tokens] + [(t, f"b-{t}") for t in tokens[:RACERS]]
        jobs.sort(key=lambda job: (tokens.index(job[0]), job[1]))

        def resume(j: int) -> tuple[str, int, str]:
            token, key = jobs[j]
            response = client(server.url).post(
                f"/sessions/{token}/resume",
                json={"input": {"decision": "approve"}},
                headers={"Idempotency-Key": key},
            )
            kind = response.json().get("kind", "") if response.status_code != 200 else ""
            return token, response.status_code, kind

        results = pool(resume, len(jobs))
        elapsed = time.perf_counter() - started
        for made in clients:
            made.close()

        answered = Counter(token for token, status, _ in results if status == 200)
        assert set(answered) == set(tokens)  # every session answered...
        assert max(answered.values()) == 1  # ...and none twice
        refused = Counter(kind for _, status, kind in results if status != 200)
        assert sum(refused.values()) == RACERS
        assert set(refused) <= {"session_busy", "session_already_resumed"}, refused

        store = SessionStore(cache_from_url(server.cache_url), secret_key=SECRET)
        statuses = Counter(
            record.status for record in (store.record(t) for t in tokens) if record is not None
        )
        assert statuses == {"completed": RUNS}  # every session accounted for
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADA}"}) as api:
            assert api.get("/sessions", params={"limit": 500}).json()["items"] == []
        assert elapsed < 240, elapsed
        print(f"\n{RUNS} runs + {len(jobs)} resumes, {CLIENTS} clients: {elapsed:.1f} s")
