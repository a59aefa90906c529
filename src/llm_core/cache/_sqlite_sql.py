"""The SQL of :class:`~llm_core.cache._sqlite.SQLiteCache`: its statements and the operations
that are more than one statement's call (take and compare-and-set, each with the
``BEGIN IMMEDIATE`` fallback for older SQLite libraries), plus two file and key helpers."""

from __future__ import annotations

import os
import sqlite3
import time

from llm_core.errors import CacheUnavailableError

# ruff: noqa: E501

Labelled = tuple[str | None, str | None, str | None]
"""A row's ``(ix, label_a, label_b)`` (see :mod:`._sqlite_index`)."""

HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
"""``DELETE … RETURNING`` is available in the linked SQLite library."""

HAS_UPSERT = sqlite3.sqlite_version_info >= (3, 24, 0)
"""``INSERT … ON CONFLICT DO UPDATE`` is available in the linked SQLite library."""

# --- statements (prepared once per connection by sqlite3's statement cache) -----------------

_CREATE = (
    "CREATE TABLE IF NOT EXISTS llm_core_cache ("
    " key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires_at REAL,"
    " ix TEXT, label_a TEXT, label_b TEXT)",  # the index columns: see _sqlite_index
    "CREATE INDEX IF NOT EXISTS llm_core_cache_deadline"
    " ON llm_core_cache (expires_at, key) WHERE expires_at IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS llm_core_indexed (prefix TEXT PRIMARY KEY NOT NULL)",
)
MIGRATE_V1 = (
    "ALTER TABLE llm_core_cache ADD COLUMN ix TEXT",
    "ALTER TABLE llm_core_cache ADD COLUMN label_a TEXT",
    "ALTER TABLE llm_core_cache ADD COLUMN label_b TEXT",
    "DROP INDEX IF EXISTS llm_core_cache_expires",
    "CREATE INDEX IF NOT EXISTS llm_core_cache_deadline"
    " ON llm_core_cache (expires_at, key) WHERE expires_at IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS llm_core_indexed (prefix TEXT PRIMARY KEY NOT NULL)",
)
"""Statements that take a version-1 file to version 2 (run once, under the write lock)."""

_GET = "SELECT value FROM llm_core_cache WHERE key = ? AND (expires_at IS NULL OR expires_at >= ?)"
_SET = "INSERT OR REPLACE INTO llm_core_cache (key, value, expires_at, ix, label_a, label_b) VALUES (?, ?, ?, ?, ?, ?)"
_DELETE = "DELETE FROM llm_core_cache WHERE key = ?"
_TAKE = "DELETE FROM llm_core_cache WHERE key = ? RETURNING value, expires_at"
_TAKE_SELECT = "SELECT value, expires_at FROM llm_core_cache WHERE key = ?"
_TOUCH = "UPDATE llm_core_cache SET expires_at = ? WHERE key = ? AND (expires_at IS NULL OR expires_at >= ?)"
_CAS_SWAP = "UPDATE llm_core_cache SET value = ?, expires_at = ?, ix = ?, label_a = ?, label_b = ? WHERE key = ? AND value = ? AND (expires_at IS NULL OR expires_at >= ?)"
_CAS_DELETE = "DELETE FROM llm_core_cache WHERE key = ? AND value = ? AND (expires_at IS NULL OR expires_at >= ?)"
_CAS_INSERT = (
    "INSERT INTO llm_core_cache (key, value, expires_at, ix, label_a, label_b)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
    " expires_at = excluded.expires_at, ix = excluded.ix, label_a = excluded.label_a,"
    " label_b = excluded.label_b"
    " WHERE llm_core_cache.expires_at < ?"  # only over an expired row (NULL = never expires)
)
_CAS_ABSENT = (
    "SELECT 1 FROM llm_core_cache WHERE key = ? AND (expires_at IS NULL OR expires_at >= ?)"
)
_SWEEP = "DELETE FROM llm_core_cache WHERE expires_at < ?"
_KEYS_ALL = "SELECT key FROM llm_core_cache WHERE expires_at IS NULL OR expires_at >= ?"
_KEYS_FROM = (
    "SELECT key FROM llm_core_cache WHERE key >= ? AND (expires_at IS NULL OR expires_at >= ?)"
)
_KEYS_RANGE = "SELECT key FROM llm_core_cache WHERE key >= ? AND key < ? AND (expires_at IS NULL OR expires_at >= ?)"
_CLEAR = "DELETE FROM llm_core_cache"


