"""The SQL of :class:`~llm_core.cache.postgres.PostgresCache`: the table's name rules, its
schema (created on first use, versioned by the table's comment) and one statement per operation.

The statements are rendered once per cache with :mod:`psycopg.sql` (the table name quoted as an
identifier, never formatted into the text) and then sent as plain strings, so psycopg prepares
each of them on every connection that runs it often.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from llm_core.errors import ConfigurationError

__all__ = [
    "SCHEMA_VERSION",
    "Statements",
    "check_prefix",
    "check_table",
    "comment_text",
    "registry_table",
    "render",
    "schema_statements",
    "version_of_comment",
]

SCHEMA_VERSION = 2
"""The layout this version writes (2: the index columns ``ix, label_a, label_b``); a table with
a larger version is refused, a version-1 table is migrated on first use."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,49}")
_COMMENT = re.compile(r"llm-core cache, schema version (\d+)")

# Server clock: seconds since the epoch when the statement arrived (stable within a statement,
# so an index condition on it is computed once).
SERVER_NOW = "date_part('epoch', statement_timestamp())"
CLIENT_NOW = "%(now)s::float8"


def check_table(table: object) -> tuple[str, ...]:
    """``("name",)`` or ``("schema", "name")`` for a valid table name; ``ConfigurationError``
    otherwise.  Letters, digits and ``_``, not starting with a digit, at most 50 characters a
    part (so the names derived from it, up to ``<name>_listed_a``, stay within PostgreSQL's
    63)."""
    if not isinstance(table, str):
        raise ConfigurationError(f"table must be a str, got {type(table).__name__}")
    parts = tuple(table.split("."))
    if len(parts) > 2 or not all(_NAME.fullmatch(part) for part in parts):
        raise ConfigurationError(
            f"invalid table name {table!r}: use 'name' or 'schema.name', each part letters, "
            "digits and '_', not starting with a digit, at most 50 characters"
        )
    return parts


def check_prefix(prefix: object) -> str:
    """The key namespace: a ``str`` PostgreSQL ``text`` can hold (no NUL, valid UTF-8)."""
    if not isinstance(prefix, str):
        raise ConfigurationError(f"prefix must be a str, got {type(prefix).__name__}")
    try:
        prefix.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigurationError(f"prefix {prefix!r} is not valid UTF-8") from exc
    if "\x00" in prefix:
        raise ConfigurationError("prefix must not contain a NUL character")
    return prefix


def comment_text(version: int = SCHEMA_VERSION) -> str:
    return f"llm-core cache, schema version {version}"


def version_of_comment(comment: str | None) -> int | None:
    """The schema version a table's comment declares, ``None`` if it is not ours."""
    match = _COMMENT.fullmatch(comment or "")
    return int(match.group(1)) if match else None


class Statements(NamedTuple):
    """Every statement, rendered for one table and one clock."""

    regclass: str  # the quoted, qualified table name, for to_regclass()
    lock_key: str  # the advisory lock that serialises creating this table
    get: str
    set: str
    delete: str
    take: str
    touch: str
    cas_absent: str
    cas_insert: str
    cas_swap: str
    cas_delete: str
    keys_all: str
    keys_from: str
    keys_range: str
    sweep: str
    clear_all: str
    clear_from: str
    clear_range: str


_TEMPLATES = {
    "get": "SELECT value FROM {t} WHERE key = %(key)s AND {live}",
    # Writes of a value set its index columns in the same statement (see _index).
    "set": (
        "INSERT INTO {t} (key, value, expires_at, ix, label_a, label_b)"
        " VALUES (%(key)s, %(value)s, {expiry}, %(ix)s, %(la)s, %(lb)s)"
        " ON CONFLICT (key) DO UPDATE SET {relabel}"
    ),
    "delete": "DELETE FROM {t} WHERE key = %(key)s",
    # Deletes an expired row too (it is garbage); the value counts only if the row was alive.
    "take": "DELETE FROM {t} WHERE key = %(key)s RETURNING value, {live}",
    "touch": "UPDATE {t} SET expires_at = {expiry} WHERE key = %(key)s AND {live}",
    "cas_absent": "SELECT 1 FROM {t} WHERE key = %(key)s AND {live}",
    # Inserts, or overwrites only an expired row (NULL expires_at never expires).
    "cas_insert": (
        "INSERT INTO {t} AS c (key, value, expires_at, ix, label_a, label_b)"
        " VALUES (%(key)s, %(value)s, {expiry}, %(ix)s, %(la)s, %(lb)s)"
        " ON CONFLICT (key) DO UPDATE SET {relabel} WHERE c.expires_at < {now}"
    ),
    "cas_swap": (
        "UPDATE {t} SET value = %(value)s, expires_at = {expiry},"
        " ix = %(ix)s, label_a = %(la)s, label_b = %(lb)s"
        " WHERE key = %(key)s AND value = %(expected)s AND {live}"
    ),
    "cas_delete": "DELETE FROM {t} WHERE key = %(key)s AND value = %(expected)s AND {live}",
    "keys_all": "SELECT key FROM {t} WHERE {live}",
    "keys_from": "SELECT key FROM {t} WHERE key >= %(lo)s AND {live}",
    "keys_range": "SELECT key FROM {t} WHERE key >= %(lo)s AND key < %(hi)s AND {live}",
    # Many sweepers at once: each locks a batch nobody else holds, deletes it, and commits.
    "sweep": (
        "DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at < {now}"
        " LIMIT %(limit)s FOR UPDATE SKIP LOCKED) AND expires_at < {now}"
    ),
    "clear_all": "DELETE FROM {t}",
    "clear_from": "DELETE FROM {t} WHERE key >= %(lo)s",
    "clear_range": "DELETE FROM {t} WHERE key >= %(lo)s AND key < %(hi)s",
}


