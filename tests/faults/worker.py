"""Worker processes for the fault tests: a real runtime on a real cache, driven from argv.

    python -m tests.faults.worker resume SPEC_JSON    # resume tokens, print a JSON report
    python -m tests.faults.worker hold SPEC_JSON      # resume one token; block inside the step
    python -m tests.faults.worker pause SPEC_JSON     # pause sessions, print their tokens (JSON)

The workflow (``faults``) pauses once with an ``expects`` schema.  On resume its step appends
``"<n> <ctx.idempotency_key> <pid>"`` to a side-effect log that bypasses the faulty path (a Redis
list on the server itself, or a file), so the test can count every run of the resumed step.
``{"decision": "explode"}`` passes the schema and makes the step raise (the claim is released);
``{"decision": "nope"}`` is refused by the schema before the claim.
"""

from __future__ import annotations

import heapq
import json
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from llm_core import Error, Ok, Paused, cache_from_url
from llm_core.cache import RedisCache
from llm_core.errors import CacheUnavailableError
from llm_core.workflow import AdapterBundle, Plugin, Runtime, StepContext, Workflow

SECRET = "fault-tests-secret-key-0123456789"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"decision": {"enum": ["approve", "explode"]}},
    "required": ["decision"],
    "additionalProperties": False,
}
GOOD = {"decision": "approve"}
REFUSED = {"decision": "nope"}  # not in the enum: refused before the claim
RAISES = {"decision": "explode"}  # accepted, then the step raises: the claim is released


