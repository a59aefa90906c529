"""The session lifecycle over a ``Cache``, written once as generators of cache operations.

::

    pause ─► pending ─claim (CAS, lease)─► claimed ─commit (CAS, own claim)─► completed
               │  ▲                           │
               │  └─── release (CAS) on Error ┘   lease runs out ─► claimable again
               ├── TTL ─► expired       └── cancel ─► cancelled

One record per session under ``prefix + token``.  Every transition after the pause is a
compare-and-set against the exact bytes read, and every record a transition writes is unique
(a fresh claim id, a claim counter), so a retried or late write can never revive or steal a
session: it no longer finds the bytes it expects.  A compare-and-set that reports failure, or
whose reply was lost, is confirmed by one read: if the key holds what we wrote, it landed.

The generators yield :class:`CacheOp` and receive the result (or have the exception thrown
in); the workflow's drivers and :class:`~llm_core.sessions.SessionStore` perform them.  For a
cache the workflow calls directly (an in-process ``MemoryCache``), :func:`cas_now` and
``confirm(..., inline=cache)`` call it instead of yielding.
"""

from __future__ import annotations

from collections.abc import Generator
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

from llm_core.cache import AtomicCache
from llm_core.errors import (
    CacheUnavailableError,
    InvalidSnapshotError,
    SnapshotSerializationError,
)
from llm_core.sessions._codec import NOT_EXACT, Signer, decode_json, decode_last_member, encode_json
from llm_core.sessions._seal import Sealer
from llm_core.sessions._snapshot import ResumeSnapshot
from llm_core.sessions._types import StateTypes

__all__ = ["CacheOp", "Claim", "Keyspace", "Record", "Steps", "cas", "cas_now", "confirm", "load"]

# JSON string literal for our own short fields (ids, tokens): what ``json.dumps(str)`` returns
_str = encode_basestring_ascii
_SNAPSHOT_FIELD = ',"snapshot":'
_STATUSES = frozenset({"pending", "claimed", "completed", "cancelled"})
_new = tuple.__new__  # a Record from all its fields, skipping NamedTuple's __new__


class CacheOp:
    """Effect: call ``cache.<method>(*args)`` (``a<method>`` on the async face)."""

    __slots__ = ("args", "method")

    def __init__(self, method: str, args: tuple[Any, ...]) -> None:
        self.method, self.args = method, args


Steps = Generator[CacheOp, Any, Any]


class Claim(NamedTuple):
    """Who holds a claimed session, until when (wall clock), for which request."""

    id: str
    until: float
    request_id: str | None


class Record(NamedTuple):
    """A stored session as read: its status, and the exact bytes (for compare-and-set)."""

    key: str
    token: str
    raw: bytes
    status: str
    attempts: int = 0
    snapshot: ResumeSnapshot | None = None
    snapshot_text: str = ""
    claim: Claim | None = None
    request_id: str | None = None
    outcome: dict[str, Any] | None = None
    finished_at: float | None = None


