"""Typed state on Redis: a LangChain conversation and a registered pydantic model pause in one
process and resume in another (the twin of the SQLite test in ``test_typed_state.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from llm_core import Paused
from llm_core.cache import RedisCache

# skips (at import) without langchain-core and pydantic, like the SQLite twin
from tests.sessions.test_typed_state import Order, echo_flow, typed_state
from tests.workflow.support import cache_plugin


def test_typed_state_resumes_in_another_process_on_redis(redis_url: str, redis_prefix: str) -> None:
    cache = RedisCache.from_url(redis_url, prefix=redis_prefix)
    try:
        runtime = echo_flow().use(cache_plugin(cache)).build(state_types=[Order])
        paused = runtime.run(typed_state())
        assert isinstance(paused, Paused), paused
        token = paused.token
    finally:
        cache.close()
    script = f"""
import sys; sys.path.insert(0, {str(Path.cwd())!r})
from llm_core.cache import RedisCache
from tests.sessions.test_typed_state import Order, echo_flow, typed_state
from tests.workflow.support import cache_plugin
cache = RedisCache.from_url({redis_url!r}, prefix={redis_prefix!r})
runtime = echo_flow().use(cache_plugin(cache)).build(state_types=[Order])
done = runtime.resume({token!r}, "ok")
artefact = {{k: v for k, v in done.artefact.items() if k != "answer"}}
expected = typed_state()
same_types = [type(m) for m in artefact["messages"]] == [type(m) for m in expected["messages"]]
same_types = same_types and type(artefact["order"]) is Order and type(artefact["pair"]) is tuple
args = artefact["messages"][2].tool_calls[0]["args"]
print(done.status, artefact == expected, same_types, args == {{"order": 42, "amount": "9.99"}})
again = runtime.resume({token!r}, "ok")
print(again.status)
cache.close()
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["ok", "True", "True", "True"], done.stdout + done.stderr
    assert lines[1] == "error", done.stdout  # the token is spent: a second resume does not run