# --- operations -------------------------------------------------------------------------


def take_returning(conn: sqlite3.Connection, key: str) -> tuple[bytes, float | None] | None:
    rows = conn.execute(_TAKE, (key,)).fetchall()  # fetchall: run the statement to its end
    return rows[0] if rows else None


def take_transaction(conn: sqlite3.Connection, key: str) -> tuple[bytes, float | None] | None:
    """``take`` for SQLite < 3.35: the write lock is held from the read to the delete."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(_TAKE_SELECT, (key,)).fetchone()
        if row is not None:
            conn.execute(_DELETE, (key,))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return row  # type: ignore[no-any-return]


def cas_statement(
    conn: sqlite3.Connection,
    key: str,
    expected: bytes | None,
    new: bytes | None,
    expires_at: float | None,
    now: float,
    labels: Labelled,
) -> bool:
    """One conditional statement; the row count says whether it matched."""
    if expected is None and new is None:
        return conn.execute(_CAS_ABSENT, (key, now)).fetchone() is None
    if expected is None:
        cursor = conn.execute(_CAS_INSERT, (key, new, expires_at, *labels, now))
    elif new is None:
        cursor = conn.execute(_CAS_DELETE, (key, expected, now))
    else:
        cursor = conn.execute(_CAS_SWAP, (new, expires_at, *labels, key, expected, now))
    return cursor.rowcount == 1


def cas_transaction(
    conn: sqlite3.Connection,
    key: str,
    expected: bytes | None,
    new: bytes | None,
    expires_at: float | None,
    now: float,
    labels: Labelled,
) -> bool:
    """``compare_and_set`` for SQLite < 3.24: the write lock is held from read to write."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(_TAKE_SELECT, (key,)).fetchone()
        live = row is not None and (row[1] is None or row[1] >= now)
        done = (row[0] if live else None) == expected
        if done and new is None:
            conn.execute(_DELETE, (key,))
        elif done:
            conn.execute(_SET, (key, new, expires_at, *labels))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return done


# --- the schema -----------------------------------------------------------------------------


def switch_to_wal(conn: sqlite3.Connection, timeout: float) -> str:
    """``PRAGMA journal_mode=WAL``, tried again while the file is locked (up to ``timeout``
    seconds): SQLite may refuse the switch at once, without its busy handler, while another
    process is creating or switching the same file."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def schema_version(conn: sqlite3.Connection) -> int | None:
    """The file's schema version (``None``: no llm-core table yet)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'llm_core_schema'"
    ).fetchone()
    if exists is None:
        return None
    row = conn.execute("SELECT max(version) FROM llm_core_schema").fetchone()
    return None if row[0] is None else int(row[0])


def create_schema_locked(conn: sqlite3.Connection, current: int) -> int:
    """Create the schema, or migrate a version-1 file to ``current``, under the write lock;
    the version the file has afterwards (a newer one is left as it is, for the caller)."""
    # Re-check inside the write lock: another process may have won the race to create.
    version = schema_version(conn)
    if version == 1:  # the index columns came in version 2
        for statement in MIGRATE_V1:
            conn.execute(statement)
        conn.execute("UPDATE llm_core_schema SET version = ?", (current,))
        return current
    if version is not None:
        return version
    conn.execute("CREATE TABLE llm_core_schema (version INTEGER NOT NULL)")
    for statement in _CREATE:
        conn.execute(statement)
    conn.execute("INSERT INTO llm_core_schema (version) VALUES (?)", (current,))
    return current


# --- helpers ----------------------------------------------------------------------------


def create_private_file(path: str) -> None:
    """Create ``path`` with mode 0600 if it does not exist (an existing file keeps its mode)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise CacheUnavailableError(
            f"cannot create or open the SQLite cache file {path}: {exc.strerror}"
        ) from exc
    os.close(fd)


def successor(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (code point order,
    which is SQLite's BINARY order on UTF-8), or ``None`` if there is none."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code <= 0x10FFFF:
            chars[-1] = chr(0xE000 if 0xD800 <= code <= 0xDFFF else code)
            return "".join(chars)
        chars.pop()
    return None