class SideEffects:
    """Where the resumed step records each run: a Redis list (``redis://…``) or a file."""

    def __init__(self, target: str, hold: str | None = None) -> None:
        self.target, self.hold = target, hold
        self._client: Any = None
        if target.startswith("redis://"):
            import redis

            url, _, self.list_key = target.partition("#")
            self._client = redis.Redis.from_url(url)

    def record(self, line: str) -> None:
        if self._client is not None:
            self._client.rpush(self.list_key, line)
        else:
            with open(self.target, "a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())

    def block(self) -> None:
        """Announce that the step is running, then wait for ever (until SIGKILL)."""
        if self.hold is None:
            return
        Path(self.hold).write_text(str(os.getpid()), encoding="utf-8")
        while True:
            time.sleep(0.05)


def workflow(effects: SideEffects) -> Workflow:
    def gate(ctx: StepContext, state: dict[str, Any]) -> Any:
        if not ctx.resumed:
            return ctx.pause(kind="human", payload={"n": state["n"]}, expects=SCHEMA)
        if ctx.resume_input["decision"] == "explode":
            raise RuntimeError("the side effect failed")
        effects.record(f"{state['n']} {ctx.idempotency_key} {os.getpid()}")
        effects.block()
        return {**state, "decision": ctx.resume_input["decision"]}

    def finish(ctx: StepContext, state: dict[str, Any]) -> Any:
        return {**state, "done": True}

    return Workflow("faults", [gate, finish])


def runtime(cache: Any, effects: SideEffects, lease_ttl: float = 1) -> Runtime:
    plugin = Plugin(key="cache", adapters=AdapterBundle(cache=cache))
    return workflow(effects).use(plugin).build(lease_ttl=lease_ttl, secret_key=SECRET)


def built(spec: dict[str, Any], effects: SideEffects) -> tuple[Runtime, int]:
    """The runtime of ``spec`` and how many times building it met ``CacheUnavailableError``.

    Building registers the session index with the cache (``index_prefix``), which on
    PostgresCache is a statement, so a lost reply can fail the build itself: it is tried again,
    as a supervisor restarts a process that could not start."""
    cache = make_cache(spec)
    for failures in range(50):
        try:
            return runtime(cache, effects, float(spec["lease_ttl"])), failures
        except CacheUnavailableError:
            time.sleep(0.01)
    raise RuntimeError("could not build the runtime 50 times")


def make_cache(spec: dict[str, Any]) -> Any:
    url = spec["cache_url"]
    if url.startswith("redis://"):
        return RedisCache(url=url, prefix=spec["prefix"], retries=spec.get("retries", 3))
    return cache_from_url(url)


def _retry_after(outcome: Error, lease_ttl: float) -> float:
    for d in outcome.diagnostics:
        if d.data and isinstance(d.data.get("retry_after"), int | float):
            return float(d.data["retry_after"])
        if d.data and isinstance(d.data.get("resumable_after"), int | float):
            return float(d.data["resumable_after"])
    return time.time() + lease_ttl


def resume_all(spec: dict[str, Any]) -> dict[str, Any]:
    """Resume each of ``spec["tokens"]`` ({"n", "token"}); every fourth one first with input the
    schema refuses, every fourth-plus-one first with input that makes the step raise.  Retry on
    ``cache_unavailable`` (at once) and ``session_busy`` (when the lease ends), with one
    ``request_id`` per token.  Then, if ``spec["strays"]``, resume those tokens once each without
    a request_id (they belong to another worker: it must never complete them twice)."""
    lease = float(spec["lease_ttl"])
    effects = SideEffects(spec["effects"])
    rt, build_failures = built(spec, effects)
    kinds: Counter[str] = Counter()
    report: dict[str, Any] = {"tokens": {}, "anomalies": [], "kinds": kinds, "retries": 0}
    report["build_failures"] = build_failures
    queue: list[tuple[float, int, str, dict[str, Any]]] = []
    for item in spec["tokens"]:
        n, token = item["n"], item["token"]
        phase = "refused" if n % 4 == 0 else "raises" if n % 4 == 1 else "good"
        entry = {"n": n, "request_id": uuid.uuid4().hex, "fresh": 0, "replayed": 0, "tries": 0}
        report["tokens"][token] = entry
        heapq.heappush(queue, (0.0, n, phase, {"token": token}))
    while queue:
        when, n, phase, item = heapq.heappop(queue)
        delay = when - time.time()
        if delay > 0:
            time.sleep(delay)
        token = item["token"]
        entry = report["tokens"][token]
        entry["tries"] += 1
        if entry["tries"] > 200:
            report["anomalies"].append(f"{n}: gave up after 200 tries")
            continue
        if entry["tries"] > 1:
            report["retries"] += 1
        if phase == "good":
            outcome = rt.resume(token, GOOD, request_id=entry["request_id"])
        else:
            outcome = rt.resume(token, REFUSED if phase == "refused" else RAISES)
        kind = "ok" if isinstance(outcome, Ok) else getattr(outcome, "kind", "paused")
        kinds[f"{phase}:{kind}"] += 1
        if isinstance(outcome, Ok):
            if phase != "good":
                report["anomalies"].append(f"{n}: bad input ({phase}) returned Ok")
            elif outcome.replayed:
                entry["replayed"] += 1
            else:
                entry["fresh"] += 1
            continue
        assert isinstance(outcome, Error)
        if outcome.kind == "cache_unavailable":
            heapq.heappush(queue, (time.time() + 0.005, n, phase, item))
        elif outcome.kind == "session_busy":
            heapq.heappush(queue, (_retry_after(outcome, lease) + 0.01, n, phase, item))
        elif phase == "refused" and outcome.kind == "invalid_resume_input":
            assert outcome.resumable, outcome
            heapq.heappush(queue, (0.0, n, "good", item))
        elif outcome.kind == "session_already_resumed":
            entry["taken"] = True  # a stray resume of another worker completed it first
        elif phase == "raises" and outcome.kind == "step_failed":
            # released (resumable) -- or the release was lost: claimed until its lease ends
            when = 0.0 if outcome.resumable else _retry_after(outcome, lease) + 0.01
            if not outcome.resumable:
                codes = ",".join(sorted({d.code for d in outcome.diagnostics}))
                kinds[f"raises:not_released({codes})"] += 1
            heapq.heappush(queue, (when, n, "good", item))
        else:
            report["anomalies"].append(f"{n}: {phase} attempt ended {outcome.kind}")
    strays: Counter[str] = Counter()
    for token in spec.get("strays", []):
        outcome = rt.resume(token, GOOD)
        kind = "ok" if isinstance(outcome, Ok) else getattr(outcome, "kind", "paused")
        strays[kind] += 1
        if isinstance(outcome, Ok):
            report.setdefault("stray_fresh", []).append(token)
    report["strays"] = strays
    return report


def pause_all(spec: dict[str, Any]) -> dict[str, Any]:
    """Pause sessions ``spec["first"]`` .. ``first + count - 1`` (``{"n": …}``).  A pause the
    cache did not confirm (``cache_unavailable``) is run again, as a new session: the first may
    have been stored, but its token was never told to anyone (an orphan, left to expire)."""
    effects = SideEffects(spec["effects"])
    rt, build_failures = built(spec, effects)
    kinds: Counter[str] = Counter()
    report: dict[str, Any] = {"tokens": [], "anomalies": [], "kinds": kinds}
    report["build_failures"] = build_failures
    for n in range(spec["first"], spec["first"] + spec["count"]):
        for _ in range(200):
            outcome = rt.run({"n": n})
            kind = "paused" if isinstance(outcome, Paused) else getattr(outcome, "kind", "ok")
            kinds[kind] += 1
            if isinstance(outcome, Paused):
                report["tokens"].append({"n": n, "token": outcome.token})
                break
            if kind != "cache_unavailable":
                report["anomalies"].append(f"{n}: pause ended {kind}")
                break
        else:
            report["anomalies"].append(f"{n}: gave up pausing after 200 tries")
    return report


def hold(spec: dict[str, Any]) -> int:
    """Resume one token with good input; the step records its run, then blocks (to be killed)."""
    effects = SideEffects(spec["effects"], hold=spec["hold"])
    rt = runtime(make_cache(spec), effects, float(spec["lease_ttl"]))
    outcome = rt.resume(spec["token"], GOOD)
    print(json.dumps({"unexpected": repr(outcome)}))
    return 1


def main(argv: list[str]) -> int:
    mode, spec = argv[1], json.loads(Path(argv[2]).read_text("utf-8"))
    if mode == "resume":
        sys.stdout.write(json.dumps(resume_all(spec)) + "\n")
        return 0
    if mode == "pause":
        sys.stdout.write(json.dumps(pause_all(spec)) + "\n")
        return 0
    return hold(spec)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
