"""The sans-I/O core of RedisCache's index: where index entries live, and each operation as a
plan (a generator) that yields the steps to run and returns the result.

**Layout.**  Each indexed prefix has ``N`` shards (``1`` on one server, :data:`CLUSTER_SHARDS` on
a cluster).  A shard is two keys sharing a hash tag chosen so that the ``N`` shards' slots are
spread evenly over the 16,384, so over the masters; a key's entry goes to one of the shards its
own record's master serves (by ``crc32(key)``), so a master that is down stops its own keys'
writes and no others' (all shards if its master serves none).  The shard keys are
``<namespace>\\0ix{<tag>}\\0<prefix>\\0z`` and ``...\\0h`` (see ``_index_lua`` for what they
hold).  Their names start with the namespace but are not valid cache keys, so ``keys()`` never
lists them; the first index registration of a prefix is remembered in
``<namespace>\\0ix-registered\\0<prefix>``.

**Writes.**  On one server a write of a key under an indexed prefix is one script
(``WRITE``): the record and its index entry change together.  On a cluster the record and its
shard are in different slots, so a write is: (1) ``BEGIN`` on the shard adds the write's own
member (if the new value is listed) and reserves a sequence number; (2) the record's command,
with ``PXAT`` the member's score; (3) ``END`` on the shard drops the key's older members (the
write landed) or its own (it did not) -- skipped when there is nothing to drop.  A crash or an
error between the steps leaves at most a member that (a) no page returns, because a page checks
each member against its record (present, deadline equal to the member's score, value listed
with the same labels by the labeler), and (b) is dropped by the first page that meets it
:data:`GRACE` seconds after it was added, or when its deadline passes, whichever is first.

**Pages.**  Each shard is walked by a script (``WALK``: its live members past the position,
filtered by the stored labels), the shards' answers are merged by ``(deadline, key)`` up to the
point every shard has answered for, and the members are checked against their records in that
order until the page is full.
"""

from __future__ import annotations

import functools
import json
import math
import zlib
from collections.abc import Callable, Generator, Sequence
from typing import Any, NamedTuple

from llm_core.cache._contract import IndexedEntry, Labeler
from llm_core.cache._labels import label_row
from llm_core.cache.redis._commands import _FOREVER_MS, CAS_SCRIPT, CAS_SHA, ms
from llm_core.cache.redis._index_lua import ADOPT, BEGIN, CAS_AT, END, PRUNE, WALK, WRITE, Script

__all__ = [
    "CLUSTER_SHARDS",
    "GRACE",
    "SCRIPTS",
    "Step",
    "Target",
    "encode_label",
    "encode_labels",
    "page_plan",
    "registry_name",
    "shard_names",
    "shard_of",
    "shard_slot",
    "write_plan",
]

CLUSTER_SHARDS = 16
"""Shards of one indexed prefix on a cluster (every process must agree: a constant)."""
GRACE = 30.0
"""Seconds before a page drops a member it could not match to its record (cluster only: a
write between its steps must not lose its member)."""
WALK_BUDGET = 2000
"""Members one shard walk looks at, at most, before answering."""

SCRIPTS: dict[str, bytes] = {
    script.sha: script.body for script in (WRITE, BEGIN, END, CAS_AT, WALK, PRUNE, ADOPT)
}
SCRIPTS[CAS_SHA] = CAS_SCRIPT

Command = tuple[Any, ...]


class Step(NamedTuple):
    """What a plan asks its driver to run.  ``kind``: ``one`` (a command, retried by the
    client's policy), ``once`` (never retried), ``pipe`` (commands, answers in order),
    ``best`` (commands whose failure is logged, not raised)."""

    kind: str
    commands: tuple[Command, ...]


def run(command: Command, kind: str = "one") -> Step:
    return Step(kind, (command,))


def script(which: Script, keys: list[str], args: list[Any]) -> Command:
    """``EVALSHA`` of ``which`` (drivers send ``EVAL`` instead after a ``NOSCRIPT``: a single
    command again, a pipeline again whole, every script inline -- all of them idempotent)."""
    return ("EVALSHA", which.sha, len(keys), *keys, *args)


# --- layout ---------------------------------------------------------------------------------


def _crc16(data: bytes) -> int:
    """CRC16-XMODEM, Redis Cluster's key hash."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


@functools.cache
def shard_tag(shard: int, shards: int) -> str:
    """A hash tag whose slot lies in the ``shard``-th of ``shards`` equal slot ranges."""
    low, high = shard * 16384 // shards, (shard + 1) * 16384 // shards
    for attempt in range(1_000_000):
        tag = f"{shard}-{attempt}"
        if low <= _crc16(tag.encode()) % 16384 < high:
            return tag
    raise AssertionError("unreachable: CRC16 spreads short strings over every range")


def shard_slot(shard: int, shards: int) -> int:
    """The hash slot of a shard's keys."""
    return _crc16(shard_tag(shard, shards).encode()) % 16384


def shard_of(key: str, among: Sequence[int]) -> int:
    """``key``'s shard among the shards ``among`` (on a cluster: those on its record's master)."""
    return among[zlib.crc32(key.encode("utf-8")) % len(among)]


