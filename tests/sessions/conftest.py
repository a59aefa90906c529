from __future__ import annotations

import pytest

from llm_core import MemoryCache
from tests.clock import ManualClock
from tests.workflow.support import Counter


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


@pytest.fixture
def cache(clock: ManualClock) -> MemoryCache:
    return MemoryCache(clock=clock)


@pytest.fixture
def counter() -> Counter:
    return Counter()