def render(psycopg: Any, table: tuple[str, ...], clocked: bool, context: Any) -> Statements:
    """Render every statement for ``table``; ``clocked``: the client passes ``now``."""
    sql = psycopg.sql
    now = sql.SQL(CLIENT_NOW if clocked else SERVER_NOW)
    parts = {
        "t": sql.Identifier(*table),
        "now": now,
        "live": sql.SQL("(expires_at IS NULL OR expires_at >= {now})").format(now=now),
        "expiry": sql.SQL("{now} + %(ttl)s::float8").format(now=now),
        "relabel": sql.SQL(
            "value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, ix = EXCLUDED.ix,"
            " label_a = EXCLUDED.label_a, label_b = EXCLUDED.label_b"
        ),
    }
    rendered = {
        name: sql.SQL(template).format(**parts).as_string(context)
        for name, template in _TEMPLATES.items()
    }
    regclass = sql.Identifier(*table).as_string(context)
    return Statements(regclass=regclass, lock_key=f"llm-core cache {regclass}", **rendered)


def schema_statements(
    psycopg: Any, table: tuple[str, ...], context: Any, version: int | None = None
) -> list[str]:
    """The DDL that creates the table (``version=None``) or migrates it from ``version``: the
    table, its expiry index, the index columns and their ``(ix, [label,] expires_at, key)``
    indexes, the table of indexed prefixes (``<name>_indexed``), and the version comment."""
    sql = psycopg.sql
    name = sql.Identifier(*table)
    statements = []
    if version is None:
        statements += [
            sql.SQL(
                'CREATE TABLE IF NOT EXISTS {t} (key text COLLATE "C" PRIMARY KEY,'
                ' value bytea NOT NULL, expires_at double precision, ix text COLLATE "C",'
                " label_a text, label_b text)"
            ).format(t=name),
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {i} ON {t} (expires_at) WHERE expires_at IS NOT NULL"
            ).format(i=sql.Identifier(table[-1] + "_expires"), t=name),
        ]
    else:  # version 1: no index columns yet (adding nullable columns rewrites nothing)
        statements.append(
            sql.SQL(
                'ALTER TABLE {t} ADD COLUMN IF NOT EXISTS ix text COLLATE "C",'
                " ADD COLUMN IF NOT EXISTS label_a text, ADD COLUMN IF NOT EXISTS label_b text"
            ).format(t=name)
        )
    # Only listed rows with a deadline: what a page walks, in the order it walks them; and the
    # same per label, so a page filtered by a rare label does not walk every listed row.
    for suffix, columns in (("listed", ""), ("listed_a", "label_a, "), ("listed_b", "label_b, ")):
        statements.append(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {i} ON {t} (ix, " + columns + "expires_at, key)"
                " WHERE ix <> '' AND expires_at IS NOT NULL"
            ).format(i=sql.Identifier(f"{table[-1]}_{suffix}"), t=name)
        )
    statements += [
        sql.SQL('CREATE TABLE IF NOT EXISTS {r} (prefix text COLLATE "C" PRIMARY KEY)').format(
            r=sql.Identifier(*registry_table(table))
        ),
        sql.SQL("COMMENT ON TABLE {t} IS {c}").format(t=name, c=sql.Literal(comment_text())),
    ]
    return [statement.as_string(context) for statement in statements]


def registry_table(table: tuple[str, ...]) -> tuple[str, ...]:
    """The table naming the prefixes already indexed (``<name>_indexed``, same schema)."""
    return (*table[:-1], table[-1] + "_indexed")


CHECK = (
    "SELECT to_regclass(%(name)s) IS NOT NULL, obj_description(to_regclass(%(name)s), 'pg_class')"
)
LOCK = "SELECT pg_advisory_xact_lock(hashtext(%(name)s))"
