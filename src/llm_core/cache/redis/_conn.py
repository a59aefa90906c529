"""Connection helpers of :class:`~llm_core.cache.redis.RedisCache`: a raw connection for the
commands sent once (``take``), closing a loop's async client with the loop, and whether a client
decodes replies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

__all__ = ["acheckout", "checkout", "close_with_loop", "decodes"]


def checkout(pool: Any) -> Any:
    """A connection from a redis-py pool (redis-py < 5.3 wants a command name, later ones
    warn about it)."""
    try:
        return pool.get_connection()
    except TypeError:
        return pool.get_connection("GETDEL")


async def acheckout(pool: Any) -> Any:
    try:
        return await pool.get_connection()
    except TypeError:
        return await pool.get_connection("GETDEL")


async def close_with_loop(
    clients: dict[asyncio.AbstractEventLoop, Any],
    guards: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]],
    loop: asyncio.AbstractEventLoop,
    client: Any,
) -> AsyncGenerator[None, None]:
    """Yield once; when closed (by the loop's shutdown or ``aclose``), close ``client``."""
    try:
        yield
    finally:
        if clients.get(loop) is client:
            clients.pop(loop, None)
            guards.pop(loop, None)
        await client.aclose()


def decodes(client: Any, cluster: bool) -> bool:
    """The client decodes replies to str (RedisCache needs bytes)."""
    if cluster:
        return bool(client.get_encoder().decode_responses)
    return bool(client.connection_pool.connection_kwargs.get("decode_responses"))