class Keyspace:
    """Where a runtime's sessions live (``prefix``) and how records are signed."""

    __slots__ = ("_opener", "prefix", "sealer", "signer", "types")

    def __init__(
        self,
        prefix: str,
        signer: Signer,
        encrypt: bool = False,
        types: StateTypes | None = None,
    ) -> None:
        self.prefix, self.signer = prefix, signer
        self.types = types if types is not None else StateTypes()
        self.sealer = Sealer(signer.keys) if encrypt else None  # seals what is written
        self._opener = self.sealer

    def opener(self) -> Sealer:
        """The sealer that opens encrypted fields (made on first need from the secret keys,
        so a runtime that does not encrypt still reads records that are)."""
        if self._opener is None:
            if not self.signer.keys:
                raise InvalidSnapshotError("stored session is encrypted; this runtime has no key")
            self._opener = Sealer(self.signer.keys)
        return self._opener

    def key(self, token: str) -> str:
        """The cache key of ``token``'s record."""
        return self.prefix + token

    # --- encoding ---------------------------------------------------------------------

    def pending(self, key: str, snapshot_text: str, attempts: int = 0) -> bytes:
        """The bytes of a pending record."""
        head = _FRESH_HEAD if attempts == 0 else _head("pending", attempts, None)
        return self.signer.wrap_text(key, head + snapshot_text + "}")

    def claimed(self, record: Record, claim: Claim) -> bytes:
        """The bytes of ``record`` claimed by ``claim`` (one more attempt)."""
        return self.claim(record, claim).raw

    def claim(self, record: Record, claim: Claim) -> Record:
        """The record :meth:`claimed` writes, as it will read back (its bytes in ``raw``)."""
        key, attempts = record.key, record.attempts + 1
        raw = self.signer.wrap_text(
            key, _head("claimed", attempts, claim) + record.snapshot_text + "}"
        )
        snapshot, text = record.snapshot, record.snapshot_text
        return _new(
            Record,
            (key, record.token, raw, "claimed", attempts, snapshot, text, claim, None, None, None),
        )

    def completed(
        self, record: Record, claim: Claim, outcome: dict[str, Any] | None, now: float
    ) -> bytes:
        """The completion record that replaces a claimed one (kept for ``result_ttl``), its
        ``finished_at`` to the millisecond.  The outcome is kept only for a resume with a
        ``request_id``: nothing else can replay it (so without one, ``outcome`` may be
        ``None``)."""
        request = "null" if claim.request_id is None else _str(claim.request_id)
        head = (
            f'{{"status":"completed","token":{_str(record.token)},"claim":{_str(claim.id)},'
            f'"request_id":{request},"finished_at":{now:.3f},"outcome":'
        )  # (a fixed-point time: several times cheaper to write than the shortest repr)
        if claim.request_id is not None and outcome is not None:
            try:
                text = encode_json(outcome, "the outcome", self.types)
                return self.signer.wrap_text(record.key, head + text + "}")
            except SnapshotSerializationError:  # an artefact JSON cannot hold: the fact only
                pass
        return self.signer.wrap_text(record.key, head + '{"type":"unrecorded"}}')

    def cancelled(self, record: Record, now: float) -> bytes:
        """The record a cancelled session leaves (kept for ``result_ttl``), its
        ``finished_at`` to the millisecond."""
        body = (
            f'{{"status":"cancelled","token":{_str(record.token)},"attempts":{record.attempts},'
            f'"finished_at":{now:.3f}}}'
        )
        return self.signer.wrap_text(record.key, body)

    # --- decoding ---------------------------------------------------------------------

    def parse(self, key: str, token: str, data: object) -> Record:
        """Verify and parse stored bytes; ``InvalidSnapshotError`` for anything else."""
        if type(data) is not bytes:
            raise InvalidSnapshotError(f"stored session is {type(data).__name__}, not bytes")
        try:
            text = self.signer.unwrap(key, data).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidSnapshotError("stored session is not valid UTF-8") from None
        # A fresh pause's record (the one a resume reads) starts with known members: only its
        # snapshot is left to decode, and the whole text is the exact layout checked below.
        fresh = decode_last_member(text, _FRESH_LEN) if text.startswith(_FRESH_HEAD) else NOT_EXACT
        if fresh is not NOT_EXACT:
            tagged = '"$t"' in text
            snapshot = ResumeSnapshot.from_record(fresh, self.opener, key, self.types, tagged)
            if snapshot.token != token:
                raise InvalidSnapshotError("stored session belongs to another token")
            text = text[_FRESH_LEN:-1]  # the snapshot's text
            return _new(
                Record, (key, token, data, "pending", 0, snapshot, text, None, None, None, None)
            )
        fields = decode_json(text)
        status = fields.get("status") if type(fields) is dict else None
        if type(status) is not str or status not in _STATUSES:
            raise InvalidSnapshotError("stored session record has no known status")
        attempts = fields.get("attempts", 0)
        if type(attempts) is not int or not 0 <= attempts < 2**31:
            raise InvalidSnapshotError("stored session record has a bad attempt count")
        tagged = '"$t"' in text
        if status in ("completed", "cancelled"):
            found = _finished(key, token, data, status, attempts, fields)
            if tagged and found.outcome is not None:
                found = found._replace(outcome=self.types.decode(found.outcome))
            return found
        snapshot = ResumeSnapshot.from_record(
            fields.get("snapshot"), self.opener, key, self.types, tagged
        )
        if snapshot.token != token:
            raise InvalidSnapshotError("stored session belongs to another token")
        claim: Claim | None = None
        if status == "claimed":
            claim = _claim(fields.get("claim"))
        elif fields.get("claim", 0) is not None:
            raise InvalidSnapshotError("a pending session record holds a claim")
        # Transitions re-write the snapshot's exact text after their own members, so the record
        # must be exactly in the layout llm-core writes (the snapshot last), or a release would
        # store a record that cannot be read (or whose later members override the new ones).
        head = _head(status, attempts, claim)
        if not text.startswith(head) or text[-1] != "}" or len(fields) != 4:
            raise InvalidSnapshotError("stored session record is not in llm-core's layout")
        read = (key, token, data, status, attempts, snapshot, text[len(head) : -1], claim)
        return _new(Record, (*read, None, None, None))


