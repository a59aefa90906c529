"""Paused sessions: snapshots, their encoding, tokens and the session store over a ``Cache``.

Imports only :mod:`llm_core.cache` and :mod:`llm_core.errors`; the workflow layer builds on it.
"""

from __future__ import annotations

from llm_core.sessions._store import (
    SESSION_KEY_PREFIX,
    SNAPSHOT_VERSION,
    CacheSessionStore,
    ListableCacheSessionStore,
    ListableSessionStore,
    ResumeSnapshot,
    SessionStore,
    Token,
    check_token,
    session_store_from_cache,
)
from llm_core.sessions._tokens import (
    TOKEN_RANDOM_BYTES,
    describe_token_shape,
    mint_token,
    token_expiry,
)

__all__ = [
    "SESSION_KEY_PREFIX",
    "SNAPSHOT_VERSION",
    "TOKEN_RANDOM_BYTES",
    "CacheSessionStore",
    "ListableCacheSessionStore",
    "ListableSessionStore",
    "ResumeSnapshot",
    "SessionStore",
    "Token",
    "check_token",
    "describe_token_shape",
    "mint_token",
    "session_store_from_cache",
    "token_expiry",
]
