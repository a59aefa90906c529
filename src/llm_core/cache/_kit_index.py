"""The conformance kit's tests of the index (``IndexedCache``), run where ``capabilities.index``."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest

from llm_core.cache._contract import IndexedCache, Labels, capabilities_of
from llm_core.cache._kit import Face

__all__ = ["IndexConformance", "sample_labeler"]

PREFIX = "ix:"


def sample_labeler(value: bytes) -> Labels | None:
    """The kit's labeler: ``b"recipe|kind"`` is listed with those labels, ``b"-"`` is not,
    ``b"boom"`` raises (a labeler must not, and the cache must survive one that does)."""
    if value == b"boom":
        raise RuntimeError("a broken labeler")
    first, sep, second = value.decode("utf-8", "replace").partition("|")
    return (first, second) if sep else None


def _keys(entries: list[Any]) -> list[str]:
    return [entry.key for entry in entries]


class IndexConformance:
    """Mixed into :class:`~llm_core.cache.testing.CacheConformance`."""

    ttl: ClassVar[float]
    margin: ClassVar[float]

    def _indexed(self, cache: Any) -> None:
        if not capabilities_of(cache).index:
            pytest.skip(f"{type(cache).__name__} declares index=False: the index not tested")
        assert isinstance(cache, IndexedCache)
        cache.index_prefix(PREFIX, sample_labeler)

    def _long(self, i: int) -> float:
        """A TTL whose deadline orders entries by ``i`` however long the test's writes take."""
        return self.ttl * 10 + i

    def test_index_pages_in_deadline_order(self, cache: Any, face: Face) -> None:
        self._indexed(cache)
        for i in (3, 0, 4, 1, 2):
            face.set(f"{PREFIX}{i}", b"a|human", self._long(i))
        face.set("other:0", b"a|human", self._long(0))  # another prefix: never listed
        first = face.page(PREFIX, limit=2)
        assert _keys(first) == ["ix:0", "ix:1"]
        assert [e.value for e in first] == [b"a|human"] * 2
        assert first[0].expires_at < first[1].expires_at
        after = (first[-1].expires_at, first[-1].key)
        second = face.page(PREFIX, after=after, limit=2)
        assert _keys(second) == ["ix:2", "ix:3"]
        after = (second[-1].expires_at, second[-1].key)
        assert _keys(face.page(PREFIX, after=after, limit=2)) == ["ix:4"]
        assert _keys(face.page(PREFIX, newest=True, limit=3)) == ["ix:4", "ix:3", "ix:2"]
        newest = face.page(PREFIX, newest=True, limit=3)
        after = (newest[-1].expires_at, newest[-1].key)
        assert _keys(face.page(PREFIX, newest=True, after=after)) == ["ix:1", "ix:0"]

    def test_index_filters_by_labels(self, cache: Any, face: Face) -> None:
        self._indexed(cache)
        labels = ["a|human", "b|human", "a|tool", "b|tool", "a|human"]
        for i, value in enumerate(labels):
            face.set(f"{PREFIX}{i}", value.encode(), self._long(i))
        assert _keys(face.page(PREFIX, labels=("a", None))) == ["ix:0", "ix:2", "ix:4"]
        assert _keys(face.page(PREFIX, labels=(None, "tool"))) == ["ix:2", "ix:3"]
        assert _keys(face.page(PREFIX, labels=("a", "human"), limit=1)) == ["ix:0"]
        assert face.page(PREFIX, labels=("c", None)) == []

    def test_index_follows_every_write(self, cache: Any, face: Face) -> None:
        self._indexed(cache)
        face.set("ix:a", b"r|k", self._long(1))
        face.set("ix:b", b"r|k", self._long(2))
        face.set("ix:c", b"r|k", self._long(3))
        face.set("ix:forever", b"r|k")  # no TTL: never listed
        face.set("ix:b", b"-", self._long(2))  # the labeler says "not listed"
        assert _keys(face.page(PREFIX)) == ["ix:a", "ix:c"]
        face.set("ix:b", b"r|k", self._long(5))  # listed again, now last
        assert _keys(face.page(PREFIX)) == ["ix:a", "ix:c", "ix:b"]
        assert face.touch("ix:a", self._long(9))  # a new deadline moves it
        assert _keys(face.page(PREFIX)) == ["ix:c", "ix:b", "ix:a"]
        face.delete("ix:c")
        assert face.take("ix:b") == b"r|k"
        assert _keys(face.page(PREFIX)) == ["ix:a"]
        if capabilities_of(cache).compare_and_set:
            assert face.cas("ix:a", b"r|k", b"-", self._long(9))
            assert face.page(PREFIX) == []
            assert face.cas("ix:a", b"-", b"s|k", self._long(1))
            assert face.cas("ix:new", None, b"s|k", self._long(2))
            assert _keys(face.page(PREFIX, labels=("s", None))) == ["ix:a", "ix:new"]
            assert face.cas("ix:new", b"s|k", None)
            assert _keys(face.page(PREFIX)) == ["ix:a"]

    def test_index_never_lists_an_expired_entry(self, cache: Any, face: Face, advance: Any) -> None:
        self._indexed(cache)
        face.set("ix:short", b"r|k", self.ttl)
        face.set("ix:long", b"r|k", self._long(1))
        assert _keys(face.page(PREFIX)) == ["ix:short", "ix:long"]
        advance(self.ttl + self.margin)
        assert _keys(face.page(PREFIX)) == ["ix:long"]
        assert _keys(face.page(PREFIX, newest=True)) == ["ix:long"]

    def test_index_labels_what_was_stored_before(self, cache: Any, face: Face) -> None:
        if not capabilities_of(cache).index:
            pytest.skip(f"{type(cache).__name__} declares index=False: the index not tested")
        face.set("ix:old", b"r|k", self._long(1))
        face.set("ix:done", b"-", self._long(2))
        self._indexed(cache)
        self._indexed(cache)  # registering twice is harmless
        face.set("ix:new", b"r|k", self._long(3))
        assert _keys(face.page(PREFIX)) == ["ix:old", "ix:new"]

    def test_index_survives_a_labeler_that_raises(
        self, cache: Any, face: Face, caplog: pytest.LogCaptureFixture
    ) -> None:
        self._indexed(cache)
        with caplog.at_level(logging.ERROR):
            face.set("ix:bad", b"boom", self._long(1))
        assert face.get("ix:bad") == b"boom"  # stored, just not listed
        assert face.page(PREFIX) == []
        assert any("labeler" in record.getMessage() for record in caplog.records)

    @pytest.mark.parametrize(
        "options",
        [
            {"limit": 0},
            {"limit": 1001},
            {"limit": True},
            {"limit": "5"},
            {"after": ("x", "ix:1")},
            {"after": (float("nan"), "ix:1")},
            {"after": (1.0,)},
            {"after": [1.0, "ix:1"]},
            {"labels": ("a",)},
            {"labels": (1, None)},
        ],
        ids=str,
    )
    def test_index_refuses_bad_page_arguments(
        self, cache: Any, face: Face, options: dict[str, Any]
    ) -> None:
        self._indexed(cache)
        with pytest.raises(ValueError, match=r"after|labels|limit"):
            face.page(PREFIX, **options)
        with pytest.raises(ValueError, match="prefix"):
            face.page("")
