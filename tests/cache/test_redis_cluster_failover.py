"""A Redis Cluster that loses a master: its slots answer ``cache_unavailable``, the others keep
working, and after the master is restarted from its own data nothing is lost or doubled.

A private 3-master cluster of this test's own (the session's shared cluster is never touched):
each node appends every write to its AOF and fsyncs it before replying (``appendonly yes``,
``appendfsync always``), so a master killed with ``SIGKILL`` restarts from its folder with
every write it acknowledged.  ``cluster-require-full-coverage no``: without it (Redis's
default) every master refuses every command (``CLUSTERDOWN``) once the others mark the lost
master failed, a node timeout later; with it they go on serving their own slots.  No replicas,
so no failover: the lost master's slots wait for it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from llm_core import Error, Ok, Paused, recipes
from llm_core.cache import RedisCache
from llm_core.errors import CacheUnavailableError
from llm_core.sessions import SESSION_KEY_PREFIX
from tests.redis_cluster_support import PrivateRedisCluster, _ask
from tests.redis_support import unique_prefix

pytestmark = pytest.mark.slow

SECRET = "cluster-failover-secret-key-0123456789"
APPROVE = {"decision": "approve"}
NODE_TIMEOUT_MS = 1000


class DurableCluster(PrivateRedisCluster):
    """Masters that keep every acknowledged write across ``SIGKILL`` and serve their own slots
    while another master is down; :meth:`kill` and :meth:`restart` one of them."""

    def __init__(self, masters: int = 3) -> None:
        missing = [b for b in ("redis-server", "redis-cli") if shutil.which(b) is None]
        if missing and os.environ.get("LLM_CORE_REQUIRE_REDIS"):
            pytest.fail(f"{missing} not installed and LLM_CORE_REQUIRE_REDIS is set")
        super().__init__(masters)

    def _start_node(self, port: int) -> None:
        assert self.folder is not None
        node_dir = self.folder / str(port)
        node_dir.mkdir(exist_ok=True)
        self.processes[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
             "--cluster-require-full-coverage", "no",
             "--dir", str(node_dir), "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def kill(self, port: int) -> None:
        """``SIGKILL`` the master on ``port`` (a process this object started)."""
        process = self.processes.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def restart(self, port: int, timeout: float = 20.0) -> float:
        """Start the master on ``port`` again from its folder (its ``nodes.conf`` and AOF) and
        wait until every node says ``cluster_state:ok`` and it answers for its own slots;
        the seconds that took."""
        started = time.monotonic()
        deadline = started + timeout
        self._start_node(port)
        self._wait(lambda: _ask(port, "PING").startswith(b"+PONG"), deadline, port)
        for each in self.ports:
            self._wait(lambda p=each: self.state_ok(p), deadline, each)
        return time.monotonic() - started


@pytest.fixture
def cluster() -> Iterator[DurableCluster]:
    with DurableCluster(masters=3) as started:
        yield started


def master_of(cache: RedisCache, token: str) -> int:
    """The port of the master whose slots hold ``token``'s session record."""
    node = cache.client.get_node_from_key(cache.prefix + SESSION_KEY_PREFIX + token)
    return int(node.port)


def kind(outcome: Any) -> str:
    if isinstance(outcome, Ok | Paused):
        return "ok" if isinstance(outcome, Ok) else "paused"
    assert isinstance(outcome, Error), outcome
    return outcome.kind


