"""The exception hierarchy every layer of llm-core raises.

``LlmCoreError`` is the root; catch it to catch anything llm-core raises on purpose.
Messages say what was wrong and what is allowed.
"""

from __future__ import annotations

__all__ = [
    "CacheError",
    "CacheFormatError",
    "CacheUnavailableError",
    "CapabilityError",
    "ConfigurationError",
    "InvalidKeyError",
    "InvalidInputError",
    "InvalidResumeInputError",
    "InvalidSnapshotError",
    "InvalidTTLError",
    "InvalidTokenError",
    "LlmCoreError",
    "MissingDependencyError",
    "SessionAlreadyResumedError",
    "SessionBusyError",
    "SessionCancelledError",
    "SessionError",
    "SessionExpiredError",
    "SessionNotFoundError",
    "SessionStoreFullError",
    "SnapshotSerializationError",
    "WorkflowError",
]


class LlmCoreError(Exception):
    """Root of every error llm-core raises on purpose."""


class ConfigurationError(LlmCoreError, ValueError):
    """A builder, URL or option was given a value it cannot use."""


class MissingDependencyError(LlmCoreError, ImportError):
    """An optional extra is needed for this feature but is not installed."""

    def __init__(self, feature: str, extra: str, package: str) -> None:
        super().__init__(
            f"{feature} needs the optional package {package!r}; "
            f"install it with: pip install 'llm-core[{extra}]'"
        )
        self.feature = feature
        self.extra = extra
        self.package = package


# --- cache -----------------------------------------------------------------


class CacheError(LlmCoreError):
    """Base for errors raised by a ``Cache`` backend."""


class InvalidKeyError(CacheError, ValueError):
    """A cache key is not a non-empty ``str`` of at most 1024 UTF-8 bytes without control chars."""


class InvalidTTLError(CacheError, ValueError):
    """A TTL is neither ``None`` nor a finite number of seconds greater than 0."""


class CacheUnavailableError(CacheError):
    """The backend cannot be reached or cannot answer (never reported as a miss)."""


class CacheFormatError(CacheUnavailableError):
    """The backend's store holds data this version cannot use: not a SQLite database, a
    corrupt file, or a newer schema version."""


class CapabilityError(CacheError, NotImplementedError):
    """The cache lacks a capability this operation needs (e.g. listing its keys)."""


# --- sessions and workflows -------------------------------------------------


class SessionError(LlmCoreError):
    """Base for errors about paused sessions and their tokens."""


class InvalidTokenError(SessionError, ValueError):
    """A resume token is malformed, or is neither ``str`` nor ``int``."""


class SessionNotFoundError(SessionError, LookupError):
    """No session for this token: it never existed or was already resumed."""


class SessionExpiredError(SessionError):
    """The session's TTL has passed; it can no longer be resumed."""


class SnapshotSerializationError(SessionError, TypeError):
    """A paused run's state or payload cannot be stored as JSON."""


class InvalidSnapshotError(SessionError, ValueError):
    """A stored session snapshot is not valid JSON of the expected shape or version."""


class SessionBusyError(SessionError):
    """Another resume holds the session's lease right now; try again after it."""


class SessionAlreadyResumedError(SessionError):
    """The session was completed by an earlier resume (a token completes exactly once)."""


class SessionCancelledError(SessionError):
    """The session was cancelled; it can no longer be resumed."""


class SessionStoreFullError(SessionError):
    """The cache has no room for another pending session without evicting one."""


class WorkflowError(LlmCoreError):
    """Base for errors in how a workflow was built or run."""


class InvalidInputError(WorkflowError, ValueError):
    """The input given to ``run`` is not what the workflow's first steps accept."""


class InvalidResumeInputError(WorkflowError, ValueError):
    """The input given to ``resume`` is not what the paused step accepts."""
