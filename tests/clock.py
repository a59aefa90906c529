"""A manual clock for tests: time moves only when the test says so (no sleeps).

The same class the conformance kit gives third-party authors (``llm_core.cache.testing``).
"""

from __future__ import annotations

from llm_core.cache.testing import ManualClock

__all__ = ["ManualClock"]
