"""Helpers (no tests) for the tests that talk to a real PostgreSQL: find it, give each test a
table of its own, drop it after.

* ``PG_URL``: the shared server (``postgresql://postgres@127.0.0.1:5432/test``; env
  ``LLM_CORE_TEST_POSTGRES_URL`` overrides it).
* ``require_postgres(url)``: skip when no server answers, unless env ``LLM_CORE_REQUIRE_POSTGRES``
  is set, in which case a missing server fails the test.
* fixtures ``pg_url`` and ``pg_table`` (a unique table name, dropped after the test); import them
  into a test module to use them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get("LLM_CORE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def admin(url: str = PG_URL):  # type: ignore[no-untyped-def]
    """An autocommit psycopg connection (close it, or use it in ``with``)."""
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def postgres_answers(url: str = PG_URL) -> bool:
    import psycopg

    try:
        with admin(url) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def require_postgres(url: str = PG_URL) -> str:
    if postgres_answers(url):
        return url
    message = f"no PostgreSQL server answers at {url}"
    if os.environ.get("LLM_CORE_REQUIRE_POSTGRES"):
        pytest.fail(message + " and LLM_CORE_REQUIRE_POSTGRES is set")
    pytest.skip(message + " (set LLM_CORE_REQUIRE_POSTGRES=1 to make this a failure)")


def unique_table(label: str = "test") -> str:
    return f"llm_core_{label}_{uuid.uuid4().hex[:16]}"


def drop_table(url: str, table: str) -> None:
    """Drop ``table`` and the table of its indexed prefixes (``<table>_indexed``)."""
    from psycopg import sql

    parts = table.split(".")
    registry = [*parts[:-1], parts[-1] + "_indexed"]
    with admin(url) as conn:
        for name in (parts, registry):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(*name)))


@pytest.fixture(scope="session")
def pg_url() -> str:
    return require_postgres(PG_URL)


@pytest.fixture
def pg_table(pg_url: str) -> Iterator[str]:
    table = unique_table()
    yield table
    drop_table(pg_url, table)
