"""The workflow tests' fixtures (an injected clock, a MemoryCache on it, a step counter)."""

from tests.workflow.conftest import cache, clock, counter

__all__ = ["cache", "clock", "counter"]
