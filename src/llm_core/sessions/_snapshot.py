"""``ResumeSnapshot``: everything needed to resume a paused run, in any process.

Encoded as plain JSON (see :mod:`._codec`) inside a session record; parsed back with every
field's type checked and times finite, so a record edited in the cache is ``session_invalid``,
never a traceback or a step run on a forged state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from math import isfinite
from typing import Any

from llm_core.errors import InvalidSnapshotError
from llm_core.sessions._codec import decode_json, encode_json
from llm_core.sessions._schema import schema_is_usable
from llm_core.sessions._seal import SEALED, Sealer, is_sealed
from llm_core.sessions._types import StateTypes

__all__ = ["SNAPSHOT_VERSION", "ResumeSnapshot", "new_snapshot"]

SNAPSHOT_VERSION = 2
_FIELDS = (
    "token",
    "pause_kind",
    "created_at",
    "last_accessed_at",
    "expires_at",
    "recipe",
    "step",
    "state",
    "payload",
    "expects",
    "version",
)


@dataclass(frozen=True, slots=True)
class ResumeSnapshot:
    """A paused run.  Times are wall-clock seconds on the runtime's clock.

    ``state`` is the state the paused ``step`` received; on resume that step runs again with it.
    ``payload`` is what the pause showed the outside world (e.g. the draft to approve);
    ``expects`` the JSON Schema resume input must match (``None``: anything).
    """

    token: str
    pause_kind: str
    created_at: float
    last_accessed_at: float
    expires_at: float
    recipe: str
    step: str
    state: dict[str, Any]
    payload: Any = None
    expects: dict[str, Any] | None = None
    version: int = SNAPSHOT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON record, field by field."""
        return {name: getattr(self, name) for name in _FIELDS}

    def to_json_text(
        self, sealer: Sealer | None = None, storage_key: str = "", types: StateTypes | None = None
    ) -> str:
        """Compact JSON text; ``SnapshotSerializationError`` names what cannot be stored.
        With a ``sealer`` the state and payload are encrypted, bound to ``storage_key``."""
        head = encode_json(
            [
                self.token,
                self.pause_kind,
                self.created_at,
                self.last_accessed_at,
                self.expires_at,
                self.recipe,
                self.step,
            ],
            "the snapshot",
        )
        where = f"cannot pause at step {self.step!r}:"
        state = encode_json(self.state, f"{where} state", types)
        payload = encode_json(self.payload, f"{where} payload", types)
        expects = encode_json(self.expects, f"{where} expects")
        if sealer is not None:
            state, payload = sealer.seal(state, storage_key), sealer.seal(payload, storage_key)
        return (
            f'{{"head":{head},"state":{state},"payload":{payload},'
            f'"expects":{expects},"version":{self.version}}}'
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> ResumeSnapshot:
        """Parse snapshot JSON; ``InvalidSnapshotError`` if it is not a valid snapshot."""
        return cls.from_record(decode_json(data))

    @classmethod
    def from_record(
        cls,
        record: object,
        opener: Callable[[], Sealer] | None = None,
        storage_key: str = "",
        types: StateTypes | None = None,
        tagged: bool = True,
    ) -> ResumeSnapshot:
        """Build from the decoded JSON, checking every field; sealed fields are opened with the
        sealer ``opener`` gives (``InvalidSnapshotError`` if there is none); tagged values are
        revived by ``types`` (``tagged=False``: the record's text has no tag, skip the walk)."""
        if type(record) is not dict:
            raise InvalidSnapshotError("stored snapshot is not a JSON object")
        if record.get("version") != SNAPSHOT_VERSION:
            raise InvalidSnapshotError(
                f"stored snapshot has version {record.get('version')!r:.20}; this llm-core "
                f"reads version {SNAPSHOT_VERSION}"
            )
        head = record.get("head")
        if type(head) is not list or len(head) != 7:
            raise InvalidSnapshotError("stored snapshot lacks its head fields")
        token, kind, created, accessed, expires, recipe, step = head
        state, expects, payload = record.get("state"), record.get("expects"), record.get("payload")
        maybe_sealed = (type(state) is dict and SEALED in state) or (
            type(payload) is dict and SEALED in payload
        )  # (a cheap test first: most records are not sealed)
        if maybe_sealed and (is_sealed(state) or is_sealed(payload)):
            state, payload = _open(state, payload, opener, storage_key, types)
        elif types is not None and tagged:
            state, payload = types.decode(state), types.decode(payload)
        if not (
            type(token) is str
            and type(kind) is str
            and type(recipe) is str
            and type(step) is str
            and type(state) is dict
            and (expects is None or type(expects) is dict)
            # three floats with a finite sum are finite (else each is checked on its own)
            and (
                (
                    type(created) is type(accessed) is type(expires) is float
                    and isfinite(created + accessed + expires)
                )
                or (_finite(created) and _finite(accessed) and _finite(expires))
            )
        ):
            raise InvalidSnapshotError("stored snapshot has a field of the wrong type")
        if "payload" not in record:
            raise InvalidSnapshotError("stored snapshot lacks its payload")
        if expects is not None and not schema_is_usable(expects):
            raise InvalidSnapshotError("stored snapshot's expects is not a usable JSON Schema")
        return (new_snapshot if cls is ResumeSnapshot else cls)(
            token,
            kind,
            float(created),
            float(accessed),
            float(expires),
            recipe,
            step,
            state,
            payload,
            expects,
        )


_new = object.__new__
(
    _set_token,
    _set_kind,
    _set_created,
    _set_accessed,
    _set_expires,
    _set_recipe,
    _set_step,
    _set_state,
    _set_payload,
    _set_expects,
    _set_version,
) = (ResumeSnapshot.__dict__[name].__set__ for name in _FIELDS)


def new_snapshot(
    token: str,
    kind: str,
    created: float,
    accessed: float,
    expires: float,
    recipe: str,
    step: str,
    state: dict[str, Any],
    payload: Any,
    expects: dict[str, Any] | None,
) -> ResumeSnapshot:
    """A snapshot of fields already checked (or made by llm-core itself), made by setting its
    slots directly: the same object as ``ResumeSnapshot(...)`` makes, without the frozen
    dataclass's per-field ``setattr`` (the hot paths of pause and resume)."""
    snapshot: ResumeSnapshot = _new(ResumeSnapshot)
    _set_token(snapshot, token)
    _set_kind(snapshot, kind)
    _set_created(snapshot, created)
    _set_accessed(snapshot, accessed)
    _set_expires(snapshot, expires)
    _set_recipe(snapshot, recipe)
    _set_step(snapshot, step)
    _set_state(snapshot, state)
    _set_payload(snapshot, payload)
    _set_expects(snapshot, expects)
    _set_version(snapshot, SNAPSHOT_VERSION)
    return snapshot


def _open(
    state: Any,
    payload: Any,
    opener: Callable[[], Sealer] | None,
    storage_key: str,
    types: StateTypes | None,
) -> tuple[Any, Any]:
    """The state and payload, the sealed ones opened (``InvalidSnapshotError`` if there is no
    sealer to open them, or they do not open)."""
    if opener is None:
        raise InvalidSnapshotError("stored session is encrypted; this runtime has no key")
    sealer = opener()
    if is_sealed(state):
        state = _opened(sealer.open(state, storage_key), types)
    if is_sealed(payload):
        payload = _opened(sealer.open(payload, storage_key), types)
    return state, payload


def _opened(text: str, types: StateTypes | None) -> Any:
    value = decode_json(text)
    return types.decode(value) if types is not None and '"$t"' in text else value


def _finite(value: object) -> bool:
    """A finite int or float that converts to a finite float (no overflow)."""
    if type(value) is float:
        return math.isfinite(value)
    return type(value) is int and -(2**1023) < value < 2**1023
