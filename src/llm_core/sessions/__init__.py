"""Paused sessions: snapshots, their encoding and signing, tokens, and the lifecycle over a
``Cache`` (pending → claimed → completed | cancelled | expired).

Imports only :mod:`llm_core.cache` and :mod:`llm_core.errors`; the workflow layer builds on it.
See ``docs/sessions.md``.
"""

from __future__ import annotations

from llm_core.sessions._codec import MAX_DEPTH, Signer
from llm_core.sessions._lifecycle import (
    CacheOp,
    Claim,
    Keyspace,
    Record,
    cas,
    cas_now,
    confirm,
    load,
)
from llm_core.sessions._listing import SessionOrder, session_labels
from llm_core.sessions._paging import page_stores
from llm_core.sessions._schema import SchemaLike, schema_errors, to_schema
from llm_core.sessions._snapshot import SNAPSHOT_VERSION, ResumeSnapshot
from llm_core.sessions._store import (
    DEFAULT_LEASE_TTL,
    DEFAULT_RESULT_TTL,
    SESSION_KEY_PREFIX,
    SessionInfo,
    SessionPage,
    SessionStore,
    aperform,
    check_token,
    perform,
)
from llm_core.sessions._tokens import (
    TOKEN_RANDOM_BYTES,
    describe_token_shape,
    mint_token,
    token_expiry,
)
from llm_core.sessions._types import StateTypes

__all__ = [
    "DEFAULT_LEASE_TTL",
    "DEFAULT_RESULT_TTL",
    "MAX_DEPTH",
    "SESSION_KEY_PREFIX",
    "SNAPSHOT_VERSION",
    "TOKEN_RANDOM_BYTES",
    "CacheOp",
    "Claim",
    "Keyspace",
    "Record",
    "ResumeSnapshot",
    "SchemaLike",
    "SessionInfo",
    "SessionOrder",
    "SessionPage",
    "SessionStore",
    "Signer",
    "StateTypes",
    "aperform",
    "cas",
    "cas_now",
    "confirm",
    "check_token",
    "describe_token_shape",
    "load",
    "mint_token",
    "page_stores",
    "perform",
    "schema_errors",
    "session_labels",
    "to_schema",
    "token_expiry",
]
