"""The session lifecycle under faults: lost replies, killed resumers, a flood of bad input.

Real ``redis-server`` processes (``PrivateRedis``), real worker processes, real SQLite files;
faults come from :class:`tests.faults.proxy.FaultProxy` (a TCP proxy between the runtime and
Redis) and from ``SIGKILL``.  Each test prints what it measured (``pytest -s`` shows it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from llm_core import Error, Ok, Paused
from llm_core.cache import RedisCache
from llm_core.sessions import SESSION_KEY_PREFIX
from tests.faults import worker
from tests.faults.proxy import FaultProxy
from tests.redis_support import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
TOKENS = 2000
WORKERS = 4
LEASE = 1.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateRedis]:
    with PrivateRedis(args=("--maxmemory-policy", "noeviction")) as started:
        yield started


def pause_many(cache: Any, effects: worker.SideEffects, count: int) -> list[str]:
    rt = worker.runtime(cache, effects, LEASE)
    tokens = []
    for n in range(count):
        outcome = rt.run({"n": n})
        assert isinstance(outcome, Paused), outcome
        tokens.append(outcome.token)
    return tokens


def records(url: str, prefix: str, tokens: list[str]) -> dict[str, dict[str, Any] | None]:
    """Each token's record as stored (the JSON body after the signed envelope's first line)."""
    client = redis.Redis.from_url(url)
    found: dict[str, dict[str, Any] | None] = {}
    for start in range(0, len(tokens), 500):
        chunk = tokens[start : start + 500]
        values = client.mget([prefix + SESSION_KEY_PREFIX + t for t in chunk])
        for token, raw in zip(chunk, values, strict=True):
            found[token] = None if raw is None else json.loads(raw.split(b"\n", 1)[1])
    client.close()
    return found


def start_worker(mode: str, spec: dict[str, Any], path: Path) -> subprocess.Popen[str]:
    path.write_text(json.dumps(spec), encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults.worker", mode, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]


# --- 2,000 resumes from 4 processes, 10 % of replies dropped -------------------------------


@pytest.mark.parametrize("retries", [3, 0], ids=["redis-py-retries", "no-retries"])
def test_lost_replies_never_complete_a_session_twice_nor_lose_one(
    server: PrivateRedis, tmp_path: Path, retries: int
) -> None:
    started = time.perf_counter()
    prefix = f"lost-{retries}:"
    log_key = f"effects-{retries}"
    effects = f"{server.url}#{log_key}"
    direct = RedisCache(url=server.url, prefix=prefix)
    tokens = pause_many(direct, worker.SideEffects(effects), TOKENS)
    chunks = [tokens[i::WORKERS] for i in range(WORKERS)]
    number = {token: n for n, token in enumerate(tokens)}
    # 10 % of replies dropped after the server ran the command; 1 % of commands reset before
    # they reach it (so some claims and commits never land: a lease must run out)
    with FaultProxy(server.port, drop_rate=0.10, reset_rate=0.01, seed=retries) as proxy:
        processes = [
            start_worker(
                "resume",
                {
                    "cache_url": proxy.url,
                    "prefix": prefix,
                    "retries": retries,
                    "lease_ttl": LEASE,
                    "effects": effects,
                    "tokens": [{"n": number[t], "token": t} for t in chunk],
                    "strays": chunks[(i + 1) % WORKERS],  # another worker's tokens, no request_id
                },
                tmp_path / f"spec{i}.json",
            )
            for i, chunk in enumerate(chunks)
        ]
        reports = [finish(p) for p in processes]
        commands, dropped = proxy.commands, dict(proxy.dropped_by_command)
        resets = proxy.resets
    faulty = time.perf_counter() - started

    fresh: Counter[str] = Counter()
    replayed: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    strays: Counter[str] = Counter()
    owner_request: dict[str, str] = {}
    anomalies: list[str] = []
    for report in reports:
        anomalies += report["anomalies"]
        kinds.update(report["kinds"])
        strays.update(report["strays"])
        for token, entry in report["tokens"].items():
            fresh[token] += entry["fresh"]
            replayed[token] += entry["replayed"]
            owner_request[token] = entry["request_id"]
        for token in report.get("stray_fresh", []):
            fresh[token] += 1
    worker_retries = sum(r["retries"] for r in reports)

    # Redis itself: every token completed (by its owner's request, or a stray's), or resumable
    stored = records(server.url, prefix, tokens)
    status = Counter(r["status"] if r else "absent" for r in stored.values())
    leftovers = [t for t, r in stored.items() if r is not None and r["status"] != "completed"]
    time.sleep(LEASE + 0.1)  # any claim left by a lost release has run out by now
    rt = worker.runtime(direct, worker.SideEffects(effects), LEASE)
    finished_late = 0
    for token in leftovers:
        outcome = rt.resume(token, worker.GOOD)
        assert isinstance(outcome, Ok), outcome
        fresh[token] += 1
        finished_late += 1
    final = records(server.url, prefix, tokens)
    runs = Counter[str]()
    keys_of: dict[int, set[str]] = {}
    for line in redis.Redis.from_url(server.url).lrange(log_key, 0, -1):
        n, key, _pid = line.decode().split()
        runs[n] += 1
        keys_of.setdefault(int(n), set()).add(key)

    completed_twice = [t for t in tokens if fresh[t] > 1]
    lost = [t for t, r in final.items() if r is None or r["status"] != "completed"]
    not_ours = [
        t
        for t, r in final.items()
        if r is not None and r.get("request_id") not in (owner_request[t], None)
    ]
    reran = sum(1 for n in runs.values() if n > 1)
    reply_lost_but_completed = sum(1 for t in tokens if fresh[t] == 0)
    print(
        f"\n[lost replies, redis-py retries={retries}] {TOKENS} sessions, {WORKERS} processes: "
        f"{commands} commands through the proxy, {sum(dropped.values())} replies dropped "
        f"{dropped}, {resets} commands reset before reaching Redis; "
        f"{worker_retries} worker retries; outcomes {dict(sorted(kinds.items()))}; "
        f"stray resumes {dict(strays)}; stored before the final pass {dict(status)}; "
        f"completions: {sum(fresh.values())} fresh Ok + {sum(replayed.values())} replays "
        f"({reply_lost_but_completed} completed with their reply lost, then replayed or "
        f"reported already resumed); {finished_late} still resumable, then resumed once; "
        f"step re-runs after a lost claim/commit: {reran} (same idempotency key); "
        f"completed twice: {len(completed_twice)}; lost: {len(lost)}; "
        f"{faulty:.1f} s under faults"
    )
    assert anomalies == []
    assert completed_twice == []
    assert lost == []
    assert not_ours == []
    assert all(len(keys) == 1 for keys in keys_of.values())  # one idempotency key per session
    assert set(keys_of) == set(range(TOKENS))  # every session's step ran
    assert sum(dropped.values()) > 0.05 * commands


# --- SIGKILL in the middle of a resumed step -----------------------------------------------


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "sqlite":
        return {
            "cache_url": f"sqlite:///{tmp_path / 'sessions.db'}",
            "effects": str(tmp_path / "effects.log"),
        }
    server = request.getfixturevalue("server")
    return {
        "cache_url": server.url,
        "prefix": f"kill-{time.time_ns()}:",
        "effects": f"{server.url}#effects-kill-{time.time_ns()}",
    }


def effect_lines(spec: dict[str, Any]) -> list[list[str]]:
    target = spec["effects"]
    if target.startswith("redis://"):
        url, _, key = target.partition("#")
        raw = redis.Redis.from_url(url).lrange(key, 0, -1)
        return [line.decode().split() for line in raw]
    return [line.split() for line in Path(target).read_text("utf-8").splitlines()]


def test_a_killed_resumer_s_session_is_completed_once_after_its_lease(
    backend: dict[str, Any], tmp_path: Path
) -> None:
    kills = 4
    spec = {**backend, "lease_ttl": LEASE}
    cache = worker.make_cache(spec)
    tokens = pause_many(cache, worker.SideEffects(spec["effects"]), kills)
    holders = []
    for i, token in enumerate(tokens):
        hold = tmp_path / f"hold{i}"
        holders.append((hold, start_worker("hold", {**spec, "token": token, "hold": str(hold)},
                                           tmp_path / f"hold{i}.json")))  # fmt: skip
    deadline = time.monotonic() + 30
    while not all(h.exists() for h, _ in holders):
        assert time.monotonic() < deadline, [p.poll() for _, p in holders]
        time.sleep(0.02)
    for _, process in holders:  # each is inside the resumed step, holding the claim
        os.kill(process.pid, signal.SIGKILL)
    for _, process in holders:
        process.wait(10)
        assert process.returncode == -signal.SIGKILL
    killed_at = time.time()

    rt = worker.runtime(cache, worker.SideEffects(spec["effects"]), LEASE)
    busy = [rt.resume(t, worker.GOOD) for t in tokens]  # within the lease: busy, untouched
    assert [getattr(o, "kind", None) for o in busy] == ["session_busy"] * kills

    time.sleep(max(0.0, killed_at + LEASE + 0.05 - time.time()))
    taker = start_worker(
        "resume",
        {**spec, "tokens": [{"n": 4 * i + 2, "token": t} for i, t in enumerate(tokens)]},
        tmp_path / "taker.json",
    )  # n % 4 == 2: good input at once
    report = finish(taker)
    again = [rt.resume(t, worker.GOOD) for t in tokens]

    lines = effect_lines(spec)
    by_session: dict[str, list[tuple[str, str]]] = {}
    for n, key, pid in lines:
        by_session.setdefault(n, []).append((key, pid))
    fresh = [e["fresh"] for e in report["tokens"].values()]
    print(
        f"\n[SIGKILL, {spec['cache_url'].split(':')[0]}] {kills} resumers killed mid-step; "
        f"after the {LEASE:.0f} s lease another process completed {sum(fresh)} "
        f"(each exactly once: {fresh}); step runs per session "
        f"{[len(v) for v in by_session.values()]}, one idempotency key each: "
        f"{all(len({k for k, _ in v}) == 1 for v in by_session.values())}"
    )
    assert report["anomalies"] == []
    assert fresh == [1] * kills
    assert [getattr(o, "kind", None) for o in again] == ["session_already_resumed"] * kills
    assert len(by_session) == kills
    for runs in by_session.values():
        assert len(runs) == 2  # the killed attempt and the one that completed
        assert len({key for key, _ in runs}) == 1  # the same ctx.idempotency_key
        assert len({pid for _, pid in runs}) == 2  # in two processes
    if hasattr(cache, "close"):
        cache.close()


# --- 1,000 concurrent aresume with bad input -----------------------------------------------


def test_a_thousand_concurrent_bad_resumes_leave_every_session_resumable(
    server: PrivateRedis,
) -> None:
    count = 1000
    effects = worker.SideEffects(f"{server.url}#effects-flood")
    cache = RedisCache(url=server.url, prefix="flood:")
    rt = worker.runtime(cache, effects, lease_ttl=30)

    async def scenario() -> tuple[list[Any], list[Any], float, float]:
        paused = await asyncio.gather(*(rt.arun({"n": n}) for n in range(count)))
        assert all(isinstance(p, Paused) for p in paused)
        tokens = [p.token for p in paused]
        t0 = time.perf_counter()
        bad = await asyncio.gather(
            *(
                rt.aresume(t, worker.REFUSED if i % 2 else worker.RAISES)
                for i, t in enumerate(tokens)
            )
        )
        t1 = time.perf_counter()
        good = await asyncio.gather(*(rt.aresume(t, worker.GOOD) for t in tokens))
        t2 = time.perf_counter()
        await cache.aclose()
        return bad, good, t1 - t0, t2 - t1

    bad, good, bad_s, good_s = asyncio.run(scenario())
    kinds = Counter(getattr(o, "kind", type(o).__name__) for o in bad)
    print(
        f"\n[flood] {count} concurrent aresume with bad input in {bad_s:.2f} s: {dict(kinds)}, "
        f"resumable {sum(o.resumable for o in bad)}; then {count} good ones in {good_s:.2f} s: "
        f"{Counter(type(o).__name__ for o in good)}"
    )
    assert kinds == {"invalid_resume_input": count // 2, "step_failed": count // 2}
    assert all(isinstance(o, Error) and o.resumable for o in bad)
    assert all(isinstance(o, Ok) and not o.replayed for o in good)


# --- round trips ---------------------------------------------------------------------------


def test_a_pause_is_one_round_trip_and_a_resume_three(server: PrivateRedis) -> None:
    with FaultProxy(server.port) as proxy:
        cache = RedisCache(url=proxy.url, prefix="trips:")
        rt = worker.runtime(cache, worker.SideEffects(f"{server.url}#effects-trips"), 30)
        warm = rt.run({"n": 0})  # connects, loads the script (EVALSHA → NOSCRIPT → EVAL)
        assert isinstance(warm, Paused)
        assert isinstance(rt.resume(warm.token, worker.GOOD), Ok)
        pauses, resumes = [], []
        for n in range(20):
            before = proxy.commands
            paused = rt.run({"n": n})
            assert isinstance(paused, Paused)
            pauses.append(proxy.commands - before)
            before = proxy.commands
            assert isinstance(rt.resume(paused.token, worker.GOOD), Ok)
            resumes.append(proxy.commands - before)

        async def async_trips() -> tuple[int, int]:
            await rt.arun({"n": -1})  # this loop's client connects and warms up
            before = proxy.commands
            paused = await rt.arun({"n": 1})
            middle = proxy.commands
            assert isinstance(await rt.aresume(paused.token, worker.GOOD), Ok)
            await cache.aclose()
            return middle - before, proxy.commands - middle

        apause, aresume = asyncio.run(async_trips())
        by_command = dict(proxy.by_command)
        cache.close()
    print(
        f"\n[round trips] pause {set(pauses)}, resume {set(resumes)} (sync); "
        f"pause {apause}, resume {aresume} (async); commands seen {by_command}"
    )
    assert set(pauses) == {1} and apause == 1  # SET
    assert set(resumes) == {3} and aresume == 3  # GET, EVALSHA (claim), EVALSHA (commit)


# --- a compare-and-set that never reached Redis is sent once more, not misreported ---------


def _reset_the_settling_write(server: PrivateRedis, decision: dict[str, str]) -> dict[str, Any]:
    """Resume with ``decision`` through the proxy without redis-py retries, resetting the
    connection instead of sending the third command of the resume (the commit or release
    ``EVALSHA``): the write never reaches Redis, the confirming ``GET`` then succeeds."""
    log_key = f"effects-unsent-{time.time_ns()}"
    with FaultProxy(server.port) as proxy:
        cache = RedisCache(url=proxy.url, prefix=f"unsent-{time.time_ns()}:", retries=0)
        rt = worker.runtime(cache, worker.SideEffects(f"{server.url}#{log_key}"), LEASE)
        warm = rt.run({"n": 0})  # the script is loaded: a resume is GET, EVALSHA, EVALSHA
        assert isinstance(warm, Paused)
        assert isinstance(rt.resume(warm.token, worker.GOOD), Ok)
        paused = rt.run({"n": 1})
        assert isinstance(paused, Paused)
        proxy.reset_nth(proxy.commands + 3)
        first = rt.resume(paused.token, decision, request_id="r-1")
        right_after = rt.resume(paused.token, worker.GOOD, request_id="r-1")
        time.sleep(LEASE + 0.1)
        later = rt.resume(paused.token, worker.GOOD, request_id="r-1")
        again = rt.resume(paused.token, worker.GOOD, request_id="r-1")
        cache.close()
    runs = [
        line.decode().split()
        for line in redis.Redis.from_url(server.url).lrange(log_key, 0, -1)
        if line.startswith(b"1 ")
    ]
    return {"first": first, "right_after": right_after, "later": later, "again": again,
            "runs": runs}  # fmt: skip


@pytest.mark.parametrize("decision", ["commit", "release"])
def test_an_unsent_commit_or_release_is_sent_again_and_completes_once(
    server: PrivateRedis, decision: str
) -> None:
    """The settling compare-and-set never reaches Redis (the connection is reset instead): the
    confirming read finds the expected bytes, so it is sent once more -- still fenced -- and the
    outcome is the true one, not a lost lease."""
    seen = _reset_the_settling_write(server, worker.GOOD if decision == "commit" else worker.RAISES)
    first, right_after, later, again = (
        seen["first"], seen["right_after"], seen["later"], seen["again"]
    )  # fmt: skip
    print(
        f"\n[unsent {decision}] first {type(first).__name__} "
        f"({getattr(first, 'kind', 'ok')}); right after: {type(right_after).__name__}; "
        f"step runs {len(seen['runs'])}, keys {len({r[1] for r in seen['runs']})}"
    )
    if decision == "commit":
        assert isinstance(first, Ok) and not first.replayed  # committed on the second send
        assert isinstance(right_after, Ok) and right_after.replayed
        assert len(seen["runs"]) == 1
    else:
        assert isinstance(first, Error) and first.kind == "step_failed", first
        assert first.resumable, first.diagnostics
        assert isinstance(right_after, Ok) and not right_after.replayed  # released: no wait
        assert len(seen["runs"]) == 1  # the failed attempt logs no completed effect
    assert isinstance(later, Ok) and later.replayed
    assert isinstance(again, Ok) and again.replayed
    assert len({key for _, key, _ in seen["runs"]}) == 1  # same ctx.idempotency_key
