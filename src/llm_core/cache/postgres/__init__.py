"""``PostgresCache``: a TTL cache in one PostgreSQL table, shared by every host that reaches it.

psycopg (3) and psycopg_pool are imported when a cache is built, so this package imports
without the ``postgres`` extra.
"""

from __future__ import annotations

from llm_core.cache.postgres._cache import DEFAULT_TABLE, PostgresCache
from llm_core.cache.postgres._sql import SCHEMA_VERSION

__all__ = ["DEFAULT_TABLE", "SCHEMA_VERSION", "PostgresCache"]
