"""Which tests need which extra: the one explicit list, and a pytest plugin that applies it.

Used by ``.ci/lower-bounds`` (each extra installed alone, at its lower bounds, in a fresh venv)::

    PYTHONPATH=.ci python -m pytest -p test_extras --extras-job=redis

``--extras-job=core`` runs the tests that need no extra (in a venv with none installed: the
files listed in ``FILES`` are not even imported); ``--extras-job=NAME`` runs only the tests whose
needs are a non-empty subset of ``{NAME}``; ``--extras-job=all`` runs everything.  A test that
needs an extra and is not listed here fails loudly in the ``core`` job (ImportError), so the list
cannot silently fall behind; a listed path that no longer exists is an error too.

A test's needs are the union of every rule below that matches it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

EXTRAS = ("redis", "langchain", "langgraph", "llamaindex", "postgres", "crypto", "server", "otel")

# Whole test files (never imported without these extras).  langgraph brings langchain-core with
# it, so a LangGraph test file that also touches the LangChain bridge needs only "langgraph".
FILES: dict[str, frozenset[str]] = {
    "tests/cache/test_redis.py": frozenset({"redis"}),
    "tests/cache/test_redis_edges.py": frozenset({"redis"}),
    "tests/cache/test_redis_cas.py": frozenset({"redis"}),
    "tests/sessions/test_encryption.py": frozenset({"crypto"}),
    # LangChain messages and pydantic models in a paused state (langchain-core brings pydantic)
    "tests/sessions/test_typed_state.py": frozenset({"langchain"}),
    "tests/sessions/test_typed_state_redis.py": frozenset({"redis", "langchain"}),
    "tests/cache/test_redis_policy.py": frozenset({"redis"}),
    # a private 3-master Redis Cluster (tests/redis_cluster_support.py)
    "tests/cache/test_redis_cluster.py": frozenset({"redis"}),
    # the index on one server and on the private cluster: order, ties, stale members, labels
    "tests/cache/test_redis_index.py": frozenset({"redis"}),
    # 4 processes racing on the same 500 sessions on that cluster
    "tests/cache/test_redis_cluster_processes.py": frozenset({"redis"}),
    # a cluster of its own (AOF, appendfsync always) whose master is SIGKILLed and restarted
    "tests/cache/test_redis_cluster_failover.py": frozenset({"redis"}),
    # the fault proxy in front of private redis-servers: lost replies, resets, SIGKILL
    "tests/faults/test_faults.py": frozenset({"redis"}),
    "tests/faults/test_proxy.py": frozenset({"redis"}),
    # the 1M-churn comparison with LangGraph's own InMemoryCache
    "tests/cache/test_memory.py": frozenset({"langgraph"}),
    "tests/workflow/test_cache_diagnostics.py": frozenset({"langchain"}),
    # imports the LlamaIndex bridge at module level (a cross-bridge test)
    "tests/bridges/test_langchain_bridge.py": frozenset({"langchain", "llamaindex"}),
    "tests/bridges/test_langgraph_bridge.py": frozenset({"langgraph"}),
    "tests/bridges/test_langgraph_serde.py": frozenset({"langgraph"}),
    # the LangGraph checkpointer: LangGraph's conformance suite, resume_once across processes
    "tests/bridges/test_checkpointer.py": frozenset({"langgraph"}),
    "tests/bridges/test_checkpointer_resume.py": frozenset({"langgraph"}),
    "tests/bridges/test_checkpointer_refresh.py": frozenset({"langgraph"}),
    # the cache bridges under their hosts' expectations (LangChain's standard cache tests)
    "tests/bridges/test_checkpointer_host_suites.py": frozenset({"langgraph"}),
    # imports langchain_core at module level for one test (a non-listable cache)
    "tests/bridges/test_llamaindex_bridge.py": frozenset({"llamaindex", "langchain"}),
    "tests/bridges/test_hitl_on_bridges.py": frozenset({"langchain", "langgraph", "llamaindex"}),
    "tests/bridges/test_on_redis.py": frozenset(EXTRAS) - {"server", "otel", "crypto"},
    # the chat-model adapters: LangChain fakes and LlamaIndex mocks in one file
    "tests/bridges/test_models.py": frozenset({"langchain", "llamaindex"}),
    # the tool-approval recipe (LangChain fake chat models and @tool tools)
    "tests/recipes/test_tool_approval.py": frozenset({"langchain"}),
    "tests/recipes/test_tool_approval_llamaindex.py": frozenset({"langchain", "llamaindex"}),
    # a real `llm-core serve` (uvicorn) in a subprocess, driven with httpx
    "tests/server/test_api.py": frozenset({"server"}),
    # the inbox's pages and forms (CSRF, escaping), over HTTP
    "tests/server/test_inbox.py": frozenset({"server"}),
    # Playwright driving Debian's Chromium (the dev extra brings playwright)
    "tests/server/test_browser.py": frozenset({"server"}),
    # llm-core serve --webhook: a local receiver gets the server's events
    "tests/server/test_server_webhooks.py": frozenset({"server"}),
    # the sweeper: session.expired for sessions that expired unanswered
    "tests/server/test_sweeper.py": frozenset({"server"}),
    # 1,000 runs and 1,000 resumes through the API, 50 clients
    "tests/server/test_load.py": frozenset({"server"}),
    # --model: LangChain's init_chat_model (langchain), the fake chat model of
    # tests/server/tool_app.py; the OpenAI stand-in tests skip without langchain-openai (dev)
    "tests/test_cli_model.py": frozenset({"langchain"}),
    # the inbox's tool-call form: the FastAPI app in-process, and in Chromium against
    # `llm-core serve --model` with LangChain's fake chat model and @tool tools
    "tests/server/test_inbox_tool_call.py": frozenset({"server", "langchain"}),
    "tests/server/test_browser_tool_call.py": frozenset({"server", "langchain"}),
    # spans captured with the OpenTelemetry SDK's in-memory exporter
    "tests/test_otel.py": frozenset({"otel"}),
    # PostgresCache on the real server (127.0.0.1:5432, database test)
    "tests/cache/test_postgres.py": frozenset({"postgres"}),
    "tests/cache/test_postgres_faults.py": frozenset({"postgres"}),
    "tests/cache/test_postgres_processes.py": frozenset({"postgres"}),
    "tests/cache/test_postgres_support.py": frozenset({"postgres"}),
    # the fault proxy (protocol="postgres") in front of the real server: lost replies, resets,
    # round trips; worker processes pausing and resuming through it
    "tests/faults/test_faults_postgres.py": frozenset({"postgres"}),
    # the index: a v1 table migrated, EXPLAIN of a page, namespaces, the async pool
    "tests/cache/test_postgres_index.py": frozenset({"postgres"}),
}

# Parametrized tests by the value of one parameter (``item.callspec.params``).
PARAMS: dict[tuple[str, str], frozenset[str]] = {
    # tests/durability: the same flows on SQLite and on Redis
    ("cache_url", "redis"): frozenset({"redis"}),
    # tests/bridges/test_checkpointer*.py: the checkpointer on memory, SQLite and Redis
    ("any_cache", "redis"): frozenset({"redis"}),
    ("url", "redis"): frozenset({"redis"}),
    ("backend", "redis"): frozenset({"redis"}),
}

# Tests by node id (a regular expression searched in the id, parameters included).
NODES: list[tuple[str, frozenset[str]]] = [
    # the conformance kit, one class per backend and bridge
    (r"conformance/test_backends\.py::TestRedisCache::", frozenset({"redis"})),
    (r"conformance/test_backends\.py::TestRedisClusterCache::", frozenset({"redis"})),
    (r"conformance/test_backends\.py::TestPostgresCache::", frozenset({"postgres"})),
    (r"conformance/test_backends\.py::TestLangGraphRedis::", frozenset({"langgraph", "redis"})),
    (r"conformance/test_backends\.py::TestLangGraph", frozenset({"langgraph"})),
    (r"conformance/test_backends\.py::TestLangChain", frozenset({"langchain"})),
    (r"conformance/test_backends\.py::TestLlamaIndex", frozenset({"llamaindex"})),
    # each bridge example runs with its framework (the doc check needs none)
    (r"test_examples\.py::test_example_runs\[langgraph_", frozenset({"langgraph"})),
    (r"test_examples\.py::test_example_runs\[langchain_", frozenset({"langchain"})),
    (r"test_examples\.py::test_example_runs\[llamaindex_", frozenset({"llamaindex"})),
    (
        r"test_lazy_imports\.py::test_bridge_functions_load_lazily",
        frozenset({"langchain", "langgraph", "llamaindex"}),
    ),
    (
        r"test_langgraph_serde\.py::test_a_store_that_is_down_is_a_logged_miss",
        frozenset({"langgraph", "redis"}),
    ),
    # redis-py parses redis:// URLs and talks to the (absent or dead) server
    (r"test_url\.py::test_rediss_uses_tls", frozenset({"redis"})),
    (r"test_url\.py::test_redis_over_a_unix_socket", frozenset({"redis"})),
    (r"test_url\.py::test_bad_options_are_named\[redis://localhost:notaport", frozenset({"redis"})),
    (r"test_redis_core\.py::test_missing_server_skips_unless_required", frozenset({"redis"})),
    (r"test_cli\.py::test_cache_unavailable_exits_7", frozenset({"redis"})),
]

# Fixtures that need redis-py (and a server).
FIXTURES: dict[str, frozenset[str]] = {
    name: frozenset({"redis"})
    for name in ("redis_url", "redis_prefix", "redis_cache", "private_redis", "redis_cluster")
}

JOBS = ("core", *EXTRAS, "all")


def needs_of_path(relpath: str) -> frozenset[str]:
    return FILES.get(relpath, frozenset())


def needs_of_item(
    relpath: str, nodeid: str, fixturenames: list[str], params: dict[str, object]
) -> frozenset[str]:
    needs = set(needs_of_path(relpath))
    for (name, value), extras in PARAMS.items():
        if name in params and params[name] == value:
            needs |= extras
    for pattern, extras in NODES:
        if re.search(pattern, nodeid):
            needs |= extras
    for name in fixturenames:
        needs |= FIXTURES.get(name, frozenset())
    return frozenset(needs)


def _installed(job: str) -> frozenset[str]:
    if job == "all":
        return frozenset(EXTRAS)
    if job == "core":
        return frozenset()
    return frozenset({job})


def _wanted(job: str, needs: frozenset[str]) -> bool:
    if job == "all":
        return True
    if job == "core":
        return not needs
    return bool(needs) and needs <= {job}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--extras-job",
        choices=JOBS,
        default=None,
        help="run only the tests of this lower-bound job (see .ci/test_extras.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    job = config.getoption("--extras-job")
    if job is None:
        return
    root = Path(str(config.rootpath))
    missing = [path for path in FILES if not (root / path).is_file()]
    if missing:
        raise pytest.UsageError(f".ci/test_extras.py names test files that do not exist: {missing}")


def _relpath(config: pytest.Config, path: Path) -> str:
    try:
        return path.relative_to(config.rootpath).as_posix()
    except ValueError:
        return path.as_posix()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    job = config.getoption("--extras-job")
    if job is None:
        return None
    needs = needs_of_path(_relpath(config, collection_path))
    if needs and not needs <= _installed(job):
        return True  # its framework is not installed here: do not even import it
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    job = config.getoption("--extras-job")
    if job is None:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        if item.get_closest_marker("packaging"):
            drop.append(item)  # builds with the dev extra's tools: `make test` runs these
            continue
        needs = needs_of_item(
            _relpath(config, Path(str(item.path))),
            item.nodeid,
            list(getattr(item, "fixturenames", ())),
            dict(getattr(getattr(item, "callspec", None), "params", {})),
        )
        (keep if _wanted(job, needs) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