def shard_names(namespace: str, prefix: str, shard: int, shards: int) -> tuple[str, str]:
    """``(Z, H)`` of one shard of ``prefix``'s index."""
    base = f"{namespace}\x00ix{{{shard_tag(shard, shards)}}}\x00{prefix}\x00"
    return base + "z", base + "h"


def registry_name(namespace: str, prefix: str) -> str:
    return f"{namespace}\x00ix-registered\x00{prefix}"


def index_pattern_head(namespace: str) -> str:
    """What every index key of ``namespace`` starts with (for ``clear``)."""
    return namespace + "\x00ix"


class Target(NamedTuple):
    """One key under an indexed prefix: its record's name and its shard's keys."""

    record: str
    key: str
    z: str
    h: str


def target(namespace: str, prefix: str, key: str, shard: int, shards: int) -> Target:
    z, h = shard_names(namespace, prefix, shard, shards)
    return Target(namespace + key, key, z, h)


# --- labels ---------------------------------------------------------------------------------


def encode_label(label: str) -> str:
    """One label as stored in a member (and as a page filters by it): JSON, ASCII only."""
    return json.dumps(label)


def encode_labels(labels: tuple[str, str]) -> str:
    """Two labels as stored in a member: each JSON-encoded, joined by ``\\x02``."""
    return encode_label(labels[0]) + "\x02" + encode_label(labels[1])


def labels_for(
    indexes: tuple[tuple[str, Labeler], ...], prefix: str, key: str, value: bytes
) -> str:
    """The encoded labels of ``value`` at ``key`` under ``prefix``, ``''`` if not listed there
    (its labeler said ``None``, raised (logged), or gave labels that are not two ``str``)."""
    ix, first, second = label_row(indexes, key, value)
    if ix != prefix or not isinstance(first, str) or not isinstance(second, str):
        return ""
    return encode_labels((first, second))


def px_of(seconds: float | None) -> str:
    """``PX`` milliseconds as sent to the scripts, ``''`` for no TTL."""
    if seconds is None or seconds * 1000 > _FOREVER_MS:
        return ""
    return str(ms(seconds))


# --- writes ---------------------------------------------------------------------------------

Plan = Generator[Step, Any, Any]


def write_plan(
    op: str,
    where: Target,
    cluster: bool,
    labels: str = "",
    px: str = "",
    expected: bytes | None = None,
    new: bytes | None = None,
) -> Plan:
    """``op`` (``set``, ``cas``, ``del``, ``take``, ``touch``) of ``where`` and its index entry.
    Returns: ``take`` the value, ``cas``/``touch`` whether it happened, others ``None``."""
    fence = ["0" if expected is None else "1", expected or b"", "0" if new is None else "1"]
    if not cluster:
        keys = [where.record, where.z, where.h]
        command = script(WRITE, keys, [op, where.key, labels, px, *fence, new or b""])
        reply = yield run(command, "once" if op == "take" else "one")
        return reply if op == "take" else bool(reply) if op in ("cas", "touch") else None
    mode = "add" if labels and px else "copy" if op == "touch" and px else "none"
    begin = script(BEGIN, [where.z, where.h], [where.key, mode, labels, px])
    seq, deadline, others, added = yield run(begin)
    at = str(deadline) if px else ""
    done, result = True, None
    if op == "set":
        yield run(("SET", where.record, new, "PXAT", at) if px else ("SET", where.record, new))
    elif op == "cas":
        done = bool((yield run(script(CAS_AT, [where.record], [*fence, new or b"", at]))))
    elif op == "del":
        yield run(("DEL", where.record))
    elif op == "take":
        result = yield run(("GETDEL", where.record), "once")
    elif px:
        done = bool((yield run(("PEXPIREAT", where.record, at))))
    else:
        done = (yield run(("GETEX", where.record, "PERSIST"))) is not None
    if (done and others) or (not done and added):
        yield run(script(END, [where.z, where.h], [where.key, seq, "1" if done else "0"]), "best")
    return result if op == "take" else done if op in ("cas", "touch") else None


def adopt_command(where: Target, labels: str, deadline: int, absolute: bool) -> Command:
    """Index a record stored before its prefix was (``deadline``: ms, absolute or from now)."""
    args = [where.key, labels, "at" if absolute else "in", deadline]
    return script(ADOPT, [where.z, where.h], args)


# --- pages ----------------------------------------------------------------------------------


class PageQuery(NamedTuple):
    namespace: str
    prefix: str
    shards: int
    newest: bool
    start: tuple[str, str] | None  # the walk's position: (score ms, key)
    filters: tuple[str, str]  # encoded labels, '' = any
    limit: int
    labeler: Labeler | None
    deadlines: bool  # check each record's PEXPIRETIME against its member's score
    grace_ms: int  # 0: drop unmatched members at once


class Candidate(NamedTuple):
    score: int
    member: str
    shard: int
    key: str
    stamp: int
    labels: str


