"""``RedisCache``: a TTL cache shared by every host that reaches one Redis server.

redis-py is imported when a cache is built, so this package imports without the ``redis`` extra.
"""

from __future__ import annotations

from llm_core.cache.redis._cache import DEFAULT_PREFIX, DEFAULT_URL, RedisCache

__all__ = ["DEFAULT_PREFIX", "DEFAULT_URL", "RedisCache"]
