"""The labels a write gives an entry of an indexed prefix: one rule for every backend."""

from __future__ import annotations

import logging

from llm_core.cache._contract import Labeler

__all__ = ["UNLABELLED", "label_row", "with_index"]

_logger = logging.getLogger("llm_core.cache")

UNLABELLED: tuple[None, None, None] = (None, None, None)
"""What a key under no indexed prefix gets: ``ix`` = ``NULL``."""


def label_row(
    indexes: tuple[tuple[str, Labeler], ...], key: str, value: bytes
) -> tuple[str | None, str | None, str | None]:
    """The ``(ix, label_a, label_b)`` a row gets (``indexes``: longest prefix first)."""
    for prefix, labeler in indexes:
        if key.startswith(prefix):
            try:
                labels = labeler(value)
                if labels is None:
                    return ("", None, None)
                first, second = labels
                first.encode("utf-8"), second.encode("utf-8")  # str, storable as text
            except Exception:  # a labeler must not fail; if it does, the row is not listed
                _logger.exception("the labeler of index %r failed; the entry is not listed", prefix)
                return ("", None, None)
            return (prefix, first, second)
    return UNLABELLED


def with_index(
    indexes: tuple[tuple[str, Labeler], ...], prefix: object, labeler: object
) -> tuple[tuple[str, Labeler], ...]:
    """``indexes`` with ``prefix`` indexed by ``labeler`` (replacing an earlier labeler of it),
    longest prefix first; ``ValueError``/``TypeError`` for a bad prefix or labeler."""
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"an index prefix is a non-empty str, got {prefix!r:.60}")
    if not callable(labeler):
        raise TypeError("labeler must be callable: bytes -> (label_a, label_b) or None")
    others = [(p, fn) for p, fn in indexes if p != prefix]
    return tuple(sorted([*others, (prefix, labeler)], key=lambda i: -len(i[0])))