def start_of(after: tuple[float, str] | None, newest: bool) -> tuple[str, str] | None:
    """The walk position for ``after``: exact for a deadline a page returned; otherwise every
    member strictly past ``after[0]`` (the key then plays no part, as no deadline equals it)."""
    if after is None:
        return None
    at, key = after
    exact = round(at * 1000)
    if exact / 1000 == at:
        return str(exact), key
    # '' as the key: ascending keeps every member at that score, descending skips them all
    return str(math.ceil(at * 1000) if not newest else math.floor(at * 1000) + 1), ""


def _candidates(
    reply: list[Any], shard: int
) -> tuple[int, bool, tuple[int, str] | None, list[Candidate]]:
    now, exhausted, last_score, last_member = reply[0], reply[1], reply[2], reply[3]
    found = []
    pairs = reply[4:]
    for i in range(0, len(pairs), 2):
        member = _text(pairs[i])
        key, _seq, stamp, labels = member.split("\x00", 3)
        found.append(Candidate(int(float(pairs[i + 1])), member, shard, key, int(stamp), labels))
    last = None if not last_member else (int(float(last_score)), _text(last_member))
    return int(now), bool(int(exhausted)), last, found


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes) else raw


def page_plan(query: PageQuery) -> Generator[Step, Any, list[IndexedEntry]]:
    """Walk every shard, merge, check the candidates against their records, until ``limit``."""
    position = query.start
    found: list[IndexedEntry] = []
    seen: set[str] = set()
    stale: dict[int, list[str]] = {}
    reads = 2 if query.deadlines else 1
    while True:
        need = query.limit - len(found)
        walks = yield Step("pipe", tuple(
            _walk(query, shard, position, need) for shard in range(query.shards)
        ))  # fmt: skip
        candidates, frontier, nows = _merge(walks, query.newest)
        index = 0
        while index < len(candidates) and len(found) < query.limit:
            batch = candidates[index : index + query.limit - len(found)]
            index += len(batch)
            commands: list[Command] = []
            for candidate in batch:
                commands.append(("GET", query.namespace + candidate.key))
                if query.deadlines:
                    commands.append(("PEXPIRETIME", query.namespace + candidate.key))
            replies = yield Step("pipe", tuple(commands))
            for n, candidate in enumerate(batch):
                value = replies[n * reads]
                deadline = replies[n * reads + 1] if query.deadlines else candidate.score
                if _matches(query, candidate, value, deadline):
                    if candidate.key not in seen:  # (two members, one deadline: shown once)
                        seen.add(candidate.key)
                        found.append(IndexedEntry(candidate.key, value, candidate.score / 1000))
                elif nows[candidate.shard] - candidate.stamp >= query.grace_ms:
                    stale.setdefault(candidate.shard, []).append(candidate.member)
        if len(found) >= query.limit or frontier is None:
            break
        position = (str(frontier[0]), frontier[1].split("\x00", 1)[0])
    if stale:
        yield Step("best", tuple(
            script(PRUNE, list(_names(query, shard)), members)
            for shard, members in stale.items()
        ))  # fmt: skip
    return found


def _names(query: PageQuery, shard: int) -> tuple[str, str]:
    return shard_names(query.namespace, query.prefix, shard, query.shards)


def _walk(query: PageQuery, shard: int, position: tuple[str, str] | None, need: int) -> Command:
    """One shard's walk.  Of ``N`` shards each is asked for about ``2 * need / N`` members (at
    least 4): the merge then usually holds ``need`` of them short of the frontier, and a short
    page costs another round rather than every shard sending ``need``."""
    score, key = position if position is not None else ("", "")
    share = need if query.shards == 1 else max(4, -(-2 * need // query.shards))
    args = ["1" if query.newest else "0", score, key, *query.filters, share, WALK_BUDGET]
    return script(WALK, list(_names(query, shard)), args)


def _merge(
    walks: list[Any], newest: bool
) -> tuple[list[Candidate], tuple[int, str] | None, dict[int, int]]:
    """Every shard's candidates in page order, cut at the frontier: the furthest point every
    shard that has more has answered for (``None``: no shard has more)."""
    candidates: list[Candidate] = []
    frontier: tuple[int, str] | None = None
    nows: dict[int, int] = {}
    pick: Callable[..., tuple[int, str]] = max if newest else min
    for shard, reply in enumerate(walks):
        now, exhausted, last, found = _candidates(reply, shard)
        nows[shard] = now
        candidates += found
        if not exhausted and last is not None:
            frontier = last if frontier is None else pick(frontier, last)
    candidates.sort(key=lambda c: (c.score, c.member), reverse=newest)
    if frontier is not None:
        bound = frontier
        candidates = [
            c
            for c in candidates
            if ((c.score, c.member) >= bound if newest else (c.score, c.member) <= bound)
        ]
    return candidates, frontier, nows


def _matches(query: PageQuery, candidate: Candidate, value: Any, deadline: Any) -> bool:
    """The record is there, ends when its member says, and is listed with the member's labels."""
    if value is None or int(deadline) != candidate.score:
        return False
    if query.labeler is None:
        return True
    indexes = ((query.prefix, query.labeler),)
    return labels_for(indexes, query.prefix, candidate.key, value) == candidate.labels
