"""The kit as a third-party author uses it: a small cache of their own, nothing but pytest.

``DictCache`` is what a newcomer would write from docs/cache.md ("Writing a backend"): a dict
under a lock, the validation helpers, declared capabilities.  It passes the kit on the real
clock (the default).  In a subprocess -- a temporary test file outside this project, with
pytest-asyncio disabled -- the same class passes on a manual clock and deliberately broken
variants fail exactly the tests that cover what they break.
"""

from __future__ import annotations

import inspect
import math
import subprocess
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from llm_core.cache import CacheCapabilities, check_key, check_ttl, check_value
from llm_core.cache.testing import CacheConformance


class DictCache:
    """A third-party cache: entries in a dict under a lock, expiry checked on every read."""

    capabilities = CacheCapabilities(listing=True, compare_and_set=True, sweep=False)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _live(self, key: str) -> bytes | None:  # call with the lock held
        entry = self._data.get(key)
        if entry is not None and entry[1] < self._clock():
            del self._data[key]
            return None
        return None if entry is None else entry[0]

    def _deadline(self, ttl: float | None) -> float:
        seconds = check_ttl(ttl)
        return math.inf if seconds is None else self._clock() + seconds

    def get(self, key: str) -> bytes | None:
        check_key(key)
        with self._lock:
            return self._live(key)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        check_key(key)
        check_value(value)
        deadline = self._deadline(ttl)
        with self._lock:
            self._data[key] = (value, deadline)

    def delete(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self._data.pop(key, None)

    def take(self, key: str) -> bytes | None:
        check_key(key)
        with self._lock:
            value = self._live(key)
            self._data.pop(key, None)
            return value

    def touch(self, key: str, ttl: float | None) -> bool:
        check_key(key)
        deadline = self._deadline(ttl)
        with self._lock:
            value = self._live(key)
            if value is not None:
                self._data[key] = (value, deadline)
            return value is not None

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        check_key(key)
        for value in (expected, new):
            if value is not None:
                check_value(value)
        deadline = self._deadline(ttl)
        with self._lock:
            if self._live(key) != expected:
                return False
            if new is None:
                self._data.pop(key, None)
            else:
                self._data[key] = (new, deadline)
            return True

    def keys(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [k for k in list(self._data) if k.startswith(prefix) and self._live(k)]

    async def aget(self, key: str) -> bytes | None:
        return self.get(key)

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.set(key, value, ttl)

    async def adelete(self, key: str) -> None:
        self.delete(key)

    async def atake(self, key: str) -> bytes | None:
        return self.take(key)

    async def atouch(self, key: str, ttl: float | None) -> bool:
        return self.touch(key, ttl)

    async def acompare_and_set(
        self, key: str, expected: bytes | None, new: bytes | None, ttl: float | None = None
    ) -> bool:
        return self.compare_and_set(key, expected, new, ttl)

    async def akeys(self, prefix: str = "") -> list[str]:
        return self.keys(prefix)


class TestDictCacheOnTheRealClock(CacheConformance):
    """Exactly the docs' example: a ``cache`` fixture, nothing else (real waits)."""

    @pytest.fixture
    def cache(self) -> DictCache:
        return DictCache()


THIRD_PARTY_TESTS = """
from __future__ import annotations
import math, threading, time
from collections.abc import Callable
import pytest
from llm_core.cache import CacheCapabilities, check_key, check_ttl, check_value
from llm_core.cache.testing import CacheConformance, ManualClock

{source}

class OnAManualClock(CacheConformance):
    ttl = 10.0
    margin = 0.001

    @pytest.fixture
    def clock(self):
        return ManualClock()

    @pytest.fixture
    def advance(self, clock):
        return clock.advance

    @pytest.fixture
    def cache(self, clock):
        return self.kind(clock)


class TestGood(OnAManualClock):
    kind = DictCache


class TakeKeeps(DictCache):
    def take(self, key):
        return self.get(key)  # not deleted: a second take gets it again


class TestTakeKeeps(OnAManualClock):
    kind = TakeKeeps


class SwapsBlindly(DictCache):
    def compare_and_set(self, key, expected, new, ttl=None):
        self.set(key, new, ttl) if new is not None else self.delete(key)
        return True


class TestSwapsBlindly(OnAManualClock):
    kind = SwapsBlindly


class NeverExpires(DictCache):
    def _deadline(self, ttl):
        check_ttl(ttl)
        return math.inf


class TestNeverExpires(OnAManualClock):
    kind = NeverExpires


class AcceptsAnyTTL(DictCache):
    def _deadline(self, ttl):
        return math.inf if ttl is None else self._clock() + 1.0


class TestAcceptsAnyTTL(OnAManualClock):
    kind = AcceptsAnyTTL
"""


def test_the_kit_reports_what_a_broken_cache_breaks(tmp_path: Path) -> None:
    source = textwrap.dedent(inspect.getsource(DictCache))
    (tmp_path / "test_mine.py").write_text(THIRD_PARTY_TESTS.format(source=source))
    report = tmp_path / "report.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:asyncio", "-p", "no:cacheprovider",
         "-q", f"--junitxml={report}", "test_mine.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # 1: some tests failed
    failed: dict[str, set[str]] = {}
    counts: Counter[str] = Counter()
    for case in ET.parse(report).iter("testcase"):
        cls = case.get("classname", "").rsplit(".", 1)[-1]
        counts[cls] += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.setdefault(cls, set()).add(str(case.get("name")).split("[")[0])
    assert counts["TestGood"] > 100
    assert "TestGood" not in failed, failed.get("TestGood")
    assert {"test_take_returns_once", "test_concurrent_takes_hand_out_the_value_once"} <= failed[
        "TestTakeKeeps"
    ]
    assert {"test_cas_on_absent_sets_once", "test_cas_swaps_on_match_only"} <= failed[
        "TestSwapsBlindly"
    ]
    assert {"test_ttl_alive_until_boundary_then_gone", "test_cas_ttl_like_set"} <= failed[
        "TestNeverExpires"
    ]
    assert {
        "test_invalid_ttl_raises_and_writes_nothing",
        "test_cas_invalid_input_raises_and_writes_nothing",
    } <= failed["TestAcceptsAnyTTL"]


def test_importing_llm_core_does_not_import_the_kit_or_pytest() -> None:
    code = (
        "import sys, llm_core, llm_core.cache, llm_core.cache.redis; "
        "print(sorted(m for m in ('pytest', 'llm_core.cache.testing') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