def _head(status: str, attempts: int, claim: Claim | None) -> str:
    """The members a pending or claimed record has before its snapshot, as llm-core writes them
    (the one source of that layout, for writing and for checking what is read)."""
    if claim is None:
        return f'{{"status":"{status}","attempts":{attempts},"claim":null{_SNAPSHOT_FIELD}'
    request = "null" if claim.request_id is None else _str(claim.request_id)
    return (
        f'{{"status":"{status}","attempts":{attempts},"claim":{{"id":{_str(claim.id)},'
        f'"until":{claim.until!r},"request_id":{request}}}{_SNAPSHOT_FIELD}'
    )


_FRESH_HEAD = _head("pending", 0, None)
_FRESH_LEN = len(_FRESH_HEAD)


def _claim(value: object) -> Claim:
    if type(value) is not dict:
        raise InvalidSnapshotError("a claimed session record lacks its claim")
    claim_id, until, request_id = value.get("id"), value.get("until"), value.get("request_id")
    if not (
        type(claim_id) is str
        and (type(until) is int or type(until) is float)
        and abs(until) < 1e300
        and (request_id is None or type(request_id) is str)
    ):
        raise InvalidSnapshotError("a claimed session record has a malformed claim")
    return Claim(claim_id, float(until), request_id)


def _finished(
    key: str, token: str, data: bytes, status: str, attempts: int, fields: dict[str, Any]
) -> Record:
    request_id, outcome, finished = (
        fields.get("request_id"),
        fields.get("outcome"),
        fields.get("finished_at"),
    )
    if fields.get("token") != token:
        raise InvalidSnapshotError("stored session record belongs to another token")
    if not (
        (request_id is None or type(request_id) is str)
        and (outcome is None or type(outcome) is dict)
        and (type(finished) is int or type(finished) is float)
        and abs(finished) < 1e300
    ):
        raise InvalidSnapshotError("a finished session record has a malformed field")
    return Record(
        key, token, data, status, attempts, request_id=request_id, outcome=outcome,
        finished_at=float(finished),
    )  # fmt: skip


# --- the transitions -----------------------------------------------------------------------


def load(space: Keyspace, token: str) -> Steps:
    """The record of ``token`` (``None`` if absent or expired); never changes the cache."""
    key = space.key(token)
    data = yield CacheOp("get", (key,))
    return None if data is None else space.parse(key, token, data)


def cas(key: str, expected: bytes | None, new: bytes | None, ttl: float | None) -> Steps:
    """Compare-and-set, confirmed: ``True`` if ``key`` now holds ``new`` because of us.

    If the reply says "no" (a retried command whose first run already swapped) or is lost
    (``CacheUnavailableError``), :func:`confirm` reads what happened.
    """
    try:
        if (yield CacheOp("compare_and_set", (key, expected, new, ttl))):
            return True
    except CacheUnavailableError as lost:
        return (yield from confirm(key, expected, new, ttl, lost))
    return (yield from confirm(key, expected, new, ttl))


def cas_now(
    cache: AtomicCache, key: str, expected: bytes | None, new: bytes | None, ttl: float | None
) -> bool:
    """:func:`cas` on a cache called directly (``Blueprint.inline``): the same answer, with no
    generator to run unless the compare-and-set says "no" or fails."""
    try:
        if cache.compare_and_set(key, expected, new, ttl):
            return True
        lost = None
    except CacheUnavailableError as exc:
        lost = exc
    steps = confirm(key, expected, new, ttl, lost, cache)  # calls the cache: never yields
    try:
        steps.send(None)
    except StopIteration as done:
        confirmed: bool = done.value
        return confirmed
    raise AssertionError("confirm yielded with an inline cache")  # pragma: no cover


def confirm(
    key: str,
    expected: bytes | None,
    new: bytes | None,
    ttl: float | None,
    lost: CacheUnavailableError | None = None,
    inline: AtomicCache | None = None,
) -> Steps:
    """After a compare-and-set said "no" (``lost`` is ``None``) or its reply was ``lost``, one
    read tells what happened: our unique ``new`` bytes are there (it landed: ``True``); the
    ``expected`` bytes are still there after a lost reply (it never ran: it is sent once more,
    still fenced, and a second loss is raised); anything else, another writer got there first
    (``False``).  With ``inline`` (a cache called directly, see :func:`cas_now`) the
    operations are called on it instead of yielded."""
    try:
        current = inline.get(key) if inline is not None else (yield CacheOp("get", (key,)))
    except CacheUnavailableError:
        if lost is None:
            raise
        raise lost from None
    if current == new:
        return new is not None or lost is not None
    if lost is None or current != expected:
        return False
    try:
        if inline is not None:
            swapped: bool = inline.compare_and_set(key, expected, new, ttl)
        else:
            swapped = yield CacheOp("compare_and_set", (key, expected, new, ttl))
    except CacheUnavailableError:
        raise lost from None
    return swapped
