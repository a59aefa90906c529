"""Connection helpers of :class:`~llm_core.cache.redis.RedisCache`: a raw connection for the
commands sent once (``take``), closing a loop's async client with the loop, and whether a client
decodes replies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

__all__ = ["acheckout", "asend_once", "checkout", "close_with_loop", "decodes", "send_once"]

Command = tuple[Any, ...]


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


def send_once(
    client: Any, cluster: bool, command: Command, instead: Command | None, no_script: Any
) -> Any:
    """Send ``command`` once, never again (``take``: a lost reply may be all that was lost).

    On a cluster, to the key's master as a named node (redis-py follows MOVED/ASK but never
    retries); else on a raw connection of the pool.  ``instead``: what to send after a
    ``NOSCRIPT`` answer (``EVAL`` for ``EVALSHA``: the script did not run)."""
    if cluster:
        node = client.get_node_from_key(command[3] if command[0] == "EVALSHA" else command[1])
        try:
            return client.execute_command(*command, target_nodes=node)
        except no_script:
            if instead is None:
                raise
            return client.execute_command(*instead, target_nodes=node)
    pool = client.connection_pool
    conn = checkout(pool)
    try:
        conn.send_command(*command)
        try:
            return conn.read_response()
        except no_script:
            if instead is None:
                raise
            conn.send_command(*instead)
            return conn.read_response()
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


async def asend_once(
    client: Any, cluster: bool, command: Command, instead: Command | None, no_script: Any
) -> Any:
    """Async face of :func:`send_once` (a cluster client already initialised)."""
    if cluster:
        node = client.get_node_from_key(command[3] if command[0] == "EVALSHA" else command[1])
        try:
            return await client.execute_command(*command, target_nodes=node)
        except no_script:
            if instead is None:
                raise
            return await client.execute_command(*instead, target_nodes=node)
    pool = client.connection_pool
    conn = await acheckout(pool)
    try:
        await conn.send_command(*command)
        try:
            return await conn.read_response()
        except no_script:
            if instead is None:
                raise
            await conn.send_command(*instead)
            return await conn.read_response()
    except BaseException:
        await conn.disconnect()
        raise
    finally:
        await pool.release(conn)


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
