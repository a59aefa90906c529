"""RedisCache on a Redis Cluster across processes: 4 processes race to resume the same 500
hitl-gate sessions, and each session completes exactly once.

The session's shared 3-master cluster (:func:`tests.redis_cluster_support.redis_cluster`), a
prefix of this test's own (cleared after), worker processes of ``tests.durability.worker``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from llm_core import Paused, cache_from_url, recipes
from llm_core.cache import RedisCache
from llm_core.sessions import SESSION_KEY_PREFIX
from tests.redis_cluster_support import PrivateRedisCluster, redis_cluster
from tests.redis_support import unique_prefix

__all__ = ["redis_cluster"]  # the session fixture

ROOT = Path(__file__).resolve().parents[2]
TOKENS = 500
RACERS = 4


@pytest.mark.slow
def test_four_processes_resuming_the_same_500_tokens_each_once(
    redis_cluster: PrivateRedisCluster, tmp_path: Path
) -> None:
    prefix = unique_prefix("cluster-race")
    url = f"{redis_cluster.url}?prefix={prefix}"
    cache = cache_from_url(url)
    assert isinstance(cache, RedisCache) and cache.cluster
    try:
        runtime = recipes.hitl_gate(cache=cache)
        tokens = []
        for i in range(TOKENS):
            outcome = runtime.run(f"draft {i}")
            assert isinstance(outcome, Paused), outcome
            tokens.append(outcome.token)
        masters = Counter(
            cache.client.get_node_from_key(prefix + SESSION_KEY_PREFIX + t).port for t in tokens
        )
        assert len(masters) == 3, masters  # the sessions are spread over every master

        # two racers go through the tokens in one order, two in the reverse one, all starting
        # at the same instant: every token is fought over
        forward, backward = tmp_path / "forward.txt", tmp_path / "backward.txt"
        forward.write_text("\n".join(tokens))
        backward.write_text("\n".join(reversed(tokens)))
        start = time.time() + 3.0  # every racer is connected and waiting by then
        command = [sys.executable, "-m", "tests.durability.worker", "resume", url]
        racers = [
            subprocess.Popen(
                [*command, str(forward if n % 2 == 0 else backward), str(start)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(RACERS)
        ]
        results: list[list[str]] = []
        for racer in racers:
            out, err = racer.communicate(timeout=120)
            assert racer.returncode == 0, err[-3000:]
            results += [line.split(" ", 1) for line in out.splitlines()]
        elapsed = time.time() - start

        oks = Counter(token for token, status in results if status.startswith("ok:"))
        outcomes = Counter(status.split(":")[0] for _, status in results)
        doubled = [t for t in tokens if oks[t] > 1]
        lost = [t for t in tokens if oks[t] == 0]
        pending = [s for s in runtime.sessions() if s.status == "pending"]
        print(
            f"\n[cluster race] {TOKENS} sessions over masters {dict(masters)}, {RACERS} "
            f"processes resuming all of them: {dict(outcomes)} in {elapsed:.1f} s; "
            f"completed twice: {len(doubled)}; never completed: {len(lost)}; "
            f"still pending: {len(pending)}"
        )
        assert len(results) == RACERS * TOKENS
        assert doubled == [] and lost == []
        assert oks == Counter({token: 1 for token in tokens})
        assert set(outcomes) <= {"ok", "session_busy", "session_already_resumed"}
        assert pending == []
    finally:
        cache.clear()
        cache.close()