def test_a_stopped_master_is_cache_unavailable_on_its_slots_and_loses_nothing(
    cluster: DurableCluster,
) -> None:
    cache = RedisCache(
        url=cluster.url, prefix=unique_prefix("failover"), socket_timeout=2,
        socket_connect_timeout=1,
    )  # fmt: skip
    runtime = recipes.hitl_gate(cache, secret_key=SECRET)
    victim = cluster.ports[1]

    # 300 sessions over the three masters; 60 of them resumed before the stop
    tokens = []
    for i in range(300):
        paused = runtime.run(f"draft {i}")
        assert isinstance(paused, Paused), paused
        tokens.append(paused.token)
    where = {t: master_of(cache, t) for t in tokens}
    spread = Counter(where.values())
    assert set(spread) == set(cluster.ports) and min(spread.values()) > 50, spread
    done_before = tokens[:60]
    assert all(isinstance(runtime.resume(t, APPROVE), Ok) for t in done_before)
    pending = tokens[60:]
    on_victim = [t for t in pending if where[t] == victim]
    elsewhere = [t for t in pending if where[t] != victim]

    cluster.kill(victim)
    killed_at = time.monotonic()
    oks: Counter[str] = Counter()  # every Ok a resume returned, whenever: each token once
    down: dict[str, Counter[str]] = {
        name: Counter() for name in ("resume victim", "resume other", "completed victim",
                                     "completed other", "pause", "async")
    }  # fmt: skip
    resumed_while_down = elsewhere[: len(elsewhere) // 2]

    # while it is down: its slots answer cache_unavailable, the others work as before
    for token in on_victim:
        outcome = runtime.resume(token, APPROVE)
        down["resume victim"][kind(outcome)] += 1
        oks[token] += isinstance(outcome, Ok)
    for token in resumed_while_down:
        outcome = runtime.resume(token, APPROVE)
        down["resume other"][kind(outcome)] += 1
        oks[token] += isinstance(outcome, Ok)
    for token in done_before:
        group = "completed victim" if where[token] == victim else "completed other"
        down[group][kind(runtime.resume(token, APPROVE))] += 1
    paused_while_down = []
    for i in range(150):
        outcome = runtime.run(f"during {i}")
        down["pause"][kind(outcome)] += 1
        if isinstance(outcome, Paused):
            assert master_of(cache, outcome.token) != victim  # never a Paused it did not store
            paused_while_down.append(outcome.token)
        else:
            assert isinstance(outcome, Error) and outcome.kind == "cache_unavailable", outcome
    with pytest.raises(CacheUnavailableError):
        runtime.sessions()  # a listing that cannot read every master is not a partial list

    async def async_face() -> list[Any]:
        # a cache of its own: aclose() closes the sync client too
        acache = RedisCache(url=cluster.url, prefix=cache.prefix, socket_connect_timeout=1)
        aruntime = recipes.hitl_gate(acache, secret_key=SECRET)
        results = [await aruntime.aresume(t, APPROVE) for t in on_victim[:10]]
        results += [await aruntime.arun(f"async {i}") for i in range(15)]
        await acache.aclose()
        return results

    for outcome in asyncio.run(async_face()):
        if isinstance(outcome, Paused):
            paused_while_down.append(outcome.token)
            down["async"]["paused"] += 1
        else:
            down["async"][kind(outcome)] += 1
    down_for = time.monotonic() - killed_at

    assert down["resume victim"] == {"cache_unavailable": len(on_victim)}
    assert down["resume other"] == {"ok": len(resumed_while_down)}
    assert set(down["completed victim"]) == {"cache_unavailable"}
    assert set(down["completed other"]) == {"session_already_resumed"}
    assert set(down["pause"]) == {"paused", "cache_unavailable"}  # by where the token lands
    assert set(down["async"]) <= {"paused", "cache_unavailable"}
    assert down["async"]["cache_unavailable"] >= 10

    # restarted from its own folder: every session not resumed resumes, exactly once
    back_in = cluster.restart(victim)
    late: Counter[str] = Counter()
    strange: list[str] = []
    for token in pending + paused_while_down:
        outcome = runtime.resume(token, APPROVE)
        late[kind(outcome)] += 1
        if kind(outcome) not in ("ok", "session_already_resumed"):
            strange.append(f"{where.get(token)}: {outcome.kind} {outcome.error!r}")
        oks[token] += isinstance(outcome, Ok)
    finally_: Counter[str] = Counter()
    for token in tokens + paused_while_down:  # a second look: all completed, none resumable
        finally_[kind(runtime.resume(token, APPROVE))] += 1
    listed = [s for s in runtime.sessions() if s.status == "pending"]

    every = tokens[60:] + paused_while_down
    lost = [t for t in every if oks[t] == 0]
    doubled = [t for t in every if oks[t] > 1]
    print(
        f"\n[cluster failover] 300 sessions over masters {dict(spread)}; master {victim} "
        f"SIGKILLed for {down_for:.1f} s: {dict((k, dict(v)) for k, v in down.items())}; "
        f"back (cluster ok) {back_in:.1f} s after its restart (AOF, appendfsync always); then "
        f"{dict(late)}; a last resume of all {len(tokens) + len(paused_while_down)}: "
        f"{dict(finally_)}; pending still listed: {len(listed)}; "
        f"lost: {len(lost)}; completed twice: {len(doubled)}"
    )
    assert strange == []
    assert lost == []
    assert doubled == []
    assert late == {"ok": len(pending) - len(resumed_while_down) + len(paused_while_down),
                    "session_already_resumed": len(resumed_while_down)}  # fmt: skip
    assert finally_ == {"session_already_resumed": len(tokens) + len(paused_while_down)}
    assert listed == []
    cache.clear()
    cache.close()
