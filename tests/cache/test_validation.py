"""Validation rules, pinned at their edges and checked against a plain reading of DESIGN.md."""

from __future__ import annotations

import math
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_core.cache._validation import check_key, check_ttl, check_value, is_valid_key
from llm_core.errors import InvalidKeyError, InvalidTTLError


def reference_is_valid_key(key: object) -> bool:
    """The rule as DESIGN.md states it, written the slow, obvious way."""
    if not isinstance(key, str):
        return False
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return 0 < size <= 1024 and not any(unicodedata.category(c) == "Cc" for c in key)


@given(st.text(st.characters(), max_size=600))
def test_key_rule_matches_the_reference(key: str) -> None:
    assert is_valid_key(key) == reference_is_valid_key(key)


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers())
def test_ttl_rule(ttl: float) -> None:
    ok = 0 < ttl < math.inf
    if ok:
        assert check_ttl(ttl) == float(ttl)  # seconds as a float (an int past 2**53 rounds)
    else:
        with pytest.raises(InvalidTTLError):
            check_ttl(ttl)


def test_key_edges() -> None:
    assert check_key("a") == "a"
    assert check_key("x" * 1024) == "x" * 1024
    assert check_key("\u00a0") == "\u00a0"  # non-breaking space is printable data, not control
    with pytest.raises(InvalidKeyError, match="1025 UTF-8 bytes"):
        check_key("x" * 1025)
    with pytest.raises(InvalidKeyError, match="index 3"):
        check_key("abc\x00")
    with pytest.raises(InvalidKeyError, match="type int"):
        check_key(7)
    with pytest.raises(InvalidKeyError, match="empty"):
        check_key("")


def test_lone_surrogates_are_not_keys() -> None:
    # Python allows the str, but no backend could store it as UTF-8.
    assert not is_valid_key("ok\ud800")
    with pytest.raises(InvalidKeyError, match="not valid UTF-8 at index 2"):
        check_key("ok\ud800")


def test_ttl_none_and_bool() -> None:
    assert check_ttl(None) is None
    with pytest.raises(InvalidTTLError, match="type bool"):
        check_ttl(True)


def test_value_rules() -> None:
    assert check_value(b"x") == b"x"
    with pytest.raises(TypeError, match="got str"):
        check_value("x")
    with pytest.raises(TypeError, match="got bytearray"):
        check_value(bytearray(b"x"))
